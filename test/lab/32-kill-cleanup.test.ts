// lvs_crash_cleanup on the lab (issue 9, section 3): a SIGKILLed keepalived leaves no split brain.
// With the cleanup (the default) `drill --mode kill` sees the VIP leave the old master at once —
// split brain none, an outage within Master_Down_Interval — and a `systemctl restart keepalived`
// on the MASTER runs the script, which does nothing (a clean end). With it off
// (-e lvs_crash_cleanup=false on the directors) the drill measures the split brain it removes, and
// the same restart, for the README's before/after. Ends converged with the defaults, one VIP holder.
//
// Lab budget (~4 min under TCG): the directors only (playbooks/director.ts), two drill runs, two
// restarts. Figures are logged, not asserted (bench/ holds timings); the assertions are the states.
import test, { type ExecutionContext } from 'ava';
import { sh } from '../../lib/shell.ts';
import type { Timeline } from '../../lib/drill/probe-log.ts';
import type { RunRecord } from '../../lib/drill/types.ts';
import { clusterFromInventory } from '../../lib/lvs/index.ts';
import { CRASH_CLEANUP_DROPIN, CRASH_CLEANUP_TAG, crashCleanupDeployed } from '../../roles/director/crash-cleanup.ts';
import { LAB_INVENTORY, Lab, describeRun, playbook, sleep, startProbe, totals } from '../helpers/lab-cluster.ts';

const OFF = ['-e', 'lvs_crash_cleanup=false'];

let lab: Lab;
let vip: string;
let directors: string[];

test.before(async () => {
  lab = await Lab.open();
  const model = clusterFromInventory(lab.inventory, (h) => h.vars);
  vip = model.vips[0]!;
  directors = model.directors;
});

test.after.always(async () => {
  await lab?.close();
});

async function convergeDirectors(t: ExecutionContext, extra: string[] = []): Promise<void> {
  const r = await playbook('director', LAB_INVENTORY, extra);
  t.is(r.code, 0, describeRun(r));
  t.log(`director.ts ${extra.join(' ')}: ${r.report ? totals(r.report).changed : '?'} changed in ${(r.ms / 1000).toFixed(0)} s`);
}

/** Which directors' systemd runs the cleanup after keepalived stops (the drill's own read). */
async function deployed(): Promise<Record<string, boolean>> {
  return Object.fromEntries(await Promise.all(directors.map(async (d) => [d, (await lab.exec(d, crashCleanupDeployed())).exitCode === 0] as const)));
}

async function oneHolder(t: ExecutionContext): Promise<string> {
  // a failback may still be settling: wait for exactly one holder
  let holders: string[] = [];
  await lab.until(async () => (holders = await lab.holders(vip)).length === 1, 30_000, 500);
  t.is(holders.length, 1, `exactly one director holds ${vip}: ${holders.join(', ') || 'none'}`);
  return holders[0]!;
}

async function drillKill(t: ExecutionContext): Promise<RunRecord> {
  const r = await playbook('drill', LAB_INVENTORY, ['--mode', 'kill']);
  const json = r.report as unknown as { runs: RunRecord[]; failures: Array<{ error: string }> } | undefined;
  // describeRun reads a site report; the drill's JSON is its own
  const tail = [`exit ${r.code} in ${(r.ms / 1000).toFixed(1)} s`, ...(json?.failures.map((f) => `FAILED: ${f.error}`) ?? []), '--- stdout (tail)', ...r.stdout.trim().split('\n').slice(-30), '--- stderr (tail)', ...r.stderr.trim().split('\n').slice(-15)].join('\n');
  t.is(r.code, 0, tail);
  const run = json?.runs[0];
  if (!run) throw new Error(`drill --mode kill: no run in the JSON report\n${tail}`);
  const m = run.metrics;
  t.log(`drill kill (${(r.ms / 1000).toFixed(0)} s): master ${run.master}, outage ${m.outageMs.toFixed(0)} ±${m.resolutionMs.toFixed(0)} ms, ${m.failedRequests} failed, takeover ${m.takeoverMs?.toFixed(0)} ms, theory ${m.theory?.outageMinMs.toFixed(0)}–${m.theory?.outageMaxMs.toFixed(0)} ms (${m.theory?.formula}), split brain ${m.splitBrain ? `${m.splitBrain.durationMs.toFixed(0)} ms` : 'none'}, restored ${run.restored?.ok}`);
  t.true(run.restored?.ok, `the kill's restore left the cluster as found: ${run.restored?.problems.join('; ')}`);
  return run;
}

/** Failure windows in a probe timeline: from the first failed request's send to the first later answer. */
function outages(tl: Timeline): { failed: number; windowsMs: number[] } {
  const windowsMs: number[] = [];
  const s = tl.samples;
  for (let i = 0; i < s.length; i++) {
    if (s[i]!.ok) continue;
    let j = i;
    while (j < s.length && !s[j]!.ok) j++;
    const after = s.slice(j).filter((x) => x.ok).map((x) => x.t + x.latencyMs);
    windowsMs.push((after.length ? Math.min(...after) : s.at(-1)!.t) - s[i]!.t);
    i = j;
  }
  return { failed: s.filter((x) => !x.ok).length, windowsMs };
}

