// Ansible inventories, validated before any host is touched: every error names file:line(:col),
// the key and the bad value. The parts live in lib/inventory/:
//   sources.ts     -i forms: files, directories, `h1,h2:2201,` lists; format detection (YAML, then INI)
//   yaml-source.ts the yaml plugin · ini.ts the ini plugin (pyliteral.ts: its Python literals)
//   data.ts        groups/hosts graph (Ansible's InventoryData), iterative and linear
//   vars-files.ts  group_vars/ host_vars/ · resolve.ts precedence, connection vars, conflicts
//   yaml.ts        YAML as PyYAML reads it · text.ts binary / NUL / UTF-8 checks
//
// Stricter than Ansible, because a silent pick here means deploying to the wrong machine:
// unknown keys in a YAML group, a group named like a host, duplicate YAML keys, one host given two
// different connection settings (two entries, or two unrelated groups), a missing -i path, an
// ansible_connection other than ssh are refused.
import path from 'node:path';
import { matchPattern, unmatchedTerms } from './patterns.ts';
import { ConfigError, type Host, type Inventory } from './types.ts';
import { InventoryData } from './inventory/data.ts';
import { showValue, type VarLayer } from './inventory/layers.ts';
import { checkGroupConflicts, checkHostEntries, groupMergeOrder, hostLayers, inventoryMagic, mergeVars, resolveHost } from './inventory/resolve.ts';
import { valueAt, varsSchema } from './inventory/schema.ts';
import { readSources } from './inventory/sources.ts';
import { namesIn, varsFiles } from './inventory/vars-files.ts';
import { dotted } from './inventory/yaml.ts';

export { shownPath } from './inventory/text.ts';
export { showValue } from './inventory/layers.ts';
export { dotted, errorAt, parseYaml, positionOf, readYamlFile, type KeyPath, type YamlSource } from './inventory/yaml.ts';

export interface LoadOptions {
  extraVars?: Record<string, unknown>;
  /** where "could not match host pattern" warnings go (default: stderr, as Ansible's [WARNING]) */
  warn?: (message: string) => void;
}

/** Loads one inventory source or several (`-i a -i b`: merged in order, later wins), as Ansible does. */
export async function loadInventory(source: string | string[], opts: LoadOptions = {}): Promise<Inventory> {
  const sources = (Array.isArray(source) ? source : [source]).filter((s) => s !== '');
  if (sources.length === 0) throw new ConfigError('no inventory source given');
  const data = new InventoryData();
  const { varsDirs } = await readSources(sources, data);
  data.reconcile();
  for (const h of data.hosts.values()) checkHostEntries(h, inventoryMagic(h).dir);

  for (const base of varsDirs) {
    const groupNames = await namesIn(path.join(base, 'group_vars'));
    const hostNames = await namesIn(path.join(base, 'host_vars'));
    if (groupNames) for (const g of data.groups.values()) if (groupNames.has(g.name)) g.files.push(...(await varsFiles(path.join(base, 'group_vars'), g.name)));
    if (hostNames) for (const h of data.hosts.values()) if (hostNames.has(h.name)) h.files.push(...(await varsFiles(path.join(base, 'host_vars'), h.name)));
  }

  const extra: VarLayer = { vars: opts.extraVars ?? {} };
  const extraCheck = varsSchema.safeParse(extra.vars);
  if (!extraCheck.success) {
    const issue = extraCheck.error.issues[0];
    throw new ConfigError(`extra vars: ${dotted(issue.path)}: ${issue.message}, got ${showValue(valueAt(extra.vars, issue.path))}`);
  }

  const members = new Map<string, string[]>();
  for (const g of data.groups.keys()) members.set(g, data.members(g));
  const mergeOrder = groupMergeOrder(data);
  const hosts = new Map<string, Host>();
  const noExtra: VarLayer = { vars: {} };
  for (const h of data.hosts.values()) {
    const { groups, nodes, hostLevel, layers } = hostLayers(data, h, mergeOrder, extra);
    checkGroupConflicts(h.name, nodes, hostLevel, data, inventoryMagic(h).dir);
    hosts.set(h.name, resolveHost(h, groups, layers));
  }

  const order = [...hosts.keys()];
  const patternInventory = { hosts: order, groups: members };
  const warned = new Set<string>();
  const warn = opts.warn ?? ((m: string) => console.error(`[WARNING]: ${m}`));
  const tree = new Map([...data.groups.values()].map((g) => [g.name, { hosts: [...g.hosts], children: [...g.children] }]));
  return {
    file: path.resolve(sources.find((s) => !s.includes(',')) ?? sources[0]),
    sources: sources.map((s) => (s.includes(',') && !path.isAbsolute(s) ? s : path.resolve(s))),
    hosts,
    groups: members,
    tree,
    hostvars: (name: string) => {
      const h = data.hosts.get(name);
      return h ? structuredClone(mergeVars(hostLayers(data, h, mergeOrder, noExtra).layers)) : {};
    },
    select: (pattern: string) => {
      for (const term of unmatchedTerms(pattern, patternInventory)) {
        if (!warned.has(term)) { warned.add(term); warn(`Could not match supplied host pattern, ignoring: ${term}`); }
      }
      return matchPattern(pattern, patternInventory).map((n) => hosts.get(n)!);
    },
  };
}
