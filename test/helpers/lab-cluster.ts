// Helpers for the end-to-end tests of the cluster on the lab (test/lab/2*.test.ts): run a playbook
// as a user would (a child process, --json report), look at the VMs over SSH (one pooled
// connection per VM), write variants of the inventory, and read IPVS / VRRP / HTTP state.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { parseProbe, probeCommand } from '../../roles/client/verify.ts';
import { parseProbeLog, type Timeline } from '../../lib/drill/probe-log.ts';
import { loadInventory } from '../../lib/inventory.ts';
import type { JsonReport } from '../../lib/report.ts';
import { literal, sh, type Command } from '../../lib/shell.ts';
import { ConnectionPool } from '../../lib/ssh.ts';
import type { Conn, Inventory, TaskResult } from '../../lib/types.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const LAB_INVENTORY = path.resolve(ROOT, process.env.LVSPLAY_LAB_INVENTORY ?? 'inventory/lab.yml');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ChildResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** A local command with a hard time limit; stdout/stderr collected. */
export function runLocal(cmd: string, args: string[], timeoutMs = 15 * 60_000): Promise<ChildResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr, ms: Date.now() - started });
    });
  });
}

export interface PlaybookRun extends ChildResult {
  report?: JsonReport;
}

/** `tsx playbooks/NAME.ts -i INV --json FILE ARGS…` as a child process, the JSON report parsed. */
export async function playbook(name: string, inventory: string, args: string[] = []): Promise<PlaybookRun> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lvsplay-run-'));
  const json = path.join(dir, 'report.json');
  try {
    const r = await runLocal(TSX, [path.join(ROOT, 'playbooks', `${name}.ts`), '-i', inventory, '--json', json, ...args]);
    let report: JsonReport | undefined;
    try {
      report = JSON.parse(readFileSync(json, 'utf8')) as JsonReport;
    } catch {
      report = undefined;
    }
    return { ...r, report };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const totals = (report: JsonReport) =>
  Object.values(report.recap).reduce(
    (t, s) => ({ ok: t.ok + s.ok, changed: t.changed + s.changed, failed: t.failed + s.failed, unreachable: t.unreachable + s.unreachable }),
    { ok: 0, changed: 0, failed: 0, unreachable: 0 },
  );

export const changedResults = (report: JsonReport): TaskResult[] => report.results.filter((r) => r.status === 'changed');
export const failedResults = (report: JsonReport): TaskResult[] => report.results.filter((r) => r.status === 'failed' || r.status === 'unreachable');

/** A short text of a run for assertion messages: exit code, failures, changes, the tail of the output. */
export function describeRun(r: PlaybookRun): string {
  const lines = [`exit ${r.code} in ${(r.ms / 1000).toFixed(1)} s`];
  if (r.report) {
    for (const f of failedResults(r.report)) lines.push(`FAILED [${f.host}] ${f.task}: ${f.error}`);
    for (const c of changedResults(r.report)) lines.push(`changed [${c.host}] ${c.handler ? 'handler: ' : ''}${c.task}${c.summary ? ` (${c.summary})` : ''}`);
  }
  lines.push('--- stdout (tail)', ...r.stdout.trim().split('\n').slice(-25), '--- stderr (tail)', ...r.stderr.trim().split('\n').slice(-15));
  return lines.join('\n');
}

// ---------------------------------------------------------------- the lab itself

/** `tsx lab/lab.ts VERB -i INV ARGS…` */
export const lab = (verb: string, inventory = LAB_INVENTORY, args: string[] = []) =>
  runLocal(TSX, [path.join(ROOT, 'lab/lab.ts'), verb, '-i', inventory, ...args]);

// ---------------------------------------------------------------- inventories

/**
 * A copy of an inventory in a temp directory, paths made absolute (the key and known_hosts are
 * relative to the inventory's directory), changed by `edit` (it gets the parsed YAML).
 */
export function tempInventory(from: string, edit: (doc: any) => void): { file: string; remove(): void } {
  const doc = YAML.parse(readFileSync(from, 'utf8'));
  const vars = (doc.all.vars ??= {});
  for (const key of ['ansible_ssh_private_key_file', 'lvsplay_known_hosts']) {
    if (typeof vars[key] === 'string') vars[key] = path.resolve(path.dirname(from), vars[key].replaceAll('{{ inventory_dir }}', path.dirname(path.resolve(from))));
  }
  edit(doc);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lvsplay-inv-'));
  const file = path.join(dir, path.basename(from));
  writeFileSync(file, YAML.stringify(doc));
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The host entry `name` in an inventory document, whatever group it is in. */
export function hostEntry(doc: any, name: string): Record<string, unknown> {
  for (const g of Object.values<any>(doc.all.children ?? {})) {
    if (g?.hosts && name in g.hosts) return (g.hosts[name] ??= {});
  }
  throw new Error(`no host ${name} in the inventory`);
}

// ---------------------------------------------------------------- SSH to the VMs

/** One connection per VM for the whole test file; `close()` at the end. */
export class Lab {
  readonly pool = new ConnectionPool({ hostKeyChecking: 'strict' });
  private constructor(readonly inventory: Inventory) {}

  static async open(file = LAB_INVENTORY): Promise<Lab> {
    return new Lab(await loadInventory(file));
  }

  names(group: string): string[] {
    return this.inventory.groups.get(group) ?? [];
  }

  lanIp(name: string): string {
    return String(this.inventory.hosts.get(name)!.vars.lan_ip);
  }

  async conn(name: string): Promise<Conn> {
    const host = this.inventory.hosts.get(name);
    if (!host) throw new Error(`no host ${name}`);
    return this.pool.get(host);
  }

  /** Runs a command, returns stdout; throws on a non-zero exit. */
  async run(name: string, cmd: Command | string, opts: { timeoutMs?: number } = {}): Promise<string> {
    const c = await this.conn(name);
    const r = await c.exec(typeof cmd === 'string' ? literal(cmd) : cmd, { timeoutMs: opts.timeoutMs ?? 60_000 });
    return r.stdout;
  }

  async exec(name: string, cmd: Command | string, timeoutMs = 60_000) {
    const c = await this.conn(name);
    return c.exec(typeof cmd === 'string' ? literal(cmd) : cmd, { nothrow: true, timeoutMs });
  }

  /** The directors holding `vip` on any interface but lo (co-located directors keep it there as real servers). */
  async holders(vip: string, directors = this.names('directors')): Promise<string[]> {
    const out = await Promise.all(directors.map(async (d) => ({ d, addrs: await this.run(d, sh`ip -o -4 addr show`).then((a) => a.split('\n').filter((l) => !/^\d+:\s+lo\s/.test(l)).join('\n')) })));
    return out.filter(({ addrs }) => new RegExp(`\\binet ${vip.replace(/\./g, '\\.')}/`).test(addrs)).map(({ d }) => d);
  }

  /** `ipvsadm -Ln` on a director, parsed. */
  async ipvs(director: string): Promise<IpvsService[]> {
    return parseIpvsadm(await this.run(director, sh`ipvsadm -Ln`));
  }

  /** `systemctl show -p MainPID --value` */
  async mainPid(name: string, unit: string): Promise<number> {
    return Number((await this.run(name, sh`systemctl show -p MainPID --value ${unit}`)).trim());
  }

  /** N requests from `client` to `url` (a new connection each), who answered each. */
  async requests(client: string, url: string, n: number, timeoutSeconds = 2) {
    return parseProbe(await this.run(client, probeCommand(url, n, timeoutSeconds), { timeoutMs: n * (timeoutSeconds + 1) * 1000 + 10_000 }));
  }

  /** Polls `probe` every `everyMs` until it returns true or `timeoutMs` passes; the ms it took, or undefined. */
  async until(probe: () => Promise<boolean>, timeoutMs: number, everyMs = 250): Promise<number | undefined> {
    const start = Date.now();
    while (Date.now() - start < timeoutMs) {
      if (await probe().catch(() => false)) return Date.now() - start;
      await sleep(everyMs);
    }
    return undefined;
  }

  close(): Promise<void> {
    return this.pool.closeAll();
  }
}

export interface IpvsService {
  /** `TCP  172.28.128.200:80 rr` → proto TCP, addr 172.28.128.200:80, sched rr */
  proto: string;
  addr: string;
  sched: string;
  reals: { addr: string; forward: string; weight: number }[];
}

/** `ipvsadm -Ln` output → services with their real servers. */
export function parseIpvsadm(out: string): IpvsService[] {
  const services: IpvsService[] = [];
  for (const line of out.split('\n')) {
    const svc = /^(TCP|UDP|FWM)\s+(\S+)\s+(\S+)/.exec(line);
    if (svc) {
      services.push({ proto: svc[1], addr: svc[2], sched: svc[3], reals: [] });
      continue;
    }
    const real = /^\s+->\s+(\d+\.\d+\.\d+\.\d+:\d+)\s+(\S+)\s+(\d+)/.exec(line);
    if (real && services.length) services.at(-1)!.reals.push({ addr: real[1], forward: real[2], weight: Number(real[3]) });
  }
  return services;
}

/** Answers counted per real server (failed requests under `failed`). */
export function countAnswers(answers: { status: number; server?: string }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of answers) {
    const k = a.status === 200 && a.server ? a.server : 'failed';
    counts[k] = (counts[k] ?? 0) + 1;
  }
  return counts;
}

// ---------------------------------------------------------------- a client probe running in the background

export interface RunningProbe {
  /** SIGINT to the probe, then its log parsed */
  stop(): Promise<Timeline>;
}

/**
 * lib/drill/probe.py on `client`, detached (nohup), hitting http://VIP:PORT/ every intervalMs with
 * a new connection; its log stays on the client until stop().
 */
export async function startProbe(lab: Lab, client: string, vip: string, opts: { intervalMs?: number; timeoutMs?: number; maxSeconds?: number; port?: number } = {}): Promise<RunningProbe> {
  const conn = await lab.conn(client);
  const dir = `/tmp/lvsplay-probe-${Date.now()}`;
  await conn.exec(sh`mkdir -p ${dir}`);
  await conn.put(`${dir}/probe.py`, readFileSync(path.join(ROOT, 'lib/drill/probe.py')), { mode: '0755' });
  const args = [
    '--host', vip, '--port', String(opts.port ?? 80), '--duration', String(opts.maxSeconds ?? 300),
    '--interval-ms', String(opts.intervalMs ?? 40), '--timeout-ms', String(opts.timeoutMs ?? 1000), '--persistent', '0',
  ];
  const started = await conn.exec(
    // `cd` apart: `a && b &` would background a subshell holding this channel open, and $! would be its PID.
    sh`cd ${dir} || exit 1; nohup python3 probe.py ${args} >probe.log 2>probe.err </dev/null & echo $!`,
  );
  const pid = Number(started.stdout.trim());
  if (!pid) throw new Error(`probe did not start: ${started.stderr}`);
  return {
    async stop() {
      await conn.exec(sh`kill -INT ${pid} 2>/dev/null; i=0; while kill -0 ${pid} 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done`, { nothrow: true });
      const log = await conn.exec(sh`cat ${`${dir}/probe.log`}`);
      const err = await conn.exec(sh`cat ${`${dir}/probe.err`}; rm -rf ${dir}`, { nothrow: true });
      if (err.stdout.trim()) throw new Error(`probe stderr: ${err.stdout.trim()}`);
      return parseProbeLog(log.stdout, `${client}:${dir}/probe.log`);
    },
  };
}
