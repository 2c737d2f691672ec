// Parser of lib/drill/probe.py's output (format documented at the top of probe.py) into a Timeline,
// plus the clock arithmetic that puts events seen on other hosts onto the probe's clock.
// All times in a Timeline are ms since the probe's start on the client's CLOCK_MONOTONIC.

export interface Sample {
  /** when the request started, ms since probe start */
  t: number;
  ok: boolean;
  /** HTTP status ('200', '503') or the failure: timeout-connect, timeout-read, refused, reset, unreach, eof, bad, error-E… */
  status: string;
  /** the real server that answered (`served-by:` in the page) */
  server?: string;
  latencyMs: number;
  seq: number;
  /** index on the fixed schedule: start + slot · interval */
  slot: number;
  /** slots passed over just before this request because the previous one was slow */
  skipped: number;
}

export type PersistentEventKind = 'open' | 'ok' | 'http' | 'fail' | 'closed' | 'connect-fail';

export interface PersistentEvent {
  t: number;
  /** the connection instance: each reconnect of the same id gets the next gen */
  gen: number;
  ev: PersistentEventKind;
  latencyMs?: number;
  status?: string;
  server?: string;
  reason?: string;
}

export interface ProbeMeta {
  host: string;
  port: number;
  path: string;
  intervalMs: number;
  timeoutMs: number;
  durationS: number;
  persistent: number;
  persistentIntervalMs: number;
  persistentTimeoutMs: number;
  pid: number;
}

export interface Timeline {
  /** CLOCK_MONOTONIC of the client at t = 0, ns (exact below 2^53 ns ≈ 104 days of uptime) */
  startMonoNs: number;
  /** CLOCK_REALTIME of the client at t = 0, ms since the epoch */
  startEpochMs: number;
  /** how far apart the two clocks were read (±) */
  clockErrMs: number;
  meta?: ProbeMeta;
  /** sorted by t */
  samples: Sample[];
  /** sorted by id, events by t */
  persistent: Array<{ id: number; events: PersistentEvent[] }>;
  /** SIGUSR1 marks */
  marks: Array<{ n: number; t: number }>;
  /** present when the probe finished normally */
  end?: { t: number; reason: string; requests: number; ok: number; skipped: number };
  /** realtime − monotonic drift over the run, ms (from the second clock line), when known */
  clockDriftMs?: number;
}

export class ProbeLogError extends Error {
  constructor(message: string, readonly source: string, readonly line?: number) {
    super(`${source}${line ? `:${line}` : ''}: ${message}`);
    this.name = 'ProbeLogError';
  }
}

const PERSISTENT_EVENTS = new Set<string>(['open', 'ok', 'http', 'fail', 'closed', 'connect-fail']);

/**
 * Parses the probe's stdout. Unknown record kinds are skipped (newer probes may add some); a last line
 * without its newline is dropped (the probe was cut off mid-write). Anything else malformed throws,
 * naming the line.
 */
