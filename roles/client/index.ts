import { fileURLToPath } from 'node:url';
import { validateCluster } from '../../lib/lvs/index.ts';
import type { Role } from '../../lib/types.ts';
import { defaults, type ClientVars } from './defaults.ts';
import tasks from './tasks.ts';

/** curl and arping, and the proof from outside: each VIP answers, balanced as configured. */
export const client: Role<ClientVars> = {
  name: 'client',
  dir: fileURLToPath(new URL('.', import.meta.url)),
  defaults,
  tasks,
  validate: validateCluster,
};

export default client;
export type { ClientVars };
export { verify, checkSplit, parseProbe, probeCommand } from './verify.ts';
