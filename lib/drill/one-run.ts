// One run of the drill, phase by phase: start the instruments (watchers, probe, clocks), break the
// MASTER, wait for the takeover, restore the master (always, once it was broken), wait for the
// failback, then collect (lib/drill/collect.ts).
import { sh } from '../shell.ts';
import type { Conn } from '../types.ts';
import { localNowMs, measureClocks, measureRunClocks } from './clocks.ts';
import { collect } from './collect.ts';
import { remoteWait, type KillTarget } from './kill.ts';
import { deployedService, failoverTheory, MODES } from './modes.ts';
import type { Links } from './links.ts';
import { CLOCKS_NOW, parseEpochNs, parseServiceStart, vipHolders } from './observe.ts';
import type { DrillOptions } from './options.ts';
import { fmtS, phase } from './phase.ts';
import type { Cluster } from './preflight.ts';
import { startHeartbeat, startProbe, startWatcher, stopProbe, stopWatcher, uploadProbe, uploadWatcher, waitHeld } from './remote.ts';
import type { Happened, Restarted, RunScope, Started } from './run-state.ts';
import { sleep } from './sleep.ts';
import { readState, type HostState } from './state.ts';
import { failbackTheory, type DrillConfig } from './theory.ts';
import { DrillError, type DrillContext, type Emit, type RunLabel, type RunRecord } from './types.ts';

/** How long the probe keeps running after the failback: kept connections stalled across it show their fate. */
export const FATE_WINDOW_MS = 8000;

export async function oneRun(ctx: DrillContext, links: Links, cluster: Cluster, opts: DrillOptions, label: RunLabel, emit: Emit): Promise<RunRecord> {
  const run: RunScope = {
    ctx, links, cluster, opts, label, emit,
    spec: MODES[label.mode],
    names: Object.keys(cluster.directors),
    notes: [...cluster.notes],
    startedAt: new Date().toISOString(),
  };
  const start = await phase(emit, label, 'start', 'probe on the client, VIP watchers, clocks', () => startInstruments(run));
  const happened: Happened = { killed: false, takeoverSeen: false };
  await breakAndRestore(run, start, happened);
  const masterConn = happened.restarted?.conn ?? start.conns[start.master]!;
  await failback(run, start, happened, masterConn);
  return collect(run, start, happened, masterConn);
}

// ------------------------------------------------------------------ start

async function startInstruments(run: RunScope): Promise<{ value: Started; detail: string }> {
  const { links, cluster, opts, names } = run;
  const { vip, port, client, directors } = cluster;
  const conns = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await links.get(n)] as const)));
  const clientConn = await links.get(client);
  const { before, master } = await findMaster(run, conns);
  const plan = planRun(run, master);

  await Promise.all([uploadProbe(clientConn), ...[clientConn, ...names.map((n) => conns[n]!)].map((c) => uploadWatcher(c))]);
  const watchPids: Record<string, number> = {};
  await Promise.all(names.map(async (n) => (watchPids[n] = await startWatcher(conns[n]!, vip, directors[n]!.lanInterface, plan.durationS))));
  const probe = await startProbe(clientConn, { vip, port, durationS: plan.durationS, intervalMs: opts.intervalMs, timeoutMs: opts.probeTimeoutMs });
  const probeStartedLocal = localNowMs();
  const clocks = await measureRunClocks(client, clientConn, names.map((n) => ({ name: n, conn: conns[n]!, lanIp: cluster.model.hosts[n]?.lan_ip })));
  // a baseline of successful requests before the kill
  await sleep(Math.max(0, 2000 - (localNowMs() - probeStartedLocal)), run.ctx.signal);
  const { backup } = plan;
  return {
    value: { before, master, ...plan, watchPids, probe, clocks, conns, clientConn },
    detail: `MASTER ${master} (priority ${directors[master]!.priority}), backup ${backup} (${directors[backup]!.priority}); probe pid ${probe.pid} every ${opts.intervalMs} ms; clocks: ${Object.entries(clocks).map(([n, c]) => `${n}${n === client ? '−here' : '−client'} ${c.offsetMs.toFixed(1)}±${c.errorMs.toFixed(1)} ms (${c.via})`).join(', ')}`,
  };
}

