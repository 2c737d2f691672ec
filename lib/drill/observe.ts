// What the drill reads on the directors, as pure functions: vipwatch.py's log (who held a VIP
// when, on that host's clock), the VIP holders in `ip -o -4 addr` output, the deployed
// keepalived.conf's VRRP settings, `date +%s%N` stamps, and the arithmetic of holding intervals
// (takeover, failback, split brain).
import { parseIpAddr } from '../facts.ts';

// ------------------------------------------------------------------ clocks

/** `date +%s%N` output (first line) → ms since the epoch, µs kept. Throws on anything else. */
export function parseEpochNs(stdout: string, what = 'date +%s%N'): number {
  const line = stdout.trim().split('\n')[0]?.trim() ?? '';
  if (!/^\d{19}$/.test(line)) throw new Error(`${what}: expected nanoseconds since the epoch, got ${JSON.stringify(line)}`);
  return nsToMs(line);
}

export const nsToMs = (ns: string | bigint): number => Number(BigInt(ns) / 1000n) / 1000;

/** The python3 one-liner printing CLOCK_MONOTONIC and CLOCK_REALTIME ns, read together. */
export const CLOCKS_NOW = `import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC), time.time_ns())`;

/**
 * When a service started, on the host's realtime clock (ms since the epoch), from
 * `systemctl show -p ExecMainStartTimestampMonotonic --value UNIT` (µs) followed by CLOCKS_NOW's
 * line: realtime now − (monotonic now − start). Undefined when the unit never started.
 */
export function parseServiceStart(stdout: string): number | undefined {
  const [startLine, nowLine] = stdout.trim().split('\n').map((l) => l.trim());
  const m = /^(\d+) (\d+)$/.exec(nowLine ?? '');
  if (!/^\d+$/.test(startLine ?? '') || !m) throw new Error(`service start: cannot read ${JSON.stringify(stdout)}`);
  const startUs = BigInt(startLine!);
  if (startUs === 0n) return undefined;
  return nsToMs(BigInt(m[2]!) - (BigInt(m[1]!) - startUs * 1000n));
}

// ------------------------------------------------------------------ vipwatch.py's log

export interface HoldChange {
  /** the host's CLOCK_REALTIME, ms since the epoch */
  t: number;
  vip: string;
  held: boolean;
  /** the state when the watch began (not a change) */
  initial: boolean;
}

export interface LinkChange {
  t: number;
  dev: string;
  up: boolean;
  initial: boolean;
}

export interface WatchLog {
  pid?: number;
  states: HoldChange[];
  links: LinkChange[];
  /** clock mode: one per answered query (sent/received on this host, remote on the other) */
  samples: Array<{ sentMs: number; remoteMs: number; receivedMs: number }>;
  /** beat mode: the last answered query was sent at `afterMs`, the first unanswered one at `nextMs` */
  silent?: { afterMs: number; nextMs: number };
  end?: { t: number; reason: string };
}

/** Parses vipwatch.py's output (format at the top of that file). A last line without newline is dropped. */
export function parseWatchLog(text: string, source = 'vipwatch log'): WatchLog {
  const out: WatchLog = { states: [], links: [], samples: [] };
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    const [kind, ...rest] = line.trim().split(' ');
    const f = new Map(rest.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const));
    const need = (k: string) => {
      const v = f.get(k);
      if (v === undefined) throw new Error(`${source}:${i + 1}: ${kind} record without ${k}: ${JSON.stringify(line)}`);
      return v;
    };
    const ns = (k: string) => {
      const v = need(k);
      if (!/^\d+$/.test(v)) throw new Error(`${source}:${i + 1}: ${k}=${JSON.stringify(v)} is not an integer`);
      return nsToMs(v);
    };
    const t = () => ns('t_ns');
    switch (kind) {
      case 'vipwatch':
        out.pid = Number(need('pid'));
        break;
      case 'state':
        out.states.push({ t: t(), vip: need('vip'), held: need('held') === '1', initial: need('initial') === '1' });
        break;
      case 'link':
        out.links.push({ t: t(), dev: need('dev'), up: need('up') === '1', initial: need('initial') === '1' });
        break;
      case 'silent':
        out.silent = { afterMs: ns('after_ns'), nextMs: ns('next_ns') };
        break;
      case 'sample':
        out.samples.push({ sentMs: ns('sent_ns'), remoteMs: ns('remote_ns'), receivedMs: ns('received_ns') });
        break;
      case 'end':
        out.end = { t: t(), reason: need('reason') };
        break;
      default:
        break;
    }
  });
  return out;
}

