// The other forwarding methods, switched to on the directors as an operator would (DR → NAT → TUN:
// a new keepalived.conf, taken by keepalived's reload; the test reads the method back from IPVS)
// while the real servers start pristine for each (`lab reset real1 real2`: the realserver role sets
// up a method, it does not undo another's) — and proven from the client: NAT (the MASTER holds the
// real servers' gateway), TUN (ipip to tunl0 on the real servers). Three directors all active:
// test/lab/60-releases (its directors run three Debian releases).
// The last file on this lab (it leaves the TUN cluster behind; the lab goes down after it): the files
// before it share 20-site's converged cluster, and none pays a fresh converge of its own.
import test from 'ava';
import { LAB_INVENTORY, Lab, countAnswers, describeRun, lab as labCli, playbook, totals } from '../helpers/lab-cluster.ts';
import { clusterFromInventory } from '../../lib/lvs/index.ts';

let lab: Lab;
let vip: string;
let realservers: string[];

test.before(async () => {
  lab = await Lab.open();
  const model = clusterFromInventory(lab.inventory, (h) => h.vars);
  vip = model.vips[0]!;
  realservers = model.realservers.map((r) => r.name);
});

test.after.always(async () => {
  await lab?.close();
});

async function resetRealservers(t: { log: (...a: unknown[]) => void }) {
  await lab.close();
  const r = await labCli('reset', LAB_INVENTORY, realservers);
  if (r.code !== 0) throw new Error(`lab reset ${realservers.join(' ')} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  t.log(`lab reset ${realservers.join(' ')} in ${(r.ms / 1000).toFixed(1)} s`);
}

const VARIANTS = [
  { kind: 'NAT', forward: 'Masq', extra: '{lvs_services: [{port: 80, lb_kind: NAT}], lvs_nat_gateway: 172.28.128.254}' },
  { kind: 'TUN', forward: 'Tunnel', extra: '{lvs_services: [{port: 80, lb_kind: TUN}]}' },
];

for (const [i, v] of VARIANTS.entries()) {
  const from = i === 0 ? 'DR' : VARIANTS[i - 1]!.kind;
  test.serial(`${v.kind}: the directors switched from ${from}, the real servers pristine: serves real1 and real2 alternately, and a second run changes nothing`, async (t) => {
    await resetRealservers(t);
    const r = await playbook('site', LAB_INVENTORY, ['-e', v.extra]);
    t.log(`${v.kind} converge: ${(r.ms / 1000).toFixed(1)} s`);
    t.is(r.code, 0, describeRun(r));
    t.is(totals(r.report!).failed, 0);

    const holders = await lab.holders(vip);
    t.deepEqual(holders, ['bal1'], 'one MASTER holds the VIP');
    const svc = (await lab.ipvs('bal1')).find((s) => s.addr === `${vip}:80`);
    t.truthy(svc, 'the virtual service is in the MASTER table');
    t.deepEqual(svc!.reals.map((x) => x.forward), [v.forward, v.forward], `both real servers forwarded by ${v.kind}`);

    const answers = await lab.requests('client', `http://${vip}/`, 20);
    t.deepEqual(countAnswers(answers), { real1: 10, real2: 10 });
    const servers = answers.map((a) => a.server);
    t.true(servers.every((s, i) => i === 0 || s !== servers[i - 1]), `rr alternates: ${servers.join(' ')}`);

    const again = await playbook('site', LAB_INVENTORY, ['-e', v.extra]);
    t.is(again.code, 0, describeRun(again));
    t.is(totals(again.report!).changed, 0, describeRun(again));
  });
}
