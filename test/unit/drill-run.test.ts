// The pure parts of the live drill: its command line, the kill/restore commands, what it reads on
// the directors (vipwatch.py's log, `ip -o -4 addr`, the deployed keepalived.conf), the interval
// arithmetic behind takeover / failback / split brain, and the before/after comparison.
import test from 'ava';
import { Writable } from 'node:stream';
import { UsageError } from '../../lib/cli.ts';
import { remoteWait } from '../../lib/drill/kill.ts';
import { DRILL_MODES, MODES, modeHelp, modeProblem } from '../../lib/drill/modes.ts';
import {
  deathFromBeats,
  firstChange,
  holdIntervals,
  overlaps,
  parseEpochNs,
  parseKeepalivedConf,
  parseServiceStart,
  parseWatchLog,
  shiftLog,
  vipHolders,
} from '../../lib/drill/observe.ts';
import { parseDrillArgs } from '../../lib/drill/options.ts';
import { drillTargets, profileLabel } from '../../lib/drill/preflight.ts';
import { compareStates, type HostState } from '../../lib/drill/state.ts';
import { fileStamp } from '../../lib/drill/report.ts';
import { createDrillUi } from '../../lib/drill/ui.ts';
import { sh } from '../../lib/shell.ts';
import director from '../../roles/director/index.ts';
import { LAB, byModule, labFacts, load, render, roleVars, validate } from './lvs-fixtures.ts';

// ------------------------------------------------------------------ options

test('options: defaults, comma lists and repeats, dedup in order', (t) => {
  const { drill } = parseDrillArgs(['-i', 'inv.yml']);
  t.deepEqual(drill, { modes: ['stop'], runs: 1, intervalMs: 20, probeTimeoutMs: 300, restore: true, reportsDir: 'reports' });
  const many = parseDrillArgs(['-i', 'x', '--mode', 'kill,link', '--mode', 'stop', '--mode', 'kill', '--runs', '5', '--budget', '1500', '--interval-ms', '50', '--vip', '172.28.128.200']).drill;
  t.deepEqual(many.modes, ['kill', 'link', 'stop']);
  t.is(many.runs, 5);
  t.is(many.budgetMs, 1500);
  t.is(many.intervalMs, 50);
  t.is(many.vip, '172.28.128.200');
});

test('options: bad values are refused with the flag and value named', (t) => {
  const bad: Array<[string[], RegExp]> = [
    [['--mode', 'reboot'], /--mode: unknown mode "reboot"/],
    [['--runs', '0'], /--runs must be an integer from 1 to 100, got "0"/],
    [['--runs', '2.5'], /--runs .* got "2.5"/],
    [['--budget', 'soon'], /--budget must be a number/],
    [['--interval-ms', '1'], /--interval-ms must be a number from 5/],
    [['--vip', 'bal1'], /--vip must be an IPv4 address, got "bal1"/],
    [['--no-restore', '--runs', '2'], /--no-restore .* one mode and one run/],
    [['--no-restore', '--mode', 'stop,kill'], /one mode and one run/],
    [['--check'], /--check does not apply to the drill/],
    [['--limit', 'bal1'], /--limit does not apply/],
    [['extra'], /unexpected argument "extra"/],
  ];
  for (const [argv, message] of bad) {
    const err = t.throws(() => parseDrillArgs(['-i', 'x', ...argv]), { instanceOf: UsageError }, argv.join(' '));
    t.regex(err!.message, message);
  }
});

// ------------------------------------------------------------------ kill modes

const target = { vips: ['172.28.128.200'], lanInterface: 'eth1', service: 'nginx' };

test('kill modes: every command stamps the time first, in the same shell', (t) => {
  for (const [mode, spec] of Object.entries(MODES)) {
    for (const where of [{ lab: false }, { lab: true }]) {
      const kill = spec.kill(target, where);
      const restore = spec.restore(target, where);
      if (kill) t.true(kill.text.includes('date +%s%N'), `${mode} kill`);
      if (restore) t.true(restore.text.startsWith('date +%s%N'), `${mode} restore`);
    }
  }
  t.is(MODES.stop.kill(target, { lab: true })!.text, 'date +%s%N; systemctl stop keepalived');
  t.is(MODES.link.kill(target, { lab: true })!.text, 'date +%s%N; ip link set dev eth1 down');
  t.is(MODES.link.restore(target, { lab: true })!.text, 'date +%s%N; ip link set dev eth1 up');
});

