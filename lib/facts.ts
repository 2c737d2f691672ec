// Facts about a host, read in groups (only those something reads), parsed by pure functions.
import { raw, sh } from './shell.ts';
import type { Command } from './shell.ts';
import type { Conn, ExecResult, Facts } from './types.ts';

/** /etc/os-release: KEY=value lines, values optionally quoted (shell-style escapes). */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2].trim();
    if (/^".*"$/.test(v)) v = v.slice(1, -1).replace(/\\([\\"$`])/g, '$1');
    else if (/^'.*'$/.test(v)) v = v.slice(1, -1);
    out[m[1]] = v;
  }
  return out;
}

export function osFacts(text: string): Facts['os'] {
  const r = parseOsRelease(text);
  return { id: r.ID ?? '', versionId: r.VERSION_ID ?? '', codename: r.VERSION_CODENAME ?? '', prettyName: r.PRETTY_NAME ?? '' };
}

/** `ip -o link`: name → up (administratively: the UP flag) and MAC for Ethernet-like links. */
export function parseIpLink(text: string): Record<string, { up: boolean; mac?: string }> {
  const out: Record<string, { up: boolean; mac?: string }> = {};
  for (const line of text.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)(?:@[^:\s]*)?:\s+<([^>]*)>/.exec(line);
    if (!m) continue;
    const mac = /link\/ether ([0-9a-fA-F:]{17})/.exec(line)?.[1];
    out[m[1]] = { up: m[2].split(',').includes('UP'), ...(mac ? { mac: mac.toLowerCase() } : {}) };
  }
  return out;
}

/** `ip -o -4 addr`: name → IPv4 CIDRs, in order. */
export function parseIpAddr(text: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const line of text.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)\S*\s+inet (\d+\.\d+\.\d+\.\d+\/\d+)/.exec(line);
    if (m) (out[m[1]] ??= []).push(m[2]);
  }
  return out;
}

/** /proc/net/route: the interface of the default route with the lowest metric. */
export function parseDefaultInterface(procNetRoute: string): string | undefined {
  let best: { iface: string; metric: number } | undefined;
  for (const line of procNetRoute.split('\n').slice(1)) {
    const [iface, dest, , , , , metric, mask] = line.trim().split(/\s+/);
    if (!iface || dest !== '00000000' || mask !== '00000000') continue;
    const m = Number(metric);
    if (!best || m < best.metric) best = { iface, metric: m };
  }
  return best?.iface;
}

/** `grep -H . /sys/class/net/<dev>/address …/operstate` (used when iproute2 is missing). */
export function parseSysClassNet(text: string): Record<string, { up: boolean; mac?: string }> {
  const out: Record<string, { up: boolean; mac?: string }> = {};
  for (const line of text.split('\n')) {
    const m = /^\/sys\/class\/net\/([^/]+)\/(address|operstate):(.*)$/.exec(line);
    if (!m) continue;
    const e = (out[m[1]] ??= { up: false });
    if (m[2] === 'operstate') e.up = m[3] === 'up' || m[3] === 'unknown';
    else if (m[3] !== '00:00:00:00:00:00') e.mac = m[3].toLowerCase();
  }
  return out;
}

export const DPKG_FACTS_FORMAT = '${Package}\\t${Version}\\t${Status}\\n';

/** `dpkg-query -W -f '${Package}\t${Version}\t${Status}\n'`: installed packages → version. */
export function parseDpkgVersions(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const [name, version, status] = line.split('\t');
    if (name && status?.trim().split(/\s+/)[2] === 'installed') out[name] = version ?? '';
  }
  return out;
}

export function interfaceFacts(ipAddr: string | undefined, ipLink: string | undefined, sysfs: string): Facts['interfaces'] {
  const links = ipLink !== undefined ? parseIpLink(ipLink) : parseSysClassNet(sysfs);
  const addrs = ipAddr !== undefined ? parseIpAddr(ipAddr) : {};
  const out: Facts['interfaces'] = {};
  for (const name of new Set([...Object.keys(links), ...Object.keys(addrs)])) {
    out[name] = { cidrs: addrs[name] ?? [], up: links[name]?.up ?? false, ...(links[name]?.mac ? { mac: links[name].mac } : {}) };
  }
  return out;
}

// ---------------------------------------------------------------- groups

/** Facts come in groups, each read by its own probes: a run pays only for the groups something reads. */
export type FactGroup = 'hostname' | 'os' | 'interfaces' | 'packages' | 'systemd';

type Ok = (r: ExecResult) => string | undefined;
const ok: Ok = (r) => (r.exitCode === 0 ? r.stdout : undefined);

export const FACT_GROUPS: Record<FactGroup, { probes: Command[]; parse(r: ExecResult[]): Partial<Facts> }> = {
  hostname: { probes: [sh`uname -n`], parse: ([h]) => ({ hostname: h.stdout.trim() }) },
  os: { probes: [sh`cat /etc/os-release`], parse: ([o]) => ({ os: osFacts(o.stdout) }) },
  interfaces: {
    probes: [
      sh`ip -o -4 addr show`,
      sh`ip -o link show`,
      sh`cat /proc/net/route`,
      sh`grep -H . ${raw('/sys/class/net/*/address /sys/class/net/*/operstate')}`,
    ],
    parse: ([addr, link, route, sysfs]) => ({
      interfaces: interfaceFacts(ok(addr), ok(link), sysfs.stdout),
      defaultInterface: parseDefaultInterface(route.stdout),
    }),
  },
  packages: { probes: [sh`dpkg-query -W -f ${DPKG_FACTS_FORMAT}`], parse: ([d]) => ({ packages: parseDpkgVersions(d.stdout) }) },
  systemd: { probes: [sh`test -d /run/systemd/system`], parse: ([s]) => ({ systemd: s.exitCode === 0 }) },
};

export const ALL_FACT_GROUPS = Object.keys(FACT_GROUPS) as FactGroup[];

/**
 * The groups to read when `needed` are missing: the small ones travel together (a few hundred
 * bytes: a later reader of another small group costs no extra round trip); the package list
 * (~800 lines) only when something reads it.
 */
export function groupsToRead(needed: FactGroup[], has: (g: FactGroup) => boolean): FactGroup[] {
  const small = ALL_FACT_GROUPS.filter((g) => g !== 'packages');
  const want = new Set(needed.some((g) => g !== 'packages') ? [...needed, ...small] : needed);
  return ALL_FACT_GROUPS.filter((g) => want.has(g) && !has(g));
}

/** The group a Facts key belongs to. */
export const FACT_KEY_GROUP: Record<keyof Facts, FactGroup> = {
  hostname: 'hostname',
  os: 'os',
  interfaces: 'interfaces',
  defaultInterface: 'interfaces',
  packages: 'packages',
  systemd: 'systemd',
};

/** The probes of `groups`, in order, and the parser of their results (same order). */
export function factProbes(groups: FactGroup[]): { probes: Command[]; parse(results: ExecResult[]): Partial<Facts> } {
  return {
    probes: groups.flatMap((g) => FACT_GROUPS[g].probes),
    parse(results) {
      let at = 0;
      const out: Partial<Facts> = {};
      for (const g of groups) {
        const n = FACT_GROUPS[g].probes.length;
        Object.assign(out, FACT_GROUPS[g].parse(results.slice(at, at + n)));
        at += n;
      }
      return out;
    },
  };
}

/** Every fact in ONE round trip. */
export async function gatherFacts(conn: Conn): Promise<Facts> {
  const { probes, parse } = factProbes(ALL_FACT_GROUPS);
  return parse(await conn.read(probes)) as Facts;
}
