// The vars lvsplay reads and the shape of a YAML inventory group, as zod schemas; issues become
// one ConfigError whose lines point into the file.
import { z } from 'zod';
import { ConfigError } from '../types.ts';
import { showValue } from './layers.ts';
import { dotted, positionOf, type KeyPath, type YamlSource } from './yaml.ts';

export function asPort(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 1 && n <= 65535 ? n : undefined;
}

/** Ansible's boolean(): true/false, yes/no, on/off, 1/0, y/n, t/f */
export function asBool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  const s = String(v).trim().toLowerCase();
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  if (['true', 'yes', 'on', '1', 'y', 't'].includes(s)) return true;
  if (['false', 'no', 'off', '0', 'n', 'f'].includes(s)) return false;
  return undefined;
}

export function asNumber(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

const nonEmptyString = (v: unknown) => typeof v === 'string' && v.trim() !== '';
const hostAddress = (v: unknown) => nonEmptyString(v) && !/\s/.test(String(v));

/** Connection plugins lvsplay speaks: its own SSH client stands for Ansible's ssh/paramiko/smart */
export const SSH_CONNECTIONS = ['ssh', 'paramiko', 'paramiko_ssh', 'smart'];

const port = [(v: unknown) => asPort(v) !== undefined, 'expected an integer 1..65535'] as const;
const user = [nonEmptyString, 'expected a user name'] as const;
const address = [hostAddress, 'expected a host name or address'] as const;
const keyFile = [nonEmptyString, 'expected the path of a private key file'] as const;

/** The vars lvsplay itself reads, and what each must be; any other var passes through untouched. */
export const VAR_CHECKS: Record<string, readonly [ok: (v: unknown) => boolean, message: string]> = {
  ansible_host: address,
  ansible_ssh_host: address,
  ansible_port: port,
  ansible_ssh_port: port,
  ansible_user: user,
  ansible_ssh_user: user,
  ansible_ssh_private_key_file: keyFile,
  ansible_private_key_file: keyFile,
  ansible_connection: [nonEmptyString, 'expected a connection type (ssh)'],
  ansible_become: [(v) => asBool(v) !== undefined, 'expected a boolean (true/false, yes/no)'],
  ansible_group_priority: [(v) => typeof v === 'number' ? Number.isInteger(v) : typeof v === 'string' && /^-?\d+$/.test(v), 'expected an integer'],
  lvsplay_known_hosts: [nonEmptyString, 'expected the path of a known_hosts file'],
  lvsplay_keepalive_interval: [(v) => asNumber(v) !== undefined && asNumber(v)! > 0, 'expected a number of seconds > 0'],
  lvsplay_keepalive_count_max: [(v) => Number.isInteger(asNumber(v)) && asNumber(v)! >= 1, 'expected an integer >= 1'],
};

/**
 * Issues in one vars mapping (zod-shaped, for schemaError), checked by hand: zod over 25 000 hosts
 * costs seconds (it copies every value), this loop only looks at the keys lvsplay reads.
 */
export function varsIssues(vars: unknown, at: (string | number)[] = [], nullable = false): z.ZodIssue[] {
  if (vars == null && nullable) return [];
  if (typeof vars !== 'object' || vars === null || Array.isArray(vars) || vars instanceof Date) {
    return [{ code: z.ZodIssueCode.invalid_type, expected: 'object', received: Array.isArray(vars) ? 'array' : (typeof vars as z.ZodParsedType), path: at, message: 'Expected object' }];
  }
  const issues: z.ZodIssue[] = [];
  for (const key in vars) {
    const check = VAR_CHECKS[key];
    const v = (vars as Record<string, unknown>)[key];
    if (check && v !== undefined && !check[0](v)) issues.push({ code: z.ZodIssueCode.custom, path: [...at, key], message: check[1] });
  }
  return issues;
}

/** For callers that want a zod schema (extra vars): the same checks. */
export const varsSchema = z.record(z.string(), z.unknown()).superRefine((vars, ctx) => {
  for (const issue of varsIssues(vars)) ctx.addIssue(issue as z.IssueData);
});

/** Ansible accepts `hosts: name` / `children: name` for a single entry */
export const oneOrMap = (v: unknown) => (typeof v === 'string' ? { [v]: null } : v);

/** One group's body; its hosts' and vars' values are checked by varsIssues, its children by the (iterative) walk. */
export const groupSchema = z
  .object({
    hosts: z.preprocess(oneOrMap, z.record(z.string(), z.unknown()).nullable()).optional(),
    children: z.preprocess(oneOrMap, z.record(z.string(), z.unknown()).nullable()).optional(),
    vars: z.unknown().optional(),
  })
  .strict()
  .nullable();

/** What a path in the inventory designates: [g] group, [g,'hosts'] section, [g,'hosts',h] host, …, [g,'vars',k] var. */
export function expectedAt(keyPath: KeyPath): string {
  let i = 0;
  for (;;) {
    if (i === keyPath.length - 1) return 'a mapping with hosts, children or vars (or nothing)';
    const section = keyPath[i + 1];
    if (i + 1 === keyPath.length - 1) {
      return section === 'hosts' ? 'a mapping of host names (each with its vars, or nothing)'
        : section === 'children' ? 'a mapping of group names'
        : 'a mapping of variables';
    }
    if (section === 'children') { i += 2; continue; }
    if (section === 'hosts') return i + 2 === keyPath.length - 1 ? 'a mapping of host vars (or nothing)' : 'a valid value';
    return 'a valid value';
  }
}

export function valueAt(data: unknown, keyPath: KeyPath): unknown {
  let v = data;
  for (const k of keyPath) {
    if (typeof v === 'string' && k === v) return null; // `hosts: name` shorthand
    v = v != null && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined;
  }
  return v;
}

interface Located { message: string; line: number; col: number }

/** zod issues → one ConfigError: the first (in file order) leads, the others follow, each with file:line:col. */
export function schemaError(src: YamlSource, issues: Array<z.ZodIssue>, expected: (p: KeyPath) => string): ConfigError {
  const locate = (keyPath: KeyPath, message: string, at: 'key' | 'value' = 'value'): Located => {
    const { line, col } = positionOf(src, keyPath, at);
    return { message: keyPath.length ? `${dotted(keyPath)}: ${message}` : message, line, col };
  };
  const errors: Located[] = [];
  for (const issue of issues.slice(0, 50)) {
    const at = issue.path;
    if (issue.code === z.ZodIssueCode.unrecognized_keys) {
      for (const key of issue.keys) {
        const hint = /^ansible_|^lvsplay_/.test(key) ? ' (host vars go under hosts.<name>, group vars under vars)' : '';
        errors.push(locate([...at, key], `unknown key "${key}": a group takes only hosts, children and vars${hint}`, 'key'));
      }
    } else if (issue.code === z.ZodIssueCode.invalid_type) {
      errors.push(locate(at, `expected ${expected(at)}, got ${showValue(valueAt(src.data, at))}`));
    } else {
      errors.push(locate(at, `${issue.message}, got ${showValue(valueAt(src.data, at))}`));
    }
  }
  errors.sort((a, b) => a.line - b.line || a.col - b.col);
  const [first, ...rest] = errors;
  const more = rest.slice(0, 9).map((e) => `\n  ${src.shown}:${e.line}:${e.col}: ${e.message}`).join('');
  const tail = rest.length > 9 ? `\n  … and ${rest.length - 9} more` : '';
  return new ConfigError(first.message + more + tail, src.shown, first.line, first.col);
}
