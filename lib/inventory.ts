// Ansible's YAML inventory (the `yaml` inventory plugin) with its group_vars/ and host_vars/
// directories, validated before any host is touched: every error names file:line:col, the key
// path and the bad value.
//
// Semantics follow Ansible (lib/ansible/plugins/inventory/yaml.py, inventory/data.py, vars/manager.py):
// - top-level keys are groups (`all:` and any other); a group takes hosts, children, vars; a group
//   may sit under several parents; a host may sit in several groups and its vars merge.
// - A child group given no body (`northeast:`) is an empty group, as in Ansible's own docs
//   example; a host pattern naming a group that exists nowhere is reported by unknownNames().
// - Precedence, lowest first (Ansible's VARIABLE_PRECEDENCE): inline vars of all, of the other
//   groups (by depth, then ansible_group_priority, then name), group_vars/all, group_vars/<group>
//   (same order), the host's inline vars, host_vars/<host>, extra vars. Dicts replace, never merge.
// - Stricter than Ansible, because a silent pick here means deploying to the wrong machine:
//   unknown keys in a group, a group named like a host, one host given two different connection
//   settings (two entries, or two unrelated groups) are refused.
import { readFile, readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, visit, type Document, type Pair } from 'yaml';
import { z } from 'zod';
import { matchPattern } from './patterns.ts';
import { ConfigError, type Host, type Inventory } from './types.ts';

// ---------------------------------------------------------------- YAML with positions

export interface YamlSource {
  /** absolute path */
  file: string;
  /** as shown in messages: relative to the working directory when inside it */
  shown: string;
  doc: Document.Parsed;
  lines: LineCounter;
  data: unknown;
}

export type KeyPath = readonly (string | number)[];

export function shownPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/** Reads and parses a YAML file as Ansible does (YAML 1.1: yes/no booleans, merge keys), refusing duplicate keys. */
export async function readYamlFile(file: string, what = 'file'): Promise<YamlSource> {
  const shown = shownPath(file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a YAML file' : (e as Error).message;
    throw new ConfigError(`${what} ${shown}: ${why}`);
  }
  return parseYaml(text, file, shown);
}

export function parseYaml(text: string, file: string, shown = shownPath(file)): YamlSource {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, keepSourceTokens: true, uniqueKeys: true, version: '1.1', prettyErrors: true });
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0];
    if (err.code === 'DUPLICATE_KEY') {
      // yaml points at the end of the previous entry when it has no value: move to the duplicate key itself
      const start = err.pos[0] + (/^\s*/.exec(text.slice(err.pos[0]))?.[0].length ?? 0);
      const pos = lines.linePos(start);
      const key = /^[^:\n]*/.exec(text.slice(start))![0].trim();
      throw new ConfigError(`YAML: duplicate key ${JSON.stringify(key)}: map keys must be unique`, shown, pos.line, pos.col);
    }
    const hint = /^\s*\[[^\]]+\]\s*$/m.test(text) && !/^\s*\w+:/m.test(text)
      ? '\n(this looks like an INI inventory; only the YAML format is read: `ansible-inventory -i FILE -y --list` converts it)'
      : '';
    throw new ConfigError(`YAML: ${yamlMessage(err.message)}${hint}`, shown, pos?.line, pos?.col);
  }
  visit(doc, {
    Alias(_, alias) {
      if (alias.resolve(doc)) return;
      const pos = lines.linePos(alias.range?.[0] ?? 0);
      throw new ConfigError(`YAML: unknown alias *${alias.source}: no &${alias.source} anchor before it`, shown, pos.line, pos.col);
    },
  });
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 10_000 });
  } catch (e) {
    throw new ConfigError(`YAML: ${(e as Error).message}`, shown);
  }
  return { file, shown, doc, lines, data };
}

/** yaml's pretty message minus its "at line L, column C" (the prefix says where) */
function yamlMessage(message: string): string {
  return message.replace(/ at line \d+, column \d+:?/, '').trimEnd();
}

