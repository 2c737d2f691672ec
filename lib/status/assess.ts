// Pure: what one status round means. The cluster model (from the inventory) says what is expected;
// the observation (one read per host) says what is; the report lists both side by side, with
// every problem named by host or real server. Problems make the exit code 2, an unreachable host 4;
// notes explain without alarming (InActConn in DR, a sync daemon with nothing to sync).
import { interfaceFacts } from '../facts.ts';
import type { IpvsService } from '../facts/ipvs.ts';
import type { CheckEvent } from '../facts/keepalived.ts';
import { hostLanInterface, type ClusterModel, type VirtualService } from '../lvs/index.ts';
import { IPVS_SYNC_UNIT, syncByUnit } from '../lvs/ipvs-sync-unit.ts';
import { arpPlan } from '../../roles/realserver/arp.ts';
import { realserverPlan } from '../../roles/realserver/plan.ts';
import { emptyFacts } from '../runner.ts';
import type { Facts } from '../types.ts';
import type { Observation } from './observe.ts';
import { healthUrls, type DirectorFacts, type RealserverFacts } from './probes.ts';

export const FORWARD_OF = { DR: 'Route', NAT: 'Masq', TUN: 'Tunnel' } as const;

export interface DirectorView {
  name: string;
  /** keepalived's VRRP state of the instance (MASTER, BACKUP, FAULT…), or `down` when keepalived is not running */
  state: string;
  /** keepalived.conf's priority, as keepalived runs it */
  priority?: number;
  effectivePriority?: number;
  /** the priority the inventory gives it */
  expectedPriority?: number;
  /** epoch seconds of the last VRRP transition */
  since?: number;
  /** it has the VIP on an interface */
  holds: boolean;
}

export interface VipView {
  vip: string;
  instance: string;
  holders: string[];
  /** unknown: no holder seen, but a director could not be read */
  verdict: 'ok' | 'split brain' | 'no master' | 'unknown';
  directors: DirectorView[];
}

export interface CheckView {
  state: 'up' | 'down' | 'unknown';
  /** epoch seconds of the last up/down change (or keepalived's start) on the director shown */
  since?: number;
  lastFailure?: { at: number; text: string };
}

export interface RealView {
  name: string;
  addr: string;
  inIpvs: boolean;
  forward?: string;
  weight?: number;
  activeConn?: number;
  inActConn?: number;
  conns?: number;
  cps?: number;
  inBps?: number;
  outBps?: number;
  check: CheckView;
  /** why it is missing from IPVS, or what is odd about it */
  note?: string;
}

export interface ServiceView {
  key: string;
  vip: string;
  port: number;
  protocol: string;
  lbKind: string;
  sched: string;
  /** the director whose IPVS table is shown (the VIP's holder) */
  from?: string;
  /** the director's clock when it was read (epoch s): ages are counted on it */
  clock?: number;
  reals: RealView[];
  /** real servers in IPVS that the inventory does not know */
  extra: string[];
}

export interface IpvsView {
  director: string;
  timeouts?: { tcp: number; tcpfin: number; udp: number };
  /** the connection table's hash size */
  size?: number;
  entries: number;
  byState: Record<string, number>;
}

export interface SyncView {
  enabled: boolean;
  instance?: string;
  /** who sends: lvsplay's sync unit runs both threads on every director; keepalived's daemon only on the MASTER */
  senders?: string;
  directors: { name: string; daemons: string[]; entries: number }[];
  /** the backups' connection tables hold entries while the master has some */
  fed?: boolean;
  text: string;
}

export interface RealserverView {
  name: string;
  reachable: boolean;
  checks: { what: string; ok: boolean; detail: string }[];
}

export interface StatusReport {
  at: string;
  readMs: number;
  exitCode: 0 | 2 | 4;
  problems: string[];
  notes: string[];
  unreachable: { host: string; error: string }[];
  vips: VipView[];
  services: ServiceView[];
  ipvs: IpvsView[];
  sync: SyncView;
  realservers: RealserverView[];
}