/** `systemctl restart keepalived` on the MASTER under a probe, until it holds the VIP again; what the clients saw and the script's lines. */
async function restartUnderProbe(t: ExecutionContext, label: string): Promise<{ failed: number; windowsMs: number[]; journal: string[] }> {
  const master = await oneHolder(t);
  const since = (await lab.run(master, sh`date +%s`)).trim();
  const probe = await startProbe(lab, 'client', vip, { intervalMs: 20, timeoutMs: 300, maxSeconds: 60 });
  let tl: Timeline;
  try {
    await sleep(1500);
    await lab.run(master, sh`systemctl restart keepalived`, { timeoutMs: 60_000 });
    // the old master preempts back after its down timer; then a moment of service
    const back = await lab.until(async () => (await lab.holders(vip)).join() === master, 30_000, 300);
    t.truthy(back !== undefined, `${label}: ${master} took ${vip} back after the restart`);
    await sleep(1500);
  } finally {
    tl = await probe.stop();
  }
  const journal = (await lab.run(master, sh`journalctl -u keepalived --since ${`@${since}`} -o cat --no-pager | grep -F ${CRASH_CLEANUP_TAG} || true`)).trim().split('\n').filter(Boolean);
  const o = outages(tl);
  t.log(`restart on ${master} (${label}): ${tl.samples.length} requests, ${o.failed} failed, outages ${o.windowsMs.map((w) => `${w.toFixed(0)} ms`).join(' + ') || 'none'}; script: ${journal.join(' | ') || '(no line)'}`);
  return { ...o, journal };
}

test.serial('with lvs_crash_cleanup (default): kill → no split brain, a hard-failure outage; a restart runs the script, which does nothing', async (t) => {
  t.timeout(6 * 60_000);
  if (Object.values(await deployed()).some((x) => !x)) await convergeDirectors(t);
  t.deepEqual(await deployed(), Object.fromEntries(directors.map((d) => [d, true])), 'systemd runs the cleanup on every director');
  await oneHolder(t);

  const run = await drillKill(t);
  const m = run.metrics;
  t.true(run.config.crashCleanup, "the drill's preflight found the cleanup on the master");
  t.is(m.splitBrain, undefined, 'split brain: none');
  t.true(m.outageMs > 0, 'the VIP left the old master at once: the clients saw the takeover gap');
  // the master's VIP watcher: how long after the SIGKILL the cleanup took the VIP away
  const held = run.holds[run.master]?.find((i) => i.from <= run.killAt && (i.to ?? Infinity) >= run.killAt);
  t.log(`the VIP left ${run.master} ${held?.to !== undefined ? `${(held.to - run.killAt).toFixed(0)} ms` : '(not seen)'} after the SIGKILL (±${run.clockErrorMs.toFixed(0)} ms); ${run.backup} took it ${m.takeoverMs?.toFixed(0)} ms after`);
  t.true(m.outageMs <= m.theory!.outageMaxMs + 2 * m.resolutionMs, `outage ${m.outageMs.toFixed(0)} ms ±${m.resolutionMs.toFixed(0)} within Master_Down_Interval ${m.theory!.outageMaxMs.toFixed(0)} ms`);
  const log = (await lab.run(run.master, sh`journalctl -u keepalived -n 60 -o cat --no-pager | grep -F ${CRASH_CLEANUP_TAG} || true`)).trim();
  t.regex(log, /ended without its own cleanup \(SERVICE_RESULT=signal EXIT_CODE=killed EXIT_STATUS=KILL\)/, log);
  t.regex(log, new RegExp(`removed ${vip.replace(/\./g, '\\.')}/32 from `), log);
  t.regex(log, new RegExp(`removed the IPVS service TCP ${vip.replace(/\./g, '\\.')}:80`), log);
  await oneHolder(t);

  const restart = await restartUnderProbe(t, 'with the cleanup');
  t.true(restart.journal.some((l) => /keepalived ended cleanly/.test(l)), `the script ran at the restart's stop and saw a clean end: ${restart.journal.join(' | ')}`);
  t.false(restart.journal.some((l) => /removed|stopped the IPVS/.test(l)), 'and removed nothing');
  await oneHolder(t);
});

test.serial('without it (-e lvs_crash_cleanup=false): kill → split brain (the before figure); the restart without the script', async (t) => {
  t.timeout(6 * 60_000);
  try {
    await convergeDirectors(t, OFF);
    t.deepEqual(await deployed(), Object.fromEntries(directors.map((d) => [d, false])), 'the drop-in and the script are gone from systemd');
    for (const d of directors) t.is((await lab.exec(d, sh`test -e ${CRASH_CLEANUP_DROPIN}`)).exitCode, 1, `${d}: no drop-in`);
    await oneHolder(t);

    const run = await drillKill(t);
    t.falsy(run.config.crashCleanup, "the drill's preflight found no cleanup on the master");
    t.truthy(run.metrics.splitBrain, 'both directors held the VIP after the takeover');
    t.false(run.metrics.splitBrain!.ongoing, "the drill's restore removed the stale VIP");

    const restart = await restartUnderProbe(t, 'without the cleanup');
    t.deepEqual(restart.journal, [], 'no script ran');
  } finally {
    await convergeDirectors(t);
    t.deepEqual(await deployed(), Object.fromEntries(directors.map((d) => [d, true])), 'back to the default: the cleanup on every director');
    await oneHolder(t);
  }
});
