import test from 'ava';
import {
  activeActiveLayout,
  buildCluster,
  clusterFromInventory,
  clusterFromRoleVars,
  derivedPriorities,
  derivedVrids,
  lanInterface,
  mastersWith,
} from '../../lib/lvs/index.ts';
import { keepalivedConfig } from '../../roles/director/keepalived.ts';
import { realserverPlan } from '../../roles/realserver/plan.ts';
import { cidrContains, hostAddresses, isIPv4 } from '../../lib/lvs/ip.ts';
import director from '../../roles/director/index.ts';
import { ACTIVE_ACTIVE, LAB, labFacts, labInput, load, roleVars } from './lvs-fixtures.ts';

test('derived priorities: 150, 100, 50 by order; distinct and ≥ 1 for larger groups', (t) => {
  t.deepEqual(derivedPriorities(1), [150]);
  t.deepEqual(derivedPriorities(2), [150, 100]);
  t.deepEqual(derivedPriorities(3), [150, 100, 50]);
  for (const n of [4, 5, 8, 16]) {
    const p = derivedPriorities(n);
    t.is(new Set(p).size, n, `distinct for ${n}`);
    t.true(p.every((x) => x >= 1 && x <= 254), `in range for ${n}: ${p}`);
    t.deepEqual([...p].sort((a, b) => b - a), p, 'descending');
  }
});

test('derived VRIDs start at 51 and stay within 1..255', (t) => {
  t.deepEqual(derivedVrids(3), [51, 52, 53]);
  const many = derivedVrids(240);
  t.is(many[0], 1);
  t.is(many.at(-1), 240);
});

test('the lab inventory: one VIP, VRID 51, bal1 150 / bal2 100, both real servers behind HTTP_GET /healthz', async (t) => {
  const inv = await load(LAB);
  const m = clusterFromInventory(inv, (h) => h.vars);
  t.is(m.file, 'inventory/lab.yml');
  t.deepEqual(m.vips, ['172.28.128.200']);
  t.deepEqual(m.instances, [{ name: 'VI_1', vrid: 51, vip: '172.28.128.200', priorities: { bal1: 150, bal2: 100 } }]);
  t.deepEqual(m.vrrp, { version: 2, advertInt: 1, authPass: undefined, preempt: true, preemptDelay: 4 }, 'the sync window: 1 s refresh + 3 s flush');
  t.is(m.services.length, 1);
  const [vs] = m.services;
  t.like(vs, { vip: '172.28.128.200', port: 80, protocol: 'tcp', lbAlgo: 'rr', lbKind: 'DR' });
  t.like(vs.check, { type: 'HTTP_GET', path: '/healthz', status: 200 });
  t.deepEqual(vs.realServers, [
    { name: 'real1', ip: '172.28.128.21', weight: 1 },
    { name: 'real2', ip: '172.28.128.22', weight: 1 },
  ]);
  t.is(m.syncInstance, 'VI_1');
  t.deepEqual(m.natRoutes, []);
});

test('lvs_profile fast: VRRPv3, advert_int 0.1 and preempt_delay 3, unless set explicitly', (t) => {
  t.like(buildCluster(labInput({ lvs_profile: 'fast' })).vrrp, { version: 3, advertInt: 0.1, preemptDelay: 4 }, 'the longer of the profile\'s 3 s and the sync window');
  t.like(buildCluster(labInput({ lvs_profile: 'fast', lvs_sync_refresh: 0 })).vrrp, { preemptDelay: 3 });
  t.like(buildCluster(labInput({ lvs_profile: 'fast', lvs_preempt_delay: 0 })).vrrp, { preemptDelay: 0 });
  t.like(buildCluster(labInput({ lvs_profile: 'fast', lvs_preempt: false })).vrrp, { preempt: false, preemptDelay: 0 }, 'nopreempt: no delay to write');
  t.like(buildCluster(labInput({ lvs_profile: 'fast', lvs_advert_int: 0.5 })).vrrp, { version: 3, advertInt: 0.5 });
  t.like(buildCluster(labInput({ lvs_profile: 'fast', lvs_vrrp_version: 2, lvs_advert_int: 1 })).vrrp, { version: 2, advertInt: 1 });
});

test('lvs_priority per host wins over the derived order', (t) => {
  const m = buildCluster(labInput({}, { bal1: { lvs_priority: 90 }, bal2: { lvs_priority: 200 } }));
  t.deepEqual(m.instances[0].priorities, { bal1: 90, bal2: 200 });
});

