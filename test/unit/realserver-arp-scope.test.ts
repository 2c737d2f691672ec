// lvs_arp_scope (issue 9 §5, seed 004): where the real servers set arp_ignore / arp_announce, what a
// switch of scope undoes (lvsplay's own persisted `all` lines, and only those), the sysctl module's
// `state: absent` with `restore`, and the status check's verdict in both scopes. The lab proof
// (a veth into a namespace answered only with `interfaces`) is test/lab/23-arp-scope.test.ts.
import path from 'node:path';
import test from 'ava';
import { buildCluster, clusterFromInventory } from '../../lib/lvs/index.ts';
import { SYSCTL_FILE, decideSysctlAbsent, removeFileValue, sysctl } from '../../lib/modules/sysctl.ts';
import type { Command } from '../../lib/shell.ts';
import { observationFromRecording, type Recording } from '../../lib/status/observe.ts';
import { realserverChecks } from '../../lib/status/assess.ts';
import { ConfigError, type Conn, type ModuleContext, type Task } from '../../lib/types.ts';
import { ARP_TAG, arpPlan, arpTasks } from '../../roles/realserver/arp.ts';
import realserver from '../../roles/realserver/index.ts';
import { LAB, ROOT, byModule, labInput, load, roleVars, validate } from './lvs-fixtures.ts';
import { readFileSync } from 'node:fs';

const COLOCATED = path.join(ROOT, 'inventory/colocated.yml');

async function arpOf(extra: Record<string, unknown> = {}, host = 'real1', file = LAB) {
  const inv = await load(file, extra);
  validate(inv, realserver, extra);
  const tasks = realserver.tasks(roleVars(inv, realserver, host, extra) as never);
  return byModule(tasks, 'sysctl')
    .filter((s) => /arp_/.test(s.args.key))
    .map((s) => (s.args.state === 'absent' ? [s.args.key, 'absent', s.args.restore] : [s.args.key, s.args.value]));
}

// ---------------------------------------------------------------- the var

test('lvs_arp_scope: default all (today), interfaces accepted', (t) => {
  t.is(buildCluster(labInput()).arpScope, 'all');
  t.is(buildCluster(labInput({ lvs_arp_scope: 'interfaces' })).arpScope, 'interfaces');
});

test('lvs_arp_scope: anything else is refused naming file, key, value and the choices', (t) => {
  for (const bad of ['eth1', 'none', 1, true]) {
    const err = t.throws(() => buildCluster(labInput({ lvs_arp_scope: bad })), { instanceOf: ConfigError });
    t.regex(err!.message, /^inventory\/test\.yml: /);
    t.true(err!.message.includes(`lvs_arp_scope = ${JSON.stringify(bad)}: `), err!.message);
    t.regex(err!.message, /expected one of all, interfaces/);
  }
});

test('lvs_arp_scope is a cluster var: directors that disagree are refused', (t) => {
  const err = t.throws(() => buildCluster(labInput({}, { bal2: { lvs_arp_scope: 'interfaces' } })), { instanceOf: ConfigError });
  t.regex(err!.message, /lvs_arp_scope/);
  t.regex(err!.message, /cluster vars must be equal on every director/);
});

test('a bad -e lvs_arp_scope is refused by the role validation, before any host is touched', async (t) => {
  const extra = { lvs_arp_scope: 'lo' };
  const inv = await load(LAB, extra);
  const err = t.throws(() => validate(inv, realserver, extra), { instanceOf: ConfigError });
  t.regex(err!.message, /^inventory\/lab\.yml: lvs_arp_scope = "lo": unknown ARP scope/);
});

// ---------------------------------------------------------------- the plan and the role's tasks

test('every ARP task carries the tag arp (`-t arp` switches the scope alone)', (t) => {
  for (const scope of ['all', 'interfaces'] as const) t.true(arpTasks(scope, 'eth1').every((x) => x.tags?.includes(ARP_TAG)));
});

