// Metrics of one drill run, computed from the client's timeline alone plus the instants the drill
// recorded (already converted to the probe's clock: ms since the probe started, see probe-log.ts).
//
// Every short request has a SENT time (t) and an ANSWER time (t + latency). The probe sends on a
// fixed grid whatever earlier requests are doing (probe.py), so sent times are one interval apart.
//
// Definitions (the same for the failover after `killAt` and the failback after `restoreAt`):
//   window        [event, next event): failover [killAt, restoreAt ?? end), failback [restoreAt, end)
//   failure run   consecutive failed requests in SENDING order. The window's first one is extended
//                 back over failures just before the event (the recorded event time is approximate).
//   gap           the failure run of the window with the longest outage (below). A stop often shows two:
//                 a few requests lost while keepalived takes its IPVS services down with the VIP still
//                 held (HTTP read timeouts), then the real gap until the backup holds the VIP; the
//                 first is not "how long the service was gone", so the longest run is the gap, and
//                 `disruption` spans them all.
//   outage        from the SENT time of the first failed request of the gap to the ANSWER time of the
//                 first success after it (the earliest answer among the requests sent after the gap's
//                 last failure). Each end is the first request that saw the new state, so each is
//                 late by less than the gap between the two requests around it (one interval): the
//                 outage is exact to ± that, the `resolution` (the end adds that request's own
//                 latency, a few ms, logged; a request held in a queue — ARP resolution — and answered
//                 when the service came back ends the outage when its answer came, as for a user).
//                 0 when nothing failed. With no success after the gap: until the end of the
//                 timeline, `unrecovered`.
//   resolution    the larger of (first failure − last success before it) and (first success after −
//                 last failure), sent times: the probe interval unless the probe fell behind.
//   outageMin/Max the bounds the true outage lies in: last failure − first failure (sent times), and
//                 the end − the last success before (sent): outage ∓ resolution.
//   disruption    first failure (sent) → first answer after the LAST failure of the window; equals the
//                 outage unless the service flapped.
//   flapping      ok↔fail transitions in the window, counted from the state before it: a clean gap
//                 is 2, a flapping one more.
//   failedShare   failed / all requests sent in the window.
//   takeover      takeoverAt − event (when the drill saw the backup report MASTER).
//   connections   see connectionFates below: every kept keep-alive connection gets one fate per event.
//   ratio         outage / theory.theoryMs; takeoverRatio = takeover / theory.theoryMs.
import { timelineEndMs, type Sample, type Timeline } from './probe-log.ts';
import { failoverTheory } from './modes.ts';
import { failbackTheory, type DrillConfig, type DrillMode, type Theory } from './theory.ts';

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

export type ConnectionFate = 'survived' | 'cut' | 'stalled';

export interface ConnectionOutcome {
  id: number;
  gen: number;
  fate: ConnectionFate;
  /** survived: the longest wait between two answers on it, from its last answer before the event to the first after */
  stallMs?: number;
  /** survived: when that first answer after the event arrived */
  answeredAt?: number;
  /** cut: when the failed request gave up (error, reset, timeout) */
  cutAt?: number;
  reason?: string;
  /** stalled: its last answer; nothing came after it up to the end of the timeline */
  lastAnswerAt?: number;
}

export interface PersistentOutcome {
  /** kept connection instances at risk at this event */
  atEvent: number;
  survived: number;
  cut: number;
  /** neither answered nor failed by the end of the timeline: fate not known */
  stalled: number;
  connections: ConnectionOutcome[];
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
  /** the true outage lies in [outageMinMs, outageMaxMs]: first → last failure, last success before → first after (sent times) */
  outageMinMs: number;
  outageMaxMs: number;
  /** ± this: the outage's resolution (the probe interval unless the probe fell behind) */
  resolutionMs: number;
  unrecovered: boolean;
  /** sent time of the last success before the first failure */
  lastOkBefore?: number;
  /** answer time of the first success after the gap (the outage's end) */
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

  const lastOkBeforeSample = (t: number) => {
    let found: Sample | undefined;
    for (const s of samples) {
      if (s.t >= t) break;
      if (s.ok) found = s;
    }
    return found;
  };
  const firstOkAfterSample = (t: number) => samples.find((s) => s.t > t && s.ok);
  // the earliest answer among the successes sent after t (requests overlap: a later one may answer first)
  const firstAnswerAfter = (t: number) => {
    let best: number | undefined;
    for (const s of samples) if (s.t > t && s.ok && (best === undefined || s.t + s.latencyMs < best)) best = s.t + s.latencyMs;
    return best;
  };

