// Inventory → lab plan, pure: one VM per host with its SSH forward, private address, MAC and
// the files it uses. Every check happens here, before anything is started.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { ConfigError, type Host, type Inventory } from '../lib/types.ts';
import { DEFAULT_RELEASE, isRelease, RELEASES, type Release } from './recipe.ts';

export interface VmPlan {
  name: string;
  /** the SSH forward listens here (127.0.0.0/8 only) */
  address: string;
  port: number;
  /** address on the private segment, and the segment's prefix length */
  lanIp: string;
  prefix: number;
  /** MAC of the private NIC, derived from the name */
  mac: string;
  memoryMiB: number;
  /** the Debian release it boots (`lab_release`): its image, kernel and offline repository */
  release: Release;
  groups: string[];
}

export interface LabPlan {
  inventoryFile: string;
  /** per-VM overlays, sockets, pids, logs; the lab key and known_hosts live here too */
  stateDir: string;
  keyFile: string;
  knownHosts: string;
  lanCidr: string;
  vms: VmPlan[];
}

export const DEFAULT_MEMORY_MIB = 256;

/** 52:54:00 (qemu's locally administered unicast prefix) + 3 bytes of sha256(name). */
export function macFor(name: string): string {
  const h = createHash('sha256').update(`lvsplay-lab:${name}`).digest();
  return ['52', '54', '00', ...[...h.subarray(0, 3)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/** 32 hex digits from the name: the same VM keeps its machine-id across rebuilds. */
export function machineIdFor(name: string): string {
  return createHash('sha256').update(`lvsplay-lab-machine:${name}`).digest('hex').slice(0, 32);
}

export function parseIpv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

export function parseCidr(text: string): { network: number; prefix: number } | undefined {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text);
  const ip = m ? parseIpv4(m[1]) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (ip === undefined || !(prefix >= 8 && prefix <= 30)) return undefined;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { network: (ip & mask) >>> 0, prefix };
}

const inCidr = (ip: number, cidr: { network: number; prefix: number }) =>
  ((ip & ((0xffffffff << (32 - cidr.prefix)) >>> 0)) >>> 0) === cidr.network;

const HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/** Builds the plan for every host of the inventory; throws ConfigError naming file, host, key and value. */
export function planLab(inv: Inventory): LabPlan {
  const file = inv.file;
  const hosts = [...inv.hosts.values()];
  if (hosts.length === 0) throw new ConfigError('the inventory has no hosts: the lab boots one VM per host', file);
  const bad = (host: Host, key: string, value: unknown, why: string) =>
    new ConfigError(`host ${host.name}: ${key}: ${why}, got ${JSON.stringify(value)}`, file);

  const shared = (key: string, value: (h: Host) => unknown): string => {
    const first = value(hosts[0]);
    for (const h of hosts) {
      const v = value(h);
      if (typeof v !== 'string' || v === '') throw bad(h, key, v, 'the lab needs it set (in all: vars)');
      if (v !== first) throw bad(h, key, v, `every lab host must use the same value as ${hosts[0].name} (${JSON.stringify(first)})`);
    }
    return first as string;
  };
  const keyFile = shared('ansible_ssh_private_key_file', (h) => h.privateKeyFile);
  const knownHosts = path.resolve(path.dirname(file), shared('lvsplay_known_hosts', (h) => h.vars.lvsplay_known_hosts));
  const lanCidr = shared('lan_cidr', (h) => h.vars.lan_cidr);
  const cidr = parseCidr(lanCidr);
  if (!cidr) throw bad(hosts[0], 'lan_cidr', lanCidr, 'expected an IPv4 network such as 172.28.128.0/24 (prefix 8–30)');

  const ports = new Map<number, string>();
  const ips = new Map<string, string>();
  const macs = new Map<string, string>();
  const vms = hosts.map((h): VmPlan => {
    if (!HOSTNAME.test(h.name)) throw bad(h, 'name', h.name, 'a lab VM name must be a valid host name (letters, digits, -)');
    if (parseIpv4(h.address) === undefined || !h.address.startsWith('127.')) {
      throw bad(h, 'ansible_host', h.address, 'lab hosts are reached through a forward on the loopback: use 127.0.0.1');
    }
    if (!Number.isInteger(h.port) || h.port < 1024 || h.port > 65535 || h.vars.ansible_port === undefined) {
      throw bad(h, 'ansible_port', h.vars.ansible_port, 'expected the SSH forward port, 1024–65535');
    }
    const other = ports.get(h.port);
    if (other) throw bad(h, 'ansible_port', h.port, `already used by ${other}`);
    ports.set(h.port, h.name);

    const lanIp = h.vars.lan_ip;
    const ip = typeof lanIp === 'string' ? parseIpv4(lanIp) : undefined;
    if (ip === undefined || typeof lanIp !== 'string') throw bad(h, 'lan_ip', lanIp, 'expected an IPv4 address');
    if (!inCidr(ip, cidr)) throw bad(h, 'lan_ip', lanIp, `not inside lan_cidr ${lanCidr}`);
    const hostBits = ip - cidr.network;
    if (hostBits === 0 || hostBits === 2 ** (32 - cidr.prefix) - 1) throw bad(h, 'lan_ip', lanIp, `is the network or broadcast address of ${lanCidr}`);
    const ipOwner = ips.get(lanIp);
    if (ipOwner) throw bad(h, 'lan_ip', lanIp, `already used by ${ipOwner}`);
    ips.set(lanIp, h.name);

    const mac = macFor(h.name);
    const macOwner = macs.get(mac);
    if (macOwner) throw bad(h, 'name', h.name, `derives the same MAC (${mac}) as ${macOwner}: rename one of them`);
    macs.set(mac, h.name);

    const memory = h.vars.lab_memory_mb ?? DEFAULT_MEMORY_MIB;
    if (typeof memory !== 'number' || !Number.isInteger(memory) || memory < 128 || memory > 4096) {
      throw bad(h, 'lab_memory_mb', memory, 'expected MiB of guest memory, 128–4096');
    }
    const release = h.vars.lab_release ?? DEFAULT_RELEASE;
    if (!isRelease(release)) throw bad(h, 'lab_release', release, `expected one of ${Object.keys(RELEASES).join(', ')}`);
    return {
      name: h.name,
      address: h.address,
      port: h.port,
      lanIp,
      prefix: cidr.prefix,
      mac,
      memoryMiB: memory,
      release,
      groups: h.groups.filter((g) => g !== 'all'),
    };
  });

  return { inventoryFile: file, stateDir: path.dirname(keyFile), keyFile, knownHosts, lanCidr, vms };
}
