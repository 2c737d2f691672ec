import { command, service } from '../../lib/modules/index.ts';
import { sh } from '../../lib/shell.ts';
import type { RoleVars, Task } from '../../lib/types.ts';
import type { DirectorVars } from './defaults.ts';
import { IPVS_SYNC_UNIT } from '../../lib/lvs/ipvs-sync-unit.ts';

// A new keepalived.conf is applied by SIGHUP (systemd's reload): the VRRP state and the IPVS
// table survive, so a weight change drops no connection. Only a new package restarts the daemon.
// Handlers run in this order when both are notified: the restart comes last and wins.
export default function handlers(_vars: DirectorVars & RoleVars): Array<Task & { name: string }> {
  return [
    service({ name: 'keepalived', state: 'reloaded' }, { name: 'reload keepalived' }) as Task & { name: string },
    service({ name: 'keepalived', state: 'restarted' }, { name: 'restart keepalived' }) as Task & { name: string },
    // systemd keeps using a changed unit file's old content until daemon-reload
    command({ cmd: sh`systemctl daemon-reload` }, { name: 'reload systemd units' }) as Task & { name: string },
    // after keepalived's restart: a keepalived that ran the sync threads stops them when it ends
    service({ name: IPVS_SYNC_UNIT, state: 'restarted' }, { name: 'restart IPVS sync' }) as Task & { name: string },
  ];
}
