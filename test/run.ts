// The README's test command (`npm test`): unit and engine tests, then — unless --no-lab — the
// lab tests, each lab (inventory/lab.yml for 10–4x, inventory/colocated.yml for 5x: see labGroups)
// brought up once for its files and taken down before the next. Prints `N passed, N failed`.
//   npm test                 everything (the lab needs root, qemu; minutes under emulation)
//   npm test -- --no-lab     unit + engine tests only (seconds)
//   npm test -- --lab-only   lab tests only
//   npm test -- --keep-lab   leave the lab running afterwards (for debugging)
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    'no-lab': { type: 'boolean', default: false },
    'lab-only': { type: 'boolean', default: false },
    'keep-lab': { type: 'boolean', default: false },
    inventory: { type: 'string', short: 'i', default: 'inventory/lab.yml' },
  },
});

interface Tally {
  passed: number;
  failed: number;
  skipped: number;
}
const total: Tally = { passed: 0, failed: 0, skipped: 0 };

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, onLine?: (line: string) => void): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let partial = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      process.stdout.write(d);
      if (!onLine) return;
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      for (const l of lines) onLine(l);
    });
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

/** Counts a TAP stream; a runner that died without reporting a failure counts as one failure. */
function tally(out: string, code: number): Tally {
  const t: Tally = { passed: 0, failed: 0, skipped: 0 };
  for (const line of out.split('\n')) {
    if (/^not ok \d+/.test(line)) t.failed++;
    else if (/^ok \d+.*# (SKIP|TODO)/i.test(line)) t.skipped++;
    else if (/^ok \d+/.test(line)) t.passed++;
  }
  if (code !== 0 && t.failed === 0) t.failed = 1;
  return t;
}

function add(t: Tally) {
  total.passed += t.passed;
  total.failed += t.failed;
  total.skipped += t.skipped;
}

const ava = path.join(root, 'node_modules/.bin/ava');
const tsx = path.join(root, 'node_modules/.bin/tsx');
const hasFiles = (dir: string) => existsSync(path.join(root, dir)) && readdirSync(path.join(root, dir)).some((f) => f.endsWith('.test.ts'));

if (!values['lab-only']) {
  const dirs = ['test/unit', 'test/engine'].filter(hasFiles);
  const r = await run(ava, ['--tap', ...dirs.map((d) => `${d}/**/*.test.ts`)]);
  add(tally(r.out, r.code));
}

/**
 * The lab test files grouped by the lab they need: a file names its inventory in a first-lines
 * comment `@lab inventory/FILE.yml` (default: --inventory, inventory/lab.yml). Groups run in the
 * order of their first file; each lab is brought up, its files run one at a time, and it is taken
 * down before the next comes up — one lab at a time on this machine's two cores.
 */
function labGroups(defaultInventory: string): Array<{ inventory: string; files: string[] }> {
  const files = readdirSync(path.join(root, 'test/lab')).filter((f) => f.endsWith('.test.ts')).sort();
  const groups = new Map<string, string[]>();
  for (const f of files) {
    const head = readFileSync(path.join(root, 'test/lab', f), 'utf8').split('\n').slice(0, 5).join('\n');
    const inventory = /@lab\s+(\S+\.ya?ml)/.exec(head)?.[1] ?? defaultInventory;
    groups.set(inventory, [...(groups.get(inventory) ?? []), `test/lab/${f}`]);
  }
  return [...groups].map(([inventory, fs]) => ({ inventory, files: fs }));
}

/**
 * Minutes per test file of one ava run, from its TAP stream (ava names the file before each title when
 * it runs several: `ok 3 - 20-site › …`, `# 31-tracked › before hook`): for the CI time budget.
 */
function fileTiming() {
  const lastSeen = new Map<string, number>();
  const started = Date.now();
  return {
    line(l: string) {
      const file = /^(?:(?:not )?ok \d+ - |# )(\d\d-[\w-]+) › /.exec(l)?.[1];
      if (file) lastSeen.set(file, Date.now());
    },
    // the files run one after another: each took from the previous one's last line to its own last
    summary(): string {
      const marks = [...lastSeen].sort((a, b) => a[1] - b[1]);
      return marks.map(([f, at], i) => `${f} ${((at - (i === 0 ? started : marks[i - 1]![1])) / 60_000).toFixed(1)}`).join(', ') + ' min';
    },
  };
}

if (!values['no-lab'] && hasFiles('test/lab')) {
  for (const { inventory: inv, files } of labGroups(values.inventory!)) {
    const started = Date.now();
    const up = await run(tsx, ['lab/lab.ts', 'up', '-i', inv]);
    if (up.code !== 0) {
      console.log(`not ok - lab up -i ${inv} failed (exit ${up.code}): ${files.join(', ')} not run`);
      total.failed++;
      continue;
    }
    try {
      // one lab, shared: its test files run one at a time, in name order
      const timing = fileTiming();
      const r = await run(ava, ['--tap', '--concurrency=1', '--serial', ...files], { LVSPLAY_LAB_INVENTORY: inv }, timing.line);
      add(tally(r.out, r.code));
      // ava names the files only when it runs several
      if (files.length > 1) console.log(`# lab ${inv}, per file: ${timing.summary()}`);
    } finally {
      if (!values['keep-lab']) {
        const down = await run(tsx, ['lab/lab.ts', 'down', '-i', inv]);
        if (down.code !== 0) total.failed++;
      }
      console.log(`# lab ${inv}: ${files.length} file(s) in ${((Date.now() - started) / 60_000).toFixed(1)} min`);
    }
  }
}

if (total.skipped) console.log(`${total.skipped} skipped`);
console.log(`${total.passed} passed, ${total.failed} failed`);
process.exit(total.failed ? 1 : 0);
