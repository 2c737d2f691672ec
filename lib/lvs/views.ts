// What one host makes of the cluster model: the director's keepalived.conf data, the real
// server's addresses and routes. Pure: the model, the host's name and its facts in.
import { createHash } from 'node:crypto';
import { secret, type Secret } from '../shell.ts';
import type { Facts } from '../types.ts';
import { lanInterface } from './iface.ts';
import type { ClusterModel, VirtualService } from './model.ts';

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

export interface KeepalivedConfig {
  routerId: string;
  scriptUser: string;
  vrrpVersion: 2 | 3;
  interface: string;
  instances: KeepalivedInstance[];
  /** NAT with several instances: they must fail over together, the gateway sits in the first */
  syncGroup?: string[];
  syncDaemon?: { interface: string; instance: string };
  virtualServers: VirtualService[];
}

export function hostLanInterface(model: ClusterModel, host: string, facts: Facts | undefined): string {
  const hv = model.hosts[host] ?? {};
  return lanInterface(facts, { host, explicit: hv.lvs_lan_interface, lanIp: hv.lan_ip, lanCidr: model.lanCidr });
}

export function keepalivedConfig(model: ClusterModel, host: string, facts: Facts | undefined): KeepalivedConfig {
  if (!model.directors.includes(host)) throw new Error(`${host} is not in the group directors`);
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
    vrrpVersion: model.vrrp.version,
    interface: iface,
    instances,
    syncGroup: model.natGateway && instances.length > 1 ? instances.map((i) => i.name) : undefined,
    syncDaemon: model.syncInstance ? { interface: iface, instance: model.syncInstance } : undefined,
    virtualServers: model.services,
  };
}

/**
 * What the directors must share to hear each other's adverts — version, interval, VRIDs, the
 * password (as a hash) — as a small text file. Rolled out one director at a time, a change of these
 * leaves the two sides deaf to each other: both become MASTER, and the last to announce the VIP by
 * gratuitous ARP keeps the clients even after it steps down. A reload does not re-announce; a
 * restart makes the new MASTER announce last, so a change of this file restarts keepalived.
 */
export function vrrpPeerSettings(ka: KeepalivedConfig): string {
  const lines = ['# written by lvsplay (roles/director): VRRP settings every director must share', `vrrp_version ${ka.vrrpVersion}`];
  for (const i of ka.instances) {
    const auth = i.authPass ? `PASS sha256:${createHash('sha256').update(i.authPass.value).digest('hex').slice(0, 16)}` : 'none';
    lines.push(`${i.name} vrid ${i.vrid} advert_int ${i.advertInt} auth ${auth}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `net.ipv4.conf.<dev>.<name>`, in the slash form when the device name has a dot (eth0.100). */
export const ipv4ConfKey = (dev: string, name: string): string =>
  dev.includes('.') ? `net/ipv4/conf/${dev}/${name}` : `net.ipv4.conf.${dev}.${name}`;

/** The kernel modules a director loads: ip_vs and one per scheduler in use. */
export const directorKernelModules = (model: ClusterModel): string[] => ['ip_vs', ...model.algos.map((a) => `ip_vs_${a}`)];

export interface RealserverPlan {
  lanInterface: string;
  /** DR: the VIPs on lo */
  loVips: string[];
  /** TUN: the VIPs on tunl0 */
  tunnelVips: string[];
  /** NAT: routes through the gateway the MASTER holds */
  nat?: { gateway: string; routes: string[] };
  /** TCP ports nginx listens on */
  httpPorts: number[];
  /** arp_ignore / arp_announce are needed whenever a VIP sits on this host */
  arpSysctls: boolean;
}

export function realserverPlan(model: ClusterModel, host: string, facts: Facts | undefined): RealserverPlan {
  if (!model.realservers.some((r) => r.name === host)) throw new Error(`${host} is not in the group realservers`);
  const has = (k: string) => model.kinds.includes(k as never);
  const loVips = has('DR') ? model.vips : [];
  const tunnelVips = has('TUN') ? model.vips : [];
  return {
    lanInterface: hostLanInterface(model, host, facts),
    loVips,
    tunnelVips,
    nat: has('NAT') && model.natGateway ? { gateway: model.natGateway, routes: model.natRoutes } : undefined,
    httpPorts: [...new Set(model.services.filter((s) => s.protocol === 'tcp').map((s) => s.port))],
    arpSysctls: loVips.length + tunnelVips.length > 0,
  };
}
