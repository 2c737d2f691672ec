// Ansible's InventoryData (lib/ansible/inventory/data.py): groups, hosts and the edges between
// them, filled by every source in turn, then reconciled. Every walk is iterative and visits each
// group and edge once, so depth (thousands of nested groups) and diamond lattices cost linear time.
import { ConfigError } from '../types.ts';
import type { VarLayer } from './layers.ts';

export interface GroupNode {
  name: string;
  /** in the order they were added */
  parents: string[];
  children: string[];
  /** hosts listed directly in this group */
  hosts: string[];
  inline: VarLayer[];
  files: VarLayer[];
}

export interface HostNode {
  name: string;
  /** groups the host is listed in directly */
  direct: Set<string>;
  inline: VarLayer[];
  files: VarLayer[];
  /** the inventory source that first listed the host, absolute (Ansible's inventory_file) */
  source: string;
  /** an error pointing at where the host is first listed */
  declared: (message: string) => ConfigError;
}

/** For messages about an edge: makes the error pointing at where `child` is put under `parent`. */
type EdgeError = (message: string) => ConfigError;

export class InventoryData {
  readonly groups = new Map<string, GroupNode>();
  readonly hosts = new Map<string, HostNode>();
  private readonly childSets = new Map<string, Set<string>>();
  private readonly hostSets = new Map<string, Set<string>>();
  private readonly edges = new Map<string, EdgeError>();
  private readonly ancestorMemo = new Map<string, Set<string>>();
  /** the source being read, as Ansible's current_source (set by sources.ts) */
  currentSource = '';

  constructor() {
    this.group('all');
    this.group('ungrouped');
    this.addChild('all', 'ungrouped');
  }

  group(name: string): GroupNode {
    let g = this.groups.get(name);
    if (!g) {
      this.groups.set(name, (g = { name, parents: [], children: [], hosts: [], inline: [], files: [] }));
      this.childSets.set(name, new Set());
      this.hostSets.set(name, new Set());
    }
    return g;
  }

  addChild(parent: string, child: string, where?: EdgeError) {
    if (child === 'all') throw (where ?? ((m) => new ConfigError(m)))(`group "all" cannot be a child of "${parent}"`);
    if (child === parent) throw (where ?? ((m) => new ConfigError(m)))(`group "${child}" under "${parent}" makes a loop: a group cannot contain itself`);
    const p = this.group(parent);
    const c = this.group(child);
    const kids = this.childSets.get(parent)!;
    if (kids.has(child)) return;
    kids.add(child);
    p.children.push(child);
    c.parents.push(parent);
    if (where) this.edges.set(`${parent}\0${child}`, where);
  }

  /** Lists `name` in `group`; `created` says whether the host is new (Ansible sets a `host:port` port only then). */
  addHost(group: string, name: string, declared: (message: string) => ConfigError): { host: HostNode; created: boolean } {
    let h = this.hosts.get(name);
    const created = !h;
    if (!h) this.hosts.set(name, (h = { name, direct: new Set(), inline: [], files: [], declared, source: this.currentSource }));
    const g = this.group(group);
    h.direct.add(group);
    const set = this.hostSets.get(group)!;
    if (!set.has(name)) { set.add(name); g.hosts.push(name); }
    return { host: h, created };
  }

  private removeHost(group: string, name: string) {
    const g = this.groups.get(group)!;
    if (this.hostSets.get(group)!.delete(name)) g.hosts.splice(g.hosts.indexOf(name), 1);
  }

