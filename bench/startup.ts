// Benchmark (not a test): how long the documented commands take to start (issue 13). Runs each
// command --repeat times, one after the other, and prints the median wall and CPU seconds (CPU of
// the whole process tree: this process's reaped children, from /proc/self/stat; the fairer figure on
// a loaded machine). The floors first (node, node + tsx's loader, tsx's CLI, npx + tsx), then
// site.ts --help and --list-hosts through each way of starting tsx.
//   npx tsx bench/startup.ts [--repeat 5] [--inventory inventory/lab.yml] [--only TEXT] [--all] [--baseline DIR]
// --only: run only the commands whose label contains TEXT; --all: also every other entry point's --help;
// --baseline DIR: also run each command in DIR, another checkout of lvsplay (e.g. an older commit:
// `git archive COMMIT | tar -x -C DIR` and a symlink DIR/node_modules -> this node_modules),
// alternating run by run with this tree, so both see the same load. One warm-up run each, not counted.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    repeat: { type: 'string', default: '5' },
    inventory: { type: 'string', default: 'inventory/lab.yml' },
    only: { type: 'string' },
    all: { type: 'boolean' },
    baseline: { type: 'string' },
  },
});
const repeat = Math.min(Math.max(Number(values.repeat) || 5, 1), 10);
const inv = values.inventory!;

/** How tsx is started: the documented npx, the package's bin, and Node with tsx's loader. */
const LAUNCHERS: Array<[string, string[]]> = [
  ['npx tsx', ['npx', 'tsx']],
  ['.bin/tsx', ['node_modules/.bin/tsx']],
  ['node --import tsx', ['node', '--import', 'tsx']],
];

const commands: Array<[string, string[]]> = [
  ['node -e 0', ['node', '-e', '0']],
  ['node --import tsx -e 0', ['node', '--import', 'tsx', '-e', '0']],
  ['.bin/tsx -e 0', ['node_modules/.bin/tsx', '-e', '0']],
  ['npx tsx -e 0', ['npx', 'tsx', '-e', '0']],
];
for (const [name, argv] of LAUNCHERS) commands.push([`${name} site.ts --help`, [...argv, 'playbooks/site.ts', '--help']]);
for (const [name, argv] of LAUNCHERS) commands.push([`${name} site.ts --list-hosts`, [...argv, 'playbooks/site.ts', '-i', inv, '--list-hosts']]);
if (values.all) {
  for (const pb of ['director', 'realserver', 'client', 'drill', 'status', 'adhoc', 'inventory'])
    commands.push([`npx tsx ${pb}.ts --help`, ['npx', 'tsx', `playbooks/${pb}.ts`, '--help']]);
}

/** CPU seconds of this process's reaped children (utime + stime of the waited-for tree). */
function childrenCpuS(): number {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
  const ticks = Number(fields[13]) + Number(fields[14]); // cutime, cstime (fields 16, 17)
  return ticks / 100; // USER_HZ is 100 on Linux
}

/** One run of argv in `cwd`: wall and CPU seconds; exits the benchmark if the command fails. */
function timed(label: string, cwd: string, [cmd, ...args]: string[]): { wall: number; cpu: number } {
  const cpu0 = childrenCpuS();
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
  const wall = (performance.now() - t0) / 1000;
  const cpu = childrenCpuS() - cpu0;
  if (r.status !== 0) {
    console.error(`${label} in ${cwd}: exit ${r.status ?? r.signal}\n${r.stderr}`);
    process.exit(1);
  }
  return { wall, cpu };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const trees = values.baseline ? [ROOT, path.resolve(values.baseline)] : [ROOT];
console.log(`node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}, median of ${repeat}`);
if (values.baseline) {
  console.log(`before: ${trees[1]}; after: ${ROOT}`);
  console.log('| command | before wall s (min) | before CPU s | after wall s (min) | after CPU s |');
  console.log('|---|---|---|---|---|');
} else {
  console.log('| command | wall s | CPU s | min wall s |');
  console.log('|---|---|---|---|');
}
for (const [label, argv] of commands) {
  if (values.only && !label.includes(values.only)) continue;
  const runs = trees.map(() => ({ walls: [] as number[], cpus: [] as number[] }));
  for (const tree of trees) timed(label, tree, argv); // warm-up: tsx's transform cache, the page cache
  for (let i = 0; i < repeat; i++) {
    trees.forEach((tree, j) => {
      const { wall, cpu } = timed(label, tree, argv);
      runs[j].walls.push(wall);
      runs[j].cpus.push(cpu);
    });
  }
  const f = (x: number) => x.toFixed(2);
  if (values.baseline) {
    const [after, before] = runs;
    const cells = ({ walls, cpus }: (typeof runs)[number]) => `${f(median(walls))} (${f(Math.min(...walls))}) | ${f(median(cpus))}`;
    console.log(`| \`${label}\` | ${cells(before)} | ${cells(after)} |`);
  } else {
    const [{ walls, cpus }] = runs;
    console.log(`| \`${label}\` | ${f(median(walls))} | ${f(median(cpus))} | ${f(Math.min(...walls))} |`);
  }
}
