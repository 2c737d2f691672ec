// IPVS connection sync (lvs_sync_daemon): both kernel threads — master (sends the connections this
// director forwards) and backup (receives the peers') — run all the time on every director, started
// by a unit of lvsplay's instead of keepalived's `lvs_sync_daemon`.
//
// Why not keepalived's: it switches the threads on every VRRP transition (stop backup + start
// master, and back), and on the lab (Debian 12: keepalived 2.2.7, kernel 6.1) a MASTER→BACKUP flip
// right after a BACKUP→MASTER one — a backup that took over for an instant — left keepalived's VRRP
// process blocked for good in a genetlink recvmsg, waiting for the answer to "stop the master sync
// thread" it had just started: it held the VIP, sent no adverts and answered no signal (a split brain
// until it was SIGKILLed). With both threads always on, no transition touches a sync thread. A
// director's master thread sends only what passes through it, so the one without the VIP sends
// nothing; the kernel does not loop its own multicast back to it.
import type { Task } from '../../lib/types.ts';
import { copy, file, service } from '../../lib/modules/index.ts';
import type { KeepalivedConfig } from './keepalived.ts';
import { IPVS_SYNC_UNIT } from '../../lib/lvs/ipvs-sync-unit.ts';

export { IPVS_SYNC_UNIT };

const UNIT_PATH = `/etc/systemd/system/${IPVS_SYNC_UNIT}`;
const IPVSADM = '/usr/sbin/ipvsadm';

/** The unit: a oneshot that stops whatever threads run (keepalived's, or its own), then starts both. */
export function ipvsSyncUnit(sync: NonNullable<KeepalivedConfig['syncDaemon']>): string {
  const start = (role: string) => `ExecStart=${IPVSADM} --start-daemon ${role} --mcast-interface ${sync.interface} --syncid ${sync.syncid}`;
  return [
    '# Managed by lvsplay (role director, roles/director/ipvs-sync.ts): do not edit.',
    '[Unit]',
    `Description=IPVS connection sync on ${sync.interface}, master and backup threads (syncid ${sync.syncid})`,
    'After=network.target systemd-modules-load.service',
    'Before=keepalived.service',
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    `ExecStartPre=-${IPVSADM} --stop-daemon master`,
    `ExecStartPre=-${IPVSADM} --stop-daemon backup`,
    start('master'),
    start('backup'),
    `ExecStop=-${IPVSADM} --stop-daemon master`,
    `ExecStop=-${IPVSADM} --stop-daemon backup`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/**
 * The director's tasks: the unit, enabled and started (a changed unit is restarted by the handler,
 * after keepalived's own restart, which stops the threads it ran); lvs_sync_daemon false: stopped
 * and removed.
 */
export function ipvsSyncTasks(ka: KeepalivedConfig): Task[] {
  if (!ka.syncDaemon?.byUnit) {
    const why = ka.syncDaemon ? "keepalived's (co-located)" : 'off (lvs_sync_daemon: false)';
    return [
      service({ name: IPVS_SYNC_UNIT, state: 'stopped', enabled: false }, { name: `IPVS sync: ${why}: no unit` }),
      file({ path: UNIT_PATH, state: 'absent' }, { name: `IPVS sync: ${why}: unit removed`, notify: ['reload systemd units'] }),
    ];
  }
  return [
    copy({ content: ipvsSyncUnit(ka.syncDaemon), dest: UNIT_PATH, mode: '0644', owner: 'root', group: 'root' }, { name: `IPVS sync: both threads on ${ka.syncDaemon.interface} (${IPVS_SYNC_UNIT})`, notify: ['reload systemd units', 'restart IPVS sync'] }),
    service({ name: IPVS_SYNC_UNIT, state: 'started', enabled: true }, { name: 'IPVS sync: running' }),
  ];
}