test('arpPlan: each scope sets its devices and the LAN interface, and undoes the other scope', (t) => {
  t.deepEqual(arpPlan('all', 'eth1'), { set: ['all', 'eth1'], unset: ['lo'] });
  t.deepEqual(arpPlan('interfaces', 'eth1'), { set: ['lo', 'eth1'], unset: ['all'] });
  t.deepEqual(arpPlan('interfaces', 'ens3.100'), { set: ['lo', 'ens3.100'], unset: ['all'] });
});

test('scope all (default): all and eth1 set as before; lo is only undone where lvsplay had set it', async (t) => {
  t.deepEqual(await arpOf(), [
    ['net.ipv4.conf.all.arp_ignore', 1],
    ['net.ipv4.conf.all.arp_announce', 2],
    ['net.ipv4.conf.eth1.arp_ignore', 1],
    ['net.ipv4.conf.eth1.arp_announce', 2],
    ['net.ipv4.conf.lo.arp_ignore', 'absent', 0],
    ['net.ipv4.conf.lo.arp_announce', 'absent', 0],
  ]);
});

test('scope interfaces: lo and eth1 set first, then all undone (never a moment with the LAN side unprotected)', async (t) => {
  t.deepEqual(await arpOf({ lvs_arp_scope: 'interfaces' }), [
    ['net.ipv4.conf.lo.arp_ignore', 1],
    ['net.ipv4.conf.lo.arp_announce', 2],
    ['net.ipv4.conf.eth1.arp_ignore', 1],
    ['net.ipv4.conf.eth1.arp_announce', 2],
    ['net.ipv4.conf.all.arp_ignore', 'absent', 0],
    ['net.ipv4.conf.all.arp_announce', 'absent', 0],
  ]);
});

test('TUN carries the VIP on tunl0: the same scope applies; NAT carries none: no ARP sysctls at all', async (t) => {
  const tun = await arpOf({ lvs_arp_scope: 'interfaces', lvs_services: [{ port: 80, lb_kind: 'TUN' }] });
  t.deepEqual(tun.filter((x) => x[1] !== 'absent').map((x) => x[0]), ['net.ipv4.conf.lo.arp_ignore', 'net.ipv4.conf.lo.arp_announce', 'net.ipv4.conf.eth1.arp_ignore', 'net.ipv4.conf.eth1.arp_announce']);
  t.deepEqual(await arpOf({ lvs_arp_scope: 'interfaces', lvs_services: [{ port: 80, lb_kind: 'NAT' }], lvs_nat_gateway: '172.28.128.250' }), []);
});

test('co-located nodes (director + real server) get the scope from the realserver role; the director role sets no ARP sysctl', async (t) => {
  const arp = await arpOf({ lvs_arp_scope: 'interfaces' }, 'node1', COLOCATED);
  t.deepEqual(arp.filter((x) => x[1] !== 'absent').map((x) => x[0]).slice(0, 2), ['net.ipv4.conf.lo.arp_ignore', 'net.ipv4.conf.lo.arp_announce']);
  t.true(arp.some((x) => x[0] === 'net.ipv4.conf.all.arp_ignore' && x[1] === 'absent'));
  const { default: director } = await import('../../roles/director/index.ts');
  const inv = await load(COLOCATED, { lvs_arp_scope: 'interfaces' });
  const dtasks = director.tasks(roleVars(inv, director, 'node1', { lvs_arp_scope: 'interfaces' }) as never);
  t.false(byModule(dtasks, 'sysctl').some((s) => /arp_/.test(s.args.key)));
});

// ---------------------------------------------------------------- sysctl state: absent

