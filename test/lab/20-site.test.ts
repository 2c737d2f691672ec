// playbooks/site.ts on the lab, Molecule's sequence: converge a pristine lab → verify from the
// client → converge again (0 changed) → --check (0 changed, nothing touched) → a weight change
// rolled out under client traffic (reload, not restart, 0 failed requests) → a real server's
// nginx stopped and started (it leaves and rejoins the IPVS table) → refused inputs (exit 1,
// no host contacted). Needs the lab (test/run.ts brings it up); starts from `lab reset`.
import net from 'node:net';
import test from 'ava';
import {
  LAB_INVENTORY,
  Lab,
  changedResults,
  countAnswers,
  describeRun,
  failedResults,
  hostEntry,
  lab as labCli,
  playbook,
  startProbe,
  tempInventory,
  totals,
} from '../helpers/lab-cluster.ts';
import { clusterFromInventory } from '../../lib/lvs/index.ts';
import { literal, sh } from '../../lib/shell.ts';
import { ACTIVE_ACTIVE, renderDirector } from '../unit/lvs-fixtures.ts';

let lab: Lab;
let vip: string;
let realIps: Record<string, string>;
let check: { delay_loop: number; connect_timeout: number; retry: number; delay_before_retry: number };

test.before(async (t) => {
  const reset = await labCli('reset');
  if (reset.code !== 0) throw new Error(`lab reset failed (exit ${reset.code}):\n${reset.stdout}\n${reset.stderr}`);
  t.log(`lab reset in ${(reset.ms / 1000).toFixed(1)} s`);
  lab = await Lab.open();
  const model = clusterFromInventory(lab.inventory, (h) => h.vars);
  vip = model.vips[0];
  realIps = Object.fromEntries(model.realservers.map((r) => [r.name, r.ip]));
  check = model.services[0].check;
});

test.after.always(async () => {
  await lab?.close();
});

const realAddr = (name: string) => `${realIps[name]}:80`;

async function master(): Promise<string> {
  const holders = await lab.holders(vip);
  if (holders.length !== 1) throw new Error(`expected exactly one director holding ${vip}, got ${holders.join(', ') || 'none'}`);
  return holders[0];
}

async function realsInTable(director: string): Promise<string[]> {
  const svc = (await lab.ipvs(director)).find((s) => s.addr === `${vip}:80`);
  return (svc?.reals ?? []).map((r) => r.addr).sort();
}

test.serial('1. a pristine lab converges: real1 and real2 answer the VIP alternately through the one MASTER', async (t) => {
  const r = await playbook('site', LAB_INVENTORY);
  t.log(`fresh converge of the ${lab.inventory.hosts.size}-host lab: ${(r.ms / 1000).toFixed(1)} s`);
  t.is(r.code, 0, describeRun(r));
  t.truthy(r.report, describeRun(r));
  const sum = totals(r.report!);
  t.is(sum.failed, 0);
  t.is(sum.unreachable, 0);
  t.true(sum.changed > 0, 'a pristine lab needs changes');

  const holders = await lab.holders(vip);
  t.deepEqual(holders, ['bal1'], 'exactly one director holds the VIP: the one of highest priority');
  t.deepEqual(await realsInTable(holders[0]), [realAddr('real1'), realAddr('real2')].sort(), 'ipvsadm -Ln on the MASTER lists both real servers');
  const svc = (await lab.ipvs(holders[0])).find((s) => s.addr === `${vip}:80`)!;
  t.is(svc.sched, 'rr');
  t.true(svc.reals.every((x) => x.forward === 'Route'), 'DR: forwarding method Route');

  const answers = await lab.requests('client', `http://${vip}/`, 20);
  const servers = answers.map((a) => (a.status === 200 ? a.server : `failed(${a.status})`));
  t.deepEqual(countAnswers(answers), { real1: 10, real2: 10 });
  t.true(servers.every((s, i) => i === 0 || s !== servers[i - 1]), `rr alternates: ${servers.join(' ')}`);
});

