// The probe (lib/drill/probe.py) run for real against HTTP servers on 127.0.0.1, its output read by
// the real parser.
import test from 'ava';
import http from 'node:http';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseProbeLog } from '../../lib/drill/probe-log.ts';

const PROBE = fileURLToPath(new URL('../../lib/drill/probe.py', import.meta.url));
const MODULES = fileURLToPath(new URL('../fixtures/drill/python3-minimal-modules.txt', import.meta.url));

interface ProbeRun {
  stdout: string;
  stderr: string;
  code: number | null;
  wallMs: number;
}

function runProbe(args: string[], during?: (pid: number) => void): Promise<ProbeRun> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn('python3', [PROBE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    // the first line is written once the signal handlers are installed: only then may signals come
    let ready = false;
    child.stdout.on('data', (d) => {
      stdout += d;
      if (!ready && stdout.includes('\n')) {
        ready = true;
        if (during && child.pid) during(child.pid);
      }
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code, wallMs: Date.now() - started }));
  });
}

/** A keep-alive capable server naming itself local1 / local2 alternately. */
function roundRobinServer(): Promise<{ server: http.Server; port: number }> {
  let n = 0;
  const server = http.createServer((_req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`test page\nserved-by: ${n++ % 2 ? 'local2' : 'local1'}\n`);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as net.AddressInfo).port })));
}

