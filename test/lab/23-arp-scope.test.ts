// lvs_arp_scope on the lab (issue 9 §5, seed 004's warning): a second interface on a real server —
// the Docker-bridge case: a veth into a network namespace `ctr` on real1 — asks real1 for its LAN
// address (172.28.128.21) over the veth. arp_ignore is judged on the interface the request ARRIVES
// on: with `all` (arp_ignore=1 reaches every interface) real1 keeps silent, with `interfaces` (only
// lo and eth1) it answers. In both scopes the client's ARP for the VIP is answered by the MASTER
// director alone, and the VIP serves both real servers.
//
// Sequence: site (the default cluster; on 20-site's converged lab a no-op, a fresh converge when
// this file runs alone) → namespace up → scope all: no answer →
// realserver.ts -t arp -e lvs_arp_scope=interfaces: answer → realserver.ts -t arp (all again): no answer, and
// lvsplay's sysctl.d file is as the first converge left it. Always: namespace and veth deleted,
// the real servers converged back to `all`.
import test from 'ava';
import { clusterFromInventory, type ClusterModel } from '../../lib/lvs/index.ts';
import { SYSCTL_FILE } from '../../lib/modules/sysctl.ts';
import { ARP_TAG } from '../../roles/realserver/arp.ts';
import { sh } from '../../lib/shell.ts';
import { LAB_INVENTORY, Lab, changedResults, countAnswers, describeRun, playbook, totals } from '../helpers/lab-cluster.ts';

const NS = 'ctr';
const HOST_SIDE = 'veth-ctr';
const NS_SIDE = 'veth-ns';
const HOST_ADDR = '10.99.0.1';
const NS_ADDR = '10.99.0.2';
const PINGS = 3;

let lab: Lab;
let model: ClusterModel;
let real: { name: string; ip: string };
let vip: string;
let scope: 'all' | 'interfaces' = 'all';
let pristineFile = '';
const started = Date.now();
const figures: string[] = [];

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

test.before(async (t) => {
  lab = await Lab.open();
  model = clusterFromInventory(lab.inventory, (h) => h.vars);
  real = model.realservers[0];
  vip = model.vips[0];
  const r = await playbook('site', LAB_INVENTORY);
  if (r.code !== 0) throw new Error(`site.ts (the default cluster) failed:\n${describeRun(r)}`);
  t.log(`site.ts (default cluster): ${secs(r.ms)}, ${totals(r.report!).changed} changed`);
  await lab.exec(real.name, removeNamespace());
  // a container's network: the host side gets its own subnet; inside, real1's LAN address is on-link via the veth
  await lab.run(
    real.name,
    sh`set -e
ip netns add ${NS}
ip link add ${HOST_SIDE} type veth peer name ${NS_SIDE}
ip link set ${NS_SIDE} netns ${NS}
ip addr add ${`${HOST_ADDR}/24`} dev ${HOST_SIDE}
ip link set ${HOST_SIDE} up
ip -n ${NS} link set lo up
ip -n ${NS} addr add ${`${NS_ADDR}/24`} dev ${NS_SIDE}
ip -n ${NS} link set ${NS_SIDE} up
ip -n ${NS} route add ${`${real.ip}/32`} dev ${NS_SIDE}`,
  );
});

test.after.always(async (t) => {
  try {
    await lab?.exec(real.name, removeNamespace());
    if (scope !== 'all') {
      const r = await playbook('realserver', LAB_INVENTORY, ['-t', ARP_TAG]);
      t.log(`cleanup: realserver.ts back to lvs_arp_scope all: exit ${r.code} in ${secs(r.ms)}`);
    }
  } finally {
    await lab?.close();
    t.log(`23-arp-scope: ${secs(Date.now() - started)} (site converge included)\n${figures.join('\n')}`);
  }
});

function removeNamespace() {
  // deleting the namespace deletes its veth end, and with it the host's
  return sh`ip netns del ${NS} 2>/dev/null; ip link del ${HOST_SIDE} 2>/dev/null; true`;
}