const ipOf = (cidr: string) => cidr.split('/')[0];

function lastIndex<T>(xs: T[], pred: (x: T) => boolean): number {
  for (let i = xs.length - 1; i >= 0; i--) if (pred(xs[i])) return i;
  return -1;
}

function factsFromAddresses(host: string, addrs: Record<string, string[]>): Facts {
  return { ...emptyFacts(host), interfaces: interfaceFacts(Object.entries(addrs).map(([d, cs], i) => cs.map((c) => `${i + 1}: ${d}    inet ${c} scope global ${d}`).join('\n')).join('\n'), undefined, '') };
}

/** The directors holding `vip` on an interface other than lo. */
export function holdersOf(vip: string, directors: Record<string, DirectorFacts>): string[] {
  return Object.entries(directors)
    .filter(([, f]) => Object.entries(f.addresses).some(([dev, cidrs]) => dev !== 'lo' && cidrs.some((c) => ipOf(c) === vip)))
    .map(([name]) => name);
}

/**
 * The check's state of one real server on one director: keepalived's checker dump, dated by its journal.
 * `checkAddrs`: where the checks connect, as their failure lines name it (a firewall-mark real server
 * is IP:0 in IPVS, its checks go to their connect_port).
 */
export function checkView(f: DirectorFacts | undefined, vsAddr: string, realAddr: string, checkAddrs: string[] = [realAddr]): CheckView {
  if (!f?.keepalived.running) return { state: 'unknown' };
  const vs = f.keepalived.checker.find((s) => s.addr === vsAddr);
  const rs = vs?.reals.find((r) => r.addr === realAddr);
  const events = f.checkJournal;
  const lastStart = lastIndex(events, (e) => e.kind === 'start');
  const mine = events
    .slice(lastStart + 1)
    .filter((e) => (e.real === realAddr && (!e.vs || e.vs === vsAddr)) || (e.kind === 'failure' && !e.vs && checkAddrs.includes(e.real!)));
  const change = mine[lastIndex(mine, (e) => e.kind === 'up' || e.kind === 'down')];
  const failure = mine[lastIndex(mine, (e) => e.kind === 'failure' || e.kind === 'down')];
  const since = change?.at ?? (lastStart >= 0 ? events[lastStart].at : undefined);
  const state: CheckView['state'] = rs ? (rs.alive ? 'up' : 'down') : change ? (change.kind === 'up' ? 'up' : 'down') : 'unknown';
  const lastFailure = lastFailureOf(mine, failure);
  return { state, ...(since !== undefined ? { since } : {}), ...(lastFailure ? { lastFailure } : {}) };
}

function lastFailureOf(events: CheckEvent[], last: CheckEvent | undefined): CheckView['lastFailure'] {
  if (!last) return undefined;
  // The reason is the failure line just before a removal ("…failed after 1 retries"), not the removal.
  const reason = last.kind === 'down' ? events.filter((e) => e.kind === 'failure' && e.at <= last.at).at(-1) ?? last : last;
  return { at: reason.at, text: reason.text };
}

// co-located clusters use firewall-mark services: `FWM 1` in ipvsadm, `FWM 1` in the checker dump
const expectedKey = (s: VirtualService) => (s.fwmark !== undefined ? `FWM ${s.fwmark}` : `${s.protocol.toUpperCase()} ${s.vip}:${s.port}`);
const checkerKey = (s: VirtualService) => (s.fwmark !== undefined ? `FWM ${s.fwmark}` : `${s.vip}:${s.port}`);
// a firewall-mark service's real servers have no port: ipvsadm and keepalived's dump list them as IP:0
const ipvsRealAddr = (s: VirtualService, ip: string) => `${ip}:${s.fwmark !== undefined ? 0 : s.port}`;
// where the service's checks connect: its port (connect_port on a firewall-mark service), and the node check's
const checkTargets = (s: VirtualService, ip: string) => [`${ip}:${s.port}`, ...(s.nodeCheck ? [`${ip}:${s.nodeCheck.port}`] : [])];

