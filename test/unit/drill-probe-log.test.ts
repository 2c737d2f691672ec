import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  ProbeLogError, clientEpochToProbeMs, estimateClockOffset, parseProbeLog, remoteEpochToProbeMs, timelineEndMs,
} from '../../lib/drill/probe-log.ts';
import { synthLog } from '../fixtures/drill/synth.ts';

const fixture = (name: string) => readFileSync(fileURLToPath(new URL(`../fixtures/drill/${name}`, import.meta.url)), 'utf8');

test('parse: a recorded probe run (black hole 1.0–1.8 s)', (t) => {
  const tl = parseProbeLog(fixture('recorded-hold.log'), 'recorded-hold.log');
  t.is(tl.meta?.intervalMs, 20);
  t.is(tl.meta?.timeoutMs, 300);
  t.is(tl.end?.reason, 'duration');
  t.is(tl.end?.requests, tl.samples.length);
  t.is(tl.end?.ok, tl.samples.filter((s) => s.ok).length);
  t.is(tl.end?.skipped, tl.samples.reduce((n, s) => n + s.skipped, 0));
  t.is(tl.marks.length, 2);
  t.true(tl.samples.filter((s) => !s.ok).every((s) => s.status === 'timeout-read'));
  t.deepEqual([...new Set(tl.samples.filter((s) => s.ok).map((s) => s.server))].sort(), ['real1', 'real2']);
  t.is(tl.persistent.length, 2);
  t.true(tl.persistent.every((p) => p.events.every((e, i) => i === 0 || e.t >= p.events[i - 1]!.t)), 'events sorted');
  t.true(tl.clockDriftMs !== undefined && Math.abs(tl.clockDriftMs) < 5);
  t.true(tl.samples[0]!.t > 0 && tl.samples[0]!.t < 50);
});

test('parse: failures keep their kind, answers their status and server', (t) => {
  const text = [
    'clock mono_ns=5000000000 epoch_ns=1700000000000000000 err_ns=1000',
    'req seq=0 slot=0 skipped=0 t_ns=5000000000 lat_us=1500 res=ok code=200 server=real1',
    'req seq=1 slot=1 skipped=0 t_ns=5020000000 lat_us=300100 res=timeout-connect code=- server=-',
    'req seq=2 slot=16 skipped=14 t_ns=5320500000 lat_us=900 res=http code=503 server=-',
    'req seq=3 slot=17 skipped=0 t_ns=5340000000 lat_us=200 res=refused code=- server=-',
    'pconn id=1 gen=2 ev=fail t_ns=5100000000 lat_us=12 reason=reset',
    'future-record whatever=1',
    '',
  ].join('\n');
  const tl = parseProbeLog(text);
  t.is(tl.startMonoNs, 5e9);
  t.is(tl.startEpochMs, 1.7e12);
  t.is(tl.clockErrMs, 0.001);
  t.deepEqual(tl.samples.map((s) => [s.t, s.ok, s.status, s.server, s.latencyMs, s.skipped]), [
    [0, true, '200', 'real1', 1.5, 0],
    [20, false, 'timeout-connect', undefined, 300.1, 0],
    [320.5, false, '503', undefined, 0.9, 14],
    [340, false, 'refused', undefined, 0.2, 0],
  ]);
  t.deepEqual(tl.persistent, [{ id: 1, events: [{ t: 100, gen: 2, ev: 'fail', latencyMs: 0.012, reason: 'reset' }] }]);
  t.is(tl.end, undefined);
  t.is(timelineEndMs(tl), 340.2, 'without an end record: the end of the last request');
});

test('parse: a line cut off before its newline is dropped; malformed lines are errors naming the line', (t) => {
  const good = synthLog({ durationMs: 100, persistent: [{ id: 0, openAt: 5 }] });
  t.is(parseProbeLog(good + 'req seq=9 slot=9 skipped=0 t_ns=10').samples.length, 5);
  const bad = good.replace('lat_us=2000', 'lat_us=two');
  const err = t.throws(() => parseProbeLog(bad, 'x.log'), { instanceOf: ProbeLogError });
  t.regex(err!.message, /^x\.log:3: lat_us="two" is not an integer/);
  t.throws(() => parseProbeLog('req seq=0 slot=0 skipped=0 t_ns=1 lat_us=1 res=ok code=200 server=a\n'), { message: /req record before the clock record/ });
  t.throws(() => parseProbeLog('hello\n', 'empty.log'), { message: /empty\.log: no clock record/ });
  t.throws(() => parseProbeLog(good.replace('ev=open', 'ev=dance'), 'y'), { message: /unknown pconn event/ });
  t.throws(() => parseProbeLog(good.replace(' res=ok', ' res'), 'y'), { message: /malformed field "res"/ });
});

test('clock: NTP-style offset from the shortest round trip, and remote instants onto the probe clock', (t) => {
  // remote clock is 1234.5 ms ahead of the local one; round trips of 150, 120 and 400 ms
  const truth = 1234.5;
  const ex = [
    { sentMs: 1000, remoteMs: 1000 + 90 + truth, receivedMs: 1150 }, // asymmetric: 90 out, 60 back
    { sentMs: 2000, remoteMs: 2000 + 60 + truth, receivedMs: 2120 },
    { sentMs: 3000, remoteMs: 3000 + 50 + truth, receivedMs: 3400 },
  ];
  const { offsetMs, errorMs } = estimateClockOffset(ex);
  t.is(offsetMs, truth);
  t.is(errorMs, 60);
  t.throws(() => estimateClockOffset([]));

  const tl = parseProbeLog(synthLog({ durationMs: 1000, startEpochMs: 1_700_000_000_000 }));
  t.is(clientEpochToProbeMs(tl, 1_700_000_000_250), 250);
  // an instant read on the remote host's clock, 400 ms into the probe
  t.is(remoteEpochToProbeMs(tl, 1_700_000_000_400 + truth, offsetMs), 400);
});
