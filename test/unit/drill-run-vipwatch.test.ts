// lib/drill/vipwatch.py for real, in a private network namespace (needs root and `unshare -n`;
// skipped elsewhere): addresses come and go on a veth pair, the log is read by the real parser.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { holdIntervals, parseWatchLog } from '../../lib/drill/observe.ts';
import { estimateClockOffset } from '../../lib/drill/probe-log.ts';

const WATCH = fileURLToPath(new URL('../../lib/drill/vipwatch.py', import.meta.url));
const canUnshare = spawnSync('unshare', ['-n', 'ip', 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'], { stdio: 'ignore' }).status === 0;
const nsTest = canUnshare ? test : test.skip;

// One shell in a fresh namespace: the watcher in the background, changes at known moments, two
// waits; everything it prints is collected at the end.
const SCRIPT = `set -e
ip link add v0 type veth peer name v1
ip link set v0 up
ip addr add 10.9.9.9/32 dev v0
python3 "$W" watch --vip 10.9.9.9 --vip 10.9.9.8 --dev v0 --duration 20 > "$LOG" &
pid=$!
i=0; until grep -q '^state ' "$LOG"; do i=$((i+1)); [ $i -lt 100 ]; sleep 0.05; done
ip addr del 10.9.9.9/32 dev v0
sleep 0.1
ip addr add 10.9.9.8/32 dev v0
ip link set v0 down
sleep 0.1
ip link set v0 up
python3 "$W" wait --vip 10.9.9.9 --held 1 --timeout 10 > "$LOG.w1" &
w=$!
i=0; until grep -q '^state ' "$LOG.w1"; do i=$((i+1)); [ $i -lt 200 ]; sleep 0.05; done
sleep 0.3
ip addr add 10.9.9.9/32 dev v0
wait $w; echo "w1=$?"
python3 "$W" wait --vip 10.9.9.9 --held 1 --timeout 3 > "$LOG.w2"; echo "w2=$?"
set +e
python3 "$W" wait --vip 10.9.9.9 --held 0 --timeout 0.4 > "$LOG.w3"; echo "w3=$?"
kill -TERM $pid; wait $pid
`;

nsTest('vipwatch: watch logs each change with its time; wait returns when the state is reached, 1 on timeout', (t) => {
  const dir = execFileSync('mktemp', ['-d']).toString().trim();
  const log = `${dir}/watch.log`;
  try {
    const out = execFileSync('unshare', ['-n', 'sh', '-c', SCRIPT], { env: { ...process.env, W: WATCH, LOG: log }, timeout: 30_000 }).toString();
    t.regex(out, /w1=0/);
    t.regex(out, /w2=0/, 'already held: returns at once');
    t.regex(out, /w3=1/, 'never released: times out');
    const watch = parseWatchLog(execFileSync('cat', [log]).toString());
    t.is(watch.end?.reason, 'signal');
    const nine = watch.states.filter((s) => s.vip === '10.9.9.9');
    t.deepEqual(nine.map((s) => [s.held, s.initial]), [[true, true], [false, false], [true, false]]);
    t.deepEqual(watch.states.filter((s) => s.vip === '10.9.9.8').map((s) => [s.held, s.initial]), [[false, true], [true, false]]);
    t.deepEqual(watch.links.map((l) => [l.dev, l.up, l.initial]), [['v0', true, true], ['v0', false, false], ['v0', true, false]]);
    const gap = nine[2]!.t - nine[1]!.t;
    t.true(gap > 300 && gap < 15000, `10.9.9.9 was gone ${gap} ms (≥ 100 + 100 + 300 ms of sleeps)`);
    const intervals = holdIntervals([watch], '10.9.9.9');
    t.is(intervals.length, 2);
    t.is(intervals[1]!.to, undefined, 'still held when the watch ended');
    const w1 = parseWatchLog(execFileSync('cat', [`${log}.w1`]).toString());
    t.deepEqual(w1.states.map((s) => [s.held, s.initial]), [[false, true], [true, false]]);
    t.is(w1.end?.reason, 'met');
  } finally {
    execFileSync('rm', ['-rf', dir]);
  }
});

nsTest('vipwatch: clock queries over UDP — same host, so the offset is ~0 within the round trip', (t) => {
  const out = execFileSync(
    'unshare',
    ['-n', 'sh', '-c', `ip link set lo up
python3 "$W" watch --vip 10.9.9.9 --clock-port 7411 --duration 5 > /dev/null &
pid=$!
sleep 0.5
python3 "$W" clock --host 127.0.0.1 --port 7411 --count 10
python3 "$W" clock --host 127.0.0.1 --port 7412 --count 2
kill -TERM $pid; wait $pid`],
    { env: { ...process.env, W: WATCH }, timeout: 30_000 },
  ).toString();
  const log = parseWatchLog(out);
  t.is(log.samples.length, 10, 'the closed port answers nothing: its queries time out without a sample');
  for (const s of log.samples) {
    t.true(s.sentMs <= s.remoteMs && s.remoteMs <= s.receivedMs, 'one clock: sent ≤ remote ≤ received');
    t.true(s.receivedMs - s.sentMs < 200);
  }
  const best = estimateClockOffset(log.samples);
  t.true(Math.abs(best.offsetMs) <= best.errorMs + 0.01, `offset ${best.offsetMs} within ±${best.errorMs}`);
});

test('vipwatch: bad arguments exit 2 with the usage', (t) => {
  for (const args of [[], ['watch', '--vip', '10.0.0.1'], ['clock', '--host', '10.0.0.1'], ['watch', '--vip', '10.0.0.1', '--clock-port', '70000', '--duration', '1'], ['wait', '--vip', 'x', '--held', '1', '--timeout', '1'], ['wait', '--vip', '10.0.0.1', '--held', '2', '--timeout', '1']]) {
    const r = spawnSync('python3', [WATCH, ...args], { encoding: 'utf8' });
    t.is(r.status, 2, args.join(' '));
    t.regex(r.stderr, /^vipwatch: .*\nusage:/);
  }
});
