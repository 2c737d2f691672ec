// A host's merged vars and the connection settings lvsplay reads from them.
//
// Precedence, lowest first (Ansible's VARIABLE_PRECEDENCE): inline vars of all, of the other
// groups (by depth, then ansible_group_priority, then name), group_vars/all, group_vars/<group>
// (same order), the host's inline vars, host_vars/<host>, extra vars. Dicts replace, never merge.
// Connection aliases as Ansible's MAGIC_VARIABLE_MAPPING: ansible_ssh_host, ansible_ssh_port,
// ansible_ssh_user, ansible_ssh_private_key_file win over ansible_host, ansible_port,
// ansible_user, ansible_private_key_file whenever both are set, whatever their levels.
import os from 'node:os';
import path from 'node:path';
import { ConfigError, type Host } from '../types.ts';
import type { GroupNode, HostNode, InventoryData } from './data.ts';
import { errorIn, showValue, whereIn, type VarLayer } from './layers.ts';
import { renderConnectionVars } from '../inventory-magic.ts';
import { asBool, asPort, SSH_CONNECTIONS } from './schema.ts';

/** [the ssh_ alias (wins), the plain name] */
export const CONNECTION_ALIASES = {
  address: ['ansible_ssh_host', 'ansible_host'],
  port: ['ansible_ssh_port', 'ansible_port'],
  user: ['ansible_ssh_user', 'ansible_user'],
  key: ['ansible_ssh_private_key_file', 'ansible_private_key_file'],
} as const;

const CONNECTION_KEYS = Object.values(CONNECTION_ALIASES).flat();
const PATH_KEYS = ['ansible_ssh_private_key_file', 'ansible_private_key_file', 'lvsplay_known_hosts'];

const pick = (vars: Record<string, unknown>, names: readonly string[]) => names.map((n) => vars[n]).find((v) => v !== undefined);