/** Line and column of the node at `keyPath` (its key or its value), or of the deepest ancestor found. */
export function positionOf(src: YamlSource, keyPath: KeyPath, at: 'key' | 'value' = 'value'): { line: number; col: number } {
  let node: unknown = src.doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (let i = 0; i < keyPath.length; i++) {
    node = deref(src, node);
    const seg = keyPath[i];
    if (isMap(node)) {
      const pair = findPair(src, node, String(seg));
      if (!pair) break;
      offset = rangeStart(pair.key) ?? offset;
      if (i === keyPath.length - 1 && at === 'key') break;
      const value = deref(src, pair.value);
      if (value != null && !(isScalar(value) && value.value == null)) offset = rangeStart(pair.value) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && node.items[seg] != null) {
      node = node.items[seg];
      offset = rangeStart(node) ?? offset;
    } else break;
  }
  return src.lines.linePos(offset);
}

function rangeStart(node: unknown): number | undefined {
  return (node as { range?: [number, number, number] } | null)?.range?.[0];
}

function deref(src: YamlSource, node: unknown): unknown {
  return isAlias(node) ? node.resolve(src.doc) : node;
}

function findPair(src: YamlSource, map: { items: Pair[] }, key: string, depth = 0): Pair | undefined {
  const isMerge = (p: Pair) => isScalar(p.key) && (typeof p.key.value === 'symbol' || p.key.value === '<<');
  const own = map.items.find((p) => !isMerge(p) && isScalar(p.key) && String(p.key.value) === key);
  if (own || depth > 20) return own;
  for (const p of map.items.filter(isMerge)) {
    const v = deref(src, p.value);
    const sources = isSeq(v) ? v.items.map((it) => deref(src, it)) : [v];
    for (const s of sources) {
      const found = isMap(s) ? findPair(src, s, key, depth + 1) : undefined;
      if (found) return found;
    }
  }
  return undefined;
}

/** `all.children.web.hosts.h1.ansible_port`, `all.hosts["mail.example.com"]` */
export function dotted(keyPath: KeyPath): string {
  return keyPath
    .map((k, i) => (typeof k === 'number' ? `[${k}]` : !/^[\w-]+$/.test(k) ? `[${JSON.stringify(k)}]` : i === 0 ? k : `.${k}`))
    .join('');
}

/** A value as shown in messages. */
export function showValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return 'a mapping';
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

interface Located { message: string; line: number; col: number }

function locate(src: YamlSource, keyPath: KeyPath, message: string, at: 'key' | 'value' = 'value'): Located {
  const { line, col } = positionOf(src, keyPath, at);
  return { message: keyPath.length ? `${dotted(keyPath)}: ${message}` : message, line, col };
}

/** `file:line:col: key.path: message` */
export function errorAt(src: YamlSource, keyPath: KeyPath, message: string, at: 'key' | 'value' = 'value'): ConfigError {
  const e = locate(src, keyPath, message, at);
  return new ConfigError(e.message, src.shown, e.line, e.col);
}

const isMapping = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

// ---------------------------------------------------------------- schema

function asPort(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 1 && n <= 65535 ? n : undefined;
}

/** Ansible's boolean(): true/false, yes/no, on/off, 1/0, y/n, t/f */
function asBool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  const s = String(v).trim().toLowerCase();
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  if (['true', 'yes', 'on', '1', 'y', 't'].includes(s)) return true;
  if (['false', 'no', 'off', '0', 'n', 'f'].includes(s)) return false;
  return undefined;
}

