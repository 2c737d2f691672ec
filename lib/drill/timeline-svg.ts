// The picture of a drill: a self-contained SVG with one lane per run. Time on x (ms since the probe
// started), one row per real server (each request a mark in its server's colour), a red row for
// failed requests, one row per long-lived connection, and vertical lines at the kill, the takeover,
// the restore and the failback; the outage and any split brain are shaded bands.
import { fatesText, fateText, type DrillMetrics } from './analyze.ts';
import { timelineEndMs, type Timeline } from './probe-log.ts';

export interface TimelineRun {
  timeline: Timeline;
  metrics: DrillMetrics;
  /** lane title, e.g. "run 2/5"; default "run N" */
  label?: string;
}

export interface SvgOptions {
  title?: string;
  /** total width in px (default 1200) */
  width?: number;
}

const PALETTE = ['#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#bcbd22', '#7f7f7f'];
const FAIL = '#d62728';
const MARKERS = { kill: '#000000', takeover: '#1f4e9c', restore: '#2a8a2a', failback: '#7b3fa0' } as const;

const ROW = 14;
const LEFT = 130;
const RIGHT = 20;
const LANE_HEAD = 46;
const LANE_GAP = 26;

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : String(n));
const msText = (ms: number) => (Math.abs(ms) >= 10_000 ? `${fmt(ms / 1000, 1)} s` : `${fmt(ms)} ms`);