test('kill mode: SIGKILL of every keepalived pid in one kill, stamp between pidof and kill', (t) => {
  const text = MODES.kill.kill(target, { lab: true })!.text;
  const lines = text.split('\n');
  t.regex(lines[0]!, /pidof keepalived\) \|\| .*exit 3/);
  t.is(lines[1], 'date +%s%N');
  t.is(lines[2], 'kill -KILL $pids');
});

test("kill mode restore: stale VIP, IPVS table and keepalived's sync daemons (not lvsplay's unit's) go before keepalived starts", (t) => {
  const lines = MODES.kill.restore({ vips: ['172.28.128.200', '172.28.128.201'], lanInterface: 'eth1' }, { lab: true })!.text.split('\n');
  t.deepEqual(lines, [
    'date +%s%N',
    'ip -4 addr del 172.28.128.200/32 dev eth1 2>/dev/null',
    'ip -4 addr del 172.28.128.201/32 dev eth1 2>/dev/null',
    'ipvsadm -C',
    'systemctl is-active -q lvsplay-ipvs-sync.service || { ipvsadm --stop-daemon master; ipvsadm --stop-daemon backup; } 2>/dev/null',
    'systemctl start keepalived',
  ]);
});

test('poweroff: the lab cuts the power itself; elsewhere sysrq after a fixed delay that the drill adds back', (t) => {
  t.is(MODES.poweroff.kill(target, { lab: true }), undefined);
  t.is(MODES.poweroff.restore(target, { lab: true }), undefined);
  const text = MODES.poweroff.kill(target, { lab: false })!.text;
  t.regex(text, /sleep 0\.3; echo o > \/proc\/sysrq-trigger/);
  t.is(MODES.poweroff.killDelayMs, 300);
  t.true(MODES.poweroff.reconnect);
  t.regex(modeProblem('poweroff', { lab: false, restore: true })!, /--no-restore/);
  t.is(modeProblem('poweroff', { lab: false, restore: false }), undefined);
  t.is(modeProblem('poweroff', { lab: true, restore: true }), undefined);
  t.is(modeProblem('link', { lab: false, restore: true }), undefined);
});

test('the mode table drives the rest: order, help lines, theory, refusals', (t) => {
  t.deepEqual(DRILL_MODES, ['stop', 'kill', 'link', 'poweroff', 'service'], 'sorted by each entry\'s order');
  const help = modeHelp('  ').split('\n');
  t.is(help.length, DRILL_MODES.length);
  DRILL_MODES.forEach((m, i) => t.true(help[i]!.includes(MODES[m].help), m));
  const timers = { advertInt: 1, vrrpVersion: 2 as const, backupPriority: 50 };
  t.is(MODES.stop.theory({ ...timers, mode: 'stop' }).trigger, 'graceful');
  t.is(MODES.kill.theory({ ...timers, mode: 'kill', crashCleanup: true }).outageMaxMs, 3804.6875, 'the crash cleanup removes the VIP: a hard failure');
  t.is(MODES.kill.theory({ ...timers, mode: 'kill' }).outageMaxMs, 0, 'no crash cleanup on the master: the VIP stays, no outage expected');
  t.is(MODES.link.theory({ ...timers, mode: 'link' }).outageMaxMs, 3804.6875);
  t.true(DRILL_MODES.every((m) => m === 'poweroff' || m === 'service' || MODES[m].refuse === undefined));
});

test('remoteWait: a bounded loop around the test', (t) => {
  t.is(remoteWait(sh`test -e /x`, 2, 0.5).text, 'i=0; until test -e /x; do i=$((i+1)); [ "$i" -ge 4 ] && exit 1; sleep 0.5; done');
});

// ------------------------------------------------------------------ what the drill reads

test('parseEpochNs: 19 digits → ms with µs kept; anything else throws', (t) => {
  t.is(parseEpochNs('1763764205123456789\n'), 1763764205123.456);
  t.throws(() => parseEpochNs('%N\n'), { message: /expected nanoseconds/ });
  t.throws(() => parseEpochNs(''), { message: /expected nanoseconds/ });
});

test('parseServiceStart: realtime now − (monotonic now − the unit\'s monotonic start)', (t) => {
  // started at monotonic 30 s; now monotonic 45.5 s and realtime 1e12 ms + 100 s → started 1e12 + 84.5 s
  t.is(parseServiceStart('30000000\n45500000000 1000000100000000000\n'), 1e12 + 84_500);
  t.is(parseServiceStart('0\n45500000000 1000000100000000000\n'), undefined, 'never started');
  t.throws(() => parseServiceStart('[not set]\n'), { message: /service start: cannot read/ });
});

