// Benchmark (not a test): how long one status round takes on a cluster — connecting (once, as the
// first round of `status` does), then N rounds over the open connections (as `--watch` does), each
// host's one exec timed. Prints the machine's load average beside the figures: on the shared 2-core
// lab under software emulation they move with it.
//   flock /tmp/lvsplay-lab.lock npx tsx bench/status.ts -i inventory/lab.yml [--rounds 3]
import os from 'node:os';
import { parseArgs } from 'node:util';
import { loadInventory } from '../lib/inventory.ts';
import { clusterFromInventory } from '../lib/lvs/index.ts';
import { ConnectionPool } from '../lib/ssh.ts';
import { observe } from '../lib/status/observe.ts';

const { values } = parseArgs({ options: { inventory: { type: 'string', short: 'i' }, rounds: { type: 'string', default: '3' } } });
if (!values.inventory) throw new Error('usage: bench/status.ts -i INVENTORY [--rounds N]');
const inventory = await loadInventory(values.inventory);
const model = clusterFromInventory(inventory, (h) => h.vars);
const pool = new ConnectionPool({ hostKeyChecking: 'strict', connectTimeoutMs: 60_000 });
const load = () => os.loadavg()[0].toFixed(1);
try {
  const t0 = performance.now();
  await Promise.all([...model.directors, ...model.realservers.map((r) => r.name)].map((h) => pool.get(inventory.hosts.get(h)!)));
  console.log(`connect (${model.directors.length + model.realservers.length} hosts in parallel): ${((performance.now() - t0) / 1000).toFixed(1)} s, load ${load()}`);
  for (let i = 1; i <= Number(values.rounds); i++) {
    const { observation } = await observe({ inventory, model, connect: (h) => pool.get(h), timeoutMs: 60_000 });
    const per = Object.values(observation.hosts).map((h) => `${h.host} ${(h.ms / 1000).toFixed(1)}${h.ok ? '' : ' FAILED'}`).join(', ');
    console.log(`round ${i}: ${(observation.ms / 1000).toFixed(1)} s (${per}), load ${load()}`);
  }
} finally {
  await pool.closeAll();
}
