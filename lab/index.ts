// The lab's programmatic API (tests, the drill, bench/lab.ts); lab/lab.ts is the CLI over it.
//   const ctx = await labUp('inventory/lab.yml')      every VM running, pristine unless it already ran
//   await labReset(file)  every VM back to its pristine snapshot
//   await labKill(file, 'bal1') / labStart(file, 'bal1')   power cut / cold boot from its disk
//   await labStatus(file) / labDown(file)
import fs from 'node:fs';
import path from 'node:path';
import { loadInventory } from '../lib/inventory.ts';
import type { Inventory } from '../lib/types.ts';
import { chooseAccel, type AccelChoice } from './accel.ts';
import { ensureHostPackages } from './host-packages.ts';
import { buildImage } from './image.ts';
import { ensureHostKey, ensureUserKey, writeKnownHosts } from './keys.ts';
import { statePaths, type StatePaths } from './paths.ts';
import { withLock } from './pids.ts';
import { planLab, type LabPlan, type VmPlan } from './plan.ts';
import { qemuVersion } from './qemu.ts';
import { recipeFor, recipeHash, type Release } from './recipe.ts';
import { ensureSwitch, stopSwitch, switchPid } from './vde.ts';
import { killVm, removeVm, startVm, upVm, vmPid, vmState, type LabContext, type LabImage, type VmResult, type VmState } from './vm.ts';

export type { LabContext, VmResult, VmState } from './vm.ts';
export type { LabPlan, VmPlan } from './plan.ts';

export interface LabOptions {
  accel?: AccelChoice;
  /** progress lines (image build steps, host packages) */
  log?: (line: string) => void;
  /** called as each VM finishes */
  onVm?: (result: VmResult) => void;
  /** per-VM boot timeout, default 300 s */
  bootTimeoutMs?: number;
}

export interface Loaded {
  inventory: Inventory;
  plan: LabPlan;
  state: StatePaths;
}

/** Reads the inventory and checks it; touches nothing. */
export async function loadLab(inventoryFile: string): Promise<Loaded> {
  const inventory = await loadInventory(inventoryFile);
  const plan = planLab(inventory);
  return { inventory, plan, state: statePaths(plan.stateDir) };
}

const lockFile = (s: StatePaths) => path.join(s.dir, 'lab.lock');

function vmNamed(plan: LabPlan, name: string): VmPlan {
  const vm = plan.vms.find((v) => v.name === name);
  if (!vm) throw new Error(`no host ${JSON.stringify(name)} in ${plan.inventoryFile} (hosts: ${plan.vms.map((v) => v.name).join(', ')})`);
  return vm;
}

/** Everything a VM needs before it can start: packages, image, accelerator, keys, the switch. */
export async function prepareLab(loaded: Loaded, opts: LabOptions = {}): Promise<LabContext> {
  const log = opts.log ?? (() => {});
  const { plan, state } = loaded;
  await ensureHostPackages(log);
  // one image per release the plan's VMs boot, built side by side (mostly the mirror's time); all
  // settle before an error is thrown: a build cleans up its mounts only while the process lives
  const builds = await Promise.allSettled(
    [...new Set(plan.vms.map((vm) => vm.release))].map(async (release) => {
      const recipe = recipeFor(release);
      const paths = await buildImage({ recipe, log: (line) => log(`${release}: ${line}`) });
      const hash = recipeHash(recipe);
      return [release, { paths, hash, id: `${hash}@${JSON.parse(fs.readFileSync(paths.done, 'utf8')).builtAt}` }] as const;
    }),
  );
  const failed = builds.find((b) => b.status === 'rejected');
  if (failed) throw failed.reason;
  const images: Partial<Record<Release, LabImage>> = Object.fromEntries(builds.map((b) => (b as PromiseFulfilledResult<readonly [Release, LabImage]>).value));
  const accel = await chooseAccel(opts.accel ?? 'auto', Object.values(images)[0]!.paths.kernel);
  fs.mkdirSync(state.dir, { recursive: true, mode: 0o700 });
  await ensureUserKey(plan.keyFile);
  const entries = [];
  for (const vm of plan.vms) {
    const key = await ensureHostKey(state.hostKeys, vm.name);
    entries.push({ address: vm.address, port: vm.port, publicKey: key.publicKey });
  }
  writeKnownHosts(plan.knownHosts, entries);
  const vmsRan = fs.existsSync(path.join(state.dir, 'vms'));
  const { started } = await ensureSwitch(state);
  return {
    ...loaded,
    switchRestarted: started && vmsRan,
    images,
    accel,
    qemuVersion: await qemuVersion(),
    bootTimeoutMs: opts.bootTimeoutMs ?? 300_000,
  };
}

