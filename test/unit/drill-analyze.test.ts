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

test('one gap: outage from the first failed to the first successful request (sent times), ± one interval, against VRRP theory', (t) => {
  const m = analyze(tl(oneGap), { killAt: 5000, takeoverAt: 8300, config: lab('link') });
  t.is(m.lastOkBefore, 4980, 'a sent time');
  t.is(m.firstOkAfter, 8402, 'an answer time: 2 ms after it was sent');
  t.is(m.outageMs, 3402, 'the down span plus the answering request\'s latency');
  t.is(m.outageMinMs, 8380 - 5000);
  t.is(m.outageMaxMs, 8402 - 4980);
  t.is(m.resolutionMs, 20, 'the probe interval');
  t.is(m.disruptionMs, 3402);
  t.is(m.firstFailureAt, 5000);
  t.is(m.lastFailureAt, 8380);
  t.is(m.failedRequests, 170);
  t.is(m.failedShare, 170 / 250);
  t.deepEqual(m.failuresByStatus, { 'timeout-connect': 170 });
  t.is(m.flapping, 2);
  t.is(m.failureRuns, 1);
  t.is(m.takeoverMs, 3300);
  t.is(m.theoryMs, 3804.6875);
  t.is(m.ratio, 3402 / 3804.6875);
  t.is(m.takeoverRatio, 3300 / 3804.6875);
  t.deepEqual(m.serversBefore.servers, ['real1', 'real2']);
  t.deepEqual(m.serversAfter, { servers: ['real2'], counts: { real2: 80 } });
  t.false(m.unrecovered);
});

test('flapping: the outage is the longest gap (here the first), the disruption spans every failure, transitions counted', (t) => {
  const m = analyze(tl({ down: [[5000, 6000], [6100, 6500], [6600, 7000]] }), { killAt: 5000, config: lab('link') });
  t.is(m.outageMs, 6002 - 5000);
  t.is(m.disruptionMs, 7002 - 5000);
  t.is(m.flapping, 6);
  t.is(m.failureRuns, 3);
  t.is(m.failedRequests, 50 + 20 + 20);
});

test('a stop: a few requests lost while IPVS is taken down, then the real gap — the outage is the longest run, the disruption spans both', (t) => {
  const m = analyze(tl({ down: [[5100, 5180], [5600, 6300]], failRes: 'timeout-read' }), { killAt: 5000, config: lab('stop') });
  t.is(m.failureRuns, 2);
  t.is(m.outageMs, 6302 - 5600, 'the second, longer run');
  t.is(m.lastOkBefore, 5580);
  t.is(m.firstOkAfter, 6302);
  t.is(m.outageMinMs, 6280 - 5600);
  t.is(m.resolutionMs, 20);
  t.is(m.firstFailureAt, 5100);
  t.is(m.disruptionMs, 6302 - 5100);
  t.true(m.warnings.some((w) => /2 failure runs \(82 ms at 5100, 702 ms at 5600\): the outage is the longest/.test(w)), m.warnings.join('; '));
  // the same runs the other way round: the first is then the longest
  const first = analyze(tl({ down: [[5100, 5800], [6000, 6080]] }), { killAt: 5000, config: lab('stop') });
  t.is(first.outageMs, 5802 - 5100);
});

test('failures to the end: unrecovered, outage until the end of the timeline', (t) => {
  const m = analyze(tl({ down: [[5000, 10_000]] }), { killAt: 5000, config: lab('poweroff') });
  t.true(m.unrecovered);
  t.is(m.firstOkAfter, undefined);
  t.is(m.outageMs, 10_000 - 5000);
  t.is(m.failedShare, 1);
  t.deepEqual(m.serversAfter.servers, []);
  t.true(m.warnings.some((w) => /unrecovered/.test(w)));
  // without the end record (the probe was cut off) the end is the last request's end
  const cut = analyze(tl({ down: [[5000, 10_000]], noEnd: true }), { killAt: 5000, config: lab('poweroff') });
  t.is(cut.outageMs, 9980 + 300 - 5000);
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
  t.is(m.outageMs, 3402);
  t.is(m.takeoverMs, 3300);
  // taking the remote time as if it were the client's would put the kill 2 h after the run
  const naive = analyze(timeline, { killAt: 5000 + ahead, config: lab('link') });
  t.is(naive.failedRequests, 0);
});