test('removeFileValue: every assignment of the key goes (both spellings), the rest stays as written', (t) => {
  const file = '# lvsplay\nnet.ipv4.conf.all.arp_ignore = 1\nnet.ipv4.conf.eth1.arp_ignore = 1\nnet/ipv4/conf/all/arp_ignore=1\n; note\n';
  t.is(removeFileValue(file, 'net.ipv4.conf.all.arp_ignore'), '# lvsplay\nnet.ipv4.conf.eth1.arp_ignore = 1\n; note\n');
  t.is(removeFileValue('net.ipv4.conf.all.arp_ignore = 1\n', 'net.ipv4.conf.all.arp_ignore'), '');
  t.is(removeFileValue('', 'x.y'), '');
});

test('decideSysctlAbsent: lvsplay undoes only what its file set, and the kernel only while it still runs that value', (t) => {
  const key = 'net.ipv4.conf.all.arp_ignore';
  const mine = 'net.ipv4.conf.all.arp_ignore = 1\nnet.ipv4.conf.eth1.arp_ignore = 1\n';
  const rest = 'net.ipv4.conf.eth1.arp_ignore = 1\n';
  const cases: [string, string | undefined, string | null, ReturnType<typeof decideSysctlAbsent>][] = [
    ['no file: nothing of ours', '1', null, null],
    ['the file does not set it (1 comes from elsewhere): left as found', '1', rest, null],
    ['ours, still running: line removed, kernel back to 0', '1\n', mine, { runtime: { from: '1', to: '0' }, file: { from: mine, to: rest } }],
    ['ours, but someone set 2 since: only the line goes', '2', mine, { file: { from: mine, to: rest } }],
    ['ours, kernel already 0: only the line goes', '0', mine, { file: { from: mine, to: rest } }],
    ['the key is gone (interface removed): only the line goes', undefined, mine, { file: { from: mine, to: rest } }],
  ];
  for (const [name, runtime, content, want] of cases) t.deepEqual(decideSysctlAbsent(key, 0, runtime, content), want, name);
  t.deepEqual(decideSysctlAbsent(key, undefined, '1', mine), { file: { from: mine, to: rest } }, 'without restore the kernel is never touched');
});

