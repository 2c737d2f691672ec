// Failover figures for the README: every drill mode, N runs each, for the default and the fast
// timing profile (converged in turn), then the table (text and markdown). Not a test: it asserts
// nothing, it measures. The cluster is converged back to the default profile at the end.
//   npx tsx bench/drill.ts -i inventory/lab.yml --runs 5 [--mode stop,link] [--profiles default,fast]
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadInventory } from '../lib/inventory.ts';
import { labControl } from '../lib/drill/lab.ts';
import type { DrillOptions } from '../lib/drill/options.ts';
import { fileStamp, formatDrillSummary } from '../lib/drill/report.ts';
import { runDrill, type RunRecord } from '../lib/drill/run.ts';
import { formatTable, summarize } from '../lib/drill/table.ts';
import { DRILL_MODES, type DrillMode } from '../lib/drill/theory.ts';
import { createDrillUi } from '../lib/drill/ui.ts';
import { runPlays } from '../lib/runner.ts';
import { ConnectionPool } from '../lib/ssh.ts';
import { sitePlays } from '../playbooks/plays.ts';

const { values } = parseArgs({
  options: {
    inventory: { type: 'string', short: 'i', default: process.env.LVSPLAY_INVENTORY ?? 'inventory/lab.yml' },
    runs: { type: 'string', default: '5' },
    mode: { type: 'string', default: DRILL_MODES.join(',') },
    profiles: { type: 'string', default: 'default,fast' },
    'interval-ms': { type: 'string', default: '20' },
    reports: { type: 'string', default: 'reports' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log('usage: npx tsx bench/drill.ts -i INVENTORY [--runs 5] [--mode stop,kill,link,poweroff] [--profiles default,fast] [--interval-ms 20]');
  process.exit(0);
}
const runs = Number(values.runs);
const modes = values.mode!.split(',').map((m) => m.trim()) as DrillMode[];
const profiles = values.profiles!.split(',').map((p) => p.trim());
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${values.runs}`);
for (const m of modes) if (!DRILL_MODES.includes(m)) throw new Error(`--mode: unknown mode ${m}`);
for (const p of profiles) if (!['default', 'fast'].includes(p)) throw new Error(`--profiles: unknown profile ${p}`);

/** site.ts in-process; returns the number of changed tasks (0 on a converged cluster). */
async function converge(profile: string): Promise<number> {
  const extraVars = profile === 'default' ? {} : { lvs_profile: profile };
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