// keepalived's own parser on a director (the package the role installed), for every shape of
// keepalived.conf the role can render; -l -D sends its complaints to stderr.
const KEEPALIVED_VARIANTS: Array<[string, Record<string, unknown>, string]> = [
  ['lab', {}, LAB_INVENTORY],
  ['fast', { lvs_profile: 'fast' }, LAB_INVENTORY],
  ['auth', { lvs_auth_pass: 'buka17' }, LAB_INVENTORY],
  ['preempt-delay', { lvs_preempt_delay: 5 }, LAB_INVENTORY],
  ['nat', { lvs_vips: ['172.28.128.200', '172.28.128.201'], lvs_services: [{ port: 80, lb_kind: 'NAT' }], lvs_nat_gateway: '172.28.128.250' }, LAB_INVENTORY],
  ['tun', { lvs_services: [{ port: 80, lb_kind: 'TUN', lb_algo: 'wlc', persistence_timeout: 60 }, { port: 53, protocol: 'udp', lb_algo: 'sh', check: { type: 'TCP_CHECK' } }] }, LAB_INVENTORY],
  ['active-active', {}, ACTIVE_ACTIVE],
  ['unicast', { lvs_vrrp_unicast: true }, LAB_INVENTORY],
  ['tracked', { lvs_track: [{ name: 'chk_ssh', kind: 'service', unit: 'ssh' }, { name: 'chk_port', kind: 'tcp', port: 22, weight: -60 }, { name: 'chk_http', kind: 'http', url: 'http://127.0.0.1/' }] }, LAB_INVENTORY],
];

test.serial('1b. keepalived -t on bal1 accepts every keepalived.conf variant the role renders', async (t) => {
  const c = await lab.conn('bal1');
  const dir = (await lab.run('bal1', sh`mktemp -d`)).trim();
  try {
    for (const [name, extra, file] of KEEPALIVED_VARIANTS) {
      const { conf } = await renderDirector('bal1', extra, file, 'eth1');
      const f = `${dir}/${name}.conf`;
      await c.put(f, conf);
      const r = await lab.exec('bal1', sh`keepalived -t -f ${f} -l -D`);
      t.is(r.exitCode, 0, `${name}: keepalived -t exited ${r.exitCode}:\n${r.stderr}${r.stdout}`);
    }
  } finally {
    await lab.exec('bal1', sh`rm -rf ${dir}`);
  }
});

test.serial('2. converged: a second run changes nothing, and --check changes nothing and touches nothing', async (t) => {
  const again = await playbook('site', LAB_INVENTORY);
  t.log(`no-op converge: ${(again.ms / 1000).toFixed(1)} s`);
  t.is(again.code, 0, describeRun(again));
  t.is(totals(again.report!).changed, 0, describeRun(again));
  t.is(totals(again.report!).failed, 0);

  // Everything a run could touch, before and after --check: files newer than a marker, daemons' PIDs.
  const hosts = [...lab.inventory.hosts.keys()];
  const marker = '/run/lvsplay-check-marker';
  await Promise.all(hosts.map((h) => lab.run(h, sh`touch ${marker}`)));
  const pids = async () => ({
    bal1: await lab.mainPid('bal1', 'keepalived'),
    bal2: await lab.mainPid('bal2', 'keepalived'),
    real1: await lab.mainPid('real1', 'nginx'),
    real2: await lab.mainPid('real2', 'nginx'),
  });
  const before = await pids();
  const dry = await playbook('site', LAB_INVENTORY, ['--check']);
  t.is(dry.code, 0, describeRun(dry));
  t.true(dry.report!.check);
  t.is(totals(dry.report!).changed, 0, describeRun(dry));
  t.deepEqual(await pids(), before, 'no daemon was restarted');
  for (const h of hosts) {
    const touched = await lab.run(h, sh`for d in /etc /var/www /usr/local; do [ -d "$d" ] && find "$d" -xdev -newer ${marker} -print; done; true`);
    t.is(touched.trim(), '', `${h}: nothing under /etc, /var/www or /usr/local changed in --check mode`);
  }
});

