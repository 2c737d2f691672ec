// Shared by the lvs-* and roles-* unit tests (not a test file itself): an inventory loaded the way
// the CLI loads it, role vars merged the way the runner merges them, and facts as gatherFacts
// reports them for a lab VM (eth0 = qemu user net, eth1 = the LAN segment).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadInventory } from '../../lib/inventory.ts';
import { renderTemplate } from '../../lib/modules/template.ts';
import { varsFor } from '../../lib/runner.ts';
import director from '../../roles/director/index.ts';
import type { Facts, Inventory, Role, RoleVars, Task } from '../../lib/types.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const LAB = path.join(ROOT, 'inventory/lab.yml');
export const ACTIVE_ACTIVE = path.join(ROOT, 'inventory/active-active.yml');

export const load = (file = LAB, extraVars: Record<string, unknown> = {}) => loadInventory(file, { extraVars });

export function labFacts(inv: Inventory, host: string, lanDev = 'eth1'): Facts {
  const lanIp = inv.hosts.get(host)?.vars.lan_ip;
  return {
    hostname: host,
    os: { id: 'debian', versionId: '12', codename: 'bookworm', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
    interfaces: {
      lo: { cidrs: ['127.0.0.1/8'], up: true },
      eth0: { cidrs: ['10.0.2.15/24'], up: true },
      [lanDev]: { cidrs: lanIp ? [`${lanIp}/24`] : [], up: true },
    },
    defaultInterface: 'eth0',
    packages: {},
    systemd: true,
  };
}

export function roleVars(inv: Inventory, role: Role, host: string, extraVars: Record<string, unknown> = {}, facts = labFacts(inv, host)) {
  const play = { name: 'test', hosts: 'all', roles: [role] };
  return varsFor(inv, inv.hosts.get(host)!, play, [role.defaults as Record<string, unknown>], { facts, extraVars }) as Record<string, unknown> & RoleVars;
}

export function validate(inv: Inventory, role: Role, extraVars: Record<string, unknown> = {}) {
  const play = { name: 'test', hosts: 'all', roles: [role] };
  role.validate!(inv, (h) => varsFor(inv, h, play, [role.defaults as Record<string, unknown>], { extraVars }) as never);
}

export async function render(role: Role, vars: Record<string, unknown>, task: Task): Promise<string> {
  return String((await renderTemplate({ vars, roleDir: role.dir }, task.args)).content);
}

export const byModule = (tasks: Task[], name: string) => tasks.filter((t) => t.module.name === name);

/** The director role's tasks and rendered keepalived.conf for `host`, as a converge would make them. */
export async function renderDirector(host = 'bal1', extra: Record<string, unknown> = {}, file = LAB, lanDev = 'eth1') {
  const inv = await load(file, extra);
  validate(inv, director, extra);
  const vars = roleVars(inv, director, host, extra, labFacts(inv, host, lanDev));
  const tasks = director.tasks(vars as never);
  const [tpl] = byModule(tasks, 'template');
  return { inv, vars, tasks, tpl, conf: await render(director, vars, tpl) };
}

/** The lab topology as a ClusterInput, for the pure model tests; `all` laid over every host. */
export function labInput(all: Record<string, unknown> = {}, hosts: Record<string, Record<string, unknown>> = {}, groups: Record<string, string[]> = {}) {
  const base: Record<string, Record<string, unknown>> = {
    bal1: { lan_ip: '172.28.128.11' },
    bal2: { lan_ip: '172.28.128.12' },
    real1: { lan_ip: '172.28.128.21' },
    real2: { lan_ip: '172.28.128.22' },
    client: { lan_ip: '172.28.128.40' },
  };
  const common = { lan_cidr: '172.28.128.0/24', lvs_vips: ['172.28.128.200'], ...all };
  const names = new Set([...Object.keys(base), ...Object.keys(hosts), ...Object.values(groups).flat()]);
  return {
    file: 'inventory/test.yml',
    groups: { directors: ['bal1', 'bal2'], realservers: ['real1', 'real2'], clients: ['client'], ...groups },
    hostvars: Object.fromEntries([...names].map((h) => [h, { ...common, ...base[h], ...hosts[h] }])),
  };
}