/** From inside the namespace: pings to real1's LAN address, and what the namespace's ARP made of it. */
async function askFromContainer() {
  const r = await lab.exec(real.name, sh`ip -n ${NS} neigh flush all; ip netns exec ${NS} ping -n -c ${PINGS} -W 1 ${real.ip} | grep -c 'bytes from'; ip -n ${NS} neigh show ${real.ip}; ip netns exec ${NS} ping -n -c 1 -W 1 ${HOST_ADDR} >/dev/null && echo host-side-ok`, 30_000);
  const [count, ...rest] = r.stdout.trim().split('\n');
  const neigh = rest.find((l) => l.startsWith(real.ip)) ?? '(no entry)';
  return { replies: Number(count), neigh, state: neigh.trim().split(/\s+/).at(-1)!, hostSideOk: rest.includes('host-side-ok') };
}

/** The kernel's arp values on real1 (all, lo, its LAN interface, the veth) and lvsplay's sysctl.d file. */
async function realArp() {
  const out = await lab.run(real.name, sh`grep -H . /proc/sys/net/ipv4/conf/*/arp_ignore /proc/sys/net/ipv4/conf/*/arp_announce; echo ===; cat ${SYSCTL_FILE}`);
  const [values, file] = out.split('===\n');
  const v: Record<string, Record<string, number>> = {};
  for (const m of values.matchAll(/\/conf\/([^/]+)\/(arp_\w+):(\d+)/g)) (v[m[1]] ??= {})[m[2]] = Number(m[3]);
  return { v, file };
}

const macRe = /\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b/gi;

/** Every LAN MAC by host name. */
async function lanMacs(): Promise<Record<string, string>> {
  const names = [...model.directors, ...model.realservers.map((r) => r.name)];
  const macs = await Promise.all(
    names.map(async (n) => (await lab.run(n, sh`dev=$(ip -o -4 addr show to ${`${lab.lanIp(n)}/32`} | awk '{print $2}'); cat /sys/class/net/"$dev"/address`)).trim().toLowerCase()),
  );
  return Object.fromEntries(names.map((n, i) => [n, macs[i]]));
}

/** The client asks who has the VIP (arping, 3 requests) and then fetches it: every MAC that answered, and its neighbour entry. */
async function clientSeesVip() {
  const client = model.clients[0];
  const out = await lab.run(client, sh`dev=$(ip -o -4 route get ${vip} | awk '{for (i = 1; i < NF; i++) if ($i == "dev") print $(i + 1)}'); timeout 15 arping -c 3 -I "$dev" ${vip} || true; echo ===; ip neigh flush to ${vip}; curl -s -o /dev/null -m 3 http://${vip}/ || true; ip neigh show to ${vip}`, { timeoutMs: 30_000 });
  const [arping, neigh] = out.split('===\n');
  const replies = (arping.match(macRe) ?? []).map((m) => m.toLowerCase());
  return { replies, neighMac: (neigh.match(macRe) ?? [])[0]?.toLowerCase() };
}

async function judgeVipArp(t: import('ava').ExecutionContext, label: string) {
  const [holders, macs, seen] = await Promise.all([lab.holders(vip), lanMacs(), clientSeesVip()]);
  t.is(holders.length, 1, `${label}: one director holds ${vip}: ${holders.join(', ')}`);
  const byMac = Object.fromEntries(Object.entries(macs).map(([n, m]) => [m, n]));
  const who = [...new Set(seen.replies)].map((m) => byMac[m] ?? m);
  t.true(seen.replies.length >= 1, `${label}: the client's arping got an answer for ${vip}`);
  t.deepEqual(who, holders, `${label}: only the MASTER answered ARP for ${vip} (answers from ${who.join(', ')})`);
  t.is(byMac[seen.neighMac ?? ''], holders[0], `${label}: the client's neighbour entry for ${vip} is the MASTER's MAC`);
  const answers = countAnswers(await lab.requests(model.clients[0], `http://${vip}/`, 4));
  t.deepEqual(answers, Object.fromEntries(model.realservers.map((r) => [r.name, 2])), `${label}: the VIP serves every real server`);
  figures.push(`${label}: client arping ${vip}: ${seen.replies.length}/3 answers, all from ${who.join(', ')}; ip neigh → ${byMac[seen.neighMac ?? ''] ?? seen.neighMac}; 4 requests → ${JSON.stringify(answers)}`);
}

async function converge(t: import('ava').ExecutionContext, to: 'all' | 'interfaces') {
  const r = await playbook('realserver', LAB_INVENTORY, ['-t', ARP_TAG, ...(to === 'all' ? [] : ['-e', `lvs_arp_scope=${to}`])]);
  scope = to;
  t.is(r.code, 0, describeRun(r));
  const changed = changedResults(r.report!).map((c) => `${c.host}: ${c.task}`);
  t.log(`realserver.ts, lvs_arp_scope ${to}: ${secs(r.ms)}, changed:\n  ${changed.join('\n  ')}`);
  figures.push(`converge realservers to ${to}: ${secs(r.ms)}, ${changed.length} changed`);
  return changed;
}

