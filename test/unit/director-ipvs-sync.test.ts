// lvs_sync_daemon (roles/director/ipvs-sync.ts): both IPVS sync threads from lvsplay's unit, never
// switched by keepalived. The lab tests (30-drill: connections survive the failover and the
// failback; 35-status: the sync view) run the real unit.
import test from 'ava';
import director from '../../roles/director/index.ts';
import { IPVS_SYNC_UNIT, ipvsSyncUnit } from '../../roles/director/ipvs-sync.ts';
import { ROOT, byModule, renderDirector } from './lvs-fixtures.ts';
import path from 'node:path';

const UNIT_PATH = `/etc/systemd/system/${IPVS_SYNC_UNIT}`;

test('the unit: stops whatever threads run, then starts master and backup on the LAN interface with the VRID as syncid', (t) => {
  const unit = ipvsSyncUnit({ interface: 'eth1', instance: 'VI_1', syncid: 51, byUnit: true });
  const lines = unit.split('\n');
  t.deepEqual(lines.filter((l) => /^Exec/.test(l)), [
    'ExecStartPre=-/usr/sbin/ipvsadm --stop-daemon master',
    'ExecStartPre=-/usr/sbin/ipvsadm --stop-daemon backup',
    'ExecStart=/usr/sbin/ipvsadm --start-daemon master --mcast-interface eth1 --syncid 51',
    'ExecStart=/usr/sbin/ipvsadm --start-daemon backup --mcast-interface eth1 --syncid 51',
    'ExecStop=-/usr/sbin/ipvsadm --stop-daemon master',
    'ExecStop=-/usr/sbin/ipvsadm --stop-daemon backup',
  ]);
  for (const l of ['Type=oneshot', 'RemainAfterExit=yes', 'Before=keepalived.service', 'WantedBy=multi-user.target']) t.true(lines.includes(l), l);
});

test('the tasks: the unit (a change reloads systemd and restarts it), running and enabled; keepalived.conf has no lvs_sync_daemon', async (t) => {
  const { tasks, conf } = await renderDirector('bal1');
  const unit = byModule(tasks, 'copy').find((c) => c.args.dest === UNIT_PATH);
  t.truthy(unit);
  t.deepEqual(unit!.notify, ['reload systemd units', 'restart IPVS sync']);
  t.regex(String(unit!.args.content), /--mcast-interface eth1 --syncid 51$/m);
  t.like(byModule(tasks, 'service').find((s) => s.args.name === IPVS_SYNC_UNIT)!.args, { state: 'started', enabled: true });
  t.notRegex(conf, /^\s*lvs_sync_daemon/m);
  const handlers = director.handlers!((await renderDirector('bal1')).vars as never).map((h) => h.name);
  t.true(handlers.indexOf('restart IPVS sync') > handlers.indexOf('restart keepalived'), "after keepalived's restart, which stops the threads an older keepalived ran");
});

test('lvs_sync_daemon false: the unit stopped, disabled and removed', async (t) => {
  const { tasks, conf } = await renderDirector('bal1', { lvs_sync_daemon: false, lvs_sync_refresh: 0 });
  t.like(byModule(tasks, 'service').find((s) => s.args.name === IPVS_SYNC_UNIT)!.args, { state: 'stopped', enabled: false });
  t.like(byModule(tasks, 'file').find((f) => f.args.path === UNIT_PATH)!.args, { state: 'absent' });
  t.false(byModule(tasks, 'copy').some((c) => c.args.dest === UNIT_PATH));
  t.notRegex(conf, /sync/);
});

test("co-located: keepalived's lvs_sync_daemon as before, no unit (with every node sending and receiving, the local health URLs failed there)", async (t) => {
  const { tasks, conf } = await renderDirector('node1', {}, path.join(ROOT, 'inventory/colocated.yml'));
  t.regex(conf, /^\s*lvs_sync_daemon eth1 VI_1$/m);
  t.like(byModule(tasks, 'service').find((s) => s.args.name === IPVS_SYNC_UNIT)!.args, { state: 'stopped', enabled: false });
  t.false(byModule(tasks, 'copy').some((c) => c.args.dest === UNIT_PATH));
  const peers = byModule(tasks, 'copy').find((c) => String(c.args.dest).endsWith('/vrrp-peers.lvsplay'))!;
  t.notRegex(String(peers.args.content), /ipvs sync/);
});