  let outageMs = 0;
  let outageMinMs = 0;
  let outageMaxMs = 0;
  let resolutionMs = 0;
  let disruptionMs = 0;
  let unrecovered = false;
  let lastOkBefore: number | undefined;
  let firstOkAfter: number | undefined;
  let firstOkSample: Sample | undefined;
  if (firstFail && lastFail) {
    // every failure run of the window, each with its outage; the longest is the gap
    const runs: Array<{ first: Sample; last: Sample; outage: number }> = [];
    let inRun = false;
    for (const s of inWindow) {
      if (s.ok) inRun = false;
      else if (inRun) runs.at(-1)!.last = s;
      else {
        runs.push({ first: s, last: s, outage: 0 });
        inRun = true;
      }
    }
    for (const r of runs) r.outage = (firstAnswerAfter(r.last.t) ?? end) - r.first.t;
    const gap = runs.reduce((a, b) => (b.outage > a.outage ? b : a));
    const gapFirst = gap.first;
    const lastOfGap = gap.last;
    lastOkBefore = lastOkBeforeSample(gapFirst.t)?.t;
    firstOkSample = firstOkAfterSample(lastOfGap.t);
    firstOkAfter = firstAnswerAfter(lastOfGap.t);
    if (lastOkBefore === undefined) warnings.push(`${label}: no successful request before the first failure; the outage is counted from it (${gapFirst.t.toFixed(1)} ms)`);
    if (runs.length > 1) warnings.push(`${label}: ${runs.length} failure runs (${runs.map((r) => `${r.outage.toFixed(0)} ms at ${r.first.t.toFixed(0)}`).join(', ')}): the outage is the longest, the disruption spans them all`);
    unrecovered = firstOkAfter === undefined;
    outageMs = gap.outage;
    outageMinMs = lastOfGap.t - gapFirst.t;
    outageMaxMs = (firstOkAfter ?? end) - (lastOkBefore ?? gapFirst.t);
    resolutionMs = Math.max(gapFirst.t - (lastOkBefore ?? gapFirst.t), (firstOkSample?.t ?? lastOfGap.t) - lastOfGap.t);
    disruptionMs = (firstAnswerAfter(lastFail.t) ?? end) - firstFail.t;
    if (unrecovered) warnings.push(`${label}: no successful request after ${gapFirst.t.toFixed(1)} ms: unrecovered until the end (${end.toFixed(1)} ms)`);
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
  const theoryMs = spec.theory?.theoryMs;
  const ratioOf = (v: number | undefined) => (v === undefined || !theoryMs ? null : v / theoryMs);
  const result: Disruption = {
    at, windowEnd,
    requests: inWindow.length,
    failedRequests: failed.length,
    failedShare: inWindow.length ? failed.length / inWindow.length : 0,
    failuresByStatus,
    outageMs, outageMinMs, outageMaxMs, resolutionMs, unrecovered, disruptionMs, flapping, failureRuns,
    skippedSlots: inWindow.reduce((n, s) => n + s.skipped, 0),
    serversBefore: serverCounts(before),
    serversAfter: serverCounts(after),
    persistent: { atEvent: 0, survived: 0, cut: 0, stalled: 0, connections: [] },
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

/** When the service was back for established connections after an event: the takeover and the outage's end. */
function backAt(d: Disruption): number {
  return Math.max(d.at, d.takeoverAt ?? d.at, d.unrecovered ? Infinity : (d.firstOkAfter ?? d.at));
}

interface FateEvent {
  /** connections that ended (failed, closed) before this are not at risk */
  at: number;
  /** connections opened before this are at risk (failback: the preemption, when it was seen) */
  openedBefore: number;
  /** an answer arriving from here on proves the connection survived */
  backAt: number;
  /** instances already known dead or undetermined: not at risk again */
  exclude?: Set<string>;
}

/**
 * One fate per kept keep-alive connection instance (id, gen) at risk at an event: opened before
 * `openedBefore`, not ended before `at`. Whichever comes first decides:
 *   survived  the SAME connection answered, the answer arriving once the service was back (`backAt`:
 *             the takeover and the short requests' outage are over). A request sent before and
 *             answered after — a stall across the failover, TCP retransmitting to the new director —
 *             counts: it is the same connection carrying on. stallMs = the longest wait between two
 *             answers on it up to that one.
 *   cut       one of its requests failed (reset, eof, timeout) ending at or after `at`; cutAt = when.
 *   stalled   neither by the end of the timeline (say so; the drill keeps the probe running long
 *             enough after the failback that this is rare).
 * The window is the whole rest of the timeline, not the time to the next event: a connection that
 * stalls for 7 s across a failover and then carries on has survived even if the restore came first.
 */
export function connectionFates(timeline: Timeline, ev: FateEvent): PersistentOutcome {
  const connections: ConnectionOutcome[] = [];
  for (const { id, events } of timeline.persistent) {
    const gens = new Map<number, typeof events>();
    for (const e of events) {
      if (!gens.has(e.gen)) gens.set(e.gen, []);
      gens.get(e.gen)!.push(e);
    }
    for (const [gen, evs] of gens) {
      if (ev.exclude?.has(`${id}/${gen}`)) continue;
      const open = evs.find((e) => e.ev === 'open');
      if (!open || open.t >= ev.openedBefore) continue;
      const endOf = (e: (typeof evs)[number]) => e.t + (e.latencyMs ?? 0);
      if (evs.some((e) => (e.ev === 'fail' || e.ev === 'closed') && endOf(e) < ev.at)) continue;
      const answers = evs.filter((e) => e.ev === 'ok' || e.ev === 'http').map(endOf).sort((x, y) => x - y);
      const revived = answers.find((t) => t >= ev.backAt);
      const cut = evs.find((e) => e.ev === 'fail' && endOf(e) >= ev.at);
      if (revived !== undefined && (!cut || revived <= endOf(cut))) {
        const from = [...answers].reverse().find((t) => t < ev.at) ?? open.t + (open.latencyMs ?? 0);
        let stallMs = 0;
        let prev = from;
        for (const t of answers) {
          if (t <= from) continue;
          if (t > revived) break;
          stallMs = Math.max(stallMs, t - prev);
          prev = t;
        }
        connections.push({ id, gen, fate: 'survived', stallMs: Math.round(stallMs * 10) / 10, answeredAt: revived });
      } else if (cut) {
        const c: ConnectionOutcome = { id, gen, fate: 'cut', cutAt: endOf(cut) };
        if (cut.reason) c.reason = cut.reason;
        connections.push(c);
      } else {
        const c: ConnectionOutcome = { id, gen, fate: 'stalled' };
        const last = answers.at(-1);
        if (last !== undefined) c.lastAnswerAt = last;
        connections.push(c);
      }
    }
  }
  const count = (fate: ConnectionFate) => connections.filter((c) => c.fate === fate).length;
  return { atEvent: connections.length, survived: count('survived'), cut: count('cut'), stalled: count('stalled'), connections };
}

/** "2/2 survived", "0/2 survived, 2 cut", "1/2 survived, 1 stalled at the end"; "—" with none at risk. */
export function fatesText(p: Pick<PersistentOutcome, 'atEvent' | 'survived' | 'cut' | 'stalled'> | undefined): string {
  if (!p || !p.atEvent) return '—';
  const extra = [p.cut ? `${p.cut} cut` : '', p.stalled ? `${p.stalled} stalled at the end` : ''].filter(Boolean);
  return `${p.survived}/${p.atEvent} survived${extra.length ? `, ${extra.join(', ')}` : ''}`;
}

/** One connection's fate in words: "survived (stall 7.1 s)", "cut 5.1 s (reset)", "stalled since 4.9 s". */
export function fateText(c: ConnectionOutcome): string {
  const s = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);
  if (c.fate === 'survived') return `survived (stall ${s(c.stallMs ?? 0)})`;
  if (c.fate === 'cut') return `cut at ${s(c.cutAt ?? 0)}${c.reason ? ` (${c.reason})` : ''}`;
  return `stalled at the end${c.lastAnswerAt === undefined ? '' : ` (last answer ${s(c.lastAnswerAt)})`}`;
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
  // connections breaking once the service was last seen up belong to the event too (its time is approximate)
  const riskFrom = (d: Disruption) => Math.min(d.at, d.lastOkBefore ?? d.at);
  metrics.persistent = connectionFates(timeline, { at: riskFrom(failover), openedBefore: killAt, backAt: backAt(failover) });
  if (metrics.failback) {
    const dead = new Set(metrics.persistent.connections.filter((c) => c.fate !== 'survived').map((c) => `${c.id}/${c.gen}`));
    metrics.failback.persistent = connectionFates(timeline, {
      at: riskFrom(metrics.failback), openedBefore: Math.max(restoreAt!, failbackAt ?? restoreAt!), backAt: backAt(metrics.failback), exclude: dead,
    });
  }
  if (options.splitBrain) {
    const from = options.splitBrain.from ?? takeoverAt ?? killAt;
    const to = options.splitBrain.to ?? end;
    metrics.splitBrain = { from, to, durationMs: Math.max(0, to - from), ongoing: options.splitBrain.to === undefined };
  }
  return metrics;
}
