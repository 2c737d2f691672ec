// The refusals: relations between cluster values that keepalived would accept silently (or
// with a log line nobody reads) and then misbehave on. Each throws a ConfigError naming the key,
// its value and why (refuse.ts).
import { CHECKS } from './checks.ts';
import { cidrContains, isNetworkOrBroadcast } from './ip.ts';
import type { InstanceLayout } from './layout.ts';
import type { RealServer } from './model.ts';
import { refuse, refuseSecret, type Where } from './refuse.ts';
import type { ClusterVars, HostVars, TrackVars } from './schema.ts';
import { TRACK_KINDS, UNSAFE } from './track.ts';

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
  if (!cv.lvs_sync_daemon && cv.lvs_sync_refresh) {
    refuse(at, 'lvs_sync_refresh', cv.lvs_sync_refresh, 'paces the IPVS connection sync, which lvs_sync_daemon: false turns off: remove one of the two');
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

/**
 * lvs_vrrp_unicast: each director sends its adverts from its lan_ip (unicast_src_ip) to every other
 * director's (unicast_peer), so each needs one of its own; keepalived 2.2 falls back to multicast,
 * silently, when an instance has no peer.
 */
export function checkUnicast(at: Where, directors: string[], hosts: Record<string, HostVars>): void {
  if (directors.length < 2) {
    refuse(at, 'lvs_vrrp_unicast', true, `sends VRRP adverts to the other directors, and the group directors has only ${directors.join(', ')}: keepalived would fall back to multicast without a peer — remove lvs_vrrp_unicast or add a director`);
  }
  const owner = new Map<string, string>();
  for (const d of directors) {
    const ip = hosts[d].lan_ip;
    if (!ip) refuse({ ...at, host: d }, 'lan_ip', undefined, 'lvs_vrrp_unicast: true sends VRRP adverts from each director\'s LAN address to the others\': give every director its lan_ip');
    const other = owner.get(ip);
    if (other) refuse({ ...at, host: d }, 'lan_ip', ip, `is also ${other}'s lan_ip: with lvs_vrrp_unicast each director sends its adverts to the others' addresses, so each needs its own`);
    owner.set(ip, d);
  }
}

/** The priority keepalived uses: the base, changed by the weight of a check that is up (w > 0) or down (w < 0), kept in 1..254. */
const effective = (base: number, weight: number, up: boolean) => Math.min(254, Math.max(1, base + ((weight > 0) === up ? weight : 0)));

/**
 * Why `weight` cannot hand the VIP over, in one instance: each director must, with its check down,
 * fall below the next lower director with its check up — and the healthy order must survive the
 * clamp to 254. undefined: it can.
 */
function weightProblem(weight: number, inst: { name: string; vip: string; priorities: Record<string, number> }): string | undefined {
  const order = Object.entries(inst.priorities).sort((a, b) => b[1] - a[1]);
  for (let k = 0; k + 1 < order.length; k++) {
    const [[up, pu], [low, pl]] = [order[k]!, order[k + 1]!];
    const failing = effective(pu, weight, false);
    const healthy = effective(pl, weight, true);
    if (failing >= healthy) {
      return `with the check down, ${up} has priority ${failing} in ${inst.name} (${inst.vip}), ${failing === healthy ? 'equal to' : 'still above'} ${low}'s ${healthy}: the MASTER keeps the VIP with its check failing`;
    }
    if (effective(pu, weight, true) <= healthy) {
      return `with every check up, ${up} (${pu}) and ${low} (${pl}) both reach keepalived's ceiling of 254 in ${inst.name} (${inst.vip}): equal priorities leave the election to the interface address`;
    }
  }
  return undefined;
}

/** The weights of `weight`'s sign that work in every instance, nearest to 0 first: "-51 … -253" (undefined: none). */
function workingWeights(sign: 1 | -1, instances: Parameters<typeof weightProblem>[1][]): string | undefined {
  const ok = Array.from({ length: 253 }, (_, i) => sign * (i + 1)).filter((w) => instances.every((inst) => !weightProblem(w, inst)));
  if (!ok.length) return undefined;
  const [a, b] = [ok[0]!, ok.at(-1)!];
  return a === b ? String(a) : `${a} … ${b}`;
}

/**
 * lvs_track: a command or a built-in kind (with its key), commands keepalived runs as written, and
 * weights that actually hand the VIP over.
 */
export function checkTracks(at: Where, tracks: TrackVars[], instances: Parameters<typeof weightProblem>[1][], syncGroup: boolean): void {
  tracks.forEach((tr, i) => {
    const key = `lvs_track[${i}]`;
    const first = tracks.findIndex((o) => o.name === tr.name);
    if (first !== i) refuse(at, `${key}.name`, tr.name, `repeats lvs_track[${first}].name: keepalived knows each vrrp_script by its name`);
    if (tr.command !== undefined && tr.kind !== undefined) {
      refuse(at, `${key}.command`, tr.command, `give either command or kind (here ${tr.kind}), not both`);
    }
    if (tr.command === undefined && tr.kind === undefined) {
      refuse(at, `${key}.kind`, undefined, `${tr.name} needs a kind (${Object.keys(TRACK_KINDS).join(', ')}) or a command (an absolute path and its arguments)`);
    }
    const needs = tr.kind === undefined ? undefined : TRACK_KINDS[tr.kind].key;
    for (const k of ['unit', 'port', 'url'] as const) {
      if (tr[k] !== undefined && k !== needs) {
        const owner = Object.entries(TRACK_KINDS).find(([, v]) => v.key === k)![0];
        refuse(at, `${key}.${k}`, tr[k], `is for kind ${owner}; this check ${tr.kind ? `is kind ${tr.kind}` : 'runs a command'}`);
      }
    }
    if (needs && tr[needs] === undefined) refuse(at, `${key}.${needs}`, undefined, `kind ${tr.kind} needs ${needs}`);
    if (tr.command !== undefined) {
      const words = tr.command.split(' ');
      if (words.some((w) => !w.length)) refuse(at, `${key}.command`, tr.command, 'separate the words by single spaces (keepalived splits the command at spaces)');
      const bad = words.join('').match(UNSAFE);
      if (bad) {
        refuse(at, `${key}.command`, tr.command, `contains ${JSON.stringify(bad[0])}, which keepalived reads inside a script string (quotes, escapes, \`#\` and \`!\` comments, braces, \${} substitution; whitespace splits words) and lvsplay does not quote: put the command in a script file and track that file's path`);
      }
      if (!words[0]!.startsWith('/')) {
        refuse(at, `${key}.command`, tr.command, `keepalived runs the first word without a shell and resolves a relative one by path search, with a warning: give its absolute path (e.g. /usr/bin/${words[0]})`);
      }
    }
    if (tr.weight !== 0 && syncGroup) {
      refuse(at, `${key}.weight`, tr.weight, 'NAT with several VIPs puts the VRRP instances in a sync group, where keepalived does not apply tracking weights: use weight 0 (fault)');
    }
    if (tr.weight !== 0) {
      const why = instances.map((inst) => weightProblem(tr.weight, inst)).find((w) => w);
      if (why) {
        const range = workingWeights(tr.weight > 0 ? 1 : -1, instances);
        refuse(at, `${key}.weight`, tr.weight, `${why} — ${range ? `use a weight of ${range}` : `no ${tr.weight > 0 ? 'positive' : 'negative'} weight can hand it over`}, or 0 (fault: the instance leaves MASTER as soon as the check is down)`);
      }
    }
  });
}