test('a kill time known only to ± an SSH round trip selects the same gap', (t) => {
  const timeline = tl(oneGap);
  for (const killAt of [4850, 4990, 5000, 5060, 5150]) {
    const m = analyze(timeline, { killAt, config: lab('link') });
    t.is(m.outageMs, 3402, `kill at ${killAt}`);
  }
});

test('empty timeline: not valid, nothing claimed', (t) => {
  const m = analyze(parseProbeLog('clock mono_ns=1 epoch_ns=1 err_ns=1\n'), { killAt: 100, config: lab('stop') });
  t.false(m.valid);
  t.is(m.requests, 0);
  t.is(m.outageMs, 0);
  t.true(m.warnings.some((w) => /no requests/.test(w)));
});

test('kill before the first sample: the outage counts from the first failure, with a warning', (t) => {
  const m = analyze(tl({ down: [[0, 1000]] }), { killAt: -500, config: lab('stop') });
  t.is(m.outageMs, 1002);
  t.is(m.lastOkBefore, undefined);
  t.true(m.warnings.some((w) => /precedes the first request/.test(w)));
  t.true(m.warnings.some((w) => /no successful request before the first failure/.test(w)));
  const clean = analyze(tl({}), { killAt: -500, config: lab('stop') });
  t.is(clean.outageMs, 0);
});

test('long-lived connections: cut in the window vs surviving past the takeover', (t) => {
  const timeline = tl({
    ...oneGap,
    persistent: [{ id: 0, openAt: 100, breakAt: 5100, reason: 'reset' }, { id: 1, openAt: 100 }, { id: 2, openAt: 6000 }],
  });
  const m = analyze(timeline, { killAt: 5000, takeoverAt: 8300, config: lab('link') });
  t.is(m.persistent.atEvent, 2, 'connection 2 opened after the kill');
  t.is(m.persistent.cut, 1);
  t.is(m.persistent.survived, 1);
  t.deepEqual(m.persistent.connections.find((c) => c.id === 0), { id: 0, gen: 1, fate: 'cut', cutAt: 5100.5, reason: 'reset' });
  const kept = m.persistent.connections.find((c) => c.id === 1)!;
  t.is(kept.fate, 'survived');
  t.true(kept.stallMs! > 3300 && kept.stallMs! < 3700, `stall ${kept.stallMs} ms: no request went out while the service was down`);
  // a connection with no answer after the kill up to the end of the timeline is stalled (said so)
  const short = analyze(tl({ ...oneGap, durationMs: 8300, persistent: [{ id: 0, openAt: 100 }] }), { killAt: 5000, config: lab('link') });
  t.is(short.persistent.stalled, 1);
  t.is(short.persistent.connections[0]!.lastAnswerAt, 4901 + 1.5);
});

test('link run: both connections stall ~7 s, then carry on: survived (the answer came after the restore)', (t) => {
  // the failover 5.0–8.4 s; the restore at 10 s; TCP retransmits bring both stalled requests back at 12.1 s
  const timeline = tl({
    ...oneGap, durationMs: 25_000,
    persistent: [{ id: 0, openAt: 100, stalls: [[5000, 12_100]] }, { id: 1, openAt: 150, stalls: [[5000, 12_150]] }],
  });
  const m = analyze(timeline, { killAt: 5000, takeoverAt: 8300, restoreAt: 10_000, failbackAt: 16_000, config: lab('link') });
  t.is(m.persistent.atEvent, 2);
  t.is(m.persistent.survived, 2, JSON.stringify(m.persistent.connections));
  for (const c of m.persistent.connections) t.true(c.stallMs! > 6900 && c.stallMs! < 7300, `stall ${c.stallMs}`);
  t.is(m.failback!.persistent.atEvent, 2);
  t.is(m.failback!.persistent.survived, 2);
});