export function parseProbeLog(text: string, source = 'probe log'): Timeline {
  const lines = text.split('\n');
  lines.pop(); // the empty string after the final newline, or a line cut off before its newline

  let start: { monoNs: bigint; epochNs: bigint; errNs: bigint } | undefined;
  let lastClock: { monoNs: bigint; epochNs: bigint } | undefined;
  let meta: ProbeMeta | undefined;
  let end: Timeline['end'];
  const samples: Sample[] = [];
  const persistent = new Map<number, PersistentEvent[]>();
  const marks: Timeline['marks'] = [];

  lines.forEach((line, i) => {
    const lineNo = i + 1;
    if (line.trim() === '') return;
    const [kind, ...rest] = line.split(' ');
    const f = new Map<string, string>();
    for (const kv of rest) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new ProbeLogError(`malformed field ${JSON.stringify(kv)} in ${JSON.stringify(line)}`, source, lineNo);
      f.set(kv.slice(0, eq), kv.slice(eq + 1));
    }
    const str = (key: string): string => {
      const v = f.get(key);
      if (v === undefined) throw new ProbeLogError(`${kind} record without ${key}: ${JSON.stringify(line)}`, source, lineNo);
      return v;
    };
    const int = (key: string): bigint => {
      const v = str(key);
      if (!/^-?\d+$/.test(v)) throw new ProbeLogError(`${key}=${JSON.stringify(v)} is not an integer`, source, lineNo);
      return BigInt(v);
    };
    const num = (key: string): number => {
      const v = Number(str(key));
      if (!Number.isFinite(v)) throw new ProbeLogError(`${key}=${JSON.stringify(f.get(key))} is not a number`, source, lineNo);
      return v;
    };
    const opt = (key: string): string | undefined => {
      const v = f.get(key);
      return v === undefined || v === '-' ? undefined : v;
    };
    const t = (): number => {
      if (!start) throw new ProbeLogError(`${kind} record before the clock record`, source, lineNo);
      return Number(int('t_ns') - start.monoNs) / 1e6;
    };

    switch (kind) {
      case 'probe':
        meta = {
          host: str('host'), port: num('port'), path: str('path'), intervalMs: num('interval_ms'),
          timeoutMs: num('timeout_ms'), durationS: num('duration_s'), persistent: num('persistent'),
          persistentIntervalMs: num('pinterval_ms'), persistentTimeoutMs: num('ptimeout_ms'), pid: num('pid'),
        };
        break;
      case 'clock': {
        const c = { monoNs: int('mono_ns'), epochNs: int('epoch_ns'), errNs: int('err_ns') };
        if (!start) start = c;
        else lastClock = c;
        break;
      }
      case 'req': {
        const res = str('res');
        const code = opt('code');
        samples.push({
          t: t(), ok: res === 'ok', status: res === 'ok' || res === 'http' ? (code ?? res) : res,
          server: opt('server'), latencyMs: Number(int('lat_us')) / 1000,
          seq: num('seq'), slot: num('slot'), skipped: num('skipped'),
        });
        break;
      }
      case 'pconn': {
        const ev = str('ev');
        if (!PERSISTENT_EVENTS.has(ev)) throw new ProbeLogError(`unknown pconn event ${JSON.stringify(ev)}`, source, lineNo);
        const id = num('id');
        const event: PersistentEvent = { t: t(), gen: num('gen'), ev: ev as PersistentEventKind };
        if (f.has('lat_us')) event.latencyMs = Number(int('lat_us')) / 1000;
        const code = opt('code');
        if (code) event.status = code;
        const server = opt('server');
        if (server) event.server = server;
        const reason = opt('reason');
        if (reason) event.reason = reason;
        if (!persistent.has(id)) persistent.set(id, []);
        persistent.get(id)!.push(event);
        break;
      }
      case 'mark':
        marks.push({ n: num('n'), t: t() });
        break;
      case 'end':
        end = { t: t(), reason: str('reason'), requests: num('reqs'), ok: num('ok'), skipped: num('skipped') };
        break;
      default:
        break;
    }
  });

  if (!start) throw new ProbeLogError('no clock record: not the output of lib/drill/probe.py', source);
  const byT = (a: { t: number }, b: { t: number }) => a.t - b.t;
  samples.sort((a, b) => a.t - b.t || a.seq - b.seq);
  const timeline: Timeline = {
    startMonoNs: Number(start.monoNs),
    startEpochMs: Number(start.epochNs / 1000n) / 1000,
    clockErrMs: Number(start.errNs) / 1e6,
    samples,
    persistent: [...persistent.entries()].sort(([a], [b]) => a - b).map(([id, events]) => ({ id, events: events.sort(byT) })),
    marks: marks.sort(byT),
  };
  if (meta) timeline.meta = meta;
  if (end) timeline.end = end;
  if (lastClock) {
    const first = start.epochNs - start.monoNs;
    const last = lastClock.epochNs - lastClock.monoNs;
    timeline.clockDriftMs = Number(last - first) / 1e6;
  }
  return timeline;
}

/** The timeline's last known instant (the end record, else the end of the last request). */
export function timelineEndMs(timeline: Timeline): number {
  if (timeline.end) return timeline.end.t;
  let last = 0;
  for (const s of timeline.samples) last = Math.max(last, s.t + s.latencyMs);
  for (const p of timeline.persistent) for (const e of p.events) last = Math.max(last, e.t + (e.latencyMs ?? 0));
  return last;
}

// ------------------------------------------------------------------ clocks

/** A CLOCK_REALTIME instant of the CLIENT (ms since the epoch) on the probe's clock. */
export function clientEpochToProbeMs(timeline: Timeline, epochMs: number): number {
  return epochMs - timeline.startEpochMs;
}

/** One round trip that read another host's clock: local send, remote reading, local receive (all ms). */
export interface ClockExchange {
  sentMs: number;
  remoteMs: number;
  receivedMs: number;
}

/**
 * Offset remote − local from round trips that read the remote clock (e.g. `date +%s%N` over SSH),
 * NTP-style: the remote reading is assumed to sit mid-way through the round trip; the shortest round
 * trip wins. The error bound is half of it.
 */
export function estimateClockOffset(exchanges: ClockExchange[]): { offsetMs: number; errorMs: number } {
  if (exchanges.length === 0) throw new Error('estimateClockOffset: no exchanges');
  let best = exchanges[0]!;
  for (const x of exchanges) {
    if (x.receivedMs < x.sentMs) throw new Error(`estimateClockOffset: received ${x.receivedMs} before sent ${x.sentMs}`);
    if (x.receivedMs - x.sentMs < best.receivedMs - best.sentMs) best = x;
  }
  return {
    offsetMs: best.remoteMs - (best.sentMs + best.receivedMs) / 2,
    errorMs: (best.receivedMs - best.sentMs) / 2,
  };
}

/**
 * An instant read on another host's realtime clock (ms since the epoch), on the probe's clock, given
 * `offsetMs` = that host's realtime − the client's realtime (see estimateClockOffset; compose offsets
 * measured from a third host: remote−client = (remote−local) − (client−local)).
 */
export function remoteEpochToProbeMs(timeline: Timeline, remoteEpochMs: number, offsetMs: number): number {
  return clientEpochToProbeMs(timeline, remoteEpochMs - offsetMs);
}
