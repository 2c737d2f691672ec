// The recap, result lines, JSON report, and the listr2 view (test renderer) fed with runner events.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import test from 'ava';
import { formatDiff, formatFailure, formatRecap, formatResultLine, jsonReport, writeJsonReport } from '../../lib/report.ts';
import type { HostStats, RunEvent, TaskResult } from '../../lib/types.ts';
import { createUi } from '../../lib/ui.ts';

const stats = (s: Partial<HostStats>): HostStats => ({ ok: 0, changed: 0, unreachable: 0, failed: 0, skipped: 0, ...s });

const results: TaskResult[] = [
  { host: 'bal1', play: 'directors', role: 'keepalived', task: 'template keepalived.conf.ejs → /etc/keepalived/keepalived.conf', status: 'changed', summary: 'update 2 lines', diff: '--- a\n+++ b\n@@ -1 +1 @@\n-old\n+new\n', durationMs: 12 },
  { host: 'bal2', play: 'directors', role: 'keepalived', task: 'pkg keepalived', status: 'failed', error: "bal2: `apt-get install -y keepalived` exited 100:\nE: Unable to locate package keepalived", durationMs: 40 },
  { host: 'real1', play: 'realservers', task: 'probe', status: 'failed', ignored: true, error: 'exit 1', durationMs: 3 },
  { host: 'real2', play: 'realservers', task: 'connect', status: 'unreachable', error: 'real2: connect ECONNREFUSED 127.0.0.1:2222', durationMs: 1 },
];

const recapStats = new Map([
  ['bal1', stats({ ok: 5, changed: 2 })],
  ['bal2', stats({ ok: 1, failed: 1 })],
  ['real1', stats({ ok: 3, skipped: 1 })],
  ['real2', stats({ unreachable: 1 })],
]);

test('PLAY RECAP: one aligned line per host, Ansible field order, ignored counted', (t) => {
  t.is(
    formatRecap(recapStats, results, { color: false }),
    [
      `PLAY RECAP ${'*'.repeat(69)}`,
      'bal1                       : ok=5    changed=2    unreachable=0    failed=0    skipped=0    ignored=0',
      'bal2                       : ok=1    changed=0    unreachable=0    failed=1    skipped=0    ignored=0',
      'real1                      : ok=3    changed=0    unreachable=0    failed=0    skipped=1    ignored=1',
      'real2                      : ok=0    changed=0    unreachable=1    failed=0    skipped=0    ignored=0',
    ].join('\n'),
  );
});

test('PLAY RECAP colours like Ansible: failed/unreachable hosts red, changed yellow, clean green', (t) => {
  const text = formatRecap(recapStats, results, { color: true });
  const red = '\u001b[31m';
  const yellow = '\u001b[33m';
  const green = '\u001b[32m';
  t.true(text.includes(`${yellow}bal1`), 'changed host is yellow');
  t.true(text.includes(`${red}bal2`), 'failed host is red');
  t.true(text.includes(`${green}real1`), 'unchanged host is green');
  t.true(text.includes(`${red}real2`), 'unreachable host is red');
  t.true(text.includes(`${red}failed=1`));
  t.false(text.includes(`${red}failed=0`), 'zero counts stay plain');
});

test('result lines: host prefix, status, task; failures carry play › role › task and the error', (t) => {
  t.is(
    formatResultLine(results[0], { color: false }),
    '[bal1] changed: template keepalived.conf.ejs → /etc/keepalived/keepalived.conf (update 2 lines)',
  );
  t.is(
    formatResultLine(results[1], { color: false }),
    "[bal2] failed: directors › keepalived › pkg keepalived\n    bal2: `apt-get install -y keepalived` exited 100:\n    E: Unable to locate package keepalived",
  );
  t.regex(formatResultLine(results[2], { color: false }), /^\[real1\] failed \(ignored\): realservers › probe/);
  t.is(formatResultLine({ ...results[0], handler: true, task: 'reload keepalived', summary: undefined }, { color: false }), '[bal1] changed: handler: reload keepalived');
  t.regex(formatFailure(results[3], { color: false }), /^UNREACHABLE \[real2\] realservers › connect\n {4}real2: connect ECONNREFUSED/);
});

test('diffs are printed whole, coloured by line kind', (t) => {
  t.is(formatDiff(results[0].diff!, { color: false }), '--- a\n+++ b\n@@ -1 +1 @@\n-old\n+new');
  t.true(formatDiff(results[0].diff!, { color: true }).includes('\u001b[32m+new'));
});

