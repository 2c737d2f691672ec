// playbooks/status.ts's pure parts on outputs recorded from the lab (test/fixtures/status/*.json,
// written by test/fixtures/status/record.ts): a healthy cluster, nginx stopped on real1, a split
// brain after SIGKILL of bal1's keepalived, keepalived stopped on bal2 (its IPVS table empty).
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConnStates, parseIpvsCounters, parseIpvsTable, parseIpvsTimeouts, parseSyncDaemons } from '../../lib/facts/ipvs.ts';
import { parseCheckerData, parseCheckJournal, parseKeepalivedData, VRRP_FIELDS_WITH_TRANSITION } from '../../lib/facts/keepalived.ts';
import { parseArpSysctls } from '../../lib/facts/net.ts';
import { clusterFromInventory } from '../../lib/lvs/index.ts';
import { normaliseArgv } from '../../lib/status/args.ts';
import { assess, checkView, realserverChecks } from '../../lib/status/assess.ts';
import { observationFromRecording, type Recording } from '../../lib/status/observe.ts';
import { renderStatus } from '../../lib/status/render.ts';
import { ACTIVE_ACTIVE, LAB, load } from './lvs-fixtures.ts';
import { ROOT } from './lvs-fixtures.ts';

const COLOCATED = `${ROOT}/inventory/colocated.yml`;

const fixture = (name: string) => readFileSync(fileURLToPath(new URL(`../fixtures/status/${name}`, import.meta.url)), 'utf8');
const recorded = (name: string) => JSON.parse(fixture(`${name}.json`)) as { at: string; recording: Recording };
const labModel = async () => clusterFromInventory(await load(LAB), (h) => h.vars);
const raw = (name: string, host: string, fact: string) => recorded(name).recording[host].raw![fact].stdout;

async function report(name: string) {
  const model = await labModel();
  const rec = recorded(name);
  return assess(model, observationFromRecording(model, rec.recording, new Date(rec.at)));
}

// ---------------------------------------------------------------- parsers

test('parseIpvsTable: the recorded table, an empty one, persistence and fwmark services', (t) => {
  const table = parseIpvsTable(raw('healthy', 'bal1', 'ipvsTable'));
  t.is(table.size, 4096);
  t.is(table.services.length, 1);
  t.like(table.services[0], { key: 'TCP 172.28.128.200:80', sched: 'rr' });
  t.deepEqual(
    table.services[0].reals.map((r) => [r.addr, r.forward, r.weight]),
    [['172.28.128.21:80', 'Route', 1], ['172.28.128.22:80', 'Route', 1]],
  );
  t.deepEqual(parseIpvsTable(raw('empty', 'bal2', 'ipvsTable')), { size: 4096, services: [] });
  const more = parseIpvsTable(`TCP  10.0.0.1:443 wlc persistent 50
  -> 10.0.0.21:443                Masq    0      3          0
FWM  1 rr
  -> 10.0.0.22:0                  Tunnel  5      0          7
`);
  t.is(more.services[0].persistent, 50);
  t.deepEqual(more.services[0].reals[0], { addr: '10.0.0.21:443', forward: 'Masq', weight: 0, activeConn: 3, inActConn: 0 });
  t.is(more.services[1].key, 'FWM 1');
  t.is(more.services[1].reals[0].inActConn, 7);
});

test('parseIpvsCounters: --stats and --rate columns by their header names, zeros kept', (t) => {
  const stats = parseIpvsCounters(raw('healthy', 'bal1', 'ipvsStats'));
  const svc = stats.services['TCP 172.28.128.200:80'];
  t.true(svc.Conns > 0);
  t.is(svc.OutPkts, 0, 'DR: the replies never pass the director');
  t.is(stats.reals['TCP 172.28.128.200:80']['172.28.128.21:80'].Conns + stats.reals['TCP 172.28.128.200:80']['172.28.128.22:80'].Conns, svc.Conns);
  const rate = parseIpvsCounters(raw('healthy', 'bal1', 'ipvsRate'));
  t.deepEqual(Object.keys(rate.services['TCP 172.28.128.200:80']), ['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS']);
  t.is(rate.reals['TCP 172.28.128.200:80']['172.28.128.21:80'].CPS, 0);
});

