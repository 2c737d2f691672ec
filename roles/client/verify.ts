// lvs_verify: from the client, N requests to each virtual service, then a pure check of who
// answered against the scheduler and the weights. Read-only, so it runs in --check mode too;
// it never reports a change, and fails the task when the cluster does not serve as configured.
import { defineModule } from '../../lib/module.ts';
import { sh, type Command } from '../../lib/shell.ts';
import type { LbAlgo } from '../../lib/lvs/schema.ts';
import type { ModuleContext } from '../../lib/types.ts';

export interface VerifyTarget {
  vip: string;
  port: number;
  lbAlgo: LbAlgo;
  /** persistence_timeout set: one client sticks to one real server */
  persistent: boolean;
  /** HTTPS (the real servers' self-signed certificates: not verified) */
  tls?: boolean;
}

export interface VerifyArgs {
  targets: VerifyTarget[];
  /** the real servers expected to answer (the healthy ones), with their IPVS weights */
  servers: { name: string; weight: number }[];
  /** per target (default 20) */
  requests?: number;
  /** allowed deviation from the expected count per server, rr/wrr (default 1) */
  tolerance?: number;
  /** per request, seconds (default 2) */
  timeoutSeconds?: number;
  /** default / */
  path?: string;
  /**
   * seconds to wait for a cluster that is still settling: a converge that restarted keepalived
   * leaves the VIPs unheld until VRRP elects, and the real servers out of IPVS until their first
   * check passes. The whole round is tried again, a second apart, until it passes or this has
   * passed; then its problems are the task's error. Default 0 (one round).
   */
  settleSeconds?: number;
}

export interface Answer {
  seq: number;
  /** HTTP status, 0 when the request failed */
  status: number;
  /** the `served-by:` token of the body */
  server?: string;
}

/** Ends each request's output: the body comes before it, on lines of its own. */
const END = 'lvsplay-req';

/**
 * ONE curl process for all the requests (starting curl costs far more than a request under
 * emulation): the URL N times (-k: the real servers' certificates are self-signed), `Connection: close` so that each request gets a new connection
 * (IPVS schedules connections, not requests), -m per request, and after each one a line
 * `lvsplay-req code=<status>` (000 when it failed; curl goes on with the next URL).
 */
export function probeCommand(url: string, requests: number, timeoutSeconds: number): Command {
  if (!Number.isInteger(requests) || requests < 1) throw new Error(`lvs_verify: requests must be a positive integer, got ${requests}`);
  return sh`curl -s -k -g -m ${timeoutSeconds} -H ${'Connection: close'} -w ${`\\n${END} code=%{http_code}\\n`} ${Array<string>(requests).fill(url)}`;
}

/** probeCommand's output → one answer per request, in order. */
export function parseProbe(stdout: string): Answer[] {
  const answers: Answer[] = [];
  const end = new RegExp(`^${END} code=(\\d{3})$`, 'gm');
  let from = 0;
  for (let m = end.exec(stdout); m; m = end.exec(stdout)) {
    const body = stdout.slice(from, m.index);
    from = end.lastIndex;
    const server = /served-by:\s*([A-Za-z0-9._-]+)/i.exec(body);
    answers.push({ seq: answers.length + 1, status: Number(m[1]), ...(server ? { server: server[1] } : {}) });
  }
  return answers;
}

export interface SplitVerdict {
  counts: Record<string, number>;
  failed: number;
  /** empty: the split is as configured */
  problems: string[];
}

const HASHING: LbAlgo[] = ['sh', 'dh', 'mh'];

/**
 * Pure: do the answers match what the scheduler promises?
 * - every request answered 200 by a known real server;
 * - rr: an equal share to every server of weight > 0 (rr ignores other weights); wrr: shares in
 *   proportion to the weights; both within ±tolerance;
 * - sh/dh/mh or persistence: one client, one real server — all answers from the same one;
 * - lc/wlc/sed/nq: no exact split promised, but every server of weight > 0 answered.
 */
