import { clusterFromRoleVars } from '../../lib/lvs/index.ts';
import type { RoleVars, Task } from '../../lib/types.ts';
import type { DirectorVars } from './defaults.ts';
import { keepalivedHealth } from './health.ts';
import { keepalivedConfig } from './keepalived.ts';

/** After the handlers: the keepalived that runs is alive and runs the config the tasks wrote. */
export default function verify(vars: DirectorVars & RoleVars): Task[] {
  const model = clusterFromRoleVars(vars);
  const ka = keepalivedConfig(model, vars.inventory_hostname, vars.facts);
  return [
    keepalivedHealth(
      {
        instances: Object.fromEntries(ka.instances.map((i) => [i.name, i.priority])),
        services: ka.virtualServers.map((vs) => vs.ipvsKey),
      },
      { name: 'keepalived answers and runs this keepalived.conf', tags: ['verify'] },
    ),
  ];
}