/** Each director's state once exactly one holds the VIP (a previous restore may still be settling). */
async function findMaster(run: RunScope, conns: Record<string, Conn>): Promise<{ before: Record<string, HostState>; master: string }> {
  const { names, cluster: { vip, directors } } = run;
  // A director that preempts takes the VIP back preempt_delay after its keepalived started: a lower
  // one holding it until then is the cluster settling (after a restart or a previous run), not a state
  // to drill from.
  const top = names.reduce((a, b) => (directors[b]!.priority > directors[a]!.priority ? b : a));
  const settleMs = Math.max(10_000, ((directors[top]!.preemptDelayS ?? 0) + 5) * 1000);
  for (let attempt = 0; ; attempt++) {
    const before = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await readState(conns[n]!, directors[n]!.lanInterface)] as const)));
    const h = vipHolders(Object.fromEntries(names.map((n) => [n, before[n]!.addr])), [vip])[vip]!;
    const settled = h.length === 1 && (h[0] === top || !directors[top]!.preempt);
    if (settled) return { before, master: h[0]! };
    if ((attempt + 1) * 500 >= settleMs) {
      if (h.length === 1) throw new DrillError(`${h[0]} holds ${vip} although ${top} has the higher priority (${directors[top]!.priority} > ${directors[h[0]!]!.priority}) and preempts: not taken back within ${settleMs / 1000} s — is ${top}'s keepalived running and hearing ${h[0]}?`);
      throw new DrillError(h.length ? `split brain before the run: ${vip} is held by ${h.join(' and ')}` : `nobody holds ${vip} before the run`);
    }
    await sleep(500, run.ctx.signal);
  }
}

/** The backup, the VRRP timing the theory uses, and how long each wait may last. */
function planRun(run: RunScope, master: string): Pick<Started, 'backup' | 'config' | 'onLab' | 'takeoverBoundMs' | 'bootBoundMs' | 'failbackBoundMs' | 'durationS'> {
  const { names, notes, label, spec, cluster: { vip, directors } } = run;
  const others = names.filter((n) => n !== master).sort((a, b) => directors[b]!.priority - directors[a]!.priority);
  const backup = others[0]!;
  const top = names.reduce((a, b) => (directors[b]!.priority > directors[a]!.priority ? b : a));
  if (top !== master) notes.push(`${master} holds ${vip} although ${top} has the higher priority (${directors[top]!.priority} > ${directors[master]!.priority})`);
  const d = directors[master]!;
  const config: DrillConfig = {
    mode: label.mode, advertInt: d.advertInt, vrrpVersion: d.vrrpVersion,
    backupPriority: directors[backup]!.priority, masterPriority: d.priority,
  };
  // every timing input from the deployed keepalived.conf (preflight read it), not from the inventory
  if (d.preemptDelayS !== undefined) config.preemptDelayS = d.preemptDelayS;
  if (d.downTimerAdverts !== undefined) config.downTimerAdverts = d.downTimerAdverts;
  if (d.crashCleanup) config.crashCleanup = true;
  const tracked = deployedService(d.tracks);
  if (tracked) config.track = tracked.timing;
  const failover = failoverTheory(config);
  const back = failbackTheory(config);
  // bounds, generous under emulation: each wait ends the moment its condition holds
  const takeoverBoundMs = Math.max(3 * failover.masterDownMs, 2000) + 10_000;
  const bootBoundMs = spec.reconnect ? 300_000 : 30_000;
  const failbackBoundMs = Math.max(3 * back.masterDownMs, 2000) + (config.preemptDelayS ?? 0) * 1000 + 20_000;
  const durationS = Math.ceil((5_000 + takeoverBoundMs + 3_000 + bootBoundMs + failbackBoundMs + 10_000) / 1000);
  return { backup, config, onLab: !!run.ctx.lab?.has(master), takeoverBoundMs, bootBoundMs, failbackBoundMs, durationS };
}

// ------------------------------------------------------------------ kill, takeover, restore

