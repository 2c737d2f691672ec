// sysctl: one kernel parameter, at run time (sysctl -w) and persistently (a line in /etc/sysctl.d/).
import path from 'node:path';
import { defineModule } from '../module.ts';
import { sh } from '../shell.ts';
import { unifiedDiff } from '../diff.ts';

export interface SysctlArgs {
  key: string;
  value: string | number;
  /** default /etc/sysctl.d/60-lvsplay.conf */
  file?: string;
}

export const SYSCTL_FILE = '/etc/sysctl.d/60-lvsplay.conf';

/** Whitespace collapsed and integers canonical, so "4096\t87380  6291456" equals "4096 87380 6291456" and "01" equals 1. */
export function normaliseSysctl(value: string | number): string {
  return String(value)
    .trim()
    .split(/\s+/)
    .map((t) => (/^-?\d+$/.test(t) ? BigInt(t).toString() : t))
    .join(' ');
}

export function checkKey(key: string): void {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.\-/]*$/.test(key)) throw new Error(`sysctl: invalid key ${JSON.stringify(key)}`);
}

/** sysctl.d accepts `a.b.c` and `a/b/c` for the same key. */
const sameKey = (a: string, b: string) => a.replace(/\//g, '.') === b.replace(/\//g, '.');

/** The value set for `key` in a sysctl.d file (the last assignment wins), or undefined. */
export function fileValue(content: string, key: string): string | undefined {
  let found: string | undefined;
  for (const line of content.split('\n')) {
    const m = /^\s*-?\s*([^=#;\s]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m && sameKey(m[1], key)) found = m[2];
  }
  return found;
}

/** The file with exactly one `key = value` line: the first assignment replaced, later ones dropped, or appended. */
export function setFileValue(content: string, key: string, value: string): string {
  const wanted = `${key} = ${value}`;
  const lines = content === '' ? [] : content.replace(/\n$/, '').split('\n');
  let done = false;
  const out: string[] = [];
  for (const line of lines) {
    const m = /^\s*-?\s*([^=#;\s]+)\s*=/.exec(line);
    if (m && sameKey(m[1], key)) {
      if (!done) out.push(wanted);
      done = true;
    } else out.push(line);
  }
  if (!done) out.push(wanted);
  return out.join('\n') + '\n';
}

export interface SysctlDecision {
  /** undefined: runtime already right */
  runtime?: { from?: string; to: string };
  /** new file content, undefined: file already right */
  file?: { from: string | null; to: string };
}

/**
 * Pure: `runtime` is the output of `sysctl -n` (undefined when the key does not exist yet, e.g. a
 * module not loaded in check mode), `content` the file (null when missing).
 */
export function decideSysctl(key: string, value: string | number, runtime: string | undefined, content: string | null): SysctlDecision | null {
  const want = normaliseSysctl(value);
  const d: SysctlDecision = {};
  if (runtime === undefined || normaliseSysctl(runtime) !== want) d.runtime = { from: runtime === undefined ? undefined : normaliseSysctl(runtime), to: want };
  const saved = content === null ? undefined : fileValue(content, key);
  if (saved === undefined || normaliseSysctl(saved) !== want) d.file = { from: content, to: setFileValue(content ?? '', key, want) };
  return d.runtime || d.file ? d : null;
}

export const sysctl = defineModule<SysctlArgs>({
  name: 'sysctl',
  async plan(ctx, { key, value, file = SYSCTL_FILE }) {
    checkKey(key);
    const [now, saved] = await ctx.conn.read([sh`sysctl -n ${key}`, sh`cat -- ${file}`]);
    // "cannot stat /proc/sys/…": the key does not exist yet (its module is loaded by an earlier task); anything else is an error.
    if (now.exitCode !== 0 && !/cannot stat/.test(now.stderr)) throw new Error(`sysctl -n ${key}: ${now.stderr.trim() || `exit ${now.exitCode}`}`);
    const runtime = now.exitCode === 0 ? now.stdout : undefined;
    const d = decideSysctl(key, value, runtime, saved.exitCode === 0 ? saved.stdout : null);
    if (!d) return null;
    const parts: string[] = [];
    let diff = '';
    if (d.runtime) {
      parts.push(`${key} ${d.runtime.from ?? '(not available yet)'} → ${d.runtime.to}`);
      diff += unifiedDiff(`(runtime) ${key}`, d.runtime.from === undefined ? null : `${d.runtime.from}\n`, `${d.runtime.to}\n`);
    }
    if (d.file) {
      parts.push(`persist in ${file}`);
      diff += unifiedDiff(file, d.file.from, d.file.to);
    }
    if (runtime === undefined) ctx.log(`sysctl ${key}: ${now.stderr.trim()}`);
    return { summary: parts.join(', '), diff, data: d };
  },
  async apply(ctx, { key, file = SYSCTL_FILE }, change) {
    const d = change.data as SysctlDecision;
    if (d.runtime) await ctx.conn.exec(sh`sysctl -w ${`${key}=${d.runtime.to}`}`);
    if (d.file) {
      if (d.file.from === null) await ctx.conn.exec(sh`mkdir -p -- ${path.dirname(file)}`);
      await ctx.conn.put(file, d.file.to, { mode: '0644' });
    }
  },
});
