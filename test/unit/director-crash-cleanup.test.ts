// lvs_crash_cleanup (roles/director/crash-cleanup.ts): the script systemd runs after keepalived
// stops touches only what keepalived.conf defines on this host, and only when keepalived ended
// without its own cleanup; the drill's kill theory follows whether the master has it.
// The script is run here under dash with `ip` and `ipvsadm` replaced by recorders on PATH: a
// fake for the pure logic (which $SERVICE_RESULT acts, which commands with which words); the lab
// test (test/lab/32-kill-cleanup.test.ts) runs the real one.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { failoverTheory } from '../../lib/drill/modes.ts';
import { buildCluster } from '../../lib/lvs/index.ts';
import { ConfigError } from '../../lib/types.ts';
import { CRASH_CLEANUP_DROPIN, CRASH_CLEANUP_SCRIPT, crashCleanupScript, ipvsServiceArgs } from '../../roles/director/crash-cleanup.ts';
import { keepalivedConfig } from '../../roles/director/keepalived.ts';
import director from '../../roles/director/index.ts';
import { ROOT, byModule, labInput, renderDirector } from './lvs-fixtures.ts';

const COLOCATED = path.join(ROOT, 'inventory/colocated.yml');

async function scriptOf(host = 'bal1', extra: Record<string, unknown> = {}, file?: string): Promise<string> {
  const { tasks } = await renderDirector(host, extra, file);
  const copy = byModule(tasks, 'copy').find((c) => c.args.dest === CRASH_CLEANUP_SCRIPT);
  if (!copy) throw new Error('no crash cleanup script among the tasks');
  return String(copy.args.content);
}

