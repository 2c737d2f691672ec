// Failover figures for the README: every drill mode, N runs each, for the default and the fast
// timing profile (converged in turn), then the table (text and markdown). Not a test: it asserts
// nothing, it measures. The cluster is converged back to the default profile at the end.
//   npx tsx bench/drill.ts -i inventory/lab.yml --runs 5 [--mode stop,link] [--profiles default,fast]
// With --stability SECONDS it measures instead how steady each advert interval is when NOTHING
// fails: VRRPv3 at each of --advert-ints, both directors watched for that long; every time the
// backup takes the VIP is a spurious failover (adverts arrived later than 3 × advert_int + skew).
//   npx tsx bench/drill.ts -i inventory/lab.yml --stability 120 [--advert-ints 0.1,0.2,0.3,0.5]
import { writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadInventory } from '../lib/inventory.ts';
import { labControl } from '../lab/drill-control.ts';
import { holdIntervals, overlaps, parseWatchLog, shiftLog } from '../lib/drill/observe.ts';
import { clusterFromInventory } from '../lib/lvs/index.ts';
import { sh } from '../lib/shell.ts';
import type { DrillOptions } from '../lib/drill/options.ts';
import { fileStamp, formatDrillSummary } from '../lib/drill/report.ts';
import { measureOffset } from '../lib/drill/clocks.ts';
import { WATCH_PATH, uploadWatcher } from '../lib/drill/remote.ts';
import { runDrill } from '../lib/drill/run.ts';
import type { RunRecord } from '../lib/drill/types.ts';
import { formatTable, summarize } from '../lib/drill/table.ts';
import { DRILL_MODES, type DrillMode } from '../lib/drill/modes.ts';
import { createDrillUi } from '../lib/drill/ui.ts';
import { runPlays } from '../lib/runner.ts';
import { ConnectionPool } from '../lib/ssh.ts';
import { sitePlays } from '../playbooks/plays.ts';

