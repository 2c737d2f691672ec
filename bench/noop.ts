// Benchmark (not a test): a 20-task play that is already converged, on 1, 5, 25 and 50 real sshd
// hosts on 127.0.0.1. Prints the wall time of a no-op run (connect + facts + 20 plans per host,
// fresh connections each run) and the per-host marginal cost. Target: 5 hosts under 1 s.
//   npx tsx bench/noop.ts [--sizes 1,5,25,50] [--forks 10] [--repeat 3]
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { main } from '../lib/cli.ts';
import { loadInventory } from '../lib/inventory.ts';
import { copy, file, lineinfile } from '../lib/modules/index.ts';
import { runPlays, type RunSummary } from '../lib/runner.ts';
import { ConnectionPool } from '../lib/ssh.ts';
import type { Play, Task } from '../lib/types.ts';
import { startSshd, writeInventory } from '../test/helpers/sshd.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** 20 tasks on files under <base>/<host>/: 1 directory, 7 copies, 7 line edits, 5 modes. */
function tasks(v: Record<string, unknown>): Task[] {
  const dir = `${v.base}/${v.inventory_hostname}`;
  const out: Task[] = [file({ path: dir, state: 'directory', mode: '0755' })];
  for (let i = 1; i <= 7; i++) out.push(copy({ content: `setting_${i} = ${i * 7}\n`, dest: `${dir}/copy${i}.conf`, mode: '0644' }));
  for (let i = 1; i <= 7; i++) out.push(lineinfile({ path: `${dir}/lines.conf`, line: `key${i} = value${i}`, regexp: `^key${i} =`, create: true }));
  for (let i = 1; i <= 5; i++) out.push(file({ path: `${dir}/copy${i}.conf`, state: 'file', mode: '0644' }));
  return out;
}

const play: Play = { name: 'noop', hosts: 'all', tasks };

async function runOnce(inventoryFile: string, forks: number): Promise<{ ms: number; summary: RunSummary }> {
  const t0 = performance.now();
  const inventory = await loadInventory(inventoryFile);
  const pool = new ConnectionPool({ hostKeyChecking: 'strict' });
  try {
    const summary = await runPlays([play], { inventory, pool, forks });
    return { ms: performance.now() - t0, summary };
  } finally {
    await pool.closeAll();
  }
}

const changedCount = (s: RunSummary) => [...s.stats.values()].reduce((n, x) => n + x.changed, 0);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The same no-op run as a user types it: this file as a playbook process (tsx startup included). */
function cliRun(dir: string, inventoryFile: string, forks: number): Promise<number> {
  const t0 = performance.now();
  const args = [fileURLToPath(import.meta.url), 'playbook', '-i', inventoryFile, '-f', String(forks)];
  return new Promise((resolve, reject) =>
    execFile(path.join(ROOT, 'node_modules/.bin/tsx'), args, { cwd: dir, env: { ...process.env, CI: 'true' } }, (err, stdout) => {
      if (err) return reject(new Error(`cli run failed: ${err.message}\n${stdout}`));
      if (/changed=[1-9]/.test(stdout)) return reject(new Error(`cli run was not a no-op:\n${stdout}`));
      resolve(performance.now() - t0);
    }),
  );
}

async function bench(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '1,5,25,50' },
      forks: { type: 'string', default: '10' },
      repeat: { type: 'string', default: '3' },
    },
  });
  const sizes = values.sizes.split(',').map(Number);
  const forks = Number(values.forks);
  const repeat = Number(values.repeat);

  const rows: Array<{ hosts: number; ms: number; cliMs?: number }> = [];
  for (const n of sizes) {
    const lab = await startSshd({ count: n });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-bench-'));
    try {
      fs.chmodSync(dir, 0o755);
      const base = path.join(dir, 'remote');
      fs.mkdirSync(base);
      fs.chmodSync(base, 0o1777);
      const inventoryFile = path.join(dir, 'hosts.yml');
      writeInventory(lab, inventoryFile, { vars: { base } });

      const converge = await runOnce(inventoryFile, forks);
      if (converge.summary.exitCode !== 0) throw new Error(`converge failed: ${JSON.stringify(converge.summary.results.filter((r) => r.error))}`);
      const times: number[] = [];
      for (let i = 0; i < repeat; i++) {
        const { ms, summary } = await runOnce(inventoryFile, forks);
        if (summary.exitCode !== 0 || changedCount(summary) !== 0) throw new Error(`run ${i + 1} on ${n} hosts was not a no-op`);
        times.push(ms);
      }
      const cliMs = n === 5 ? await cliRun(dir, inventoryFile, forks) : undefined;
      rows.push({ hosts: n, ms: median(times), cliMs });
      console.error(`${n} hosts: converged in ${converge.ms.toFixed(0)} ms; no-op runs ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
    } finally {
      await lab.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  const base = rows.find((r) => r.hosts === Math.min(...sizes))!;
  console.log(`\nno-op run of a converged 20-task play (median of ${repeat}, forks ${forks}, fresh connections, facts included)`);
  console.log('hosts  wall ms  marginal ms/host');
  for (const r of rows) {
    const marginal = r.hosts === base.hosts ? '-' : ((r.ms - base.ms) / (r.hosts - base.hosts)).toFixed(1);
    console.log(`${String(r.hosts).padStart(5)}  ${r.ms.toFixed(0).padStart(7)}  ${marginal.padStart(16)}`);
  }
  const five = rows.find((r) => r.hosts === 5);
  if (five) {
    console.log(`\n5 hosts: ${five.ms.toFixed(0)} ms in process (target < 1000 ms: ${five.ms < 1000 ? 'met' : 'NOT met'})`);
    if (five.cliMs) console.log(`5 hosts through the CLI (tsx startup included): ${five.cliMs.toFixed(0)} ms`);
  }
}

if (process.argv[2] === 'playbook') await main({ description: 'bench: the converged 20-task no-op play', plays: () => [play] }, process.argv.slice(3));
else await bench();
