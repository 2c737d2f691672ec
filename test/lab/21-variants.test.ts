// The other forwarding methods and the active-active layout, each converged on a pristine lab
// (`lab reset` before each) and proven from the client: NAT (the MASTER holds the real servers'
// gateway), TUN (ipip to tunl0 on the real servers), and three directors all active.
import path from 'node:path';
import test from 'ava';
import { LAB_INVENTORY, Lab, ROOT, countAnswers, describeRun, lab as labCli, playbook, totals } from '../helpers/lab-cluster.ts';
import { clusterFromInventory, mastersWith } from '../../lib/lvs/index.ts';

let lab: Lab;
let vip: string;

test.before(async () => {
  lab = await Lab.open();
  vip = clusterFromInventory(lab.inventory, (h) => h.vars).vips[0];
});

test.after.always(async () => {
  await lab?.close();
});

async function reset(t: { log: (...a: unknown[]) => void }) {
  await lab.close();
  const r = await labCli('reset');
  if (r.code !== 0) throw new Error(`lab reset failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  t.log(`lab reset in ${(r.ms / 1000).toFixed(1)} s`);
}

const VARIANTS = [
  { kind: 'NAT', forward: 'Masq', extra: '{lvs_services: [{port: 80, lb_kind: NAT}], lvs_nat_gateway: 172.28.128.254}' },
  { kind: 'TUN', forward: 'Tunnel', extra: '{lvs_services: [{port: 80, lb_kind: TUN}]}' },
];

for (const v of VARIANTS) {
  test.serial(`${v.kind}: converges on a pristine lab, serves real1 and real2 alternately, and a second run changes nothing`, async (t) => {
    await reset(t);
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

// Three directors, all active: inventory/active-active.yml is the lab's inventory plus bal3, with
// the same key and state directory, so `lab up` with it adds a sixth VM to the running lab.
const ACTIVE_ACTIVE = path.join(ROOT, 'inventory/active-active.yml');
const sameLab = path.resolve(LAB_INVENTORY) === path.join(ROOT, 'inventory/lab.yml');

(sameLab ? test.serial : test.serial.skip)('active-active on 3 directors: each director MASTER of 2 of the 6 VIPs, all answer; a power cut moves its 2 VIPs to 2 different survivors', async (t) => {
  await lab.close();
  const up = await labCli('up', ACTIVE_ACTIVE);
  t.is(up.code, 0, `lab up with bal3:\n${up.stdout}\n${up.stderr}`);
  const reset = await labCli('reset', ACTIVE_ACTIVE);
  t.is(reset.code, 0, `lab reset:\n${reset.stdout}\n${reset.stderr}`);
  t.log(`6-VM lab up + reset in ${((up.ms + reset.ms) / 1000).toFixed(1)} s`);
  const aa = await Lab.open(ACTIVE_ACTIVE);
  try {
    const model = clusterFromInventory(aa.inventory, (h) => h.vars);
    const layout = model.instances.map((i) => ({ vip: i.vip, priorities: i.priorities }));
    const directors = model.directors;
    t.deepEqual(directors, ['bal1', 'bal2', 'bal3']);
    t.is(model.vips.length, 6);

    const r = await playbook('site', ACTIVE_ACTIVE);
    t.log(`active-active converge (6 hosts): ${(r.ms / 1000).toFixed(1)} s`);
    t.is(r.code, 0, describeRun(r));

    const holdersOf = async (alive: string[]) => Object.fromEntries(await Promise.all(model.vips.map(async (v) => [v, (await aa.holders(v, alive)).join(',')])));
    const expected = (alive: string[]) => Object.fromEntries([...mastersWith(layout, alive)].map(([v, d]) => [v, d ?? '']));
    t.deepEqual(await holdersOf(directors), expected(directors), 'each VIP on exactly its primary');
    for (const d of directors) t.is(Object.values(expected(directors)).filter((x) => x === d).length, 2, `${d} is MASTER of 2 VIPs`);
    for (const v of model.vips) {
      t.deepEqual(countAnswers(await aa.requests('client', `http://${v}/`, 4)), { real1: 2, real2: 2 }, `${v} answers from both real servers`);
    }

    // Power cut of bal3: its two VIPs must land on bal1 and bal2, one each.
    const victim = 'bal3';
    const survivors = directors.filter((d) => d !== victim);
    const lost = model.vips.filter((v) => expected(directors)[v] === victim);
    const kill = await labCli('kill', ACTIVE_ACTIVE, [victim]);
    t.is(kill.code, 0, kill.stderr);
    const took = await aa.until(async () => JSON.stringify(await holdersOf(survivors)) === JSON.stringify(expected(survivors)), 30_000, 300);
    t.log(`after the power cut of ${victim}: its VIPs ${lost.join(', ')} taken over in ${took} ms`);
    t.truthy(took !== undefined, `survivors hold ${JSON.stringify(await holdersOf(survivors))}, expected ${JSON.stringify(expected(survivors))}`);
    const newHolders = lost.map((v) => expected(survivors)[v]);
    t.deepEqual([...newHolders].sort(), [...survivors].sort(), `${victim}'s 2 VIPs went to 2 different survivors`);
    for (const d of survivors) t.is(Object.values(expected(survivors)).filter((x) => x === d).length, 3, `${d} now holds 3 of the 6 VIPs: an even split`);
    for (const v of lost) {
      t.deepEqual(countAnswers(await aa.requests('client', `http://${v}/`, 4)), { real1: 2, real2: 2 }, `${v} answers again`);
    }
  } finally {
    await aa.close();
    // bal3 stays off (its keepalived would speak VRIDs the lab's own cluster uses); the other
    // five go back to pristine for the test files that follow.
    await labCli('kill', ACTIVE_ACTIVE, ['bal3']);
    let back = await labCli('reset');
    if (back.code !== 0) {
      // seen once: a restored VM's SSH forward port still bound by its killed predecessor (lab bug, reported)
      t.log(`lab reset failed, retrying once:\n${back.stderr.trim().split('\n').slice(-3).join('\n')}`);
      back = await labCli('reset');
    }
    t.is(back.code, 0, `lab reset:\n${back.stdout}\n${back.stderr}`);
  }
});
