// The collect phase of a run: stop the probe and the watchers, read the cluster's state and clocks
// once more, put every log on the probe's clock, find the instants (kill, takeover, restore,
// failback) and who held the VIP when, analyze, and assemble the RunRecord.
import type { Conn } from '../types.ts';
import { analyze } from './analyze.ts';
import { localNowMs, measureRunClocks, type ClockOffset } from './clocks.ts';
import { deathFromBeats, firstChange, holdIntervals, overlaps, parseWatchLog, shiftLog, type Interval, type WatchLog } from './observe.ts';
import { fmtS, phase } from './phase.ts';
import { clientEpochToProbeMs, parseProbeLog, remoteEpochToProbeMs, type Timeline } from './probe-log.ts';
import { BEAT_LOG, PROBE_LOG, WATCH_LOG, removeLogs, stopHeartbeat, stopProbe, stopWatcher } from './remote.ts';
import type { Happened, RunScope, Started } from './run-state.ts';
import { sleep } from './sleep.ts';
import { compareStates, readState, type HostState } from './state.ts';
import type { RunRecord } from './types.ts';

type Dirs = Array<{ name: string; conn: Conn; lanIp?: string }>;

interface Fetched {
  probeText: string;
  beatText?: string;
  /** each director's state after the run (only when restored) */
  after: Record<string, HostState>;
  clocksAfter: Record<string, ClockOffset>;
  watchTexts: Record<string, string[]>;
}

/** On the probe's clock (ms since it started), and how far off they may be. */
interface Instants {
  killAt: number;
  restoreAt?: number;
  bootAt?: number;
  clockErrorMs: number;
}

interface VipHistory {
  /** each director's watcher log(s), on the probe's clock */
  logs: Record<string, WatchLog[]>;
  holds: Record<string, Interval[]>;
  takeoverAt?: number;
  failbackAt?: number;
  splitBrains: Interval[];
  failoverSplit?: Interval;
  failbackSplit?: Interval;
  /** when the backup took the VIP with nothing failed */
  spurious: number[];
}

/** A host's clock → the probe's: a director's (offset to the client), or this machine's. */
interface ProbeClock {
  fromHost(host: string, t: number, clock?: ClockOffset): number;
  fromLocal(t: number): number;
}

export async function collect(run: RunScope, start: Started, happened: Happened, masterConn: Conn): Promise<RunRecord> {
  const { cluster, opts, names, spec, label, emit } = run;
  const { master } = start;
  return phase(emit, label, 'collect', 'stop the probe and watchers, fetch logs, analyze', async () => {
    const fetched = await fetchLogs(run, start, happened, masterConn);
    const timeline = parseProbeLog(fetched.probeText, `${cluster.client}:${PROBE_LOG}`);
    const clocks = start.clocks;
    const to: ProbeClock = {
      fromHost: (host, t, clock = clocks[host]!) => remoteEpochToProbeMs(timeline, t, clock.offsetMs),
      fromLocal: (t) => remoteEpochToProbeMs(timeline, t, -clocks[cluster.client]!.offsetMs),
    };
    const at = instants(run, start, happened, timeline, fetched.beatText, to);
    const history = vipHistory(run, start, happened, fetched.watchTexts, at, to);
    noteAnomalies(run, start, happened, at, history, fetched.clocksAfter);

    const { failoverSplit } = history;
    const metrics = analyze(timeline, {
      killAt: at.killAt, takeoverAt: history.takeoverAt, restoreAt: at.restoreAt, failbackAt: history.failbackAt, config: start.config,
      splitBrain: failoverSplit ? (failoverSplit.to === undefined ? { from: failoverSplit.from } : { from: failoverSplit.from, to: failoverSplit.to }) : undefined,
    });
    const problems = opts.restore ? compareStates(start.before, fetched.after, cluster.model.vips) : undefined;
    const alive = names.filter((n) => n !== master || !spec.reconnect || happened.restarted);
    await removeLogs(start.clientConn, alive.map((n) => (n === master ? masterConn : start.conns[n]!)));

    const record: RunRecord = {
      label, vip: cluster.vip, port: cluster.port, master, backup: start.backup, lanInterface: cluster.directors[master]!.lanInterface, config: start.config,
      startedAt: run.startedAt, killAt: at.killAt, clockErrorMs: at.clockErrorMs,
      clocks: Object.fromEntries([cluster.client, ...names].map((n) => {
        const entry: { before: ClockOffset; after?: ClockOffset } = { before: clocks[n]! };
        if (fetched.clocksAfter[n]) entry.after = fetched.clocksAfter[n];
        return [n, entry];
      })),
      holds: history.holds, splitBrains: history.splitBrains, spuriousTakeovers: history.spurious.length, notes: run.notes, timeline, probeLog: fetched.probeText, metrics,
    };
    if (history.takeoverAt !== undefined) record.takeoverAt = history.takeoverAt;
    if (at.restoreAt !== undefined) record.restoreAt = at.restoreAt;
    if (at.bootAt !== undefined) record.bootAt = at.bootAt;
    if (history.failbackAt !== undefined) record.failbackAt = history.failbackAt;
    const { failbackSplit } = history;
    if (failbackSplit) record.failbackSplitBrainMs = (failbackSplit.to ?? timeline.end?.t ?? failbackSplit.from) - failbackSplit.from;
    if (problems) record.restored = { ok: problems.length === 0, problems };
    return {
      value: record,
      detail: `${timeline.samples.length} requests, outage ${fmtS(metrics.outageMs)} (theory ${fmtS(metrics.theoryMs)}), takeover ${fmtS(metrics.takeoverMs)}${metrics.splitBrain ? `, split brain ${fmtS(metrics.splitBrain.durationMs)}` : ''}${problems ? (problems.length ? ', NOT as found' : ', cluster as found') : ''}`,
    };
  });
}

