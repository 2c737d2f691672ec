// The end table of a drill: one row per (mode, profile) with min / median / max over the runs.
import { fatesText, type DrillMetrics, type PersistentOutcome } from './analyze.ts';
import { modeRank } from './modes.ts';

export interface TableRun {
  metrics: DrillMetrics;
  /** the timing profile, e.g. "default" or "fast" */
  profile?: string;
}

export interface Stats {
  min: number;
  median: number;
  max: number;
  n: number;
}

export interface TableRow {
  mode: string;
  profile: string;
  runs: number;
  /** runs whose timeline had no data; left out of every figure */
  invalid: number;
  /** runs that never recovered (their outage lasts to the end of the timeline) */
  unrecovered: number;
  outageMs?: Stats;
  failedRequests?: Stats;
  takeoverMs?: Stats;
  theoryMs?: number;
  ratio?: Stats;
  splitBrainMs?: Stats;
  /** the outages' resolution: the largest over the runs (± this, ms; the probe interval) */
  resolutionMs?: number;
  /** kept keep-alive connections, summed over the runs, at the failover and at the failback */
  conns: ConnCounts;
  failbackConns: ConnCounts;
  failbackOutageMs?: Stats;
}

export type ConnCounts = Pick<PersistentOutcome, 'atEvent' | 'survived' | 'cut' | 'stalled'>;

const sumConns = (outcomes: Array<PersistentOutcome | undefined>): ConnCounts => {
  const c = { atEvent: 0, survived: 0, cut: 0, stalled: 0 };
  for (const o of outcomes) for (const k of Object.keys(c) as Array<keyof ConnCounts>) c[k] += o?.[k] ?? 0;
  return c;
};

/** min / median (mean of the middle two for an even count) / max; undefined for no values. */
export function stats(values: number[]): Stats | undefined {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { min: v[0]!, median, max: v.at(-1)!, n: v.length };
}

export function summarize(runs: TableRun[]): TableRow[] {
  const groups = new Map<string, TableRun[]>();
  for (const run of runs) {
    const key = `${run.metrics.mode}\u0000${run.profile ?? 'default'}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(run);
  }
  const rows: TableRow[] = [];
  for (const [key, group] of groups) {
    const [mode, profile] = key.split('\u0000') as [string, string];
    const ok = group.map((r) => r.metrics).filter((m) => m.valid);
    const pick = (f: (m: DrillMetrics) => number | undefined | null) =>
      stats(ok.map(f).filter((v): v is number => typeof v === 'number'));
    const row: TableRow = {
      mode, profile, runs: group.length, invalid: group.length - ok.length,
      unrecovered: ok.filter((m) => m.unrecovered).length,
      conns: sumConns(ok.map((m) => m.persistent)),
      failbackConns: sumConns(ok.map((m) => m.failback?.persistent)),
    };
    const set = <K extends keyof TableRow>(k: K, v: TableRow[K] | undefined) => {
      if (v !== undefined) row[k] = v;
    };
    set('outageMs', pick((m) => m.outageMs));
    set('failedRequests', pick((m) => m.failedRequests));
    set('takeoverMs', pick((m) => m.takeoverMs));
    set('theoryMs', ok.find((m) => m.theoryMs !== undefined)?.theoryMs);
    set('ratio', pick((m) => m.ratio));
    set('splitBrainMs', pick((m) => m.splitBrain?.durationMs));
    set('failbackOutageMs', pick((m) => m.failback?.outageMs));
    const res = ok.flatMap((m) => [m, m.failback]).filter((d) => d && d.outageMs > 0).map((d) => d!.resolutionMs);
    if (res.length) row.resolutionMs = Math.max(...res);
    rows.push(row);
  }
  const byRank = (a: string, b: string) => (modeRank(a) === modeRank(b) ? 0 : modeRank(a) < modeRank(b) ? -1 : 1);
  return rows.sort((a, b) => a.profile.localeCompare(b.profile) || byRank(a.mode, b.mode) || a.mode.localeCompare(b.mode));
}

const ms = (v: number) => (v === 0 ? '0' : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1));
const triple = (s: Stats | undefined, f: (v: number) => string = ms) => (s ? `${f(s.min)} / ${f(s.median)} / ${f(s.max)}` : '—');

const HEADERS = [
  'mode', 'profile', 'runs', 'outage ms min/med/max', '± ms', 'failed req min/med/max', 'takeover ms min/med/max',
  'theory ms', 'ratio min/med/max', 'split brain ms min/med/max', 'conns at failover', 'failback outage ms min/med/max', 'conns at failback',
];

function cells(row: TableRow): string[] {
  const runs = `${row.runs}${row.invalid ? ` (${row.invalid} no data)` : ''}${row.unrecovered ? ` (${row.unrecovered} unrecovered)` : ''}`;
  return [
    row.mode, row.profile, runs,
    triple(row.outageMs),
    row.resolutionMs === undefined ? '—' : ms(row.resolutionMs),
    triple(row.failedRequests, (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1))),
    triple(row.takeoverMs),
    row.theoryMs === undefined ? '—' : ms(row.theoryMs),
    triple(row.ratio, (v) => v.toFixed(2)),
    triple(row.splitBrainMs),
    fatesText(row.conns),
    triple(row.failbackOutageMs),
    fatesText(row.failbackConns),
  ];
}

/** Plain-text table with aligned columns (markdown: a GitHub table for the README). */
export function formatTable(rows: TableRow[], options: { markdown?: boolean } = {}): string {
  const body = rows.map(cells);
  if (options.markdown) {
    const line = (c: string[]) => `| ${c.join(' | ')} |`;
    return [line(HEADERS), line(HEADERS.map(() => '---')), ...body.map(line)].join('\n') + '\n';
  }
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...body.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => (i < 2 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(HEADERS), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n') + '\n';
}

/** `--budget MS`: true when every group's median outage is within it (groups without data fail). */
export function withinBudget(rows: TableRow[], budgetMs: number): boolean {
  return rows.every((r) => r.outageMs !== undefined && r.outageMs.median <= budgetMs);
}