function stop(server: http.Server | net.Server): Promise<void> {
  if (server instanceof http.Server) server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

test('probe: one second against a local server — every line parses, requests keep the schedule', async (t) => {
  const { server, port } = await roundRobinServer();
  try {
    const run = await runProbe(['--host', '127.0.0.1', '--port', String(port), '--duration', '1', '--timeout-ms', '3000']); // long timeout: a loaded CI machine
    t.is(run.code, 0, run.stderr);
    const tl = parseProbeLog(run.stdout, 'probe stdout');
    t.deepEqual(tl.meta && { host: tl.meta.host, port: tl.meta.port, intervalMs: tl.meta.intervalMs, persistent: tl.meta.persistent },
      { host: '127.0.0.1', port, intervalMs: 20, persistent: 2 });
    // 50 slots in one second; a busy 2-core machine may make some requests slow, never more than 50
    t.true(tl.samples.length >= 25 && tl.samples.length <= 50, `${tl.samples.length} requests`);
    const slotsUsed = tl.samples.length + tl.samples.reduce((n, s) => n + s.skipped, 0);
    t.true(slotsUsed <= 50, `requests + skipped slots = ${slotsUsed}`);
    t.true(tl.samples.every((s) => s.ok && s.status === '200'), 'all requests answered 200');
    t.deepEqual([...new Set(tl.samples.map((s) => s.server))].sort(), ['local1', 'local2']);
    t.true(tl.samples.every((s, i) => i === 0 || s.t > tl.samples[i - 1]!.t), 'times increase');
    t.true(tl.samples[0]!.t >= 0 && tl.samples.at(-1)!.t < 1000, 'within the duration');
    t.is(tl.end?.reason, 'duration');
    t.is(tl.end?.requests, tl.samples.length);
    t.true(Math.abs(tl.startEpochMs - Date.now()) < 10_000, 'epoch at start is the wall clock');
    t.is(tl.persistent.length, 2);
    for (const p of tl.persistent) {
      t.is(p.events[0]!.ev, 'open');
      t.true(p.events.filter((e) => e.ev === 'ok').length >= 3, `connection ${p.id} answered every ~200 ms`);
      t.true(p.events.every((e) => e.gen === 1 && e.ev !== 'fail'), `connection ${p.id} never broke`);
    }
  } finally {
    await stop(server);
  }
});

test('probe: the server going away — refused requests, broken keep-alive connections, recovery, marks', async (t) => {
  const { server, port } = await roundRobinServer();
  const timers: NodeJS.Timeout[] = [];
  try {
    const run = await runProbe(['--host', '127.0.0.1', '--port', String(port), '--duration', '2.5', '--persistent-interval-ms', '100'], (pid) => {
      timers.push(setTimeout(() => { process.kill(pid, 'SIGUSR1'); void stop(server); }, 600));
      timers.push(setTimeout(() => server.listen(port, '127.0.0.1'), 1000));
    });
    t.is(run.code, 0, run.stderr);
    const tl = parseProbeLog(run.stdout);
    const failed = tl.samples.filter((s) => !s.ok);
    t.true(failed.length >= 3, `${failed.length} failed requests`);
    // requests in flight or in the listen backlog when the server closes time out or are reset; the ones after are refused
    const statuses = failed.map((s) => s.status);
    t.true(statuses.every((s) => ['refused', 'eof', 'reset', 'timeout-read'].includes(s)), JSON.stringify(statuses));
    t.true(statuses.includes('refused'), JSON.stringify(statuses));
    const lastFail = failed.at(-1)!;
    t.true(tl.samples.some((s) => s.ok && s.t > lastFail.t), `requests succeed again after the gap: ${tl.samples.map((s) => `${s.t.toFixed(0)}:${s.status}`).slice(-12).join(' ')}`);
    t.is(tl.marks.length, 1);
    t.true(tl.marks[0]!.t <= failed[0]!.t + 250, 'the mark is on the same clock, just before the first failure');
    for (const p of tl.persistent) {
      const fail = p.events.find((e) => e.ev === 'fail');
      t.truthy(fail, `connection ${p.id} broke`);
      t.true(p.events.some((e) => e.gen > 1 && e.ev === 'ok'), `connection ${p.id} was reopened and answered`);
    }
  } finally {
    timers.forEach(clearTimeout);
    if (server.listening) await stop(server);
  }
});

test('probe: a black hole — requests keep the schedule while earlier ones hang, each bounded by its timeout; SIGTERM ends cleanly', async (t) => {
  const sockets = new Set<net.Socket>();
  const hole = net.createServer((s) => { sockets.add(s); s.on('error', () => {}); }); // accepts, never answers
  await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
  const port = (hole.address() as net.AddressInfo).port;
  try {
    const run = await runProbe(['--host', '127.0.0.1', '--port', String(port), '--duration', '0.8', '--persistent', '1']);
    t.is(run.code, 0, run.stderr);
    const tl = parseProbeLog(run.stdout);
    t.true(tl.samples.length >= 15 && tl.samples.every((s) => !s.ok && s.status === 'timeout-read'), `${tl.samples.length}: ${JSON.stringify(tl.samples.map((s) => s.status))}`);
    t.true(tl.samples.every((s) => s.latencyMs >= 290 && s.latencyMs < 1000), 'each attempt bounded by --timeout-ms');
    // sent on the grid although each one hangs for 300 ms: many in flight at once (a sequential probe: 1)
    const inFlight = Math.max(...tl.samples.map((a) => tl.samples.filter((b) => b.t <= a.t && b.t + b.latencyMs > a.t).length));
    t.true(inFlight >= 5, `${inFlight} requests in flight at most`);
    t.true(tl.samples.length + tl.samples.reduce((n, s) => n + s.skipped, 0) <= 40, 'never more than the 40 slots');
    t.true(tl.end!.t < 800 + 300 + 800, `ended at ${tl.end!.t} ms`); // the duration, the last timeout, slack for a loaded machine
    t.true(run.wallMs < 30_000, `took ${run.wallMs} ms`); // a hang check (python starts slowly on a loaded machine)

    const killed = await runProbe(['--host', '127.0.0.1', '--port', String(port), '--duration', '30'], (pid) => {
      setTimeout(() => process.kill(pid, 'SIGTERM'), 1000);
    });
    t.is(killed.code, 0, killed.stderr);
    t.is(parseProbeLog(killed.stdout).end?.reason, 'signal');
  } finally {
    for (const s of sockets) s.destroy();
    await stop(hole);
  }
});

test('probe: bad arguments exit 2 with the usage', async (t) => {
  for (const args of [[], ['--host', '127.0.0.1'], ['--host', '127.0.0.1', '--duration', 'x'], ['--host', '127.0.0.1', '--duration', '1', '--bogus', '1']]) {
    const run = await runProbe(args);
    t.is(run.code, 2, args.join(' '));
    t.regex(run.stderr, /usage: probe\.py/);
    t.is(run.stdout, '');
  }
});

test('probe: imports only modules that Debian python3-minimal ships', (t) => {
  const available = new Set(readFileSync(MODULES, 'utf8').split('\n').filter((l) => l && !l.startsWith('#')));
  t.true(available.has('socket') && !available.has('json'), 'the module list is the minimal one');
  const source = readFileSync(PROBE, 'utf8');
  const imported = [...source.matchAll(/^\s*(?:import|from)\s+([A-Za-z_][\w]*)/gm)].map((m) => m[1]!);
  t.true(imported.length >= 5);
  t.deepEqual(imported.filter((m) => !available.has(m)), []);
});
