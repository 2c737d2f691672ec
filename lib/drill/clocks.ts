// Clock offsets between the hosts and this machine. The probe's samples are on the client's
// monotonic clock; everything else is stamped on the CLOCK_REALTIME of the host where it happened
// (the kill in the same shell as `date +%s%N`, VIP changes by vipwatch.py from rtnetlink) or, for
// a lab power cut, on this machine's clock. A director's offset to the client is measured
// NTP-style on the LAN itself: the client sends UDP queries to the VIP watcher running on the
// director (vipwatch.py clock), round trips of a few ms, shortest wins. The client's offset to
// this machine (needed only for a lab power cut, timed here) goes over SSH (`date +%s%N`, ~0.1 s
// round trips under emulation, so ± ~50 ms); if the LAN query fails, a director's offset is
// composed from two SSH measurements the same way.
import { performance } from 'node:perf_hooks';
import { sh } from '../shell.ts';
import type { Conn } from '../types.ts';
import { parseEpochNs, parseWatchLog } from './observe.ts';
import { estimateClockOffset, type ClockExchange } from './probe-log.ts';
import { CLOCK_PORT, WATCH_PATH } from './remote.ts';

export interface ClockOffset {
  /** directors: the host's clock − the client's; the client: its clock − this machine's (ms) */
  offsetMs: number;
  /** half the shortest round trip: the offset is within ± this */
  errorMs: number;
  /** lan: UDP on the cluster's segment; ssh: `date +%s%N` over SSH */
  via: 'lan' | 'ssh';
}

/** This machine's clock, ms since the epoch, sub-ms resolution, monotonic over the run. */
export const localNowMs = (): number => performance.timeOrigin + performance.now();

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

/**
 * Every director's clock − the client's, over the LAN (the watchers must be running); a director
 * that does not answer is measured over SSH instead, against `clientLocal` (client − this machine).
 */
export async function measureClocks(
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

/** The client − this machine, then every director − the client: the clocks of one run. */
export async function measureRunClocks(
  clientName: string,
  clientConn: Conn,
  dirs: Array<{ name: string; conn: Conn; lanIp?: string }>,
  exchanges?: number,
): Promise<Record<string, ClockOffset>> {
  const clientLocal = await measureOffset(clientConn, exchanges);
  return { [clientName]: clientLocal, ...(await measureClocks(clientConn, clientLocal, dirs)) };
}
