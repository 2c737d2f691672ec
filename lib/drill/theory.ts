// What VRRP predicts for a failover, so a measured outage can be read as a ratio to it.
//
// Timers (keepalived implements both RFCs literally, see VRRP_TIMER_SKEW in keepalived/vrrp.h):
//   VRRPv2, RFC 3768 §6.1:  Skew_Time = (256 − Priority) / 256            seconds — NOT scaled by
//                                                                          the advert interval
//   VRRPv3, RFC 5798 §6.1:  Skew_Time = ((256 − Priority) · Master_Adver_Interval) / 256
//   both:                   Master_Down_Interval = 3 · advert_int + Skew_Time
//                           (keepalived ≥ 2.2: `down_timer_adverts` replaces the 3)
// Priority is the priority of the router that is waiting, i.e. the backup's.
//
// What each drill mode triggers:
//   stop      keepalived leaves MASTER gracefully: removes the VIP and sends an advert with priority
//             0; a backup receiving it sets its down timer to Skew_Time (RFC 3768 §6.4.2). Takeover
//             and outage ≈ Skew_Time.
//   link,     the adverts stop without notice. The backup's down timer was restarted by the last
//   poweroff  advert, sent somewhere in the advert interval before the failure, so the takeover comes
//             Master_Down_Interval − advert_int … Master_Down_Interval after it; the VIP is
//             unreachable over that whole time.
//   kill      SIGKILL to every keepalived process: adverts stop like a hard failure. With lvsplay's
//             crash cleanup deployed (lvs_crash_cleanup, the default) systemd's ExecStopPost= removes
//             the VIP and the IPVS services at once: a hard failure, outage ≈ Master_Down_Interval, no
//             split brain. Without it the VIP and the IPVS rules stay in the old master's kernel, which
//             keeps forwarding — expected outage 0, takeover after the hard-failure delay, and from then
//             on both directors hold the VIP (split brain) until the drill cleans up.
//   failback  the restored master starts in BACKUP (init), discards the lower-priority adverts of the
//             acting master (preempt) and takes over when its own down timer — with its own, higher,
//             priority in the skew — runs out: Master_Down_Interval after keepalived starts. The
//             hand-over itself is clean (the old master steps down on the first higher-priority
//             advert), so the expected client outage is 0 plus gratuitous-ARP propagation.
// Not in the theory, so the measured ratio is > 1 by: the client's ARP update (gratuitous ARP), the
// time keepalived needs to add the VIP, the probe's own resolution (one interval at each end), and
// for `stop` the time systemd takes to deliver the stop.
import { ConfigError } from '../types.ts';
import type { DrillMode } from './modes.ts';

// The modes themselves (how each breaks the master, and which of the builders below is its theory)
// are one table: lib/drill/modes.ts.
export type { DrillMode } from './modes.ts';

export interface VrrpTimers {
  /** keepalived's advert_int, in seconds (0.1 … 255; whole seconds for VRRPv2) */
  advertInt: number;
  vrrpVersion: 2 | 3;
  /** priority of the backup director that takes over (1 … 254) */
  backupPriority: number;
  /** priority of the master (2 … 255), needed only for the failback prediction */
  masterPriority?: number;
  /** keepalived's down_timer_adverts (default 3, the RFC's value) */
  downTimerAdverts?: number;
  /** keepalived's preempt_delay in seconds (lvs_preempt_delay): the failback waits at least this */
  preemptDelayS?: number;
}

/** The tracked check the `service` mode fails (lvs_track): its timing and what a failure does. */
export interface TrackTiming {
  /** seconds between runs */
  intervalS: number;
  /** consecutive failures before keepalived counts it down */
  fall: number;
  /** 0: the instance goes FAULT; otherwise the priority change (lost while the check is down) */
  weight: number;
}

export interface DrillConfig extends VrrpTimers {
  mode: DrillMode;
  /** mode service: the tracked check it stops */
  track?: TrackTiming;
  /** mode kill: the master's keepalived.service runs lvsplay's crash cleanup (read from the host, lvs_crash_cleanup) */
  crashCleanup?: boolean;
}

export interface Theory {
  mode: DrillMode | 'failback';
  /** graceful: priority-0 advert; hard: the adverts just stop; preempt: failback */
  trigger: 'graceful' | 'hard' | 'preempt';
  skewMs: number;
  masterDownMs: number;
  /** window in which VRRP says the backup becomes MASTER, from the failure (failback: from keepalived's start) */
  takeoverMinMs: number;
  takeoverMaxMs: number;
  /** what the client should see as outage */
  outageMinMs: number;
  outageMaxMs: number;
  /** the figure measured values are divided by: the upper takeover bound */
  theoryMs: number;
  /** the formula with the numbers, for reports */
  formula: string;
}