/** Stops the instruments and reads their logs; after a restore, the cluster's state and clocks too. */
async function fetchLogs(run: RunScope, start: Started, happened: Happened, masterConn: Conn): Promise<Fetched> {
  const { cluster, opts, names, spec } = run;
  const { master, conns, clientConn } = start;
  const { heartbeat, restarted } = happened;
  const probeText = await stopProbe(clientConn, start.probe.pid);
  const beatText = heartbeat ? await stopHeartbeat(clientConn, heartbeat.pid) : undefined;
  let after: Record<string, HostState> = {};
  let clocksAfter: Record<string, ClockOffset> = {};
  if (opts.restore) {
    // while the watchers still answer clock queries
    const dirs: Dirs = names.map((n) => ({ name: n, conn: n === master ? masterConn : conns[n]!, lanIp: cluster.model.hosts[n]?.lan_ip }));
    after = await settledState(run, start.before, dirs);
    clocksAfter = await measureRunClocks(cluster.client, clientConn, dirs, 3);
  }
  const watchTexts: Record<string, string[]> = {};
  await Promise.all(
    names.map(async (n) => {
      if (n === master && restarted) watchTexts[n] = [await stopWatcher(restarted.conn, restarted.watchPid)];
      else if (n === master && spec.reconnect) watchTexts[n] = [];
      else watchTexts[n] = [await stopWatcher(conns[n]!, start.watchPids[n]!)];
    }),
  );
  return { probeText, beatText, after, clocksAfter, watchTexts };
}

/** The directors' state once it looks as before the run, or as it is after a bounded while. */
async function settledState(run: RunScope, before: Record<string, HostState>, dirs: Dirs): Promise<Record<string, HostState>> {
  const { cluster, notes, ctx: { signal } } = run;
  const after: Record<string, HostState> = {};
  // health checks may still be re-adding real servers: give the cluster a bounded while to settle
  const settleStart = localNowMs();
  for (let attempt = 1; ; attempt++) {
    await Promise.all(dirs.map(async (d) => (after[d.name] = await readState(d.conn, cluster.directors[d.name]!.lanInterface))));
    if (!compareStates(before, after, cluster.model.vips).length || attempt >= 20 || signal?.aborted) break;
    await sleep(1000, signal);
  }
  const settled = localNowMs() - settleStart;
  if (settled > 1500) notes.push(`the cluster took ${fmtS(settled)} after the failback to look as the drill found it (e.g. health checks re-adding real servers)`);
  return after;
}

/** The kill, the restore and (poweroff) the boot on the probe's clock. */
function instants(run: RunScope, start: Started, happened: Happened, timeline: Timeline, beatText: string | undefined, to: ProbeClock): Instants {
  const { names, notes, cluster: { client } } = run;
  const { master, clocks } = start;
  const { killLocal, killRemote, restoreLocal, restoreRemote, restarted } = happened;
  let clockErrorMs = Math.max(...names.map((n) => clocks[n]!.errorMs));

  let killAt: number;
  const death = beatText ? deathFromBeats(parseWatchLog(beatText, `${client}:${BEAT_LOG}`), clocks[master]!.offsetMs) : undefined;
  if (death) {
    killAt = clientEpochToProbeMs(timeline, death.at);
    clockErrorMs += death.errorMs;
    const stamped = killLocal !== undefined ? to.fromLocal(killLocal) : to.fromHost(master, killRemote!);
    notes.push(`power cut heard on the LAN at ${killAt.toFixed(0)} ms ±${death.errorMs.toFixed(0)} (the last heartbeat answer); stamped ${killLocal !== undefined ? 'here' : `on ${master}`} at ${stamped.toFixed(0)} ms${killLocal !== undefined ? ` (SSH clock ±${clocks[client]!.errorMs.toFixed(0)} ms)` : ''}`);
  } else if (killRemote !== undefined) {
    killAt = to.fromHost(master, killRemote);
  } else {
    killAt = to.fromLocal(killLocal!);
    clockErrorMs += clocks[client]!.errorMs;
    if (happened.heartbeat) notes.push('the heartbeat did not hear the power cut: the kill time is this machine\'s stamp, over the SSH clock offset');
  }

  let restoreAt = restoreRemote !== undefined ? to.fromHost(master, restoreRemote) : restoreLocal !== undefined ? to.fromLocal(restoreLocal) : undefined;
  let bootAt: number | undefined;
  if (restarted?.keepalivedStart !== undefined && restoreAt !== undefined) {
    bootAt = restoreAt;
    restoreAt = to.fromHost(master, restarted.keepalivedStart, restarted.clock);
    notes.push(`${master} was switched on at ${bootAt.toFixed(0)} ms; keepalived started at ${restoreAt.toFixed(0)} ms (${fmtS(restoreAt - bootAt)} of boot): the failback is counted from there`);
  }
  return { killAt, restoreAt, bootAt, clockErrorMs };
}

