// Which interface is on the LAN segment: lvs_lan_interface when given, else the one holding the
// host's lan_ip, else the one with an address inside lan_cidr. `lo` never counts: real servers
// carry the VIPs there, and a VIP is inside lan_cidr.
import type { Facts } from '../types.ts';
import { addressOf, cidrContains, isCidr } from './ip.ts';

export interface LanInterfaceQuery {
  host: string;
  explicit?: string;
  lanIp?: string;
  lanCidr: string;
}

const describe = (facts: Facts) =>
  Object.entries(facts.interfaces)
    .map(([name, i]) => `${name} ${i.cidrs.join(',') || '(no IPv4)'}`)
    .join('; ');

export function lanInterface(facts: Facts | undefined, q: LanInterfaceQuery): string {
  const ifaces = facts?.interfaces;
  if (q.explicit) {
    if (ifaces && Object.keys(ifaces).length && !ifaces[q.explicit]) {
      throw new Error(`${q.host}: lvs_lan_interface = ${JSON.stringify(q.explicit)} does not exist on the host (interfaces: ${describe(facts!)})`);
    }
    return q.explicit;
  }
  if (!ifaces || !Object.keys(ifaces).length) {
    throw new Error(`${q.host}: cannot discover the LAN interface without facts: gather facts or set lvs_lan_interface`);
  }
  const candidates = Object.entries(ifaces).filter(([name]) => name !== 'lo');
  const holding = (pred: (ip: string) => boolean) =>
    candidates.find(([, i]) => i.cidrs.some((c) => isCidr(c) && pred(addressOf(c))))?.[0];
  const found = q.lanIp ? holding((ip) => ip === q.lanIp) : holding((ip) => cidrContains(q.lanCidr, ip));
  if (!found) {
    const what = q.lanIp ? `holds lan_ip ${q.lanIp}` : `has an address in lan_cidr ${q.lanCidr}`;
    throw new Error(`${q.host}: no interface ${what} (interfaces: ${describe(facts!)}); set lvs_lan_interface`);
  }
  return found;
}