const WATCH = `vipwatch v=1 mode=watch pid=812
state t_ns=1000000000000000000 vip=172.28.128.200 held=1 initial=1
link t_ns=1000000000000000000 dev=eth1 up=1 initial=1
state t_ns=1000000002000000000 vip=172.28.128.200 held=0 initial=0
link t_ns=1000000002000100000 dev=eth1 up=0 initial=0
state t_ns=1000000009000000000 vip=172.28.128.200 held=1 initial=0
end t_ns=1000000012000000000 reason=signal
state t_ns=1000000013000000000 vip=172.28.128.200 held=0 initial=0`; // cut off: no newline

test('parseWatchLog: records, times in ms, a cut-off last line dropped', (t) => {
  const log = parseWatchLog(`${WATCH}`);
  t.is(log.pid, 812);
  t.deepEqual(log.states.map((s) => [s.t - 1e12, s.held, s.initial]), [[0, true, true], [2000, false, false], [9000, true, false]]);
  t.deepEqual(log.links.map((l) => [Math.round((l.t - 1e12) * 1000) / 1000, l.up]), [[0, true], [2000.1, false]]);
  t.deepEqual(log.end, { t: 1e12 + 12000, reason: 'signal' });
  t.throws(() => parseWatchLog('state vip=1.2.3.4 held=1 initial=0\n', 'bal1:log'), { message: /bal1:log:1: state record without t_ns/ });
});

test('holdIntervals, overlaps, firstChange: a kill-mode split brain', (t) => {
  const shift = (x: number) => x - 1e12;
  const master = shiftLog(parseWatchLog(`${WATCH}\n`), shift); // held 0–2000, 9000–13000 (the last line now counts)
  const backup = shiftLog(
    parseWatchLog(
      [
        'state t_ns=1000000000000000000 vip=172.28.128.200 held=0 initial=1',
        'state t_ns=1000000001000000000 vip=172.28.128.200 held=1 initial=0',
        'state t_ns=1000000010000000000 vip=172.28.128.200 held=0 initial=0',
        '',
      ].join('\n'),
    ),
    shift,
  );
  const m = holdIntervals([master], '172.28.128.200');
  const b = holdIntervals([backup], '172.28.128.200');
  t.deepEqual(m, [{ from: 0, to: 2000 }, { from: 9000, to: 13000 }]);
  t.deepEqual(b, [{ from: 1000, to: 10000 }]);
  t.deepEqual(overlaps(m, b), [{ from: 1000, to: 2000 }, { from: 9000, to: 10000 }]);
  t.is(firstChange([backup], '172.28.128.200', true, 500), 1000);
  t.is(firstChange([master], '172.28.128.200', true, 0), 9000, 'initial states are not changes');
  t.is(firstChange([master], '172.28.128.200', true, 0, 5000), undefined);
  t.deepEqual(holdIntervals([master], '10.0.0.1'), []);
});

test('holdIntervals: a power cut ends what was held; the log after the reboot continues', (t) => {
  const after = parseWatchLog('state t_ns=1000000030000000000 vip=172.28.128.200 held=1 initial=1\n');
  const shifted = shiftLog(after, (x) => x - 1e12);
  t.deepEqual(holdIntervals([shifted], '172.28.128.200', { knownBefore: { at: 0, held: true }, deadAt: 5000 }), [
    { from: 0, to: 5000 },
    { from: 30000 },
  ]);
  t.deepEqual(overlaps([{ from: 30000 }], [{ from: 6000 }]), [{ from: 30000 }], 'open intervals stay open');
});

test('deathFromBeats: between the last answer (host clock → client clock) and the next beat reaching the host', (t) => {
  const ns = (ms: number) => String(BigInt(ms) * 1_000_000n + 1_000_000_000_000_000_000n);
  // the host's clock runs 500 ms ahead of the client's; round trips of 4 ms; beats every 20 ms
  const log = parseWatchLog(
    [
      `sample sent_ns=${ns(0)} remote_ns=${ns(502)} received_ns=${ns(4)}`,
      `sample sent_ns=${ns(20)} remote_ns=${ns(522)} received_ns=${ns(24)}`,
      `silent after_ns=${ns(20)} next_ns=${ns(40)}`,
      '',
    ].join('\n'),
  );
  const d = deathFromBeats(log, 500)!;
  // alive at 22 (client clock), dead by 40 + 2 = 42
  t.is(Math.round((d.at - 1e12) * 1000) / 1000, 32);
  t.is(Math.round(d.errorMs * 1000) / 1000, 10);
  t.is(deathFromBeats(parseWatchLog(`sample sent_ns=${ns(0)} remote_ns=${ns(502)} received_ns=${ns(4)}\n`), 500), undefined, 'no silence: the host never died');
});