export function assess(model: ClusterModel, obs: Observation): StatusReport {
  const problems: string[] = [];
  const notes: string[] = [];
  const unreachable = Object.values(obs.hosts)
    .filter((h) => !h.ok)
    .map((h) => ({ host: h.host, error: (h as { error: string }).error }));
  for (const u of unreachable) problems.push(`${u.host} unreachable: ${u.error}`);

  const directors: Record<string, DirectorFacts> = {};
  for (const d of model.directors) {
    const h = obs.hosts[d];
    if (h?.ok && h.role !== 'realserver') directors[d] = h.facts;
  }

  for (const [name, f] of Object.entries(directors)) {
    if (!f.keepalived.running) problems.push(`${name}: keepalived is not running (${f.keepalivedUnit}): ${f.keepalived.error}`);
  }

  // ---- VIPs and VRRP
  const vips: VipView[] = model.instances.map((inst) => {
    const holders = holdersOf(inst.vip, directors);
    const views: DirectorView[] = model.directors.map((d) => {
      const f = directors[d];
      const st = f?.keepalived.instances.find((i) => i.name === inst.name);
      return {
        name: d,
        state: !f ? 'unreachable' : !f.keepalived.running ? 'down' : (st?.state ?? 'absent'),
        ...(st?.priority !== undefined ? { priority: st.priority } : {}),
        ...(st?.effectivePriority !== undefined ? { effectivePriority: st.effectivePriority } : {}),
        expectedPriority: inst.priorities[d],
        ...(st?.lastTransition !== undefined ? { since: st.lastTransition } : {}),
        holds: holders.includes(d),
      };
    });
    const allRead = model.directors.every((d) => directors[d]);
    const verdict: VipView['verdict'] = holders.length > 1 ? 'split brain' : holders.length === 1 ? 'ok' : allRead ? 'no master' : 'unknown';
    const describe = (v: DirectorView) => `${v.name} (keepalived ${v.state === 'down' ? 'not running' : v.state})`;
    if (verdict === 'split brain') {
      const masters = views.filter((v) => v.holds && v.state === 'MASTER');
      // two live MASTERs do not hear each other; a dead one left its VIP behind (SIGKILL)
      const why =
        masters.length > 1
          ? ': they do not hear each other\'s adverts (VRRP version, VRID or password differ — "wrong version" etc. in journalctl -u keepalived —, or the link between them is cut)'
          : views.some((v) => v.holds && v.state === 'down')
            ? ': a director whose keepalived died kept its VIP (SIGKILL leaves the address in the kernel)'
            : '';
      problems.push(`SPLIT BRAIN: VIP ${inst.vip} is held by ${holders.length} directors: ${views.filter((v) => v.holds).map(describe).join(' and ')}${why}`);
    }
    if (verdict === 'no master') problems.push(`NO MASTER: no director holds VIP ${inst.vip} (${views.map(describe).join(', ')})`);
    for (const v of views) {
      if (v.state === 'FAULT') problems.push(`${v.name}: ${inst.name} is in FAULT: its interface or a tracked script is down`);
      if (v.state === 'absent') problems.push(`${v.name}: keepalived runs no instance ${inst.name}: the running config is not the inventory's (run site.ts)`);
      if (v.priority !== undefined && v.expectedPriority !== undefined && v.priority !== v.expectedPriority)
        problems.push(`${v.name}: ${inst.name} runs at priority ${v.priority}, the inventory says ${v.expectedPriority} (run site.ts)`);
      if (verdict === 'ok' && v.holds && v.state !== 'MASTER') problems.push(`${v.name} holds VIP ${inst.vip} but keepalived says ${v.state}`);
      if (verdict === 'ok' && !v.holds && v.state === 'MASTER') problems.push(`${v.name}: keepalived says MASTER of ${inst.name} but VIP ${inst.vip} is not on its interfaces`);
    }
    return { vip: inst.vip, instance: inst.name, holders, verdict, directors: views };
  });

  // ---- virtual services: the table of the VIP's holder (keepalived's MASTER first when two hold it)
  const tableOf = (vip: string): string | undefined => {
    const v = vips.find((x) => x.vip === vip);
    const holders = v?.directors.filter((d) => d.holds) ?? [];
    return (holders.find((d) => d.state === 'MASTER') ?? holders[0])?.name ?? model.directors.find((d) => directors[d]?.ipvsTable);
  };
  let inActInDr = false;
  const services: ServiceView[] = model.services.map((s) => {
    const key = expectedKey(s);
    const from = tableOf(s.vip);
    const f = from ? directors[from] : undefined;
    const table: IpvsService | undefined = f?.ipvsTable?.services.find((x) => x.key === key);
    const vsAddr = checkerKey(s);
    // every director's table, not only the one shown: a backup without it blackholes the VIP when it takes over
    for (const [d, df] of Object.entries(directors)) {
      if (df.ipvsTable && !df.ipvsTable.services.some((x) => x.key === key))
        problems.push(`${d}: virtual service ${key} is not in its IPVS table${df.keepalived.running ? " (is keepalived's checker running? its config may differ from the inventory: run site.ts)" : ': keepalived is not running'}`);
    }
    const reals: RealView[] = s.realServers.map((r) => {
      const addr = `${r.ip}:${s.port}`;
      const kernelAddr = ipvsRealAddr(s, r.ip);
      const row = table?.reals.find((x) => x.addr === kernelAddr);
      const stats = f?.ipvsStats.reals[key]?.[kernelAddr];
      const rate = f?.ipvsRate.reals[key]?.[kernelAddr];
      const check = checkView(f, vsAddr, kernelAddr, checkTargets(s, r.ip));
      const view: RealView = {
        name: r.name,
        addr,
        inIpvs: !!row,
        ...(row ? { forward: row.forward, weight: row.weight, activeConn: row.activeConn, inActConn: row.inActConn } : {}),
        ...(stats ? { conns: stats.Conns } : {}),
        ...(rate ? { cps: rate.CPS, inBps: rate.InBPS, outBps: rate.OutBPS } : {}),
        check,
      };
      if (!f || !table) return view;
      if (!row) {
        view.note =
          check.state === 'down'
            ? `keepalived's ${s.check.type} check failed${check.lastFailure ? `: ${check.lastFailure.text}` : ''}`
            : !f.keepalived.running
              ? 'keepalived is not running: nothing maintains the table'
              : check.state === 'unknown'
                ? 'not in the running keepalived.conf: run site.ts'
                : 'keepalived thinks it is up but the kernel table lacks it (ipvsadm edited by hand? restart keepalived)';
        problems.push(`real server ${r.name} (${addr}) is missing from ${key} on ${from}: ${view.note}`);
      } else {
        if (row.forward !== FORWARD_OF[s.lbKind]) problems.push(`${r.name} in ${key} on ${from} is forwarded by ${row.forward}, the inventory says ${s.lbKind}`);
        if (check.state === 'down') problems.push(`real server ${r.name} (${addr}): keepalived's check says down${check.lastFailure ? `: ${check.lastFailure.text}` : ''}`);
        if (row.weight === 0) problems.push(`real server ${r.name} (${addr}) has weight 0 on ${from}: it gets no new connections`);
        if (row.inActConn > 0 && s.lbKind !== 'NAT') inActInDr = true;
      }
      return view;
    });
    const known = new Set(s.realServers.map((r) => ipvsRealAddr(s, r.ip)));
    return {
      key,
      vip: s.vip,
      port: s.port,
      protocol: s.protocol,
      lbKind: s.lbKind,
      sched: table?.sched ?? s.lbAlgo,
      ...(from ? { from } : {}),
      ...(f ? { clock: f.clock } : {}),
      reals,
      extra: (table?.reals ?? []).filter((x) => !known.has(x.addr)).map((x) => x.addr),
    };
  });

  // ---- IPVS timeouts and the connection table
  const ipvs: IpvsView[] = Object.entries(directors).map(([name, f]) => ({
    director: name,
    ...(f.ipvsTimeouts ? { timeouts: f.ipvsTimeouts } : {}),
    ...(f.ipvsTable?.size ? { size: f.ipvsTable.size } : {}),
    entries: Object.values(f.connStates).reduce((a, b) => a + b, 0),
    byState: f.connStates,
  }));
  if (inActInDr) {
    const fin = ipvs.find((i) => i.timeouts)?.timeouts?.tcpfin ?? 120;
    notes.push(
      `InActConn > 0 is normal in DR/TUN: replies go from the real server straight to the client, so the director never sees the server's side of the close; each finished connection stays in IPVS's table (FIN_WAIT) until the tcpfin timeout (${fin} s) expires it, and counts as InActConn meanwhile.`,
    );
  }

  // ---- the IPVS sync daemon
  const sync = syncView(model, vips, directors, problems);

  // ---- real servers
  const realservers: RealserverView[] = model.realservers.map((r) => {
    const h = obs.hosts[r.name];
    if (!h?.ok || h.role === 'director') return { name: r.name, reachable: false, checks: [] };
    const checks = realserverChecks(model, r.name, h.facts);
    for (const c of checks) if (!c.ok) problems.push(`real server ${r.name}: ${c.what}: ${c.detail}`);
    return { name: r.name, reachable: true, checks };
  });

  const exitCode = unreachable.length ? 4 : problems.length ? 2 : 0;
  return { at: obs.at.toISOString(), readMs: obs.ms, exitCode, problems, notes, unreachable, vips, services, ipvs, sync, realservers };
}

