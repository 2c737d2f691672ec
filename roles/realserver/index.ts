import { fileURLToPath } from 'node:url';
import { validateCluster } from '../../lib/lvs/index.ts';
import type { Role } from '../../lib/types.ts';
import { defaults, type RealserverVars } from './defaults.ts';
import handlers from './handlers.ts';
import tasks from './tasks.ts';

/** nginx naming itself, with every VIP on lo (DR) or tunl0 (TUN), or routed through the directors (NAT). */
export const realserver: Role<RealserverVars> = {
  name: 'realserver',
  dir: fileURLToPath(new URL('.', import.meta.url)),
  defaults,
  tasks,
  handlers,
  validate: validateCluster,
};

export default realserver;
export type { RealserverVars };
