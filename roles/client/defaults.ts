// The client's own vars. Cluster vars (lvs_*) and their defaults: roles/director/defaults.ts.
import type { ClusterVarsInput } from '../../lib/lvs/index.ts';

export interface ClientVars extends Partial<ClusterVarsInput> {
  /** requests per virtual service */
  lvs_verify_requests?: number;
  /** allowed deviation per real server from its expected share (rr/wrr) */
  lvs_verify_tolerance?: number;
  /** seconds per request */
  lvs_verify_timeout?: number;
  /** the real servers expected to answer (default: all of them; those of weight 0 must stay silent) */
  lvs_verify_expect?: string[];
  /** seconds the verify keeps trying while the cluster settles (keepalived just restarted, a first check pending) */
  lvs_verify_settle?: number;
}

export const defaults: Partial<ClientVars> = {
  lvs_verify_requests: 20,
  lvs_verify_tolerance: 1,
  lvs_verify_timeout: 2,
  lvs_verify_settle: 15,
};

export default defaults;