/**
 * When a host died, on the CLIENT's clock, from a heartbeat the client sent it (vipwatch.py beat):
 * after it answered the last beat (its own stamp, converted with `offsetMs` = host − client) and
 * before the next beat reached it (sent + half the last round trip). Undefined without silence.
 */
export function deathFromBeats(log: WatchLog, offsetMs: number): { at: number; errorMs: number } | undefined {
  if (!log.silent) return undefined;
  const last = log.samples.filter((s) => s.sentMs <= log.silent!.afterMs).sort((a, b) => a.sentMs - b.sentMs).at(-1);
  if (!last) return undefined;
  const alive = Math.min(last.remoteMs - offsetMs, last.receivedMs);
  const dead = Math.max(alive, log.silent.nextMs + (last.receivedMs - last.sentMs) / 2);
  return { at: (alive + dead) / 2, errorMs: (dead - alive) / 2 };
}

// ------------------------------------------------------------------ intervals

export interface Interval {
  from: number;
  /** undefined: still going when the observation ended */
  to?: number;
}

/** The log with every time passed through `shift` (e.g. the host's clock → the probe's). */
export function shiftLog(log: WatchLog, shift: (t: number) => number): WatchLog {
  const out: WatchLog = {
    states: log.states.map((c) => ({ ...c, t: shift(c.t) })),
    links: log.links.map((c) => ({ ...c, t: shift(c.t) })),
    samples: log.samples,
  };
  if (log.pid !== undefined) out.pid = log.pid;
  if (log.end) out.end = { ...log.end, t: shift(log.end.t) };
  return out;
}

/**
 * The intervals in which one host held the VIP, from its watch logs (several when it rebooted,
 * each covering its own stretch; all on one clock). `knownBefore` says whether it held the VIP
 * before the first record (from a check made earlier); `deadAt` is a power cut: whatever was held
 * ends there. An interval still open when the logs end has no `to`.
 */
export function holdIntervals(logs: WatchLog[], vip: string, opts: { deadAt?: number; knownBefore?: { at: number; held: boolean } } = {}): Interval[] {
  const changes: Array<{ t: number; held: boolean }> = logs.flatMap((l) => l.states.filter((c) => c.vip === vip));
  if (opts.deadAt !== undefined) changes.push({ t: opts.deadAt, held: false });
  changes.sort((a, b) => a.t - b.t);
  const out: Interval[] = [];
  let open = opts.knownBefore?.held ? opts.knownBefore.at : undefined;
  for (const c of changes) {
    if (c.held && open === undefined) open = c.t;
    else if (!c.held && open !== undefined) {
      out.push({ from: open, to: c.t });
      open = undefined;
    }
  }
  if (open !== undefined) out.push({ from: open });
  return mergeIntervals(out);
}

function mergeIntervals(list: Interval[]): Interval[] {
  const sorted = [...list].sort((a, b) => a.from - b.from);
  const out: Interval[] = [];
  for (const i of sorted) {
    const last = out.at(-1);
    if (last && (last.to === undefined || i.from <= last.to)) {
      if (last.to !== undefined) last.to = i.to === undefined ? undefined : Math.max(last.to, i.to);
    } else out.push({ ...i });
  }
  return out;
}

/** Where both hold: the pairwise intersections, in time order. */
export function overlaps(a: Interval[], b: Interval[]): Interval[] {
  const out: Interval[] = [];
  const end = (i: Interval) => i.to ?? Infinity;
  for (const x of a) {
    for (const y of b) {
      const from = Math.max(x.from, y.from);
      const to = Math.min(end(x), end(y));
      if (to > from) out.push(to === Infinity ? { from } : { from, to });
    }
  }
  return out.sort((p, q) => p.from - q.from);
}

/** First change of `vip` to `held` (not an initial state) in [after, before), from the logs. */
export function firstChange(logs: WatchLog[], vip: string, held: boolean, after: number, before = Infinity): number | undefined {
  const ts = logs
    .flatMap((l) => l.states)
    .filter((c) => c.vip === vip && c.held === held && !c.initial && c.t >= after && c.t < before)
    .map((c) => c.t)
    .sort((x, y) => x - y);
  return ts[0];
}

// ------------------------------------------------------------------ state read over SSH

/**
 * VIP → the hosts whose `ip -o -4 addr show` lists it (any interface but `lo`, any prefix): a
 * co-located director carries every VIP on lo as a real server; holding it means the LAN side.
 */
export function vipHolders(addrByHost: Record<string, string>, vips: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = Object.fromEntries(vips.map((v) => [v, []]));
  for (const [host, text] of Object.entries(addrByHost)) {
    const cidrs = Object.entries(parseIpAddr(text))
      .filter(([dev]) => dev !== 'lo')
      .flatMap(([, c]) => c);
    for (const vip of vips) if (cidrs.some((c) => c.split('/')[0] === vip)) out[vip]!.push(host);
  }
  return out;
}