/** A host as the sysctl module sees it: /proc/sys values and files, driven through the module's own plan and apply. */
class FakeHost {
  files = new Map<string, string>();
  execs: string[] = [];
  constructor(public runtime: Record<string, string>) {}
  private run(cmd: Command | string) {
    const text = typeof cmd === 'string' ? cmd : cmd.text;
    const unq = text.replace(/'/g, '');
    let m: RegExpExecArray | null;
    if ((m = /^sysctl -n (\S+)$/.exec(unq))) {
      const k = m[1].replace(/\//g, '.');
      return k in this.runtime ? { exitCode: 0, stdout: `${this.runtime[k]}\n`, stderr: '' } : { exitCode: 255, stdout: '', stderr: `sysctl: cannot stat /proc/sys/${k.replace(/\./g, '/')}: No such file or directory` };
    }
    if ((m = /^cat -- (\S+)$/.exec(unq))) {
      const c = this.files.get(m[1]);
      return c === undefined ? { exitCode: 1, stdout: '', stderr: 'No such file' } : { exitCode: 0, stdout: c, stderr: '' };
    }
    this.execs.push(unq);
    if ((m = /^sysctl -w (\S+)=(\S+)$/.exec(unq))) this.runtime[m[1].replace(/\//g, '.')] = m[2];
    else if (!/^mkdir -p -- /.test(unq)) throw new Error(`FakeHost: unexpected ${unq}`);
    return { exitCode: 0, stdout: '', stderr: '' };
  }
  ctx(): ModuleContext {
    const conn = {
      read: async (cmds: Command[]) => cmds.map((c) => this.run(c)),
      exec: async (c: Command | string) => this.run(c),
      put: async (dest: string, content: string | Buffer) => void this.files.set(dest, String(content)),
    } as unknown as Conn;
    return { conn, check: false, log: () => {} } as unknown as ModuleContext;
  }
  /** one converge of `tasks`: the changed task names */
  async converge(tasks: Task[]): Promise<string[]> {
    const changed: string[] = [];
    for (const task of tasks) {
      const change = await task.module.plan(this.ctx(), task.args);
      if (change) {
        await task.module.apply(this.ctx(), task.args, change);
        changed.push(task.name ?? task.args.key);
      }
    }
    return changed;
  }
}

const pristine = () => ({
  'net.ipv4.conf.all.arp_ignore': '0',
  'net.ipv4.conf.all.arp_announce': '0',
  'net.ipv4.conf.lo.arp_ignore': '0',
  'net.ipv4.conf.lo.arp_announce': '0',
  'net.ipv4.conf.eth1.arp_ignore': '0',
  'net.ipv4.conf.eth1.arp_announce': '0',
});
const arpValues = (h: FakeHost) => Object.fromEntries(Object.entries(h.runtime).map(([k, v]) => [k.replace('net.ipv4.conf.', ''), Number(v)]));

test('switching all → interfaces → all through the sysctl module: nothing of lvsplay is left behind, and each converge is then a no-op', async (t) => {
  const host = new FakeHost(pristine());
  t.is((await host.converge(arpTasks('all', 'eth1'))).length, 4, 'a pristine host: all and eth1 set');
  const fileAll = host.files.get(SYSCTL_FILE)!;
  t.is(fileAll, 'net.ipv4.conf.all.arp_ignore = 1\nnet.ipv4.conf.all.arp_announce = 2\nnet.ipv4.conf.eth1.arp_ignore = 1\nnet.ipv4.conf.eth1.arp_announce = 2\n');
  t.deepEqual(await host.converge(arpTasks('all', 'eth1')), [], 'idempotent');

  const changed = await host.converge(arpTasks('interfaces', 'eth1'));
  t.deepEqual(changed, ['lo: answer ARP only for addresses of the interface asked', "lo: ARP from the interface's own address", "all: arp_ignore no longer lvsplay's (lvs_arp_scope: interfaces)", "all: arp_announce no longer lvsplay's (lvs_arp_scope: interfaces)"]);
  t.deepEqual(arpValues(host), { 'all.arp_ignore': 0, 'all.arp_announce': 0, 'lo.arp_ignore': 1, 'lo.arp_announce': 2, 'eth1.arp_ignore': 1, 'eth1.arp_announce': 2 });
  t.is(host.files.get(SYSCTL_FILE), 'net.ipv4.conf.eth1.arp_ignore = 1\nnet.ipv4.conf.eth1.arp_announce = 2\nnet.ipv4.conf.lo.arp_ignore = 1\nnet.ipv4.conf.lo.arp_announce = 2\n');
  t.deepEqual(await host.converge(arpTasks('interfaces', 'eth1')), [], 'idempotent');

  t.is((await host.converge(arpTasks('all', 'eth1'))).length, 4, 'back: all set, lo undone');
  t.deepEqual(arpValues(host), { 'all.arp_ignore': 1, 'all.arp_announce': 2, 'lo.arp_ignore': 0, 'lo.arp_announce': 0, 'eth1.arp_ignore': 1, 'eth1.arp_announce': 2 });
  t.is(host.files.get(SYSCTL_FILE)!.split('\n').sort().join('\n'), fileAll.split('\n').sort().join('\n'), 'the same lines as the first converge left');
});

test('a host whose own config sets all (not lvsplay\'s file): interfaces leaves it as found', async (t) => {
  const host = new FakeHost({ ...pristine(), 'net.ipv4.conf.all.arp_ignore': '1', 'net.ipv4.conf.all.arp_announce': '2' });
  host.files.set('/etc/sysctl.d/99-site.conf', 'net.ipv4.conf.all.arp_ignore = 1\nnet.ipv4.conf.all.arp_announce = 2\n');
  await host.converge(arpTasks('interfaces', 'eth1'));
  t.like(arpValues(host), { 'all.arp_ignore': 1, 'all.arp_announce': 2 });
  t.false(host.execs.some((c) => /all/.test(c)), `no command touched all: ${host.execs.join('; ')}`);
});

test('check mode: the switch is planned (diff shows the removed lines) and nothing is executed', async (t) => {
  const host = new FakeHost({ ...pristine(), 'net.ipv4.conf.all.arp_ignore': '1' });
  host.files.set(SYSCTL_FILE, 'net.ipv4.conf.all.arp_ignore = 1\nnet.ipv4.conf.eth1.arp_ignore = 1\n');
  const task = sysctl({ key: 'net.ipv4.conf.all.arp_ignore', state: 'absent', restore: 0 });
  const change = await task.module.plan(host.ctx(), task.args);
  t.truthy(change);
  t.is(change!.summary, `net.ipv4.conf.all.arp_ignore 1 → 0 (restored), net.ipv4.conf.all.arp_ignore removed from ${SYSCTL_FILE}`);
  t.regex(change!.diff!, /^-net\.ipv4\.conf\.all\.arp_ignore = 1$/m);
  t.deepEqual(host.execs, [], 'planning executes nothing');
});

// ---------------------------------------------------------------- status judges both scopes

const healthy = JSON.parse(readFileSync(path.join(ROOT, 'test/fixtures/status/healthy.json'), 'utf8')) as { recording: Recording };

/** real1's recorded facts with its arp sysctls replaced */
function real1With(arp: Record<string, [number, number]>, scope: 'all' | 'interfaces') {
  const model = buildCluster(labInput({ lvs_arp_scope: scope }));
  const raw = structuredClone(healthy.recording.real1.raw!);
  raw.arp = { ...raw.arp, stdout: Object.entries(arp).flatMap(([dev, [i, a]]) => [`/proc/sys/net/ipv4/conf/${dev}/arp_ignore:${i}`, `/proc/sys/net/ipv4/conf/${dev}/arp_announce:${a}`]).join('\n') + '\n' };
  const obs = observationFromRecording(model, { real1: { role: 'realserver', raw } }).hosts.real1;
  if (!obs.ok || obs.role !== 'realserver') throw new Error('recording did not parse');
  return realserverChecks(model, 'real1', obs.facts).find((c) => c.what.startsWith('arp sysctls'))!;
}

test('status: the effective value (max of all and the LAN interface) is judged, right in both scopes', (t) => {
  const asAll = { all: [1, 2], lo: [0, 0], eth1: [1, 2], eth0: [0, 0] } as Record<string, [number, number]>;
  const asInterfaces = { all: [0, 0], lo: [1, 2], eth1: [1, 2], eth0: [0, 0] } as Record<string, [number, number]>;
  for (const scope of ['all', 'interfaces'] as const) {
    t.like(real1With(asAll, scope), { ok: true, what: 'arp sysctls (eth1)', detail: 'arp_ignore 1, arp_announce 2' }, `scope ${scope}, host set as all`);
    t.like(real1With(asInterfaces, scope), { ok: true, detail: 'arp_ignore 1, arp_announce 2' }, `scope ${scope}, host set as interfaces`);
  }
  const bare = real1With({ all: [0, 0], lo: [1, 2], eth1: [0, 2], eth0: [0, 0] }, 'interfaces');
  t.false(bare.ok);
  t.regex(bare.detail, /^arp_ignore 0, arp_announce 2 — want .* \(lvs_arp_scope interfaces: lvsplay sets lo and eth1; run site\.ts\)$/);
  t.false(real1With({ all: [0, 0], lo: [0, 0], eth1: [0, 0], eth0: [0, 0] }, 'all').ok);
});

test('the lab inventory with -e lvs_arp_scope=interfaces builds the model the status view uses', async (t) => {
  const extra = { lvs_arp_scope: 'interfaces' };
  const inv = await load(LAB, extra);
  t.is(clusterFromInventory(inv, (h) => h.vars).arpScope, 'interfaces');
});