/** Kill and takeover, then the restore: always, once something was broken (unless --no-restore). */
async function breakAndRestore(run: RunScope, start: Started, happened: Happened): Promise<void> {
  const { ctx: { signal }, cluster, opts, names } = run;
  const { master, backup, conns, clientConn } = start;
  const target: KillTarget = {
    vips: cluster.model.vips.filter((v) => vipHolders({ [master]: start.before[master]!.addr }, [v])[v]!.length),
    lanInterface: cluster.directors[master]!.lanInterface,
    service: deployedService(cluster.directors[master]!.tracks)?.unit,
  };
  const abortWaits = new AbortController();
  const onAbort = () => abortWaits.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) {
    // nothing broken yet: stop what was started and leave
    await stopProbe(clientConn, start.probe.pid).catch(() => '');
    await Promise.all(names.map((n) => stopWatcher(conns[n]!, start.watchPids[n]!).catch(() => '')));
    throw new DrillError('interrupted before the kill: nothing was broken');
  }
  try {
    const takeoverWait = waitHeld(conns[backup]!, cluster.vip, true, start.takeoverBoundMs, abortWaits.signal);
    takeoverWait.catch(() => {});
    await killMaster(run, start, happened, target);
    await awaitTakeover(run, start, happened, takeoverWait, abortWaits.signal);
  } finally {
    if (happened.killed && opts.restore) await restoreMaster(run, start, happened, target);
    signal?.removeEventListener('abort', onAbort);
  }
}

async function killMaster(run: RunScope, start: Started, happened: Happened, target: KillTarget): Promise<void> {
  const { ctx, links, cluster, label, spec, notes, emit } = run;
  const { master } = start;
  await phase(emit, label, 'kill', `${master}: ${spec.describe(target)}`, async () => {
    const cmd = spec.kill(target, { lab: start.onLab });
    const lanIp = cluster.model.hosts[master]?.lan_ip;
    // a power cut cannot stamp itself: the client hears the master fall silent on the LAN
    if (spec.reconnect && lanIp) {
      try {
        happened.heartbeat = await startHeartbeat(start.clientConn, lanIp, Math.ceil(start.takeoverBoundMs / 1000));
      } catch (err) {
        notes.push(`no heartbeat to ${master} (${(err as Error).message.split('\n')[0]}): the power cut is timed by this machine's stamp`);
      }
    }
    happened.killed = true;
    if (cmd) {
      const r = await start.conns[master]!.exec(cmd, { timeoutMs: 20_000 });
      happened.killRemote = parseEpochNs(r.stdout, `${master}: kill`) + (spec.killDelayMs ?? 0);
    } else {
      happened.killLocal = localNowMs();
      await ctx.lab!.kill(master);
      links.drop(master);
    }
    return { value: undefined, detail: `${master} broken (${label.mode})` };
  });
}

async function awaitTakeover(run: RunScope, start: Started, happened: Happened, takeoverWait: ReturnType<typeof waitHeld>, signal: AbortSignal): Promise<void> {
  const { label, notes, emit, cluster: { vip } } = run;
  const { master, backup } = start;
  await phase(emit, label, 'takeover', `${backup} takes ${vip} over`, async () => {
    const r = await takeoverWait;
    happened.takeoverSeen = r.met;
    // let the client see the service back (and any split brain last) before the restore
    await sleep(2500, signal);
    if (label.mode === 'kill') {
      const still = await start.conns[master]!.exec(sh`pidof keepalived`, { nothrow: true });
      if (still.exitCode === 0) notes.push(`${master}: keepalived is running again after the SIGKILL (restarted by systemd?): pids ${still.stdout.trim()}`);
    }
    return { value: undefined, detail: r.met ? `${backup} holds ${vip}` : `${backup} did NOT take ${vip} within ${fmtS(start.takeoverBoundMs)}` };
  });
}

