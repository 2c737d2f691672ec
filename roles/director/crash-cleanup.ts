// lvs_crash_cleanup: when keepalived dies without its own cleanup — SIGKILL, the OOM killer, a
// crash, a stop that timed out — its VIPs and IPVS services stay in the kernel. That director keeps
// answering ARP for the VIP and forwarding, the backup takes the VIP too (Master_Down_Interval
// later), and both hold it until someone cleans up: a split brain (the drill's `kill` mode measured
// it). So keepalived.service gets a drop-in whose ExecStopPost= runs a small script after every
// stop; systemd tells it how the unit ended ($SERVICE_RESULT, systemd.exec(5)). After a clean end
// (`success`: `systemctl stop`, the stop half of a restart — keepalived has already removed its
// VIPs, sent its priority-0 advert and removed its services) it does nothing; after any other end
// it removes exactly what this host's keepalived.conf defines: the VIPs on the LAN interface, the
// virtual services (not `ipvsadm -C`), the IPVS sync daemons when keepalived ran them. A reload
// (SIGHUP) does not stop the unit, so it never runs the script.
import path from 'node:path';
import { copy, file } from '../../lib/modules/index.ts';
import { sh, type Command } from '../../lib/shell.ts';
import type { Task } from '../../lib/types.ts';
import type { KeepalivedConfig } from './keepalived.ts';

export const CRASH_CLEANUP_SCRIPT = '/usr/local/sbin/lvsplay-keepalived-crash-cleanup';
export const CRASH_CLEANUP_DROPIN = '/etc/systemd/system/keepalived.service.d/lvsplay-crash-cleanup.conf';
/** What every line the script logs starts with (journalctl -u keepalived shows them). */
export const CRASH_CLEANUP_TAG = 'lvsplay crash cleanup:';

/** ipvsadm's option per kind of virtual service, keyed as `ipvsadm -Ln` names the kind (KeepalivedVirtualServer.ipvsKey). */
const IPVSADM_KIND: Record<string, string> = { TCP: '-t', UDP: '-u', FWM: '-f' };

/** `TCP 172.28.128.200:80` → `-t 172.28.128.200:80`; `FWM 1` → `-f 1`. */
export function ipvsServiceArgs(ipvsKey: string): [string, string] {
  const m = /^(\S+) (\S+)$/.exec(ipvsKey);
  const flag = m ? IPVSADM_KIND[m[1]!] : undefined;
  if (!m || !flag) throw new Error(`crash cleanup: not an IPVS service key (TCP|UDP ADDR:PORT or FWM N): ${JSON.stringify(ipvsKey)}`);
  return [flag, m[2]!];
}

/** The commands that remove what keepalived.conf defines on this host, each logging what it removed. */
export function cleanupCommands(ka: KeepalivedConfig): Command[] {
  const vips = [...new Set(ka.instances.flatMap((i) => i.addresses))];
  return [
    ...vips.map((ip) => sh`ip -4 addr del ${`${ip}/32`} dev ${ka.interface} 2>/dev/null && say ${`removed ${ip}/32 from ${ka.interface}`}`),
    ...ka.virtualServers.map((vs) => sh`ipvsadm -D ${ipvsServiceArgs(vs.ipvsKey)} 2>/dev/null && say ${`removed the IPVS service ${vs.ipvsKey}`}`),
    // kernel threads that outlive keepalived; only when keepalived ran them (co-located; elsewhere
    // lvsplay's unit runs them and they stay: roles/director/ipvs-sync.ts)
    ...(ka.syncDaemon && !ka.syncDaemon.byUnit ? (['master', 'backup'] as const).map((role) => sh`ipvsadm --stop-daemon ${role} 2>/dev/null && say ${`stopped the IPVS sync daemon (${role})`}`) : []),
  ];
}

/** The script ExecStopPost= runs. /bin/sh (dash); always exits 0. */
export function crashCleanupScript(ka: KeepalivedConfig): string {
  return [
    '#!/bin/sh',
    '# Managed by lvsplay (role director, roles/director/crash-cleanup.ts): do not edit.',
    `# Run by systemd after keepalived.service stops (ExecStopPost= in ${CRASH_CLEANUP_DROPIN}).`,
    '# A clean end ($SERVICE_RESULT success): keepalived removed its VIPs and services itself, nothing to do.',
    '# Any other end (SIGKILL, OOM kill, crash, stop timeout): remove what keepalived.conf defines here,',
    '# so this host does not keep the VIP while a backup takes it (split brain).',
    `say() { echo "${CRASH_CLEANUP_TAG} $*"; }`,
    'case "${SERVICE_RESULT:-}" in',
    '  success) say "keepalived ended cleanly (${EXIT_CODE:-?} ${EXIT_STATUS:-?}): nothing to clean up"; exit 0 ;;',
    '  "") say "not run by systemd (no SERVICE_RESULT): nothing done"; exit 0 ;;',
    'esac',
    'say "keepalived ended without its own cleanup (SERVICE_RESULT=$SERVICE_RESULT EXIT_CODE=${EXIT_CODE:-?} EXIT_STATUS=${EXIT_STATUS:-?}): removing its VIPs and IPVS services"',
    ...cleanupCommands(ka).map((c) => c.text),
    'exit 0',
    '',
  ].join('\n');
}

/** The drop-in; `-`: a failing cleanup never marks a clean stop failed. */
export const crashCleanupDropIn = (): string =>
  [
    '# Managed by lvsplay (role director, roles/director/crash-cleanup.ts): do not edit.',
    '# After keepalived stops: remove its VIPs and IPVS services if it ended without its own cleanup.',
    '[Service]',
    `ExecStopPost=-${CRASH_CLEANUP_SCRIPT}`,
    '',
  ].join('\n');

/** The director's tasks for lvs_crash_cleanup: the script, then the drop-in (on), or both removed (off). */
export function crashCleanupTasks(ka: KeepalivedConfig, enabled: boolean): Task[] {
  const units = { notify: ['reload systemd units'] };
  if (!enabled) {
    return [
      file({ path: CRASH_CLEANUP_DROPIN, state: 'absent' }, { name: 'crash cleanup: off (drop-in removed)', ...units }),
      file({ path: CRASH_CLEANUP_SCRIPT, state: 'absent' }, { name: 'crash cleanup: off (script removed)' }),
    ];
  }
  return [
    // the script before the drop-in that names it
    copy({ content: crashCleanupScript(ka), dest: CRASH_CLEANUP_SCRIPT, mode: '0755', owner: 'root', group: 'root' }, { name: 'crash cleanup: the script (VIPs and IPVS services of keepalived.conf)' }),
    file({ path: path.posix.dirname(CRASH_CLEANUP_DROPIN), state: 'directory', mode: '0755' }, { name: 'crash cleanup: keepalived.service.d' }),
    copy({ content: crashCleanupDropIn(), dest: CRASH_CLEANUP_DROPIN, mode: '0644', owner: 'root', group: 'root' }, { name: 'crash cleanup: ExecStopPost= for keepalived.service', ...units }),
  ];
}

/** One read for the drill: exit 0 when systemd has loaded the drop-in (daemon-reload done) and the script is there. */
export const crashCleanupDeployed = (): Command =>
  sh`systemctl show -p ExecStopPost --value keepalived | grep -qF ${CRASH_CLEANUP_SCRIPT} && test -x ${CRASH_CLEANUP_SCRIPT}`;