test.serial('3. a weight change under traffic: only keepalived.conf changes, keepalived reloads (same PID), no request fails', async (t) => {
  const heavier = tempInventory(LAB_INVENTORY, (doc) => {
    hostEntry(doc, 'real1').lvs_weight = 3;
  });
  try {
    const m = await master();
    const pidsBefore = { bal1: await lab.mainPid('bal1', 'keepalived'), bal2: await lab.mainPid('bal2', 'keepalived') };
    const probe = await startProbe(lab, 'client', vip, { intervalMs: 20, maxSeconds: 240 });
    // The client's verify would share the rr scheduler with the probe's 50 connections/s, so its
    // own split says nothing during this run: the probe is the check here (and verify runs below).
    const r = await playbook('site', heavier.file, ['--skip-tags', 'verify']);
    const timeline = await probe.stop();
    t.is(r.code, 0, describeRun(r));
    const changed = changedResults(r.report!).map((c) => `${c.host}: ${c.handler ? 'handler ' : ''}${c.task}`).sort();
    t.deepEqual(changed, ['bal1: handler reload keepalived', 'bal1: keepalived.conf', 'bal2: handler reload keepalived', 'bal2: keepalived.conf'], describeRun(r));
    t.deepEqual({ bal1: await lab.mainPid('bal1', 'keepalived'), bal2: await lab.mainPid('bal2', 'keepalived') }, pidsBefore, 'reloaded, not restarted');
    const svc = (await lab.ipvs(m)).find((s) => s.addr === `${vip}:80`)!;
    t.is(svc.reals.find((x) => x.addr === realAddr('real1'))?.weight, 3, 'the new weight is in the IPVS table');

    const samples = timeline.samples;
    const spanS = (samples.at(-1)!.t - samples[0].t) / 1000;
    const rate = samples.length / spanS;
    const failed = samples.filter((s) => !s.ok);
    t.log(`probe: ${samples.length} requests over ${spanS.toFixed(1)} s (${rate.toFixed(1)}/s), ${failed.length} failed; run ${(r.ms / 1000).toFixed(1)} s`);
    t.true(rate >= 20, `the probe ran at >= 20 requests/s (${rate.toFixed(1)})`);
    t.true(spanS * 1000 >= r.ms * 0.8, 'the probe covered the whole run');
    t.deepEqual(failed.map((s) => `${s.t.toFixed(0)} ms: ${s.status}`), [], 'no request failed');
  } finally {
    heavier.remove();
  }

  const back = await playbook('site', LAB_INVENTORY);
  t.is(back.code, 0, describeRun(back));
  t.deepEqual(
    changedResults(back.report!).map((c) => `${c.host}: ${c.task}`).filter((x) => !x.endsWith('reload keepalived')).sort(),
    ['bal1: keepalived.conf', 'bal2: keepalived.conf'],
  );
  const svc = (await lab.ipvs(await master())).find((s) => s.addr === `${vip}:80`)!;
  t.true(svc.reals.every((x) => x.weight === 1), 'converged back to weight 1');
});

test.serial('4. nginx stopped on real1: it leaves the IPVS table within delay_loop + timeout, real2 takes all; started: it returns', async (t) => {
  const m = await master();
  // delay_loop, then the failed check and its retries, each up to connect_timeout
  const budgetMs = (check.delay_loop + check.connect_timeout + check.retry * (check.delay_before_retry + check.connect_timeout)) * 1000;
  try {
    await lab.run('real1', sh`systemctl stop nginx`);
    const gone = await lab.until(async () => !(await realsInTable(m)).includes(realAddr('real1')), budgetMs + 10_000, 200);
    t.log(`real1 left the table after ${gone} ms (budget ${budgetMs} ms)`);
    t.truthy(gone !== undefined, 'real1 left the IPVS table');
    t.true(gone! <= budgetMs + 2000, `within delay_loop + timeout (${gone} ms, budget ${budgetMs} ms + 2 s of polling)`);
    t.deepEqual(await realsInTable(m), [realAddr('real2')]);
    t.deepEqual(countAnswers(await lab.requests('client', `http://${vip}/`, 10)), { real2: 10 }, 'all traffic goes to real2');
  } finally {
    await lab.run('real1', sh`systemctl start nginx`);
  }
  const back = await lab.until(async () => (await realsInTable(m)).includes(realAddr('real1')), budgetMs + 10_000, 200);
  t.log(`real1 back in the table after ${back} ms`);
  t.truthy(back !== undefined, 'real1 returned to the IPVS table');
  t.deepEqual(countAnswers(await lab.requests('client', `http://${vip}/`, 10)), { real1: 5, real2: 5 });
});