test('-e on the command line reaches the model the tasks build (lvs_profile=fast as a string)', async (t) => {
  const inv = await load(LAB, { lvs_profile: 'fast', lvs_advert_int: '0.2' });
  const m = clusterFromRoleVars(roleVars(inv, director, 'bal2', { lvs_profile: 'fast', lvs_advert_int: '0.2' }));
  t.like(m.vrrp, { version: 3, advertInt: 0.2 });
});

test('play vars missing from hostvars are laid over every host', async (t) => {
  const inv = await load(LAB);
  const vars = roleVars(inv, director, 'bal1');
  Object.assign(vars, { lvs_vips: ['172.28.128.201'] }); // as a play's vars would set it
  const m = clusterFromRoleVars(vars);
  t.deepEqual(m.vips, ['172.28.128.201']);
});

// ------------------------------------------------------------ active-active

/** Every property the layout promises, for N directors. */
function checkActiveActive(t: import('ava').ExecutionContext, directors: string[]) {
  const n = directors.length;
  const vips = hostAddresses('10.0.0.0/16', n * (n - 1));
  const layout = activeActiveLayout(directors, vips);
  t.is(layout.length, n * (n - 1));
  for (const inst of layout) {
    const prios = Object.values(inst.priorities);
    t.is(prios.length, n, 'every director takes part in every instance');
    t.is(new Set(prios).size, n, `distinct priorities for ${inst.vip}`);
    t.true(prios.every((p) => p >= 1 && p <= 254));
  }
  const all = mastersWith(layout, directors);
  for (const d of directors) t.is([...all.values()].filter((m) => m === d).length, n - 1, `${d} is primary for ${n - 1} VIPs`);
  const pairs = new Set(layout.map((i) => Object.entries(i.priorities).sort((a, b) => b[1] - a[1]).slice(0, 2).map(([d]) => d).join('>')));
  t.is(pairs.size, n * (n - 1), 'one VIP per ordered (primary, backup) pair');

  for (const dead of directors) {
    const alive = directors.filter((d) => d !== dead);
    const after = mastersWith(layout, alive);
    const moved = layout.filter((i) => all.get(i.vip) === dead).map((i) => after.get(i.vip));
    t.is(moved.length, n - 1);
    t.is(new Set(moved).size, n - 1, `losing ${dead}: its VIPs go to ${n - 1} distinct survivors`);
    t.false(moved.includes(dead));
    for (const d of alive) t.is([...after.values()].filter((m) => m === d).length, n, `losing ${dead}: ${d} holds exactly ${n} VIPs`);
  }
}

test('active-active over 3 directors: 6 VIPs, 2 each, the loss of any one splits exactly evenly', (t) => checkActiveActive(t, ['bal1', 'bal2', 'bal3']));
test('active-active over 2, 4 and 5 directors keeps the same promises', (t) => {
  checkActiveActive(t, ['a', 'b']);
  checkActiveActive(t, ['a', 'b', 'c', 'd']);
  checkActiveActive(t, ['a', 'b', 'c', 'd', 'e']);
});

test('3 VIPs over 3 directors can only split 2:1 — why the layout needs N·(N−1)', (t) => {
  // one VIP per director, each with a single fixed backup: the dead director's VIP lands on one survivor
  const naive = [
    { vip: 'v1', priorities: { a: 150, b: 100, c: 50 } },
    { vip: 'v2', priorities: { b: 150, c: 100, a: 50 } },
    { vip: 'v3', priorities: { c: 150, a: 100, b: 50 } },
  ];
  const after = [...mastersWith(naive, ['b', 'c']).values()];
  t.deepEqual([after.filter((m) => m === 'b').length, after.filter((m) => m === 'c').length].sort(), [1, 2]);
});

test('inventory/active-active.yml: 6 VIPs, VRIDs 51..56, every director MASTER of 2', async (t) => {
  const inv = await load(ACTIVE_ACTIVE);
  const m = clusterFromInventory(inv, (h) => h.vars);
  t.true(m.activeActive);
  t.is(m.vips.length, 6);
  t.deepEqual(m.instances.map((i) => i.vrid), [51, 52, 53, 54, 55, 56]);
  t.true(m.vips.every((v) => cidrContains(m.lanCidr, v)));
  const masters = [...mastersWith(m.instances, m.directors).values()];
  t.deepEqual(['bal1', 'bal2', 'bal3'].map((d) => masters.filter((x) => x === d).length), [2, 2, 2]);
  t.is(m.services.length, 6, 'one virtual_server per VIP');
});

