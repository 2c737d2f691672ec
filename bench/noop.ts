// Benchmark (not a test): a 20-task play that is already converged, on real sshd hosts on
// 127.0.0.1, directly and behind an added RTT (bench/delay-relay.ts). Prints the wall time of a
// no-op run (connect + plans, fresh connections each run, in process) and the round trips (exec
// channels opened) per host, planned in batches (the default) and task by task.
//   npx tsx bench/noop.ts [--sizes 5,50] [--rtts 0,20,50] [--forks 10] [--repeat 3] [--modes batched,single]
import { execFile } from 'node:child_process';

import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { main } from '../lib/cli.ts';
import { loadInventory } from '../lib/inventory.ts';
import { runPlays, type RunSummary } from '../lib/runner.ts';
import { ConnectionPool } from '../lib/ssh.ts';
import { median, play, ROOT, startHosts, TSX } from './noop-fixture.ts';

type Mode = 'batched' | 'single';

async function runOnce(inventoryFile: string, forks: number, mode: Mode): Promise<{ ms: number; summary: RunSummary; execs: number; sftp: number }> {
  const t0 = performance.now();
  const inventory = await loadInventory(inventoryFile);
  let execs = 0;
  let sftp = 0;
  const pool = new ConnectionPool({ hostKeyChecking: 'strict', onChannel: (_h, kind) => (kind === 'exec' ? execs++ : sftp++) });
  try {
    const summary = await runPlays([play], { inventory, pool, forks, batch: mode === 'batched' });
    return { ms: performance.now() - t0, summary, execs, sftp };
  } finally {
    await pool.closeAll();
  }
}

const changedCount = (s: RunSummary) => [...s.stats.values()].reduce((n, x) => n + x.changed, 0);

/** The same no-op run as a user types it: this file as a playbook process (tsx startup included). */
function cliRun(inventoryFile: string, forks: number): Promise<number> {
  const t0 = performance.now();
  const args = [fileURLToPath(import.meta.url), 'playbook', '-i', inventoryFile, '-f', String(forks)];
  return new Promise((resolve, reject) =>
    execFile(TSX, args, { cwd: ROOT, env: { ...process.env, CI: 'true' } }, (err, stdout) => {
      if (err) return reject(new Error(`cli run failed: ${err.message}\n${stdout}`));
      if (/changed=[1-9]/.test(stdout)) return reject(new Error(`cli run was not a no-op:\n${stdout}`));
      resolve(performance.now() - t0);
    }),
  );
}

async function bench(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '5,50' },
      rtts: { type: 'string', default: '0,20,50' },
      forks: { type: 'string', default: '10' },
      repeat: { type: 'string', default: '3' },
      modes: { type: 'string', default: 'batched,single' },
      cli: { type: 'boolean', default: false },
    },
  });
  const sizes = values.sizes.split(',').map(Number);
  const rtts = values.rtts.split(',').map(Number);
  const modes = values.modes.split(',') as Mode[];
  const forks = Number(values.forks);
  const repeat = Number(values.repeat);

  const rows: Array<{ hosts: number; rtt: number; mode: Mode; ms: number; execs: number; sftp: number; cliMs?: number }> = [];
  for (const n of sizes) {
    const hosts = await startHosts(n);
    try {
      const converge = await runOnce(await hosts.inventory(0), forks, 'batched');
      if (converge.summary.exitCode !== 0) throw new Error(`converge failed: ${JSON.stringify(converge.summary.results.filter((r) => r.error))}`);
      for (const rtt of rtts) {
        const inv = await hosts.inventory(rtt);
        const times = new Map<Mode, number[]>(modes.map((m) => [m, []]));
        const trips = new Map<Mode, { execs: number; sftp: number }>();
        // interleaved: mode A, mode B, mode A, …
        for (let i = 0; i < repeat; i++) {
          for (const mode of modes) {
            const r = await runOnce(inv, forks, mode);
            if (r.summary.exitCode !== 0 || changedCount(r.summary) !== 0) throw new Error(`${mode} run ${i + 1} on ${n} hosts at ${rtt} ms was not a no-op`);
            times.get(mode)!.push(r.ms);
            trips.set(mode, { execs: r.execs, sftp: r.sftp });
          }
        }
        for (const mode of modes) {
          const cliMs = values.cli && mode === 'batched' ? await cliRun(inv, forks) : undefined;
          rows.push({ hosts: n, rtt, mode, ms: median(times.get(mode)!), ...trips.get(mode)!, cliMs });
          console.error(`${n} hosts, ${rtt} ms RTT, ${mode}: ${times.get(mode)!.map((t) => t.toFixed(0)).join(', ')} ms`);
        }
      }
    } finally {
      await hosts.stop();
    }
  }

  console.log(`\nno-op run of a converged 20-task play (median of ${repeat}, forks ${forks}, fresh connections, in process)`);
  console.log('hosts  RTT ms  planning  wall ms  execs/host  sftp/host' + (values.cli ? '  CLI ms' : ''));
  for (const r of rows) {
    console.log(
      `${String(r.hosts).padStart(5)}  ${String(r.rtt).padStart(6)}  ${r.mode.padEnd(8)}  ${r.ms.toFixed(0).padStart(7)}  ${(r.execs / r.hosts).toFixed(1).padStart(10)}  ${(r.sftp / r.hosts).toFixed(1).padStart(9)}` +
        (r.cliMs ? `  ${r.cliMs.toFixed(0).padStart(6)}` : ''),
    );
  }
}

if (process.argv[2] === 'playbook') await main({ description: 'bench: the converged 20-task no-op play', plays: () => [play] }, process.argv.slice(3));
else await bench();