async function eachVm(ctx: LabContext, mode: 'up' | 'reset', opts: LabOptions): Promise<VmResult[]> {
  const results = await Promise.allSettled(
    ctx.plan.vms.map(async (vm) => {
      const r = await upVm(ctx, vm, mode);
      opts.onVm?.(r);
      return r;
    }),
  );
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${ctx.plan.vms[i].name}: ${(r.reason as Error).message}`] : []));
  if (failed.length) throw new Error(`lab ${mode} failed for ${failed.length} VM(s):\n  ${failed.join('\n  ')}`);
  return results.map((r) => (r as PromiseFulfilledResult<VmResult>).value);
}

export interface UpResult {
  ctx: LabContext;
  vms: VmResult[];
  seconds: number;
}

/** Every VM of the inventory running (idempotent: running VMs are left alone). */
export const labUp = (inventoryFile: string, opts: LabOptions = {}): Promise<UpResult> => allVms(inventoryFile, 'up', opts);

/** Every VM back to pristine (freshly booted, nothing installed), from the snapshots. */
export const labReset = (inventoryFile: string, opts: LabOptions = {}): Promise<UpResult> => allVms(inventoryFile, 'reset', opts);

async function allVms(inventoryFile: string, mode: 'up' | 'reset', opts: LabOptions): Promise<UpResult> {
  const t0 = Date.now();
  const loaded = await loadLab(inventoryFile);
  return withLock(lockFile(loaded.state), async () => {
    const ctx = await prepareLab(loaded, opts);
    const vms = await eachVm(ctx, mode, opts);
    return { ctx, vms, seconds: (Date.now() - t0) / 1000 };
  });
}

/** Power cut: SIGKILL of the VM's qemu. Returns false if it was not running. */
export async function labKill(inventoryFile: string, name: string, opts: LabOptions = {}): Promise<boolean> {
  const loaded = await loadLab(inventoryFile);
  const vm = vmNamed(loaded.plan, name);
  // no lock: a power cut must not wait for anything (the drill times it)
  const ctx = await contextForStatus(loaded, opts);
  return killVm(ctx, vm);
}

/** Cold boot of a stopped VM from its own disk (what it had stays). */
export async function labStart(inventoryFile: string, name: string, opts: LabOptions = {}): Promise<VmResult> {
  const loaded = await loadLab(inventoryFile);
  const vm = vmNamed(loaded.plan, name);
  return withLock(lockFile(loaded.state), async () => {
    const ctx = await prepareLab(loaded, opts);
    return startVm(ctx, vm);
  });
}

/** Stops every lab VM and the switch by PID; removes overlays, sockets and logs (keys, known_hosts and snapshots stay). */
export async function labDown(inventoryFile: string): Promise<string[]> {
  const loaded = await loadLab(inventoryFile);
  return withLock(lockFile(loaded.state), async () => {
    const ctx = await contextForStatus(loaded);
    const vmsDir = path.join(loaded.state.dir, 'vms');
    // every VM directory, also of hosts no longer in the inventory
    const names = fs.existsSync(vmsDir) ? fs.readdirSync(vmsDir) : [];
    const stopped: string[] = [];
    for (const name of names) {
      const vm = loaded.plan.vms.find((v) => v.name === name) ?? { ...loaded.plan.vms[0], name };
      if (vmPid(ctx, vm)) stopped.push(name);
      await removeVm(ctx, vm);
    }
    await stopSwitch(loaded.state);
    fs.rmSync(vmsDir, { recursive: true, force: true });
    return stopped;
  });
}

export interface VmStatus {
  name: string;
  state: VmState;
  pid?: number;
  port: number;
  lanIp: string;
  rssMiB?: number;
}

export interface LabStatus {
  switchPid?: number;
  vms: VmStatus[];
}

/** A context good for looking and killing: no build, no packages, no keys. */
async function contextForStatus(loaded: Loaded, opts: LabOptions = {}): Promise<LabContext> {
  return {
    ...loaded,
    images: {},
    accel: { accel: opts.accel === 'kvm' ? 'kvm' : 'tcg', why: '' },
    qemuVersion: '',
    bootTimeoutMs: 0,
  };
}

export function rssMiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

export async function labStatus(inventoryFile: string): Promise<LabStatus> {
  const loaded = await loadLab(inventoryFile);
  const ctx = await contextForStatus(loaded);
  const vms = await Promise.all(
    loaded.plan.vms.map(async (vm): Promise<VmStatus> => {
      const pid = vmPid(ctx, vm);
      return { name: vm.name, state: await vmState(ctx, vm), pid, port: vm.port, lanIp: vm.lanIp, rssMiB: pid ? rssMiB(pid) : undefined };
    }),
  );
  return { switchPid: switchPid(loaded.state), vms };
}

/**
 * For a playbook about to run against a lab inventory: one line saying the lab is down and how to
 * start it, or undefined (not a lab inventory, or at least one of its VMs runs). Reads only /proc.
 */
export async function labDownHint(inventoryFile: string): Promise<string | undefined> {
  let loaded: Loaded;
  try {
    loaded = await loadLab(inventoryFile);
  } catch {
    return undefined;
  }
  if (!fs.existsSync(path.join(loaded.state.dir, 'vms'))) {
    return `the lab is down: start it with \`npx tsx lab/lab.ts up -i ${path.relative(process.cwd(), loaded.plan.inventoryFile) || loaded.plan.inventoryFile}\``;
  }
  const ctx = await contextForStatus(loaded);
  const stopped = loaded.plan.vms.filter((vm) => !vmPid(ctx, vm)).map((vm) => vm.name);
  if (stopped.length === 0) return undefined;
  const file = path.relative(process.cwd(), loaded.plan.inventoryFile) || loaded.plan.inventoryFile;
  return stopped.length === loaded.plan.vms.length
    ? `the lab is down: start it with \`npx tsx lab/lab.ts up -i ${file}\``
    : `lab VM(s) not running: ${stopped.join(', ')} — \`npx tsx lab/lab.ts up -i ${file}\` boots them from their disks`;
}