function syncView(model: ClusterModel, vips: VipView[], directors: Record<string, DirectorFacts>, problems: string[]): SyncView {
  const list = Object.entries(directors).map(([name, f]) => ({
    name,
    daemons: f.syncDaemons.map((d) => `${d.role}${d.mcast ? ` on ${d.mcast}` : ''}${d.syncid !== undefined ? ` (syncid ${d.syncid})` : ''}`),
    entries: Object.values(f.connStates).reduce((a, b) => a + b, 0),
    roles: f.syncDaemons.map((d) => d.role),
  }));
  const out = list.map(({ roles: _r, ...rest }) => rest);
  if (!model.syncInstance) {
    return { enabled: false, directors: out, text: 'off (lvs_sync_daemon: false): a failover drops open connections' };
  }
  const inst = model.instances.find((i) => i.name === model.syncInstance)!;
  const master = vips.find((v) => v.instance === inst.name)?.directors.find((d) => d.state === 'MASTER')?.name;
  for (const d of list) {
    if (!directors[d.name].keepalived.running) continue;
    const want = d.name === master ? 'master' : 'backup';
    if (!d.roles.includes(want)) problems.push(`${d.name}: no IPVS ${want} sync daemon running (ipvsadm -L --daemon: ${d.daemons.join(', ') || 'none'})`);
  }
  const sender = list.find((d) => d.name === master);
  const backups = list.filter((d) => d.name !== master);
  let fed: boolean | undefined;
  let text: string;
  if (!sender) text = `${inst.name} has no MASTER: nobody sends`;
  else if (!sender.entries) text = `${sender.name} sends (master), ${backups.map((b) => b.name).join(', ') || 'nobody'} receive${backups.length === 1 ? 's' : ''}: nothing to sync (${sender.name}'s connection table is empty)`;
  else {
    fed = backups.length > 0 && backups.every((b) => b.entries > 0);
    text = `${sender.name} sends (master, ${sender.entries} entries); ${backups.map((b) => `${b.name} holds ${b.entries}`).join(', ')}: ${fed ? 'the backup table is fed' : 'NOT fed: a failover now drops open connections'}`;
  }
  const senders = syncByUnit(model) ? `every director sends its own connections, ${IPVS_SYNC_UNIT}` : `the MASTER of ${inst.name} sends, keepalived's lvs_sync_daemon`;
  return { enabled: true, instance: inst.name, senders, directors: out, ...(fed !== undefined ? { fed } : {}), text };
}

