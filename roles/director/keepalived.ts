// What the director renders: keepalived.conf's values for one director, built from the cluster
// model, this host's name and its facts. The template only prints them; a keepalived option
// lives here (its value) and in templates/keepalived.conf.ejs (its line).
import { createHash } from 'node:crypto';
import { CHECKS } from '../../lib/lvs/checks.ts';
import { TRACK_KINDS } from '../../lib/lvs/track.ts';
import { hostLanInterface, type ClusterModel, type VirtualService } from '../../lib/lvs/index.ts';
import { secret, type Secret } from '../../lib/shell.ts';
import type { Facts } from '../../lib/types.ts';
import { IPVS_SYNC_UNIT, syncByUnit } from '../../lib/lvs/ipvs-sync-unit.ts';
import { refuseForKeepalivedVersion } from './keepalived-version.ts';

export interface KeepalivedInstance {
  name: string;
  vrid: number;
  priority: number;
  advertInt: number;
  preempt: boolean;
  /** seconds; 0: preempt at once */
  preemptDelay: number;
  /** a Secret: the template module renders its value and masks it in diffs */
  authPass?: Secret;
  /** without prefix: rendered as /32 on the LAN interface */
  addresses: string[];
  /** `bal1 150 (this director), bal2 100`, for the reader of keepalived.conf */
  electorate: string;
}

export interface KeepalivedRealServer {
  name: string;
  ip: string;
  /** none for a firewall-mark service */
  port?: number;
  weight: number;
  /** TCP_CHECK, HTTP_GET, SSL_GET … and the statements of each block; keepalived counts the real
   * server up only while every one of its checkers passes */
  checks: { type: string; lines: string[] }[];
}

export interface KeepalivedVirtualServer {
  /** `172.28.128.200 80`, or `fwmark 1` in a co-located cluster */
  address: string;
  /** what the fwmark stands for, for the reader */
  comment?: string;
  delayLoop: number;
  lbAlgo: string;
  lbKind: string;
  /** none for a firewall-mark service */
  protocol?: string;
  persistenceTimeout?: number;
  realServers: KeepalivedRealServer[];
  /** as ipvsadm -Ln lists it: `TCP 172.28.128.200:80`, `FWM 1` */
  ipvsKey: string;
}

/** A tracked check (lvs_track): a vrrp_script every instance lists in track_script. */
export interface KeepalivedScript {
  name: string;
  /** the words, rendered between double quotes (validate.ts refused what keepalived would parse) */
  script: string;
  /** who runs it: root, see TRACK_USER */
  user: string;
  interval: number;
  timeout: number;
  fall: number;
  rise: number;
  /** 0: the instance goes FAULT while the check is down */
  weight: number;
  /** what it checks and what a failure does, for the reader */
  comment: string;
}

export interface KeepalivedConfig {
  routerId: string;
  scriptUser: string;
  /** none: no vrrp_script, no track_script — the configuration lvsplay rendered before lvs_track */
  scripts: KeepalivedScript[];
  vrrpVersion: 2 | 3;
  interface: string;
  instances: KeepalivedInstance[];
  /** NAT with several instances: they must fail over together, the gateway sits in the first */
  syncGroup?: string[];
  /**
   * IPVS connection sync on the LAN interface, syncid = the instance's VRID.
   * byUnit: both threads always on, by lvsplay's unit (roles/director/ipvs-sync.ts); false on a
   * co-located cluster, where keepalived's lvs_sync_daemon switches them as before: there every node
   * is also a real server, and with every node sending and receiving, the local health URLs behind
   * nginx answered 504 or nothing (lab: 3 status rounds of 3 failed; with the threads stopped, none)
   */
  syncDaemon?: { interface: string; instance: string; syncid: number; byUnit: boolean };
  /** lvs_vrrp_unicast: every instance sends its adverts from srcIp to each peer (none: multicast to 224.0.0.18) */
  unicast?: { srcIp: string; peers: { name: string; ip: string }[] };
  virtualServers: KeepalivedVirtualServer[];
}

export function virtualServer(vs: VirtualService): KeepalivedVirtualServer {
  const kind = CHECKS[vs.check.type];
  return {
    address: vs.fwmark !== undefined ? `fwmark ${vs.fwmark}` : `${vs.vip} ${vs.port}`,
    comment: vs.fwmark !== undefined ? `${vs.vip}:${vs.port}/${vs.protocol} (marked by /etc/lvsplay/colocation.nft)` : undefined,
    delayLoop: vs.check.delay_loop,
    lbAlgo: vs.lbAlgo,
    lbKind: vs.lbKind,
    // a firewall-mark service has no protocol and its real servers no port (keepalived warns and
    // clears them): the checkers are told the port to connect to instead
    protocol: vs.fwmark !== undefined ? undefined : vs.protocol.toUpperCase(),
    persistenceTimeout: vs.persistenceTimeout,
    realServers: vs.realServers.map((rs) => ({
      name: rs.name,
      ip: rs.ip,
      port: vs.fwmark !== undefined ? undefined : vs.port,
      weight: rs.weight,
      checks: [
        { type: vs.check.type, lines: [...(vs.fwmark !== undefined ? [`connect_port ${vs.port}`] : []), ...kind.lines(vs.check)] },
        ...(rs.upstream && vs.nodeCheck ? [{ type: vs.nodeCheck.check.type, lines: [`connect_port ${vs.nodeCheck.port}`, ...CHECKS[vs.nodeCheck.check.type].lines(vs.nodeCheck.check)] }] : []),
      ],
    })),
    ipvsKey: vs.fwmark !== undefined ? `FWM ${vs.fwmark}` : `${vs.protocol.toUpperCase()} ${vs.vip}:${vs.port}`,
  };
}

