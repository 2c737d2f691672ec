// The cluster model: a pure function from the inventory (groups + host vars) to everything the
// roles render — VRRP instances with their VRIDs and priorities, virtual services with their real
// servers and checks. Building it IS the validation: every refusal is thrown from here, before
// any host is touched (Role.validate calls it with the inventory; the roles call it again, with
// the same data, to build their tasks).
import { ConfigError } from '../types.ts';
import { cidrContains, hostAddresses } from './ip.ts';
import { activeActiveLayout, activeActiveVipCount, derivedVrids, standbyLayout, type InstanceLayout } from './layout.ts';
import { parseVars, refuse, type Where } from './refuse.ts';
import {
  CLUSTER_KEYS,
  PROFILE_VRRP,
  clusterVarsSchema,
  hostVarsSchema,
  show,
  type CheckVars,
  type ClusterVars,
  type HostVars,
  type LbAlgo,
  type LbKind,
  type TrackVars,
} from './schema.ts';
import { CHECKS } from './checks.ts';
import { checkColocation, checkRealServers, checkServices, checkTracks, checkUnicast, checkVips, checkVrrp, checkPriorities, checkVrids } from './validate.ts';

export interface ClusterInput {
  /** the inventory file, for error messages */
  file: string;
  /** group → member hosts, in inventory order */
  groups: Record<string, string[]>;
  /** host → its merged vars */
  hostvars: Record<string, Record<string, unknown>>;
}

export interface RealServer {
  name: string;
  ip: string;
  weight: number;
  /** two-level health: this node's HTTP checks are proxied to `host:port` (lvs_upstream) */
  upstream?: string;
}

export interface VirtualService {
  vip: string;
  port: number;
  protocol: 'tcp' | 'udp';
  lbAlgo: LbAlgo;
  lbKind: LbKind;
  persistenceTimeout?: number;
  check: CheckVars;
  /** the real servers answer this port over HTTPS */
  tls: boolean;
  /** co-located clusters: a firewall-mark service (the mark set by the directors' nftables rule) */
  fwmark?: number;
  realServers: RealServer[];
  /**
   * The cluster's node-health check (its first HTTP_GET/SSL_GET service's check, and that port): a
   * service whose own check does not reach the proxied health path (TCP_CHECK) runs it beside its own
   * on the real servers with an upstream, so an upstream's death takes the node out of EVERY service.
   */
  nodeCheck?: { port: number; check: CheckVars };
}

export interface VrrpInstance {
  /** VI_1, VI_2 … — short: lvs_sync_daemon refuses instance names of 16 characters or more */
  name: string;
  vrid: number;
  vip: string;
  /** director → priority */
  priorities: Record<string, number>;
}

