// What one run carries from phase to phase: lib/drill/one-run.ts fills it in, lib/drill/collect.ts
// reads it.
import type { Conn } from '../types.ts';
import type { ClockOffset } from './clocks.ts';
import type { ModeSpec } from './modes.ts';
import type { Links } from './links.ts';
import type { DrillOptions } from './options.ts';
import type { Cluster } from './preflight.ts';
import type { HostState } from './state.ts';
import type { DrillConfig } from './theory.ts';
import type { DrillContext, Emit, RunLabel } from './types.ts';

/** One run's inputs, and its notes as they accrue. */
export interface RunScope {
  ctx: DrillContext;
  links: Links;
  cluster: Cluster;
  opts: DrillOptions;
  label: RunLabel;
  emit: Emit;
  spec: ModeSpec;
  /** the directors */
  names: string[];
  notes: string[];
  startedAt: string;
}

/** What the start phase found and set going. */
export interface Started {
  /** each director's state before the kill */
  before: Record<string, HostState>;
  master: string;
  backup: string;
  config: DrillConfig;
  /** the master is a VM of the lab */
  onLab: boolean;
  takeoverBoundMs: number;
  bootBoundMs: number;
  failbackBoundMs: number;
  /** how long the probe and the watchers run at the most */
  durationS: number;
  watchPids: Record<string, number>;
  probe: { pid: number };
  /** the client − this machine, each director − the client */
  clocks: Record<string, ClockOffset>;
  conns: Record<string, Conn>;
  clientConn: Conn;
}

/** A powered-off master once it booted again: a new connection, clock and watcher. */
export interface Restarted {
  conn: Conn;
  clock: ClockOffset;
  watchPid: number;
  /** keepalived's start, on the master's clock */
  keepalivedStart?: number;
}

/** What happened from the kill on, recorded by the phases as it happens. */
export interface Happened {
  killed: boolean;
  /** the kill on this machine's clock (lab power cut) */
  killLocal?: number;
  /** the kill on the master's clock */
  killRemote?: number;
  heartbeat?: { pid: number };
  restoreLocal?: number;
  restoreRemote?: number;
  restarted?: Restarted;
  takeoverSeen: boolean;
  /** undefined when no failback was waited for */
  failbackSeen?: boolean;
}
