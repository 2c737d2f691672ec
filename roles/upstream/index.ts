import { fileURLToPath } from 'node:url';
import type { Role } from '../../lib/types.ts';
import tasks, { handlers, type UpstreamVars } from './tasks.ts';

/** A stand-in for the application servers the real servers' nginx proxies to (seed 004's 192.168.3.31–33). */
export const upstream: Role<UpstreamVars> = {
  name: 'upstream',
  dir: fileURLToPath(new URL('.', import.meta.url)),
  defaults: {},
  tasks,
  handlers,
};

export default upstream;
export type { UpstreamVars };