test('vipHolders: from `ip -o -4 addr show`, on any interface', (t) => {
  const bal1 = [
    '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever',
    '2: eth0    inet 10.0.2.15/24 brd 10.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever',
    '3: eth1    inet 172.28.128.11/24 brd 172.28.128.255 scope global eth1\\       valid_lft forever preferred_lft forever',
    '3: eth1    inet 172.28.128.200/32 scope global eth1\\       valid_lft forever preferred_lft forever',
  ].join('\n');
  const bal2 = '3: eth1    inet 172.28.128.12/24 brd 172.28.128.255 scope global eth1\\       valid_lft forever preferred_lft forever\n';
  t.deepEqual(vipHolders({ bal1, bal2 }, ['172.28.128.200', '172.28.128.201']), { '172.28.128.200': ['bal1'], '172.28.128.201': [] });
  t.deepEqual(vipHolders({ bal1, bal2: bal1 }, ['172.28.128.200']), { '172.28.128.200': ['bal1', 'bal2'] });
  t.deepEqual(vipHolders({ bal1: bal1.replace('172.28.128.200/32', '172.28.128.2000/32') }, ['172.28.128.200'])['172.28.128.200'], []);
});

test('parseKeepalivedConf: reads the config the director role renders (default and fast profiles)', async (t) => {
  for (const [extra, version, advert] of [[{}, 2, 1], [{ lvs_profile: 'fast' }, 3, 0.1]] as const) {
    const inv = await load(LAB, extra);
    validate(inv, director, extra);
    const priorities: number[] = [];
    for (const host of ['bal1', 'bal2']) {
      const vars = roleVars(inv, director, host, extra, labFacts(inv, host));
      const [tpl] = byModule(director.tasks(vars as never), 'template');
      const conf = await render(director, vars, tpl!);
      const parsed = parseKeepalivedConf(conf);
      t.is(parsed.vrrpVersion, version);
      t.is(parsed.instances.length, 1);
      t.like(parsed.instances[0], { name: 'VI_1', interface: 'eth1', advertInt: advert, vips: ['172.28.128.200'] });
      t.is(typeof parsed.instances[0]!.priority, 'number', host);
      priorities.push(parsed.instances[0]!.priority!);
    }
    t.true(priorities[0]! > priorities[1]!, 'bal1 is the preferred MASTER');
  }
});

test('parseKeepalivedConf: comments and virtual_server blocks are not instances', (t) => {
  const conf = `global_defs {\n  vrrp_version 3 # comment { }\n}\nvrrp_instance VI_9 {\n  interface ens4\n  priority 77\n  advert_int 0.5\n  virtual_ipaddress {\n    10.0.0.5/32 dev ens4\n    10.0.0.6\n  }\n}\nvirtual_server 10.0.0.5 80 {\n  priority 5\n}\n`;
  t.deepEqual(parseKeepalivedConf(conf), { vrrpVersion: 3, instances: [{ name: 'VI_9', interface: 'ens4', priority: 77, advertInt: 0.5, vips: ['10.0.0.5', '10.0.0.6'] }] });
});

// ------------------------------------------------------------------ before / after

const state = (addr: string, over: Partial<HostState> = {}): HostState => ({ addr, keepalived: 'active', linkUp: true, ipvs: ['-A -t 172.28.128.200:80 -s rr'], ...over });
const HELD = '3: eth1    inet 172.28.128.200/32 scope global eth1\n';

test('compareStates: as found → no problems; each kind of leftover is named', (t) => {
  const before = { bal1: state(HELD), bal2: state('') };
  t.deepEqual(compareStates(before, { bal1: state(HELD), bal2: state('') }, ['172.28.128.200']), []);
  const problems = compareStates(before, { bal1: state(HELD, { keepalived: 'failed', linkUp: false }), bal2: state(HELD, { ipvs: [] }) }, ['172.28.128.200']);
  t.is(problems.length, 4);
  t.regex(problems[0]!, /172\.28\.128\.200: held by bal1, bal2, before the drill by bal1/);
  t.regex(problems[1]!, /bal1: keepalived is failed, was active/);
  t.regex(problems[2]!, /bal1: LAN link is down, was up/);
  t.regex(problems[3]!, /bal2: IPVS rules differ/);
  t.deepEqual(compareStates(before, { bal1: state(HELD) }, ['172.28.128.200']).at(-1), 'bal2: no state read after the drill');
  // a real server its health check had taken out before the drill and put back since: as found
  const reals = (...ips: string[]) => ['-A -f 4 -s rr', ...ips.map((ip) => `-a -f 4 -r ${ip}:0 -g -w 1`)];
  const ipvs = (rules: string[]) => ({ bal1: state(HELD, { ipvs: rules }), bal2: state('') });
  t.deepEqual(compareStates(ipvs(reals('10.0.0.1', '10.0.0.2')), ipvs(reals('10.0.0.1', '10.0.0.2', '10.0.0.3')), ['172.28.128.200']), []);
  t.regex(compareStates(ipvs(reals('10.0.0.1', '10.0.0.2')), ipvs(reals('10.0.0.1')), ['172.28.128.200'])[0]!, /bal1: IPVS rules differ/, 'one missing after the drill is a problem');
  t.regex(compareStates(ipvs(reals('10.0.0.1')), ipvs(['-A -f 5 -s rr', ...reals('10.0.0.1')]), ['172.28.128.200'])[0]!, /bal1: IPVS rules differ/, 'a service more is a problem');
});