test('active-active VIPs come from lvs_vip_pool when lvs_vips has not N·(N−1) entries', (t) => {
  const input = labInput({ lvs_active_active: true, lvs_vips: undefined, lvs_vip_pool: '172.28.128.200/29' }, { bal3: { lan_ip: '172.28.128.13' } }, { directors: ['bal1', 'bal2', 'bal3'] });
  const m = buildCluster(input);
  t.deepEqual(m.vips, ['172.28.128.201', '172.28.128.202', '172.28.128.203', '172.28.128.204', '172.28.128.205', '172.28.128.206']);
  // an exact list wins over the pool
  const listed = ['172.28.128.211', '172.28.128.212', '172.28.128.213', '172.28.128.214', '172.28.128.215', '172.28.128.216'];
  for (const h of Object.values(input.hostvars)) h.lvs_vips = listed;
  t.deepEqual(buildCluster(input).vips, listed);
});

// ------------------------------------------------------------ per-host views

test('LAN interface: explicit, else the one holding lan_ip, else the one inside lan_cidr — never lo', async (t) => {
  const inv = await load(LAB);
  const facts = labFacts(inv, 'bal1', 'ens4');
  const q = { host: 'bal1', lanCidr: '172.28.128.0/24' };
  t.is(lanInterface(facts, { ...q, lanIp: '172.28.128.11' }), 'ens4');
  t.is(lanInterface(facts, q), 'ens4');
  t.is(lanInterface(facts, { ...q, explicit: 'eth0' }), 'eth0');
  t.throws(() => lanInterface(facts, { ...q, explicit: 'eth9' }), { message: /lvs_lan_interface = "eth9" does not exist.*ens4 172\.28\.128\.11\/24/ });
  t.throws(() => lanInterface(facts, { ...q, lanIp: '172.28.128.99' }), { message: /no interface holds lan_ip 172\.28\.128\.99.*set lvs_lan_interface/ });
  // a real server carries the VIP on lo: lo must not be taken for the LAN
  const rs = { ...facts, interfaces: { lo: { cidrs: ['127.0.0.1/8', '172.28.128.200/32'], up: true }, ens4: { cidrs: ['172.28.128.21/24'], up: true } } };
  t.is(lanInterface(rs, q), 'ens4');
  t.throws(() => lanInterface({ ...facts, interfaces: {} }, q), { message: /without facts/ });
});

test('keepalivedConfig: this director priority, interface from facts, sync daemon on it', async (t) => {
  const inv = await load(LAB);
  const m = clusterFromInventory(inv, (h) => h.vars);
  const ka = keepalivedConfig(m, 'bal2', labFacts(inv, 'bal2'));
  t.like(ka, { routerId: 'bal2', interface: 'eth1', vrrpVersion: 2, scriptUser: 'nobody', syncDaemon: { interface: 'eth1', instance: 'VI_1' } });
  t.like(ka.instances[0], { name: 'VI_1', vrid: 51, priority: 100, addresses: ['172.28.128.200'], electorate: 'bal1 150, bal2 100 (this director)' });
  t.is(ka.syncGroup, undefined);
});

test('realserverPlan: DR puts the VIPs on lo; TUN on tunl0; NAT routes default and the client via the gateway', async (t) => {
  const inv = await load(LAB);
  const m = clusterFromInventory(inv, (h) => h.vars);
  t.like(realserverPlan(m, 'real1', labFacts(inv, 'real1')), { lanInterface: 'eth1', loVips: ['172.28.128.200'], tunnelVips: [], arpSysctls: true, ports: [{ port: 80, tls: false }], checks: [{ path: '/healthz', status: 200 }] });
  const tun = buildCluster(labInput({ lvs_services: [{ port: 80, lb_kind: 'TUN' }] }));
  t.like(realserverPlan(tun, 'real1', labFacts(inv, 'real1')), { loVips: [], tunnelVips: ['172.28.128.200'], arpSysctls: true });
  const nat = buildCluster(labInput({ lvs_services: [{ port: 80, lb_kind: 'NAT' }], lvs_nat_gateway: '172.28.128.250' }));
  const plan = realserverPlan(nat, 'real2', labFacts(inv, 'real2'));
  t.deepEqual(plan.nat, { gateway: '172.28.128.250', routes: ['default', '172.28.128.40/32'] });
  t.like(plan, { loVips: [], tunnelVips: [], arpSysctls: false });
});

test('ip helpers', (t) => {
  t.true(isIPv4('172.28.128.200'));
  t.false(isIPv4('172.28.128.256'));
  t.false(isIPv4('172.28.128.01'));
  t.true(cidrContains('172.28.128.0/24', '172.28.128.255'));
  t.false(cidrContains('172.28.128.0/24', '172.28.129.1'));
  t.deepEqual(hostAddresses('10.0.0.0/30'), ['10.0.0.1', '10.0.0.2']);
  t.deepEqual(hostAddresses('10.0.0.4/31'), ['10.0.0.4', '10.0.0.5']);
});