  /** As Ansible's reconcile_inventory: no loops, parentless groups under all, lone hosts in ungrouped. */
  reconcile() {
    this.checkCycles();
    for (const g of this.groups.values()) {
      if (g.name !== 'all' && g.parents.length === 0) this.addChild('all', g.name);
    }
    for (const h of this.hosts.values()) {
      if (this.groups.has(h.name)) throw h.declared(`"${h.name}" is both a host and a group: rename one (patterns could not tell them apart)`);
      const others = [...h.direct].some((g) => g !== 'all' && g !== 'ungrouped');
      if (!others) {
        h.direct.add('ungrouped');
        const set = this.hostSets.get('ungrouped')!;
        if (!set.has(h.name)) { set.add(h.name); this.groups.get('ungrouped')!.hosts.push(h.name); }
      } else if (h.direct.delete('ungrouped')) this.removeHost('ungrouped', h.name);
    }
  }

  /** Iterative three-colour DFS from all, then from any group not reached: the first back edge is the loop. */
  private checkCycles() {
    const state = new Map<string, 1 | 2>();
    const roots = ['all', ...this.groups.keys()];
    for (const root of roots) {
      if (state.has(root)) continue;
      const stack: Array<{ name: string; next: number }> = [{ name: root, next: 0 }];
      state.set(root, 1);
      while (stack.length) {
        const top = stack[stack.length - 1];
        const kids = this.groups.get(top.name)!.children;
        if (top.next >= kids.length) { state.set(top.name, 2); stack.pop(); continue; }
        const kid = kids[top.next++];
        const s = state.get(kid);
        if (s === 1) {
          const path = [...stack.slice(stack.findIndex((f) => f.name === kid)).map((f) => f.name), kid];
          const where = this.edges.get(`${top.name}\0${kid}`) ?? ((m: string) => new ConfigError(m));
          const shown = path.length > 8 ? [...path.slice(0, 4), `… ${path.length - 7} more …`, ...path.slice(-3)] : path;
          throw where(`group "${kid}" under "${top.name}" makes a loop: ${shown.join(' → ')}`);
        }
        if (s === undefined) { state.set(kid, 1); stack.push({ name: kid, next: 0 }); }
      }
    }
  }

  /** Every group above `name` (memoised; iterative). */
  ancestors(name: string): Set<string> {
    let memo = this.ancestorMemo.get(name);
    if (memo) return memo;
    memo = new Set();
    const todo = [...(this.groups.get(name)?.parents ?? [])];
    while (todo.length) {
      const p = todo.pop()!;
      if (memo.has(p)) continue;
      memo.add(p);
      todo.push(...this.groups.get(p)!.parents);
    }
    this.ancestorMemo.set(name, memo);
    return memo;
  }

  /** Longest path from all to each group (Ansible's group depth), in one topological pass. */
  depths(): Map<string, number> {
    const indegree = new Map<string, number>();
    for (const g of this.groups.values()) indegree.set(g.name, g.parents.length);
    const depth = new Map<string, number>();
    const ready = [...this.groups.values()].filter((g) => g.parents.length === 0).map((g) => g.name);
    for (const r of ready) depth.set(r, 0);
    while (ready.length) {
      const name = ready.pop()!;
      for (const kid of this.groups.get(name)!.children) {
        depth.set(kid, Math.max(depth.get(kid) ?? 0, depth.get(name)! + 1));
        const left = indegree.get(kid)! - 1;
        indegree.set(kid, left);
        if (left === 0) ready.push(kid);
      }
    }
    return depth;
  }

  /**
   * A group's hosts, as Ansible's Group.get_hosts: its own, then its descendants' level by level
   * (children in the order added), each host once. Ansible walks a level as a Python set, so below
   * the first level its order is unspecified; this takes the order groups were added.
   */
  members(name: string): string[] {
    const seenGroups = new Set<string>([name]);
    const order = [name];
    for (let i = 0; i < order.length; i++) {
      for (const kid of this.groups.get(order[i])!.children) {
        if (!seenGroups.has(kid)) { seenGroups.add(kid); order.push(kid); }
      }
    }
    const seen = new Set<string>();
    const out: string[] = [];
    for (const g of order) for (const h of this.groups.get(g)!.hosts) if (!seen.has(h)) { seen.add(h); out.push(h); }
    return out;
  }
}
