// The refusals: relations between cluster values that keepalived would accept silently (or
// with a log line nobody reads) and then misbehave on. Each throws a ConfigError naming the key,
// its value and why (refuse.ts).
import { CHECKS } from './checks.ts';
import { cidrContains, isNetworkOrBroadcast } from './ip.ts';
import type { InstanceLayout } from './layout.ts';
import type { RealServer } from './model.ts';
import { refuse, refuseSecret, type Where } from './refuse.ts';
import type { ClusterVars, HostVars } from './schema.ts';

/** keepalived reads `#` and `!` as the start of a comment anywhere on a line. */
const AUTH_PASS_OK = /^[^\s"'#!{}\\]+$/;

export function checkVrrp(at: Where, cv: ClusterVars, version: 2 | 3, advertInt: number): void {
  const fromProfile = (key: 'lvs_vrrp_version' | 'lvs_advert_int') =>
    cv[key] === undefined ? `${key} (from lvs_profile: ${cv.lvs_profile})` : key;
  const pass = cv.lvs_auth_pass;
  if (pass !== undefined) {
    if (version === 3) {
      refuseSecret(at, 'lvs_auth_pass', pass, `VRRPv3 has no authentication (RFC 5798 removed it) and ${fromProfile('lvs_vrrp_version')} is 3: remove lvs_auth_pass, or use lvs_vrrp_version: 2`);
    }
    if (pass.length > 8) {
      refuseSecret(at, 'lvs_auth_pass', pass, 'keepalived uses only the first 8 characters of auth_pass and silently drops the rest, so the password written is not the one in use: use at most 8 characters');
    }
    if (!AUTH_PASS_OK.test(pass)) {
      refuseSecret(at, 'lvs_auth_pass', pass, 'must be printable, without spaces, quotes, braces, backslashes, `#` or `!` (keepalived reads `#` and `!` as the start of a comment)');
    }
  }
  if (!cv.lvs_preempt && cv.lvs_preempt_delay) {
    refuse(at, 'lvs_preempt_delay', cv.lvs_preempt_delay, 'delays a preemption that lvs_preempt: false (nopreempt) never makes: remove one of the two');
  }
  if (version === 2) {
    if (!Number.isInteger(advertInt)) {
      refuse(at, fromProfile('lvs_advert_int'), advertInt, 'VRRPv2 carries the advert interval in whole seconds: use an integer, or VRRPv3 (lvs_vrrp_version: 3, or lvs_profile: fast) for sub-second adverts');
    }
    if (advertInt < 1 || advertInt > 255) refuse(at, fromProfile('lvs_advert_int'), advertInt, 'VRRPv2 advert intervals run from 1 to 255 seconds');
  } else if (advertInt < 0.01 || advertInt > 40.95 || Math.abs(advertInt * 100 - Math.round(advertInt * 100)) > 1e-9) {
    refuse(at, fromProfile('lvs_advert_int'), advertInt, 'VRRPv3 advert intervals are whole centiseconds from 0.01 to 40.95 seconds');
  }
}

export function checkVips(at: Where, cv: ClusterVars, vips: string[], hosts: Record<string, HostVars>): void {
  const fromPool = vips !== cv.lvs_vips;
  vips.forEach((vip, i) => {
    const key = fromPool ? 'lvs_vip_pool' : `lvs_vips[${i}]`;
    const value = fromPool ? cv.lvs_vip_pool : vip;
    const dup = vips.indexOf(vip);
    if (dup !== i) refuse(at, key, value, `repeats lvs_vips[${dup}]: every VIP gets its own VRRP instance`);
    if (!cidrContains(cv.lan_cidr, vip)) {
      refuse(at, key, value, `${fromPool ? `gives ${vip}, which is` : 'is'} outside lan_cidr ${cv.lan_cidr}: the MASTER announces a VIP on the LAN by gratuitous ARP, so it must belong to the LAN subnet`);
    }
    if (isNetworkOrBroadcast(cv.lan_cidr, vip)) refuse(at, key, value, `${vip} is the network or broadcast address of lan_cidr ${cv.lan_cidr}`);
    for (const [h, v] of Object.entries(hosts)) {
      if (v.lan_ip === vip) refuse(at, key, value, `${vip} is already host ${h}'s lan_ip: a VIP must be an address no host owns`);
    }
  });
}

export function checkPriorities(at: Where, layout: InstanceLayout[], hosts: Record<string, HostVars>, activeActive: boolean): void {
  for (const inst of layout) {
    const seen = new Map<number, string>();
    for (const [d, p] of Object.entries(inst.priorities)) {
      const where = { ...at, host: d };
      const explicit = !activeActive && hosts[d]?.lvs_priority !== undefined;
      const key = explicit ? 'lvs_priority' : 'lvs_priority (derived from the order of the directors)';
      if (!Number.isInteger(p) || p < 1 || p > 254) {
        refuse(where, key, p, 'VRRP priorities run from 1 to 254 (255 claims to own the address and 0 means resigning)');
      }
      const other = seen.get(p);
      if (other !== undefined) {
        refuse(where, key, p, `equal to ${other}'s priority in the VRRP instance for ${inst.vip}: equal priorities leave the election to the higher interface address — give every director a distinct priority`);
      }
      seen.set(p, d);
    }
  }
}

export function checkVrids(at: Where, vrids: number[], instances: number, explicit: boolean): void {
  if (instances > 255) refuse(at, 'lvs_active_active', true, `needs ${instances} VRRP instances but one segment has only 255 VRIDs`);
  if (explicit && vrids.length !== instances) {
    refuse(at, 'lvs_vrids', vrids, `lists ${vrids.length} VRIDs for ${instances} VRRP instance${instances === 1 ? '' : 's'} (one per VIP)`);
  }
  vrids.forEach((v, i) => {
    const first = vrids.indexOf(v);
    if (first !== i) {
      refuse(at, `lvs_vrids[${i}]`, v, `duplicate of lvs_vrids[${first}]: two VRRP instances with one VRID on one segment take each other's adverts as their own, and the VIPs flap`);
    }
  });
}

export function checkRealServers(at: Where, cv: ClusterVars, realservers: RealServer[], hosts: Record<string, HostVars>): void {
  const onLan = cv.lvs_services.some((s) => s.lb_kind !== 'TUN');
  for (const rs of realservers) {
    const where = { ...at, host: rs.name };
    if (!hosts[rs.name].lan_ip) refuse(where, 'lan_ip', undefined, 'a real server needs its LAN address: keepalived health-checks it there and IPVS forwards to it');
    if (onLan && !cidrContains(cv.lan_cidr, rs.ip)) {
      refuse(where, 'lan_ip', rs.ip, `outside lan_cidr ${cv.lan_cidr}: DR and NAT forward on the LAN segment itself (only TUN reaches real servers elsewhere)`);
    }
  }
}

export function checkServices(at: Where, cv: ClusterVars, realservers: RealServer[], hosts: Record<string, HostVars>): void {
  cv.lvs_services.forEach((s, i) => {
    const key = `lvs_services[${i}]`;
    const first = cv.lvs_services.findIndex((o) => o.port === s.port && o.protocol === s.protocol);
    if (first !== i) refuse(at, `${key}.port`, s.port, `${s.port}/${s.protocol} is already lvs_services[${first}]`);
    if (CHECKS[s.check.type].tcpOnly && s.protocol !== 'tcp') {
      refuse(at, `${key}.check.type`, s.check.type, `an HTTP check needs a TCP service, this one is ${s.protocol}: use TCP_CHECK`);
    }
    if (s.tls && s.protocol !== 'tcp') refuse(at, `${key}.tls`, s.tls, `HTTPS needs a TCP service, this one is ${s.protocol}`);
    if (!realservers.length) {
      refuse(at, key, `${s.port}/${s.protocol}`, 'a virtual service with no real servers: the group `realservers` is empty, so IPVS would accept connections and have nowhere to send them');
    }
    if (realservers.every((r) => r.weight === 0)) {
      refuse(at, key, `${s.port}/${s.protocol}`, `a virtual service with no real servers: every real server has lvs_weight 0 (${realservers.map((r) => r.name).join(', ')})`);
    }
    if (s.lb_kind === 'NAT') {
      if (cv.lvs_active_active) {
        refuse(at, `${key}.lb_kind`, s.lb_kind, 'NAT is not supported with lvs_active_active: replies must return through the director holding the connection, and the real servers have one gateway — use DR or TUN');
      }
      const gw = cv.lvs_nat_gateway;
      if (!gw) {
        refuse(at, 'lvs_nat_gateway', gw, `lvs_services[${i}] uses lb_kind NAT: give a free LAN address for the real servers to route their replies through (the MASTER director holds it with the VIPs)`);
      }
      if (!cidrContains(cv.lan_cidr, gw) || isNetworkOrBroadcast(cv.lan_cidr, gw)) refuse(at, 'lvs_nat_gateway', gw, `must be a host address in lan_cidr ${cv.lan_cidr}: the real servers reach it on the LAN`);
      if ((cv.lvs_vips ?? []).includes(gw)) refuse(at, 'lvs_nat_gateway', gw, 'is also a VIP: the gateway must be an address of its own');
      const owner = Object.entries(hosts).find(([, v]) => v.lan_ip === gw);
      if (owner) refuse(at, 'lvs_nat_gateway', gw, `is host ${owner[0]}'s lan_ip: the gateway must be an address no host owns`);
    }
  });
}

/**
 * Hosts that direct and serve: DR only (the director forwards by MAC to a real server on the same
 * segment; NAT would make a node the gateway of its own replies, TUN would re-enter IPVS from the
 * tunnel), and every director's LAN address known, because each node tells packets forwarded by
 * another director (delivered locally) from the clients' (scheduled) by that director's MAC.
 */
export function checkColocation(at: Where, cv: ClusterVars, directors: string[], colocated: string[], hosts: Record<string, HostVars>): void {
  cv.lvs_services.forEach((s, i) => {
    if (s.lb_kind !== 'DR') {
      refuse(at, `lvs_services[${i}].lb_kind`, s.lb_kind, `${colocated.join(', ')} ${colocated.length === 1 ? 'is' : 'are'} director and real server at once: a co-located cluster forwards by Direct Routing only (DR)`);
    }
  });
  for (const d of directors) {
    if (!hosts[d].lan_ip) refuse({ ...at, host: d }, 'lan_ip', undefined, 'a co-located cluster needs every director\'s LAN address: the nodes find each other\'s MAC by it');
  }
}
