import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { analyze } from '../../lib/drill/analyze.ts';
import { estimateClockOffset, parseProbeLog, remoteEpochToProbeMs } from '../../lib/drill/probe-log.ts';
import type { DrillConfig } from '../../lib/drill/theory.ts';
import { synthLog, type SynthOptions } from '../fixtures/drill/synth.ts';

const lab = (mode: DrillConfig['mode']): DrillConfig => ({ advertInt: 1, vrrpVersion: 2, backupPriority: 50, masterPriority: 100, mode });
const tl = (o: SynthOptions) => parseProbeLog(synthLog(o), 'synthetic');
const fixture = (name: string) => parseProbeLog(readFileSync(fileURLToPath(new URL(`../fixtures/drill/${name}`, import.meta.url)), 'utf8'), name);

// Requests every 20 ms for 10 s; the link dies at 5000 and the backup serves from 8400 (a lab-like 3.4 s).
const oneGap: SynthOptions = { down: [[5000, 8400]], serversAfter: ['real2'], switchAt: 5000 };

test('no failure: outage 0, nothing failed, the same servers before and after', (t) => {
  const m = analyze(tl({}), { killAt: 5000, config: lab('link') });
  t.true(m.valid);
  t.is(m.outageMs, 0);
  t.is(m.outageMinMs, 0);
  t.is(m.failedRequests, 0);
  t.is(m.failedShare, 0);
  t.is(m.flapping, 0);
  t.false(m.unrecovered);
  t.is(m.firstFailureAt, undefined);
  t.is(m.requests, 250);
  t.deepEqual(m.serversBefore, { servers: ['real1', 'real2'], counts: { real1: 125, real2: 125 } });
  t.deepEqual(m.serversAfter.servers, ['real1', 'real2']);
  t.is(m.ratio, 0);
  t.deepEqual(m.warnings, []);
});

test('one gap: outage from the last success before to the first success after, against VRRP theory', (t) => {
  const m = analyze(tl(oneGap), { killAt: 5000, takeoverAt: 8300, config: lab('link') });
  t.is(m.lastOkBefore, 4982, 'answers arrive 2 ms after the request starts');
  t.is(m.firstOkAfter, 8402);
  t.is(m.outageMs, 3420);
  t.is(m.outageMinMs, 8380 - 5000);
  t.is(m.disruptionMs, 3420);
  t.is(m.firstFailureAt, 5000);
  t.is(m.lastFailureAt, 8380);
  t.is(m.failedRequests, 170);
  t.is(m.failedShare, 170 / 250);
  t.deepEqual(m.failuresByStatus, { 'timeout-connect': 170 });
  t.is(m.flapping, 2);
  t.is(m.failureRuns, 1);
  t.is(m.takeoverMs, 3300);
  t.is(m.theoryMs, 3804.6875);
  t.is(m.ratio, 3420 / 3804.6875);
  t.is(m.takeoverRatio, 3300 / 3804.6875);
  t.deepEqual(m.serversBefore.servers, ['real1', 'real2']);
  t.deepEqual(m.serversAfter, { servers: ['real2'], counts: { real2: 80 } });
  t.false(m.unrecovered);
});

test('flapping: the outage is the first gap, the disruption spans every failure, transitions counted', (t) => {
  const m = analyze(tl({ down: [[5000, 6000], [6100, 6500], [6600, 7000]] }), { killAt: 5000, config: lab('link') });
  t.is(m.outageMs, 6000 - 4980);
  t.is(m.disruptionMs, 7000 - 4980);
  t.is(m.flapping, 6);
  t.is(m.failureRuns, 3);
  t.is(m.failedRequests, 50 + 20 + 20);
});

test('failures to the end: unrecovered, outage until the end of the timeline', (t) => {
  const m = analyze(tl({ down: [[5000, 10_000]] }), { killAt: 5000, config: lab('poweroff') });
  t.true(m.unrecovered);
  t.is(m.firstOkAfter, undefined);
  t.is(m.outageMs, 10_000 - 4982);
  t.is(m.failedShare, 1);
  t.deepEqual(m.serversAfter.servers, []);
  t.true(m.warnings.some((w) => /unrecovered/.test(w)));
  // without the end record (the probe was cut off) the end is the last request's end
  const cut = analyze(tl({ down: [[5000, 10_000]], noEnd: true }), { killAt: 5000, config: lab('poweroff') });
  t.is(cut.outageMs, 9980 + 300 - 4982);
});

test('clock offset: a kill time read on another host, converted through the measured offset', (t) => {
  const startEpochMs = 1_700_000_000_000;
  const timeline = tl({ ...oneGap, startEpochMs });
  // the killing host's realtime clock is 2 h 0.5 s ahead of the client's
  const ahead = 7_200_500;
  const exchanges = [{ sentMs: 10, remoteMs: 10 + 40 + ahead, receivedMs: 90 }];
  const { offsetMs } = estimateClockOffset(exchanges);
  const killAt = remoteEpochToProbeMs(timeline, startEpochMs + 5000 + ahead, offsetMs);
  t.is(killAt, 5000);
  const takeoverAt = remoteEpochToProbeMs(timeline, startEpochMs + 8300 + ahead, offsetMs);
  const m = analyze(timeline, { killAt, takeoverAt, config: lab('link') });
  t.is(m.outageMs, 3420);
  t.is(m.takeoverMs, 3300);
  // taking the remote time as if it were the client's would put the kill 2 h after the run
  const naive = analyze(timeline, { killAt: 5000 + ahead, config: lab('link') });
  t.is(naive.failedRequests, 0);
});

