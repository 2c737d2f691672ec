import path from 'node:path';
import { clusterFromRoleVars, ipv4ConfKey, type ClusterModel } from '../../lib/lvs/index.ts';
import { copy, file, kmod, pkg, service, sysctl, template } from '../../lib/modules/index.ts';
import type { RoleVars, Task } from '../../lib/types.ts';
import { COLOCATION_UNIT, colocationArgs, colocationUnit } from './colocation.ts';
import { crashCleanupTasks } from './crash-cleanup.ts';
import { defaults, type DirectorVars } from './defaults.ts';
import { ipvsSyncTasks } from './ipvs-sync.ts';
import { directorKernelModules, keepalivedConfig, trackPackages, vrrpPeerSettings } from './keepalived.ts';
import { refuseForKeepalivedVersion } from './keepalived-version.ts';
import { colocationMarks } from './library/colocation-marks.ts';

/**
 * The director's packages. site.ts installs them on every director at once (directorPackagesTasks)
 * before the one-at-a-time play, where they are then already there: a fresh cluster does not wait
 * for each director's apt in turn.
 */
function packageTasks(model: ClusterModel, notify: string[]): Task[] {
  return [
    pkg({ names: ['keepalived', 'ipvsadm'] }, { name: 'keepalived and ipvsadm', notify }),
    ...(trackPackages(model).length ? [pkg({ names: trackPackages(model) }, { name: 'what the tracked checks run' })] : []),
    ...(model.colocated.length ? [pkg({ names: ['nftables'] }, { name: 'co-located: nftables' })] : []),
  ];
}

/** The packages alone (no handler: nothing runs yet), refused first as the role would refuse them. */
export function directorPackagesTasks(vars: DirectorVars & RoleVars): Task[] {
  const model = clusterFromRoleVars(vars);
  refuseForKeepalivedVersion(model, vars.inventory_hostname, vars.facts);
  return packageTasks(model, []);
}

export default function tasks(vars: DirectorVars & RoleVars): Task[] {
  const model = clusterFromRoleVars(vars);
  const ka = keepalivedConfig(model, vars.inventory_hostname, vars.facts);
  const nat = model.kinds.includes('NAT');
  const coloc = colocationArgs(model, vars.inventory_hostname, ka.interface);
  return [
    ...packageTasks(model, ['restart keepalived']),
    // before keepalived.conf: its firewall-mark services rely on these marks
    ...(coloc
      ? [
          file({ path: path.posix.dirname(coloc.dest), state: 'directory', mode: '0755' }),
          colocationMarks(coloc, { name: 'co-located: mark only packets no director forwarded' }),
          copy({ content: colocationUnit(coloc.dest), dest: `/etc/systemd/system/${COLOCATION_UNIT}`, mode: '0644' }, { name: 'co-located: the marks at boot', notify: ['reload systemd units'] }),
          service({ name: COLOCATION_UNIT, enabled: true }, { name: 'co-located: the marks at boot: enabled' }),
        ]
      : []),
    ...directorKernelModules(model).map((name) => kmod({ name, persist: true }, { name: `kernel module ${name}` })),
    // IPVS keeps a connection's entry for minutes after its last packet (FIN_WAIT, 2 min, is the
    // last state a DR or TUN director sees). A new connection from a recycled client port that
    // matches an old entry goes to that entry's real server, past the scheduler: if the health
    // check has removed that server, its packets are silently dropped (expire_nodest_conn 0) —
    // the client times out although a healthy server is there; if not, the split drifts from
    // the weights. So: expire such entries and schedule afresh.
    sysctl({ key: 'net.ipv4.vs.expire_nodest_conn', value: 1 }, { name: 'IPVS: reschedule connections of a removed real server' }),
    sysctl({ key: 'net.ipv4.vs.conn_reuse_mode', value: 2 }, { name: 'IPVS: reschedule recycled client ports (DR, TUN: FIN_WAIT too)' }),
    // A connection is synced to the backups on its packets: by default when its count reaches 3,
    // 53, 103… — a keep-alive connection may go minutes between syncs, and a director that comes
    // back and preempts cuts it. Instead: on every state change, and at most every N seconds while
    // packets flow (sync_period 0 leaves only the time rule); the preempt_delay waits for it.
    ...(model.syncRefresh
      ? [
          sysctl({ key: 'net.ipv4.vs.sync_refresh_period', value: model.syncRefresh }, { name: `IPVS sync: every active connection at least every ${model.syncRefresh} s` }),
          sysctl({ key: 'net.ipv4.vs.sync_threshold', value: '3 0' }, { name: 'IPVS sync: by time, not by packet count' }),
        ]
      : []),
    ...(nat
      ? [
          sysctl({ key: 'net.ipv4.ip_forward', value: 1 }, { name: 'NAT: forward' }),
          // One-armed NAT: replies come in and go out on the LAN interface, and the kernel would
          // answer each with an ICMP redirect telling the real server to skip the director — whose
          // un-NAT (source back to the VIP) the client needs.
          ...['all', 'default', ka.interface].map((dev) =>
            sysctl({ key: ipv4ConfKey(dev, 'send_redirects'), value: 0 }, { name: `NAT: no ICMP redirects (${dev})` }),
          ),
        ]
      : []),
    template(
      {
        src: 'keepalived.conf.ejs',
        dest: vars.keepalived_conf ?? defaults.keepalived_conf!,
        mode: '0640',
        owner: 'root',
        group: 'root',
        validate: 'keepalived -t -f %s',
        vars: { ka },
      },
      { name: 'keepalived.conf', notify: ['reload keepalived'] },
    ),
    // both sync threads, never switched by keepalived (why: roles/director/ipvs-sync.ts)
    ...ipvsSyncTasks(ka),
    // after keepalived.conf: written only once that config is in place (see vrrpPeerSettings)
    copy(
      { dest: `${path.posix.dirname(vars.keepalived_conf ?? defaults.keepalived_conf!)}/vrrp-peers.lvsplay`, content: vrrpPeerSettings(ka), mode: '0600', owner: 'root', group: 'root' },
      { name: 'VRRP settings shared by the directors (a change restarts keepalived)', notify: ['restart keepalived'] },
    ),
    // lvs_crash_cleanup: a keepalived that dies uncleanly leaves no VIP or IPVS service behind
    ...crashCleanupTasks(ka, model.crashCleanup),
    service({ name: 'keepalived', state: 'started', enabled: true }, { name: 'keepalived running' }),
  ];
}