test.serial('1. scope all (the default): real1 does not answer ARP for its LAN address over the veth; the VIP is answered by the MASTER only', async (t) => {
  const { v, file } = await realArp();
  pristineFile = file;
  t.like(v, { all: { arp_ignore: 1, arp_announce: 2 }, eth1: { arp_ignore: 1, arp_announce: 2 } }, 'the default scope as converged');
  t.is(v[HOST_SIDE]?.arp_ignore, 0, 'the veth has no own setting: it gets arp_ignore 1 from all');
  const ask = await askFromContainer();
  t.log(`scope all: ${ask.replies}/${PINGS} pings answered, the namespace's neighbour entry: ${ask.neigh}`);
  figures.push(`scope all: from namespace ${NS} over ${HOST_SIDE}, ping ${real.ip}: ${ask.replies}/${PINGS} answered, neigh ${ask.state}`);
  t.true(ask.hostSideOk, 'the veth itself works: the host side answers for its own address');
  t.is(ask.replies, 0);
  t.regex(ask.state, /^(FAILED|INCOMPLETE)$/, 'no ARP answer for the LAN address over the veth');
  await judgeVipArp(t, 'scope all');
});

test.serial('2. scope interfaces: lo and eth1 only, lvsplay\'s all lines removed and all back to 0; real1 answers over the veth; the VIP still only from the MASTER', async (t) => {
  const changed = await converge(t, 'interfaces');
  for (const r of model.realservers) {
    t.true(changed.includes(`${r.name}: lo: answer ARP only for addresses of the interface asked`), `${r.name}: lo set`);
    t.true(changed.includes(`${r.name}: all: arp_ignore no longer lvsplay's (lvs_arp_scope: interfaces)`), `${r.name}: all undone`);
  }
  const { v, file } = await realArp();
  t.like(v, { all: { arp_ignore: 0, arp_announce: 0 }, lo: { arp_ignore: 1, arp_announce: 2 }, eth1: { arp_ignore: 1, arp_announce: 2 } });
  t.notRegex(file, /conf\.all\./, `no all line left in ${SYSCTL_FILE}`);
  t.regex(file, /^net\.ipv4\.conf\.lo\.arp_ignore = 1$/m);
  const ask = await askFromContainer();
  t.log(`scope interfaces: ${ask.replies}/${PINGS} pings answered, the namespace's neighbour entry: ${ask.neigh}`);
  figures.push(`scope interfaces: from namespace ${NS} over ${HOST_SIDE}, ping ${real.ip}: ${ask.replies}/${PINGS} answered, neigh ${ask.state}`);
  t.is(ask.replies, PINGS, 'real1 answers for its LAN address over the veth');
  t.regex(ask.state, /^(REACHABLE|STALE|DELAY|PROBE)$/);
  await judgeVipArp(t, 'scope interfaces');
});

test.serial('3. back to all: all set, lo undone, the sysctl.d file as the first converge left it; the veth is refused again', async (t) => {
  const changed = await converge(t, 'all');
  t.true(changed.includes(`${real.name}: lo: arp_ignore no longer lvsplay's (lvs_arp_scope: all)`));
  const { v, file } = await realArp();
  t.like(v, { all: { arp_ignore: 1, arp_announce: 2 }, lo: { arp_ignore: 0, arp_announce: 0 }, eth1: { arp_ignore: 1, arp_announce: 2 } });
  t.deepEqual(file.trim().split('\n').sort(), pristineFile.trim().split('\n').sort(), `${SYSCTL_FILE} holds what it held before the switch`);
  const ask = await askFromContainer();
  figures.push(`back to all: ping ${real.ip} from ${NS}: ${ask.replies}/${PINGS} answered, neigh ${ask.state}`);
  t.is(ask.replies, 0);
  const again = await playbook('realserver', LAB_INVENTORY);
  t.is(again.code, 0, describeRun(again));
  t.is(totals(again.report!).changed, 0, `a second converge changes nothing:\n${describeRun(again)}`);
  figures.push(`no-op converge of the realservers: ${secs(again.ms)}`);
});