test('a kill time known only to ± an SSH round trip selects the same gap', (t) => {
  const timeline = tl(oneGap);
  for (const killAt of [4850, 4990, 5000, 5060, 5150]) {
    const m = analyze(timeline, { killAt, config: lab('link') });
    t.is(m.outageMs, 3420, `kill at ${killAt}`);
  }
});

test('empty timeline: not valid, nothing claimed', (t) => {
  const m = analyze(parseProbeLog('clock mono_ns=1 epoch_ns=1 err_ns=1\n'), { killAt: 100, config: lab('stop') });
  t.false(m.valid);
  t.is(m.requests, 0);
  t.is(m.outageMs, 0);
  t.true(m.warnings.some((w) => /no requests/.test(w)));
});

test('kill before the first sample: the outage counts from the kill, with a warning', (t) => {
  const m = analyze(tl({ down: [[0, 1000]] }), { killAt: -500, config: lab('stop') });
  t.is(m.outageMs, 1002 + 500);
  t.is(m.lastOkBefore, undefined);
  t.true(m.warnings.some((w) => /precedes the first request/.test(w)));
  t.true(m.warnings.some((w) => /no successful request before the first failure/.test(w)));
  const clean = analyze(tl({}), { killAt: -500, config: lab('stop') });
  t.is(clean.outageMs, 0);
});

test('long-lived connections: broken in the window vs surviving past the takeover', (t) => {
  const timeline = tl({
    ...oneGap,
    persistent: [{ id: 0, openAt: 100, breakAt: 5100, reason: 'reset' }, { id: 1, openAt: 100 }, { id: 2, openAt: 6000 }],
  });
  const m = analyze(timeline, { killAt: 5000, takeoverAt: 8300, config: lab('link') });
  t.is(m.persistent.atEvent, 2, 'connection 2 opened after the kill');
  t.is(m.persistent.broken, 1);
  t.is(m.persistent.survived, 1);
  t.deepEqual(m.persistent.connections.find((c) => c.id === 0), { id: 0, gen: 1, fate: 'broken', brokeAt: 5100.5, reason: 'reset' });
  // a connection whose only requests after the kill stop before the service is back is unknown
  const short = analyze(tl({ ...oneGap, durationMs: 8300, persistent: [{ id: 0, openAt: 100 }] }), { killAt: 5000, config: lab('link') });
  t.is(short.persistent.unknown, 1);
});

test('kill mode: no outage, split brain timed from the takeover to the cleanup, failback measured', (t) => {
  const timeline = tl({ durationMs: 20_000, down: [[15_000, 15_060]] });
  const m = analyze(timeline, {
    killAt: 5000, takeoverAt: 8800, restoreAt: 12_000, failbackAt: 15_000,
    splitBrain: { from: 8800, to: 12_000 }, config: lab('kill'),
  });
  t.is(m.outageMs, 0);
  t.is(m.ratio, 0);
  t.is(m.takeoverMs, 3800);
  t.is(m.theoryMs, 3804.6875);
  t.is(m.theory?.outageMaxMs, 0);
  t.deepEqual(m.splitBrain, { from: 8800, to: 12_000, durationMs: 3200, ongoing: false });
  t.is(m.windowEnd, 12_000);
  t.truthy(m.failback);
  t.is(m.failback!.outageMs, 15_060 - 14_980);
  t.is(m.failback!.failedRequests, 3);
  t.is(m.failback!.takeoverMs, 3000);
  t.is(m.failback!.theoryMs, 3000 + (156 / 256) * 1000);
  // still split when the run ended
  const open = analyze(timeline, { killAt: 5000, takeoverAt: 8800, splitBrain: {}, config: lab('kill') });
  t.deepEqual(open.splitBrain, { from: 8800, to: 20_000, durationMs: 11_200, ongoing: true });
});

test('recorded: black hole 1.0–1.8 s, kill marked by SIGUSR1 on the probe clock', (t) => {
  const timeline = fixture('recorded-hold.log');
  const [kill, back] = timeline.marks.map((mk) => mk.t) as [number, number];
  const m = analyze(timeline, { killAt: kill, config: lab('link') });
  // the stand-in was silent for 800 ms; the attempt that ended the gap was held and answered at its end
  t.true(m.outageMs >= back - kill - 50 && m.outageMs <= back - kill + 100, `outage ${m.outageMs}, gap ${back - kill}`);
  t.true(m.outageMinMs <= back - kill);
  t.true(m.failedRequests >= 1 && m.failedRequests <= 4, `${m.failedRequests} failed`);
  t.true(m.skippedSlots >= 10, 'timeouts pass over slots');
  t.deepEqual(m.serversAfter.servers, ['real2']);
  t.is(m.persistent.atEvent, 2);
  t.is(m.persistent.survived, 2, 'stalled keep-alive requests were answered: the connections survived');
});

test('recorded: nothing listening 1.0–1.6 s — refused, keep-alive connections broken', (t) => {
  const timeline = fixture('recorded-down.log');
  const [kill] = timeline.marks.map((mk) => mk.t) as [number];
  const m = analyze(timeline, { killAt: kill, config: lab('stop') });
  t.true(m.outageMs >= 550 && m.outageMs <= 700, `outage ${m.outageMs}`);
  t.true(m.failedRequests >= 20);
  t.true((m.failuresByStatus.refused ?? 0) >= m.failedRequests - 1);
  t.is(m.persistent.broken, 2);
  t.is(m.theoryMs, 804.6875);
});

test('bad instants are refused', (t) => {
  const timeline = tl({});
  t.throws(() => analyze(timeline, { killAt: Number.NaN, config: lab('link') }), { instanceOf: RangeError, message: /killAt/ });
  t.throws(() => analyze(timeline, { killAt: 5000, restoreAt: 4000, config: lab('link') }), { message: /restoreAt 4000 is before killAt 5000/ });
});
