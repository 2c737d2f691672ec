// Metrics of one drill run, computed from the client's timeline alone plus the instants the drill
// recorded (already converted to the probe's clock: ms since the probe started, see probe-log.ts).
//
// Definitions (the same for the failover after `killAt` and the failback after `restoreAt`):
//   window        [event, next event): failover [killAt, restoreAt ?? end), failback [restoreAt, end)
//   outage        the first failed request in the window, widened to the requests around it:
//                 first success after it − last success before it, each success taken when its
//                 answer arrived (a request held up in an ARP queue or a stalled connection may start
//                 before the service is back and succeed after). 0 when nothing failed. The kill
//                 time only selects the gap (it is known to ± an SSH round trip and the VIP may go a
//                 few ms after the command); the gap itself is measured on the client alone. With no
//                 success after it: until the end of the timeline, `unrecovered`.
//   outageMin     first → last failure of that run: the service was down at both, so the true
//                 outage lies in [outageMin, outage] (a resolution of about one interval, or one
//                 timeout when attempts time out, at each end).
//   disruption    last success before the first failure → first success after the LAST failure of
//                 the window; equals the outage unless the service flapped.
//   flapping      ok↔fail transitions in the window, counted from the state before it: a clean gap
//                 is 2, a flapping one more.
//   failedShare   failed / all requests started in the window.
//   takeover      takeoverAt − event (when the drill saw the backup report MASTER).
//   persistent    connection instances open at the event (or at the last success before its gap,
//                 if that is earlier): broken if one of their requests failed in the window; survived if one succeeded after the service was back (after the
//                 takeover and the outage); unknown otherwise.
//   ratio         outage / theory.theoryMs; takeoverRatio = takeover / theory.theoryMs.
import { timelineEndMs, type Sample, type Timeline } from './probe-log.ts';
import { failbackTheory, failoverTheory, type DrillConfig, type DrillMode, type Theory } from './theory.ts';

export interface AnalyzeOptions {
  /** when the master was broken, on the probe's clock (ms since probe start) */
  killAt: number;
  /** when the backup reported MASTER */
  takeoverAt?: number;
  /** when the drill started restoring (keepalived start / link up / VM boot) */
  restoreAt?: number;
  /** when the restored master reported MASTER again */
  failbackAt?: number;
  config: DrillConfig;
  /** both directors held the VIP from … to (to missing: still at the end) */
  splitBrain?: { from?: number; to?: number };
}

export interface ServerCounts {
  /** sorted names */
  servers: string[];
  counts: Record<string, number>;
}

export type ConnectionFate = 'survived' | 'broken' | 'unknown';

export interface PersistentOutcome {
  /** connection instances open when the event happened */
  atEvent: number;
  survived: number;
  broken: number;
  unknown: number;
  connections: Array<{ id: number; gen: number; fate: ConnectionFate; brokeAt?: number; reason?: string }>;
}

export interface Disruption {
  /** the event: killAt or restoreAt */
  at: number;
  windowEnd: number;
  requests: number;
  failedRequests: number;
  failedShare: number;
  /** failed requests by status (timeout-connect, refused, 503, …) */
  failuresByStatus: Record<string, number>;
  outageMs: number;
  /** the outage is at least this: first → last failed request of the first failure run (down at both) */
  outageMinMs: number;
  unrecovered: boolean;
  /** when the answer of the last success before the first failure arrived */
  lastOkBefore?: number;
  /** when the answer of the first success after it arrived */
  firstOkAfter?: number;
  /** start of the first / last failed request in the window */
  firstFailureAt?: number;
  lastFailureAt?: number;
  disruptionMs: number;
  flapping: number;
  failureRuns: number;
  skippedSlots: number;
  serversBefore: ServerCounts;
  serversAfter: ServerCounts;
  takeoverAt?: number;
  takeoverMs?: number;
  persistent: PersistentOutcome;
  theory?: Theory;
  theoryMs?: number;
  /** outage / theoryMs; null without a theory or when the theory is 0 */
  ratio: number | null;
  takeoverRatio: number | null;
}