export interface DeployedInstance {
  name: string;
  interface?: string;
  priority?: number;
  advertInt?: number;
  /** preempt_delay, seconds */
  preemptDelay?: number;
  nopreempt?: boolean;
  downTimerAdverts?: number;
  /** virtual_ipaddress entries, without prefix */
  vips: string[];
  /** the vrrp_script names in its track_script block */
  trackScripts?: string[];
}

/** A vrrp_script block, with keepalived's defaults for what it leaves out. */
export interface DeployedScript {
  name: string;
  /** the command between the quotes */
  script: string;
  intervalS: number;
  fall: number;
  rise: number;
  weight: number;
}

export interface DeployedKeepalived {
  vrrpVersion?: 2 | 3;
  instances: DeployedInstance[];
  /** vrrp_script blocks by name */
  scripts?: Record<string, DeployedScript>;
}

/** The vrrp_scripts `inst` tracks, as deployed (unknown names are left out: keepalived ignores them too). */
export const instanceScripts = (conf: DeployedKeepalived, inst: DeployedInstance): DeployedScript[] =>
  (inst.trackScripts ?? []).flatMap((n) => (conf.scripts?.[n] ? [conf.scripts[n]!] : []));

/**
 * The VRRP settings of a deployed keepalived.conf — only what the drill's theory needs. Reads the
 * layout lvsplay renders (one statement per line, braces at line ends); comments are ignored.
 */
export function parseKeepalivedConf(text: string): DeployedKeepalived {
  const out: DeployedKeepalived = { instances: [] };
  let depth = 0;
  let inst: DeployedInstance | undefined;
  let instDepth = 0;
  let inVips = false;
  let inTrack = false;
  let script: DeployedScript | undefined;
  for (const rawLine of text.split('\n')) {
    // a script's command sits between double quotes and may not hold `#` or `!` (lib/lvs/track.ts)
    const quoted = /^\s*script\s+"([^"]*)"/.exec(rawLine)?.[1];
    const line = rawLine.replace(/[#!].*$/, '').trim();
    if (!line) continue;
    const words = line.split(/\s+/);
    if (words[0] === 'vrrp_version' && depth === 1) out.vrrpVersion = Number(words[1]) === 3 ? 3 : 2;
    if (words[0] === 'vrrp_script' && depth === 0) {
      // keepalived's defaults: interval 1, fall 1, rise 1, weight 0
      script = { name: words[1] ?? '', script: '', intervalS: 1, fall: 1, rise: 1, weight: 0 };
      (out.scripts ??= {})[script.name] = script;
    } else if (script && depth === 1) {
      if (words[0] === 'script') script.script = quoted ?? words.slice(1).join(' ');
      if (words[0] === 'interval') script.intervalS = Number(words[1]);
      if (words[0] === 'fall') script.fall = Number(words[1]);
      if (words[0] === 'rise') script.rise = Number(words[1]);
      if (words[0] === 'weight') script.weight = Number(words[1]);
    }
    if (words[0] === 'vrrp_instance' && depth === 0) {
      inst = { name: words[1] ?? '', vips: [] };
      out.instances.push(inst);
      instDepth = 1;
    } else if (inst && depth === instDepth) {
      if (words[0] === 'interface') inst.interface = words[1];
      if (words[0] === 'priority') inst.priority = Number(words[1]);
      if (words[0] === 'advert_int') inst.advertInt = Number(words[1]);
      if (words[0] === 'preempt_delay') inst.preemptDelay = Number(words[1]);
      if (words[0] === 'nopreempt') inst.nopreempt = true;
      if (words[0] === 'down_timer_adverts') inst.downTimerAdverts = Number(words[1]);
      if (words[0] === 'virtual_ipaddress') inVips = true;
      if (words[0] === 'track_script') inTrack = true;
    } else if (inst && inVips && depth === instDepth + 1 && words[0] !== '}') {
      const ip = words[0]!.split('/')[0]!;
      if (/^\d+\.\d+\.\d+\.\d+$/.test(ip)) inst.vips.push(ip);
    } else if (inst && inTrack && depth === instDepth + 1 && words[0] !== '}') {
      (inst.trackScripts ??= []).push(words[0]!);
    }
    for (const ch of line) {
      if (ch === '{') depth++;
      if (ch === '}') {
        depth--;
        if ((inVips || inTrack) && depth === instDepth) inVips = inTrack = false;
        if (inst && depth === 0) inst = undefined;
        if (script && depth === 0) script = undefined;
      }
    }
  }
  return out;
}
