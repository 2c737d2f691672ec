import { clusterFromRoleVars } from '../../lib/lvs/index.ts';
import { pkg } from '../../lib/modules/index.ts';
import type { RoleVars, Task } from '../../lib/types.ts';
import { defaults, type ClientVars } from './defaults.ts';
import { verify } from './verify.ts';

export default function tasks(vars: ClientVars & RoleVars): Task[] {
  const model = clusterFromRoleVars(vars);
  const expect = vars.lvs_verify_expect;
  const servers = model.realservers.filter((r) => (expect ? expect.includes(r.name) : true)).map((r) => ({ name: r.name, weight: r.weight }));
  // nginx on the real servers answers every TCP service; UDP services are the user's own.
  const targets = model.services
    .filter((s) => s.protocol === 'tcp')
    .map((s) => ({ vip: s.vip, port: s.port, lbAlgo: s.lbAlgo, persistent: s.persistenceTimeout !== undefined, tls: s.tls }));
  return [
    pkg({ names: ['curl', 'arping'] }, { name: 'curl and arping' }),
    verify(
      {
        targets,
        servers,
        requests: Number(vars.lvs_verify_requests ?? defaults.lvs_verify_requests),
        tolerance: Number(vars.lvs_verify_tolerance ?? defaults.lvs_verify_tolerance),
        timeoutSeconds: Number(vars.lvs_verify_timeout ?? defaults.lvs_verify_timeout),
        settleSeconds: Number(vars.lvs_verify_settle ?? defaults.lvs_verify_settle),
      },
      { name: `every VIP balanced over ${servers.map((s) => s.name).join(', ')}`, tags: ['verify'] },
    ),
  ];
}