test('JSON report: every result and the recap, serialisable', (t) => {
  const startedAt = new Date('2025-01-01T00:00:00Z');
  const report = jsonReport({ stats: recapStats, results, exitCode: 4 }, { check: true, startedAt, durationMs: 1234 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-report-'));
  try {
    const file = path.join(dir, 'run.json');
    writeJsonReport(file, report);
    const back = JSON.parse(fs.readFileSync(file, 'utf8'));
    t.deepEqual(Object.keys(back), ['version', 'exitCode', 'check', 'startedAt', 'durationMs', 'recap', 'results']);
    t.like(back, { version: 1, exitCode: 4, check: true, startedAt: '2025-01-01T00:00:00.000Z', durationMs: 1234 });
    t.deepEqual(back.recap.real1, { ok: 3, changed: 0, unreachable: 0, failed: 0, skipped: 1, ignored: 1 });
    t.is(back.results.length, 4);
    t.deepEqual(back.results[1], results[1]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- the view over events

function events(): RunEvent[] {
  const r = (host: string, task: string, status: TaskResult['status'], extra: Partial<TaskResult> = {}): RunEvent[] => [
    { type: 'task:start', play: 'p', host, task },
    { type: 'task:end', result: { host, play: 'p', task, status, durationMs: 1, ...extra } },
  ];
  return [
    { type: 'play:start', play: 'p', hosts: ['h1', 'h2'] },
    { type: 'batch:start', play: 'p', hosts: ['h1', 'h2'] },
    { type: 'host:start', play: 'p', host: 'h1' },
    { type: 'host:start', play: 'p', host: 'h2' },
    ...r('h1', 'copy → /tmp/x', 'changed', { summary: 'create', diff: '--- /tmp/x\n+++ /tmp/x\n@@ -0,0 +1 @@\n+hello\n' }),
    { type: 'log', host: 'h1', line: '$ cat /tmp/x → 0' },
    ...r('h2', 'copy → /tmp/x', 'failed', { error: 'h2: `cat` exited 1:\nnope' }),
    { type: 'host:end', play: 'p', host: 'h1', failed: false, unreachable: false },
    { type: 'host:end', play: 'p', host: 'h2', failed: true, unreachable: false },
    { type: 'play:end', play: 'p' },
  ];
}

function capture() {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  return { out, text: () => text };
}

test('lines view: one clean line per result, -v logs and --diff diffs', async (t) => {
  const c = capture();
  const ui = createUi({ out: c.out, mode: 'lines', verbose: true, diff: true, color: false });
  for (const e of events()) ui.onEvent(e);
  await ui.done();
  t.is(
    c.text(),
    [
      `PLAY [p] ${'*'.repeat(71)}`,
      '[h1] changed: copy → /tmp/x (create)',
      '--- /tmp/x\n+++ /tmp/x\n@@ -0,0 +1 @@\n+hello',
      '[h1] | $ cat /tmp/x → 0',
      '[h2] failed: p › copy → /tmp/x\n    h2: `cat` exited 1:\n    nope',
      '',
    ].join('\n'),
  );
  const quiet = capture();
  const ui2 = createUi({ out: quiet.out, mode: 'lines', color: false });
  for (const e of events()) ui2.onEvent(e);
  t.false(quiet.text().includes('$ cat'), 'logs only with -v');
  t.false(quiet.text().includes('+hello'), 'diffs only with --diff');
});

test('tree view (listr2 test renderer): one task per host, titles follow the run, failures listed after', async (t) => {
  const c = capture();
  const ui = createUi({ out: c.out, mode: 'test', diff: true, color: false });
  for (const e of events()) ui.onEvent(e);
  await ui.done();
  const text = c.text();
  const logged = text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event: string; data: unknown; task: { path: string[] } });
  const of = (host: string, event: string) => logged.filter((l) => l.task.path[0] === host && l.event === event).map((l) => l.data);
  t.deepEqual(of('h1', 'STATE'), ['STARTED', 'COMPLETED']);
  t.deepEqual(of('h2', 'STATE'), ['STARTED', 'FAILED']);
  t.true(of('h1', 'TITLE').includes('h1: ok=1 changed=1'));
  t.true(of('h2', 'TITLE').includes('h2: failed=1'));
  t.regex(text, /\[h1\] copy → \/tmp\/x\n--- \/tmp\/x/);
  t.regex(text, /FAILED \[h2\] p › copy → \/tmp\/x\n {4}h2: `cat` exited 1:/);
  t.true(text.indexOf('PLAY [p]') < text.indexOf('h1'), 'the play header comes before its tree');
});
