// The director's vars. The cluster vars (lvs_*) are shared by every LVS role and by the validation,
// so their defaults live in ONE place, lib/lvs/schema.ts, and are applied when the cluster model is
// built — not here: a role default would look "set" on the host and hide the values that follow
// from others (lvs_profile: fast picks VRRPv3 and advert_int 0.1 only for what is not set).
//
// Cluster vars (all.vars; the same on every director), default in brackets:
//   lan_cidr            the LAN segment (required)
//   lvs_vips            the VIPs (required unless active-active takes them from lvs_vip_pool)
//   lvs_services        [{ port: 80, protocol: tcp, lb_algo: rr, lb_kind: DR,
//                          check: { type: HTTP_GET, path: /healthz, status: 200, connect_timeout: 2,
//                                   retry: 1, delay_before_retry: 1, delay_loop: 2 } }]
//                       optional per service: persistence_timeout (seconds); tls (HTTPS on the
//                       real servers, default when check.type is SSL_GET). check.type: one of
//                       lib/lvs/checks.ts's table (TCP_CHECK, HTTP_GET, SSL_GET)
//   lvs_profile         [default] | fast (VRRPv3, advert_int 0.1, preempt_delay 3)
//   lvs_vrrp_version    [2; 3 with lvs_profile: fast]
//   lvs_advert_int      [1; 0.1 with lvs_profile: fast] (an integer with VRRPv2)
//   lvs_vrids           [51, 52, … one per VRRP instance]
//   lvs_auth_pass       [none] VRRPv2 only, at most 8 characters
//   lvs_preempt         [true] false adds `nopreempt` (all instances are state BACKUP)
//   lvs_preempt_delay   [the sync window, 4 s; fast: the longer of 3 s and it] seconds (0–1000) a
//                       returning director waits before it takes its VIPs back
//   lvs_active_active   [false] true: N·(N−1) VIPs, one per ordered pair of directors
//   lvs_vip_pool        [none] CIDR the active-active VIPs are taken from when lvs_vips has not N·(N−1)
//   lvs_arp_scope       [all] real servers: arp_ignore=1/arp_announce=2 on `all` + the LAN interface, or
//                       `interfaces`: lo + the LAN interface only (roles/realserver/arp.ts)
//   lvs_vrrp_unicast    [false] VRRP adverts sent to each peer's lan_ip (unicast_src_ip /
//                       unicast_peer) instead of multicast 224.0.0.18: for networks that drop it
//   lvs_sync_daemon     [true] IPVS connection sync on the LAN interface
//   lvs_sync_refresh    [1] seconds: every active connection synced at least this often; the
//                       default preempt_delay waits for it (refresh + 3 s flush); 0: the kernel's rule
//   lvs_crash_cleanup   [true] keepalived.service's ExecStopPost= removes the VIPs and IPVS services when
//                       keepalived dies without its own cleanup (SIGKILL, OOM, crash): no split brain
//                       (roles/director/crash-cleanup.ts)
//   lvs_script_user     [nobody] keepalived's script_user (must exist on the directors)
//   lvs_track           [none] tracked checks: [{ name, kind: service (unit) | tcp (port) | http (url)
//                       | command: "/abs/path args", interval: 2, timeout: 1, fall: 2, rise: 2,
//                       weight: 0 }] — vrrp_script blocks run as root, tracked by every instance;
//                       weight 0: FAULT while down; otherwise ±1..253, refused unless it hands the
//                       VIP over (lib/lvs/track.ts: the kinds; lib/lvs/validate.ts: checkTracks)
//   lvs_nat_gateway     [none] NAT only: the LAN address the real servers route replies through
//   lvs_nat_routes      [default + each client's lan_ip/32] NAT only: routes via lvs_nat_gateway
// Host vars:
//   lan_ip              the host's LAN address (required on real servers)
//   lvs_priority        director: VRRP priority [150, 100, 50 … by order in the group directors]
//   lvs_weight          real server: IPVS weight [1]
//   lvs_upstream        real server: `host:port` its /healthz is proxied to (two-level check) [none]
// A host in both groups directors and realservers is co-located (firewall-mark services and the
// nftables marks of roles/director/colocation.ts; DR only, every director's lan_ip set).
//   lvs_lan_interface   [the interface holding lan_ip, from facts]
import type { ClusterVarsInput } from '../../lib/lvs/index.ts';

export interface DirectorVars extends Partial<ClusterVarsInput> {
  lan_ip?: string;
  lvs_priority?: number;
  lvs_lan_interface?: string;
  /** where keepalived reads its configuration */
  keepalived_conf?: string;
}

export const defaults: Partial<DirectorVars> = {
  keepalived_conf: '/etc/keepalived/keepalived.conf',
};

export default defaults;