function check(config: VrrpTimers): void {
  const { advertInt, vrrpVersion, backupPriority, masterPriority, downTimerAdverts } = config;
  const bad = (key: string, value: unknown, why: string) =>
    new ConfigError(`drill config: ${key} = ${JSON.stringify(value)}: ${why}`);
  if (vrrpVersion !== 2 && vrrpVersion !== 3) throw bad('vrrpVersion', vrrpVersion, 'must be 2 or 3');
  if (!(Number.isFinite(advertInt) && advertInt > 0 && advertInt <= 255)) {
    throw bad('advertInt', advertInt, 'must be seconds in (0, 255]');
  }
  if (vrrpVersion === 2 && !Number.isInteger(advertInt)) {
    throw bad('advertInt', advertInt, 'VRRPv2 carries whole seconds; sub-second intervals need vrrpVersion 3');
  }
  if (vrrpVersion === 3 && Math.round(advertInt * 100) < 1) {
    throw bad('advertInt', advertInt, 'VRRPv3 counts centiseconds: at least 0.01');
  }
  if (!(Number.isInteger(backupPriority) && backupPriority >= 1 && backupPriority <= 254)) {
    throw bad('backupPriority', backupPriority, 'must be an integer 1 … 254');
  }
  if (masterPriority !== undefined && !(Number.isInteger(masterPriority) && masterPriority > backupPriority && masterPriority <= 255)) {
    throw bad('masterPriority', masterPriority, `must be an integer above backupPriority (${backupPriority}) and ≤ 255`);
  }
  if (downTimerAdverts !== undefined && !(Number.isInteger(downTimerAdverts) && downTimerAdverts >= 1)) {
    throw bad('downTimerAdverts', downTimerAdverts, 'must be a positive integer');
  }
  const delay = config.preemptDelayS;
  if (delay !== undefined && !(Number.isInteger(delay) && delay >= 0 && delay <= 1000)) throw bad('preemptDelayS', delay, 'must be whole seconds 0 … 1000');
}

// seconds → ms without binary noise (0.1 s · 1000 = 100, not 100.00000000000001)
const toMs = (seconds: number) => Math.round(seconds * 1e6) / 1e3;

/** Skew_Time in ms for a router of `priority` waiting for a master. */
export function skewTimeMs(advertInt: number, priority: number, vrrpVersion: 2 | 3): number {
  return vrrpVersion === 3 ? ((256 - priority) * toMs(advertInt)) / 256 : ((256 - priority) * 1000) / 256;
}

/** Master_Down_Interval in ms for a router of `priority`. */
export function masterDownIntervalMs(advertInt: number, priority: number, vrrpVersion: 2 | 3, downTimerAdverts = 3): number {
  return downTimerAdverts * toMs(advertInt) + skewTimeMs(advertInt, priority, vrrpVersion);
}

const r = (ms: number) => Math.round(ms * 10) / 10;

interface HardParts {
  skewMs: number;
  masterDownMs: number;
  takeoverMinMs: number;
  skewFormula: string;
  hard: string;
}

function parts(config: DrillConfig): HardParts {
  check(config);
  const { advertInt, vrrpVersion, backupPriority } = config;
  const n = config.downTimerAdverts ?? 3;
  const skewMs = skewTimeMs(advertInt, backupPriority, vrrpVersion);
  const masterDownMs = masterDownIntervalMs(advertInt, backupPriority, vrrpVersion, n);
  const skewFormula = vrrpVersion === 3 ? `(256−${backupPriority})·${advertInt}s/256` : `(256−${backupPriority})/256 s`;
  const takeoverMinMs = masterDownMs - toMs(advertInt);
  const hard = `${n}·${advertInt}s + skew ${skewFormula} = ${r(masterDownMs)} ms (VRRPv${vrrpVersion}); ` +
    `takeover ${r(takeoverMinMs)} … ${r(masterDownMs)} ms after the failure`;
  return { skewMs, masterDownMs, takeoverMinMs, skewFormula, hard };
}

/** The master leaves gracefully (priority-0 advert): takeover and outage ≈ Skew_Time. */
export function gracefulTheory(config: DrillConfig): Theory {
  const { skewMs, masterDownMs, skewFormula } = parts(config);
  return {
    mode: config.mode, trigger: 'graceful', skewMs, masterDownMs,
    takeoverMinMs: skewMs, takeoverMaxMs: skewMs, outageMinMs: skewMs, outageMaxMs: skewMs, theoryMs: skewMs,
    formula: `priority-0 advert → skew = ${skewFormula} = ${r(skewMs)} ms (VRRPv${config.vrrpVersion})`,
  };
}

/** The adverts just stop: takeover in [MDI − advert_int, MDI]; the VIP is dark over it, unless it stays on the old master. */
export function hardTheory(config: DrillConfig, how: { vipStays: boolean }): Theory {
  const { skewMs, masterDownMs, takeoverMinMs, hard } = parts(config);
  const base = { mode: config.mode, trigger: 'hard' as const, skewMs, masterDownMs, takeoverMinMs, takeoverMaxMs: masterDownMs, theoryMs: masterDownMs };
  return how.vipStays
    ? { ...base, outageMinMs: 0, outageMaxMs: 0, formula: `adverts stop, VIP stays on the old master (expected outage 0, then split brain): ${hard}` }
    : { ...base, outageMinMs: takeoverMinMs, outageMaxMs: masterDownMs, formula: `master_down_interval = ${hard}` };
}