// ------------------------------------------------------------------ targets, labels

test('drillTargets: the lab inventory → first VIP, port 80, the client; bad --vip named', async (t) => {
  const inv = await load(LAB);
  const tg = drillTargets(inv);
  t.is(tg.vip, '172.28.128.200');
  t.is(tg.port, 80);
  t.is(tg.client, 'client');
  t.throws(() => drillTargets(inv, '172.28.128.99'), { message: /--vip 172\.28\.128\.99 is not a VIP of the cluster \(lvs_vips: 172\.28\.128\.200\)/ });
});

test('profileLabel and fileStamp', (t) => {
  t.is(profileLabel(2, 1), 'default');
  t.is(profileLabel(3, 0.1), 'fast');
  t.is(profileLabel(3, 0.3), 'vrrpv3/0.3s');
  t.is(fileStamp(new Date('2025-11-21T22:30:05.123Z')), '2025-11-21T22-30-05Z');
});

// ------------------------------------------------------------------ the progress view

function sink() {
  let text = '';
  const out = new Writable({ write: (chunk, _enc, cb) => ((text += chunk.toString()), cb()) }) as unknown as NodeJS.WritableStream;
  return { out, text: () => text };
}

const feed = (ui: ReturnType<typeof createDrillUi>, failAt?: string) => {
  const run = { mode: 'stop' as const, index: 1, of: 1, profile: 'default' };
  ui.onEvent({ type: 'preflight:start' });
  ui.onEvent({ type: 'phase:start', phase: 'preflight', title: 'preflight: 172.28.128.200:80' });
  ui.onEvent({ type: 'phase:end', phase: 'preflight', status: 'done', detail: '172.28.128.200 on bal1' });
  ui.onEvent({ type: 'run:start', run });
  for (const phase of ['start', 'kill', 'takeover', 'restore', 'failback', 'collect'] as const) {
    ui.onEvent({ type: 'phase:start', run, phase, title: `${phase} title` });
    if (phase === failAt) {
      ui.onEvent({ type: 'phase:end', run, phase, status: 'failed', detail: 'it broke' });
      ui.onEvent({ type: 'run:end', run, summary: 'failed', failed: 'it broke' });
      return;
    }
    ui.onEvent({ type: 'phase:end', run, phase, status: 'done', detail: `${phase} detail` });
  }
  ui.onEvent({ type: 'run:end', run, summary: 'outage 1.00 s' });
};

test('ui, lines: one line per finished phase, prefixed by the run', async (t) => {
  const s = sink();
  const ui = createDrillUi({ out: s.out, mode: 'lines' });
  feed(ui);
  await ui.done();
  t.regex(s.text(), /^preflight ok: 172\.28\.128\.200 on bal1$/m);
  t.regex(s.text(), /^\[stop 1\/1 \(default\)\] takeover ok: takeover detail$/m);
  t.regex(s.text(), /^\[stop 1\/1 \(default\)\] outage 1\.00 s$/m);
});

test('ui, listr2 (test renderer): every phase shown; a failed run ends its remaining phases instead of hanging', async (t) => {
  for (const failAt of [undefined, 'takeover']) {
    const s = sink();
    const ui = createDrillUi({ out: s.out, mode: 'test' });
    feed(ui, failAt);
    await ui.done();
    t.regex(s.text(), /preflight: 172\.28\.128\.200 on bal1/);
    t.regex(s.text(), /kill: kill detail/);
    if (failAt) t.regex(s.text(), /takeover: it broke/);
    else t.regex(s.text(), /collect: collect detail/);
  }
});