const { values } = parseArgs({
  options: {
    inventory: { type: 'string', short: 'i', default: process.env.LVSPLAY_INVENTORY ?? 'inventory/lab.yml' },
    runs: { type: 'string', default: '5' },
    // `service` needs a tracked unit (lvs_track), which the lab's inventory has not: ask for it by name
    mode: { type: 'string', default: DRILL_MODES.filter((m) => m !== 'service').join(',') },
    profiles: { type: 'string', default: 'default,fast' },
    'interval-ms': { type: 'string', default: '20' },
    reports: { type: 'string', default: 'reports' },
    stability: { type: 'string' },
    'advert-ints': { type: 'string', default: '0.1,0.2,0.3,0.5' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log('usage: npx tsx bench/drill.ts -i INVENTORY [--runs 5] [--mode stop,kill,link,poweroff] [--profiles default,fast] [--interval-ms 20]\n' +
    '       npx tsx bench/drill.ts -i INVENTORY --stability SECONDS [--advert-ints 0.1,0.2,0.3,0.5]');
  process.exit(0);
}
const runs = Number(values.runs);
const modes = values.mode!.split(',').map((m) => m.trim()) as DrillMode[];
const profiles = values.profiles!.split(',').map((p) => p.trim());
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${values.runs}`);
for (const m of modes) if (!DRILL_MODES.includes(m)) throw new Error(`--mode: unknown mode ${m}`);
for (const p of profiles) if (!['default', 'fast'].includes(p)) throw new Error(`--profiles: unknown profile ${p}`);

/** site.ts in-process; returns the number of changed tasks (0 on a converged cluster). */
async function converge(profile: string, extra?: Record<string, unknown>): Promise<number> {
  const extraVars = extra ?? (profile === 'default' ? {} : { lvs_profile: profile });
  const inventory = await loadInventory(values.inventory!, { extraVars });
  const pool = new ConnectionPool();
  try {
    const summary = await runPlays(sitePlays, { inventory, pool, extraVars });
    if (summary.exitCode !== 0) {
      const bad = summary.results.filter((r) => r.status === 'failed' || r.status === 'unreachable');
      throw new Error(`converge (${profile}) failed:\n${bad.map((r) => `  ${r.host} ${r.task}: ${r.error}`).join('\n')}`);
    }
    return [...summary.stats.values()].reduce((n, s) => n + s.changed, 0);
  } finally {
    await pool.closeAll();
  }
}

if (values.stability !== undefined) {
  await stability(Number(values.stability), values['advert-ints']!.split(',').map(Number));
  process.exit(0);
}

/** Spurious failovers per advert interval, with nothing broken. */
async function stability(seconds: number, ints: number[]): Promise<void> {
  if (!(seconds >= 10 && seconds <= 3600)) throw new Error(`--stability must be 10 … 3600 seconds, got ${values.stability}`);
  if (!ints.length || ints.some((x) => !(x >= 0.01 && x <= 255))) throw new Error(`--advert-ints: bad list ${values['advert-ints']}`);
  const rows: string[] = [];
  try {
    for (const advertInt of ints) {
      const extra = { lvs_vrrp_version: 3, lvs_advert_int: advertInt };
      const changed = await converge(`v3/${advertInt}`, extra);
      const inventory = await loadInventory(values.inventory!, { extraVars: extra });
      const w = await watchDirectors(inventory, seconds);
      const mdi = 3 * advertInt + ((256 - w.backupPriority) * advertInt) / 256;
      const line = `${String(advertInt).padStart(10)}  ${(mdi * 1000).toFixed(0).padStart(8)}  ${String(seconds).padStart(9)}  ${String(w.spurious).padStart(18)}  ${((w.spurious * 60) / seconds).toFixed(2).padStart(11)}  ${w.bothHeldMs.toFixed(0).padStart(13)}  ${os.loadavg()[0]!.toFixed(1).padStart(9)}`;
      console.log(`advert_int ${advertInt} s (converged, ${changed} changed): ${w.spurious} spurious failover(s) in ${seconds} s`);
      rows.push(line);
    }
  } finally {
    console.log(`back to the default profile (${await converge('default')} changed)`);
  }
  console.log(`\nVRRPv3, nothing broken, both directors watched ${seconds} s per interval\n`);
  console.log('advert_int  MDI (ms)  watched s  spurious failovers  per minute  both held ms  host load');
  for (const r of rows) console.log(r);
}

/** vipwatch.py on every director for `seconds`; the backup's takeovers and the time both held the VIP. */
async function watchDirectors(inventory: Awaited<ReturnType<typeof loadInventory>>, seconds: number) {
  const model = clusterFromInventory(inventory, (h) => h.vars);
  const vip = model.vips[0]!;
  const inst = model.instances.find((i) => i.vip === vip)!;
  const [master, backup] = Object.entries(inst.priorities).sort((a, b) => b[1] - a[1]).map(([d]) => d);
  const pool = new ConnectionPool();
  try {
    const texts = await Promise.all(
      model.directors.map(async (d) => {
        const conn = await pool.get(inventory.hosts.get(d)!);
        await uploadWatcher(conn);
        const clock = await measureOffset(conn); // the host's clock − this machine's (± ~50 ms over SSH)
        const r = await conn.exec(sh`python3 ${WATCH_PATH} watch --vip ${vip} --duration ${seconds}`, { timeoutMs: (seconds + 60) * 1000 });
        return [d, shiftLog(parseWatchLog(r.stdout, `${d}: vipwatch`), (t) => t - clock.offsetMs)] as const;
      }),
    );
    const logs = Object.fromEntries(texts);
    // on this machine's clock: the time both held the VIP is known to ± the SSH offsets' error
    const spurious = logs[backup!]!.states.filter((c) => c.held && !c.initial).length;
    const both = overlaps(holdIntervals([logs[master!]!], vip), holdIntervals([logs[backup!]!], vip));
    const end = Math.max(...Object.values(logs).map((l) => l.end?.t ?? 0));
    return { spurious, bothHeldMs: both.reduce((n, i) => n + ((i.to ?? end) - i.from), 0), backupPriority: inst.priorities[backup!]! };
  } finally {
    await pool.closeAll();
  }
}

const started = new Date();
const all: RunRecord[] = [];
const failures: string[] = [];
try {
  for (const profile of profiles) {
    const t0 = Date.now();
    const changed = await converge(profile);
    console.log(`converged to the ${profile} profile (${changed} changed) in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    const inventory = await loadInventory(values.inventory!, { extraVars: profile === 'default' ? {} : { lvs_profile: profile } });
    const options: DrillOptions = { modes, runs, intervalMs: Number(values['interval-ms']), probeTimeoutMs: 300, restore: true, reportsDir: values.reports!, profile };
    const ui = createDrillUi();
    const result = await runDrill({ inventory, lab: await labControl(inventory), onEvent: ui.onEvent }, options);
    await ui.done();
    all.push(...result.runs);
    console.log(`\n${formatDrillSummary(result)}\n`);
    for (const f of result.failures) failures.push(`${profile} ${f.label.mode} ${f.label.index}: ${f.error}`);
    if (result.failures.length) break;
  }
} finally {
  if (profiles.some((p) => p !== 'default')) {
    const changed = await converge('default');
    console.log(`back to the default profile (${changed} changed)`);
  }
}

const rows = summarize(all.map((r) => ({ metrics: r.metrics, profile: r.label.profile })));
console.log(`\nlvsplay drill bench — ${runs} run(s) per mode and profile, probe every ${values['interval-ms']} ms\n`);
console.log(formatTable(rows));
console.log(formatTable(rows, { markdown: true }));
mkdirSync(values.reports!, { recursive: true });
const file = path.join(values.reports!, `bench-drill-${fileStamp(started)}.json`);
writeFileSync(file, `${JSON.stringify({ startedAt: started.toISOString(), runs, modes, profiles, table: rows, metrics: all.map((r) => ({ label: r.label, master: r.master, backup: r.backup, config: r.config, metrics: { ...r.metrics } })) }, null, 1)}\n`);
console.log(`figures: ${file}`);
if (failures.length) {
  console.error(`failed runs:\n  ${failures.join('\n  ')}`);
  process.exit(2);
}