/** 1-2-5 step giving about `target` ticks over `span`. */
export function tickStep(span: number, target = 10): number {
  if (!(span > 0)) return 1;
  const raw = span / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

/** One-line summary used as a title: mode, outage, theory. */
const resolution = (d: { outageMs: number; resolutionMs: number }) => (d.outageMs > 0 ? ` ±${msText(d.resolutionMs)}` : '');

export function summaryOf(m: DrillMetrics): string {
  const parts = [`mode ${m.mode}`];
  if (!m.valid) parts.push('no data');
  else parts.push(`outage ${msText(m.outageMs)}${resolution(m)}${m.unrecovered ? ' (unrecovered)' : ''}`);
  if (m.theoryMs !== undefined) parts.push(`theory ${msText(m.theoryMs)}${m.ratio !== null ? ` (×${fmt(m.ratio, 2)})` : ''}`);
  if (m.takeoverMs !== undefined) parts.push(`takeover ${msText(m.takeoverMs)}`);
  if (m.splitBrain) parts.push(`split brain ${msText(m.splitBrain.durationMs)}${m.splitBrain.ongoing ? '+' : ''}`);
  if (m.persistent.atEvent) parts.push(`conns failover ${fatesText(m.persistent)}`);
  if (m.failback) parts.push(`failback outage ${msText(m.failback.outageMs)}${resolution(m.failback)}`);
  if (m.failback?.persistent.atEvent) parts.push(`conns failback ${fatesText(m.failback.persistent)}`);
  return parts.join(' · ');
}

export function renderTimelineSvg(runs: TimelineRun | TimelineRun[], options: SvgOptions = {}): string {
  const list = Array.isArray(runs) ? runs : [runs];
  const width = options.width ?? 1200;
  const plotW = width - LEFT - RIGHT;

  // servers across all runs share colours
  const servers = [...new Set(list.flatMap((r) => r.timeline.samples.filter((s) => s.ok).map((s) => s.server ?? '?')))].sort();
  const colour = new Map(servers.map((s, i) => [s, PALETTE[i % PALETTE.length]!]));
  const colourOf = (server?: string) => colour.get(server ?? '?') ?? PALETTE[0]!;

  let tMax = 0;
  for (const r of list) {
    const m = r.metrics;
    tMax = Math.max(tMax, timelineEndMs(r.timeline), m.killAt, m.takeoverAt ?? 0, m.restoreAt ?? 0, m.failback?.takeoverAt ?? 0, m.splitBrain?.to ?? 0);
  }
  if (!(tMax > 0)) tMax = 1000;
  const step = tickStep(tMax);
  tMax = Math.ceil(tMax / step) * step;
  const x = (t: number) => LEFT + (Math.min(Math.max(t, 0), tMax) / tMax) * plotW;
  const inSeconds = tMax >= 5000;
  const tickLabel = (t: number) => (inSeconds ? `${+(t / 1000).toFixed(3)} s` : `${t} ms`);

  const out: string[] = [];
  const title = options.title ?? (list.length === 1 ? `lvsplay drill — ${summaryOf(list[0]!.metrics)}` : `lvsplay drill — ${list.length} runs`);
  let y = 30;
  out.push(`<text x="${LEFT}" y="${y - 8}" font-size="15" font-weight="bold">${escapeXml(title)}</text>`);

  // legend
  let lx = LEFT;
  const legend = (fill: string, text: string, shape: 'rect' | 'line' = 'rect') => {
    out.push(shape === 'rect'
      ? `<rect x="${lx}" y="${y + 2}" width="10" height="10" fill="${fill}"/>`
      : `<line x1="${lx + 5}" y1="${y}" x2="${lx + 5}" y2="${y + 14}" stroke="${fill}" stroke-width="2"/>`);
    out.push(`<text x="${lx + 14}" y="${y + 11}" font-size="11">${escapeXml(text)}</text>`);
    lx += 24 + text.length * 6.5;
  };
  for (const s of servers) legend(colourOf(s), s);
  legend(FAIL, 'failed');
  legend(MARKERS.kill, 'kill', 'line');
  legend(MARKERS.takeover, 'backup MASTER', 'line');
  legend(MARKERS.restore, 'restore', 'line');
  legend(MARKERS.failback, 'failback', 'line');
  y += 26;

  list.forEach((run, index) => {
    const { timeline, metrics: m } = run;
    const label = run.label ?? `run ${index + 1}`;
    const rows = [...servers, 'failed', ...timeline.persistent.map((p) => `conn ${p.id}`)];
    const laneTop = y;
    const plotTop = laneTop + LANE_HEAD;
    const plotBottom = plotTop + rows.length * ROW;
    const rowY = (i: number) => plotTop + i * ROW;

    out.push(`<g class="run" data-run="${index + 1}">`);
    out.push(`<text x="${LEFT}" y="${laneTop + 14}" font-size="12" font-weight="bold">${escapeXml(`${label}: ${summaryOf(m)}`)}</text>`);
    if (m.warnings.length) {
      out.push(`<text x="${LEFT}" y="${laneTop + 27}" font-size="10" fill="#a05000">${escapeXml(`⚠ ${m.warnings.join(' · ')}`.slice(0, 220))}</text>`);
    }
    out.push(`<rect x="${LEFT}" y="${plotTop}" width="${plotW}" height="${plotBottom - plotTop}" fill="#fafafa" stroke="#cccccc"/>`);

    // bands under the marks
    const band = (from: number, to: number, fill: string, opacity: number, text: string, textY: number) => {
      const x1 = x(from);
      const w = Math.max(1, x(to) - x1);
      out.push(`<rect x="${fmt(x1, 1)}" y="${plotTop}" width="${fmt(w, 1)}" height="${plotBottom - plotTop}" fill="${fill}" fill-opacity="${opacity}"/>`);
      out.push(`<text x="${fmt(x1 + 2, 1)}" y="${textY}" font-size="10" fill="${fill}">${escapeXml(text)}</text>`);
    };
    if (m.splitBrain) {
      band(m.splitBrain.from, m.splitBrain.to, '#ff9900', 0.18, `split brain ${msText(m.splitBrain.durationMs)}${m.splitBrain.ongoing ? '+' : ''}`, plotTop - 3);
    }
    for (const d of [m, m.failback]) {
      if (!d || d.outageMs <= 0 || d.firstFailureAt === undefined) continue;
      band(d.firstFailureAt, d.firstFailureAt + d.outageMs, FAIL, 0.12, `outage ${msText(d.outageMs)}${resolution(d)}`, plotTop - 3);
    }

    // row labels and guides
    rows.forEach((name, i) => {
      const cy = rowY(i) + ROW / 2;
      out.push(`<text x="${LEFT - 6}" y="${cy + 4}" font-size="10" text-anchor="end">${escapeXml(name)}</text>`);
      out.push(`<line x1="${LEFT}" y1="${cy}" x2="${LEFT + plotW}" y2="${cy}" stroke="#eeeeee"/>`);
    });

    // requests
    const failRow = servers.length;
    for (const s of timeline.samples) {
      const row = s.ok ? servers.indexOf(s.server ?? '?') : failRow;
      const fill = s.ok ? colourOf(s.server) : FAIL;
      out.push(`<rect x="${fmt(x(s.t) - 1, 1)}" y="${rowY(row) + 2}" width="2" height="${ROW - 4}" fill="${fill}"><title>${escapeXml(`${fmt(s.t, 1)} ms ${s.status}${s.server ? ` ${s.server}` : ''} ${fmt(s.latencyMs, 1)} ms`)}</title></rect>`);
    }

    // long-lived connections: a line while open, dots for answers, a red cross where it broke
    timeline.persistent.forEach((p, i) => {
      const cy = rowY(failRow + 1 + i) + ROW / 2;
      let openAt: number | undefined;
      for (const e of p.events) {
        if (e.ev === 'open') openAt = e.t;
        else if (e.ev === 'ok' || e.ev === 'http') {
          out.push(`<circle cx="${fmt(x(e.t), 1)}" cy="${cy}" r="2" fill="${e.ev === 'ok' ? colourOf(e.server) : FAIL}"/>`);
        } else if (e.ev === 'fail' || e.ev === 'closed' || e.ev === 'connect-fail') {
          const at = e.t + (e.ev === 'fail' ? (e.latencyMs ?? 0) : 0);
          if (openAt !== undefined) {
            out.push(`<line x1="${fmt(x(openAt), 1)}" y1="${cy}" x2="${fmt(x(at), 1)}" y2="${cy}" stroke="#555555" stroke-width="1"/>`);
            openAt = undefined;
          }
          if (e.ev !== 'closed') {
            const cx = x(at);
            out.push(`<path d="M${fmt(cx - 3, 1)} ${cy - 3}L${fmt(cx + 3, 1)} ${cy + 3}M${fmt(cx - 3, 1)} ${cy + 3}L${fmt(cx + 3, 1)} ${cy - 3}" stroke="${FAIL}" stroke-width="1.5"><title>${escapeXml(`${e.ev} ${e.reason ?? ''} at ${fmt(at, 1)} ms`)}</title></path>`);
          }
        }
      }
      if (openAt !== undefined) {
        out.push(`<line x1="${fmt(x(openAt), 1)}" y1="${cy}" x2="${fmt(x(timelineEndMs(timeline)), 1)}" y2="${cy}" stroke="#555555" stroke-width="1"/>`);
      }
      // its fate at each event, in words at the right end of its row
      const fates = ([['failover', m.persistent], ['failback', m.failback?.persistent]] as const).flatMap(([ev, po]) =>
        (po?.connections ?? []).filter((c) => c.id === p.id).map((c) => `${ev} (gen ${c.gen}): ${fateText(c)}`));
      if (fates.length) out.push(`<text x="${LEFT + plotW - 2}" y="${cy - 2}" font-size="9" text-anchor="end" fill="#333333">${escapeXml(fates.join(' · '))}</text>`);
    });

    // event lines on top
    const marker = (t: number | undefined, stroke: string, text: string, dy: number) => {
      if (t === undefined) return;
      const lx1 = fmt(x(t), 1);
      out.push(`<line x1="${lx1}" y1="${plotTop - 2}" x2="${lx1}" y2="${plotBottom + 2}" stroke="${stroke}" stroke-width="1.5" stroke-dasharray="${stroke === MARKERS.kill ? 'none' : '4 2'}"/>`);
      out.push(`<text x="${fmt(x(t) + 3, 1)}" y="${plotBottom + 11 + dy}" font-size="10" fill="${stroke}">${escapeXml(text)}</text>`);
    };
    marker(m.killAt, MARKERS.kill, `kill (${m.mode})`, 0);
    marker(m.takeoverAt, MARKERS.takeover, `backup MASTER +${msText(m.takeoverMs ?? 0)}`, 10);
    marker(m.restoreAt, MARKERS.restore, 'restore', 0);
    marker(m.failback?.takeoverAt, MARKERS.failback, 'failback', 10);

    // time axis
    const axisY = plotBottom + 30;
    out.push(`<line x1="${LEFT}" y1="${axisY}" x2="${LEFT + plotW}" y2="${axisY}" stroke="#333333"/>`);
    for (let t = 0; t <= tMax + step / 2; t += step) {
      const tx = fmt(x(t), 1);
      out.push(`<line x1="${tx}" y1="${axisY}" x2="${tx}" y2="${axisY + 4}" stroke="#333333"/>`);
      out.push(`<text x="${tx}" y="${axisY + 15}" font-size="10" text-anchor="middle">${tickLabel(+t.toFixed(6))}</text>`);
    }
    out.push('</g>');
    y = axisY + 20 + LANE_GAP;
  });
  out.push(`<text x="${LEFT}" y="${y - LANE_GAP + 6}" font-size="10" fill="#666666">time since the probe started (client's monotonic clock)</text>`);

  const height = y;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