export interface ClusterModel {
  file: string;
  lanCidr: string;
  directors: string[];
  realservers: RealServer[];
  /** hosts that are director and real server at once */
  colocated: string[];
  clients: string[];
  vips: string[];
  activeActive: boolean;
  /** seconds: an active connection is synced to the backups at least this often (0: kernel default, by packet count) */
  syncRefresh: number;
  /** preemptDelay: seconds a returning director waits before it takes its VIPs back */
  vrrp: { version: 2 | 3; advertInt: number; authPass?: string; preempt: boolean; preemptDelay: number };
  instances: VrrpInstance[];
  /** one per VIP × lvs_services entry */
  services: VirtualService[];
  kinds: LbKind[];
  algos: LbAlgo[];
  scriptUser: string;
  /** where the real servers set arp_ignore/arp_announce: `all` + LAN interface, or `lo` + LAN interface (roles/realserver/arp.ts) */
  arpScope: 'all' | 'interfaces';
  /** lvs_track: checks every VRRP instance tracks (keepalived's vrrp_script / track_script) */
  tracks: TrackVars[];
  /** lvs_crash_cleanup: a keepalived that dies uncleanly (SIGKILL, OOM, crash) leaves no VIP or IPVS service behind */
  crashCleanup: boolean;
  /** the instance whose MASTER runs the IPVS sync master daemon (the others run the backup one) */
  syncInstance?: string;
  /** lvs_vrrp_unicast: director → its lan_ip, the adverts' source and destinations (unset: multicast) */
  unicastPeers?: Record<string, string>;
  /** NAT: the address the real servers route through, held by the MASTER with the VIPs */
  natGateway?: string;
  /** NAT: the routes the real servers send through natGateway */
  natRoutes: string[];
  /** per-host vars, parsed */
  hosts: Record<string, HostVars>;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * IPVS syncs a connection to the backups only when its packets pass the director (sync_refresh_period:
 * at most once per that many seconds), and the master's sync thread sends a partly filled buffer
 * after IPVS_SYNC_FLUSH_TIME (2 s, checked every 1 s: net/netfilter/ipvs/ip_vs_sync.c). A returning
 * director that preempts sooner lacks the connections opened or moved while it was away, and cuts
 * them. So it waits refresh + flush + check period before it takes the VIPs back.
 */
export const SYNC_FLUSH_S = 3;
export const syncWindowS = (refreshS: number): number => (refreshS > 0 ? refreshS + SYNC_FLUSH_S : 0);

export function buildCluster(input: ClusterInput): ClusterModel {
  const { file, groups, hostvars } = input;
  const at: Where = { file };
  const directors = groups.directors ?? [];
  const realserverNames = groups.realservers ?? [];
  const clients = groups.clients ?? [];
  if (!directors.length) throw new ConfigError('group `directors` is empty or missing: the cluster needs at least one director', file);
  // Co-located: hosts in both groups direct AND serve (roles/director/colocation.ts keeps the
  // packets a director forwards to another from being scheduled there again).
  const colocated = directors.filter((h) => realserverNames.includes(h));

  // Cluster vars are read from the first director; the others must agree (set them in all.vars).
  const raw = hostvars[directors[0]] ?? {};
  for (const d of directors.slice(1)) {
    for (const k of CLUSTER_KEYS) {
      const mine = hostvars[d]?.[k];
      if (!same(mine, raw[k])) {
        refuse({ file, host: d }, k, mine, `differs from ${directors[0]}'s ${show(raw[k])}: cluster vars must be equal on every director (set them in all.vars)`);
      }
    }
  }
  const cv: ClusterVars = parseVars(clusterVarsSchema, raw, at);
  const hosts: Record<string, HostVars> = {};
  for (const h of new Set([...directors, ...realserverNames, ...clients])) hosts[h] = parseVars(hostVarsSchema, hostvars[h] ?? {}, { file, host: h });

  const profile = PROFILE_VRRP[cv.lvs_profile];
  const syncRefresh = cv.lvs_sync_daemon ? (cv.lvs_sync_refresh ?? 1) : 0;
  const version = cv.lvs_vrrp_version ?? profile.version;
  const advertInt = cv.lvs_advert_int ?? profile.advertInt;
  checkVrrp(at, cv, version, advertInt);
  if (cv.lvs_vrrp_unicast) checkUnicast(at, directors, hosts);

  const vips = resolveVips(at, cv, directors.length);
  checkVips(at, cv, vips, hosts);

  let layout: InstanceLayout[];
  if (cv.lvs_active_active) {
    for (const d of directors) {
      if (hosts[d].lvs_priority !== undefined) {
        refuse({ file, host: d }, 'lvs_priority', hosts[d].lvs_priority, 'lvs_active_active derives every priority from the order of the directors; remove lvs_priority');
      }
    }
    layout = activeActiveLayout(directors, vips);
  } else {
    layout = standbyLayout(directors, vips, Object.fromEntries(directors.map((d) => [d, hosts[d].lvs_priority])));
  }
  checkPriorities(at, layout, hosts, cv.lvs_active_active);

  const vrids = cv.lvs_vrids ?? derivedVrids(layout.length);
  checkVrids(at, vrids, layout.length, cv.lvs_vrids !== undefined);
  const instances: VrrpInstance[] = layout.map((l, i) => ({ name: `VI_${i + 1}`, vrid: vrids[i], vip: l.vip, priorities: l.priorities }));

  const realservers: RealServer[] = realserverNames.map((name) => ({ name, ip: hosts[name].lan_ip ?? '', weight: hosts[name].lvs_weight, ...(hosts[name].lvs_upstream ? { upstream: hosts[name].lvs_upstream } : {}) }));
  checkRealServers(at, cv, realservers, hosts);
  checkServices(at, cv, realservers, hosts);
  if (colocated.length) checkColocation(at, cv, directors, colocated, hosts);
  // NAT with several instances binds them in a sync group (roles/director/keepalived.ts)
  checkTracks(at, cv.lvs_track, instances, cv.lvs_services.some((s) => s.lb_kind === 'NAT') && instances.length > 1);

  const health = cv.lvs_services.find((s) => s.protocol === 'tcp' && CHECKS[s.check.type].http);
  const nodeCheck = health && realservers.some((r) => r.upstream) ? { port: health.port, check: health.check } : undefined;
  const services: VirtualService[] = vips.flatMap((vip, v) =>
    cv.lvs_services.map((s, i) => ({
      ...(colocated.length ? { fwmark: v * cv.lvs_services.length + i + 1 } : {}),
      vip,
      port: s.port,
      protocol: s.protocol,
      lbAlgo: s.lb_algo,
      lbKind: s.lb_kind,
      persistenceTimeout: s.persistence_timeout,
      check: s.check,
      tls: s.tls ?? CHECKS[s.check.type].tls,
      realServers: realservers,
      ...(nodeCheck && !CHECKS[s.check.type].http ? { nodeCheck } : {}),
    })),
  );
  const kinds = [...new Set(cv.lvs_services.map((s) => s.lb_kind))];
  const natRoutes =
    cv.lvs_nat_routes ??
    // The client on the LAN is on-link for the real servers: without a host route through the
    // gateway their replies would bypass the director and reach the client from the wrong address.
    ['default', ...clients.map((c) => hosts[c].lan_ip).filter((ip): ip is string => !!ip && cidrContains(cv.lan_cidr, ip)).map((ip) => `${ip}/32`)];

  return {
    file,
    lanCidr: cv.lan_cidr,
    directors,
    realservers,
    colocated,
    clients,
    vips,
    activeActive: cv.lvs_active_active,
    vrrp: { version, advertInt, authPass: cv.lvs_auth_pass, preempt: cv.lvs_preempt, preemptDelay: cv.lvs_preempt ? (cv.lvs_preempt_delay ?? Math.max(profile.preemptDelay, syncWindowS(syncRefresh))) : 0 },
    syncRefresh,
    instances,
    services,
    kinds,
    algos: [...new Set(cv.lvs_services.map((s) => s.lb_algo))],
    scriptUser: cv.lvs_script_user,
    arpScope: cv.lvs_arp_scope,
    tracks: cv.lvs_track,
    crashCleanup: cv.lvs_crash_cleanup,
    // keepalived (2.2.x) runs one IPVS sync daemon pair, following ONE instance: its MASTER sends,
    // every other director receives. With active-active only the connections of that instance's
    // MASTER are synchronised; a failover of the other directors' VIPs drops open connections.
    syncInstance: cv.lvs_sync_daemon ? instances[0].name : undefined,
    ...(cv.lvs_vrrp_unicast ? { unicastPeers: Object.fromEntries(directors.map((d) => [d, hosts[d].lan_ip!])) } : {}),
    natGateway: kinds.includes('NAT') ? cv.lvs_nat_gateway : undefined,
    natRoutes: kinds.includes('NAT') ? natRoutes : [],
    hosts,
  };
}

/**
 * The VIPs. Standby layout: lvs_vips as given. Active-active over N directors needs N·(N−1):
 * lvs_vips when it holds exactly that many (explicit addresses win), otherwise the first N·(N−1)
 * host addresses of lvs_vip_pool; anything else is refused.
 */
function resolveVips(at: Where, cv: ClusterVars, directors: number): string[] {
  if (!cv.lvs_active_active) {
    if (!cv.lvs_vips?.length) refuse(at, 'lvs_vips', cv.lvs_vips, 'the cluster needs at least one VIP');
    return cv.lvs_vips;
  }
  if (directors < 2) refuse(at, 'lvs_active_active', true, `needs at least 2 directors, the group directors has ${directors}`);
  const need = activeActiveVipCount(directors);
  if (cv.lvs_vips?.length === need) return cv.lvs_vips;
  if (cv.lvs_vip_pool) {
    const pool = hostAddresses(cv.lvs_vip_pool, need);
    if (pool.length < need) refuse(at, 'lvs_vip_pool', cv.lvs_vip_pool, `holds ${pool.length} host addresses; active-active over ${directors} directors needs ${need}`);
    return pool;
  }
  return refuse(
    at,
    'lvs_vips',
    cv.lvs_vips,
    `active-active over ${directors} directors needs ${need} VIPs (one per ordered pair of directors): list exactly ${need} in lvs_vips, or give lvs_vip_pool a CIDR to take them from`,
  );
}
