import test from 'ava';
import { analyze } from '../../lib/drill/analyze.ts';
import { parseProbeLog } from '../../lib/drill/probe-log.ts';
import { formatTable, stats, summarize, withinBudget, type TableRun } from '../../lib/drill/table.ts';
import type { DrillConfig } from '../../lib/drill/theory.ts';
import { synthLog } from '../fixtures/drill/synth.ts';

const base = { advertInt: 1, vrrpVersion: 2 as const, backupPriority: 50, masterPriority: 100 };
const fast = { advertInt: 0.1, vrrpVersion: 3 as const, backupPriority: 50, masterPriority: 100 };

/** A run whose outage is exactly `gap` ms (answers arrive at once; two kept connections that survive). */
function run(config: DrillConfig, gap: number, profile: string, extra: Partial<Parameters<typeof analyze>[1]> = {}): TableRun {
  const timeline = parseProbeLog(synthLog({ durationMs: 12_000, latencyMs: 0, down: gap ? [[5000, 5000 + gap]] : [], persistent: [{ id: 0, openAt: 100 }, { id: 1, openAt: 150 }] }));
  return { metrics: analyze(timeline, { killAt: 5000, takeoverAt: 5000 + gap - 100, config, ...extra }), profile };
}

test('stats: min / median / max, median of an even count is the mean of the middle two', (t) => {
  t.deepEqual(stats([3, 1, 2]), { min: 1, median: 2, max: 3, n: 3 });
  t.deepEqual(stats([4, 1, 3, 2]), { min: 1, median: 2.5, max: 4, n: 4 });
  t.deepEqual(stats([5, Number.NaN]), { min: 5, median: 5, max: 5, n: 1 });
  t.is(stats([]), undefined);
});

test('summarize: one row per mode and profile, modes in drill order, invalid runs left out of the figures', (t) => {
  const empty = analyze(parseProbeLog('clock mono_ns=1 epoch_ns=1 err_ns=1\n'), { killAt: 10, config: { ...base, mode: 'link' } });
  const runs: TableRun[] = [
    run({ ...base, mode: 'link' }, 3400, 'default'),
    run({ ...base, mode: 'link' }, 3600, 'default'),
    run({ ...base, mode: 'link' }, 3300, 'default'),
    { metrics: empty, profile: 'default' },
    run({ ...base, mode: 'stop' }, 1100, 'default'),
    run({ ...base, mode: 'kill' }, 0, 'default', { takeoverAt: 8800, splitBrain: { from: 8800, to: 11_000 } }),
    run({ ...fast, mode: 'link' }, 400, 'fast'),
  ];
  const rows = summarize(runs);
  t.deepEqual(rows.map((r) => `${r.profile}/${r.mode}`), ['default/stop', 'default/kill', 'default/link', 'fast/link']);
  const link = rows.find((r) => r.profile === 'default' && r.mode === 'link')!;
  t.is(link.runs, 4);
  t.is(link.invalid, 1);
  t.deepEqual(link.outageMs, { min: 3300, median: 3400, max: 3600, n: 3 });
  t.deepEqual(link.takeoverMs, { min: 3200, median: 3300, max: 3500, n: 3 });
  t.is(link.theoryMs, 3804.6875);
  t.is(link.ratio?.median, 3400 / 3804.6875);
  t.deepEqual(link.failedRequests, { min: 165, median: 170, max: 180, n: 3 });
  t.is(link.resolutionMs, 20, 'the probe interval');
  t.deepEqual(link.conns, { atEvent: 6, survived: 6, cut: 0, stalled: 0 });
  t.deepEqual(link.failbackConns, { atEvent: 0, survived: 0, cut: 0, stalled: 0 });
  const kill = rows.find((r) => r.mode === 'kill')!;
  t.deepEqual(kill.splitBrainMs, { min: 2200, median: 2200, max: 2200, n: 1 });
  t.is(kill.outageMs?.median, 0);
  t.is(rows.find((r) => r.profile === 'fast')!.theoryMs, 380.46875);

  const text = formatTable(rows);
  const lines = text.trimEnd().split('\n');
  t.is(lines.length, 2 + rows.length);
  t.regex(lines[0]!, /^mode\s+profile\s+runs\s+outage ms min\/med\/max/);
  t.regex(text, /link\s+default\s+4 \(1 no data\)\s+3300 \/ 3400 \/ 3600\s+20\.0\s+165 \/ 170 \/ 180\s+3200 \/ 3300 \/ 3500\s+3805\s+0\.87 \/ 0\.89 \/ 0\.95 .*6\/6 survived/);
  t.regex(text, /kill\s+default\s+1\s+0 \/ 0 \/ 0 .* 2200 \/ 2200 \/ 2200/);
  const widths = new Set(lines.slice(2).map((l) => l.indexOf(' default') >= 0 ? l.indexOf(' default') : l.indexOf(' fast')));
  t.is(widths.size, 1, 'columns aligned');

  const md = formatTable(rows, { markdown: true });
  t.regex(md, /^\| mode \| profile \| runs \|/);
  t.regex(md, /\n\| --- \| --- \|/);
  t.is(md.trimEnd().split('\n').length, 2 + rows.length);
});

test('connection fates of both events in the table: survived / cut / stalled, summed over the runs', (t) => {
  const config: DrillConfig = { ...base, mode: 'stop' };
  // run 1: both survive the failover and are cut at the failback; run 2: both survive both
  const cutAtFailback = parseProbeLog(synthLog({
    durationMs: 20_000, down: [[5000, 6000]],
    persistent: [{ id: 0, openAt: 100, breaks: [{ at: 15_010 }] }, { id: 1, openAt: 150, breaks: [{ at: 15_020, reason: 'eof' }] }],
  }));
  const kept = parseProbeLog(synthLog({ durationMs: 20_000, down: [[5000, 6000]], persistent: [{ id: 0, openAt: 100 }, { id: 1, openAt: 150 }] }));
  const at = { killAt: 5000, takeoverAt: 5900, restoreAt: 12_000, failbackAt: 15_000, config };
  const rows = summarize([{ metrics: analyze(cutAtFailback, at) }, { metrics: analyze(kept, at) }]);
  t.deepEqual(rows[0]!.conns, { atEvent: 4, survived: 4, cut: 0, stalled: 0 });
  t.deepEqual(rows[0]!.failbackConns, { atEvent: 4, survived: 2, cut: 2, stalled: 0 });
  const text = formatTable(rows);
  t.regex(text, /4\/4 survived .* 2\/4 survived, 2 cut/);
});

test('budget: every group median within it; a group without data fails', (t) => {
  const rows = summarize([run({ ...fast, mode: 'link' }, 400, 'fast'), run({ ...fast, mode: 'link' }, 900, 'fast'), run({ ...fast, mode: 'link' }, 500, 'fast')]);
  t.true(withinBudget(rows, 500));
  t.false(withinBudget(rows, 499));
  const empty = analyze(parseProbeLog('clock mono_ns=1 epoch_ns=1 err_ns=1\n'), { killAt: 10, config: { ...fast, mode: 'link' } });
  t.false(withinBudget(summarize([{ metrics: empty }]), 10_000));
});
