// lvs_track: tracked checks in the director's keepalived.conf (vrrp_script + track_script), their
// refusals, and the drill's `service` mode. Off by default: without lvs_track the director renders
// exactly the keepalived.conf it rendered before the option existed (fixtures/keepalived/*.conf,
// rendered from inventory/lab.yml and inventory/colocated.yml before lvs_track was added; since then
// only the sync lines changed: lvsplay, not keepalived, runs the IPVS sync threads).
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { DRILL_MODES, MODES, deployedService, failoverTheory, modeProblem, trackedService } from '../../lib/drill/modes.ts';
import { instanceScripts, parseKeepalivedConf } from '../../lib/drill/observe.ts';
import { serviceUnitOf } from '../../lib/lvs/track.ts';
import { buildCluster } from '../../lib/lvs/index.ts';
import { ConfigError } from '../../lib/types.ts';
import { ACTIVE_ACTIVE, ROOT, byModule, labInput, renderDirector } from './lvs-fixtures.ts';

const FIXTURES = path.join(ROOT, 'test/unit/fixtures/keepalived');
const COLOCATED = path.join(ROOT, 'inventory/colocated.yml');
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name), 'utf8');

const svc = { name: 'chk_nginx', kind: 'service', unit: 'nginx' };
const EXAMPLE = [
  svc,
  { name: 'chk_port', kind: 'tcp', port: 8080, weight: -60, interval: 1, fall: 3 },
  { name: 'chk_health', kind: 'http', url: 'http://127.0.0.1:8080/healthz', timeout: 2 },
  { name: 'chk_custom', command: '/usr/local/bin/check-db --port 5432' },
];

// ------------------------------------------------------------------ off by default

for (const [file, host, name] of [
  [undefined, 'bal1', 'lab-bal1.conf'],
  [undefined, 'bal2', 'lab-bal2.conf'],
  [COLOCATED, 'node1', 'colocated-node1.conf'],
] as const) {
  test(`without lvs_track, ${name.replace('.conf', '')} renders byte for byte as before`, async (t) => {
    // lvs_sync_refresh 0: the fixtures predate its preempt_delay (roles-director tests cover that)
    const { conf } = await renderDirector(host, { lvs_sync_refresh: 0 }, file);
    t.is(conf, fixture(name));
    t.notRegex(conf, /vrrp_script|track_script/);
    const { conf: empty } = await renderDirector(host, { lvs_sync_refresh: 0, lvs_track: [] }, file);
    t.is(empty, conf, 'lvs_track: [] is the same as not set');
  });
}

test('without lvs_track the tasks are unchanged: no extra package', async (t) => {
  const { tasks } = await renderDirector('bal1');
  t.deepEqual(byModule(tasks, 'pkg').map((x) => x.args), [{ names: ['keepalived', 'ipvsadm'] }]);
});

// ------------------------------------------------------------------ rendering

