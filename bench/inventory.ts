// Benchmark (not a test): loading the inventories of issue 10's input defects, lvsplay against
// ansible-core's `ansible-inventory --list` on the same files. Prints wall and CPU seconds (CPU is
// the fairer figure on a loaded machine).
//   npx tsx bench/inventory.ts [--cases chain1000,chain3000,lattice28,hosts25k] [--no-ansible]
//                              [--impl PATH] [--timeout 900]
// --impl: a module exporting loadInventory (e.g. a copy of an older lib/inventory.ts) to time it
// instead of the current one; each case then runs in a child process bounded by --timeout seconds.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { chainYaml, latticeYaml, manyHostsYaml } from '../test/helpers/inventory-gen.ts';

const run = promisify(execFile);

const CASES: Record<string, () => string> = {
  chain1000: () => chainYaml(1000),
  chain3000: () => chainYaml(3000),
  lattice20: () => latticeYaml(20),
  lattice28: () => latticeYaml(28),
  hosts6250: () => manyHostsYaml(6250),
  hosts12500: () => manyHostsYaml(12_500),
  hosts25k: () => manyHostsYaml(25_000),
};

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: 'chain1000,chain3000,lattice28,hosts6250,hosts12500,hosts25k' },
    'no-ansible': { type: 'boolean' },
    impl: { type: 'string' },
    timeout: { type: 'string', default: '900' },
    child: { type: 'string' }, // internal: load one file with --impl and print the seconds
  },
});

const timeoutMs = Number(values.timeout) * 1000;

if (values.child) {
  const { loadInventory } = await import(path.resolve(values.impl!));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let outcome = 'ok';
  try {
    const inv = await loadInventory(values.child);
    outcome = `${inv.hosts.size} hosts`;
  } catch (e) {
    outcome = `error: ${String((e as Error).message).split('\n')[0].slice(0, 80)}`;
  }
  const cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({ wall: (performance.now() - t0) / 1000, cpu: (cpu.user + cpu.system) / 1e6, outcome }));
  process.exit(0);
}

interface Timing { wall: number; cpu: number; outcome: string }

async function timeLvsplay(file: string): Promise<Timing> {
  const impl = values.impl ?? path.join(import.meta.dirname, '../lib/inventory.ts');
  try {
    const { stdout } = await run(process.execPath, ['--import=tsx', import.meta.filename, '--impl', impl, '--child', file], { timeout: timeoutMs, maxBuffer: 1 << 20 });
    return JSON.parse(stdout.trim().split('\n').at(-1)!);
  } catch (e) {
    return { wall: NaN, cpu: NaN, outcome: (e as { killed?: boolean }).killed ? `killed after ${values.timeout} s` : `failed: ${(e as Error).message.split('\n')[0]}` };
  }
}

async function timeAnsible(file: string): Promise<Timing> {
  try {
    // /usr/bin/time's figures: elapsed, user, system
    const { stderr } = await run('/usr/bin/time', ['-f', 'TIME %e %U %S', 'ansible-inventory', '-i', file, '--list', '--output', '/dev/null'], { timeout: timeoutMs, maxBuffer: 64 << 20 });
    const [, e, u, s] = /TIME (\S+) (\S+) (\S+)/.exec(stderr)!;
    const failed = /ERROR|Unable to parse|Failed to parse/.test(stderr);
    return { wall: Number(e), cpu: Number(u) + Number(s), outcome: failed ? `error: ${/(ERROR.*|Unable to parse.*)/.exec(stderr)?.[0].slice(0, 80)}` : 'ok' };
  } catch (e) {
    const err = e as { killed?: boolean; stderr?: string };
    if (err.killed) return { wall: NaN, cpu: NaN, outcome: `killed after ${values.timeout} s` };
    const time = /TIME (\S+) (\S+) (\S+)/.exec(err.stderr ?? '');
    const why = /(RecursionError.*|maximum recursion.*|ERROR.*)/.exec(err.stderr ?? '')?.[0].slice(0, 80) ?? 'non-zero exit';
    return { wall: time ? Number(time[1]) : NaN, cpu: time ? Number(time[2]) + Number(time[3]) : NaN, outcome: `error: ${why}` };
  }
}

const hasAnsible = !values['no-ansible'] && (await run('ansible-inventory', ['--version']).then(() => true, () => false));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-bench-inv-'));
const fmt = (t: Timing) => (Number.isNaN(t.cpu) ? t.outcome : `${t.wall.toFixed(2)} s wall, ${t.cpu.toFixed(2)} s cpu${t.outcome.startsWith('error') ? ` (${t.outcome})` : ''}`);
console.log(`load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, ${os.cpus().length} cores; lvsplay: ${values.impl ?? 'lib/inventory.ts'}`);
try {
  for (const name of values.cases!.split(',')) {
    const make = CASES[name];
    if (!make) throw new Error(`unknown case ${name}: ${Object.keys(CASES).join(', ')}`);
    const text = make();
    const file = path.join(dir, `${name}.yml`);
    fs.writeFileSync(file, text);
    const ours = await timeLvsplay(file);
    const theirs = hasAnsible ? await timeAnsible(file) : undefined;
    console.log(`${name.padEnd(11)} ${String(text.length).padStart(8)} B  lvsplay ${fmt(ours)}${theirs ? `  |  ansible-inventory ${fmt(theirs)}` : ''}`);
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
