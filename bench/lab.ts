// Lab bring-up figures (a benchmark, not a test): cold image build, cold up (boot + snapshot),
// warm up (restore after down), reset, down — seconds, accelerator, peak qemu memory.
//   npx tsx bench/lab.ts [--inventory inventory/lab.yml] [--shared-cache] [--accel auto|kvm|tcg]
// It runs its own copy of the inventory (ports +1000, state in a temp dir), so a lab already up
// is left alone; by default the image is built in a temp cache too (a true cold build), with
// --shared-cache the usual cache is used (and the build is skipped if it is there).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { labDown, labReset, labUp, loadLab, rssMiB, type UpResult } from '../lab/index.ts';
import { buildImage } from '../lab/image.ts';
import { livePid } from '../lab/pids.ts';
import { qemuMarker } from '../lab/qemu.ts';
import type { AccelChoice } from '../lab/accel.ts';

const { values } = parseArgs({
  options: {
    inventory: { type: 'string', short: 'i', default: 'inventory/lab.yml' },
    'shared-cache': { type: 'boolean', default: false },
    accel: { type: 'string', default: 'auto' },
  },
});

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-bench-lab-'));
if (!values['shared-cache']) process.env.LVSPLAY_LAB_CACHE = path.join(work, 'cache');

// the same topology on other ports, with its own state dir
const source = YAML.parse(fs.readFileSync(values.inventory!, 'utf8'));
source.all.vars.ansible_ssh_private_key_file = path.join(work, 'state/id_ed25519');
source.all.vars.lvsplay_known_hosts = path.join(work, 'state/known_hosts');
const shift = (group: any) => {
  for (const h of Object.values<any>(group?.hosts ?? {})) h.ansible_port += 1000;
  for (const child of Object.values<any>(group?.children ?? {})) shift(child);
};
shift(source.all);
const inventory = path.join(work, 'inventory.yml');
fs.writeFileSync(inventory, YAML.stringify(source));
const { plan, state } = await loadLab(inventory);

/** Sum of every lab qemu's RSS, sampled while a phase runs. */
function sampleRss(): { stop: () => number } {
  let peak = 0;
  const sample = () => {
    const sum = plan.vms.reduce((acc, vm) => {
      const pid = livePid(state.vm(vm.name).pid, ['-name', qemuMarker(vm.name)]);
      return acc + ((pid && rssMiB(pid)) || 0);
    }, 0);
    peak = Math.max(peak, sum);
  };
  const timer = setInterval(sample, 200);
  return { stop: () => (clearInterval(timer), sample(), peak) };
}

const rows: Array<[string, number, number, string]> = [];
async function phase<T>(name: string, fn: () => Promise<T>, detail: (r: T) => string = () => ''): Promise<T> {
  const rss = sampleRss();
  const t0 = Date.now();
  const r = await fn();
  const seconds = (Date.now() - t0) / 1000;
  const peak = rss.stop();
  rows.push([name, seconds, peak, detail(r)]);
  console.log(`${name.padEnd(12)} ${seconds.toFixed(1).padStart(6)} s   peak qemu RSS ${String(peak).padStart(5)} MiB   ${detail(r)}`);
  return r;
}

const perVm = (r: UpResult) => r.vms.map((v) => `${v.name} ${v.action} ${v.seconds.toFixed(1)}`).join(', ');
const opts = { accel: values.accel as AccelChoice };
let accel = '';
try {
  await phase('cold build', () => buildImage(), (p) => (values['shared-cache'] ? `(shared cache: ${p.dir})` : ''));
  const up = await phase('cold up', () => labUp(inventory, opts), perVm);
  accel = `${up.ctx.accel.accel} (${up.ctx.accel.why})`;
  await phase('down', () => labDown(inventory), (s) => `${s.length} VMs stopped`);
  await phase('warm up', () => labUp(inventory, opts), perVm);
  await phase('reset', () => labReset(inventory, opts), perVm);
  await phase('down', () => labDown(inventory), (s) => `${s.length} VMs stopped`);
} finally {
  await labDown(inventory).catch(() => {});
  fs.rmSync(work, { recursive: true, force: true });
}
console.log(`\naccelerator: ${accel}; ${plan.vms.length} VMs; ${os.cpus().length} CPUs; peak qemu RSS ${Math.max(...rows.map((r) => r[2]))} MiB`);
