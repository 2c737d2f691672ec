// Who is MASTER of which VIP: the VRRP priorities, derived from the order of the directors.
//
// Every instance is `state BACKUP` on every director and the election is left to the
// priorities (keepalived's own advice: "All systems should have different priorities in order
// to make behaviour deterministic"). A director that comes back preempts by priority; with
// lvs_preempt: false the template adds `nopreempt`, which keepalived honours only because the
// initial state is not MASTER.

export interface InstanceLayout {
  vip: string;
  /** director → priority */
  priorities: Record<string, number>;
}

/** 150, 100, 50 … for the directors in inventory order; the step shrinks so that the last stays ≥ 1. */
export function derivedPriorities(count: number): number[] {
  const step = count <= 1 ? 0 : Math.min(50, Math.floor(149 / (count - 1)));
  return Array.from({ length: count }, (_, i) => 150 - i * step);
}

/** One instance per VIP, all with the same priorities: the first director holds every VIP. */
export function standbyLayout(directors: string[], vips: string[], explicit: Record<string, number | undefined> = {}): InstanceLayout[] {
  const derived = derivedPriorities(directors.length);
  const priorities = Object.fromEntries(directors.map((d, i) => [d, explicit[d] ?? derived[i]]));
  return vips.map((vip) => ({ vip, priorities: { ...priorities } }));
}

/**
 * Active-active: every director is MASTER of some VIPs and losing any one of them spreads its
 * VIPs — hence its share of the clients, when DNS or the clients spread evenly over the VIPs —
 * exactly evenly over the survivors.
 *
 * A VIP lives on exactly one MASTER at a time, so a director's load can only move in whole VIPs.
 * With one VIP per director (3 VIPs over 3 directors) the dead director's single VIP lands on ONE
 * survivor, which then carries 2 VIPs against the other's 1: a 2:1 split, that survivor at 2/3 of
 * the total load instead of 1/2. To hand its load to the N−1 survivors in equal parts a director
 * must be primary for a multiple of N−1 VIPs, each with a different backup: hence one VIP per
 * ordered (primary, backup) pair, N·(N−1) VIPs (6 for 3 directors). Losing director X, each of
 * its N−1 VIPs goes to its own backup, a different survivor each time, and every survivor ends
 * with N VIPs of N·(N−1): exactly 1/(N−1) of the load.
 *
 * Priorities per instance (primary P, backup B): P 150, B 100, then the other directors in ring
 * order after B (skipping P) at 50, 49, … — rotated, so that a second failure also spreads
 * rather than piling on the first director of the list.
 */
export function activeActiveLayout(directors: string[], vips: string[]): InstanceLayout[] {
  const n = directors.length;
  if (vips.length !== activeActiveVipCount(n)) {
    throw new Error(`active-active over ${n} directors needs ${activeActiveVipCount(n)} VIPs, got ${vips.length}`);
  }
  const out: InstanceLayout[] = [];
  for (let p = 0; p < n; p++) {
    for (let k = 1; k < n; k++) {
      const b = (p + k) % n;
      const priorities: Record<string, number> = { [directors[p]]: 150, [directors[b]]: 100 };
      let rest = 50;
      for (let j = 1; j < n; j++) {
        const d = (b + j) % n;
        if (d !== p) priorities[directors[d]] = rest--;
      }
      out.push({ vip: vips[out.length], priorities });
    }
  }
  return out;
}

export const activeActiveVipCount = (directors: number): number => directors * (directors - 1);

/** Who holds each VIP when only `alive` directors run: the highest priority among them. */
export function mastersWith(layout: InstanceLayout[], alive: Iterable<string>): Map<string, string | undefined> {
  const up = new Set(alive);
  return new Map(
    layout.map((i) => {
      const best = Object.entries(i.priorities)
        .filter(([d]) => up.has(d))
        .sort((a, b) => b[1] - a[1])[0];
      return [i.vip, best?.[0]];
    }),
  );
}

/** VRIDs 51, 52, … (from 1 when that would pass 255). */
export function derivedVrids(count: number): number[] {
  const start = 51 + count - 1 <= 255 ? 51 : 1;
  return Array.from({ length: count }, (_, i) => start + i);
}
