// The status report as text: VIPs and VRRP first (the loudest failures), then one table per
// virtual service (cli-table3), IPVS timeouts and connection table, the sync daemon, the real
// servers, and the verdict. Pure: report in, string out; colour only when asked.
import { Chalk, type ChalkInstance } from 'chalk';
import Table from 'cli-table3';
import type { DirectorView, RealView, ServiceView, StatusReport } from './assess.ts';

/** `HH:MM:SS` (UTC) of an epoch-seconds stamp */
const clockTime = (s: number) => new Date(s * 1000).toISOString().slice(11, 19);

export function age(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function bytesPerSecond(n: number | undefined): string {
  if (n === undefined) return '-';
  if (n < 1000) return `${n} B/s`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB/s`;
  return `${(n / 1e6).toFixed(1)} MB/s`;
}

const since = (at: number | undefined, clock: number | undefined) => (at === undefined ? '' : ` since ${clockTime(at)}${clock ? ` (${age(clock - at)})` : ''}`);

function directorLine(d: DirectorView, c: ChalkInstance, clock?: number): string {
  const state = d.state === 'MASTER' ? c.green.bold(d.state) : d.state === 'BACKUP' ? c.cyan(d.state) : c.red.bold(d.state);
  const prio =
    d.priority !== undefined
      ? `priority ${d.priority}${d.effectivePriority !== undefined && d.effectivePriority !== d.priority ? `, effective ${c.yellow(d.effectivePriority)}` : ` (effective ${d.effectivePriority ?? '?'})`}`
      : `inventory priority ${d.expectedPriority ?? '?'}`;
  return `  ${d.name.padEnd(8)} ${state.padEnd(6)}  ${prio}${since(d.since, clock)}${d.holds ? `  ${c.bold('holds the VIP')}` : ''}`;
}

function checkCell(r: RealView, c: ChalkInstance, clock?: number): string {
  const ch = r.check;
  const head = ch.state === 'up' ? c.green('up') : ch.state === 'down' ? c.red.bold('DOWN') : c.yellow('unknown');
  const lines = [`${head}${since(ch.since, clock)}`];
  if (ch.lastFailure) lines.push(`last failure ${clockTime(ch.lastFailure.at)}: ${ch.lastFailure.text}`);
  return lines.join('\n');
}

function serviceTable(s: ServiceView, c: ChalkInstance): string {
  const table = new Table({
    head: ['real server', 'forward', 'weight', 'ActiveConn', 'InActConn', 'conns', 'conn/s', 'bytes/s in', 'bytes/s out', 'keepalived check'],
    style: { head: [], border: [], compact: true },
    colAligns: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
    wordWrap: true,
    colWidths: [null, null, null, null, null, null, null, null, null, 46],
  });
  for (const r of s.reals) {
    const name = `${r.name} ${r.addr}`;
    if (!s.from) {
      table.push([name, '?', '?', '?', '?', '?', '?', '?', '?', checkCell(r, c, s.clock)]);
      continue;
    }
    if (!r.inIpvs) {
      table.push([c.red.bold(name), c.red.bold('NOT IN IPVS'), '-', '-', '-', '-', '-', '-', '-', checkCell(r, c, s.clock)]);
      continue;
    }
    table.push([name, r.forward ?? '', r.weight ?? '', r.activeConn ?? '', r.inActConn ?? '', r.conns ?? '-', r.cps ?? '-', bytesPerSecond(r.inBps), bytesPerSecond(r.outBps), checkCell(r, c, s.clock)]);
  }
  for (const x of s.extra) table.push([c.yellow(x), { colSpan: 9, content: c.yellow('in IPVS, not in the inventory') }]);
  return table.toString();
}

export function renderStatus(r: StatusReport, opts: { color?: boolean; title?: string } = {}): string {
  const c = new Chalk({ level: opts.color ? 1 : 0 });
  const out: string[] = [];
  out.push(c.bold(`${opts.title ? `${opts.title} — ` : ''}${r.at.replace('T', ' ').slice(0, 19)} UTC, read in ${(r.readMs / 1000).toFixed(1)} s`));

  for (const u of r.unreachable) out.push(c.red.bold(`UNREACHABLE ${u.host}: ${u.error}`));

  for (const v of r.vips) {
    out.push('');
    const clock = r.services.find((s) => s.vip === v.vip)?.clock;
    const head =
      v.verdict === 'split brain'
        ? c.red.bold(`VIP ${v.vip} (${v.instance}): SPLIT BRAIN — held by ${v.holders.join(' AND ')}`)
        : v.verdict === 'no master'
          ? c.red.bold(`VIP ${v.vip} (${v.instance}): NO MASTER — no director holds it`)
          : v.verdict === 'unknown'
            ? c.yellow(`VIP ${v.vip} (${v.instance}): holder unknown — a director could not be read`)
            : `VIP ${v.vip} (${v.instance}): held by ${c.bold(v.holders[0])}`;
    out.push(head);
    for (const d of v.directors) out.push(directorLine(d, c, clock));
  }

  for (const s of r.services) {
    out.push('');
    out.push(`${c.bold(s.key)}  ${s.sched}  ${s.lbKind}  ${s.from ? `(IPVS table of ${s.from})` : c.red('(no director answered)')}`);
    out.push(serviceTable(s, c));
  }

  out.push('');
  const t = r.ipvs.find((i) => i.timeouts)?.timeouts;
  out.push(`IPVS timeouts: ${t ? `tcp ${t.tcp} s, tcpfin ${t.tcpfin} s, udp ${t.udp} s` : 'unknown'}`);
  for (const i of r.ipvs) {
    const states = Object.entries(i.byState).sort((a, b) => b[1] - a[1]).map(([s, n]) => `${s} ${n}`).join(', ');
    out.push(`  ${i.director.padEnd(8)} connection table: ${i.entries} entries${states ? ` (${states})` : ''}${i.size ? `, hash size ${i.size}` : ''}`);
  }
  for (const n of r.notes) out.push(c.dim(`  note: ${n}`));

  out.push('');
  out.push(`IPVS sync${r.sync.senders ? ` (${r.sync.senders})` : ''}: ${r.sync.fed === false ? c.yellow(r.sync.text) : r.sync.text}`);
  for (const d of r.sync.directors) out.push(`  ${d.name.padEnd(8)} ${d.daemons.length ? d.daemons.join(', ') : 'no daemon'}`);

  out.push('');
  out.push('Real servers:');
  for (const rs of r.realservers) {
    if (!rs.reachable) {
      out.push(`  ${rs.name.padEnd(8)} ${c.red('unreachable')}`);
      continue;
    }
    out.push(`  ${rs.name.padEnd(8)} ${rs.checks.map((k) => `${k.ok ? c.green('✔') : c.red('✘')} ${k.what}: ${k.detail}`).join('\n           ')}`);
  }

  out.push('');
  if (r.exitCode === 0) out.push(c.green.bold('HEALTHY'));
  else {
    out.push(c.red.bold(`${r.exitCode === 4 ? 'UNREACHABLE' : 'PROBLEMS'} (${r.problems.length}):`));
    for (const p of r.problems) out.push(c.red(`  ✘ ${p}`));
  }
  return out.join('\n');
}
