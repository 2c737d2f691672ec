// The drill's modes, one table: each entry says how it breaks the MASTER director, how that is
// undone, what VRRP predicts for it, its help line and its place in the table. Everything else
// (option parsing, help, the run, the end table) iterates this table: a new mode is one entry here
// plus its test.
//
// Every break / restore command prints `date +%s%N` first, on the host it breaks, in the same
// shell: the drill converts that stamp to the probe's clock. Commands are built here, run by
// lib/drill/one-run.ts.
import type { ClusterModel } from '../lvs/index.ts';
import { serviceUnitOf } from '../lvs/track.ts';
import { join, sh, type Command } from '../shell.ts';
import type { KillTarget } from './kill.ts';
import type { DeployedScript } from './observe.ts';
import { gracefulTheory, hardTheory, trackedTheory, type DrillConfig, type Theory, type TrackTiming } from './theory.ts';
import { IPVS_SYNC_UNIT } from '../lvs/ipvs-sync-unit.ts';

export interface ModeSpec {
  /** where it sorts in the end table and in the help */
  order: number;
  /** the --help line */
  help: string;
  /** one line for progress and reports */
  describe(t: KillTarget): string;
  /** the kill on the master: prints the epoch ns first. undefined for a lab VM (the lab cuts the power) */
  kill(t: KillTarget, where: { lab: boolean }): Command | undefined;
  /** the undo on the master: prints the epoch ns first. undefined for a lab VM (the lab boots it) */
  restore(t: KillTarget, where: { lab: boolean }): Command | undefined;
  /** how the host is reached after the restore: the same connection, or a new one once it booted */
  reconnect: boolean;
  /** ms between the printed stamp and the actual break, for a break that cannot stamp itself */
  killDelayMs?: number;
  /** VRRP's prediction for the failover it triggers (see theory.ts) */
  theory(config: DrillConfig): Theory;
  /** why this target cannot run (and undo) the mode, before anything is touched */
  refuse?(where: ModeWhere): string | undefined;
}

export interface ModeWhere {
  lab: boolean;
  restore: boolean;
  /** the unit of the cluster's first tracked check of kind service (lvs_track), if any */
  service?: string;
}

const stamp = sh`date +%s%N`;

export type DrillMode = 'stop' | 'kill' | 'link' | 'poweroff' | 'service';

/** Before any host is touched: the unit of the inventory's first tracked check of kind service. */
export const trackedService = (model: ClusterModel): string | undefined => model.tracks.find((x) => x.kind === 'service')?.unit;

/** The check the `service` mode fails, as the MASTER's keepalived.conf deploys it: the first tracked script that tests a unit. */
export function deployedService(tracks: DeployedScript[] | undefined): { unit: string; timing: TrackTiming } | undefined {
  for (const s of tracks ?? []) {
    const unit = serviceUnitOf(s.script);
    if (unit) return { unit, timing: { intervalS: s.intervalS, fall: s.fall, weight: s.weight } };
  }
  return undefined;
}

const noService = (t: KillTarget): string => {
  if (!t.service) throw new Error("mode service: the MASTER's deployed keepalived.conf tracks no service (a vrrp_script running systemctl is-active): converge the directors with lvs_track first");
  return t.service;
};

