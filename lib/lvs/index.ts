// The LVS cluster model, from either side of a run: the inventory (Role.validate, before any
// host is touched) or a host's role vars (tasks, built per host with its facts).
import { shownPath } from '../inventory.ts';
import type { Host, Inventory, RoleVars } from '../types.ts';
import { buildCluster, type ClusterModel } from './model.ts';
import { CLUSTER_KEYS } from './schema.ts';

export { buildCluster } from './model.ts';
export type { ClusterInput, ClusterModel, RealServer, VirtualService, VrrpInstance } from './model.ts';
export { activeActiveLayout, activeActiveVipCount, derivedPriorities, derivedVrids, mastersWith, standbyLayout } from './layout.ts';
export { lanInterface } from './iface.ts';
export { hostLanInterface, ipv4ConfKey } from './views.ts';
export { CHECKS, CHECK_TYPES } from './checks.ts';
export type { CheckKind, CheckType } from './checks.ts';
export { CLUSTER_KEYS, DEFAULT_SERVICES, LB_ALGOS, LB_KINDS, PROFILE_VRRP } from './schema.ts';
export type { ClusterVarsInput } from './schema.ts';

export function clusterFromInventory(inventory: Inventory, vars: (host: Host) => object): ClusterModel {
  const groups = Object.fromEntries(inventory.groups);
  const hostvars = Object.fromEntries([...inventory.hosts.values()].map((h) => [h.name, vars(h) as Record<string, unknown>]));
  return buildCluster({ file: shownPath(inventory.file), groups, hostvars });
}

/**
 * For tasks: the same model, from the vars a role sees on one host. `hostvars` holds inventory
 * vars only, so a cluster var that reached this host from play vars or extra vars (`-e
 * lvs_profile=fast`) — visible as a difference between its merged vars and its own hostvars —
 * is laid over every host, as validate() saw it.
 */
export function clusterFromRoleVars(roleVars: RoleVars & object): ClusterModel {
  const vars = roleVars as RoleVars & Record<string, unknown>;
  const file = typeof vars.inventory_file === 'string' ? vars.inventory_file : 'inventory';
  const own = vars.hostvars[vars.inventory_hostname] ?? {};
  const overlay = Object.fromEntries(
    CLUSTER_KEYS.filter((k) => vars[k] !== undefined && JSON.stringify(vars[k]) !== JSON.stringify(own[k])).map((k) => [k, vars[k]]),
  );
  const hostvars = Object.fromEntries(Object.entries(vars.hostvars).map(([h, v]) => [h, { ...v, ...overlay }]));
  return buildCluster({ file, groups: vars.groups, hostvars });
}

/** Role.validate for every LVS role: building the model is the validation. */
export function validateCluster(inventory: Inventory, vars: (host: Host) => object): void {
  clusterFromInventory(inventory, vars);
}
