// Ansible's `ini` inventory plugin (lib/ansible/plugins/inventory/ini.py), line for line:
//   [group] host lines · [group:children] group names · [group:vars] key=value lines
//   host line: `name[:port] key=value …`, split as shlex.split(comments=True), ranges expanded;
//   every value (host line and :vars alike, in ansible-core 2.14) is a Python literal when it is
//   one (ast.literal_eval), else the string as written; `;` and `#` start comment lines.
// A hand-written reader: INI libraries (ini, js-ini…) read `key=value` pairs under sections, but
// here a host line is not key=value, sections carry a :type, values are Python literals and a
// group may be used before it is declared — the dialect is Ansible's own.
import { ConfigError } from '../types.ts';
import type { InventoryData } from './data.ts';
import { parseHostKey } from './hostkeys.ts';
import { errorIn, showValue, type VarLayer } from './layers.ts';
import { iniValue } from './pyliteral.ts';
import { varsIssues } from './schema.ts';

const SECTION = /^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$/;
const GROUP_NAME = /^([^:\]\s]+)\s*(?:#.*)?$/;

interface Pending { line: number; state: 'vars' | 'children'; parents: string[] }

/** Adds the groups and hosts of an INI inventory to `data`; ConfigError with file:line on the first bad line. */
export function readIniInventory(text: string, shown: string, data: InventoryData) {
  const lines = text.split(/\r\n|\n|\r/);
  const pending = new Map<string, Pending>();
  let group = 'ungrouped';
  let state = 'hosts';
  let varsLayer: (VarLayer & { lines: Map<string, number> }) | undefined;

  for (const [index, raw] of lines.entries()) {
    const lineno = index + 1;
    const fail = (message: string, col?: number) => new ConfigError(message, shown, lineno, col);
    const line = raw.trim();
    if (line === '' || line[0] === ';' || line[0] === '#') continue;
    const section = SECTION.exec(line);
    if (section) {
      group = section[1];
      state = section[2] ?? 'hosts';
      if (!['hosts', 'children', 'vars'].includes(state)) throw fail(`section [${section[1]}:${state}] has unknown type "${state}": expected hosts, children or vars`);
      if (!data.groups.has(group)) {
        if (state === 'vars' && !pending.has(group)) pending.set(group, { line: lineno, state: 'vars', parents: [] });
        data.group(group);
      }
      const p = pending.get(group);
      if (p && state !== 'vars') {
        if (p.state === 'children') addPendingChildren(group, pending, data, shown);
        else pending.delete(group);
      }
      varsLayer = undefined;
      if (state === 'vars') {
        const keyLines = new Map<string, number>();
        varsLayer = { vars: {}, lines: keyLines, at: (key) => ({ file: shown, line: keyLines.get(key), col: 1, path: key }) };
        data.group(group).inline.push(varsLayer);
      }
      continue;
    }
    if (line.startsWith('[') && line.endsWith(']')) {
      throw fail(`invalid section ${JSON.stringify(line)}: no spaces or other invalid characters in a section name`);
    }
    if (state === 'hosts') {
      hostLine(raw, group, data, shown, lineno);
    } else if (state === 'vars') {
      const eq = line.indexOf('=');
      if (eq === -1) throw fail(`expected key=value in [${group}:vars], got ${JSON.stringify(line)}`);
      const key = line.slice(0, eq).trim();
      varsLayer!.vars[key] = iniValue(line.slice(eq + 1).trim());
      varsLayer!.lines.set(key, lineno);
      checkLayer(varsLayer!);
    } else {
      const m = GROUP_NAME.exec(line);
      if (!m) throw fail(`expected a group name in [${group}:children], got ${JSON.stringify(line)}`);
      const child = m[1];
      if (!data.groups.has(child)) {
        const p = pending.get(child);
        if (p) p.parents.push(group);
        else pending.set(child, { line: lineno, state: 'children', parents: [group] });
      } else {
        data.addChild(group, child, (msg) => fail(msg));
      }
    }
  }
  for (const [name, p] of pending) {
    if (p.state === 'vars') throw new ConfigError(`section [${name}:vars] is for a group defined nowhere: ${name}`, shown, p.line);
    throw new ConfigError(`section [${p.parents.at(-1)}:children] names a group defined nowhere: ${name}`, shown, p.line);
  }
}

function addPendingChildren(group: string, pending: Map<string, Pending>, data: InventoryData, shown: string) {
  const todo = [group];
  while (todo.length) {
    const g = todo.pop()!;
    const p = pending.get(g);
    if (!p) continue;
    for (const parent of p.parents) {
      data.addChild(parent, g, (msg) => new ConfigError(msg, shown, p.line));
      if (pending.get(parent)?.state === 'children') todo.push(parent);
    }
    pending.delete(g);
  }
}

function hostLine(raw: string, group: string, data: InventoryData, shown: string, lineno: number) {
  const fail = (message: string, col?: number) => new ConfigError(message, shown, lineno, col);
  const tokens = shlexSplit(raw, (why) => fail(`host line: ${why}`));
  if (tokens.length === 0) return;
  const [first, ...assignments] = tokens;
  if (first.text.trim() === '---') throw fail(`invalid host "---": this looks like a YAML file`, first.col);
  const { names, port } = parseHostKey(first.text, (msg) => fail(msg, first.col));
  const vars: Record<string, unknown> = {};
  const cols = new Map<string, number>();
  for (const t of assignments) {
    const eq = t.text.indexOf('=');
    if (eq === -1) throw fail(`expected key=value after the host name, got ${JSON.stringify(t.text)}`, t.col);
    const key = t.text.slice(0, eq);
    vars[key] = iniValue(t.text.slice(eq + 1));
    cols.set(key, t.col);
  }
  const layer: VarLayer = { vars, at: (key) => ({ file: shown, line: lineno, col: cols.get(key) ?? first.col, path: `${first.text} ${key}` }) };
  const portLayer: VarLayer | undefined = port !== undefined ? { vars: { ansible_port: port }, at: () => ({ file: shown, line: lineno, col: first.col, path: first.text }) } : undefined;
  checkLayer(layer);
  const declared = (message: string) => fail(message, first.col);
  for (const name of names) {
    const { host, created } = data.addHost(group, name, declared);
    if (created && portLayer) host.inline.push(portLayer);
    host.inline.push(layer);
  }
}

/** The vars lvsplay reads, checked where they are written. */
function checkLayer(layer: VarLayer) {
  const issue = varsIssues(layer.vars)[0];
  if (issue) {
    const key = String(issue.path[0]);
    throw errorIn(layer, key, `${issue.message}, got ${showValue(layer.vars[key])}`);
  }
}

/** Python's shlex.split(line, comments=True) (POSIX mode), with each token's column. */
export function shlexSplit(line: string, fail: (why: string) => Error): Array<{ text: string; col: number }> {
  const out: Array<{ text: string; col: number }> = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i])) i++;
    if (i >= line.length || line[i] === '#') break;
    const col = i + 1;
    let text = '';
    while (i < line.length && !/\s/.test(line[i])) {
      const c = line[i];
      if (c === '#') { i = line.length; break; }
      if (c === "'") {
        const end = line.indexOf("'", i + 1);
        if (end === -1) throw fail('no closing quotation');
        text += line.slice(i + 1, end);
        i = end + 1;
      } else if (c === '"') {
        i++;
        for (;;) {
          if (i >= line.length) throw fail('no closing quotation');
          if (line[i] === '"') { i++; break; }
          if (line[i] === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) { text += line[i + 1]; i += 2; continue; }
          text += line[i++];
        }
      } else if (c === '\\') {
        if (i + 1 >= line.length) throw fail('no escaped character');
        text += line[i + 1];
        i += 2;
      } else {
        text += c;
        i++;
      }
    }
    out.push({ text, col });
  }
  return out;
}
