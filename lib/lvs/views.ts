// What every role needs of one host: its LAN interface, and sysctl keys for it. What each role
// renders lives with the role (roles/director/keepalived.ts, roles/realserver/plan.ts).
import type { Facts } from '../types.ts';
import { lanInterface } from './iface.ts';
import type { ClusterModel } from './model.ts';

export function hostLanInterface(model: ClusterModel, host: string, facts: Facts | undefined): string {
  const hv = model.hosts[host] ?? {};
  return lanInterface(facts, { host, explicit: hv.lvs_lan_interface, lanIp: hv.lan_ip, lanCidr: model.lanCidr });
}

/** `net.ipv4.conf.<dev>.<name>`, in the slash form when the device name has a dot (eth0.100). */
export const ipv4ConfKey = (dev: string, name: string): string =>
  dev.includes('.') ? `net/ipv4/conf/${dev}/${name}` : `net.ipv4.conf.${dev}.${name}`;