test('timeouts, sync daemons, connection states', (t) => {
  t.deepEqual(parseIpvsTimeouts(raw('healthy', 'bal1', 'ipvsTimeouts')), { tcp: 900, tcpfin: 120, udp: 300 });
  t.is(parseIpvsTimeouts(''), undefined);
  t.deepEqual(parseSyncDaemons(raw('healthy', 'bal1', 'syncDaemons')), [{ role: 'master', mcast: 'eth1', syncid: 51 }]);
  t.deepEqual(parseSyncDaemons(raw('healthy', 'bal2', 'syncDaemons')), [{ role: 'backup', mcast: 'eth1', syncid: 51 }]);
  t.deepEqual(parseSyncDaemons(''), []);
  t.deepEqual(parseConnStates('FIN_WAIT 38\nESTABLISHED 2\n'), { FIN_WAIT: 38, ESTABLISHED: 2 });
  t.deepEqual(parseConnStates(''), {});
});

test('parseCheckerData: a whole keepalived_check.data and the filtered lines the probe sends agree', (t) => {
  const whole = parseCheckerData(fixture('bal1-master-check.data'));
  t.deepEqual(whole, [
    {
      addr: '172.28.128.200:80',
      alive: true,
      reals: [
        { addr: '172.28.128.21:80', alive: true, failedCheckers: 0 },
        { addr: '172.28.128.22:80', alive: true, failedCheckers: 0 },
      ],
    },
  ]);
  const filtered = raw('healthy', 'bal1', 'keepalived').split('--- checker\n')[1];
  t.deepEqual(parseCheckerData(filtered), whole);
  const down = parseCheckerData(raw('realdown', 'bal1', 'keepalived').split('--- checker\n')[1]);
  t.deepEqual(down[0].reals.map((r) => [r.addr, r.alive]), [['172.28.128.21:80', false], ['172.28.128.22:80', true]]);
});

test('parseCheckerData on keepalived 2.1.5 (bullseye) and 2.3.3 (trixie, `VS alive`): every service alive with both real servers', (t) => {
  for (const name of ['bal11-bullseye-check.data', 'bal13-trixie-check.data']) {
    const services = parseCheckerData(fixture(name));
    t.deepEqual(services.map((s) => s.addr), [1, 2, 3, 4, 5, 6].map((i) => `172.28.129.20${i}:80`), name);
    for (const s of services) {
      t.true(s.alive, `${name}: ${s.addr} alive`);
      t.deepEqual(s.reals.map((r) => [r.addr, r.alive, r.failedCheckers]), [['172.28.129.21:80', true, 0], ['172.28.129.23:80', true, 0]], `${name}: ${s.addr}`);
    }
  }
});

test('the keepalived dump that leaves a director holds instance and checker state lines only (never the VRRP auth)', (t) => {
  for (const name of ['healthy', 'realdown', 'splitbrain', 'empty']) {
    for (const host of ['bal1', 'bal2']) {
      const out = raw(name, host, 'keepalived');
      t.false(/auth|pass/i.test(out), `${name}/${host}`);
      for (const line of out.split('\n').filter(Boolean)) t.regex(line, /^( VRRP Instance| {3}(State|Priority|Effective priority|Master router|Last transition|RIP|alive|num failed checkers)| VS VIP|--- checker)/);
    }
  }
  const states = parseKeepalivedData(raw('healthy', 'bal1', 'keepalived').split('--- checker')[0], VRRP_FIELDS_WITH_TRANSITION);
  t.like(states[0], { name: 'VI_1', state: 'MASTER', priority: 150, effectivePriority: 150 });
  t.true(states[0].lastTransition! > 1.7e9);
});

test('parseCheckJournal: starts, failures with their reason, removals and additions, dated', (t) => {
  const events = parseCheckJournal(raw('realdown', 'bal1', 'checkJournal'));
  t.deepEqual(events.filter((e) => e.kind === 'start').length, 2);
  const failure = events.find((e) => e.kind === 'failure')!;
  t.like(failure, { real: '172.28.128.21:80', text: 'HTTP_CHECK on service [172.28.128.21]:tcp:80 failed after 1 retries.' });
  const down = events.find((e) => e.kind === 'down')!;
  t.like(down, { real: '172.28.128.21:80', vs: '172.28.128.200:80' });
  t.true(down.at >= failure.at);
  const up = parseCheckJournal(raw('splitbrain', 'bal1', 'checkJournal')).filter((e) => e.kind === 'up');
  t.true(up.some((e) => e.real === '172.28.128.21:80'), 'nginx back: Adding service');
});

// keepalived 2.2.7 on the co-located lab (2026-12-02): a firewall-mark real server is `[ip]:none:0`,
// its service `FWM n` (both lines as seen); a check's failure names where it connects (connect_port):
// that line is built from check_http.c's format, not seen on the lab
const COLOCATED_JOURNAL = [
  '1764665453.000000 node2 Keepalived_healthcheckers[858]: Starting Keepalived v2.2.7 (01/16,2022)',
  '1764665455.100000 node2 Keepalived_healthcheckers[858]: HTTP_CHECK on service [192.168.2.11]:tcp:80 failed after 2 retries.',
  '1764665455.200000 node2 Keepalived_healthcheckers[858]: Removing service [192.168.2.11]:none:0 from VS FWM 1',
  '1764665479.300000 node2 Keepalived_healthcheckers[858]: Adding service [192.168.2.11]:none:0 to VS FWM 4',
].join('\n');

