// Network and service facts of any host: addresses, ARP sysctls, routes, a unit's state, an HTTP
// answer on localhost. `ip -o addr` is parsed by lib/facts.ts (the run's facts): one parser.
import { parseIpAddr } from '../facts.ts';
import { sh } from '../shell.ts';
import { defineFact, type Fact } from './fact.ts';

/** `grep -H . /proc/sys/net/ipv4/conf/*\/arp_*`: interface → { arp_ignore, arp_announce }. */
export function parseArpSysctls(text: string): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const m of text.matchAll(/^\/proc\/sys\/net\/ipv4\/conf\/([^/]+)\/([a-z_]+):(-?\d+)$/gm)) (out[m[1]] ??= {})[m[2]] = Number(m[3]);
  return out;
}

/** `ip -4 route show`: the gateway of each route (`default`, `172.28.128.40`, `10.0.0.0/8` …). */
export function parseRoutes(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^(\S+)\s+via\s+(\S+)/gm)) out[m[1]] ??= m[2];
  return out;
}

export interface HttpAnswer {
  url: string;
  /** 0: no answer (refused, timed out) */
  status: number;
  error?: string;
}

export const netFacts = {
  addresses: defineFact({ name: 'ip -o -4 addr', command: sh`ip -o -4 addr show`, parse: (r) => parseIpAddr(r.stdout) }),
  arp: defineFact({
    name: 'arp sysctls',
    command: sh`grep -H . /proc/sys/net/ipv4/conf/*/arp_ignore /proc/sys/net/ipv4/conf/*/arp_announce /proc/sys/net/ipv4/conf/*/rp_filter`,
    parse: (r) => parseArpSysctls(r.stdout),
  }),
  routes: defineFact({ name: 'ip -4 route', command: sh`ip -4 route show`, parse: (r) => parseRoutes(r.stdout) }),
};

/** `systemctl is-active UNIT`: active, inactive, failed … */
export const unitState = (unit: string): Fact<string> =>
  defineFact({ name: `systemctl is-active ${unit}`, command: sh`systemctl is-active ${unit}`, parse: (r) => r.stdout.trim() || 'unknown' });

/**
 * An HTTP GET on this host, bounded: the status code, 0 when nothing answered. 5 s: a refused port
 * answers at once and a healthy one in milliseconds, but a TLS handshake on a busy one-CPU emulated
 * node took 1.2 s idle and over 2 s while status read every node at once (the co-located lab).
 */
export const httpGet = (url: string, timeoutS = 5): Fact<HttpAnswer> =>
  defineFact({
    name: `curl ${url}`,
    // -k: the real servers' certificates are self-signed; only the answer matters here
    command: sh`curl -s -k -o /dev/null -w '%{http_code}' --max-time ${timeoutS} ${url}`,
    parse: (r) => {
      const status = Number(r.stdout.trim()) || 0;
      return { url, status, ...(status ? {} : { error: r.exitCode === 7 ? 'connection refused' : r.exitCode === 28 ? `no answer within ${timeoutS} s` : `curl exited ${r.exitCode}` }) };
    },
  });
