// lvs_vrrp_unicast on the lab, where VRRP multicast is made to fail as clouds and many switches make
// it fail: an nftables rule on both directors' LAN interface drops IP protocol 112 to 224.0.0.18, in
// and out (kept across the drill's power cut by a small oneshot unit, so the failback runs under it
// too). Then:
//   multicast VRRP: the backup stops hearing the MASTER and takes the VIP too — both hold it, and the
//     drill's preflight refuses with "split brain" (non-zero exit) before it breaks anything;
//   unicast VRRP (director play with -e lvs_vrrp_unicast=true, a restart of keepalived on each): the
//     adverts go director to director (tcpdump sees them), one director holds the VIP, and
//     `drill --mode poweroff` measures an ordinary failover and failback.
// Always at the end: the rule and its unit removed, nftables purged if this test installed it, the
// directors converged back to multicast, exactly one VIP holder. Starts from the converged lab (any
// profile test before it leaves it converged); touches only the directors (~4–5 min under TCG).
import test, { type ExecutionContext } from 'ava';
import type { TableRow } from '../../lib/drill/table.ts';
import type { RunRecord } from '../../lib/drill/types.ts';
import { clusterFromInventory } from '../../lib/lvs/index.ts';
import { sh } from '../../lib/shell.ts';
import { LAB_INVENTORY, Lab, changedResults, describeRun, playbook, sleep, type PlaybookRun } from '../helpers/lab-cluster.ts';

interface DrillJson {
  runs: RunRecord[];
  table: TableRow[];
  failures: Array<{ label: { mode: string; index: number }; error: string }>;
}

const TABLE = 'lvsplay_vrrp_block';
const UNIT = 'lvsplay-vrrp-block.service';
const RULES = '/etc/lvsplay-vrrp-block.nft';
const VRRP_GROUP = '224.0.0.18';

const ruleset = (dev: string) => `# lvsplay lab test (test/lab/22-unicast.test.ts): VRRP multicast dropped on ${dev}, in and out
table ip ${TABLE}
delete table ip ${TABLE}
table ip ${TABLE} {
	chain input {
		type filter hook input priority -10; policy accept;
		iifname "${dev}" ip daddr ${VRRP_GROUP} ip protocol 112 counter drop
	}
	chain output {
		type filter hook output priority -10; policy accept;
		oifname "${dev}" ip daddr ${VRRP_GROUP} ip protocol 112 counter drop
	}
}
`;

// before keepalived at boot: the director the drill powers off comes back still deaf to multicast
const unit = `[Unit]
Description=lvsplay lab test: drop VRRP multicast (test/lab/22-unicast.test.ts)
Before=keepalived.service
After=nftables.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f ${RULES}
ExecStop=/usr/sbin/nft delete table ip ${TABLE}

[Install]
WantedBy=multi-user.target
`;

const describeDrillRun = (r: PlaybookRun) =>
  [`exit ${r.code} in ${(r.ms / 1000).toFixed(1)} s`, '--- stdout (tail)', ...r.stdout.trim().split('\n').slice(-25), '--- stderr (tail)', ...r.stderr.trim().split('\n').slice(-10)].join('\n');

/** The packages dpkg has installed on `host`. */
async function installed(lab: Lab, host: string): Promise<Set<string>> {
  const out = await lab.run(host, sh`dpkg-query -W -f ${'${db:Status-Abbrev} ${Package}\\n'}`);
  return new Set(out.split('\n').filter((l) => l.startsWith('ii ')).map((l) => l.split(/\s+/)[1]!));
}

/** The interface holding `ip` on `host`. */
async function interfaceOf(lab: Lab, host: string, ip: string): Promise<string> {
  const out = await lab.run(host, sh`ip -o -4 addr show`);
  const dev = out.split('\n').find((l) => l.includes(` inet ${ip}/`))?.split(/\s+/)[1];
  if (!dev) throw new Error(`${host}: no interface holds ${ip}`);
  return dev;
}

/** Packets each rule dropped so far: { input, output }. */
async function drops(lab: Lab, host: string): Promise<{ input: number; output: number }> {
  const out = await lab.run(host, sh`nft list table ip ${TABLE}`);
  const counter = (chain: string) => Number(new RegExp(`chain ${chain} {[^}]*?counter packets (\\d+)`, 's').exec(out)?.[1] ?? NaN);
  return { input: counter('input'), output: counter('output') };
}

const unblock = (lab: Lab, host: string) =>
  lab.exec(host, sh`systemctl disable --now ${UNIT} 2>/dev/null; rm -f ${`/etc/systemd/system/${UNIT}`} ${RULES}; systemctl daemon-reload; command -v nft >/dev/null && nft delete table ip ${TABLE} 2>/dev/null; true`, 60_000);

async function converge(t: ExecutionContext, args: string[]): Promise<PlaybookRun> {
  const r = await playbook('director', LAB_INVENTORY, args);
  t.log(`director play ${args.join(' ') || '(multicast)'}: exit ${r.code} in ${(r.ms / 1000).toFixed(0)} s, restarted keepalived on ${restartedOn(r).join(', ') || 'none'}`);
  return r;
}