test('parseCheckJournal and checkView: firewall-mark services (co-located) are read too', (t) => {
  const events = parseCheckJournal(COLOCATED_JOURNAL);
  t.like(events.find((e) => e.kind === 'down'), { real: '192.168.2.11:0', vs: 'FWM 1' });
  t.like(events.find((e) => e.kind === 'up'), { real: '192.168.2.11:0', vs: 'FWM 4' });
  t.like(events.find((e) => e.kind === 'failure'), { real: '192.168.2.11:80' });
  const f = { keepalived: { running: true, instances: [], checker: [] }, checkJournal: events } as unknown as Parameters<typeof checkView>[0];
  const fwm1 = checkView(f, 'FWM 1', '192.168.2.11:0', ['192.168.2.11:80']);
  t.like(fwm1, { state: 'down', since: 1764665455.2 });
  t.is(fwm1.lastFailure?.text, 'HTTP_CHECK on service [192.168.2.11]:tcp:80 failed after 2 retries.');
  t.like(checkView(f, 'FWM 4', '192.168.2.11:0', ['192.168.2.11:6443']), { state: 'up', since: 1764665479.3 });
});

test('parseArpSysctls', (t) => {
  const arp = parseArpSysctls(raw('healthy', 'real1', 'arp'));
  t.deepEqual(arp.all, { arp_ignore: 1, arp_announce: 2, rp_filter: 0 });
  t.is(arp.eth1.arp_ignore, 1);
});

// ---------------------------------------------------------------- the report

test('healthy: exit 0, one holder, both real servers up in the table', async (t) => {
  const r = await report('healthy');
  t.deepEqual(r.problems, []);
  t.is(r.exitCode, 0);
  t.like(r.vips[0], { vip: '172.28.128.200', holders: ['bal1'], verdict: 'ok' });
  t.deepEqual(r.vips[0].directors.map((d) => [d.name, d.state, d.effectivePriority]), [['bal1', 'MASTER', 150], ['bal2', 'BACKUP', 100]]);
  t.is(r.services[0].from, 'bal1');
  t.deepEqual(r.services[0].reals.map((x) => [x.name, x.inIpvs, x.check.state]), [['real1', true, 'up'], ['real2', true, 'up']]);
  t.true(r.sync.enabled);
  t.true(r.realservers.every((rs) => rs.checks.every((c) => c.ok)));
  const text = renderStatus(r);
  // separate directors sync by lvsplay's unit (both threads everywhere), not by keepalived's MASTER
  t.regex(text, /IPVS sync \(every director sends its own connections, lvsplay-ipvs-sync\.service\)/);
  t.regex(text, /real1 172\.28\.128\.21:80/);
  t.regex(text, /real2 172\.28\.128\.22:80/);
  t.regex(text, /HEALTHY$/);
});

test('a real server down: exit 2, missing from IPVS with the check failure as the cause, nginx named', async (t) => {
  const r = await report('realdown');
  t.is(r.exitCode, 2);
  const real1 = r.services[0].reals.find((x) => x.name === 'real1')!;
  t.false(real1.inIpvs);
  t.is(real1.check.state, 'down');
  t.regex(real1.note!, /HTTP_GET check failed: HTTP_CHECK on service \[172\.28\.128\.21\]:tcp:80 failed/);
  t.true(r.problems.some((p) => /^real server real1 \(172\.28\.128\.21:80\) is missing from TCP 172\.28\.128\.200:80 on bal1/.test(p)));
  t.true(r.problems.some((p) => /real1: nginx: inactive/.test(p)));
  t.false(r.problems.some((p) => /real2/.test(p)));
  t.regex(renderStatus(r), /real1 172\.28\.128\.21:80 │ NOT IN IPVS/);
});

test('split brain: exit 2, both holders named, the table of the live MASTER shown', async (t) => {
  const r = await report('splitbrain');
  t.is(r.exitCode, 2);
  t.like(r.vips[0], { verdict: 'split brain', holders: ['bal1', 'bal2'] });
  t.true(r.problems.some((p) => p.startsWith('SPLIT BRAIN: VIP 172.28.128.200 is held by 2 directors: bal1 (keepalived not running) and bal2 (keepalived MASTER)')));
  t.is(r.services[0].from, 'bal2');
  t.regex(renderStatus(r), /SPLIT BRAIN — held by bal1 AND bal2/);
});

