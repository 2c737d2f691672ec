// The live drill: preflight, probe on the client, VIP watchers on the directors, clock offsets,
// kill the MASTER, watch the takeover, restore, watch the failback, collect, analyze. Emits
// DrillEvents and never prints; lib/drill/ui.ts shows them, lib/drill/report.ts writes files.
//
// Clocks. The probe's samples are on the client's monotonic clock; everything else is stamped on
// the CLOCK_REALTIME of the host where it happened (the kill in the same shell as `date +%s%N`,
// VIP changes by vipwatch.py from rtnetlink) or, for a lab power cut, on this machine's clock.
// A director's offset to the client is measured NTP-style on the LAN itself: the client sends UDP
// queries to the VIP watcher running on the director (vipwatch.py clock), round trips of a few
// ms, shortest wins. The client's offset to this machine (needed only for a lab power cut, timed
// here) goes over SSH (`date +%s%N`, ~0.1 s round trips under emulation, so ± ~50 ms); if the LAN
// query fails, a director's offset is composed from two SSH measurements the same way.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { clusterFromInventory, type ClusterModel } from '../lvs/index.ts';
import { hostLanInterface } from '../lvs/views.ts';
import { interfaceFacts } from '../facts.ts';
import { emptyFacts } from '../runner.ts';
import { sh, type Command } from '../shell.ts';
import { connect, type ConnectOptions } from '../ssh.ts';
import { ConfigError, UnreachableError, type Conn, type Host, type Inventory } from '../types.ts';
import { analyze, type DrillMetrics } from './analyze.ts';
import { KILL_DELAY_MS, MODES, modeProblem, remoteWait, stateProbes, type KillTarget } from './kill.ts';
import {
  CLOCKS_NOW,
  deathFromBeats,
  firstChange,
  holdIntervals,
  overlaps,
  parseEpochNs,
  parseKeepalivedConf,
  parseServiceStart,
  parseWatchLog,
  shiftLog,
  vipHolders,
  type DeployedKeepalived,
  type Interval,
  type WatchLog,
} from './observe.ts';
import type { DrillOptions } from './options.ts';
import { clientEpochToProbeMs, estimateClockOffset, parseProbeLog, remoteEpochToProbeMs, type ClockExchange, type Timeline } from './probe-log.ts';
import { summarize, withinBudget, type TableRow } from './table.ts';
import { failbackTheory, failoverTheory, type DrillConfig, type DrillMode } from './theory.ts';

// ------------------------------------------------------------------ contracts

/** The lab's power switch, for `poweroff` of a lab VM (see lab/). */
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

export interface DrillContext {
  inventory: Inventory;
  connect?: ConnectOptions;
  lab?: LabControl;
  onEvent?: (e: DrillEvent) => void;
  /** aborting skips the waits and goes straight to the restore */
  signal?: AbortSignal;
}

export class DrillError extends Error {
  constructor(message: string, readonly exitCode: 2 | 4 = 2) {
    super(message);
    this.name = 'DrillError';
  }
}

export interface ClockOffset {
  /** directors: the host's clock − the client's; the client: its clock − this machine's (ms) */
  offsetMs: number;
  /** half the shortest round trip: the offset is within ± this */
  errorMs: number;
  /** lan: UDP on the cluster's segment; ssh: `date +%s%N` over SSH */
  via: 'lan' | 'ssh';
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

// ------------------------------------------------------------------ small pieces

const PROBE_PATH = '/tmp/lvsplay-probe.py';
const PROBE_LOG = '/tmp/lvsplay-probe.log';
const WATCH_PATH = '/tmp/lvsplay-vipwatch.py';
const WATCH_LOG = '/tmp/lvsplay-vipwatch.log';
const probeScript = () => readFileSync(new URL('./probe.py', import.meta.url));
const watchScript = () => readFileSync(new URL('./vipwatch.py', import.meta.url));

/** This machine's clock, ms since the epoch, sub-ms resolution, monotonic over the run. */
export const localNowMs = (): number => performance.timeOrigin + performance.now();

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

const fmtS = (ms: number | undefined) => (ms === undefined ? '—' : `${(ms / 1000).toFixed(2)} s`);

/** Connections the drill can drop and open again (a powered-off VM comes back as a new sshd). */
class Links {
  private readonly conns = new Map<string, Promise<Conn>>();
  constructor(private readonly inventory: Inventory, private readonly opts: ConnectOptions) {}

  host(name: string): Host {
    const h = this.inventory.hosts.get(name);
    if (!h) throw new ConfigError(`host ${name} is not in ${this.inventory.file}`);
    return h;
  }

  get(name: string): Promise<Conn> {
    let c = this.conns.get(name);
    if (!c) {
      c = connect(this.host(name), this.opts);
      c.catch(() => {});
      this.conns.set(name, c);
    }
    return c;
  }

  /** Forgets a dead connection (its socket is gone with the VM). */
  drop(name: string): void {
    const c = this.conns.get(name);
    this.conns.delete(name);
    c?.then((conn) => conn.close(), () => {}).catch(() => {});
  }

  /** Connects again until it works or the deadline passes (a booting VM refuses or stalls SSH). */
  async reconnect(name: string, timeoutMs: number, signal?: AbortSignal): Promise<Conn> {
    this.drop(name);
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (let attempt = 1; Date.now() < deadline && attempt <= 200; attempt++) {
      try {
        const conn = await connect(this.host(name), { ...this.opts, connectTimeoutMs: Math.min(20_000, Math.max(1000, deadline - Date.now())) });
        this.conns.set(name, Promise.resolve(conn));
        return conn;
      } catch (err) {
        last = err;
        if (signal?.aborted) break;
        await sleep(1500, signal);
      }
    }
    throw new UnreachableError(name, `no SSH within ${Math.round(timeoutMs / 1000)} s after the restore: ${(last as Error)?.message ?? 'aborted'}`);
  }