const restartedOn = (r: PlaybookRun) => (r.report ? changedResults(r.report).filter((c) => c.task === 'restart keepalived').map((c) => c.host).sort() : []);

test.serial('multicast blocked between the directors: multicast VRRP splits the brain (the drill refuses), unicast VRRP holds the election and fails over normally', async (t) => {
  t.timeout(20 * 60_000);
  const lab = await Lab.open();
  const model = clusterFromInventory(lab.inventory, (h) => h.vars);
  const vip = model.vips[0]!;
  const directors = model.directors;
  const priorities = model.instances.find((i) => i.vip === vip)!.priorities;
  const master = Object.entries(priorities).sort((a, b) => b[1] - a[1])[0]![0];
  const ours = new Map<string, string[]>(); // director → the packages this test installed there
  const holdsOne = async () => (await lab.holders(vip)).length === 1;
  try {
    await Promise.all(directors.map((d) => unblock(lab, d))); // a leftover of an interrupted run
    // the converge 30-drill would do (a no-op on 20-site's converged lab; a fresh one when this
    // file runs alone); then the MASTER holds the VIP once its preempt_delay has run
    const site = await playbook('site', LAB_INVENTORY);
    t.log(`site: exit ${site.code} in ${(site.ms / 1000).toFixed(0)} s`);
    t.is(site.code, 0, describeRun(site));
    for (let i = 0; i < 30 && (await lab.holders(vip)).join() !== master; i++) await sleep(1000);
    t.deepEqual(await lab.holders(vip), [master], `the lab starts converged: ${master} alone holds ${vip}`);

    // ------------------------------------------------------------ block VRRP multicast
    await Promise.all(
      directors.map(async (d) => {
        const before = await installed(lab, d);
        if (!before.has('nftables')) {
          await lab.run(d, sh`DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nftables`, { timeoutMs: 300_000 });
          ours.set(d, [...(await installed(lab, d))].filter((p) => !before.has(p)));
        }
        const c = await lab.conn(d);
        await c.put(RULES, ruleset(await interfaceOf(lab, d, model.hosts[d]!.lan_ip!)), { mode: '0644' });
        await c.put(`/etc/systemd/system/${UNIT}`, unit, { mode: '0644' });
        await lab.run(d, sh`systemctl daemon-reload && systemctl enable --now ${UNIT} && nft list table ip ${TABLE} >/dev/null`);
      }),
    );
    t.log(`nftables installed by this test: ${[...ours].map(([d, p]) => `${d}: ${p.join(' ')}`).join('; ') || 'none (already there)'}`);

    // ------------------------------------------------------------ multicast VRRP: both MASTER
    const split = await lab.until(async () => (await lab.holders(vip)).length === directors.length, 30_000, 250);
    t.log(`multicast VRRP, multicast blocked: every director holds ${vip} after ${split} ms`);
    t.truthy(split !== undefined, `both directors hold the VIP (holders: ${(await lab.holders(vip)).join(', ')})`);
    const refused = await playbook('drill', LAB_INVENTORY, ['--mode', 'poweroff']);
    const said = `${refused.stdout}\n${refused.stderr}`;
    t.log(`drill --mode poweroff (multicast): exit ${refused.code} in ${(refused.ms / 1000).toFixed(1)} s: ${said.split('\n').find((l) => /split brain/i.test(l))?.trim()}`);
    t.not(refused.code, 0, describeDrillRun(refused));
    t.regex(said, /split brain/i, describeDrillRun(refused));
    t.deepEqual((await lab.holders(vip)).sort(), [...directors].sort(), 'the preflight broke nothing: both still hold the VIP');

    // ------------------------------------------------------------ unicast VRRP
    const uni = await converge(t, ['-e', 'lvs_vrrp_unicast=true']);
    t.is(uni.code, 0, describeRun(uni));
    t.deepEqual(restartedOn(uni), [...directors].sort(), 'the switch of transport restarts keepalived on every director');
    for (const d of directors) {
      const conf = await lab.run(d, sh`cat /etc/keepalived/keepalived.conf`);
      t.regex(conf, new RegExp(`^\\s*unicast_src_ip ${model.hosts[d]!.lan_ip!.replace(/\./g, '\\.')}$`, 'm'), `${d}: keepalived.conf sends from its lan_ip`);
    }
    const held = await lab.until(holdsOne, 30_000, 250);
    t.truthy(held !== undefined, `one holder (holders: ${(await lab.holders(vip)).join(', ')})`);
    t.deepEqual(await lab.holders(vip), [master], `unicast VRRP: the election holds, ${master} (highest priority) alone holds ${vip}`);
    // the adverts on the wire: from the MASTER to each backup's own address, none to the group
    const backup = directors.find((d) => d !== master)!;
    const wire = await lab.run(backup, sh`timeout 10 tcpdump -l -n -i ${await interfaceOf(lab, backup, model.hosts[backup]!.lan_ip!)} -c 3 'ip proto 112' 2>/dev/null; true`, { timeoutMs: 30_000 });
    const adverts = wire.trim().split('\n').filter((l) => /VRRP/.test(l));
    t.log(`on ${backup}'s LAN interface:\n${adverts.join('\n')}`);
    t.true(adverts.length >= 2, 'adverts seen');
    t.true(adverts.every((l) => l.includes(`${model.hosts[master]!.lan_ip} > ${model.hosts[backup]!.lan_ip}:`)), `every advert unicast from ${master} to ${backup}`);
    const dropped = Object.fromEntries(await Promise.all(directors.map(async (d) => [d, await drops(lab, d)] as const)));
    t.log(`multicast VRRP dropped by the rule (packets in/out): ${directors.map((d) => `${d} ${dropped[d]!.input}/${dropped[d]!.output}`).join(', ')}`);
    t.true(dropped[master]!.output > 0 && dropped[backup]!.output > 0, 'the rule dropped both directors\' multicast adverts');

    const drill = await playbook('drill', LAB_INVENTORY, ['--mode', 'poweroff', '--runs', '1', '-e', 'lvs_vrrp_unicast=true']);
    await lab.close(); // the master was powered off and booted again: its pooled connection is gone (the next use reconnects)
    const json = drill.report as unknown as DrillJson | undefined;
    const run = json?.runs[0];
    const m = run?.metrics;
    t.log(
      `drill --mode poweroff --runs 1 -e lvs_vrrp_unicast=true: exit ${drill.code} in ${(drill.ms / 1000).toFixed(0)} s; ` +
        (m
          ? `outage ${m.outageMs.toFixed(0)} ±${m.resolutionMs.toFixed(0)} ms, theory ${m.theory?.theoryMs.toFixed(0)} ms (ratio ${m.ratio?.toFixed(2)}), takeover ${m.takeoverMs?.toFixed(0)} ms, failed requests ${m.failedRequests}, split brain ${m.splitBrain ? `${m.splitBrain.durationMs.toFixed(0)} ms` : 'none'}, failback outage ${m.failback?.outageMs.toFixed(0)} ms, restored ${run!.restored?.ok}`
          : '(no run)'),
    );
    t.is(drill.code, 0, `${describeDrillRun(drill)}\n${json?.failures.map((f) => f.error).join('\n') ?? ''}`);
    if (!run || !m) return t.fail('the drill reported no run');
    t.is(run.master, master);
    t.true(m.valid, "the probe's timeline has data");
    t.falsy(m.splitBrain, 'no split brain: the old master was off, the backup alone took the VIP');
    t.truthy(m.theory && m.takeoverMs !== undefined, 'the backup took the VIP over');
    // a hard failure's order of magnitude (poweroff outages run 0.9–1.1 × theory on this lab), not a
    // timing budget: a deaf pair would show no outage (both already held the VIP) or no takeover
    t.true(m.outageMs > 0 && m.outageMs < 2 * m.theory!.theoryMs, `outage ${m.outageMs.toFixed(0)} ms against Master_Down_Interval ${m.theory!.theoryMs.toFixed(0)} ms`);
    t.truthy(run.failbackAt, `preemption brought the VIP back to ${master}`);
    t.true(run.restored?.ok, `the cluster as found: ${run.restored?.problems.join('; ')}`);
    t.is((await lab.exec(master, sh`nft list table ip ${TABLE} >/dev/null`)).exitCode, 0, `${master} came back from the power cut with multicast still blocked`);
    t.deepEqual(await lab.holders(vip), [master]);
  } finally {
    // ------------------------------------------------------------ leave the lab as found: multicast, one holder
    // every step on fresh connections and on its own, so that one failing does not skip the others
    await lab.close();
    try {
      for (const d of directors) {
        try {
          const r = await unblock(lab, d);
          if (r.exitCode !== 0) t.log(`${d}: removing the rule: exit ${r.exitCode} ${r.stderr}`);
          const pkgs = ours.get(d);
          if (pkgs?.length) await lab.run(d, sh`DEBIAN_FRONTEND=noninteractive apt-get purge -y ${pkgs}`, { timeoutMs: 300_000 });
          t.is((await lab.exec(d, sh`systemctl is-enabled ${UNIT}`)).stdout.trim(), '', `${d}: the blocking unit is gone`);
        } catch (err) {
          t.fail(`${d}: cleanup of the rule failed: ${(err as Error).message}`);
        }
      }
      const back = await converge(t, []);
      t.is(back.code, 0, `back to multicast: ${describeRun(back)}`);
      const one = await lab.until(holdsOne, 30_000, 250);
      t.truthy(one !== undefined, `after the cleanup one director holds ${vip} (holders: ${(await lab.holders(vip).catch((e: Error) => [e.message])).join(', ')})`);
      for (const d of directors) t.notRegex(await lab.run(d, sh`cat /etc/keepalived/keepalived.conf`), /unicast/, `${d}: multicast again`);
    } finally {
      await lab.close();
    }
  }
});
