// What `ansible-inventory` prints, from a loaded Inventory: --list (JSON, keys sorted, 4-space
// indent, empty sections dropped, hosts without vars left out of _meta), --host H, --graph.
import type { Inventory } from '../types.ts';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Keys sorted at every level, as Python's json.dumps(sort_keys=True). */
export function sortKeys(v: unknown): Json {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  }
  return v as Json;
}

/** ansible-inventory --list (cli/inventory.py json_inventory): groups reachable from all, each once. */
export function inventoryList(inv: Inventory): Record<string, Json> {
  const tree = inv.tree!;
  const out: Record<string, Json> = {};
  const seen = new Set<string>();
  const stack = ['all'];
  while (stack.length) {
    const name = stack.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const g = tree.get(name)!;
    const entry: Record<string, Json> = {};
    if (name !== 'all' && g.hosts.length) entry.hosts = [...g.hosts];
    if (g.children.length) entry.children = [...g.children];
    if (Object.keys(entry).length) out[name] = entry;
    stack.push(...[...g.children].reverse());
  }
  const hostvars: Record<string, Json> = {};
  for (const name of inv.groups.get('all') ?? []) {
    const vars = inv.hostvars!(name);
    if (Object.keys(vars).length) hostvars[name] = vars as Json;
  }
  return sortKeys({ _meta: { hostvars }, ...out }) as Record<string, Json>;
}

export function hostVars(inv: Inventory, host: string): Json | undefined {
  return inv.hosts.has(host) ? sortKeys(inv.hostvars!(host)) : undefined;
}

/** ansible-inventory --graph [GROUP]: child groups then own hosts, in inventory order. */
export function inventoryGraph(inv: Inventory, group = 'all'): string[] {
  const tree = inv.tree!;
  const lines: string[] = [];
  const name = (text: string, depth: number) => (depth ? `${'  |'.repeat(depth)}--${text}` : text);
  const stack: Array<{ line: string } | { group: string; depth: number }> = [{ group, depth: 0 }];
  while (stack.length) {
    const item = stack.pop()!;
    if ('line' in item) { lines.push(item.line); continue; }
    const g = tree.get(item.group)!;
    lines.push(name(`@${item.group}:`, item.depth));
    const next: typeof stack = g.children.map((c) => ({ group: c, depth: item.depth + 1 }));
    if (item.group !== 'all') next.push(...g.hosts.map((h) => ({ line: name(h, item.depth + 1) })));
    stack.push(...next.reverse());
  }
  return lines;
}
