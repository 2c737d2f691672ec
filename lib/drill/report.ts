// What a drill leaves behind: the end table (text), the timeline picture (SVG under reports/) and,
// with --json, every run's timeline, instants and metrics.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DrillOptions } from './options.ts';
import type { DrillResult, RunRecord } from './types.ts';
import { formatTable } from './table.ts';
import { renderTimelineSvg, summaryOf } from './timeline-svg.ts';

/** `2025-11-21T22-30-05Z`: sortable, valid in every file system. */
export const fileStamp = (d: Date): string => d.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');

export const runTitle = (r: RunRecord): string =>
  `${r.label.mode} ${r.label.index}/${r.label.of} (${r.label.profile}) · ${r.master} → ${r.backup} · ${r.vip}`;

/** The text printed at the end: the table, then what each run noticed. */
export function formatDrillSummary(result: DrillResult, opts: Pick<DrillOptions, 'budgetMs'> = {}): string {
  const parts: string[] = [];
  if (result.rows.length) parts.push(formatTable(result.rows).trimEnd());
  for (const r of result.runs) {
    const lines = [
      ...r.notes,
      ...r.metrics.warnings,
      ...(r.restored && !r.restored.ok ? [`NOT restored: ${r.restored.problems.join('; ')}`] : []),
    ];
    parts.push(`${runTitle(r)}: ${summaryOf(r.metrics)}${r.metrics.theory ? `\n  theory: ${r.metrics.theory.formula}` : ''}${lines.map((l) => `\n  note: ${l}`).join('')}`);
  }
  for (const f of result.failures) parts.push(`${f.label.mode} ${f.label.index}/${f.label.of}: FAILED: ${f.error}`);
  if (opts.budgetMs !== undefined) {
    parts.push(result.withinBudget ? `budget ${opts.budgetMs} ms: every median outage is within it` : `budget ${opts.budgetMs} ms: EXCEEDED (or no data) — exit 1`);
  }
  return parts.join('\n\n');
}

export function drillJson(result: DrillResult, meta: { startedAt: Date; inventory: string; options: DrillOptions; svg?: string }): unknown {
  return {
    lvsplay: 'drill',
    version: 1,
    startedAt: meta.startedAt.toISOString(),
    inventory: meta.inventory,
    options: meta.options,
    svg: meta.svg,
    table: result.rows,
    withinBudget: result.withinBudget,
    failures: result.failures,
    runs: result.runs,
  };
}

/** Writes the SVG (always) and the JSON (when asked); returns their paths. */
export function writeDrillReports(
  result: DrillResult,
  meta: { startedAt: Date; inventory: string; options: DrillOptions; json?: string },
): { svg?: string; json?: string } {
  const out: { svg?: string; json?: string } = {};
  if (result.runs.length) {
    mkdirSync(meta.options.reportsDir, { recursive: true });
    out.svg = path.join(meta.options.reportsDir, `drill-${fileStamp(meta.startedAt)}.svg`);
    const svg = renderTimelineSvg(
      result.runs.map((r) => ({ timeline: r.timeline, metrics: r.metrics, label: runTitle(r) })),
      result.runs.length === 1 ? {} : { title: `lvsplay drill — ${result.runs.length} runs (${[...new Set(result.runs.map((r) => r.label.mode))].join(', ')})` },
    );
    writeFileSync(out.svg, svg);
  }
  if (meta.json) {
    mkdirSync(path.dirname(path.resolve(meta.json)), { recursive: true });
    writeFileSync(meta.json, `${JSON.stringify(drillJson(result, { ...meta, svg: out.svg }), null, 1)}\n`);
    out.json = meta.json;
  }
  return out;
}