function asNumber(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

const nonEmptyString = (v: unknown) => typeof v === 'string' && v.trim() !== '';

const checked = (ok: (v: unknown) => boolean, message: string) =>
  z.unknown().superRefine((v, ctx) => {
    if (v !== undefined && !ok(v)) ctx.addIssue({ code: z.ZodIssueCode.custom, message });
  });

/** The vars lvsplay itself reads; any other var passes through untouched. */
const varsSchema = z
  .object({
    ansible_host: checked((v) => nonEmptyString(v) && !/\s/.test(String(v)), 'expected a host name or address'),
    ansible_port: checked((v) => asPort(v) !== undefined, 'expected an integer 1..65535'),
    ansible_user: checked(nonEmptyString, 'expected a user name'),
    ansible_ssh_private_key_file: checked(nonEmptyString, 'expected the path of a private key file'),
    ansible_become: checked((v) => asBool(v) !== undefined, 'expected a boolean (true/false, yes/no)'),
    ansible_group_priority: checked((v) => typeof v === 'number' ? Number.isInteger(v) : typeof v === 'string' && /^-?\d+$/.test(v), 'expected an integer'),
    lvsplay_known_hosts: checked(nonEmptyString, 'expected the path of a known_hosts file'),
    lvsplay_keepalive_interval: checked((v) => asNumber(v) !== undefined && asNumber(v)! > 0, 'expected a number of seconds > 0'),
    lvsplay_keepalive_count_max: checked((v) => Number.isInteger(asNumber(v)) && asNumber(v)! >= 1, 'expected an integer >= 1'),
  })
  .passthrough();

/** Ansible accepts `hosts: name` / `children: name` for a single entry */
const oneOrMap = (v: unknown) => (typeof v === 'string' ? { [v]: null } : v);

const groupSchema: z.ZodType<unknown> = z.lazy(() =>
  z
    .object({
      hosts: z.preprocess(oneOrMap, z.record(z.string(), varsSchema.nullable()).nullable()).optional(),
      children: z.preprocess(oneOrMap, z.record(z.string(), groupSchema).nullable()).optional(),
      vars: varsSchema.nullable().optional(),
    })
    .strict()
    .nullable(),
);

const inventorySchema = z.record(z.string(), groupSchema);

/** What a path in the inventory designates: [g] group, [g,'hosts'] section, [g,'hosts',h] host, …, [g,'vars',k] var. */
function expectedAt(keyPath: KeyPath): string {
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

function valueAt(data: unknown, keyPath: KeyPath): unknown {
  let v = data;
  for (const k of keyPath) {
    if (typeof v === 'string' && k === v) return null; // `hosts: name` shorthand
    v = v != null && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined;
  }
  return v;
}

/** zod issues → one ConfigError: the first (in file order) leads, the others follow, each with file:line:col. */
function schemaError(src: YamlSource, issues: z.ZodIssue[], expected: (p: KeyPath) => string): ConfigError {
  const errors: Located[] = [];
  for (const issue of issues) {
    const at = issue.path;
    if (issue.code === z.ZodIssueCode.unrecognized_keys) {
      for (const key of issue.keys) {
        const hint = /^ansible_|^lvsplay_/.test(key) ? ' (host vars go under hosts.<name>, group vars under vars)' : '';
        errors.push(locate(src, [...at, key], `unknown key "${key}": a group takes only hosts, children and vars${hint}`, 'key'));
      }
    } else if (issue.code === z.ZodIssueCode.invalid_type) {
      errors.push(locate(src, at, `expected ${expected(at)}, got ${showValue(valueAt(src.data, at))}`));
    } else {
      errors.push(locate(src, at, `${issue.message}, got ${showValue(valueAt(src.data, at))}`));
    }
  }
  errors.sort((a, b) => a.line - b.line || a.col - b.col);
  const [first, ...rest] = errors;
  const more = rest.slice(0, 9).map((e) => `\n  ${src.shown}:${e.line}:${e.col}: ${e.message}`).join('');
  const tail = rest.length > 9 ? `\n  … and ${rest.length - 9} more` : '';
  return new ConfigError(first.message + more + tail, src.shown, first.line, first.col);
}

// ---------------------------------------------------------------- model

interface VarLayer {
  vars: Record<string, unknown>;
  /** null: extra vars */
  src: YamlSource | null;
  /** path of the vars mapping in src */
  at: KeyPath;
}

interface GroupNode {
  name: string;
  parents: Set<string>;
  children: string[];
  hosts: string[];
  inline: VarLayer[];
  files: VarLayer[];
}

interface HostNode {
  name: string;
  direct: Set<string>;
  inline: VarLayer[];
  files: VarLayer[];
}

const CONNECTION_KEYS = ['ansible_host', 'ansible_port', 'ansible_user', 'ansible_ssh_private_key_file'] as const;
const BAD_NAME = /[\s,:!&*?[\]~]/;

export async function loadInventory(file: string, opts: { extraVars?: Record<string, unknown> } = {}): Promise<Inventory> {
  const abs = path.resolve(file);
  const src = await readYamlFile(abs, 'inventory');
  const dir = path.dirname(abs);
  const graph = readGraph(src);
  for (const h of graph.hosts.values()) checkHostEntries(h, dir);

  // group_vars/ and host_vars/ beside the inventory
  for (const g of graph.groups.values()) g.files = await varsFiles(path.join(dir, 'group_vars'), g.name);
  for (const h of graph.hosts.values()) h.files = await varsFiles(path.join(dir, 'host_vars'), h.name);

  const extra: VarLayer = { vars: opts.extraVars ?? {}, src: null, at: [] };
  const extraCheck = varsSchema.safeParse(extra.vars);
  if (!extraCheck.success) {
    const issue = extraCheck.error.issues[0];
    throw new ConfigError(`extra vars: ${dotted(issue.path)}: ${issue.message}, got ${showValue(valueAt(extra.vars, issue.path))}`);
  }

  const order = [...graph.hosts.keys()];
  const members = groupMembers(graph, order);
  const mergeOrder = groupMergeOrder(graph);
  const hosts = new Map<string, Host>();
  for (const h of graph.hosts.values()) {
    const memberOf = new Set<string>(['all']);
    for (const d of h.direct) [d, ...graph.ancestors(d)].forEach((g) => memberOf.add(g));
    const sorted = [...memberOf].sort(mergeOrder);
    const groupNodes = sorted.map((g) => graph.groups.get(g)!);
    const hostLevel = [...h.inline, ...h.files, extra];
    checkGroupConflicts(h.name, groupNodes, hostLevel, graph.ancestors, dir);
    const layers = [...groupNodes.flatMap((g) => g.inline), ...groupNodes.flatMap((g) => g.files), ...hostLevel];
    hosts.set(h.name, resolveHost(h.name, sorted, layers, dir));
  }

  return {
    file: abs,
    hosts,
    groups: members,
    select: (pattern: string) => matchPattern(pattern, { hosts: order, groups: members }).map((n) => hosts.get(n)!),
  };
}

interface Graph {
  groups: Map<string, GroupNode>;
  /** in inventory order */
  hosts: Map<string, HostNode>;
  ancestors(group: string): Set<string>;
}

/** The inventory file as groups and hosts, the way Ansible's yaml plugin walks it (document order, depth first). */
function readGraph(src: YamlSource): Graph {
  const data = src.data;
  if (data == null) throw new ConfigError('the inventory is empty: expected groups such as `all:` with hosts', src.shown, 1, 1);
  if (!isMapping(data)) throw errorAt(src, [], `expected a mapping of groups (all:, …), got ${showValue(data)}`);
  if (typeof data.plugin === 'string') throw errorAt(src, ['plugin'], 'this is an inventory plugin configuration, not a YAML inventory', 'key');
  const checked = inventorySchema.safeParse(data);
  if (!checked.success) throw schemaError(src, checked.error.issues, expectedAt);

  const groups = new Map<string, GroupNode>();
  const hosts = new Map<string, HostNode>();
  const group = (name: string) => {
    let g = groups.get(name);
    if (!g) groups.set(name, (g = { name, parents: new Set(), children: [], hosts: [], inline: [], files: [] }));
    return g;
  };
  const ancestors = (name: string, seen = new Set<string>()): Set<string> => {
    for (const p of groups.get(name)?.parents ?? []) if (!seen.has(p)) { seen.add(p); ancestors(p, seen); }
    return seen;
  };

  const walkGroup = (name: string, body: unknown, at: KeyPath, parent?: string) => {
    if (name.trim() === '' || BAD_NAME.test(name)) throw errorAt(src, at, `invalid group name ${JSON.stringify(name)}: no spaces or any of , : ! & * ? [ ] ~`, 'key');
    if (parent !== undefined) {
      if (name === 'all') throw errorAt(src, at, `group "all" cannot be a child of "${parent}"`, 'key');
      if (name === parent || ancestors(parent).has(name)) {
        throw errorAt(src, at, `group "${name}" under "${parent}" makes a loop: "${parent}" is already inside "${name}"`, 'key');
      }
      const p = group(parent);
      if (!p.children.includes(name)) p.children.push(name);
      group(name).parents.add(parent);
    }
    const g = group(name);
    if (!isMapping(body)) return;
    for (const [section, value] of Object.entries(body)) {
      const entries = oneOrMap(value);
      if (!isMapping(entries)) continue; // null section
      if (section === 'vars') g.inline.push({ vars: entries, src, at: [...at, 'vars'] });
      else if (section === 'children') {
        for (const [child, childBody] of Object.entries(entries)) walkGroup(child, childBody, [...at, 'children', child], name);
      } else if (section === 'hosts') {
        for (const [key, hostVars] of Object.entries(entries)) {
          const hostAt = [...at, 'hosts', key];
          const { names, port } = parseHostKey(key, (msg) => errorAt(src, hostAt, msg, 'key'));
          const vars = { ...(hostVars as Record<string, unknown> | null), ...(port !== undefined ? { ansible_port: port } : {}) };
          for (const h of names) {
            let node = hosts.get(h);
            if (!node) hosts.set(h, (node = { name: h, direct: new Set(), inline: [], files: [] }));
            node.direct.add(name);
            node.inline.push({ vars, src, at: hostAt });
            if (!g.hosts.includes(h)) g.hosts.push(h);
          }
        }
      }
    }
  };
  group('all');
  for (const [name, body] of Object.entries(data)) walkGroup(name, body, [name]);

  // as Ansible's reconcile_inventory: parentless groups hang under all; hosts with no other group are ungrouped
  const all = group('all');
  const ungrouped = group('ungrouped');
  for (const g of groups.values()) {
    if (g.name !== 'all' && g.parents.size === 0) {
      g.parents.add('all');
      if (!all.children.includes(g.name)) all.children.push(g.name);
    }
  }
  for (const h of hosts.values()) {
    if (groups.has(h.name)) throw errorAt(src, h.inline[0].at, `"${h.name}" is both a host and a group: rename one (patterns could not tell them apart)`, 'key');
    if ([...h.direct].every((g) => g === 'all' || g === 'ungrouped')) {
      h.direct.add('ungrouped');
      if (!ungrouped.hosts.includes(h.name)) ungrouped.hosts.push(h.name);
    } else if (h.direct.delete('ungrouped')) {
      ungrouped.hosts.splice(ungrouped.hosts.indexOf(h.name), 1);
    }
  }
  return { groups, hosts, ancestors: (g) => ancestors(g) };
}

/** Group name → its hosts, through children, in inventory order. */
function groupMembers(graph: Graph, order: string[]): Map<string, string[]> {
  const members = new Map<string, string[]>();
  for (const g of graph.groups.values()) {
    const inside = new Set<string>(g.name === 'all' ? order : []);
    const collect = (name: string) => {
      const node = graph.groups.get(name)!;
      node.hosts.forEach((h) => inside.add(h));
      node.children.forEach(collect);
    };
    if (g.name !== 'all') collect(g.name);
    members.set(g.name, order.filter((h) => inside.has(h)));
  }
  return members;
}

/** Ansible's sort_groups: depth (longest path from all), then ansible_group_priority (inline vars only), then name. */
function groupMergeOrder(graph: Graph): (a: string, b: string) => number {
  const depths = new Map<string, number>([['all', 0]]);
  const depth = (name: string): number => {
    let d = depths.get(name);
    if (d === undefined) depths.set(name, (d = 1 + Math.max(...[...graph.groups.get(name)!.parents].map(depth))));
    return d;
  };
  const priority = (name: string): number => {
    const set = graph.groups.get(name)!.inline.filter((l) => l.vars.ansible_group_priority !== undefined).at(-1);
    return set ? Number(set.vars.ansible_group_priority) : 1;
  };
  return (a, b) => depth(a) - depth(b) || priority(a) - priority(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** Merged vars (layers lowest first, dicts replace) and the connection settings read from them. */
function resolveHost(name: string, groups: string[], layers: VarLayer[], dir: string): Host {
  const vars: Record<string, unknown> = structuredClone(Object.assign({}, ...layers.map((l) => l.vars)));
  for (const key of ['ansible_ssh_private_key_file', 'lvsplay_known_hosts']) {
    if (typeof vars[key] === 'string') vars[key] = localPath(vars[key] as string, dir);
  }
  return {
    name,
    address: (vars.ansible_host as string | undefined) ?? name,
    port: asPort(vars.ansible_port ?? 22)!,
    user: (vars.ansible_user as string | undefined) ?? localUser(),
    ...(vars.ansible_ssh_private_key_file ? { privateKeyFile: vars.ansible_ssh_private_key_file as string } : {}),
    become: asBool(vars.ansible_become ?? false)!,
    groups,
    vars,
  };
}

function localUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? process.env.LOGNAME ?? 'root'; // a uid without a passwd entry (containers)
  }
}

/** `~/x` and paths relative to the inventory's directory → absolute */
function localPath(p: string, dir: string): string {
  if (p === '~' || p.startsWith('~/')) return path.join(os.homedir(), p.slice(1));
  return path.resolve(dir, p);
}

/** A connection setting, normalised so that `2222` and "2222", `key` and `./key` compare equal. */
function normalised(key: (typeof CONNECTION_KEYS)[number], v: unknown, dir: string): unknown {
  if (key === 'ansible_port') return asPort(v);
  if (key === 'ansible_ssh_private_key_file') return localPath(String(v), dir);
  return v;
}

function where(layer: VarLayer, key: string): string {
  if (!layer.src) return 'extra vars';
  const { line, col } = positionOf(layer.src, [...layer.at, key]);
  return `${layer.src.shown}:${line}:${col}`;
}

function layerError(layer: VarLayer, key: string, message: string): ConfigError {
  return layer.src ? errorAt(layer.src, [...layer.at, key], message) : new ConfigError(`extra vars: ${key}: ${message}`);
}

/** One host listed twice with two different connection settings: Ansible silently keeps the last. */
function checkHostEntries(h: HostNode, dir: string) {
  for (const key of CONNECTION_KEYS) {
    let first: VarLayer | undefined;
    for (const layer of h.inline) {
      if (layer.vars[key] === undefined) continue;
      if (!first) { first = layer; continue; }
      if (normalised(key, first.vars[key], dir) !== normalised(key, layer.vars[key], dir)) {
        throw layerError(layer, key,
          `host "${h.name}" is listed again with ${key} ${showValue(layer.vars[key])}, but ${where(first, key)} gives it ${showValue(first.vars[key])}: one host, one ${key}`);
      }
    }
  }
}

/**
 * A host in two groups that are not parent and child, each giving a different connection setting:
 * Ansible would pick one by depth and name; we refuse unless the host (or -e) sets it itself.
 */
function checkGroupConflicts(host: string, groups: GroupNode[], hostLevel: VarLayer[], ancestors: (g: string) => Set<string>, dir: string) {
  for (const key of CONNECTION_KEYS) {
    if (hostLevel.some((l) => l.vars[key] !== undefined)) continue;
    const setters = groups
      .map((g) => ({ g, layer: [...g.inline, ...g.files].filter((l) => l.vars[key] !== undefined).at(-1) }))
      .filter((s): s is { g: GroupNode; layer: VarLayer } => s.layer !== undefined);
    for (const [i, a] of setters.entries()) {
      for (const b of setters.slice(i + 1)) {
        const related = ancestors(a.g.name).has(b.g.name) || ancestors(b.g.name).has(a.g.name);
        if (!related && normalised(key, a.layer.vars[key], dir) !== normalised(key, b.layer.vars[key], dir)) {
          throw layerError(b.layer, key,
            `host "${host}" is in groups "${a.g.name}" (${key} ${showValue(a.layer.vars[key])} at ${where(a.layer, key)}) and "${b.g.name}" (${key} ${showValue(b.layer.vars[key])}), neither inside the other: set ${key} on the host, or in one group only`);
        }
      }
    }
  }
}

// ---------------------------------------------------------------- host keys: ranges and :port

/** `www[01:03].example.com` → www01…, `db-[a:c]`, `[1:9:2]` strides, `name:2222` → port (Ansible's parse_address). */
function parseHostKey(key: string, fail: (msg: string) => Error): { names: string[]; port?: number } {
  let name = key.trim();
  let port: number | undefined;
  const m = /^((?:[^:[\]]|\[[^\]]*\])+):(\d+)$/.exec(name);
  if (m) {
    port = asPort(m[2]);
    if (port === undefined) throw fail(`port in host "${key}": expected an integer 1..65535, got ${m[2]}`);
    name = m[1];
  }
  const names = expandRanges(name, fail);
  for (const n of names) {
    if (n === '' || /[\s,[\]]/.test(n)) throw fail(`invalid host name ${JSON.stringify(n)}`);
  }
  return { names, port };
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

function expandRanges(name: string, fail: (msg: string) => Error): string[] {
  const m = /^([^[]*)\[([^\]]*)\](.*)$/.exec(name);
  if (!m) return [name];
  const [, head, range, tail] = m;
  const bounds = range.split(':');
  if (bounds.length !== 2 && bounds.length !== 3) throw fail(`host range [${range}]: expected [begin:end] or [begin:end:step]`);
  const [beg = '0', end, stepText = '1'] = [bounds[0] || '0', bounds[1], bounds[2]];
  if (!end) throw fail(`host range [${range}]: the end is missing`);
  const step = Number(stepText);
  if (!Number.isInteger(step) || step < 1) throw fail(`host range [${range}]: the step must be a positive integer`);
  let items: string[];
  if (LETTERS.includes(beg) && beg.length === 1 && LETTERS.includes(end) && end.length === 1) {
    const [b, e] = [LETTERS.indexOf(beg), LETTERS.indexOf(end)];
    if (b > e) throw fail(`host range [${range}]: begin must not come after end`);
    items = [];
    for (let i = b; i <= e; i += step) items.push(LETTERS[i]);
  } else {
    if (!/^\d+$/.test(beg) || !/^\d+$/.test(end)) throw fail(`host range [${range}]: expected numbers or single letters`);
    const width = beg.length > 1 && beg.startsWith('0') ? beg.length : 0;
    if (width && end.length !== width) throw fail(`host range [${range}]: zero-padded begin and end must have the same length`);
    const [b, e] = [Number(beg), Number(end)];
    if (b > e) throw fail(`host range [${range}]: begin must not come after end`);
    if ((e - b) / step > 10_000) throw fail(`host range [${range}]: more than 10000 hosts`);
    items = [];
    for (let i = b; i <= e; i += step) items.push(String(i).padStart(width, '0'));
  }
  return items.flatMap((it) => expandRanges(`${head}${it}${tail}`, fail));
}

// ---------------------------------------------------------------- group_vars/ host_vars/

const VARS_EXTS = ['', '.yml', '.yaml', '.json'];

/** group_vars/<name>{,.yml,.yaml,.json}, or every such file under group_vars/<name>/ in lexical order (Ansible's host_group_vars). */
async function varsFiles(base: string, name: string): Promise<VarLayer[]> {
  if (name.includes('/') || name.startsWith('.')) return [];
  const files: string[] = [];
  for (const ext of VARS_EXTS) {
    const candidate = path.join(base, name + ext);
    const st = await stat(candidate).catch(() => undefined);
    if (st?.isDirectory()) files.push(...(await filesUnder(candidate)));
    else if (st?.isFile()) files.push(candidate);
  }
  const layers: VarLayer[] = [];
  for (const file of files) {
    const src = await readYamlFile(file, 'vars file');
    if (src.data == null) continue; // an empty vars file is fine
    if (!isMapping(src.data)) throw errorAt(src, [], `expected a mapping of variables, got ${showValue(src.data)}`);
    const result = varsSchema.safeParse(src.data);
    if (!result.success) throw schemaError(src, result.error.issues, () => 'a valid value');
    layers.push({ vars: src.data, src, at: [] });
  }
  return layers;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.name.startsWith('.') || entry.name.endsWith('~')) continue;
    const full = path.join(dir, entry.name);
    const isDir = entry.isDirectory() || (entry.isSymbolicLink() && (await stat(full).catch(() => undefined))?.isDirectory());
    if (isDir) out.push(...(await filesUnder(full)));
    else if (VARS_EXTS.includes(path.extname(entry.name))) out.push(full);
  }
  return out;
}