test('connections cut at the failback are counted as cut at the failback, not at the failover', (t) => {
  const timeline = tl({
    ...oneGap, durationMs: 25_000,
    down: [[5000, 8400], [15_000, 15_100]],
    persistent: [
      { id: 0, openAt: 100, breaks: [{ at: 15_020, reason: 'reset' }] },
      { id: 1, openAt: 150, breaks: [{ at: 15_030, reason: 'eof' }] },
    ],
  });
  const m = analyze(timeline, { killAt: 5000, takeoverAt: 8300, restoreAt: 12_000, failbackAt: 15_000, config: lab('stop') });
  t.is(m.persistent.survived, 2, 'the failover kept both');
  t.is(m.persistent.cut, 0);
  const fb = m.failback!.persistent;
  t.is(fb.atEvent, 2);
  t.is(fb.cut, 2);
  t.is(fb.survived, 0);
  t.deepEqual(fb.connections.map((c) => [c.id, c.fate, c.cutAt, c.reason]), [[0, 'cut', 15_020.5, 'reset'], [1, 'cut', 15_030.5, 'eof']]);
  // a connection reopened after a failover cut (gen 2) is at risk at the failback; the dead gen 1 is not
  const again = analyze(tl({
    ...oneGap, durationMs: 25_000,
    persistent: [{ id: 0, openAt: 100, breaks: [{ at: 5100 }, { at: 15_020 }] }],
  }), { killAt: 5000, takeoverAt: 8300, restoreAt: 12_000, failbackAt: 15_000, config: lab('stop') });
  t.deepEqual(again.persistent.connections.map((c) => [c.gen, c.fate]), [[1, 'cut']]);
  t.deepEqual(again.failback!.persistent.connections.map((c) => [c.gen, c.fate]), [[2, 'cut']]);
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
  t.is(m.failback!.outageMs, 15_062 - 15_000);
  t.is(m.failback!.resolutionMs, 20);
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
  // the stand-in was silent for 800 ms; requests sent in its last 300 ms were held and answered at its end
  t.true(Math.abs(m.outageMs - (back - kill)) <= m.resolutionMs + 20, `outage ${m.outageMs} ±${m.resolutionMs}, gap ${back - kill}`);
  t.true(m.resolutionMs <= 40, `resolution ${m.resolutionMs} ms: requests went out on schedule while others hung`);
  t.true(m.outageMinMs <= back - kill);
  t.true(m.failedRequests >= 10, `${m.failedRequests} failed (each a 300 ms timeout, sent 20 ms apart)`);
  t.deepEqual(m.serversAfter.servers, ['real2']);
  t.is(m.persistent.atEvent, 2);
  t.is(m.persistent.survived, 2, 'stalled keep-alive requests were answered: the connections survived');
  for (const c of m.persistent.connections) t.true(c.stallMs! > 600 && c.stallMs! < 1100, `stall ${c.stallMs} ms`);
});

test('recorded: nothing listening 1.0–1.6 s — refused, keep-alive connections cut', (t) => {
  const timeline = fixture('recorded-down.log');
  const [kill, back] = timeline.marks.map((mk) => mk.t) as [number, number];
  const m = analyze(timeline, { killAt: kill, config: lab('stop') });
  t.true(Math.abs(m.outageMs - (back - kill)) <= m.resolutionMs + 20, `outage ${m.outageMs} ±${m.resolutionMs}, gap ${back - kill}`);
  t.true(m.failedRequests >= 20);
  t.true((m.failuresByStatus.refused ?? 0) >= m.failedRequests - 2);
  t.is(m.persistent.cut, 2);
  t.true(m.persistent.connections.every((c) => c.fate === 'cut' && c.cutAt! >= kill - 50 && c.cutAt! <= back));
  t.is(m.theoryMs, 804.6875);
});

test('recorded: kept connections survive the failover and are cut at the failback — counted as cut at the failback', (t) => {
  // record-server.mjs failback: black hole 1.0–1.5 s, every open connection reset at 2.5 s
  const timeline = fixture('recorded-failback.log');
  const [killAt, takeoverAt, restoreAt, failbackAt] = timeline.marks.map((mk) => mk.t) as [number, number, number, number];
  const m = analyze(timeline, { killAt, takeoverAt, restoreAt, failbackAt, config: lab('link') });
  t.is(m.persistent.atEvent, 2);
  t.is(m.persistent.survived, 2, 'the failover kept both');
  const fb = m.failback!.persistent;
  t.is(fb.atEvent, 2, 'both at risk at the failback');
  t.is(fb.cut, 2, 'both cut at the failback: counted');
  t.is(fb.survived, 0);
  t.true(fb.connections.every((c) => c.reason === 'reset' && c.cutAt! >= failbackAt - 50), JSON.stringify(fb.connections));
  // the reopened connections (gen 2) carry on: none stalled
  t.is(fb.stalled, 0);
});

test('bad instants are refused', (t) => {
  const timeline = tl({});
  t.throws(() => analyze(timeline, { killAt: Number.NaN, config: lab('link') }), { instanceOf: RangeError, message: /killAt/ });
  t.throws(() => analyze(timeline, { killAt: 5000, restoreAt: 4000, config: lab('link') }), { message: /restoreAt 4000 is before killAt 5000/ });
});