/** A local listener counting connections: the inventories below point every host at it. */
async function connectionCounter(): Promise<{ port: number; count: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server = net.createServer((s) => {
    n++;
    s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    count: () => n,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

test.serial('4b. a hung keepalived on the backup (every process stopped) fails the director verify by name; running again, it passes', async (t) => {
  const backup = lab.names('directors').find((d) => d !== 'bal1')!;
  const stopAll = (sig: 'STOP' | 'CONT') => lab.run(backup, sh`for p in $(pgrep -x keepalived); do kill -${literal(sig)} "$p"; done`);
  const verifyRun = () => playbook('director', LAB_INVENTORY, ['--limit', backup, '--tags', 'verify']);
  await stopAll('STOP');
  let hung;
  try {
    hung = await verifyRun();
  } finally {
    await stopAll('CONT');
  }
  t.is(hung.code, 2, describeRun(hung));
  const [failure] = failedResults(hung.report!);
  t.is(failure?.host, backup);
  t.regex(failure?.error ?? '', /keepalived \(pid \d+\) did not answer SIGUSR1 within 5 s: hung\?/);
  t.deepEqual(await lab.holders(vip), ['bal1'], 'the MASTER kept the VIP meanwhile');
  const healthy = await verifyRun();
  t.is(healthy.code, 0, describeRun(healthy));
});

const REFUSALS: Array<{ title: string; edit?: (doc: any) => void; extra?: string[]; expect: RegExp }> = [
  { title: 'auth_pass over 8 characters', extra: ['-e', 'lvs_auth_pass=123456789'], expect: /lvs_auth_pass \(9 characters, value not shown\): keepalived uses only the first 8/ },
  { title: 'auth with VRRPv3', extra: ['-e', 'lvs_auth_pass=secret lvs_vrrp_version=3'], expect: /lvs_auth_pass .*VRRPv3 has no authentication/ },
  { title: 'duplicate VRID', extra: ['-e', '{lvs_vips: [172.28.128.200, 172.28.128.201], lvs_vrids: [51, 51]}'], expect: /lvs_vrids\[1\] = 51: duplicate of lvs_vrids\[0\]/ },
  {
    title: 'equal priorities',
    edit: (doc) => {
      hostEntry(doc, 'bal1').lvs_priority = 100;
      hostEntry(doc, 'bal2').lvs_priority = 100;
    },
    expect: /host bal2: lvs_priority = 100: equal to bal1's priority/,
  },
  { title: 'priority outside 1..254', edit: (doc) => void (hostEntry(doc, 'bal1').lvs_priority = 255), expect: /host bal1: lvs_priority = 255: VRRP priorities run from 1 to 254/ },
  { title: 'VIP outside the LAN', extra: ['-e', '{lvs_vips: [10.9.9.9]}'], expect: /lvs_vips\[0\] = "10\.9\.9\.9": is outside lan_cidr 172\.28\.128\.0\/24/ },
  {
    title: 'a host both director and real server, with NAT',
    edit: (doc) => void (doc.all.children.realservers.hosts.bal2 = null),
    extra: ['-e', '{lvs_services: [{port: 80, lb_kind: NAT}], lvs_nat_gateway: 172.28.128.254}'],
    expect: /lvs_services\[0\]\.lb_kind = "NAT": bal2 is director and real server at once: a co-located cluster forwards by Direct Routing only/,
  },
  { title: 'unknown lb_algo', extra: ['-e', '{lvs_services: [{port: 80, lb_algo: fastest}]}'], expect: /lvs_services\[0\]\.lb_algo = "fastest": unknown IPVS scheduler/ },
  { title: 'unknown lb_kind', extra: ['-e', '{lvs_services: [{port: 80, lb_kind: FAST}]}'], expect: /lvs_services\[0\]\.lb_kind = "FAST": unknown IPVS forwarding method/ },
  { title: 'a virtual service with no real servers', edit: (doc) => void (doc.all.children.realservers.hosts = {}), expect: /a virtual service with no real servers/ },
  { title: 'advert_int not an integer with VRRPv2', extra: ['-e', 'lvs_advert_int=0.5'], expect: /lvs_advert_int = 0\.5: VRRPv2 carries the advert interval in whole seconds/ },
];

test.serial('5. refused inputs: exit 1, a message naming file, key and value, and no host contacted', async (t) => {
  const counter = await connectionCounter();
  try {
    for (const c of REFUSALS) {
      const inv = tempInventory(LAB_INVENTORY, (doc) => {
        doc.all.vars.ansible_port = counter.port;
        for (const g of Object.values<any>(doc.all.children)) for (const h of Object.values<any>(g.hosts ?? {})) if (h) delete h.ansible_port;
        c.edit?.(doc);
      });
      try {
        const r = await playbook('site', inv.file, c.extra ?? []);
        t.is(r.code, 1, `${c.title}: exit 1\n${describeRun(r)}`);
        t.regex(r.stderr, c.expect, `${c.title}: the message says why`);
        t.true(r.stderr.includes(inv.file), `${c.title}: the message names the inventory file`);
        t.is(r.report, undefined, `${c.title}: no run report (nothing ran)`);
      } finally {
        inv.remove();
      }
    }
    t.is(counter.count(), 0, 'no SSH connection was attempted');
  } finally {
    await counter.close();
  }
});
