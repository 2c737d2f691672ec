import { fileURLToPath } from 'node:url';
import { validateCluster } from '../../lib/lvs/index.ts';
import type { Role } from '../../lib/types.ts';
import { defaults, type DirectorVars } from './defaults.ts';
import handlers from './handlers.ts';
import tasks, { directorPackagesTasks } from './tasks.ts';
import verify from './verify.ts';

/** IPVS + keepalived: holds the VIPs by VRRP and balances them over the real servers. */
export const director: Role<DirectorVars> = {
  name: 'director',
  dir: fileURLToPath(new URL('.', import.meta.url)),
  defaults,
  tasks,
  handlers,
  verify,
  validate: validateCluster,
};

export default director;
export type { DirectorVars };

/** The director's packages only, on every director at once (site.ts, before the one-at-a-time play). */
export const directorPackages: Role<DirectorVars> = {
  name: 'director',
  dir: director.dir,
  defaults,
  tasks: directorPackagesTasks,
  validate: validateCluster,
};