test('keepalived stopped on the backup: its empty IPVS table is a problem (a takeover would blackhole)', async (t) => {
  const r = await report('empty');
  t.is(r.exitCode, 2);
  t.deepEqual(r.problems, [
    'bal2: keepalived is not running (inactive): keepalived is not running',
    'bal2: virtual service TCP 172.28.128.200:80 is not in its IPVS table: keepalived is not running',
  ]);
  t.is(r.vips[0].directors[1].state, 'down');
});

test('no master, InActConn in DR explained, the sync feed judged, unreachable is 4', async (t) => {
  const model = await labModel();
  const rec = structuredClone(recorded('healthy').recording);
  // bal1 without its VIP: nobody holds it
  rec.bal1.raw!.addresses.stdout = rec.bal1.raw!.addresses.stdout.split('\n').filter((l) => !l.includes('172.28.128.200')).join('\n');
  rec.bal1.raw!.ipvsTable.stdout = rec.bal1.raw!.ipvsTable.stdout.replace(/(Route\s+1\s+0\s+)0/, '$147');
  rec.bal1.raw!.connStates.stdout = 'FIN_WAIT 47\n';
  rec.bal2.raw!.connStates.stdout = '';
  let r = assess(model, observationFromRecording(model, rec));
  t.is(r.vips[0].verdict, 'no master');
  t.true(r.problems.some((p) => p.startsWith('NO MASTER: no director holds VIP 172.28.128.200')));
  t.true(r.notes.some((n) => /director never sees the server's side of the close.*tcpfin timeout \(120 s\)/.test(n)));
  t.is(r.sync.fed, false);
  t.regex(r.sync.text, /NOT fed/);
  rec.real2 = { role: 'realserver', error: 'ssh root@127.0.0.1:2222: connect ECONNREFUSED' };
  r = assess(model, observationFromRecording(model, rec));
  t.is(r.exitCode, 4);
  t.deepEqual(r.unreachable, [{ host: 'real2', error: 'ssh root@127.0.0.1:2222: connect ECONNREFUSED' }]);
});

test('real server checks follow the forwarding method: TUN wants the VIP on tunl0 and a loose rp_filter', async (t) => {
  const inv = await load(LAB, { lvs_services: [{ port: 80, lb_kind: 'TUN' }] });
  const model = clusterFromInventory(inv, (h) => h.vars);
  const rec = recorded('healthy').recording.real1.raw!;
  const facts = observationFromRecording(model, { real1: { role: 'realserver', raw: rec } }).hosts.real1;
  if (!facts.ok || facts.role !== 'realserver') return t.fail();
  const checks = realserverChecks(model, 'real1', facts.facts);
  t.like(checks.find((c) => c.what === 'VIP 172.28.128.200 on tunl0'), { ok: false });
  t.false(checks.some((c) => c.what.includes('on lo')));
});

test('active-active: one VIP view per instance, each with its own holder', async (t) => {
  const model = clusterFromInventory(await load(ACTIVE_ACTIVE), (h) => h.vars);
  const r = assess(model, observationFromRecording(model, recorded('healthy').recording));
  t.is(r.vips.length, model.instances.length);
  t.true(r.vips.length >= 2);
});

test('--watch and --json take an optional value', (t) => {
  t.deepEqual(normaliseArgv(['-i', 'x', '--watch']), ['-i', 'x', '--watch=2']);
  t.deepEqual(normaliseArgv(['--watch', '5', '-i', 'x']), ['--watch=5', '-i', 'x']);
  t.deepEqual(normaliseArgv(['--json', '-i', 'x']), ['--json=-', '-i', 'x']);
  t.deepEqual(normaliseArgv(['--json', 'out.json']), ['--json=out.json']);
  t.deepEqual(normaliseArgv(['--json', '-']), ['--json=-']);
});

test('co-located hosts are read once, as both director and real server, the keepalived dump last', async (t) => {
  const { statusHosts } = await import('../../lib/status/observe.ts');
  const model = clusterFromInventory(await load(COLOCATED), (h) => h.vars);
  const hosts = statusHosts(model);
  t.deepEqual(hosts.map((h) => h.role), model.directors.map(() => 'both'));
  t.is(new Set(hosts.map((h) => h.name)).size, hosts.length, 'one exec per host');
  const rec: Recording = { [hosts[0].name]: { role: 'both', raw: {} } };
  const obs = observationFromRecording(model, rec).hosts[hosts[0].name];
  t.true(obs.ok && 'keepalived' in obs.facts && 'nginxUnit' in obs.facts);
  if (obs.ok) t.is(Object.keys(obs.facts).at(-1), 'keepalived');
});
