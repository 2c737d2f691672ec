// sysctl: one kernel parameter, at run time (sysctl -w) and persistently (a line in /etc/sysctl.d/).
// state absent (as Ansible's sysctl module): the key's line leaves the file; with `restore`, a kernel
// value the file had set is put back too (a setting lvsplay no longer manages is not left behind).
import path from 'node:path';
import { defineModule } from '../module.ts';
import { sh } from '../shell.ts';
import { unifiedDiff } from '../diff.ts';

export type SysctlArgs =
  | {
      key: string;
      value: string | number;
      state?: 'present';
      /** default /etc/sysctl.d/60-lvsplay.conf */
      file?: string;
    }
  | {
      key: string;
      /** the key's lines removed from `file` */
      state: 'absent';
      /**
       * when `file` held the key and the kernel still runs the file's value, the kernel is set to
       * this (its value before the file set it, e.g. the kernel default); otherwise left as found
       */
      restore?: string | number;
      file?: string;
    };

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

/** The file without any assignment of `key`. */
export function removeFileValue(content: string, key: string): string {
  const lines = content === '' ? [] : content.replace(/\n$/, '').split('\n');
  const kept = lines.filter((line) => {
    const m = /^\s*-?\s*([^=#;\s]+)\s*=/.exec(line);
    return !(m && sameKey(m[1], key));
  });
  return kept.length ? kept.join('\n') + '\n' : '';
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

/**
 * Pure, state absent: null unless the file assigns `key`. Then the file loses the key's lines and,
 * with `restore`, the kernel goes back to `restore` only while it still runs the file's value (a
 * value someone set since is theirs). The runtime is changed first, then the file: a run cut in
 * between still finds the line next time.
 */
export function decideSysctlAbsent(key: string, restore: string | number | undefined, runtime: string | undefined, content: string | null): SysctlDecision | null {
  const saved = content === null ? undefined : fileValue(content, key);
  if (content === null || saved === undefined) return null;
  const d: SysctlDecision = { file: { from: content, to: removeFileValue(content, key) } };
  if (restore !== undefined && runtime !== undefined) {
    const now = normaliseSysctl(runtime);
    const back = normaliseSysctl(restore);
    if (now === normaliseSysctl(saved) && now !== back) d.runtime = { from: now, to: back };
  }
  return d;
}

export const sysctl = defineModule<SysctlArgs>({
  name: 'sysctl',
  async plan(ctx, args) {
    const { key, file = SYSCTL_FILE } = args;
    checkKey(key);
    const [now, saved] = await ctx.conn.read([sh`sysctl -n ${key}`, sh`cat -- ${file}`]);
    // "cannot stat /proc/sys/…": the key does not exist yet (its module is loaded by an earlier task); anything else is an error.
    if (now.exitCode !== 0 && !/cannot stat/.test(now.stderr)) throw new Error(`sysctl -n ${key}: ${now.stderr.trim() || `exit ${now.exitCode}`}`);
    const runtime = now.exitCode === 0 ? now.stdout : undefined;
    const content = saved.exitCode === 0 ? saved.stdout : null;
    const absent = args.state === 'absent';
    const d = absent ? decideSysctlAbsent(key, args.restore, runtime, content) : decideSysctl(key, args.value, runtime, content);
    if (!d) return null;
    const parts: string[] = [];
    let diff = '';
    if (d.runtime) {
      parts.push(`${key} ${d.runtime.from ?? '(not available yet)'} → ${d.runtime.to}${absent ? ' (restored)' : ''}`);
      diff += unifiedDiff(`(runtime) ${key}`, d.runtime.from === undefined ? null : `${d.runtime.from}\n`, `${d.runtime.to}\n`);
    }
    if (d.file) {
      parts.push(absent ? `${key} removed from ${file}` : `persist in ${file}`);
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
