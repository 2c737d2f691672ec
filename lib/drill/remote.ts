// The drill's helpers on the hosts: probe.py on the client, vipwatch.py on the directors (watch,
// clock, wait) and on the client (beat, clock), each uploaded to /tmp, started detached and
// bounded by `timeout`, stopped by PID; the log read back, then removed.
import { readFileSync } from 'node:fs';
import { sh } from '../shell.ts';
import type { Conn } from '../types.ts';
import { remoteWait } from './kill.ts';
import { DrillError } from './types.ts';

export const PROBE_LOG = '/tmp/lvsplay-probe.log';
export const WATCH_PATH = '/tmp/lvsplay-vipwatch.py';
export const WATCH_LOG = '/tmp/lvsplay-vipwatch.log';
export const BEAT_LOG = '/tmp/lvsplay-beat.log';
/** the UDP port of a watcher's clock (and heartbeat) answers */
export const CLOCK_PORT = 7411;
const PROBE_PATH = '/tmp/lvsplay-probe.py';
const probeScript = () => readFileSync(new URL('./probe.py', import.meta.url));
const watchScript = () => readFileSync(new URL('./vipwatch.py', import.meta.url));

export const uploadProbe = (conn: Conn): Promise<void> => conn.put(PROBE_PATH, probeScript(), { mode: '0755' });
export const uploadWatcher = (conn: Conn): Promise<void> => conn.put(WATCH_PATH, watchScript(), { mode: '0755' });

/** vipwatch.py beat on the client against the master's watcher, running before the power cut. */
export async function startHeartbeat(conn: Conn, lanIp: string, durationS: number): Promise<{ pid: number }> {
  const cmd = sh`setsid timeout -s KILL ${durationS + 10} python3 ${WATCH_PATH} beat --host ${lanIp} --port ${CLOCK_PORT} --interval-ms 20 --misses 25 --duration ${durationS} >${BEAT_LOG} 2>&1 </dev/null & echo "pid=$!"
${remoteWait(sh`[ "$(grep -c '^sample ' ${BEAT_LOG})" -ge 3 ]`, 15, 0.1)} || { cat ${BEAT_LOG} >&2; exit 1; }`;
  const r = await conn.exec(cmd, { timeoutMs: 25_000 });
  return { pid: Number(/pid=(\d+)/.exec(r.stdout)?.[1]) };
}

export async function stopHeartbeat(conn: Conn, pid: number): Promise<string> {
  // it ends by itself once the silence is long enough; the kill is for a master that never went silent
  const r = await conn.exec(sh`kill -TERM ${pid} 2>/dev/null; sleep 0.2; cat ${BEAT_LOG}; rm -f ${BEAT_LOG}`, { nothrow: true, timeoutMs: 20_000 });
  return r.stdout;
}

export async function startWatcher(conn: Conn, vip: string, dev: string, durationS: number): Promise<number> {
  const cmd = sh`setsid timeout -s KILL ${durationS + 15} python3 ${WATCH_PATH} watch --vip ${vip} --dev ${dev} --clock-port ${CLOCK_PORT} --duration ${durationS} >${WATCH_LOG} 2>${`${WATCH_LOG}.err`} </dev/null &
${remoteWait(sh`grep -q '^state ' ${WATCH_LOG}`, 20, 0.1)} || { cat ${`${WATCH_LOG}.err`} >&2; exit 1; }
head -n 1 ${WATCH_LOG}`;
  const r = await conn.exec(cmd, { timeoutMs: 30_000 });
  const pid = Number(/ pid=(\d+)/.exec(r.stdout)?.[1]);
  if (!pid) throw new DrillError(`${conn.host.name}: the VIP watcher did not start: ${r.stdout.trim()}`);
  return pid;
}

export async function stopWatcher(conn: Conn, pid: number): Promise<string> {
  const r = await conn.exec(
    sh`kill -TERM ${pid} 2>/dev/null; ${remoteWait(sh`grep -q '^end ' ${WATCH_LOG}`, 5, 0.1)}; cat ${WATCH_LOG}`,
    { nothrow: true, timeoutMs: 20_000 },
  );
  return r.stdout;
}

export interface ProbeStart {
  vip: string;
  port: number;
  durationS: number;
  intervalMs: number;
  timeoutMs: number;
}

export async function startProbe(conn: Conn, p: ProbeStart): Promise<{ pid: number }> {
  const cmd = sh`setsid timeout -s KILL ${p.durationS + 15} python3 ${PROBE_PATH} --host ${p.vip} --port ${p.port} --duration ${p.durationS} --interval-ms ${p.intervalMs} --timeout-ms ${p.timeoutMs} >${PROBE_LOG} 2>${`${PROBE_LOG}.err`} </dev/null &
${remoteWait(sh`grep -q '^req ' ${PROBE_LOG}`, 30, 0.1)} || { cat ${`${PROBE_LOG}.err`} >&2; exit 1; }
head -n 1 ${PROBE_LOG}`;
  const r = await conn.exec(cmd, { timeoutMs: 45_000 });
  const pid = Number(/ pid=(\d+)/.exec(r.stdout)?.[1]);
  if (!pid) throw new DrillError(`${conn.host.name}: the probe did not start: ${r.stdout.trim()}`);
  return { pid };
}

export async function stopProbe(conn: Conn, pid: number): Promise<string> {
  const r = await conn.exec(
    // tail, not grep over the whole log: on a busy emulated client each pass over a MB-sized log is slow
    sh`kill -TERM ${pid} 2>/dev/null; ${remoteWait(sh`tail -n 2 ${PROBE_LOG} | grep -q '^end '`, 15, 0.2)}; cat ${PROBE_LOG}`,
    { nothrow: true, timeoutMs: 120_000 },
  );
  if (!r.stdout.trim()) throw new DrillError(`${conn.host.name}: the probe log ${PROBE_LOG} is empty or gone`);
  return r.stdout;
}

/** Removes the probe's log from the client and the watchers' from the directors given. */
export async function removeLogs(clientConn: Conn, directorConns: Conn[]): Promise<void> {
  await Promise.all([
    clientConn.exec(sh`rm -f ${PROBE_LOG} ${`${PROBE_LOG}.err`}`, { nothrow: true }),
    ...directorConns.map((c) => c.exec(sh`rm -f ${WATCH_LOG} ${`${WATCH_LOG}.err`}`, { nothrow: true })),
  ]);
}

/** Blocks on the host until `vip` is (held) or is not (!held) there; `met` false on timeout. */
export async function waitHeld(conn: Conn, vip: string, held: boolean, timeoutMs: number, signal?: AbortSignal): Promise<{ met: boolean; stdout: string }> {
  const cmd = sh`python3 ${WATCH_PATH} wait --vip ${vip} --held ${held ? 1 : 0} --timeout ${Math.ceil(timeoutMs / 1000)}`;
  try {
    const r = await conn.exec(cmd, { nothrow: true, timeoutMs: timeoutMs + 15_000, signal });
    return { met: r.exitCode === 0, stdout: r.stdout };
  } catch (err) {
    if (signal?.aborted) return { met: false, stdout: '' };
    throw err;
  }
}
