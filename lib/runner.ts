// The play runner: hosts in parallel (bounded by forks), serial batches, tasks in order per host,
// handlers flushed once per batch, check mode. It emits RunEvents and never prints.
// A host's tasks are planned in batches (lib/probe-batch.ts) and facts are read lazily
// (lib/lazy-facts.ts): an unchanged play costs one exec per host.
import { ALL_FACT_GROUPS, factProbes, groupsToRead, type FactGroup } from './facts.ts';
import { LazyFacts } from './lazy-facts.ts';
import { probeKey, readBatch, recordingConn, servingConn, type Discovery, type Prefetched, type ProbeRead } from './probe-batch.ts';
import { isCommand, sh } from './shell.ts';
import {
  CommandError,
  ConfigError,
  UnreachableError,
  type Change,
  type Conn,
  type ExecResult,
  type Facts,
  type Host,
  type HostStats,
  type Inventory,
  type ModuleContext,
  type Play,
  type Role,
  type RoleVars,
  type RunEvent,
  type Task,
  type TaskResult,
  type TaskStatus,
} from './types.ts';

/** What the runner needs from lib/ssh.ts's ConnectionPool. */
export interface ConnPool {
  get(host: Host): Promise<Conn>;
  closeAll(): Promise<void>;
}

export interface RunOptions {
  inventory: Inventory;
  /** --limit pattern, intersected with each play's hosts */
  limit?: string;
  tags?: string[];
  skipTags?: string[];
  check?: boolean;
  diff?: boolean;
  /** hosts worked on at the same time (default 10) */
  forks?: number;
  pool: ConnPool;
  extraVars?: Record<string, unknown>;
  onEvent?: (e: RunEvent) => void;
  /** gathers every fact at once (tests); default: the groups something reads, from lib/facts.ts */
  gatherFacts?: (conn: Conn) => Promise<Facts>;
  /**
   * plan a host's tasks in batches: one exec reads the state for a run of tasks (default true;
   * the environment variable LVSPLAY_BATCH=0 turns it off). Results are identical either way.
   */
  batch?: boolean;
  /** aborting stops new tasks from starting (in-flight ones receive the signal) */
  signal?: AbortSignal;
}

export interface RunSummary {
  stats: Map<string, HostStats>;
  results: TaskResult[];
  /** Ansible's: 4 when any host was unreachable, else 2 when a task failed, else 0 */
  exitCode: 0 | 2 | 4;
}

// ---------------------------------------------------------------- small pure pieces

/** Runs fn over items with at most `limit` in flight; resolves when all are done. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/** Ansible's tag evaluation (Taggable.evaluate_tags): `always`, `never`, `all`, `tagged`, `untagged`. */
export function shouldRunByTags(taskTags: string[], only: string[] = ['all'], skip: string[] = []): boolean {
  const tags = new Set(taskTags.length ? taskTags : ['untagged']);
  const untagged = taskTags.length === 0;
  const meets = (list: string[]) => list.some((t) => tags.has(t));
  let run = true;
  if (only.length) {
    if (tags.has('always')) run = true;
    else if (only.includes('all') && !tags.has('never')) run = true;
    else if (meets(only)) run = true;
    else if (only.includes('tagged') && !untagged && !tags.has('never')) run = true;
    else run = false;
  }
  if (run && skip.length) {
    if (skip.includes('all')) {
      if (!tags.has('always') || skip.includes('always')) run = false;
    } else if (meets(skip)) run = false;
    else if (skip.includes('tagged') && !untagged) run = false;
  }
  return run;
}

/** Hosts per batch for `serial` (a count or 'N%'); the whole list when unset. */
export function batchHosts<T>(hosts: T[], serial: number | string | undefined, play = ''): T[][] {
  if (serial === undefined || hosts.length === 0) return hosts.length ? [hosts] : [];
  const size = batchSize(hosts.length, serial, play);
  const out: T[][] = [];
  for (let i = 0; i < hosts.length; i += size) out.push(hosts.slice(i, i + size));
  return out;
}