/** What a real server must look like for its role in the cluster, checked one item at a time. */
export function realserverChecks(model: ClusterModel, name: string, f: RealserverFacts): RealserverView['checks'] {
  const checks: RealserverView['checks'] = [];
  const facts = factsFromAddresses(name, f.addresses);
  let plan;
  try {
    plan = realserverPlan(model, name, facts);
  } catch (err) {
    return [{ what: 'LAN interface', ok: false, detail: (err as Error).message }];
  }
  const has = (dev: string, vip: string) => (f.addresses[dev] ?? []).some((c) => ipOf(c) === vip);
  for (const vip of plan.loVips) checks.push({ what: `VIP ${vip} on lo`, ok: has('lo', vip), detail: has('lo', vip) ? 'present' : 'missing: this real server drops the director\'s packets for the VIP' });
  for (const vip of plan.tunnelVips) checks.push({ what: `VIP ${vip} on tunl0`, ok: has('tunl0', vip), detail: has('tunl0', vip) ? 'present' : 'missing: decapsulated packets are dropped' });
  if (plan.arpSysctls) {
    const lan = hostLanInterface(model, name, facts);
    // the kernel uses the higher of conf/all and conf/<dev>: right whichever of the two lvs_arp_scope sets
    const eff = (k: string) => Math.max(f.arp.all?.[k] ?? 0, f.arp[lan]?.[k] ?? 0);
    const ignore = eff('arp_ignore');
    const announce = eff('arp_announce');
    const ok = ignore >= 1 && announce === 2;
    checks.push({ what: `arp sysctls (${lan})`, ok, detail: `arp_ignore ${ignore}, arp_announce ${announce}${ok ? '' : ` — want arp_ignore 1 and arp_announce 2, or this host answers ARP for the VIP and steals it (lvs_arp_scope ${model.arpScope}: lvsplay sets ${arpPlan(model.arpScope, lan).set.join(' and ')}; run site.ts)`}` });
  }
  if (plan.tunnelVips.length) {
    const rp = Math.max(f.arp.all?.rp_filter ?? 0, f.arp.tunl0?.rp_filter ?? 0);
    checks.push({ what: 'rp_filter on tunl0', ok: rp !== 1, detail: `${rp}${rp === 1 ? ' (strict: drops decapsulated packets; want 2)' : ''}` });
  }
  if (plan.nat) {
    for (const route of plan.nat.routes) {
      const via = f.routes[route];
      checks.push({ what: `route ${route}`, ok: via === plan.nat.gateway, detail: via ? `via ${via}${via === plan.nat.gateway ? '' : ` — want via ${plan.nat.gateway} (the MASTER's NAT gateway)`}` : `missing — want via ${plan.nat.gateway}` });
    }
  }
  checks.push({ what: 'nginx', ok: f.nginxUnit === 'active', detail: f.nginxUnit });
  healthUrls(model).forEach((h, i) => {
    const a = (f as Record<string, { status: number; error?: string }>)[`http${i}`];
    const ok = !!a && (h.status !== undefined ? a.status === h.status : a.status > 0);
    checks.push({ what: `GET ${h.url}`, ok, detail: a ? (a.status ? String(a.status) : (a.error ?? 'no answer')) : 'not read' });
  });
  return checks;
}
