// What the drill reads on each director before and after a run (who holds the VIP, keepalived,
// the LAN link, the IPVS table), and the comparison that says whether the run left it as found.
import type { Conn } from '../types.ts';
import { stateProbes } from './kill.ts';
import { vipHolders } from './observe.ts';

export interface HostState {
  addr: string;
  keepalived: string;
  linkUp: boolean;
  /** `ipvsadm -Sn`, sorted lines */
  ipvs: string[];
}

export async function readState(conn: Conn, lanInterface: string): Promise<HostState> {
  const [addr, active, link, ipvs] = await conn.read(stateProbes(lanInterface));
  return {
    addr: addr!.stdout,
    keepalived: active!.stdout.trim() || `unknown (${active!.exitCode})`,
    linkUp: /<([^>]*)>/.exec(link!.stdout)?.[1]?.split(',').includes('UP') ?? false,
    ipvs: ipvs!.stdout.split('\n').map((l) => l.trim()).filter(Boolean).sort(),
  };
}

/**
 * The same virtual services, and every real server that was in them before: a real server that a
 * health check had taken out before the drill (a flapping check, a node's upstream down) and that
 * is back afterwards is the checker's doing, not a leftover of the drill.
 */
export function ipvsAsFound(before: string[], after: string[]): boolean {
  const services = (rules: string[]) => rules.filter((r) => r.startsWith('-A ')).join('\n');
  const reals = new Set(after);
  return services(before) === services(after) && before.every((r) => reals.has(r));
}

/** Differences between the cluster's state before and after a run (empty: as found). Pure. */
export function compareStates(before: Record<string, HostState>, after: Record<string, HostState>, vips: string[]): string[] {
  const problems: string[] = [];
  const holders = (s: Record<string, HostState>) => vipHolders(Object.fromEntries(Object.entries(s).map(([h, v]) => [h, v.addr])), vips);
  const hb = holders(before);
  const ha = holders(after);
  for (const vip of vips) {
    const b = hb[vip]!.join(', ') || 'nobody';
    const a = ha[vip]!.join(', ') || 'nobody';
    if (a !== b) problems.push(`${vip}: held by ${a}, before the drill by ${b}`);
  }
  for (const [host, b] of Object.entries(before)) {
    const a = after[host];
    if (!a) {
      problems.push(`${host}: no state read after the drill`);
      continue;
    }
    if (a.keepalived !== b.keepalived) problems.push(`${host}: keepalived is ${a.keepalived}, was ${b.keepalived}`);
    if (a.linkUp !== b.linkUp) problems.push(`${host}: LAN link is ${a.linkUp ? 'up' : 'down'}, was ${b.linkUp ? 'up' : 'down'}`);
    if (!ipvsAsFound(b.ipvs, a.ipvs)) problems.push(`${host}: IPVS rules differ:\n  before: ${b.ipvs.join(' | ') || '(none)'}\n  after:  ${a.ipvs.join(' | ') || '(none)'}`);
  }
  return problems;
}