function batchSize(total: number, serial: number | string, play: string): number {
  const bad = () => new ConfigError(`play "${play}": serial must be a positive integer or a percentage like '30%', got ${JSON.stringify(serial)}`);
  if (typeof serial === 'number') {
    if (!Number.isInteger(serial) || serial < 0) throw bad();
    return serial === 0 ? total : serial;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(serial);
  if (m) return Math.max(1, Math.floor((total * Number(m[1])) / 100));
  if (/^\d+$/.test(serial.trim())) return Number(serial) || total;
  throw bad();
}

const truncate = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** One-line summary of a module's args, e.g. `keepalived.conf.ejs → /etc/keepalived/keepalived.conf`. */
export function summarizeArgs(args: unknown): string {
  if (typeof args !== 'object' || args === null) return '';
  const a = args as Record<string, unknown>;
  const str = (v: unknown) => (isCommand(v) ? v.masked : typeof v === 'string' || typeof v === 'number' ? String(v) : undefined);
  let s: string | undefined;
  if (str(a.src) && str(a.dest)) s = `${str(a.src)} → ${str(a.dest)}`;
  else if (Array.isArray(a.names)) s = a.names.join(' ');
  else if (str(a.key) && a.value !== undefined) s = `${str(a.key)}=${str(a.value)}`;
  else if (str(a.cidr)) s = `${str(a.cidr)}${str(a.dev) ? ` dev ${str(a.dev)}` : ''}`;
  else if (a.cmd !== undefined) s = str(a.cmd);
  else if (str(a.dest)) s = str(a.dest);
  else if (str(a.path)) s = str(a.path);
  else if (str(a.name)) s = `${str(a.name)}${str(a.state) ? ` ${str(a.state)}` : ''}`;
  if (s && str(a.state) && !s.endsWith(str(a.state)!) && a.state !== 'present' && !str(a.name)) s += ` (${str(a.state)})`;
  return truncate((s ?? '').replace(/\s+/g, ' ').trim(), 80);
}

export const taskName = (task: Task): string =>
  task.name ?? [task.module.name, summarizeArgs(task.args)].filter(Boolean).join(' ');

export const taskPath = (play: string, role: string | undefined, task: string): string =>
  [play, role, task].filter(Boolean).join(' › ');

export function emptyStats(): HostStats {
  return { ok: 0, changed: 0, unreachable: 0, failed: 0, skipped: 0 };
}

/** Facts for plays with gatherFacts: false (and for validation, before any connection). */
export function emptyFacts(hostname = ''): Facts {
  return { hostname, os: { id: '', versionId: '', codename: '', prettyName: '' }, interfaces: {}, packages: {}, systemd: false };
}

/** The magic vars every task sees (Ansible's inventory_hostname, group_names, groups, hostvars). */
export function magicVars(inventory: Inventory, host: Host, facts: Facts): RoleVars {
  return {
    inventory_hostname: host.name,
    group_names: host.groups.filter((g) => g !== 'all').sort(),
    groups: Object.fromEntries(inventory.groups),
    hostvars: Object.fromEntries([...inventory.hosts].map(([name, h]) => [name, h.vars])),
    facts,
  };
}

/** Vars precedence as Ansible: role defaults < inventory < play vars < extra vars; then magic vars and registered results. */
export function varsFor(
  inventory: Inventory,
  host: Host,
  play: Play,
  defaults: Array<Record<string, unknown>>,
  opts: { extraVars?: Record<string, unknown>; facts?: Facts; registered?: Record<string, unknown> } = {},
): Record<string, unknown> & RoleVars {
  return {
    ...Object.assign({}, ...defaults),
    ...host.vars,
    ...play.vars,
    ...opts.extraVars,
    ...magicVars(inventory, host, opts.facts ?? emptyFacts(host.name)),
    ...opts.registered,
  };
}

/** Hosts a play selects, intersected with --limit, in inventory order. */
export function playHosts(inventory: Inventory, play: Play, limit?: string): Host[] {
  if (play.optional && !inventory.groups.has(play.hosts)) return [];
  const hosts = inventory.select(play.hosts);
  if (!limit) return hosts;
  const allowed = new Set(inventory.select(limit).map((h) => h.name));
  return hosts.filter((h) => allowed.has(h.name));
}

/** Every role's validate() with the merged vars of each host, before any connection. */
export function validatePlays(plays: Play[], opts: Pick<RunOptions, 'inventory' | 'extraVars'>): void {
  for (const play of plays) {
    batchSize(1, play.serial ?? 1, play.name);
    if (play.maxFailPercentage !== undefined && !(play.maxFailPercentage >= 0 && play.maxFailPercentage <= 100))
      throw new ConfigError(`play "${play.name}": maxFailPercentage must be between 0 and 100, got ${play.maxFailPercentage}`);
    for (const role of play.roles ?? []) {
      role.validate?.(opts.inventory, (host) =>
        varsFor(opts.inventory, host, play, [role.defaults as Record<string, unknown>], { extraVars: opts.extraVars }),
      );
    }
  }
}

/** The conn a task sees: its `become` becomes the default of every exec/read/put. */
function withBecome(conn: Conn, become: boolean | undefined): Conn {
  if (become === undefined) return conn;
  const wrapped: Conn = {
    host: conn.host,
    exec: (cmd, opts) => conn.exec(cmd, { become, ...opts }),
    $: (strings, ...values) => wrapped.exec(sh(strings, ...values)),
    read: (cmds, opts) => conn.read(cmds, { become, ...opts }),
    put: (dest, content, opts) => conn.put(dest, content, { become, ...opts }),
    close: () => conn.close(),
  };
  return wrapped;
}

// ---------------------------------------------------------------- the run

interface HostState {
  host: Host;
  conn?: Conn;
  facts: Facts;
  /** the facts behind `facts` when the play gathers them */
  lazy?: LazyFacts;
  /** apply() calls so far: state read before the last one is stale */
  applies: number;
  registered: Record<string, unknown>;
  notified: Set<string>;
  failed: boolean;
  unreachable: boolean;
  handlerNames?: Set<string>;
}

type Handler = { task: Task & { name: string }; role: Role };

/** The host has stopped and its result is recorded already. */
class HostStopped extends Error {}

export async function runPlays(plays: Play[], opts: RunOptions): Promise<RunSummary> {
  validatePlays(plays, opts);
  const run = new PlayRun(opts);
  for (const play of plays) {
    if (opts.signal?.aborted) break;
    await run.play(play);
  }
  return run.summary();
}

class PlayRun {
  private readonly stats = new Map<string, HostStats>();
  private readonly results: TaskResult[] = [];
  private readonly factsCache = new Map<string, LazyFacts>();
  /** failed or unreachable hosts leave the rest of the run, as in Ansible */
  private readonly dead = new Set<string>();
  private readonly forks: number;
  private readonly batched: boolean;
  private readonly check: boolean;

  constructor(private readonly opts: RunOptions) {
    this.forks = opts.forks ?? 10;
    this.batched = opts.batch ?? process.env.LVSPLAY_BATCH !== '0';
    this.check = opts.check ?? false;
  }

  private emit(e: RunEvent): void {
    this.opts.onEvent?.(e);
  }

  summary(): RunSummary {
    const all = [...this.stats.values()];
    const exitCode = all.some((s) => s.unreachable > 0) ? 4 : all.some((s) => s.failed > 0) ? 2 : 0;
    return { stats: this.stats, results: this.results, exitCode };
  }

  private record(result: TaskResult): void {
    this.results.push(result);
    const s = this.stats.get(result.host) ?? emptyStats();
    this.stats.set(result.host, s);
    if (result.status === 'changed') {
      s.ok++;
      s.changed++;
    } else if (result.status === 'failed' && result.ignored) s.ok++;
    else s[result.status === 'failed' ? 'failed' : result.status]++;
    this.emit({ type: 'task:end', result });
  }

  async play(play: Play): Promise<void> {
    const hosts = playHosts(this.opts.inventory, play, this.opts.limit).filter((h) => !this.dead.has(h.name));
    this.emit({ type: 'play:start', play: play.name, hosts: hosts.map((h) => h.name) });
    const batches = batchHosts(hosts, play.serial, play.name);
    const maxFail = play.maxFailPercentage ?? 0;
    for (const [i, batch] of batches.entries()) {
      if (this.opts.signal?.aborted) break;
      this.emit({ type: 'batch:start', play: play.name, hosts: batch.map((h) => h.name) });
      const states = batch.map((host): HostState => {
        if (!this.stats.has(host.name)) this.stats.set(host.name, emptyStats());
        return { host, facts: emptyFacts(host.name), registered: {}, notified: new Set(), failed: false, unreachable: false, applies: 0 };
      });
      await mapLimit(states, this.forks, async (st) => {
        this.emit({ type: 'host:start', play: play.name, host: st.host.name });
        await this.runHostTasks(play, st);
      });
      await mapLimit(states, this.forks, async (st) => {
        if (!st.failed && !st.unreachable && st.notified.size) await this.runHandlers(play, st);
        if (!st.failed && !st.unreachable && !this.opts.check) await this.runVerify(play, st);
        if (st.failed || st.unreachable) this.dead.add(st.host.name);
        this.emit({ type: 'host:end', play: play.name, host: st.host.name, failed: st.failed, unreachable: st.unreachable });
      });
      const failedShare = (states.filter((s) => s.failed || s.unreachable).length / batch.length) * 100;
      const rest = batches.slice(i + 1).flat();
      if (rest.length && failedShare > maxFail) {
        this.emit({
          type: 'play:stopped',
          play: play.name,
          reason: `${Math.round(failedShare)}% of the batch failed (max ${maxFail}%)`,
          hosts: rest.map((h) => h.name),
        });
        break;
      }
    }
    this.emit({ type: 'play:end', play: play.name });
  }

  private baseVars(play: Play, st: HostState, defaults: Array<Partial<unknown>>) {
    return varsFor(this.opts.inventory, st.host, play, defaults as Array<Record<string, unknown>>, {
      extraVars: this.opts.extraVars,
      facts: st.facts,
      registered: st.registered,
    });
  }

  /** The connection; false when the host cannot go on. */
  private async prepare(play: Play, st: HostState): Promise<boolean> {
    const started = Date.now();
    const fail = (task: string, err: unknown) => {
      const unreachable = err instanceof UnreachableError;
      if (unreachable) st.unreachable = true;
      else st.failed = true;
      this.record({
        host: st.host.name,
        play: play.name,
        task,
        status: unreachable ? 'unreachable' : 'failed',
        error: errorText(err),
        durationMs: Date.now() - started,
      });
      return false;
    };
    try {
      st.conn = await this.opts.pool.get(st.host);
    } catch (err) {
      return fail('connect', err);
    }
    // Facts are gathered when something first reads them (withFacts, prefetch).
    let lazy = this.factsCache.get(st.host.name);
    if (!lazy && play.gatherFacts !== false) this.factsCache.set(st.host.name, (lazy = new LazyFacts()));
    if (lazy) {
      st.lazy = lazy;
      st.facts = lazy.view;
    }
    return true;
  }

  /**
   * Fact groups into the host's LazyFacts: read in one exec, or parsed from `from` (their share of
   * a batch). Recorded as 'Gathering Facts'; a failure stops the host (HostStopped).
   */
  private async loadFacts(play: Play, st: HostState, groups: FactGroup[], from?: ExecResult[]): Promise<void> {
    groups = groupsToRead(groups, (g) => st.lazy!.has(g));
    const started = Date.now();
    const name = 'Gathering Facts';
    this.emit({ type: 'task:start', play: play.name, host: st.host.name, task: name });
    try {
      if (this.opts.gatherFacts) st.lazy!.add(ALL_FACT_GROUPS, await this.opts.gatherFacts(st.conn!));
      else {
        const { probes, parse } = factProbes(groups);
        st.lazy!.add(groups, parse(from ?? (await st.conn!.read(probes))));
      }
    } catch (err) {
      const unreachable = err instanceof UnreachableError;
      if (unreachable) st.unreachable = true;
      else st.failed = true;
      this.record({ host: st.host.name, play: play.name, task: name, status: unreachable ? 'unreachable' : 'failed', error: errorText(err), durationMs: Date.now() - started });
      throw new HostStopped();
    }
    this.record({ host: st.host.name, play: play.name, task: name, status: 'ok', summary: groups.join(' '), durationMs: Date.now() - started });
  }

  /**
   * Runs a fact reader (a task builder, `when`, plan); when it read facts not gathered yet (even
   * if it swallowed the NeedFacts thrown at it), gathers them and runs it again.
   */
  private async withFacts<T>(play: Play, st: HostState, fn: () => T | Promise<T>): Promise<T> {
    for (;;) {
      let out: T | undefined;
      let error: unknown;
      let threw = false;
      try {
        out = await fn();
      } catch (err) {
        threw = true;
        error = err;
      }
      const missing = st.lazy?.take() ?? [];
      if (!missing.length) {
        if (threw) throw error;
        return out as T;
      }
      await this.loadFacts(play, st, missing);
    }
  }

  /** Builds a task list; undefined when the host must stop. */
  private async build(play: Play, st: HostState, role: Role | undefined, fn: () => Task[]): Promise<Task[] | undefined> {
    try {
      return await this.withFacts(play, st, fn);
    } catch (err) {
      if (!(err instanceof HostStopped)) this.failBuild(play, st, role, err);
      return undefined;
    }
  }

  private async runHostTasks(play: Play, st: HostState): Promise<void> {
    if (!(await this.prepare(play, st))) return;
    for (const role of play.roles ?? []) {
      if (!(await this.runRoleList(play, st, role, role.tasks))) return;
    }
    if (play.tasks) {
      const vars = this.baseVars(play, st, (play.roles ?? []).map((r) => r.defaults));
      const tasks = await this.build(play, st, undefined, () => play.tasks!(vars));
      if (tasks) await this.runTaskList(play, st, tasks, undefined, vars);
    }
  }

  /** Runs tasks in order, reading their state in batches; false when the host must stop. */
  private async runTaskList(play: Play, st: HostState, tasks: Task[], role: Role | undefined, vars: Record<string, unknown>): Promise<boolean> {
    const pre = new Map<number, Prefetched>();
    let windowEnd = 0;
    let windowApplies = -1;
    // How far a batch reads ahead: everything at first (an unchanged run: one read), one task after an
    // apply made the read stale, then four times more while nothing changes — a converge that changes
    // every task pays one read per task, not a re-read of all the rest after each change.
    let readAhead = Infinity;
    for (let i = 0; i < tasks.length; i++) {
      // A new batch when the window is used up or an apply made what it read stale.
      if (this.batched && (i >= windowEnd || windowApplies !== st.applies)) {
        if (windowApplies !== -1) readAhead = windowApplies !== st.applies ? 1 : readAhead * 4;
        pre.clear();
        windowApplies = st.applies;
        try {
          windowEnd = await this.prefetch(play, st, tasks, role, vars, i, i + readAhead, pre);
        } catch (err) {
          if (err instanceof HostStopped) return false;
          throw err;
        }
      }
      if (!(await this.runTask(play, st, tasks[i], role, vars, false, pre.get(i)))) return false;
    }
    return true;
  }

  /** What the task's plan will read first, found without touching the host. */
  private async discover(st: HostState, task: Task, role: Role | undefined, vars: Record<string, unknown>): Promise<Discovery> {
    const tags = [...(task.tags ?? []), ...(role ? [role.name] : [])];
    if (!shouldRunByTags(tags, this.opts.tags?.length ? this.opts.tags : ['all'], this.opts.skipTags)) return { kind: 'none' };
    const rec = recordingConn(st.host);
    const ctx: ModuleContext = {
      conn: withBecome(rec.conn, task.become),
      host: st.host,
      facts: st.facts,
      vars,
      roleDir: role?.dir,
      check: this.check,
      log: () => {},
      signal: this.opts.signal,
    };
    let change: Change | null = null;
    try {
      if (!task.when || task.when(ctx)) change = await task.module.plan(ctx, task.args);
    } catch {
      /* the recorded read, if any, is still what the real plan reads first; its error comes back in order */
    }
    const groups = st.lazy?.take() ?? [];
    if (groups.length) return { kind: 'facts', groups };
    const first = rec.first();
    if (first) return { kind: 'probe', ...first };
    return { kind: change ? 'change' : 'none' };
  }

  /**
   * Discovers tasks from `from` on (before `until`) and reads their probes (and the fact groups the
   * next one needs) in one exec. Returns the end of the window: a plan that changes something without
   * reading ends it (in check mode nothing is applied, so it goes on); one that needs facts ends it too.
   */
  private async prefetch(
    play: Play,
    st: HostState,
    tasks: Task[],
    role: Role | undefined,
    vars: Record<string, unknown>,
    from: number,
    until: number,
    pre: Map<number, Prefetched>,
  ): Promise<number> {
    const reads = new Map<number, ProbeRead>();
    let facts: FactGroup[] = [];
    let end = from;
    while (end < tasks.length && end < until) {
      const d = await this.discover(st, tasks[end], role, vars);
      if (d.kind === 'facts') {
        // The first task needs them now; a later one gets them with this batch.
        if (end === from) {
          await this.loadFacts(play, st, d.groups);
          continue;
        }
        if (!this.opts.gatherFacts) facts = groupsToRead(d.groups, (g) => st.lazy!.has(g));
        break;
      }
      if (d.kind === 'probe') reads.set(end, d);
      end++;
      if (d.kind === 'change' && !this.check) break;
    }
    if (!reads.size && !facts.length) return end;
    const applies = st.applies;
    let batch: Awaited<ReturnType<typeof readBatch>>;
    try {
      batch = await readBatch(st.conn!, reads, facts.length ? factProbes(facts).probes : []);
    } catch {
      return from; // each task reads for itself and meets the error in order
    }
    if (facts.length) await this.loadFacts(play, st, facts, batch.extra);
    for (const [i, results] of batch.byTask) {
      const r = reads.get(i)!;
      pre.set(i, { key: probeKey(r), cmds: r.cmds, results, applies });
    }
    return end;
  }

  /** A role's task function threw (a bug or a bad var): the host fails at that point. */
  private failBuild(play: Play, st: HostState, role: Role | undefined, err: unknown): void {
    st.failed = true;
    this.record({ host: st.host.name, play: play.name, role: role?.name, task: 'build tasks', status: 'failed', error: errorText(err), durationMs: 0 });
  }

  private async handlersFor(play: Play, st: HostState): Promise<Handler[]> {
    return this.withFacts(play, st, () =>
      (play.roles ?? []).flatMap((role) => (role.handlers?.(this.baseVars(play, st, [role.defaults]) as never) ?? []).map((task) => ({ task, role }))),
    );
  }

  /** Runs one task; false when the host must stop. */
  private async runTask(
    play: Play,
    st: HostState,
    task: Task,
    role: Role | undefined,
    vars: Record<string, unknown>,
    handler = false,
    pre?: Prefetched,
  ): Promise<boolean> {
    const tags = [...(task.tags ?? []), ...(role ? [role.name] : [])];
    if (!handler && !shouldRunByTags(tags, this.opts.tags?.length ? this.opts.tags : ['all'], this.opts.skipTags)) return true;
    if (this.opts.signal?.aborted) return false;
    const name = taskName(task);
    const base = { host: st.host.name, play: play.name, role: role?.name, task: name, ...(handler ? { handler: true } : {}) };
    this.emit({ type: 'task:start', play: play.name, host: st.host.name, task: name, role: role?.name });
    const started = Date.now();
    const check = this.check;
    const log = (line: string) => this.emit({ type: 'log', host: st.host.name, line });
    const ctx: ModuleContext = {
      conn: withBecome(servingConn(st.conn!, pre, () => st.applies, log), task.become),
      host: st.host,
      facts: st.facts,
      vars,
      roleDir: role?.dir,
      check,
      log,
      signal: this.opts.signal,
    };
    const register = (value: Record<string, unknown>) => {
      if (!task.register) return;
      vars[task.register] = value;
      st.registered[task.register] = value;
    };
    let status: TaskStatus;
    let summary: string | undefined;
    let diff: string | undefined;
    try {
      if (task.notify?.length && !handler) await this.checkNotify(play, st, task.notify);
      if (task.when && !(await this.withFacts(play, st, () => task.when!(ctx)))) {
        register({ changed: false, failed: false, skipped: true });
        this.record({ ...base, status: 'skipped', durationMs: Date.now() - started });
        return true;
      }
      // In check mode a handler is reported as it would run, without reading state it may depend on.
      const change = handler && check ? { summary: 'would run (check mode)' } : await this.withFacts(play, st, () => task.module.plan(ctx, task.args));
      let result: unknown;
      if (change && !check) {
        st.applies++;
        result = await task.module.apply(ctx, task.args, change);
      }
      // apply() may find out it changed nothing after all (command's changedWhen): `{ changed: false }`
      const changed = !!change && (result as { changed?: unknown } | undefined)?.changed !== false;
      status = changed ? 'changed' : 'ok';
      summary = change?.summary;
      if (this.opts.diff && changed) diff = change?.diff;
      register({ changed, failed: false, skipped: false, result });
      if (changed) for (const h of task.notify ?? []) st.notified.add(h);
    } catch (err) {
      if (err instanceof HostStopped) return false;
      if (err instanceof CommandError) err.path = taskPath(play.name, role?.name, name);
      const unreachable = err instanceof UnreachableError;
      const ignored = !unreachable && !!task.ignoreErrors;
      register({ changed: false, failed: true, skipped: false, error: errorText(err) });
      this.record({
        ...base,
        status: unreachable ? 'unreachable' : 'failed',
        error: errorText(err),
        ...(ignored ? { ignored: true } : {}),
        durationMs: Date.now() - started,
      });
      if (ignored) return true;
      if (unreachable) st.unreachable = true;
      else st.failed = true;
      return false;
    }
    this.record({ ...base, status, ...(summary ? { summary } : {}), ...(diff ? { diff } : {}), durationMs: Date.now() - started });
    return true;
  }

  private async checkNotify(play: Play, st: HostState, notify: string[]): Promise<void> {
    const known = (st.handlerNames ??= new Set((await this.handlersFor(play, st)).map((h) => h.task.name)));
    for (const n of notify)
      if (!known.has(n))
        throw new ConfigError(`notifies handler "${n}", which no role of play "${play.name}" defines (known: ${[...known].join(', ') || 'none'})`);
  }

  /** Each role's verify tasks, after the handlers: a host whose service does not work fails here. */
  private async runVerify(play: Play, st: HostState): Promise<void> {
    for (const role of play.roles ?? []) {
      if (role.verify && !(await this.runRoleList(play, st, role, role.verify))) return;
    }
  }

  /** Builds one of a role's task lists with the host's vars and runs it; false when the host must stop. */
  private async runRoleList(play: Play, st: HostState, role: Role, build: (vars: never) => Task[]): Promise<boolean> {
    const vars = this.baseVars(play, st, [role.defaults]);
    const tasks = await this.build(play, st, role, () => build(vars as never));
    return tasks ? this.runTaskList(play, st, tasks, role, vars) : false;
  }

  /** Notified handlers, once each, in the order they are defined; a handler may notify later ones. */
  private async runHandlers(play: Play, st: HostState): Promise<void> {
    let handlers: Handler[];
    try {
      handlers = await this.handlersFor(play, st);
    } catch (err) {
      if (!(err instanceof HostStopped)) this.failBuild(play, st, undefined, err);
      return;
    }
    for (const { task, role } of handlers) {
      if (!st.notified.has(task.name)) continue;
      const vars = this.baseVars(play, st, [role.defaults]);
      if (!(await this.runTask(play, st, task, role, vars, true))) return;
    }
  }
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