  async closeAll(): Promise<void> {
    const all = [...this.conns.values()];
    this.conns.clear();
    await Promise.all(all.map((c) => c.then((conn) => conn.close(), () => {})));
  }
}

/** host − this machine, NTP-style over the reused connection. */
export async function measureOffset(conn: Conn, exchanges = 5): Promise<ClockOffset> {
  const xs: ClockExchange[] = [];
  for (let i = 0; i < exchanges; i++) {
    const sentMs = localNowMs();
    const r = await conn.exec(sh`date +%s%N`);
    const receivedMs = localNowMs();
    xs.push({ sentMs, remoteMs: parseEpochNs(r.stdout, `${conn.host.name}: date +%s%N`), receivedMs });
  }
  return { ...estimateClockOffset(xs), via: 'ssh' };
}

const CLOCK_PORT = 7411;

/**
 * Every director's clock − the client's, over the LAN (the watchers must be running); a director
 * that does not answer is measured over SSH instead, against `clientLocal` (client − this machine).
 */
async function measureClocks(
  clientConn: Conn,
  clientLocal: ClockOffset,
  dirs: Array<{ name: string; conn: Conn; lanIp?: string }>,
): Promise<Record<string, ClockOffset>> {
  const out: Record<string, ClockOffset> = {};
  await Promise.all(
    dirs.map(async ({ name, conn, lanIp }) => {
      if (lanIp) {
        const r = await clientConn.exec(sh`python3 ${WATCH_PATH} clock --host ${lanIp} --port ${CLOCK_PORT} --count 15`, { nothrow: true, timeoutMs: 30_000 });
        const samples = r.exitCode === 0 ? parseWatchLog(r.stdout, `${clientConn.host.name}: clock ${lanIp}`).samples : [];
        if (samples.length >= 3) {
          out[name] = { ...estimateClockOffset(samples), via: 'lan' };
          return;
        }
      }
      const viaSsh = await measureOffset(conn);
      out[name] = { offsetMs: viaSsh.offsetMs - clientLocal.offsetMs, errorMs: viaSsh.errorMs + clientLocal.errorMs, via: 'ssh' };
    }),
  );
  return out;
}

/** Differences between the cluster's state before and after a run (empty: as found). Pure. */
export function compareStates(before: Record<string, HostState>, after: Record<string, HostState>, vips: string[]): string[] {
  const problems: string[] = [];
  const holders = (s: Record<string, HostState>) => vipHolders(Object.fromEntries(Object.entries(s).map(([h, v]) => [h, v.addr])), vips);
  const hb = holders(before);
  const ha = holders(after);
  for (const vip of vips) {
    const b = hb[vip]!.join(', ') || 'nobody';
    const a = ha[vip]!.join(', ') || 'nobody';
    if (a !== b) problems.push(`${vip}: held by ${a}, before the drill by ${b}`);
  }
  for (const [host, b] of Object.entries(before)) {
    const a = after[host];
    if (!a) {
      problems.push(`${host}: no state read after the drill`);
      continue;
    }
    if (a.keepalived !== b.keepalived) problems.push(`${host}: keepalived is ${a.keepalived}, was ${b.keepalived}`);
    if (a.linkUp !== b.linkUp) problems.push(`${host}: LAN link is ${a.linkUp ? 'up' : 'down'}, was ${b.linkUp ? 'up' : 'down'}`);
    if (a.ipvs.join('\n') !== b.ipvs.join('\n')) problems.push(`${host}: IPVS rules differ:\n  before: ${b.ipvs.join(' | ') || '(none)'}\n  after:  ${a.ipvs.join(' | ') || '(none)'}`);
  }
  return problems;
}

export interface HostState {
  addr: string;
  keepalived: string;
  linkUp: boolean;
  /** `ipvsadm -Sn`, sorted lines */
  ipvs: string[];
}

async function readState(conn: Conn, lanInterface: string): Promise<HostState> {
  const [addr, active, link, ipvs] = await conn.read(stateProbes(lanInterface));
  return {
    addr: addr!.stdout,
    keepalived: active!.stdout.trim() || `unknown (${active!.exitCode})`,
    linkUp: /<([^>]*)>/.exec(link!.stdout)?.[1]?.split(',').includes('UP') ?? false,
    ipvs: ipvs!.stdout.split('\n').map((l) => l.trim()).filter(Boolean).sort(),
  };
}

/** Which profile a deployed VRRP timing is. */
export function profileLabel(version: 2 | 3, advertInt: number): string {
  if (version === 2 && advertInt === 1) return 'default';
  if (version === 3 && advertInt === 0.1) return 'fast';
  return `vrrpv${version}/${advertInt}s`;
}

// ------------------------------------------------------------------ preflight

interface Director {
  name: string;
  lanInterface: string;
  /** from its deployed keepalived.conf: this VIP's instance */
  priority: number;
  advertInt: number;
  vrrpVersion: 2 | 3;
}

interface Cluster {
  model: ClusterModel;
  vip: string;
  port: number;
  client: string;
  directors: Record<string, Director>;
  profile: string;
  notes: string[];
}

/** What the drill needs from the inventory, before any host is touched (ConfigError otherwise). */
export function drillTargets(inventory: Inventory, vip?: string): { model: ClusterModel; vip: string; port: number; client: string } {
  const model = clusterFromInventory(inventory, (h) => h.vars);
  const chosen = vip ?? model.vips[0]!;
  if (!model.vips.includes(chosen)) throw new ConfigError(`--vip ${chosen} is not a VIP of the cluster (lvs_vips: ${model.vips.join(', ')})`, inventory.file);
  const service = model.services.find((s) => s.vip === chosen && s.protocol === 'tcp');
  if (!service) throw new ConfigError(`the drill probes over TCP (HTTP): VIP ${chosen} has no TCP service in lvs_services`, inventory.file);
  const client = model.clients[0];
  if (!client) throw new ConfigError('the drill runs its probe on a client: the group `clients` is empty or missing', inventory.file);
  if (model.directors.length < 2) throw new ConfigError(`a failover needs two directors; the group directors has ${model.directors.length}`, inventory.file);
  return { model, vip: chosen, port: service.port, client };
}

// ------------------------------------------------------------------ the drill

export async function runDrill(ctx: DrillContext, opts: DrillOptions): Promise<DrillResult> {
  const emit = (e: DrillEvent) => ctx.onEvent?.(e);
  const targets = drillTargets(ctx.inventory, opts.vip);
  const lab = ctx.lab;
  for (const mode of opts.modes) {
    for (const d of targets.model.directors) {
      const why = modeProblem(mode, { lab: !!lab?.has(d), restore: opts.restore });
      if (why) throw new ConfigError(`--mode ${mode} on ${d}: ${why}`, ctx.inventory.file);
    }
  }
  const links = new Links(ctx.inventory, ctx.connect ?? {});
  const result: DrillResult = { runs: [], rows: [], failures: [] };
  try {
    const cluster = await preflight(ctx, links, targets, opts, emit);
    // a failed run stops the drill: what ran so far is still reported
    drill: for (const mode of opts.modes) {
      for (let i = 1; i <= opts.runs; i++) {
        if (ctx.signal?.aborted) break drill;
        const label: RunLabel = { mode, index: i, of: opts.runs, profile: cluster.profile };
        emit({ type: 'run:start', run: label });
        try {
          const record = await oneRun(ctx, links, cluster, opts, label, emit);
          result.runs.push(record);
          const m = record.metrics;
          emit({
            type: 'run:end', run: label,
            summary: `outage ${fmtS(m.outageMs)}, takeover ${fmtS(m.takeoverMs)}${m.splitBrain ? `, split brain ${fmtS(m.splitBrain.durationMs)}` : ''}${record.restored && !record.restored.ok ? ' — NOT restored' : ''}`,
          });
          if (record.restored && !record.restored.ok) {
            result.failures.push({ label, error: `the cluster is not as the drill found it:\n  ${record.restored.problems.join('\n  ')}` });
            break drill;
          }
        } catch (err) {
          const message = (err as Error).message;
          result.failures.push({ label, error: message });
          emit({ type: 'run:end', run: label, summary: 'failed', failed: message });
          break drill;
        }
      }
    }
  } finally {
    await links.closeAll();
  }
  result.rows = summarize(result.runs.map((r) => ({ metrics: r.metrics, profile: r.label.profile })));
  if (opts.budgetMs !== undefined) result.withinBudget = withinBudget(result.rows, opts.budgetMs);
  return result;
}

async function phase<T>(
  emit: (e: DrillEvent) => void,
  run: RunLabel | undefined,
  name: DrillPhase,
  title: string,
  fn: () => Promise<{ value: T; detail: string }>,
): Promise<T> {
  emit({ type: 'phase:start', run, phase: name, title });
  try {
    const { value, detail } = await fn();
    emit({ type: 'phase:end', run, phase: name, status: 'done', detail });
    return value;
  } catch (err) {
    emit({ type: 'phase:end', run, phase: name, status: 'failed', detail: (err as Error).message });
    throw err;
  }
}

async function preflight(
  ctx: DrillContext,
  links: Links,
  targets: ReturnType<typeof drillTargets>,
  opts: DrillOptions,
  emit: (e: DrillEvent) => void,
): Promise<Cluster> {
  emit({ type: 'preflight:start' });
  return phase(emit, undefined, 'preflight', `preflight: ${targets.vip}:${targets.port} from ${targets.client}, ${targets.model.directors.join(' + ')}`, async () => {
    const { model, vip, port, client } = targets;
    const reach = async (name: string) => {
      try {
        return await links.get(name);
      } catch (err) {
        throw new DrillError((err as Error).message, 4);
      }
    };
    const notes: string[] = [];
    const [clientConn, ...dirConns] = await Promise.all([reach(client), ...model.directors.map(reach)]);
    const confPath = (name: string) => String(links.host(name).vars.keepalived_conf ?? '/etc/keepalived/keepalived.conf');

    // the client: python3 for the probe, and every VIP answering
    const urls = model.services.filter((s) => s.protocol === 'tcp').map((s) => `http://${s.vip}:${s.port}/`);
    const curls = urls.map((u) => sh`for i in 1 2 3; do curl -s -m 3 -o /dev/null -w '%{http_code} ' ${u}; done`);
    const [py, ...answers] = await clientConn!.read([sh`command -v python3`, ...curls]);
    if (py!.exitCode !== 0) throw new DrillError(`${client}: python3 is missing (the probe runs on it)`);
    urls.forEach((u, i) => {
      const codes = answers[i]!.stdout.trim().split(/\s+/);
      if (codes.length < 3 || codes.some((c) => c !== '200')) {
        throw new DrillError(`${client}: ${u} does not answer 200 (got ${codes.join(' ') || 'nothing'}): the cluster is not serving — converge it first (playbooks/site.ts)`);
      }
    });

    // the directors: addresses, keepalived, the deployed config
    const reads = await Promise.all(
      dirConns.map((c, i) =>
        c!.read([sh`ip -o -4 addr show`, sh`ip -o link show`, sh`systemctl is-active keepalived`, sh`cat ${confPath(model.directors[i]!)}`, sh`command -v python3`]),
      ),
    );
    const addrs: Record<string, string> = {};
    const directors: Record<string, Director> = {};
    model.directors.forEach((name, i) => {
      const [addr, link, active, conf, dpy] = reads[i]!;
      addrs[name] = addr!.stdout;
      if (active!.stdout.trim() !== 'active') throw new DrillError(`${name}: keepalived is ${active!.stdout.trim() || 'not running'}: converge the cluster first (playbooks/site.ts)`);
      if (dpy!.exitCode !== 0) throw new DrillError(`${name}: python3 is missing (the VIP watcher runs on it)`);
      if (conf!.exitCode !== 0) throw new DrillError(`${name}: cannot read ${confPath(name)}: ${conf!.stderr.trim()}`);
      const deployed: DeployedKeepalived = parseKeepalivedConf(conf!.stdout);
      const inst = deployed.instances.find((x) => x.vips.includes(vip));
      if (!inst || inst.priority === undefined || inst.advertInt === undefined) {
        throw new DrillError(`${name}: ${confPath(name)} has no vrrp_instance with ${vip} (priority, advert_int): converge the cluster first`);
      }
      const facts = { ...emptyFacts(name), interfaces: interfaceFacts(addr!.stdout, link!.stdout, '') };
      const lanInterface = inst.interface ?? hostLanInterface(model, name, facts);
      directors[name] = { name, lanInterface, priority: inst.priority, advertInt: inst.advertInt, vrrpVersion: deployed.vrrpVersion ?? 2 };
      if (inst.advertInt !== model.vrrp.advertInt || (deployed.vrrpVersion ?? 2) !== model.vrrp.version) {
        notes.push(`${name} runs VRRPv${deployed.vrrpVersion ?? 2} advert_int ${inst.advertInt}, the inventory says VRRPv${model.vrrp.version} advert_int ${model.vrrp.advertInt} (pass the same -e as the converge); the theory uses what runs`);
      }
    });
    const holders = vipHolders(addrs, model.vips);
    for (const v of model.vips) {
      if (holders[v]!.length > 1) throw new DrillError(`split brain before the drill: ${v} is held by ${holders[v]!.join(' and ')} — the drill stops (find out why both are MASTER)`);
      if (holders[v]!.length === 0) throw new DrillError(`no director holds ${v}: the cluster is down — converge it first (playbooks/site.ts)`);
    }
    const first = directors[model.directors[0]!]!;
    const profile = opts.profile ?? profileLabel(first.vrrpVersion, first.advertInt);
    return {
      value: { model, vip, port, client, directors, profile, notes },
      detail: `${vip} on ${holders[vip]![0]}, ${urls.length} VIP service(s) answer, VRRPv${first.vrrpVersion} advert_int ${first.advertInt} s (${profile})${notes.length ? `; ${notes.join('; ')}` : ''}`,
    };
  });
}

// ------------------------------------------------------------------ one run

async function oneRun(
  ctx: DrillContext,
  links: Links,
  cluster: Cluster,
  opts: DrillOptions,
  label: RunLabel,
  emit: (e: DrillEvent) => void,
): Promise<RunRecord> {
  const signal = ctx.signal;
  const spec = MODES[label.mode];
  const { vip, port, client, directors } = cluster;
  const names = Object.keys(directors);
  const notes = [...cluster.notes];
  const startedAt = new Date().toISOString();

  // ---- start: state, master, scripts, watchers, probe, clocks
  const start = await phase(emit, label, 'start', 'probe on the client, VIP watchers, clocks', async () => {
    const conns = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await links.get(n)] as const)));
    const clientConn = await links.get(client);
    // a previous restore may still be settling: wait (bounded) for exactly one holder
    let before: Record<string, HostState> = {};
    let master: string | undefined;
    for (let attempt = 0; attempt < 20; attempt++) {
      before = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await readState(conns[n]!, directors[n]!.lanInterface)] as const)));
      const h = vipHolders(Object.fromEntries(names.map((n) => [n, before[n]!.addr])), [vip])[vip]!;
      if (h.length === 1) {
        master = h[0];
        break;
      }
      if (attempt === 19) throw new DrillError(h.length ? `split brain before the run: ${vip} is held by ${h.join(' and ')}` : `nobody holds ${vip} before the run`);
      await sleep(500, signal);
    }
    const m = master!;
    const others = names.filter((n) => n !== m).sort((a, b) => directors[b]!.priority - directors[a]!.priority);
    const backup = others[0]!;
    const top = names.reduce((a, b) => (directors[b]!.priority > directors[a]!.priority ? b : a));
    if (top !== m) notes.push(`${m} holds ${vip} although ${top} has the higher priority (${directors[top]!.priority} > ${directors[m]!.priority})`);
    const d = directors[m]!;
    const config: DrillConfig = {
      mode: label.mode, advertInt: d.advertInt, vrrpVersion: d.vrrpVersion,
      backupPriority: directors[backup]!.priority, masterPriority: d.priority,
    };
    const failover = failoverTheory(config);
    const back = failbackTheory(config);
    const onLab = !!ctx.lab?.has(m);
    // bounds, generous under emulation: each wait ends the moment its condition holds
    const takeoverBoundMs = Math.max(3 * failover.masterDownMs, 2000) + 10_000;
    const bootBoundMs = spec.reconnect ? 300_000 : 30_000;
    const failbackBoundMs = Math.max(3 * back.masterDownMs, 2000) + 20_000;
    const durationS = Math.ceil((5_000 + takeoverBoundMs + 3_000 + bootBoundMs + failbackBoundMs + 10_000) / 1000);

    await Promise.all([
      clientConn.put(PROBE_PATH, probeScript(), { mode: '0755' }),
      ...[clientConn, ...names.map((n) => conns[n]!)].map((c) => c.put(WATCH_PATH, watchScript(), { mode: '0755' })),
    ]);
    const watchPids: Record<string, number> = {};
    await Promise.all(names.map(async (n) => (watchPids[n] = await startWatcher(conns[n]!, vip, directors[n]!.lanInterface, durationS))));
    const probe = await startProbe(clientConn, { vip, port, durationS, intervalMs: opts.intervalMs, timeoutMs: opts.probeTimeoutMs });
    const probeStartedLocal = localNowMs();
    const clientLocal = await measureOffset(clientConn);
    const clocks: Record<string, ClockOffset> = {
      [client]: clientLocal,
      ...(await measureClocks(clientConn, clientLocal, names.map((n) => ({ name: n, conn: conns[n]!, lanIp: cluster.model.hosts[n]?.lan_ip })))),
    };
    // a baseline of successful requests before the kill
    await sleep(Math.max(0, 2000 - (localNowMs() - probeStartedLocal)), signal);
    return {
      value: { before, master: m, backup, config, onLab, takeoverBoundMs, bootBoundMs, failbackBoundMs, durationS, watchPids, probe, clocks, conns, clientConn },
      detail: `MASTER ${m} (priority ${d.priority}), backup ${backup} (${directors[backup]!.priority}); probe pid ${probe.pid} every ${opts.intervalMs} ms; clocks: ${Object.entries(clocks).map(([n, c]) => `${n}${n === client ? '−here' : '−client'} ${c.offsetMs.toFixed(1)}±${c.errorMs.toFixed(1)} ms (${c.via})`).join(', ')}`,
    };
  });

  const { master, backup, config, conns, clientConn, clocks } = start;
  const target: KillTarget = { vips: cluster.model.vips.filter((v) => vipHolders({ [master]: start.before[master]!.addr }, [v])[v]!.length), lanInterface: directors[master]!.lanInterface };
  let killLocal: number | undefined; // the kill on this machine's clock (lab power cut)
  let heartbeat: { pid: number } | undefined;
  let killRemote: number | undefined; // the kill on the master's clock
  let restoreLocal: number | undefined;
  let restoreRemote: number | undefined;
  let restarted: { conn: Conn; clock: ClockOffset; watchPid: number; keepalivedStart?: number } | undefined;
  let killed = false;
  const abortWaits = new AbortController();
  const onAbort = () => abortWaits.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  let takeoverSeen = false;
  let failbackSeen: boolean | undefined;

  if (signal?.aborted) {
    // nothing broken yet: stop what was started and leave
    await stopProbe(clientConn, start.probe.pid).catch(() => '');
    await Promise.all(names.map((n) => stopWatcher(conns[n]!, start.watchPids[n]!).catch(() => '')));
    throw new DrillError('interrupted before the kill: nothing was broken');
  }
  try {
    // ---- kill
    const takeoverWait = waitHeld(conns[backup]!, vip, true, start.takeoverBoundMs, abortWaits.signal);
    takeoverWait.catch(() => {});
    await phase(emit, label, 'kill', `${master}: ${spec.describe(target)}`, async () => {
      const cmd = spec.kill(target, { lab: start.onLab });
      const lanIp = cluster.model.hosts[master]?.lan_ip;
      // a power cut cannot stamp itself: the client hears the master fall silent on the LAN
      if (spec.reconnect && lanIp) {
        try {
          heartbeat = await startHeartbeat(clientConn, lanIp, Math.ceil(start.takeoverBoundMs / 1000));
        } catch (err) {
          notes.push(`no heartbeat to ${master} (${(err as Error).message.split('\n')[0]}): the power cut is timed by this machine's stamp`);
        }
      }
      killed = true;
      if (cmd) {
        const r = await conns[master]!.exec(cmd, { timeoutMs: 20_000 });
        killRemote = parseEpochNs(r.stdout, `${master}: kill`) + (KILL_DELAY_MS[label.mode] ?? 0);
      } else {
        killLocal = localNowMs();
        await ctx.lab!.kill(master);
        links.drop(master);
      }
      return { value: undefined, detail: `${master} broken (${label.mode})` };
    });

    // ---- takeover
    await phase(emit, label, 'takeover', `${backup} takes ${vip} over`, async () => {
      const r = await takeoverWait;
      takeoverSeen = r.met;
      // let the client see the service back (and any split brain last) before the restore
      await sleep(2500, abortWaits.signal);
      if (label.mode === 'kill') {
        const still = await conns[master]!.exec(sh`pidof keepalived`, { nothrow: true });
        if (still.exitCode === 0) notes.push(`${master}: keepalived is running again after the SIGKILL (restarted by systemd?): pids ${still.stdout.trim()}`);
      }
      return { value: undefined, detail: r.met ? `${backup} holds ${vip}` : `${backup} did NOT take ${vip} within ${fmtS(start.takeoverBoundMs)}` };
    });
  } finally {
    // ---- restore: always, once something was broken (unless told not to)
    if (killed && opts.restore) {
      await phase(emit, label, 'restore', `${master}: undo ${label.mode}`, async () => {
        const cmd = spec.restore(target, { lab: start.onLab });
        if (cmd) {
          const r = await conns[master]!.exec(cmd, { timeoutMs: 60_000 });
          restoreRemote = parseEpochNs(r.stdout, `${master}: restore`);
        } else if (ctx.lab && start.onLab) {
          restoreLocal = localNowMs();
          await ctx.lab.start(master);
        } else {
          throw new DrillError(`${master}: no way to undo ${label.mode} here`);
        }
        let detail = `${label.mode} undone`;
        if (spec.reconnect) {
          const bootStarted = localNowMs();
          const conn = await links.reconnect(master, start.bootBoundMs, signal);
          const up = await conn.exec(remoteWait(sh`systemctl is-active --quiet keepalived`, 120, 0.5), { nothrow: true, timeoutMs: 130_000 });
          if (up.exitCode !== 0) throw new DrillError(`${master}: keepalived not active within 120 s of the boot`);
          await conn.put(WATCH_PATH, watchScript(), { mode: '0755' });
          const watchPid = await startWatcher(conn, vip, directors[master]!.lanInterface, start.durationS);
          const clock = (await measureClocks(clientConn, clocks[client]!, [{ name: master, conn, lanIp: cluster.model.hosts[master]?.lan_ip }]))[master]!;
          // the failback starts when keepalived does, not when the VM was switched on
          const started = await conn.exec(sh`systemctl show -p ExecMainStartTimestampMonotonic --value keepalived; python3 -c ${CLOCKS_NOW}`);
          restarted = { conn, clock, watchPid, keepalivedStart: parseServiceStart(started.stdout) };
          detail = `${master} booted, SSH and keepalived up after ${fmtS(localNowMs() - bootStarted)}`;
        } else {
          const up = await conns[master]!.exec(remoteWait(sh`systemctl is-active --quiet keepalived`, 30, 0.2), { nothrow: true, timeoutMs: 40_000 });
          if (up.exitCode !== 0) throw new DrillError(`${master}: keepalived not active 30 s after the restore`);
        }
        return { value: undefined, detail };
      });
    }
    signal?.removeEventListener('abort', onAbort);
  }

  // ---- failback
  const masterConn = restarted?.conn ?? conns[master]!;
  if (!opts.restore) {
    notes.push(`--no-restore: ${master} is left broken (${label.mode}); ${backup} holds ${vip}`);
    for (const p of ['restore', 'failback'] as const) emit({ type: 'phase:end', run: label, phase: p, status: 'skipped', detail: '--no-restore' });
  } else {
    await phase(emit, label, 'failback', `${master} takes ${vip} back (preemption)`, async () => {
      if (!cluster.model.vrrp.preempt) {
        notes.push('lvs_preempt is false: the VIP stays on the backup, no failback');
        return { value: undefined, detail: 'nopreempt: no failback expected' };
      }
      const [mine, theirs] = await Promise.all([
        waitHeld(masterConn, vip, true, start.failbackBoundMs, signal),
        waitHeld(conns[backup]!, vip, false, start.failbackBoundMs, signal),
      ]);
      failbackSeen = mine.met && theirs.met;
      await sleep(1500, signal);
      return { value: undefined, detail: failbackSeen ? `${master} holds ${vip}, ${backup} released it` : `failback NOT seen within ${fmtS(start.failbackBoundMs)}` };
    });
  }

  // ---- collect
  return phase(emit, label, 'collect', 'stop the probe and watchers, fetch logs, analyze', async () => {
    const probeText = await stopProbe(clientConn, start.probe.pid);
    const beatText = heartbeat ? await stopHeartbeat(clientConn, heartbeat.pid) : undefined;
    const after: Record<string, HostState> = {};
    let clocksAfter: Record<string, ClockOffset> = {};
    if (opts.restore) {
      // while the watchers still answer clock queries
      const dirs = names.map((n) => ({ name: n, conn: n === master ? masterConn : conns[n]!, lanIp: cluster.model.hosts[n]?.lan_ip }));
      // health checks may still be re-adding real servers: give the cluster a bounded while to settle
      const settleStart = localNowMs();
      for (let attempt = 1; ; attempt++) {
        await Promise.all(dirs.map(async (d) => (after[d.name] = await readState(d.conn, directors[d.name]!.lanInterface))));
        if (!compareStates(start.before, after, cluster.model.vips).length || attempt >= 20 || signal?.aborted) break;
        await sleep(1000, signal);
      }
      const settled = localNowMs() - settleStart;
      if (settled > 1500) notes.push(`the cluster took ${fmtS(settled)} after the failback to look as the drill found it (e.g. health checks re-adding real servers)`);
      const clientLocal = await measureOffset(clientConn, 3);
      clocksAfter = { [client]: clientLocal, ...(await measureClocks(clientConn, clientLocal, dirs)) };
    }
    const watchTexts: Record<string, string[]> = {};
    await Promise.all(
      names.map(async (n) => {
        if (n === master && restarted) watchTexts[n] = [await stopWatcher(restarted.conn, restarted.watchPid)];
        else if (n === master && spec.reconnect) watchTexts[n] = [];
        else watchTexts[n] = [await stopWatcher(conns[n]!, start.watchPids[n]!)];
      }),
    );

    const timeline = parseProbeLog(probeText, `${client}:${PROBE_LOG}`);
    // a director's clock → the probe's (its offset is to the client); this machine's → the probe's
    const toProbe = (host: string, t: number, clock = clocks[host]!) => remoteEpochToProbeMs(timeline, t, clock.offsetMs);
    const localToProbe = (t: number) => remoteEpochToProbeMs(timeline, t, -clocks[client]!.offsetMs);
    let clockErrorMs = Math.max(...names.map((n) => clocks[n]!.errorMs));

    let killAt: number;
    const death = beatText ? deathFromBeats(parseWatchLog(beatText, `${client}:${BEAT_LOG}`), clocks[master]!.offsetMs) : undefined;
    if (death) {
      killAt = clientEpochToProbeMs(timeline, death.at);
      clockErrorMs += death.errorMs;
      const stamped = killLocal !== undefined ? localToProbe(killLocal) : toProbe(master, killRemote!);
      notes.push(`power cut heard on the LAN at ${killAt.toFixed(0)} ms ±${death.errorMs.toFixed(0)} (the last heartbeat answer); stamped ${killLocal !== undefined ? 'here' : `on ${master}`} at ${stamped.toFixed(0)} ms${killLocal !== undefined ? ` (SSH clock ±${clocks[client]!.errorMs.toFixed(0)} ms)` : ''}`);
    } else if (killRemote !== undefined) {
      killAt = toProbe(master, killRemote);
    } else {
      killAt = localToProbe(killLocal!);
      clockErrorMs += clocks[client]!.errorMs;
      if (heartbeat) notes.push('the heartbeat did not hear the power cut: the kill time is this machine\'s stamp, over the SSH clock offset');
    }
    let restoreAt = restoreRemote !== undefined ? toProbe(master, restoreRemote) : restoreLocal !== undefined ? localToProbe(restoreLocal) : undefined;
    let bootAt: number | undefined;
    if (restarted?.keepalivedStart !== undefined && restoreAt !== undefined) {
      bootAt = restoreAt;
      restoreAt = toProbe(master, restarted.keepalivedStart, restarted.clock);
      notes.push(`${master} was switched on at ${bootAt.toFixed(0)} ms; keepalived started at ${restoreAt.toFixed(0)} ms (${fmtS(restoreAt - bootAt)} of boot): the failback is counted from there`);
    }
    const logs: Record<string, WatchLog[]> = {};
    for (const n of names) {
      logs[n] = watchTexts[n]!.map((text) => {
        const clock = n === master && restarted ? restarted.clock : clocks[n]!;
        return shiftLog(parseWatchLog(text, `${n}:${WATCH_LOG}`), (t) => toProbe(n, t, clock));
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
    if (logs[master]!.length) {
      const released = firstChange(logs[master]!, vip, false, killAt - clockErrorMs, restoreAt ?? Infinity);
      notes.push(released !== undefined
        ? `${master} released ${vip} ${fmtS(released - killAt)} after the kill${label.mode === 'link' ? ' (keepalived: interface down → FAULT, VIPs removed)' : ''}`
        : `${master} kept ${vip} until ${restoreAt !== undefined ? 'the restore' : 'the end'}${label.mode === 'kill' ? ' (no keepalived left to remove it)' : ''}`);
    }
    // the backup taking the VIP at any other moment is VRRP misreading late adverts as a dead master
    const spurious = logs[backup]!.flatMap((l) => l.states).filter((c) => c.vip === vip && c.held && !c.initial && c.t !== takeoverAt).map((c) => c.t);
    if (spurious.length) {
      notes.push(`${backup} took ${vip} ${spurious.length} time(s) with no failure (at ${spurious.map((t) => `${t.toFixed(0)} ms`).join(', ')}): adverts arrived late (timer jitter); advert_int ${config.advertInt} s is not stable here`);
    }
    if (!takeoverSeen) notes.push(`${backup} did not take ${vip} over within ${fmtS(start.takeoverBoundMs)}`);
    if (failbackSeen === false) notes.push(`${master} did not take ${vip} back within ${fmtS(start.failbackBoundMs)}`);
    for (const n of [client, ...names]) {
      const b = n === master && restarted ? restarted.clock : clocks[n]!;
      const a = clocksAfter[n];
      if (a && Math.abs(a.offsetMs - b.offsetMs) > 5 + a.errorMs + b.errorMs) {
        notes.push(`${n}'s clock moved ${(a.offsetMs - b.offsetMs).toFixed(1)} ms against ${n === client ? "this machine's" : "the client's"} during the run (±${(a.errorMs + b.errorMs).toFixed(1)} ms)`);
      }
    }

    const metrics = analyze(timeline, {
      killAt, takeoverAt, restoreAt, failbackAt, config,
      splitBrain: failoverSplit ? (failoverSplit.to === undefined ? { from: failoverSplit.from } : { from: failoverSplit.from, to: failoverSplit.to }) : undefined,
    });
    const restored = opts.restore ? { problems: compareStates(start.before, after, cluster.model.vips) } : undefined;
    const alive = names.filter((n) => n !== master || !spec.reconnect || restarted);
    await Promise.all([
      clientConn.exec(sh`rm -f ${PROBE_LOG} ${`${PROBE_LOG}.err`}`, { nothrow: true }),
      ...alive.map((n) => (n === master ? masterConn : conns[n]!).exec(sh`rm -f ${WATCH_LOG} ${`${WATCH_LOG}.err`}`, { nothrow: true })),
    ]);

    const record: RunRecord = {
      label, vip, port, master, backup, lanInterface: directors[master]!.lanInterface, config, startedAt,
      killAt, clockErrorMs,
      clocks: Object.fromEntries([client, ...names].map((n) => {
        const entry: { before: ClockOffset; after?: ClockOffset } = { before: clocks[n]! };
        if (clocksAfter[n]) entry.after = clocksAfter[n];
        return [n, entry];
      })),
      holds, splitBrains, spuriousTakeovers: spurious.length, notes, timeline, metrics,
    };
    if (takeoverAt !== undefined) record.takeoverAt = takeoverAt;
    if (restoreAt !== undefined) record.restoreAt = restoreAt;
    if (bootAt !== undefined) record.bootAt = bootAt;
    if (failbackAt !== undefined) record.failbackAt = failbackAt;
    if (failbackSplit) record.failbackSplitBrainMs = (failbackSplit.to ?? timeline.end?.t ?? failbackSplit.from) - failbackSplit.from;
    if (restored) record.restored = { ok: restored.problems.length === 0, problems: restored.problems };
    return {
      value: record,
      detail: `${timeline.samples.length} requests, outage ${fmtS(metrics.outageMs)} (theory ${fmtS(metrics.theoryMs)}), takeover ${fmtS(metrics.takeoverMs)}${metrics.splitBrain ? `, split brain ${fmtS(metrics.splitBrain.durationMs)}` : ''}${restored ? (restored.problems.length ? ', NOT as found' : ', cluster as found') : ''}`,
    };
  });
}

// ------------------------------------------------------------------ remote helpers

const BEAT_LOG = '/tmp/lvsplay-beat.log';

/** vipwatch.py beat on the client against the master's watcher, running before the power cut. */
async function startHeartbeat(conn: Conn, lanIp: string, durationS: number): Promise<{ pid: number }> {
  const cmd = sh`setsid timeout -s KILL ${durationS + 10} python3 ${WATCH_PATH} beat --host ${lanIp} --port ${CLOCK_PORT} --interval-ms 20 --misses 25 --duration ${durationS} >${BEAT_LOG} 2>&1 </dev/null & echo "pid=$!"
${remoteWait(sh`[ "$(grep -c '^sample ' ${BEAT_LOG})" -ge 3 ]`, 15, 0.1)} || { cat ${BEAT_LOG} >&2; exit 1; }`;
  const r = await conn.exec(cmd, { timeoutMs: 25_000 });
  return { pid: Number(/pid=(\d+)/.exec(r.stdout)?.[1]) };
}

async function stopHeartbeat(conn: Conn, pid: number): Promise<string> {
  // it ends by itself once the silence is long enough; the kill is for a master that never went silent
  const r = await conn.exec(sh`kill -TERM ${pid} 2>/dev/null; sleep 0.2; cat ${BEAT_LOG}; rm -f ${BEAT_LOG}`, { nothrow: true, timeoutMs: 20_000 });
  return r.stdout;
}

async function startWatcher(conn: Conn, vip: string, dev: string, durationS: number): Promise<number> {
  const cmd = sh`setsid timeout -s KILL ${durationS + 15} python3 ${WATCH_PATH} watch --vip ${vip} --dev ${dev} --clock-port ${CLOCK_PORT} --duration ${durationS} >${WATCH_LOG} 2>${`${WATCH_LOG}.err`} </dev/null &
${remoteWait(sh`grep -q '^state ' ${WATCH_LOG}`, 20, 0.1)} || { cat ${`${WATCH_LOG}.err`} >&2; exit 1; }
head -n 1 ${WATCH_LOG}`;
  const r = await conn.exec(cmd, { timeoutMs: 30_000 });
  const pid = Number(/ pid=(\d+)/.exec(r.stdout)?.[1]);
  if (!pid) throw new DrillError(`${conn.host.name}: the VIP watcher did not start: ${r.stdout.trim()}`);
  return pid;
}

async function stopWatcher(conn: Conn, pid: number): Promise<string> {
  const r = await conn.exec(
    sh`kill -TERM ${pid} 2>/dev/null; ${remoteWait(sh`grep -q '^end ' ${WATCH_LOG}`, 5, 0.1)}; cat ${WATCH_LOG}`,
    { nothrow: true, timeoutMs: 20_000 },
  );
  return r.stdout;
}

interface ProbeStart {
  vip: string;
  port: number;
  durationS: number;
  intervalMs: number;
  timeoutMs: number;
}

async function startProbe(conn: Conn, p: ProbeStart): Promise<{ pid: number }> {
  const cmd = sh`setsid timeout -s KILL ${p.durationS + 15} python3 ${PROBE_PATH} --host ${p.vip} --port ${p.port} --duration ${p.durationS} --interval-ms ${p.intervalMs} --timeout-ms ${p.timeoutMs} >${PROBE_LOG} 2>${`${PROBE_LOG}.err`} </dev/null &
${remoteWait(sh`grep -q '^req ' ${PROBE_LOG}`, 30, 0.1)} || { cat ${`${PROBE_LOG}.err`} >&2; exit 1; }
head -n 1 ${PROBE_LOG}`;
  const r = await conn.exec(cmd, { timeoutMs: 45_000 });
  const pid = Number(/ pid=(\d+)/.exec(r.stdout)?.[1]);
  if (!pid) throw new DrillError(`${conn.host.name}: the probe did not start: ${r.stdout.trim()}`);
  return { pid };
}

async function stopProbe(conn: Conn, pid: number): Promise<string> {
  const r = await conn.exec(
    sh`kill -TERM ${pid} 2>/dev/null; ${remoteWait(sh`grep -q '^end ' ${PROBE_LOG}`, 10, 0.1)}; cat ${PROBE_LOG}`,
    { nothrow: true, timeoutMs: 60_000 },
  );
  if (!r.stdout.trim()) throw new DrillError(`${conn.host.name}: the probe log ${PROBE_LOG} is empty or gone`);
  return r.stdout;
}

/** Blocks on the host until `vip` is (held) or is not (!held) there; `met` false on timeout. */
async function waitHeld(conn: Conn, vip: string, held: boolean, timeoutMs: number, signal?: AbortSignal): Promise<{ met: boolean; stdout: string }> {
  const cmd: Command = sh`python3 ${WATCH_PATH} wait --vip ${vip} --held ${held ? 1 : 0} --timeout ${Math.ceil(timeoutMs / 1000)}`;
  try {
    const r = await conn.exec(cmd, { nothrow: true, timeoutMs: timeoutMs + 15_000, signal });
    return { met: r.exitCode === 0, stdout: r.stdout };
  } catch (err) {
    if (signal?.aborted) return { met: false, stdout: '' };
    throw err;
  }
}