export function checkSplit(
  answers: Answer[],
  servers: { name: string; weight: number }[],
  algo: LbAlgo,
  opts: { persistent?: boolean; tolerance?: number; requests?: number } = {},
): SplitVerdict {
  const tolerance = opts.tolerance ?? 1;
  const problems: string[] = [];
  const counts: Record<string, number> = Object.fromEntries(servers.map((s) => [s.name, 0]));
  const failedCodes: Record<string, number> = {};
  let failed = 0;
  for (const a of answers) {
    if (a.status !== 200 || !a.server) {
      failed++;
      const why = a.status === 0 ? 'no answer' : a.server ? `HTTP ${a.status}` : `HTTP ${a.status} without served-by`;
      failedCodes[why] = (failedCodes[why] ?? 0) + 1;
      continue;
    }
    counts[a.server] = (counts[a.server] ?? 0) + 1;
  }
  const unexpected = Object.keys(counts).filter((name) => !servers.some((s) => s.name === name));
  for (const name of unexpected) {
    problems.push(`${name} answered ${counts[name]} requests but is not an expected real server (${servers.map((s) => s.name).join(', ')})`);
  }
  if (opts.requests !== undefined && answers.length !== opts.requests) problems.push(`${answers.length} of ${opts.requests} requests were made`);
  if (failed) {
    problems.push(`${failed} of ${answers.length} requests failed (${Object.entries(failedCodes).map(([k, v]) => `${k} ×${v}`).join(', ')})`);
  }
  for (const s of servers.filter((x) => x.weight === 0)) {
    if (counts[s.name]) problems.push(`${s.name} has weight 0 but answered ${counts[s.name]} requests`);
  }
  // Once unexpected servers answer, the split over the expected ones means nothing.
  const split = unexpected.length ? undefined : splitProblem(counts, servers.filter((s) => s.weight > 0), algo, answers.length - failed, tolerance, opts.persistent);
  if (split) problems.push(split);
  return { counts, failed, problems };
}

function splitProblem(
  counts: Record<string, number>,
  active: { name: string; weight: number }[],
  algo: LbAlgo,
  ok: number,
  tolerance: number,
  persistent?: boolean,
): string | undefined {
  const shown = Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ');
  if (HASHING.includes(algo) || persistent) {
    const answering = Object.values(counts).filter((v) => v > 0);
    if (answering.length > 1) return `${persistent ? 'persistent service' : `${algo} hashes the client`}: one client should stick to one real server, got ${shown}`;
    return undefined;
  }
  if (algo === 'rr' || algo === 'wrr') {
    const share = (s: { weight: number }) => (algo === 'rr' ? 1 : s.weight);
    const total = active.reduce((n, s) => n + share(s), 0);
    const expected = (s: { weight: number }) => (ok * share(s)) / total;
    if (active.every((s) => Math.abs(counts[s.name] - expected(s)) <= tolerance + 1e-9)) return undefined;
    const want = active.map((s) => `${s.name} ${Number(expected(s).toFixed(2))}`).join(', ');
    return `${algo} split ${shown} does not match the weights: expected ${want} (±${tolerance})`;
  }
  const silent = active.filter((s) => !counts[s.name]);
  if (silent.length && ok >= active.length) return `${silent.map((s) => s.name).join(', ')} never answered (${shown})`;
  return undefined;
}

/** One request burst to every target; what was wrong with it and a line per target for the log. */
async function verifyRound(ctx: ModuleContext, args: VerifyArgs): Promise<{ problems: string[]; lines: string[] }> {
  const requests = args.requests ?? 20;
  const timeout = args.timeoutSeconds ?? 2;
  const problems: string[] = [];
  const lines: string[] = [];
  for (const t of args.targets) {
    const url = `${t.tls ? 'https' : 'http'}://${t.vip}:${t.port}${args.path ?? '/'}`;
    const r = await ctx.conn.exec(probeCommand(url, requests, timeout), { nothrow: true, timeoutMs: requests * (timeout + 1) * 1000 + 10_000, signal: ctx.signal });
    const answers = parseProbe(r.stdout);
    // curl's exit code is the last request's: a failed request is counted by checkSplit; no
    // answer at all means curl itself could not run.
    if (!answers.length) {
      problems.push(`${url}: curl exited ${r.exitCode} without a result: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`);
      continue;
    }
    const v = checkSplit(answers, args.servers, t.lbAlgo, { persistent: t.persistent, tolerance: args.tolerance, requests });
    lines.push(`${url} (${t.lbAlgo}): ${Object.entries(v.counts).map(([k, n]) => `${k} ${n}`).join(', ')}${v.failed ? `, failed ${v.failed}` : ''}`);
    problems.push(...v.problems.map((p) => `${url}: ${p}`));
  }
  return { problems, lines };
}

export const verify = defineModule<VerifyArgs>({
  name: 'lvs_verify',
  async plan(ctx, args) {
    const settle = args.settleSeconds ?? 0;
    if (!Number.isFinite(settle) || settle < 0) throw new Error(`lvs_verify: settle seconds must be a number ≥ 0, got ${args.settleSeconds}`);
    const started = Date.now();
    const deadline = started + settle * 1000;
    for (let round = 1; ; round++) {
      const { problems, lines } = await verifyRound(ctx, args);
      if (!problems.length || Date.now() >= deadline) {
        for (const line of lines) ctx.log(line);
        const waited = round > 1 ? ` after ${((Date.now() - started) / 1000).toFixed(1)} s (${round} rounds)` : '';
        if (problems.length) throw new Error(`lvs_verify: ${problems.join('\n')}${waited ? `\n(still so${waited})` : ''}`);
        if (waited) ctx.log(`settled${waited}`);
        return null;
      }
      await new Promise((res) => setTimeout(res, 1000));
    }
  },
  async apply() {
    // plan() never returns a change
  },
});