/** Ansible's sort_groups: depth (longest path from all), then ansible_group_priority (inline vars only), then name. */
export function groupMergeOrder(data: InventoryData): (a: string, b: string) => number {
  const depths = data.depths();
  const priority = (name: string): number => {
    const set = data.groups.get(name)!.inline.filter((l) => l.vars.ansible_group_priority !== undefined).at(-1);
    return set ? Number(set.vars.ansible_group_priority) : 1;
  };
  return (a, b) => depths.get(a)! - depths.get(b)! || priority(a) - priority(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** The host's groups (merge order) and its var layers, lowest first. */
export function hostLayers(data: InventoryData, h: HostNode, mergeOrder: (a: string, b: string) => number, extra: VarLayer) {
  const memberOf = new Set<string>(['all']);
  for (const d of h.direct) { memberOf.add(d); for (const a of data.ancestors(d)) memberOf.add(a); }
  const groups = [...memberOf].sort(mergeOrder);
  const nodes = groups.map((g) => data.groups.get(g)!);
  const hostLevel = [...h.inline, ...h.files, extra];
  return { groups, nodes, hostLevel, layers: [...nodes.flatMap(inlineVars), ...nodes.flatMap((g) => g.files), ...hostLevel] };
}

const inlineMemo = new WeakMap<GroupNode, VarLayer[]>();

/** A group's inline vars; ansible_group_priority there sets the group's priority and is no var (Group.set_variable). */
function inlineVars(g: GroupNode): VarLayer[] {
  let layers = inlineMemo.get(g);
  if (!layers) {
    layers = g.inline.map((l) => {
      if (!('ansible_group_priority' in l.vars)) return l;
      const { ansible_group_priority: _, ...vars } = l.vars;
      return { ...l, vars };
    });
    inlineMemo.set(g, layers);
  }
  return layers;
}

/** Merged vars exactly as Ansible shows them (ansible-inventory --host): nothing resolved. */
export function mergeVars(layers: VarLayer[]): Record<string, unknown> {
  const vars: Record<string, unknown> = {};
  for (const l of layers) Object.assign(vars, l.vars);
  return vars;
}

/** Ansible's inventory_file / inventory_dir of a host: the source that first listed it (none for `-i h1,h2,`). */
export function inventoryMagic(h: HostNode): { file: string; dir: string } {
  return h.source ? { file: h.source, dir: path.dirname(h.source) } : { file: '', dir: process.cwd() };
}

export function resolveHost(h: HostNode, groups: string[], layers: VarLayer[]): Host {
  const { name } = h;
  const magic = inventoryMagic(h);
  const dir = magic.dir;
  const vars: Record<string, unknown> = structuredClone(mergeVars(layers));
  renderConnectionVars(vars, name, magic.file, dir);
  for (const key of PATH_KEYS) if (typeof vars[key] === 'string') vars[key] = localPath(vars[key] as string, dir);
  checkConnection(name, vars, layers);
  const key = pick(vars, CONNECTION_ALIASES.key) as string | undefined;
  return {
    name,
    address: (pick(vars, CONNECTION_ALIASES.address) as string | undefined) ?? name,
    port: asPort(pick(vars, CONNECTION_ALIASES.port) ?? 22)!,
    user: (pick(vars, CONNECTION_ALIASES.user) as string | undefined) ?? localUser(),
    ...(key ? { privateKeyFile: key } : {}),
    become: asBool(vars.ansible_become ?? false)!,
    groups,
    vars,
  };
}

/** ansible_connection: lvsplay speaks SSH only; anything else is refused where it is set. */
function checkConnection(host: string, vars: Record<string, unknown>, layers: VarLayer[]) {
  const conn = vars.ansible_connection;
  if (conn === undefined || SSH_CONNECTIONS.includes(String(conn))) return;
  const layer = layers.filter((l) => l.vars.ansible_connection !== undefined).at(-1)!;
  const why = conn === 'local'
    ? 'lvsplay runs every task over SSH and does not run tasks on this machine; give the host an SSH address (ansible_host) instead'
    : `lvsplay speaks only SSH (ssh, paramiko, smart)`;
  throw errorIn(layer, 'ansible_connection', `host "${host}": ansible_connection ${showValue(conn)} is not supported: ${why}`);
}

let cachedUser: string | undefined;

function localUser(): string {
  if (cachedUser) return cachedUser;
  try {
    cachedUser = os.userInfo().username;
  } catch {
    cachedUser = process.env.USER ?? process.env.LOGNAME ?? 'root'; // a uid without a passwd entry (containers)
  }
  return cachedUser;
}

/** `~/x` and paths relative to the inventory's directory → absolute */
export function localPath(p: string, dir: string): string {
  if (p === '~' || p.startsWith('~/')) return path.join(os.homedir(), p.slice(1));
  return path.resolve(dir, p);
}

/** A connection setting, normalised so that `2222` and "2222", `key` and `./key` compare equal. */
function normalised(key: string, v: unknown, dir: string): unknown {
  if (key.endsWith('_port')) return asPort(v);
  if (key.endsWith('private_key_file')) return localPath(String(v), dir);
  return v;
}

/** One host listed twice with two different connection settings: Ansible silently keeps the last. */
export function checkHostEntries(h: HostNode, dir: string) {
  for (const key of CONNECTION_KEYS) {
    let first: VarLayer | undefined;
    for (const layer of h.inline) {
      if (layer.vars[key] === undefined) continue;
      if (!first) { first = layer; continue; }
      if (normalised(key, first.vars[key], dir) !== normalised(key, layer.vars[key], dir)) {
        throw errorIn(layer, key,
          `host "${h.name}" is listed again with ${key} ${showValue(layer.vars[key])}, but ${whereIn(first, key)} gives it ${showValue(first.vars[key])}: one host, one ${key}`);
      }
    }
  }
}

/**
 * A host in two groups that are not parent and child, each giving a different connection setting:
 * Ansible would pick one by depth and name; we refuse unless the host (or -e) sets it itself.
 */
export function checkGroupConflicts(host: string, groups: GroupNode[], hostLevel: VarLayer[], data: InventoryData, dir: string) {
  for (const key of CONNECTION_KEYS) {
    if (hostLevel.some((l) => l.vars[key] !== undefined)) continue;
    const setters = groups
      .map((g) => ({ g, layer: [...g.inline, ...g.files].filter((l) => l.vars[key] !== undefined).at(-1) }))
      .filter((s): s is { g: GroupNode; layer: VarLayer } => s.layer !== undefined);
    for (const [i, a] of setters.entries()) {
      for (const b of setters.slice(i + 1)) {
        const related = data.ancestors(a.g.name).has(b.g.name) || data.ancestors(b.g.name).has(a.g.name);
        if (!related && normalised(key, a.layer.vars[key], dir) !== normalised(key, b.layer.vars[key], dir)) {
          throw errorIn(b.layer, key,
            `host "${host}" is in groups "${a.g.name}" (${key} ${showValue(a.layer.vars[key])} at ${whereIn(a.layer, key)}) and "${b.g.name}" (${key} ${showValue(b.layer.vars[key])}), neither inside the other: set ${key} on the host, or in one group only`);
        }
      }
    }
  }
}

export { ConfigError };
