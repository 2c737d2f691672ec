// Facts about a host, gathered once per run in ONE round trip, parsed by pure functions.
import { raw, sh } from './shell.ts';
import type { Conn, Facts } from './types.ts';

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

export async function gatherFacts(conn: Conn): Promise<Facts> {
  const [host, osr, addr, link, route, sysfs, dpkg, systemd] = await conn.read([
    sh`uname -n`,
    sh`cat /etc/os-release`,
    sh`ip -o -4 addr show`,
    sh`ip -o link show`,
    sh`cat /proc/net/route`,
    sh`grep -H . ${raw('/sys/class/net/*/address /sys/class/net/*/operstate')}`,
    sh`dpkg-query -W -f ${DPKG_FACTS_FORMAT}`,
    sh`test -d /run/systemd/system`,
  ]);
  const ok = (r: { exitCode: number; stdout: string }) => (r.exitCode === 0 ? r.stdout : undefined);
  return {
    hostname: host.stdout.trim(),
    os: osFacts(osr.stdout),
    interfaces: interfaceFacts(ok(addr), ok(link), sysfs.stdout),
    defaultInterface: parseDefaultInterface(route.stdout),
    packages: parseDpkgVersions(dpkg.stdout),
    systemd: systemd.exitCode === 0,
  };
}
