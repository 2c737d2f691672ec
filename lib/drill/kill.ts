// What the drill's break and restore commands act on, and the small remote helpers around them.
// The modes themselves (each one's break, restore, theory, help line, order) are one table:
// lib/drill/modes.ts.
import { sh, type Command } from '../shell.ts';

export interface KillTarget {
  /** the VIPs the master holds (removed by hand after a SIGKILL) */
  vips: string[];
  /** the master's LAN interface (the VRRP link) */
  lanInterface: string;
  /** mode service: the unit of the first tracked check of kind service (lvs_track) */
  service?: string;
}

/** `ip -o -4 addr`, keepalived's state and the link, in one read: the facts the drill compares before and after. */
export const stateProbes = (lanInterface: string): Command[] => [
  sh`ip -o -4 addr show`,
  sh`systemctl is-active keepalived`,
  sh`ip -o link show dev ${lanInterface}`,
  sh`ipvsadm -Sn`,
];

/** A bounded wait on the host: polls `test` every `intervalS` until it succeeds or `timeoutS` passes (exit 1). */
export function remoteWait(test: Command, timeoutS: number, intervalS = 0.1): Command {
  const tries = Math.max(1, Math.ceil(timeoutS / intervalS));
  return sh`i=0; until ${test}; do i=$((i+1)); [ "$i" -ge ${tries} ] && exit 1; sleep ${intervalS}; done`;
}