test('vrrp_script blocks in global scope, as root, with absolute commands; track_script in the instance', async (t) => {
  const { conf } = await renderDirector('bal1', { lvs_track: EXAMPLE });
  t.true(conf.includes(`
# the local unit nginx is active; FAULT (VIP released) while it is down
vrrp_script chk_nginx {
    script "/usr/bin/systemctl is-active --quiet nginx"
    user root
    interval 2
    timeout 1
    fall 2
    rise 2
    weight 0
}

# the local TCP port 8080 accepts a connection; priority -60 while it is down
vrrp_script chk_port {
    script "/usr/bin/bash -c </dev/tcp/127.0.0.1/8080"
    user root
    interval 1
    timeout 1
    fall 3
    rise 2
    weight -60
}

# http://127.0.0.1:8080/healthz answers 2xx; FAULT (VIP released) while it is down
vrrp_script chk_health {
    script "/usr/bin/curl -fsL --max-redirs 0 -o /dev/null -m 2 http://127.0.0.1:8080/healthz"
    user root
    interval 2
    timeout 2
    fall 2
    rise 2
    weight 0
}

# the command exits 0; FAULT (VIP released) while it is down
vrrp_script chk_custom {
    script "/usr/local/bin/check-db --port 5432"
    user root
    interval 2
    timeout 1
    fall 2
    rise 2
    weight 0
}
`));
  t.true(conf.includes(`        172.28.128.200/32 dev eth1
    }
    track_script {
        chk_nginx
        chk_port
        chk_health
        chk_custom
    }
}`));
  // the scripts come before the instances that track them, after global_defs
  t.true(conf.indexOf('vrrp_script chk_nginx') > conf.indexOf('global_defs {'));
  t.true(conf.indexOf('vrrp_script chk_custom') < conf.indexOf('vrrp_instance VI_1'));
  t.regex(conf, /^ {4}# the tracked checks \(vrrp_script below\) run as root/m);
  t.notRegex(conf, /no scripts are configured/);
  t.regex(conf, /^ {4}enable_script_security$/m);
  t.regex(conf, /^ {4}script_user nobody$/m);
  t.is((conf.match(/{/g) ?? []).length, (conf.match(/}/g) ?? []).length, 'braces balance');
});

test('every VRRP instance tracks every check (active-active: 2 instances)', async (t) => {
  const { conf } = await renderDirector('bal1', { lvs_track: [svc] }, ACTIVE_ACTIVE);
  const instances = conf.split(/^vrrp_instance /m).slice(1);
  t.true(instances.length >= 2);
  for (const inst of instances) t.regex(inst, /^ {4}track_script {\n {8}chk_nginx\n {4}}$/m);
  t.is(conf.match(/^vrrp_script /gm)?.length, 1, 'the script itself once');
});

test('an http check installs curl; service, tcp and command checks need nothing more', async (t) => {
  const pkgs = async (lvs_track: unknown[]) => byModule((await renderDirector('bal1', { lvs_track })).tasks, 'pkg').map((x) => x.args);
  t.deepEqual(await pkgs(EXAMPLE), [{ names: ['keepalived', 'ipvsadm'] }, { names: ['curl'] }]);
  t.deepEqual(await pkgs([svc, EXAMPLE[1]!, EXAMPLE[3]!]), [{ names: ['keepalived', 'ipvsadm'] }]);
});

test('a weight that hands the VIP over is accepted (lab: 150 / 100)', (t) => {
  for (const weight of [-51, -253, 51, 153, 0]) t.notThrows(() => buildCluster(labInput({ lvs_track: [{ ...svc, weight }] })), String(weight));
});

// ------------------------------------------------------------------ refusals

const F = 'inventory/test.yml: ';
const refusals: [string, Record<string, unknown>, string][] = [
  ['a relative command (seed 003)', { lvs_track: [{ name: 'chk_nginx', command: 'systemctl status nginx' }] },
    'lvs_track[0].command = "systemctl status nginx": keepalived runs the first word without a shell and resolves a relative one by path search, with a warning: give its absolute path (e.g. /usr/bin/systemctl)'],
  ['both command and kind', { lvs_track: [{ ...svc, command: '/usr/bin/systemctl is-active nginx' }] },
    'lvs_track[0].command = "/usr/bin/systemctl is-active nginx": give either command or kind (here service), not both'],
  ['neither command nor kind', { lvs_track: [{ name: 'chk_nginx' }] },
    'lvs_track[0].kind = (not set): chk_nginx needs a kind (service, tcp, http) or a command (an absolute path and its arguments)'],
  ['a duplicate name', { lvs_track: [svc, { ...svc, unit: 'haproxy' }] },
    'lvs_track[1].name = "chk_nginx": repeats lvs_track[0].name: keepalived knows each vrrp_script by its name'],
  ['a name keepalived reads as two words', { lvs_track: [{ ...svc, name: 'chk nginx' }] },
    'lvs_track[0].name = "chk nginx": a check name is a letter, then at most 31 letters, digits, `_`, `.` or `-` (keepalived reads it as one word)'],
  ['a weight out of keepalived\'s range', { lvs_track: [{ ...svc, weight: 300 }] },
    'lvs_track[0].weight = 300: keepalived takes weights from -253 to 253 (0: fault)'],
  ['a negative weight smaller than the priority gap', { lvs_track: [{ ...svc, weight: -40 }] },
    'lvs_track[0].weight = -40: with the check down, bal1 has priority 110 in VI_1 (172.28.128.200), still above bal2\'s 100: the MASTER keeps the VIP with its check failing — use a weight of -51 … -253, or 0 (fault: the instance leaves MASTER as soon as the check is down)'],
  ['a negative weight equal to the gap (a tie)', { lvs_track: [{ ...svc, weight: -50 }] },
    'lvs_track[0].weight = -50: with the check down, bal1 has priority 100 in VI_1 (172.28.128.200), equal to bal2\'s 100: the MASTER keeps the VIP with its check failing — use a weight of -51 … -253, or 0 (fault: the instance leaves MASTER as soon as the check is down)'],
  ['a positive weight smaller than the gap', { lvs_track: [{ ...svc, weight: 30 }] },
    'lvs_track[0].weight = 30: with the check down, bal1 has priority 150 in VI_1 (172.28.128.200), still above bal2\'s 130: the MASTER keeps the VIP with its check failing — use a weight of 51 … 153, or 0 (fault: the instance leaves MASTER as soon as the check is down)'],
  ['a positive weight clamped to 254 on both', { lvs_track: [{ ...svc, weight: 200 }] },
    'lvs_track[0].weight = 200: with every check up, bal1 (150) and bal2 (100) both reach keepalived\'s ceiling of 254 in VI_1 (172.28.128.200): equal priorities leave the election to the interface address — use a weight of 51 … 153, or 0 (fault: the instance leaves MASTER as soon as the check is down)'],
  ['a quote in a command', { lvs_track: [{ name: 'c', command: '/usr/local/bin/check "db"' }] },
    'lvs_track[0].command = "/usr/local/bin/check \\"db\\"": contains "\\"", which keepalived reads inside a script string (quotes, escapes, `#` and `!` comments, braces, ${} substitution; whitespace splits words) and lvsplay does not quote: put the command in a script file and track that file\'s path'],
  ['a $ in a command', { lvs_track: [{ name: 'c', command: '/usr/local/bin/check $HOME' }] },
    'lvs_track[0].command = "/usr/local/bin/check $HOME": contains "$", which keepalived reads inside a script string (quotes, escapes, `#` and `!` comments, braces, ${} substitution; whitespace splits words) and lvsplay does not quote: put the command in a script file and track that file\'s path'],
  ['two spaces in a command', { lvs_track: [{ name: 'c', command: '/usr/local/bin/check  --x' }] },
    'lvs_track[0].command = "/usr/local/bin/check  --x": separate the words by single spaces (keepalived splits the command at spaces)'],
  ['a kind without its key', { lvs_track: [{ name: 'c', kind: 'service' }] },
    'lvs_track[0].unit = (not set): kind service needs unit'],
  ['another kind\'s key', { lvs_track: [{ name: 'c', kind: 'tcp', port: 80, unit: 'nginx' }] },
    'lvs_track[0].unit = "nginx": is for kind service; this check is kind tcp'],
  ['a URL that is not local', { lvs_track: [{ name: 'c', kind: 'http', url: 'http://10.0.0.1/' }] },
    'lvs_track[0].url = "http://10.0.0.1/": a local URL: http://127.0.0.1[:port]/path (or localhost, or https), without spaces, quotes, backslashes, `#`, `!`, braces or `$`'],
  ['an interval that is not a number', { lvs_track: [{ ...svc, interval: 'x' }] },
    'lvs_track[0].interval = "x": Expected number, received string'],
  ['an unknown kind', { lvs_track: [{ ...svc, kind: 'process' }] },
    'lvs_track[0].kind = "process": unknown check kind; expected one of service, tcp, http'],
  ['a weight in a NAT sync group', { lvs_vips: ['172.28.128.200', '172.28.128.201'], lvs_services: [{ port: 80, lb_kind: 'NAT' }], lvs_nat_gateway: '172.28.128.254', lvs_track: [{ ...svc, weight: -60 }] },
    'lvs_track[0].weight = -60: NAT with several VIPs puts the VRRP instances in a sync group, where keepalived does not apply tracking weights: use weight 0 (fault)'],
];

for (const [name, vars, message] of refusals) {
  test(`refused: ${name}`, (t) => {
    const err = t.throws(() => buildCluster(labInput(vars)), { instanceOf: ConfigError });
    t.is(err!.message, F + message);
  });
}

test('every pair of neighbouring priorities counts, not only MASTER and first backup (150 / 100 / 30)', (t) => {
  const three = (weight: number) =>
    labInput({ lvs_track: [{ ...svc, weight }] }, { bal1: { lvs_priority: 150 }, bal2: { lvs_priority: 100 }, bal3: { lan_ip: '172.28.128.13', lvs_priority: 30 } }, { directors: ['bal1', 'bal2', 'bal3'] });
  const err = t.throws(() => buildCluster(three(-60)), { instanceOf: ConfigError });
  t.is(err!.message, `${F}lvs_track[0].weight = -60: with the check down, bal2 has priority 40 in VI_1 (172.28.128.200), still above bal3's 30: the MASTER keeps the VIP with its check failing — use a weight of -71 … -253, or 0 (fault: the instance leaves MASTER as soon as the check is down)`);
  t.notThrows(() => buildCluster(three(-71)));
});

// ------------------------------------------------------------------ the drill's service mode

const target = { vips: ['172.28.128.200'], lanInterface: 'eth1', service: 'nginx' };
const timers = { advertInt: 1, vrrpVersion: 2 as const, backupPriority: 100, masterPriority: 150 };

test('service mode: stops and starts the tracked unit on the MASTER, stamped first', (t) => {
  t.true(DRILL_MODES.includes('service'));
  t.is(MODES.service.kill(target, { lab: true })!.text, 'date +%s%N; systemctl stop nginx');
  t.is(MODES.service.restore(target, { lab: false })!.text, 'date +%s%N; systemctl start nginx');
  t.false(MODES.service.reconnect);
  t.throws(() => MODES.service.kill({ vips: target.vips, lanInterface: 'eth1' }, { lab: true }), { message: /tracks no service/ });
});

test('service mode is refused before any host is touched when the cluster tracks no service', (t) => {
  t.regex(modeProblem('service', { lab: true, restore: true })!, /^the cluster tracks no service: add an lvs_track entry with kind: service/);
  t.is(modeProblem('service', { lab: true, restore: true, service: 'nginx' }), undefined);
  const none = buildCluster(labInput({ lvs_track: [{ name: 'p', kind: 'tcp', port: 80 }] }));
  t.is(trackedService(none), undefined, 'a tcp check is not a service to stop');
  const m = buildCluster(labInput({ lvs_track: [{ name: 'p', kind: 'tcp', port: 80 }, { ...svc, interval: 3, fall: 4, weight: -60 }] }));
  t.is(trackedService(m), 'nginx');
});

test('the drill reads the tracked checks from the deployed keepalived.conf: the service unit and its timing', async (t) => {
  const tracks = [{ name: 'chk_port', kind: 'tcp', port: 80, weight: -60 }, { ...svc, interval: 3, fall: 4, weight: -60 }];
  const { conf } = await renderDirector('bal1', { lvs_track: tracks });
  const deployed = parseKeepalivedConf(conf);
  const inst = deployed.instances[0]!;
  t.deepEqual(inst.trackScripts, ['chk_port', 'chk_nginx']);
  const scripts = instanceScripts(deployed, inst);
  t.deepEqual(scripts.map((s) => s.script), ['/usr/bin/bash -c </dev/tcp/127.0.0.1/80', '/usr/bin/systemctl is-active --quiet nginx']);
  t.deepEqual(deployedService(scripts), { unit: 'nginx', timing: { intervalS: 3, fall: 4, weight: -60 } });
  t.is(deployedService(instanceScripts(parseKeepalivedConf((await renderDirector('bal1', {})).conf), inst)), undefined, 'no lvs_track: nothing to stop');
  t.is(serviceUnitOf('/usr/bin/systemctl is-active --quiet nginx.service'), 'nginx.service');
  t.is(serviceUnitOf('/usr/bin/systemctl status nginx'), undefined);
  // keepalived's defaults for what a hand-written vrrp_script leaves out
  const hand = parseKeepalivedConf('vrrp_script chk {\n    script "/usr/bin/systemctl is-active --quiet haproxy"\n}\nvrrp_instance VI_1 {\n    track_script {\n        chk\n    }\n}\n');
  t.deepEqual(deployedService(instanceScripts(hand, hand.instances[0]!)), { unit: 'haproxy', timing: { intervalS: 1, fall: 1, weight: 0 } });
});

test('service theory, fault (weight 0): fall × interval, then the graceful takeover (skew)', (t) => {
  const th = failoverTheory({ ...timers, mode: 'service', track: { intervalS: 2, fall: 2, weight: 0 } });
  // skew = (256 − 100)/256 s = 609.375 ms; detection (2−1)·2 … 2·2 s
  t.like(th, { trigger: 'graceful', skewMs: 609.375, takeoverMinMs: 2609.375, takeoverMaxMs: 4609.375, theoryMs: 4609.375, outageMinMs: 609.375, outageMaxMs: 609.375 });
  t.is(th.formula, 'check down after 2×2s (2000 … 4000 ms), then FAULT: priority-0 advert → skew = (256−100)/256 s = 609.4 ms (VRRPv2)');
  t.is(th.theoryMs, 2 * 2 * 1000 + failoverTheory({ ...timers, mode: 'stop' }).theoryMs, 'fall × interval + the stop takeover');
});

test('service theory, negative weight: fall × interval, then a hard takeover; the VIP stays, outage 0', (t) => {
  const th = failoverTheory({ ...timers, mode: 'service', track: { intervalS: 2, fall: 2, weight: -60 } });
  // master_down_interval = 3·1 s + 609.375 ms
  t.like(th, { trigger: 'hard', masterDownMs: 3609.375, takeoverMinMs: 2000 + 2609.375, takeoverMaxMs: 4000 + 3609.375, outageMaxMs: 0 });
  t.is(th.theoryMs, 2 * 2 * 1000 + failoverTheory({ ...timers, mode: 'link' }).theoryMs, 'fall × interval + the hard takeover');
  const delayed = failoverTheory({ ...timers, preemptDelayS: 3, mode: 'service', track: { intervalS: 2, fall: 2, weight: -60 } });
  t.is(delayed.takeoverMaxMs, 4000 + 3000 + 1000 + 3609.375, 'preempt_delay and the first lowered advert come on top');
});

test('service theory without the tracked check is a clear error', (t) => {
  t.throws(() => failoverTheory({ ...timers, mode: 'service' }), { instanceOf: ConfigError, message: /the service mode needs the tracked check/ });
});
