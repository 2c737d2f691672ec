// Co-located directors (each node a director AND a real server, LVS-DR): the packet marks that
// keep a packet from being scheduled twice.
//
// Every node loads the same virtual services, and in DR the MASTER forwards a client's packet
// unchanged (VIP as destination) to the chosen node's MAC. If that node's IPVS matched it by
// VIP:port it would schedule it again — to a third node or back: requests handled twice, loops,
// timeouts. So the virtual services are firewall-mark services, and a node marks only the packets
// that did NOT come from a director's MAC: a client's packet (the node holding the VIP, or one a
// stale ARP cache still sends to) is marked and scheduled; a packet another director forwarded is
// left unmarked, matches no virtual service and is delivered to the local nginx (VIP on lo).
import type { ClusterModel } from '../../lib/lvs/index.ts';

export const COLOCATION_NFT = '/etc/lvsplay/colocation.nft';
export const COLOCATION_UNIT = 'lvsplay-colocation.service';

export interface MarkRule {
  vip: string;
  port: number;
  protocol: 'tcp' | 'udp';
  mark: number;
}

export interface DirectorAddress {
  name: string;
  ip: string;
}

export interface ColocationArgs {
  /** this director */
  host: string;
  /** the LAN interface, where the peers are asked for their MAC */
  iface: string;
  /** every director (this one included): their MACs fill the set of forwarders */
  directors: DirectorAddress[];
  marks: MarkRule[];
  dest: string;
}

export function colocationArgs(model: ClusterModel, host: string, iface: string): ColocationArgs | undefined {
  if (!model.colocated.length) return undefined;
  return {
    host,
    iface,
    directors: model.directors.map((name) => ({ name, ip: model.hosts[name].lan_ip! })),
    marks: model.services.filter((s) => s.fwmark !== undefined).map((s) => ({ vip: s.vip, port: s.port, protocol: s.protocol, mark: s.fwmark! })),
    dest: COLOCATION_NFT,
  };
}

const RECORD = /^# director (\S+) (\S+) ([0-9a-f:]{17})$/gm;

/** The MACs a previous run recorded in the ruleset (used for a director that is down now). */
export function recordedMacs(text: string): Record<string, string> {
  return Object.fromEntries([...text.matchAll(RECORD)].map((m) => [m[1], m[3]]));
}

/** `ip -4 neigh show dev IF` → IP → MAC, for entries that have one (not FAILED/INCOMPLETE). */
export function parseNeighbours(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^(\d+\.\d+\.\d+\.\d+)\s.*\blladdr ([0-9a-fA-F:]{17})\b/gm)) out[m[1]] = m[2].toLowerCase();
  return out;
}

/** Pure: the nftables ruleset, loaded atomically by `nft -f` (the table is replaced as a whole). */
export function colocationRuleset(args: ColocationArgs, macs: Record<string, string>): string {
  const missing = args.directors.filter((d) => !macs[d.name]);
  if (missing.length) throw new Error(`colocation ruleset: no MAC for ${missing.map((d) => d.name).join(', ')}`);
  const uniqueMacs = [...new Set(args.directors.map((d) => macs[d.name]))];
  return [
    `# Managed by lvsplay (role director) for ${args.host}: local edits are overwritten.`,
    '# Co-located directors: a packet another director forwarded (its source MAC is a director\'s)',
    '# stays unmarked and is served here; any other packet to a virtual service is marked and',
    '# scheduled by the firewall-mark virtual services in keepalived.conf.',
    ...args.directors.map((d) => `# director ${d.name} ${d.ip} ${macs[d.name]}`),
    'table ip lvsplay',
    'delete table ip lvsplay',
    'table ip lvsplay {',
    '    set directors {',
    '        type ether_addr',
    `        elements = { ${uniqueMacs.join(', ')} }`,
    '    }',
    '',
    '    chain prerouting {',
    '        type filter hook prerouting priority mangle; policy accept;',
    '        ether saddr @directors return',
    ...args.marks.map((m) => `        ip daddr ${m.vip} ${m.protocol} dport ${m.port} meta mark set ${m.mark}`),
    '    }',
    '}',
    '',
  ].join('\n');
}

/** Loads the ruleset at boot, before keepalived starts scheduling. */
export const colocationUnit = (dest: string): string =>
  [
    '# Managed by lvsplay (role director): do not edit.',
    '[Unit]',
    "Description=lvsplay: co-located directors' packet marks",
    'DefaultDependencies=no',
    'Before=network-pre.target keepalived.service',
    'Wants=network-pre.target',
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    `ExecStart=/usr/sbin/nft -f ${dest}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
