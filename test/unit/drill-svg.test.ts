import test from 'ava';
import { analyze } from '../../lib/drill/analyze.ts';
import { parseProbeLog } from '../../lib/drill/probe-log.ts';
import type { DrillConfig } from '../../lib/drill/theory.ts';
import { escapeXml, renderTimelineSvg, tickStep } from '../../lib/drill/timeline-svg.ts';
import { synthLog } from '../fixtures/drill/synth.ts';

const config: DrillConfig = { advertInt: 1, vrrpVersion: 2, backupPriority: 50, masterPriority: 100, mode: 'link' };

/** Well-formedness: every tag closed in order, attributes quoted, entities known, one root. */
function checkXml(xml: string): string[] {
  const problems: string[] = [];
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  let roots = 0;
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<|&(?!(?:amp|lt|gt|quot|apos);)/g;
  for (const m of body.matchAll(tag)) {
    if (m[0] === '<') { problems.push(`stray < at ${m.index}`); continue; }
    if (m[0] === '&') { problems.push(`bare & at ${m.index}`); continue; }
    const [, close, name, , selfClose] = m;
    if (close) {
      const open = stack.pop();
      if (open !== name) problems.push(`</${name}> closes <${open}> at ${m.index}`);
    } else {
      if (stack.length === 0) roots++;
      if (!selfClose) stack.push(name!);
    }
  }
  if (stack.length) problems.push(`unclosed: ${stack.join(', ')}`);
  if (roots !== 1) problems.push(`${roots} root elements`);
  return problems;
}

test('one run: well-formed SVG with legend, marks, kill/takeover/restore lines, outage band and title', (t) => {
  const timeline = parseProbeLog(synthLog({
    down: [[5000, 8400]], serversAfter: ['real2'], switchAt: 5000,
    persistent: [{ id: 0, openAt: 100, breakAt: 5100 }, { id: 1, openAt: 100 }],
  }));
  const metrics = analyze(timeline, { killAt: 5000, takeoverAt: 8300, restoreAt: 9000, config });
  const svg = renderTimelineSvg({ timeline, metrics });
  t.deepEqual(checkXml(svg), []);
  t.regex(svg, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.regex(svg, /lvsplay drill — mode link · outage 3402 ms ±20 ms · theory 3805 ms \(×0\.89\) .* conns failover 1\/2 survived, 1 cut/);
  for (const text of ['real1', 'real2', 'failed', 'kill (link)', 'backup MASTER +3300 ms', 'restore', 'outage 3402 ms ±20 ms', 'conn 0', 'conn 1']) {
    t.true(svg.includes(`>${text}<`), text);
  }
  t.is((svg.match(/<rect [^>]*width="2"/g) ?? []).length, timeline.samples.length, 'one mark per request');
  t.is((svg.match(/fill="#d62728"><title>/g) ?? []).length, metrics.failedRequests, 'failures in red');
  t.regex(svg, /stroke="#d62728" stroke-width="1\.5"><title>fail reset/);
  t.regex(svg, />10 s</, 'axis labelled in seconds');
  t.regex(svg, />failover \(gen 1\): cut at 5\.1 s \(reset\) · failback \(gen 2\): survived/, 'each connection\'s fate in words on its row');
  t.regex(svg, />failover \(gen 1\): survived \(stall 3\.\d s\)/);
});

test('several runs, split brain, no data: still well-formed, one lane each', (t) => {
  const a = parseProbeLog(synthLog({ durationMs: 12_000 }));
  const kill = analyze(a, { killAt: 3000, takeoverAt: 6800, restoreAt: 9000, splitBrain: { from: 6800, to: 9000 }, config: { ...config, mode: 'kill' } });
  const empty = parseProbeLog('clock mono_ns=1 epoch_ns=1 err_ns=1\n');
  const none = analyze(empty, { killAt: 10, config });
  const svg = renderTimelineSvg([{ timeline: a, metrics: kill, label: 'kill 1/2' }, { timeline: empty, metrics: none, label: 'A & <B>' }], { title: 'drill "x"' });
  t.deepEqual(checkXml(svg), []);
  t.is((svg.match(/<g class="run"/g) ?? []).length, 2);
  t.true(svg.includes('>split brain 2200 ms<'));
  t.true(svg.includes('A &amp; &lt;B&gt;: mode link · no data'));
  t.true(svg.includes('drill &quot;x&quot;'));
  t.regex(svg, /⚠ the timeline has no requests/);
});

test('helpers: 1-2-5 ticks and XML escaping', (t) => {
  t.is(tickStep(10_000), 1000);
  t.is(tickStep(3420), 500);
  t.is(tickStep(150), 20);
  t.is(tickStep(0), 1);
  t.is(escapeXml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;');
});
