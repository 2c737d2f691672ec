// The kernel's IPVS state as ipvsadm prints it: the table (-Ln), its counters (--stats, --rate,
// with --exact so that numbers never come as 12K), the timeouts, the sync daemons and the
// connection entries by state. Pure parsers plus the facts that read them.
import { sh } from '../shell.ts';
import { defineFact } from './fact.ts';

export type Forward = 'Route' | 'Masq' | 'Tunnel' | 'Local' | string;

export interface IpvsReal {
  /** `172.28.128.21:80` */
  addr: string;
  forward: Forward;
  weight: number;
  activeConn: number;
  inActConn: number;
}

export interface IpvsService {
  /** `TCP 172.28.128.200:80` (the key health.ts and status use) */
  key: string;
  proto: string;
  addr: string;
  sched: string;
  /** seconds, when the service is persistent */
  persistent?: number;
  reals: IpvsReal[];
}

export interface IpvsTable {
  /** the connection table's hash size: `(size=4096)` */
  size?: number;
  services: IpvsService[];
}

const SERVICE = /^(TCP|UDP|SCTP|FWM)\s+(\S+)(?:\s+(.*))?$/;
const REAL = /^\s+->\s+(\S+)\s+(.*)$/;

/** `ipvsadm -Ln` → the table. */
export function parseIpvsTable(text: string): IpvsTable {
  const size = /\(size=(\d+)\)/.exec(text)?.[1];
  const services: IpvsService[] = [];
  for (const line of text.split('\n')) {
    const s = SERVICE.exec(line);
    if (s) {
      const [sched = '', ...flags] = (s[3] ?? '').trim().split(/\s+/);
      const p = flags.indexOf('persistent');
      services.push({
        key: `${s[1]} ${s[2]}`,
        proto: s[1],
        addr: s[2],
        sched,
        ...(p >= 0 ? { persistent: Number(flags[p + 1]) } : {}),
        reals: [],
      });
      continue;
    }
    const r = REAL.exec(line);
    if (!r || r[1] === 'RemoteAddress:Port' || !services.length) continue;
    const [forward, weight, active, inact] = r[2].trim().split(/\s+/);
    services.at(-1)!.reals.push({ addr: r[1], forward, weight: Number(weight), activeConn: Number(active), inActConn: Number(inact) });
  }
  return { ...(size ? { size: Number(size) } : {}), services };
}

/** `TCP 172.28.128.200:80` for each virtual service of `ipvsadm -Ln`. */
export const parseIpvsServices = (text: string): string[] => parseIpvsTable(text).services.map((s) => s.key);

/** One row of --stats or --rate: the five numbers after the address, by the header's names. */
export type Counters = Record<string, number>;

export interface IpvsCounters {
  /** service key → its counters */
  services: Record<string, Counters>;
  /** service key → real address → its counters */
  reals: Record<string, Record<string, Counters>>;
}

/**
 * `ipvsadm -Ln --stats --exact` (Conns InPkts OutPkts InBytes OutBytes) or `--rate --exact`
 * (CPS InPPS OutPPS InBPS OutBPS): the column names come from the header line.
 */
export function parseIpvsCounters(text: string): IpvsCounters {
  const out: IpvsCounters = { services: {}, reals: {} };
  let names: string[] = [];
  let current: string | undefined;
  const row = (cols: string[]) => Object.fromEntries(names.map((n, i) => [n, Number(cols[i])]).filter(([, v]) => !Number.isNaN(v)));
  for (const line of text.split('\n')) {
    const h = /^Prot\s+LocalAddress:Port\s+(.*)$/.exec(line);
    if (h) {
      names = h[1].trim().split(/\s+/);
      continue;
    }
    const s = SERVICE.exec(line);
    if (s) {
      current = `${s[1]} ${s[2]}`;
      out.services[current] = row((s[3] ?? '').trim().split(/\s+/));
      out.reals[current] = {};
      continue;
    }
    const r = REAL.exec(line);
    if (r && current && r[1] !== 'RemoteAddress:Port') out.reals[current][r[1]] = row(r[2].trim().split(/\s+/));
  }
  return out;
}

export interface IpvsTimeouts {
  tcp: number;
  tcpfin: number;
  udp: number;
}

/** `ipvsadm -L --timeout`: `Timeout (tcp tcpfin udp): 900 120 300`. */
export function parseIpvsTimeouts(text: string): IpvsTimeouts | undefined {
  const m = /Timeout \(tcp tcpfin udp\):\s*(\d+)\s+(\d+)\s+(\d+)/.exec(text);
  return m ? { tcp: Number(m[1]), tcpfin: Number(m[2]), udp: Number(m[3]) } : undefined;
}

export interface SyncDaemon {
  role: 'master' | 'backup';
  /** the interface it sends or listens on */
  mcast?: string;
  syncid?: number;
}

/** `ipvsadm -L --daemon`: `master sync daemon (mcast=eth1, syncid=51, maxlen=1472, …)`, one line per daemon. */
export function parseSyncDaemons(text: string): SyncDaemon[] {
  const out: SyncDaemon[] = [];
  for (const m of text.matchAll(/^(master|backup) sync daemon \(([^)]*)\)/gm)) {
    const kv = Object.fromEntries(m[2].split(',').map((p) => p.trim().split('=') as [string, string]));
    out.push({ role: m[1] as SyncDaemon['role'], ...(kv.mcast ? { mcast: kv.mcast } : {}), ...(kv.syncid ? { syncid: Number(kv.syncid) } : {}) });
  }
  return out;
}

/** Entries of the connection table (/proc/net/ip_vs_conn) counted by state: `ESTABLISHED 3`, `FIN_WAIT 47` … */
export function parseConnStates(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^([A-Z_]+)\s+(\d+)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

export const ipvsFacts = {
  ipvsTable: defineFact({ name: 'ipvsadm -Ln', command: sh`ipvsadm -Ln`, parse: (r) => (r.exitCode === 0 ? parseIpvsTable(r.stdout) : undefined) }),
  ipvsStats: defineFact({ name: 'ipvsadm -Ln --stats', command: sh`ipvsadm -Ln --stats --exact`, parse: (r) => parseIpvsCounters(r.stdout) }),
  ipvsRate: defineFact({ name: 'ipvsadm -Ln --rate', command: sh`ipvsadm -Ln --rate --exact`, parse: (r) => parseIpvsCounters(r.stdout) }),
  ipvsTimeouts: defineFact({ name: 'ipvsadm -L --timeout', command: sh`ipvsadm -L --timeout`, parse: (r) => parseIpvsTimeouts(r.stdout) }),
  syncDaemons: defineFact({ name: 'ipvsadm -L --daemon', command: sh`ipvsadm -L --daemon`, parse: (r) => parseSyncDaemons(r.stdout) }),
  // Counted on the host: the table may hold a million entries.
  connStates: defineFact({
    name: '/proc/net/ip_vs_conn',
    command: sh`awk 'NR > 1 { n[$8]++ } END { for (s in n) print s, n[s] }' /proc/net/ip_vs_conn`,
    parse: (r) => parseConnStates(r.stdout),
  }),
};