/**
 * A tracked check fails on the MASTER (mode `service`). keepalived runs it every `interval` s, the
 * first run after the break comes within one interval, so the check counts as down
 * (fall−1)·interval … fall·interval after it. Then:
 *   weight 0 (fault): the instance goes FAULT, removes the VIP and sends a priority-0 advert
 *     (vrrp_state_leave_fault): from there on it is `stop` — takeover and outage ≈ Skew_Time.
 *   weight ≠ 0: the MASTER advertises its lowered priority (less |weight|, or without its bonus)
 *     and keeps the VIP; the backup ignores lower-priority adverts (preempt) once preempt_delay has
 *     passed since the first of them, and
 *     takes over when its down timer expires — then the old MASTER steps down on its first advert.
 *     Takeover as a hard failure (plus preempt_delay and up to one advert for the first lowered
 *     one); expected outage 0, the forwarding never stops.
 */
export function trackedTheory(config: DrillConfig): Theory {
  const tr = config.track;
  if (!tr) throw new ConfigError('drill config: track: the service mode needs the tracked check (lvs_track kind service): its interval, fall and weight');
  const bad = (key: string, value: unknown, why: string) => new ConfigError(`drill config: track.${key} = ${JSON.stringify(value)}: ${why}`);
  if (!(Number.isFinite(tr.intervalS) && tr.intervalS > 0)) throw bad('intervalS', tr.intervalS, 'must be seconds > 0');
  if (!(Number.isInteger(tr.fall) && tr.fall >= 1)) throw bad('fall', tr.fall, 'must be a positive integer');
  if (!(Number.isInteger(tr.weight) && Math.abs(tr.weight) <= 253)) throw bad('weight', tr.weight, 'must be an integer −253 … 253');
  const detectMinMs = (tr.fall - 1) * toMs(tr.intervalS);
  const detectMaxMs = tr.fall * toMs(tr.intervalS);
  const detect = `check down after ${tr.fall}×${tr.intervalS}s (${r(detectMinMs)} … ${r(detectMaxMs)} ms)`;
  if (tr.weight === 0) {
    const g = gracefulTheory(config);
    return {
      ...g, takeoverMinMs: detectMinMs + g.skewMs, takeoverMaxMs: detectMaxMs + g.skewMs, theoryMs: detectMaxMs + g.skewMs,
      formula: `${detect}, then FAULT: ${g.formula}`,
    };
  }
  const { skewMs, masterDownMs, takeoverMinMs, hard } = parts(config);
  const delayMs = toMs(config.preemptDelayS ?? 0);
  const firstAdvertMs = delayMs ? toMs(config.advertInt) : 0;
  const max = detectMaxMs + delayMs + firstAdvertMs + masterDownMs;
  return {
    mode: config.mode, trigger: 'hard', skewMs, masterDownMs,
    takeoverMinMs: detectMinMs + delayMs + takeoverMinMs, takeoverMaxMs: max, outageMinMs: 0, outageMaxMs: 0, theoryMs: max,
    formula: `${detect}, priority ${tr.weight < 0 ? tr.weight : `−${tr.weight} (its bonus gone)`}: the backup ignores the lowered adverts${delayMs ? ` after preempt_delay ${config.preemptDelayS} s` : ''}, master_down_interval = ${hard}; the VIP stays until then (expected outage 0)`,
  };
}

/**
 * VRRP's prediction for the failback: the restored master preempts once its own down timer expires
 * (priority 255, the address owner, becomes MASTER at once). Needs `masterPriority`.
 */
export function failbackTheory(config: VrrpTimers): Theory {
  check(config);
  const { advertInt, vrrpVersion, masterPriority } = config;
  if (masterPriority === undefined) {
    throw new ConfigError('drill config: masterPriority is needed for the failback theory');
  }
  const n = config.downTimerAdverts ?? 3;
  const owner = masterPriority === 255;
  const skewMs = skewTimeMs(advertInt, masterPriority, vrrpVersion);
  const masterDownMs = owner ? 0 : masterDownIntervalMs(advertInt, masterPriority, vrrpVersion, n);
  const delayMs = toMs(config.preemptDelayS ?? 0);
  const takeoverMs = Math.max(masterDownMs, delayMs);
  const skewFormula = vrrpVersion === 3 ? `(256−${masterPriority})·${advertInt}s/256` : `(256−${masterPriority})/256 s`;
  const delayed = delayMs > masterDownMs ? `, held back by preempt_delay ${config.preemptDelayS} s` : '';
  return {
    mode: 'failback', trigger: 'preempt', skewMs, masterDownMs,
    takeoverMinMs: takeoverMs, takeoverMaxMs: takeoverMs, outageMinMs: 0, outageMaxMs: 0, theoryMs: takeoverMs,
    formula: owner
      ? 'restored master is the address owner (priority 255): MASTER as soon as keepalived starts; expected outage 0'
      : `restored master preempts ${n}·${advertInt}s + skew ${skewFormula} = ${r(masterDownMs)} ms after keepalived starts (VRRPv${vrrpVersion})${delayed}; expected outage 0`,
  };
}
