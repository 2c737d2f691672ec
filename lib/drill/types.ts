// The drill's contracts: what lib/drill/run.ts is given (DrillContext, LabControl), what it emits
// while it runs (DrillEvent) and what it returns (DrillResult, one RunRecord per run).
import type { ConnectOptions } from '../ssh.ts';
import type { Inventory } from '../types.ts';
import type { DrillMetrics } from './analyze.ts';
import type { ClockOffset } from './clocks.ts';
import type { Interval } from './observe.ts';
import type { Timeline } from './probe-log.ts';
import type { TableRow } from './table.ts';
import type { DrillConfig, DrillMode } from './theory.ts';

/** The lab's power switch, for `poweroff` of a lab VM (labControl builds it from the lab's plan). */
export interface LabControl {
  /** the host is a VM of this lab */
  has(host: string): boolean;
  /** hard power cut (SIGKILL of its qemu); resolves once it is dead */
  kill(host: string): Promise<void>;
  /** boots it again from its disk; may resolve before SSH answers */
  start(host: string): Promise<void>;
}

export type DrillPhase = 'preflight' | 'start' | 'kill' | 'takeover' | 'restore' | 'failback' | 'collect';
export const RUN_PHASES: DrillPhase[] = ['start', 'kill', 'takeover', 'restore', 'failback', 'collect'];

export interface RunLabel {
  mode: DrillMode;
  /** 1-based */
  index: number;
  of: number;
  profile: string;
}

export type DrillEvent =
  | { type: 'preflight:start' }
  | { type: 'run:start'; run: RunLabel }
  | { type: 'phase:start'; run?: RunLabel; phase: DrillPhase; title: string }
  | { type: 'phase:end'; run?: RunLabel; phase: DrillPhase; status: 'done' | 'failed' | 'skipped'; detail: string }
  | { type: 'run:end'; run: RunLabel; summary: string; failed?: string }
  | { type: 'log'; line: string };

export type Emit = (e: DrillEvent) => void;

export interface DrillContext {
  inventory: Inventory;
  connect?: ConnectOptions;
  lab?: LabControl;
  onEvent?: Emit;
  /** aborting skips the waits and goes straight to the restore */
  signal?: AbortSignal;
}

export class DrillError extends Error {
  constructor(message: string, readonly exitCode: 2 | 4 = 2) {
    super(message);
    this.name = 'DrillError';
  }
}

export interface RunRecord {
  label: RunLabel;
  vip: string;
  port: number;
  master: string;
  backup: string;
  lanInterface: string;
  config: DrillConfig;
  startedAt: string;
  /** on the probe's clock (ms since it started) */
  killAt: number;
  takeoverAt?: number;
  restoreAt?: number;
  /** poweroff: when the VM was switched on (restoreAt is then keepalived's start) */
  bootAt?: number;
  failbackAt?: number;
  /** how far off the instants above may be (clock offsets' error bounds), ms */
  clockErrorMs: number;
  /** the client: its clock − this machine's; each director: its clock − the client's */
  clocks: Record<string, { before: ClockOffset; after?: ClockOffset }>;
  /** when each director held the VIP, on the probe's clock */
  holds: Record<string, Interval[]>;
  /** both held it: the failover's overlap (given to analyze) and any during the failback */
  splitBrains: Interval[];
  failbackSplitBrainMs?: number;
  /** the backup took the VIP although nothing had failed (adverts late: the timers are too tight here) */
  spuriousTakeovers: number;
  /** the cluster after the run, compared with before it */
  restored?: { ok: boolean; problems: string[] };
  notes: string[];
  timeline: Timeline;
  /** the probe's raw output (probe.py's format), as recorded: test fixtures are cut from it */
  probeLog: string;
  metrics: DrillMetrics;
}

export interface DrillResult {
  runs: RunRecord[];
  rows: TableRow[];
  /** set when a budget was given */
  withinBudget?: boolean;
  /** runs that threw; their cluster was restored as far as possible */
  failures: Array<{ label: RunLabel; error: string }>;
}