export const MODES: Record<DrillMode, ModeSpec> = {
  stop: {
    order: 1,
    help: 'systemctl stop keepalived on the MASTER (graceful)',
    describe: () => 'systemctl stop keepalived (graceful: priority-0 advert, VIP removed)',
    kill: () => join([stamp, sh`systemctl stop keepalived`]),
    restore: () => join([stamp, sh`systemctl start keepalived`]),
    reconnect: false,
    theory: gracefulTheory,
  },
  kill: {
    order: 2,
    help: 'SIGKILL to every keepalived process (crash cleanup: VIP gone at once; without: split brain)',
    describe: () => "SIGKILL to every keepalived process at once (lvsplay's crash cleanup, where deployed, removes the VIP and IPVS rules; otherwise they stay in the kernel)",
    // All PIDs in one kill(1): SIGKILL of the parent alone lets the children exit gracefully,
    // which is a `stop`. pidof reads /proc of this host only.
    kill: () =>
      join(
        [sh`pids=$(pidof keepalived) || { echo 'keepalived is not running' >&2; exit 3; }`, stamp, sh`kill -KILL $pids`],
        '\n',
      ),
    // What keepalived would have undone on a clean exit: the VIPs, the IPVS table, the sync
    // daemons if it ran them (kernel threads that outlive it; lvsplay's own unit's stay). Then a
    // clean start.
    restore: (t) =>
      join(
        [
          stamp,
          ...t.vips.map((vip) => sh`ip -4 addr del ${`${vip}/32`} dev ${t.lanInterface} 2>/dev/null`),
          sh`ipvsadm -C`,
          sh`systemctl is-active -q ${IPVS_SYNC_UNIT} || { ipvsadm --stop-daemon master; ipvsadm --stop-daemon backup; } 2>/dev/null`,
          sh`systemctl start keepalived`,
        ],
        '\n',
      ),
    reconnect: false,
    theory: (c) => {
      if (!c.crashCleanup) return hardTheory(c, { vipStays: true });
      const h = hardTheory(c, { vipStays: false });
      return { ...h, formula: `crash cleanup (ExecStopPost=) removes the VIP at once: ${h.formula}` };
    },
  },
  link: {
    order: 3,
    help: "the MASTER's LAN interface down",
    describe: (t) => `ip link set ${t.lanInterface} down (the VRRP link goes dark)`,
    kill: (t) => join([stamp, sh`ip link set dev ${t.lanInterface} down`]),
    restore: (t) => join([stamp, sh`ip link set dev ${t.lanInterface} up`]),
    reconnect: false,
    theory: (c) => hardTheory(c, { vipStays: false }),
  },
  poweroff: {
    order: 4,
    help: 'power cut (lab: the VM is killed; elsewhere sysrq, needs --no-restore)',
    describe: (_t) => 'power cut (lab: SIGKILL of the VM; elsewhere: sysrq o)',
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
    killDelayMs: 300,
    theory: (c) => hardTheory(c, { vipStays: false }),
    refuse: (where) =>
      !where.lab && where.restore
        ? 'poweroff of a host outside the lab cannot be undone by the drill (nothing powers it on again): run it with --no-restore, and power the host on yourself'
        : undefined,
  },
  service: {
    order: 5,
    help: "stop the MASTER's tracked service (lvs_track, kind service)",
    describe: (t) => `systemctl stop ${t.service} (tracked: keepalived gives the VIP up after fall × interval)`,
    kill: (t) => join([stamp, sh`systemctl stop ${noService(t)}`]),
    restore: (t) => join([stamp, sh`systemctl start ${noService(t)}`]),
    reconnect: false,
    theory: trackedTheory,
    refuse: (where) =>
      where.service
        ? undefined
        : 'the cluster tracks no service: add an lvs_track entry with kind: service and unit: (the systemd unit to stop), then converge the directors',
  },
};

/** The modes in table order. */
export const DRILL_MODES: readonly DrillMode[] = (Object.keys(MODES) as DrillMode[]).sort((a, b) => MODES[a].order - MODES[b].order);

/** "stop, kill, link or poweroff" */
export const modeList = (last = 'or') => `${DRILL_MODES.slice(0, -1).join(', ')} ${last} ${DRILL_MODES.at(-1)}`;

/** The --help lines of the modes. */
export const modeHelp = (indent: string) => DRILL_MODES.map((m) => `${indent}${m.padEnd(10)}${MODES[m].help}`).join('\n');

/** Where a mode sorts (unknown names last). */
export const modeRank = (mode: string) => (mode in MODES ? MODES[mode as DrillMode].order : Infinity);

/** VRRP's prediction for a failover triggered by `config.mode`. */
export function failoverTheory(config: DrillConfig): Theory {
  return MODES[config.mode].theory(config);
}

/** Refusals before anything is touched: which modes this target can run (and undo). */
export function modeProblem(mode: DrillMode, where: ModeWhere): string | undefined {
  return MODES[mode].refuse?.(where);
}