/** The script run by dash with recording `ip`/`ipvsadm` (exiting `fakeExit`); the calls and the output. */
function runScript(script: string, env: Record<string, string>, fakeExit = 0): { calls: string[]; out: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lvsplay-cleanup-'));
  try {
    for (const bin of ['ip', 'ipvsadm']) {
      writeFileSync(path.join(dir, bin), `#!/bin/sh\necho "${bin} $*" >>"${dir}/calls"\nexit ${fakeExit}\n`, { mode: 0o755 });
    }
    writeFileSync(path.join(dir, 'calls'), '');
    writeFileSync(path.join(dir, 'script'), script, { mode: 0o755 });
    const out = execFileSync('dash', [path.join(dir, 'script')], { env: { PATH: `${dir}:/usr/bin:/bin`, ...env }, encoding: 'utf8' });
    return { calls: readFileSync(path.join(dir, 'calls'), 'utf8').split('\n').filter(Boolean), out };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const SIGKILL = { SERVICE_RESULT: 'signal', EXIT_CODE: 'killed', EXIT_STATUS: 'KILL' };

test('lab, bal1: after a SIGKILL the script removes the VIP from eth1 and the one virtual service — nothing else (the sync threads are not keepalived\'s)', async (t) => {
  const script = await scriptOf('bal1');
  t.true(script.startsWith('#!/bin/sh\n'));
  t.notRegex(script, /ipvsadm -C|ipvsadm --clear|dev lo\b/, 'never the whole table, never the real-server VIP on lo');
  const { calls, out } = runScript(script, SIGKILL);
  t.deepEqual(calls, [
    'ip -4 addr del 172.28.128.200/32 dev eth1',
    'ipvsadm -D -t 172.28.128.200:80',
  ]);
  t.regex(out, /^lvsplay crash cleanup: keepalived ended without its own cleanup \(SERVICE_RESULT=signal EXIT_CODE=killed EXIT_STATUS=KILL\)/m);
  t.regex(out, /^lvsplay crash cleanup: removed 172\.28\.128\.200\/32 from eth1$/m);
  t.regex(out, /^lvsplay crash cleanup: removed the IPVS service TCP 172\.28\.128\.200:80$/m);
});

test('every unclean end acts (signal, core-dump, oom-kill, timeout, exit-code, watchdog); a clean one or none does nothing', async (t) => {
  const script = await scriptOf('bal2');
  for (const result of ['signal', 'core-dump', 'oom-kill', 'timeout', 'exit-code', 'watchdog', 'protocol', 'resources']) {
    t.is(runScript(script, { SERVICE_RESULT: result }).calls.length, 2, result);
  }
  // `systemctl stop` / the stop half of a restart: keepalived has cleaned up and sent its priority-0 advert
  const clean = runScript(script, { SERVICE_RESULT: 'success', EXIT_CODE: 'exited', EXIT_STATUS: '0' });
  t.deepEqual(clean.calls, []);
  t.regex(clean.out, /^lvsplay crash cleanup: keepalived ended cleanly \(exited 0\): nothing to clean up$/m);
  // by hand, outside systemd
  t.deepEqual(runScript(script, {}).calls, []);
});

test('nothing there to remove (the fakes fail): quiet about it, exit 0 — a failing cleanup never fails the unit', async (t) => {
  const { calls, out } = runScript(await scriptOf('bal1'), SIGKILL, 2);
  t.is(calls.length, 2, 'each removal is tried');
  t.notRegex(out, /removed|stopped/);
});

test('only what keepalived.conf defines: every VIP × service, the NAT gateway, UDP', async (t) => {
  const extra = {
    lvs_vips: ['172.28.128.200', '172.28.128.201'],
    lvs_services: [{ port: 80, lb_kind: 'NAT', check: { type: 'TCP_CHECK' } }, { port: 53, protocol: 'udp', lb_kind: 'NAT', check: { type: 'TCP_CHECK' } }],
    lvs_nat_gateway: '172.28.128.250',
    lvs_sync_daemon: false,
  };
  const { calls } = runScript(await scriptOf('bal1', extra), SIGKILL);
  t.deepEqual(calls, [
    'ip -4 addr del 172.28.128.200/32 dev eth1',
    'ip -4 addr del 172.28.128.250/32 dev eth1',
    'ip -4 addr del 172.28.128.201/32 dev eth1',
    'ipvsadm -D -t 172.28.128.200:80',
    'ipvsadm -D -u 172.28.128.200:53',
    'ipvsadm -D -t 172.28.128.201:80',
    'ipvsadm -D -u 172.28.128.201:53',
  ]);
});

test('co-located: firewall-mark services by mark, the VIP only from the LAN interface (lo keeps the real server\'s)', async (t) => {
  const { calls } = runScript(await scriptOf('node1', {}, COLOCATED), SIGKILL);
  const marks = calls.filter((c) => c.startsWith('ipvsadm -D '));
  t.true(marks.length > 0);
  for (const c of marks) t.regex(c, /^ipvsadm -D -f \d+$/);
  t.deepEqual(calls.filter((c) => c.startsWith('ip ')), ['ip -4 addr del 192.168.2.100/32 dev eth1']);
});

test('IPVS keys as ipvsadm -Ln names them become -t/-u/-f; anything else is an error', (t) => {
  t.deepEqual(ipvsServiceArgs('TCP 172.28.128.200:80'), ['-t', '172.28.128.200:80']);
  t.deepEqual(ipvsServiceArgs('UDP 172.28.128.200:53'), ['-u', '172.28.128.200:53']);
  t.deepEqual(ipvsServiceArgs('FWM 3'), ['-f', '3']);
  for (const bad of ['SCTP 1.2.3.4:5', 'TCP', 'TCP 1.2.3.4:80 x', '']) t.throws(() => ipvsServiceArgs(bad), { message: /not an IPVS service key/ });
});

test('the tasks: the script (0755) before the drop-in, the drop-in reloads systemd; off removes both', async (t) => {
  const on = (await renderDirector('bal1')).tasks;
  const names = on.map((x) => `${x.module.name} ${x.args.dest ?? x.args.path ?? x.args.name ?? ''}`);
  const script = names.indexOf(`copy ${CRASH_CLEANUP_SCRIPT}`);
  const dropin = names.indexOf(`copy ${CRASH_CLEANUP_DROPIN}`);
  t.true(script >= 0 && dropin > script, names.join('\n'));
  t.like(on[script]!.args, { mode: '0755', owner: 'root', group: 'root' });
  t.deepEqual(on[dropin]!.notify, ['reload systemd units']);
  t.is(String(on[dropin]!.args.content).match(/^ExecStopPost=.*$/m)?.[0], `ExecStopPost=-${CRASH_CLEANUP_SCRIPT}`);
  t.regex(String(on[dropin]!.args.content), /^\[Service\]$/m);
  const handlers = director.handlers!((await renderDirector('bal1')).vars as never).map((h) => h.name);
  t.true(handlers.includes('reload systemd units'));

  // -e lvs_crash_cleanup=false arrives as a string
  const off = (await renderDirector('bal1', { lvs_crash_cleanup: 'false' })).tasks;
  t.false(off.some((x) => x.args.dest === CRASH_CLEANUP_SCRIPT || x.args.dest === CRASH_CLEANUP_DROPIN));
  const removed = byModule(off, 'file').filter((x) => x.args.state === 'absent');
  t.deepEqual(removed.map((x) => x.args.path), [CRASH_CLEANUP_DROPIN, CRASH_CLEANUP_SCRIPT]);
  t.deepEqual(removed[0]!.notify, ['reload systemd units']);
});

test('lvs_crash_cleanup: default on; a non-boolean is refused naming the key and the value', (t) => {
  t.true(buildCluster(labInput()).crashCleanup);
  t.false(buildCluster(labInput({ lvs_crash_cleanup: false })).crashCleanup);
  const err = t.throws(() => buildCluster(labInput({ lvs_crash_cleanup: 'sometimes' })), { instanceOf: ConfigError });
  t.regex(err!.message, /lvs_crash_cleanup = "sometimes"/);
});

test('the script follows keepalived.conf: the same VIPs and services the config renders', (t) => {
  const model = buildCluster(labInput({ lvs_vips: ['172.28.128.200', '172.28.128.201'] }, { bal2: { lvs_lan_interface: 'ens4' } }));
  const ka = keepalivedConfig(model, 'bal2', undefined);
  const script = crashCleanupScript(ka);
  t.is(ka.interface, 'ens4');
  for (const i of ka.instances) for (const a of i.addresses) t.true(script.includes(`ip -4 addr del ${a}/32 dev ${ka.interface}`), a);
  for (const vs of ka.virtualServers) t.true(script.includes(`ipvsadm -D ${ipvsServiceArgs(vs.ipvsKey).join(' ')}`), vs.ipvsKey);
});

// ---------------------------------------------------------------- the drill's kill theory

const lab = { advertInt: 1, vrrpVersion: 2 as const, backupPriority: 100, masterPriority: 150 };

test('drill kill: with the crash cleanup on the master a hard failure (outage ≈ Master_Down_Interval, no split brain expected)', (t) => {
  const th = failoverTheory({ ...lab, mode: 'kill', crashCleanup: true });
  const mdi = 3000 + (156 / 256) * 1000;
  t.is(th.trigger, 'hard');
  t.is(th.masterDownMs, mdi);
  t.is(th.outageMaxMs, mdi);
  t.is(th.outageMinMs, mdi - 1000);
  t.regex(th.formula, /^crash cleanup \(ExecStopPost=\) removes the VIP at once: master_down_interval = /);
  // the same figures as a link failure
  t.like(failoverTheory({ ...lab, mode: 'link' }), { outageMinMs: th.outageMinMs, outageMaxMs: th.outageMaxMs, theoryMs: th.theoryMs });
});

test('drill kill: without it (lvs_crash_cleanup false, or not found on the master) no outage and a split brain', (t) => {
  for (const crashCleanup of [false, undefined]) {
    const th = failoverTheory({ ...lab, mode: 'kill', crashCleanup });
    t.is(th.outageMaxMs, 0);
    t.is(th.takeoverMaxMs, 3000 + (156 / 256) * 1000);
    t.regex(th.formula, /VIP stays on the old master .*split brain/);
  }
});
