import { command, service } from '../../lib/modules/index.ts';
import { sh } from '../../lib/shell.ts';
import type { RoleVars, Task } from '../../lib/types.ts';
import type { RealserverVars } from './defaults.ts';

export default function handlers(_vars: RealserverVars & RoleVars): Array<Task & { name: string }> {
  return [
    service({ name: 'nginx', state: 'reloaded' }, { name: 'reload nginx' }) as Task & { name: string },
    // systemd keeps using a changed unit file's old content until daemon-reload.
    command({ cmd: sh`systemctl daemon-reload` }, { name: 'reload realserver network unit' }) as Task & { name: string },
  ];
}
