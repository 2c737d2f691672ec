// The four ways the drill breaks the MASTER director, and how each is undone, as data. Every
// command prints `date +%s%N` first, on the host it breaks, in the same shell: the drill converts
// that stamp to the probe's clock. Commands are built here, run by lib/drill/one-run.ts.
import { join, sh, type Command } from '../shell.ts';
import type { DrillMode } from './theory.ts';

export interface KillTarget {
  /** the VIPs the master holds (removed by hand after a SIGKILL) */
  vips: string[];
  /** the master's LAN interface (the VRRP link) */
  lanInterface: string;
}

export interface ModeSpec {
  mode: DrillMode;
  /** one line for progress and reports */
  describe(t: KillTarget): string;
  /** what the client should see: an outage, or none (the VIP stays where it was) */
  expectOutage: boolean;
  /** both directors may hold the VIP after the takeover */
  mayBreakInTwo: boolean;
  /** the kill on the master: prints the epoch ns first. undefined for a lab VM (the lab cuts the power) */
  kill(t: KillTarget, where: { lab: boolean }): Command | undefined;
  /** the undo on the master: prints the epoch ns first. undefined for a lab VM (the lab boots it) */
  restore(t: KillTarget, where: { lab: boolean }): Command | undefined;
  /** how the host is reached after the restore: the same connection, or a new one once it booted */
  reconnect: boolean;
}

const stamp = sh`date +%s%N`;

export const MODES: Record<DrillMode, ModeSpec> = {
  stop: {
    mode: 'stop',
    describe: () => 'systemctl stop keepalived (graceful: priority-0 advert, VIP removed)',
    expectOutage: true,
    mayBreakInTwo: false,
    kill: () => join([stamp, sh`systemctl stop keepalived`]),
    restore: () => join([stamp, sh`systemctl start keepalived`]),
    reconnect: false,
  },
  kill: {
    mode: 'kill',
    describe: () => 'SIGKILL to every keepalived process at once (VIP and IPVS rules stay in the kernel)',
    expectOutage: false,
    mayBreakInTwo: true,
    // All PIDs in one kill(1): SIGKILL of the parent alone lets the children exit gracefully,
    // which is a `stop`. pidof reads /proc of this host only.
    kill: () =>
      join(
        [sh`pids=$(pidof keepalived) || { echo 'keepalived is not running' >&2; exit 3; }`, stamp, sh`kill -KILL $pids`],
        '\n',
      ),
    // What keepalived would have undone on a clean exit: the VIPs, the IPVS table, the sync
    // daemons (kernel threads that outlive it). Then a clean start.
    restore: (t) =>
      join(
        [
          stamp,
          ...t.vips.map((vip) => sh`ip -4 addr del ${`${vip}/32`} dev ${t.lanInterface} 2>/dev/null`),
          sh`ipvsadm -C`,
          sh`ipvsadm --stop-daemon master 2>/dev/null`,
          sh`ipvsadm --stop-daemon backup 2>/dev/null`,
          sh`systemctl start keepalived`,
        ],
        '\n',
      ),
    reconnect: false,
  },
  link: {
    mode: 'link',
    describe: (t) => `ip link set ${t.lanInterface} down (the VRRP link goes dark)`,
    expectOutage: true,
    mayBreakInTwo: true,
    kill: (t) => join([stamp, sh`ip link set dev ${t.lanInterface} down`]),
    restore: (t) => join([stamp, sh`ip link set dev ${t.lanInterface} up`]),
    reconnect: false,
  },
  poweroff: {
    mode: 'poweroff',
    describe: (_t) => 'power cut (lab: SIGKILL of the VM; elsewhere: sysrq o)',
    expectOutage: true,
    mayBreakInTwo: false,
    // A real host: sysrq `o` powers off at once, no sync. The stamp must leave before the host dies,
    // so the cut comes a fixed 300 ms later from a detached shell; the drill adds those 300 ms.
    kill: (_t, where) =>
      where.lab
        ? undefined
        : join([
            sh`setsid sh -c 'sleep 0.3; echo o > /proc/sysrq-trigger' </dev/null >/dev/null 2>&1 &`,
            stamp,
          ]),
    restore: () => undefined,
    reconnect: true,
  },
};

/** The delay between the stamp and the actual cut, for modes that cannot stamp the cut itself. */
export const KILL_DELAY_MS: Partial<Record<DrillMode, number>> = { poweroff: 300 };

/** Refusals before anything is touched: which modes this target can run (and undo). */
export function modeProblem(mode: DrillMode, where: { lab: boolean; restore: boolean }): string | undefined {
  if (mode === 'poweroff' && !where.lab && where.restore) {
    return 'poweroff of a host outside the lab cannot be undone by the drill (nothing powers it on again): run it with --no-restore, and power the host on yourself';
  }
  return undefined;
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
