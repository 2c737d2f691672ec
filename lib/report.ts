// Text and JSON for what a run did: result lines, failures, diffs, the PLAY RECAP, the --json file.
import fs from 'node:fs';
import chalk, { Chalk, type ChalkInstance } from 'chalk';
import { taskPath } from './runner.ts';
import type { HostStats, TaskResult } from './types.ts';

export interface FormatOptions {
  /** ANSI colours (default: when chalk detects a colour terminal) */
  color?: boolean;
}

const painter = (opts: FormatOptions = {}): ChalkInstance =>
  new Chalk({ level: (opts.color ?? chalk.level > 0) ? Math.max(1, chalk.level) as 1 | 2 | 3 : 0 });

/** Ansible's `ignored`: failures a task chose to ignore, counted as ok. */
export function ignoredCounts(results: TaskResult[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of results) if (r.ignored) out.set(r.host, (out.get(r.host) ?? 0) + 1);
  return out;
}

/** `PLAY RECAP ****` then one line per host, coloured like Ansible's default callback. */
export function formatRecap(stats: Map<string, HostStats>, results: TaskResult[] = [], opts: FormatOptions = {}): string {
  const c = painter(opts);
  const ignored = ignoredCounts(results);
  const field = (label: string, n: number, colour: (s: string) => string) => {
    const text = `${label}=${String(n).padEnd(4)}`;
    return n > 0 ? colour(text) : text;
  };
  const lines = [`PLAY RECAP ${'*'.repeat(69)}`];
  for (const [host, s] of stats) {
    const hostColour = s.failed || s.unreachable ? c.red : s.changed ? c.yellow : c.green;
    lines.push(
      [
        `${hostColour(host.padEnd(26))} :`,
        field('ok', s.ok, c.green),
        field('changed', s.changed, c.yellow),
        field('unreachable', s.unreachable, c.redBright),
        field('failed', s.failed, c.red),
        field('skipped', s.skipped, c.cyan),
        field('ignored', ignored.get(host) ?? 0, c.magentaBright),
      ]
        .join(' ')
        .trimEnd(),
    );
  }
  return lines.join('\n');
}

export const playHeader = (play: string): string => `PLAY [${play}] ${'*'.repeat(Math.max(3, 72 - play.length))}`;

/** One clean line per task result: `[bal1] changed: template a.ejs → /etc/a (update 2 lines)`. */
export function formatResultLine(r: TaskResult, opts: FormatOptions = {}): string {
  const c = painter(opts);
  const colour = { ok: c.green, changed: c.yellow, skipped: c.cyan, failed: c.red, unreachable: c.redBright }[r.status];
  const label = r.ignored ? 'failed (ignored)' : r.status;
  const failed = r.status === 'failed' || r.status === 'unreachable';
  const name = `${r.handler ? 'handler: ' : ''}${failed ? taskPath(r.play, r.role, r.task) : r.task}`;
  const summary = r.summary && r.summary !== r.task ? c.dim(` (${r.summary})`) : '';
  let line = `[${r.host}] ${colour(`${label}:`)} ${name}${summary}`;
  if (r.error) line += `\n${indent(r.error)}`;
  return line;
}

/** The block the CLI prints for each failure: where (play › role › task) and what (the error). */
export function formatFailure(r: TaskResult, opts: FormatOptions = {}): string {
  const c = painter(opts);
  const what = r.status === 'unreachable' ? 'UNREACHABLE' : 'FAILED';
  return `${c.red(`${what} [${r.host}]`)} ${taskPath(r.play, r.role, r.task)}\n${indent(r.error ?? '')}`;
}

/** A unified diff with + / - / @@ lines coloured. */
export function formatDiff(diff: string, opts: FormatOptions = {}): string {
  const c = painter(opts);
  return diff
    .trimEnd()
    .split('\n')
    .map((l) =>
      l.startsWith('+++') || l.startsWith('---') ? c.bold(l) : l.startsWith('+') ? c.green(l) : l.startsWith('-') ? c.red(l) : l.startsWith('@@') ? c.cyan(l) : l,
    )
    .join('\n');
}

const indent = (text: string, by = '    '): string =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => by + l)
    .join('\n');

export interface JsonReport {
  version: 1;
  exitCode: number;
  check: boolean;
  startedAt: string;
  durationMs: number;
  recap: Record<string, HostStats & { ignored: number }>;
  results: TaskResult[];
}

export function jsonReport(
  summary: { stats: Map<string, HostStats>; results: TaskResult[]; exitCode: number },
  meta: { check?: boolean; startedAt: Date; durationMs: number },
): JsonReport {
  const ignored = ignoredCounts(summary.results);
  return {
    version: 1,
    exitCode: summary.exitCode,
    check: meta.check ?? false,
    startedAt: meta.startedAt.toISOString(),
    durationMs: meta.durationMs,
    recap: Object.fromEntries([...summary.stats].map(([h, s]) => [h, { ...s, ignored: ignored.get(h) ?? 0 }])),
    results: summary.results,
  };
}

export function writeJsonReport(file: string, report: JsonReport): void {
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
}
