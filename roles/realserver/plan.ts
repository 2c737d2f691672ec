// What one real server makes of the cluster model: where its VIPs go, its routes, the ports nginx
// serves (HTTP or HTTPS) and the health-check answers. Pure: the model, the host, its facts in.
import { CHECKS, hostLanInterface, type ClusterModel } from '../../lib/lvs/index.ts';
import type { Facts } from '../../lib/types.ts';

export interface RealserverPlan {
  lanInterface: string;
  /** DR: the VIPs on lo */
  loVips: string[];
  /** TUN: the VIPs on tunl0 */
  tunnelVips: string[];
  /** NAT: routes through the gateway the MASTER holds */
  nat?: { gateway: string; routes: string[] };
  /** TCP ports nginx listens on; tls: HTTPS with this host's certificate */
  ports: { port: number; tls: boolean }[];
  /** the HTTP answers keepalived's HTTP_GET / SSL_GET checks ask for, one per path */
  checks: { path: string; status: number }[];
  /** two-level check: the checks' paths are proxied to this `host:port` (200 only while it answers) */
  upstream?: string;
  /** arp_ignore / arp_announce are needed whenever a VIP sits on this host */
  arpSysctls: boolean;
}

export function realserverPlan(model: ClusterModel, host: string, facts: Facts | undefined): RealserverPlan {
  if (!model.realservers.some((r) => r.name === host)) throw new Error(`${host} is not in the group realservers`);
  const has = (k: string) => model.kinds.includes(k as never);
  const loVips = has('DR') ? model.vips : [];
  const tunnelVips = has('TUN') ? model.vips : [];
  const tcp = model.services.filter((s) => s.protocol === 'tcp');
  const ports = [...new Map(tcp.map((s) => [s.port, { port: s.port, tls: s.tls }])).values()];
  const checks = [...new Map(tcp.filter((s) => CHECKS[s.check.type].http).map((s) => [s.check.path, { path: s.check.path, status: s.check.status }])).values()];
  return {
    lanInterface: hostLanInterface(model, host, facts),
    loVips,
    tunnelVips,
    nat: has('NAT') && model.natGateway ? { gateway: model.natGateway, routes: model.natRoutes } : undefined,
    ports,
    checks,
    upstream: model.hosts[host]?.lvs_upstream,
    arpSysctls: loVips.length + tunnelVips.length > 0,
  };
}