/** Who held the VIP when, from the watchers' logs: holds, takeover, failback, split brains. */
function vipHistory(run: RunScope, start: Started, happened: Happened, watchTexts: Record<string, string[]>, at: Instants, to: ProbeClock): VipHistory {
  const { names, spec, cluster: { vip } } = run;
  const { master, backup, clocks } = start;
  const { restarted } = happened;
  const { killAt, restoreAt, clockErrorMs } = at;
  const logs: Record<string, WatchLog[]> = {};
  for (const n of names) {
    logs[n] = watchTexts[n]!.map((text) => {
      const clock = n === master && restarted ? restarted.clock : clocks[n]!;
      return shiftLog(parseWatchLog(text, `${n}:${WATCH_LOG}`), (t) => to.fromHost(n, t, clock));
    });
  }
  const holds: Record<string, Interval[]> = {};
  for (const n of names) {
    // a powered-off master's own log died with it: it held the VIP until the cut
    holds[n] = holdIntervals(logs[n]!, vip, n === master && spec.reconnect ? { knownBefore: { at: 0, held: true }, deadAt: killAt } : {});
  }
  const takeoverAt = firstChange(logs[backup]!, vip, true, killAt - clockErrorMs - 50, restoreAt ?? Infinity);
  let failbackAt: number | undefined;
  if (restoreAt !== undefined) {
    failbackAt = firstChange(logs[master]!, vip, true, restoreAt - clockErrorMs) ?? firstChange(logs[backup]!, vip, false, restoreAt - clockErrorMs);
  }
  const splitBrains = overlaps(holds[master]!, holds[backup]!).filter((i) => (i.to ?? Infinity) > killAt - clockErrorMs);
  const failoverSplit = splitBrains.find((i) => restoreAt === undefined || i.from < restoreAt);
  const failbackSplit = restoreAt === undefined ? undefined : splitBrains.find((i) => i.from >= restoreAt);
  // the backup taking the VIP at any other moment is VRRP misreading late adverts as a dead master
  const spurious = logs[backup]!.flatMap((l) => l.states).filter((c) => c.vip === vip && c.held && !c.initial && c.t !== takeoverAt).map((c) => c.t);
  return { logs, holds, takeoverAt, failbackAt, splitBrains, failoverSplit, failbackSplit, spurious };
}

/** What the run's notes say beyond the metrics: the master's release, spurious takeovers, missed waits, clock drift. */
function noteAnomalies(run: RunScope, start: Started, happened: Happened, at: Instants, history: VipHistory, clocksAfter: Record<string, ClockOffset>): void {
  const { names, notes, label, cluster: { vip, client } } = run;
  const { master, backup, clocks, config } = start;
  const { killAt, restoreAt, clockErrorMs } = at;
  const { logs, spurious } = history;
  if (logs[master]!.length) {
    const released = firstChange(logs[master]!, vip, false, killAt - clockErrorMs, restoreAt ?? Infinity);
    notes.push(released !== undefined
      ? `${master} released ${vip} ${fmtS(released - killAt)} after the kill${label.mode === 'link' ? ' (keepalived: interface down → FAULT, VIPs removed)' : ''}`
      : `${master} kept ${vip} until ${restoreAt !== undefined ? 'the restore' : 'the end'}${label.mode === 'kill' ? ' (no keepalived left to remove it)' : ''}`);
  }
  if (spurious.length) {
    notes.push(`${backup} took ${vip} ${spurious.length} time(s) with no failure (at ${spurious.map((t) => `${t.toFixed(0)} ms`).join(', ')}): adverts arrived late (timer jitter); advert_int ${config.advertInt} s is not stable here`);
  }
  if (!happened.takeoverSeen) notes.push(`${backup} did not take ${vip} over within ${fmtS(start.takeoverBoundMs)}`);
  if (happened.failbackSeen === false) notes.push(`${master} did not take ${vip} back within ${fmtS(start.failbackBoundMs)}`);
  for (const n of [client, ...names]) {
    const b = n === master && happened.restarted ? happened.restarted.clock : clocks[n]!;
    const a = clocksAfter[n];
    if (a && Math.abs(a.offsetMs - b.offsetMs) > 5 + a.errorMs + b.errorMs) {
      notes.push(`${n}'s clock moved ${(a.offsetMs - b.offsetMs).toFixed(1)} ms against ${n === client ? "this machine's" : "the client's"} during the run (±${(a.errorMs + b.errorMs).toFixed(1)} ms)`);
    }
  }
}
