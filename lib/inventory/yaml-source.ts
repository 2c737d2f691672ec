// Ansible's `yaml` inventory plugin (lib/ansible/plugins/inventory/yaml.py): top-level keys are
// groups; a group takes hosts, children, vars, in document order. The walk is iterative.
import type { z } from 'zod';
import type { InventoryData } from './data.ts';
import { parseHostKey } from './hostkeys.ts';
import { isMapping, showValue, type VarLayer } from './layers.ts';
import { expectedAt, groupSchema, oneOrMap, schemaError, varsIssues } from './schema.ts';
import { dotted, errorAt, positionOf, type KeyPath, type YamlSource } from './yaml.ts';

export const BAD_GROUP_NAME = /[\s,:!&*?[\]~]/;

export function yamlLayer(src: YamlSource, at: KeyPath, vars: Record<string, unknown>): VarLayer {
  return {
    vars,
    at: (key) => ({ file: src.shown, ...positionOf(src, [...at, key]), path: dotted([...at, key]) }),
  };
}

type Task =
  | { kind: 'group'; name: string; body: unknown; at: KeyPath; parent?: string }
  | { kind: 'hosts'; group: string; entries: Record<string, unknown>; at: KeyPath };

/** Adds the groups and hosts of a parsed YAML inventory to `data`. */
export function readYamlInventory(src: YamlSource, data: InventoryData) {
  const top = src.data;
  if (top == null) throw errorAt(src, [], 'the inventory is empty: expected groups such as `all:` with hosts');
  if (!isMapping(top)) throw errorAt(src, [], `expected a mapping of groups (all:, …), got ${showValue(top)}`);
  if (typeof top.plugin === 'string') throw errorAt(src, ['plugin'], 'this is an inventory plugin configuration, not a YAML inventory', 'key');

  const issues: z.ZodIssue[] = [];
  const stack: Task[] = Object.entries(top).reverse().map(([name, body]) => ({ kind: 'group', name, body, at: [name] }));
  while (stack.length) {
    const task = stack.pop()!;
    if (task.kind === 'hosts') {
      addHosts(src, data, task.group, task.entries, task.at);
      continue;
    }
    const { name, body, at, parent } = task;
    if (name.trim() === '' || BAD_GROUP_NAME.test(name)) throw errorAt(src, at, `invalid group name ${JSON.stringify(name)}: no spaces or any of , : ! & * ? [ ] ~`, 'key');
    if (parent !== undefined) data.addChild(parent, name, (m) => errorAt(src, at, m, 'key'));
    const g = data.group(name);
    const checked = groupSchema.safeParse(body);
    if (!checked.success) {
      issues.push(...checked.error.issues.map((i) => ({ ...i, path: [...at, ...i.path] })));
      continue;
    }
    if (!isMapping(body)) continue;
    const bodyVars = oneOrMap(body.vars);
    if (bodyVars !== undefined) issues.push(...varsIssues(bodyVars, [...at, 'vars'], true));
    const bodyHosts = oneOrMap(body.hosts);
    if (isMapping(bodyHosts)) for (const h in bodyHosts) if (bodyHosts[h] !== null) issues.push(...varsIssues(bodyHosts[h], [...at, 'hosts', h]));
    const later: Task[] = [];
    for (const [section, value] of Object.entries(body)) {
      const entries = oneOrMap(value);
      if (!isMapping(entries)) continue; // an empty section
      if (section === 'vars') g.inline.push(yamlLayer(src, [...at, 'vars'], entries));
      else if (section === 'children') {
        for (const [child, childBody] of Object.entries(entries)) later.push({ kind: 'group', name: child, body: childBody, at: [...at, 'children', child], parent: name });
      } else if (section === 'hosts') later.push({ kind: 'hosts', group: name, entries, at: [...at, 'hosts'] });
    }
    stack.push(...later.reverse());
  }
  if (issues.length) throw schemaError(src, issues, expectedAt);
}

function addHosts(src: YamlSource, data: InventoryData, group: string, entries: Record<string, unknown>, at: KeyPath) {
  for (const [key, hostVars] of Object.entries(entries)) {
    const hostAt = [...at, key];
    const declared = (msg: string) => errorAt(src, hostAt, msg, 'key');
    const { names, port } = parseHostKey(key, declared);
    const layer = yamlLayer(src, hostAt, { ...(hostVars as Record<string, unknown> | null) });
    const portLayer = port !== undefined ? yamlLayer(src, hostAt, { ansible_port: port }) : undefined;
    for (const name of names) {
      const { host, created } = data.addHost(group, name, declared);
      if (created && portLayer) host.inline.push(portLayer);
      host.inline.push(layer);
    }
  }
}