async function restoreMaster(run: RunScope, start: Started, happened: Happened, target: KillTarget): Promise<void> {
  const { ctx, label, spec, emit } = run;
  const { master, conns } = start;
  await phase(emit, label, 'restore', `${master}: undo ${label.mode}`, async () => {
    const cmd = spec.restore(target, { lab: start.onLab });
    if (cmd) {
      const r = await conns[master]!.exec(cmd, { timeoutMs: 60_000 });
      happened.restoreRemote = parseEpochNs(r.stdout, `${master}: restore`);
    } else if (ctx.lab && start.onLab) {
      happened.restoreLocal = localNowMs();
      await ctx.lab.start(master);
    } else {
      throw new DrillError(`${master}: no way to undo ${label.mode} here`);
    }
    if (!spec.reconnect) {
      const up = await conns[master]!.exec(remoteWait(sh`systemctl is-active --quiet keepalived`, 30, 0.2), { nothrow: true, timeoutMs: 40_000 });
      if (up.exitCode !== 0) throw new DrillError(`${master}: keepalived not active 30 s after the restore`);
      return { value: undefined, detail: `${label.mode} undone` };
    }
    const bootStarted = localNowMs();
    happened.restarted = await afterBoot(run, start);
    return { value: undefined, detail: `${master} booted, SSH and keepalived up after ${fmtS(localNowMs() - bootStarted)}` };
  });
}

/** A powered-off master once it booted: SSH again, keepalived active, its watcher and clock anew. */
async function afterBoot(run: RunScope, start: Started): Promise<Restarted> {
  const { links, cluster, ctx: { signal } } = run;
  const { master } = start;
  const conn = await links.reconnect(master, start.bootBoundMs, signal);
  const up = await conn.exec(remoteWait(sh`systemctl is-active --quiet keepalived`, 120, 0.5), { nothrow: true, timeoutMs: 130_000 });
  if (up.exitCode !== 0) throw new DrillError(`${master}: keepalived not active within 120 s of the boot`);
  await uploadWatcher(conn);
  const watchPid = await startWatcher(conn, cluster.vip, cluster.directors[master]!.lanInterface, start.durationS);
  const lanIp = cluster.model.hosts[master]?.lan_ip;
  const clock = (await measureClocks(start.clientConn, start.clocks[cluster.client]!, [{ name: master, conn, lanIp }]))[master]!;
  // the failback starts when keepalived does, not when the VM was switched on
  const started = await conn.exec(sh`systemctl show -p ExecMainStartTimestampMonotonic --value keepalived; python3 -c ${CLOCKS_NOW}`);
  return { conn, clock, watchPid, keepalivedStart: parseServiceStart(started.stdout) };
}

// ------------------------------------------------------------------ failback

async function failback(run: RunScope, start: Started, happened: Happened, masterConn: Conn): Promise<void> {
  const { cluster, opts, label, notes, emit, ctx: { signal } } = run;
  const { master, backup } = start;
  const { vip } = cluster;
  if (!opts.restore) {
    notes.push(`--no-restore: ${master} is left broken (${label.mode}); ${backup} holds ${vip}`);
    for (const p of ['restore', 'failback'] as const) emit({ type: 'phase:end', run: label, phase: p, status: 'skipped', detail: '--no-restore' });
    return;
  }
  await phase(emit, label, 'failback', `${master} takes ${vip} back (preemption)`, async () => {
    if (!cluster.directors[master]!.preempt) {
      notes.push(`${master}'s keepalived.conf says nopreempt: the VIP stays on the backup, no failback`);
      return { value: undefined, detail: 'nopreempt: no failback expected' };
    }
    const [mine, theirs] = await Promise.all([
      waitHeld(masterConn, vip, true, start.failbackBoundMs, signal),
      waitHeld(start.conns[backup]!, vip, false, start.failbackBoundMs, signal),
    ]);
    happened.failbackSeen = mine.met && theirs.met;
    // the window in which kept connections show their fate (analyze.ts: connectionFates): one stalled
    // across the failback is retransmitted with TCP's backoff (0.2, 0.4, 0.8, 1.6, 3.2 s …)
    await sleep(FATE_WINDOW_MS, signal);
    return { value: undefined, detail: happened.failbackSeen ? `${master} holds ${vip}, ${backup} released it` : `failback NOT seen within ${fmtS(start.failbackBoundMs)}` };
  });
}