export interface SplitBrain {
  from: number;
  to: number;
  durationMs: number;
  /** still both holding the VIP when the timeline ended */
  ongoing: boolean;
}

export interface DrillMetrics extends Disruption {
  mode: DrillMode;
  /** false when the timeline cannot support the numbers (no samples); see warnings */
  valid: boolean;
  warnings: string[];
  killAt: number;
  restoreAt?: number;
  /** the probe's request interval (the outage's resolution at each end) */
  intervalMs?: number;
  splitBrain?: SplitBrain;
  failback?: Disruption;
}

function serverCounts(samples: Sample[]): ServerCounts {
  const counts: Record<string, number> = {};
  for (const s of samples) {
    if (!s.ok) continue;
    const name = s.server ?? '?';
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return { servers: Object.keys(counts).sort(), counts };
}

interface WindowSpec {
  windowStart: number;
  at: number;
  windowEnd: number;
  takeoverAt?: number;
  theory?: Theory;
}

function disruption(timeline: Timeline, spec: WindowSpec, end: number, warnings: string[], label: string): Disruption {
  const { at, windowEnd, windowStart } = spec;
  const samples = timeline.samples;
  // the gap: the first failure in the window, extended back over the failures just before it (the
  // recorded event time is approximate, the VIP may go a moment before it is noted)
  const firstInWindow = samples.findIndex((s) => !s.ok && s.t >= at && s.t < windowEnd);
  let gapFirst = firstInWindow;
  while (gapFirst > 0 && !samples[gapFirst - 1]!.ok && samples[gapFirst - 1]!.t >= windowStart) gapFirst--;
  const countFrom = firstInWindow < 0 ? at : Math.min(at, samples[gapFirst]!.t);
  const inWindow = samples.filter((s) => s.t >= countFrom && s.t < windowEnd);
  const failed = inWindow.filter((s) => !s.ok);
  const firstFail = failed[0];
  const lastFail = failed.at(-1);

  // instants at which answers arrived
  const answered = (s: Sample) => s.t + s.latencyMs;
  const lastOkBeforeT = (t: number) => {
    let found: Sample | undefined;
    for (const s of samples) {
      if (s.t >= t) break;
      if (s.ok) found = s;
    }
    return found && answered(found);
  };
  const firstOkAfterSample = (t: number) => samples.find((s) => s.t > t && s.ok);

  let outageMs = 0;
  let outageMinMs = 0;
  let disruptionMs = 0;
  let unrecovered = false;
  let lastOkBefore: number | undefined;
  let firstOkAfter: number | undefined;
  let firstOkSample: Sample | undefined;
  if (firstFail && lastFail) {
    lastOkBefore = lastOkBeforeT(firstFail.t);
    firstOkSample = firstOkAfterSample(firstFail.t);
    firstOkAfter = firstOkSample && answered(firstOkSample);
    let startOfGap = lastOkBefore;
    if (startOfGap === undefined) {
      startOfGap = Math.min(at, firstFail.t);
      warnings.push(`${label}: no successful request before the first failure; the outage is counted from ${startOfGap.toFixed(1)} ms`);
    }
    unrecovered = firstOkAfter === undefined;
    outageMs = (firstOkAfter ?? end) - startOfGap;
    const lastOfRun = samples.filter((s) => !s.ok && s.t >= firstFail.t && s.t < (firstOkAfter ?? Infinity)).at(-1)!;
    outageMinMs = lastOfRun.t - firstFail.t;
    const afterLast = firstOkAfterSample(lastFail.t);
    disruptionMs = (afterLast ? answered(afterLast) : end) - startOfGap;
    if (unrecovered) warnings.push(`${label}: no successful request after ${firstFail.t.toFixed(1)} ms: unrecovered until the end (${end.toFixed(1)} ms)`);
    else if (firstOkAfter! >= windowEnd) warnings.push(`${label}: the service came back only after the window ended (${windowEnd.toFixed(1)} ms)`);
  }

  // ok↔fail transitions from the state just before the window
  let state = true;
  for (const s of samples) {
    if (s.t >= countFrom) break;
    state = s.ok;
  }
  let flapping = 0;
  let failureRuns = 0;
  for (const s of inWindow) {
    if (s.ok !== state) {
      flapping++;
      if (!s.ok) failureRuns++;
      state = s.ok;
    }
  }

  const failuresByStatus: Record<string, number> = {};
  for (const s of failed) failuresByStatus[s.status] = (failuresByStatus[s.status] ?? 0) + 1;

  const before = samples.filter((s) => s.t >= windowStart && s.t < at);
  const afterFrom = firstOkSample?.t ?? at;
  const after = samples.filter((s) => s.t >= afterFrom && s.t < windowEnd);

  const takeoverMs = spec.takeoverAt === undefined ? undefined : spec.takeoverAt - at;
  // the service is back for established connections after the takeover and after the outage
  const backAt = Math.max(at, spec.takeoverAt ?? at, unrecovered ? Infinity : (firstOkAfter ?? at));
  // connections breaking once the service was last seen up belong to this event too
  const persistent = persistentOutcome(timeline, Math.min(at, lastOkBefore ?? countFrom, countFrom), windowEnd, backAt);

  const theoryMs = spec.theory?.theoryMs;
  const ratioOf = (v: number | undefined) => (v === undefined || !theoryMs ? null : v / theoryMs);
  const result: Disruption = {
    at, windowEnd,
    requests: inWindow.length,
    failedRequests: failed.length,
    failedShare: inWindow.length ? failed.length / inWindow.length : 0,
    failuresByStatus,
    outageMs, outageMinMs, unrecovered, disruptionMs, flapping, failureRuns,
    skippedSlots: inWindow.reduce((n, s) => n + s.skipped, 0),
    serversBefore: serverCounts(before),
    serversAfter: serverCounts(after),
    persistent,
    ratio: ratioOf(outageMs),
    takeoverRatio: ratioOf(takeoverMs),
  };
  if (lastOkBefore !== undefined) result.lastOkBefore = lastOkBefore;
  if (firstOkAfter !== undefined) result.firstOkAfter = firstOkAfter;
  if (firstFail) result.firstFailureAt = firstFail.t;
  if (lastFail) result.lastFailureAt = lastFail.t;
  if (spec.takeoverAt !== undefined) {
    result.takeoverAt = spec.takeoverAt;
    result.takeoverMs = takeoverMs!;
  }
  if (spec.theory) {
    result.theory = spec.theory;
    result.theoryMs = spec.theory.theoryMs;
  }
  return result;
}

function persistentOutcome(timeline: Timeline, at: number, windowEnd: number, backAt: number): PersistentOutcome {
  const connections: PersistentOutcome['connections'] = [];
  for (const { id, events } of timeline.persistent) {
    const gens = new Map<number, typeof events>();
    for (const e of events) {
      if (!gens.has(e.gen)) gens.set(e.gen, []);
      gens.get(e.gen)!.push(e);
    }
    for (const [gen, evs] of gens) {
      const open = evs.find((e) => e.ev === 'open');
      if (!open || open.t >= at) continue;
      // a failed request ends when it gives up, not when it started
      const endOf = (e: (typeof evs)[number]) => (e.ev === 'fail' ? e.t + (e.latencyMs ?? 0) : e.t);
      const ended = evs.find((e) => (e.ev === 'fail' || e.ev === 'closed') && endOf(e) < at);
      if (ended) continue;
      const broke = evs.find((e) => e.ev === 'fail' && endOf(e) >= at && endOf(e) < windowEnd);
      if (broke) {
        const c: PersistentOutcome['connections'][number] = { id, gen, fate: 'broken', brokeAt: endOf(broke) };
        if (broke.reason) c.reason = broke.reason;
        connections.push(c);
      } else if (evs.some((e) => e.ev === 'ok' && e.t >= backAt && e.t < windowEnd)) {
        connections.push({ id, gen, fate: 'survived' });
      } else {
        connections.push({ id, gen, fate: 'unknown' });
      }
    }
  }
  const count = (fate: ConnectionFate) => connections.filter((c) => c.fate === fate).length;
  return { atEvent: connections.length, survived: count('survived'), broken: count('broken'), unknown: count('unknown'), connections };
}

/** Metrics of one run. Pure; throws ConfigError for an impossible VRRP config. */
export function analyze(timeline: Timeline, options: AnalyzeOptions): DrillMetrics {
  const { killAt, takeoverAt, restoreAt, failbackAt, config } = options;
  for (const [key, v] of Object.entries({ killAt, takeoverAt, restoreAt, failbackAt })) {
    if (v !== undefined && !Number.isFinite(v)) throw new RangeError(`analyze: ${key} = ${v} is not a finite time`);
  }
  if (restoreAt !== undefined && restoreAt < killAt) throw new RangeError(`analyze: restoreAt ${restoreAt} is before killAt ${killAt}`);
  const warnings: string[] = [];
  const end = Math.max(timelineEndMs(timeline), killAt, restoreAt ?? killAt);
  const samples = timeline.samples;
  const valid = samples.length > 0;
  if (!valid) warnings.push('the timeline has no requests: nothing was measured');
  else if (killAt < samples[0]!.t) warnings.push(`the kill (${killAt.toFixed(1)} ms) precedes the first request (${samples[0]!.t.toFixed(1)} ms)`);
  else if (!samples.some((s) => s.ok && s.t < killAt)) warnings.push('no request succeeded before the kill: the cluster was not serving');
  if (timeline.clockDriftMs !== undefined && Math.abs(timeline.clockDriftMs) > 50) {
    warnings.push(`the client's realtime clock moved ${timeline.clockDriftMs.toFixed(1)} ms against its monotonic clock during the run: epoch-based times are off by up to that`);
  }

  const failover = disruption(timeline, {
    windowStart: 0, at: killAt, windowEnd: restoreAt ?? Infinity, takeoverAt, theory: failoverTheory(config),
  }, end, warnings, 'failover');
  failover.windowEnd = restoreAt ?? end;
  const earlyFailures = samples.filter((s) => !s.ok && s.t < Math.min(killAt, failover.firstFailureAt ?? killAt)).length;
  if (earlyFailures) warnings.push(`${earlyFailures} request(s) failed before the kill, outside its outage: the cluster was not clean`);
  // a failed attempt holding the probe up to its timeout is expected; a slow success is not
  const slowOk = samples.filter((s, i) => s.skipped > 0 && i > 0 && samples[i - 1]!.ok).reduce((n, s) => n + s.skipped, 0);
  if (slowOk) warnings.push(`${slowOk} request slot(s) passed over after slow successful requests: the client or the path was slow`);

  const metrics: DrillMetrics = { ...failover, mode: config.mode, valid, warnings, killAt };
  if (timeline.meta) metrics.intervalMs = timeline.meta.intervalMs;
  if (restoreAt !== undefined) {
    metrics.restoreAt = restoreAt;
    const back = disruption(timeline, {
      // before the restore = served by the backup after the failover
      windowStart: failover.unrecovered ? restoreAt : Math.min(restoreAt, failover.firstOkAfter ?? killAt),
      at: restoreAt, windowEnd: Infinity, takeoverAt: failbackAt,
      theory: config.masterPriority === undefined ? undefined : failbackTheory(config),
    }, end, warnings, 'failback');
    back.windowEnd = end;
    metrics.failback = back;
  }
  if (options.splitBrain) {
    const from = options.splitBrain.from ?? takeoverAt ?? killAt;
    const to = options.splitBrain.to ?? end;
    metrics.splitBrain = { from, to, durationMs: Math.max(0, to - from), ongoing: options.splitBrain.to === undefined };
  }
  return metrics;
}
