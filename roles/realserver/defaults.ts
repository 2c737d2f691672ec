// The real server's own vars. Cluster vars (lvs_*) and their defaults: roles/director/defaults.ts.
import type { ClusterVarsInput } from '../../lib/lvs/index.ts';

export interface RealserverVars extends Partial<ClusterVarsInput> {
  lan_ip?: string;
  lvs_weight?: number;
  lvs_lan_interface?: string;
  /**
   * In bookworm `nginx` IS the light build; `nginx-light` survives as an 82 kB transitional
   * package (Architecture: all) that pulls `nginx` plus libnginx-mod-http-echo.
   */
  lvs_nginx_package?: string;
  /** where the page naming this real server is served from */
  lvs_www_root?: string;
}

export const defaults: Partial<RealserverVars> = {
  lvs_nginx_package: 'nginx',
  lvs_www_root: '/var/www/lvsplay',
};

export default defaults;
