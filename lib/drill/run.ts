// The live drill: preflight, then each run — probe on the client, VIP watchers on the directors,
// clock offsets, kill the MASTER, watch the takeover, restore, watch the failback, collect,
// analyze (lib/drill/one-run.ts). Emits DrillEvents and never prints; lib/drill/ui.ts shows them,
// lib/drill/report.ts writes files.
import { ConfigError } from '../types.ts';
import { modeProblem, trackedService } from './modes.ts';
import { Links } from './links.ts';
import { oneRun } from './one-run.ts';
import type { DrillOptions } from './options.ts';
import { fmtS } from './phase.ts';
import { drillTargets, preflight } from './preflight.ts';
import { summarize, withinBudget } from './table.ts';
import type { DrillContext, DrillEvent, DrillResult, RunLabel, RunRecord } from './types.ts';

export async function runDrill(ctx: DrillContext, opts: DrillOptions): Promise<DrillResult> {
  const emit = (e: DrillEvent) => ctx.onEvent?.(e);
  const targets = drillTargets(ctx.inventory, opts.vip);
  const lab = ctx.lab;
  for (const mode of opts.modes) {
    for (const d of targets.model.directors) {
      const why = modeProblem(mode, { lab: !!lab?.has(d), restore: opts.restore, service: trackedService(targets.model) });
      if (why) throw new ConfigError(`--mode ${mode} on ${d}: ${why}`, ctx.inventory.file);
    }
  }
  const links = new Links(ctx.inventory, ctx.connect ?? {});
  const result: DrillResult = { runs: [], rows: [], failures: [] };
  try {
    const cluster = await preflight(links, targets, opts, emit);
    // a failed run stops the drill: what ran so far is still reported
    drill: for (const mode of opts.modes) {
      for (let i = 1; i <= opts.runs; i++) {
        if (ctx.signal?.aborted) break drill;
        const label: RunLabel = { mode, index: i, of: opts.runs, profile: cluster.profile };
        emit({ type: 'run:start', run: label });
        try {
          const record = await oneRun(ctx, links, cluster, opts, label, emit);
          result.runs.push(record);
          emit({ type: 'run:end', run: label, summary: runSummary(record) });
          if (record.restored && !record.restored.ok) {
            result.failures.push({ label, error: `the cluster is not as the drill found it:\n  ${record.restored.problems.join('\n  ')}` });
            break drill;
          }
        } catch (err) {
          const message = (err as Error).message;
          result.failures.push({ label, error: message });
          emit({ type: 'run:end', run: label, summary: 'failed', failed: message });
          break drill;
        }
      }
    }
  } finally {
    await links.closeAll();
  }
  result.rows = summarize(result.runs.map((r) => ({ metrics: r.metrics, profile: r.label.profile })));
  if (opts.budgetMs !== undefined) result.withinBudget = withinBudget(result.rows, opts.budgetMs);
  return result;
}

function runSummary(record: RunRecord): string {
  const m = record.metrics;
  return `outage ${fmtS(m.outageMs)}, takeover ${fmtS(m.takeoverMs)}${m.splitBrain ? `, split brain ${fmtS(m.splitBrain.durationMs)}` : ''}${record.restored && !record.restored.ok ? ' — NOT restored' : ''}`;
}