/**
 * Tracked checks run as root, not as script_user. Measured with Debian 12's keepalived 2.2.7: its
 * config test (`keepalived -t`, the template's validate step) terminates itself (SIGTERM, exit 143)
 * as soon as it checks a script that runs as another user; and `systemctl is-active` as any user but
 * root needs the system D-Bus, which a minimal Debian lacks. enable_script_security still refuses a
 * root script whose program or directories a non-root user can write.
 */
export const TRACK_USER = 'root';

export function trackScripts(model: ClusterModel): KeepalivedScript[] {
  return model.tracks.map((t) => {
    const kind = t.kind === undefined ? undefined : TRACK_KINDS[t.kind];
    const value = kind ? t[kind.key]! : undefined;
    const effect = t.weight === 0 ? 'FAULT (VIP released) while it is down' : t.weight < 0 ? `priority ${t.weight} while it is down` : `priority +${t.weight} while it is up`;
    return {
      name: t.name,
      script: kind ? kind.command(value!, t.timeout).join(' ') : t.command!,
      user: TRACK_USER,
      interval: t.interval,
      timeout: t.timeout,
      fall: t.fall,
      rise: t.rise,
      weight: t.weight,
      comment: `${kind ? kind.describe(value!) : 'the command exits 0'}; ${effect}`,
    };
  });
}

/** The packages the tracked checks' commands need on a director (beyond keepalived). */
export const trackPackages = (model: ClusterModel): string[] => [...new Set(model.tracks.flatMap((t) => (t.kind ? TRACK_KINDS[t.kind].packages : [])))];

export function keepalivedConfig(model: ClusterModel, host: string, facts: Facts | undefined): KeepalivedConfig {
  if (!model.directors.includes(host)) throw new Error(`${host} is not in the group directors`);
  refuseForKeepalivedVersion(model, host, facts);
  const iface = hostLanInterface(model, host, facts);
  const instances = model.instances.map((inst, i) => ({
    name: inst.name,
    vrid: inst.vrid,
    priority: inst.priorities[host],
    advertInt: model.vrrp.advertInt,
    preempt: model.vrrp.preempt,
    preemptDelay: model.vrrp.preemptDelay,
    authPass: model.vrrp.authPass === undefined ? undefined : secret(model.vrrp.authPass),
    addresses: i === 0 && model.natGateway ? [inst.vip, model.natGateway] : [inst.vip],
    electorate: Object.entries(inst.priorities)
      .sort((a, b) => b[1] - a[1])
      .map(([d, p]) => `${d} ${p}${d === host ? ' (this director)' : ''}`)
      .join(', '),
  }));
  return {
    routerId: host,
    scriptUser: model.scriptUser,
    scripts: trackScripts(model),
    vrrpVersion: model.vrrp.version,
    interface: iface,
    instances,
    syncGroup: model.natGateway && instances.length > 1 ? instances.map((i) => i.name) : undefined,
    syncDaemon: model.syncInstance
      ? { interface: iface, instance: model.syncInstance, syncid: instances.find((i) => i.name === model.syncInstance)!.vrid, byUnit: syncByUnit(model) }
      : undefined,
    unicast: model.unicastPeers ? unicastPeers(model.unicastPeers, host) : undefined,
    virtualServers: model.services.map(virtualServer),
  };
}

/** This director's address and every other director's, in the order of the group directors. */
export const unicastPeers = (addresses: Record<string, string>, host: string): KeepalivedConfig['unicast'] => ({
  srcIp: addresses[host]!,
  peers: Object.entries(addresses).filter(([d]) => d !== host).map(([name, ip]) => ({ name, ip })),
});

/**
 * What the directors must share to hear each other's adverts — version, interval, VRIDs, the
 * password (as a hash), multicast or unicast and to whom — as a small text file. Rolled out one
 * director at a time, a change of these leaves the two sides deaf to each other: both become
 * MASTER, and the last to announce the VIP by gratuitous ARP keeps the clients even after it steps
 * down. A reload does not re-announce; a restart makes the new MASTER announce last, so a change of
 * this file restarts keepalived.
 */
export function vrrpPeerSettings(ka: KeepalivedConfig): string {
  const lines = ['# written by lvsplay (roles/director): VRRP settings every director must share', `vrrp_version ${ka.vrrpVersion}`];
  for (const i of ka.instances) {
    const auth = i.authPass ? `PASS sha256:${createHash('sha256').update(i.authPass.value).digest('hex').slice(0, 16)}` : 'none';
    lines.push(`${i.name} vrid ${i.vrid} advert_int ${i.advertInt} auth ${auth}`);
  }
  // the sync threads left keepalived's hands: a restart (not a reload, which keepalived carries out
  // after the handlers) stops the ones it ran before lvsplay's unit takes them over
  if (ka.syncDaemon?.byUnit) lines.push(`ipvs sync threads by ${IPVS_SYNC_UNIT}`);
  // multicast (the default) writes no line, so the file stays as it was before lvs_vrrp_unicast;
  // unicast: every director's address, sorted, the same line on each
  if (ka.unicast) lines.push(`unicast between ${[ka.unicast.srcIp, ...ka.unicast.peers.map((p) => p.ip)].sort().join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/** The kernel modules a director loads: ip_vs and one per scheduler in use. */
export const directorKernelModules = (model: ClusterModel): string[] => ['ip_vs', ...model.algos.map((a) => `ip_vs_${a}`)];
