// IPv4 arithmetic for the cluster model: enough to check that an address lies in a subnet and to
// hand out addresses from a pool. IPv6 is out of scope (VRRPv2 cannot carry it anyway).

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function isIPv4(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  const m = IPV4.exec(s);
  return !!m && m.slice(1).every((o) => Number(o) <= 255 && String(Number(o)) === o);
}

export function ipToInt(ip: string): number {
  if (!isIPv4(ip)) throw new Error(`not an IPv4 address: ${JSON.stringify(ip)}`);
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export interface Cidr {
  network: number;
  prefix: number;
  size: number;
}

export function isCidr(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  const [ip, prefix, ...rest] = s.split('/');
  return rest.length === 0 && isIPv4(ip) && /^\d{1,2}$/.test(prefix ?? '') && Number(prefix) <= 32;
}

/** `172.28.128.7/24` → network 172.28.128.0, prefix 24 (host bits are ignored, as `ip route` does). */
export function parseCidr(s: string): Cidr {
  if (!isCidr(s)) throw new Error(`not an IPv4 CIDR: ${JSON.stringify(s)}`);
  const [ip, p] = s.split('/');
  const prefix = Number(p);
  const size = 2 ** (32 - prefix);
  return { network: Math.floor(ipToInt(ip) / size) * size, prefix, size };
}

export function cidrContains(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr);
  const n = ipToInt(ip);
  return n >= c.network && n < c.network + c.size;
}

/** The network and broadcast addresses of a subnet (none for /31 and /32, RFC 3021). */
export function isNetworkOrBroadcast(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr);
  if (c.prefix >= 31) return false;
  const n = ipToInt(ip);
  return n === c.network || n === c.network + c.size - 1;
}

/** The usable host addresses of a subnet, in order (network and broadcast skipped below /31). */
export function hostAddresses(cidr: string, limit = Infinity): string[] {
  const c = parseCidr(cidr);
  const first = c.prefix >= 31 ? c.network : c.network + 1;
  const last = c.prefix >= 31 ? c.network + c.size - 1 : c.network + c.size - 2;
  const out: string[] = [];
  for (let n = first; n <= last && out.length < limit; n++) out.push(intToIp(n));
  return out;
}

/** `172.28.128.11/24` → `172.28.128.11` */
export const addressOf = (cidr: string): string => cidr.split('/')[0];
