// One lab VM's life: cold boot (then freeze it into a snapshot), restore from the snapshot,
// power cut, cold start from its own disk, removal. Everything goes through the PID file, the
// QMP socket and the serial log in the VM's state directory.
import fs from 'node:fs';
import type { Host, Inventory } from '../lib/types.ts';
import type { AccelDecision } from './accel.ts';
import { connectGuest, fixClock, readyLine, waitForConsole } from './guest.ts';
import type { ImagePaths, StatePaths, VmPaths } from './paths.ts';
import { livePid, stopPid } from './pids.ts';
import type { LabPlan, VmPlan } from './plan.ts';
import type { Release } from './recipe.ts';
import { qmpConnect, waitMigration, waitRunning } from './qmp.ts';
import { createOverlay, qemuArgs, qemuMarker, startQemu, type VmFiles } from './qemu.ts';
import { findSnapshot, pruneSnapshots, saveSnapshot, snapshotKey } from './snapshot.ts';

export interface LabContext {
  plan: LabPlan;
  inventory: Inventory;
  state: StatePaths;
  /** per Debian release the plan's VMs boot */
  images: Partial<Record<Release, LabImage>>;
  accel: AccelDecision;
  qemuVersion: string;
  /** boot timeout per VM (TCG on a busy host is slow) */
  bootTimeoutMs: number;
  /** the switch had died and was started anew: running VMs are no longer plugged into it */
  switchRestarted?: boolean;
}

export interface LabImage {
  paths: ImagePaths;
  hash: string;
  /** the recipe hash plus when that image was built: a rebuilt image (same recipe) invalidates snapshots on the old one */
  id: string;
}

function imageOf(ctx: LabContext, vm: VmPlan): LabImage {
  const image = ctx.images[vm.release];
  if (!image) throw new Error(`${vm.name}: no ${vm.release} image in this lab context`);
  return image;
}

export type VmState = 'running' | 'paused' | 'stopped' | 'absent';

export interface VmResult {
  name: string;
  /** what was done: already running, restored from its snapshot, cold-booted (and snapshotted), started from its disk */
  action: 'running' | 'restored' | 'booted' | 'started';
  seconds: number;
}

const vmPaths = (ctx: LabContext, vm: VmPlan): VmPaths => ctx.state.vm(vm.name);
const markers = (ctx: LabContext, vm: VmPlan) => ['-name', qemuMarker(vm.name), vmPaths(ctx, vm).pid];

export const vmPid = (ctx: LabContext, vm: VmPlan) => livePid(vmPaths(ctx, vm).pid, markers(ctx, vm));

function hostOf(ctx: LabContext, vm: VmPlan): Host {
  const host = ctx.inventory.hosts.get(vm.name);
  if (!host) throw new Error(`${vm.name} is not in ${ctx.plan.inventoryFile}`);
  return host;
}

function files(ctx: LabContext, vm: VmPlan): VmFiles {
  const hostKey = `${ctx.state.hostKeys}/${vm.name}_ed25519`;
  return {
    image: imageOf(ctx, vm).paths,
    vm: vmPaths(ctx, vm),
    switchDir: ctx.state.switchDir,
    authorizedKey: `${ctx.plan.keyFile}.pub`,
    hostKey,
    hostKeyPub: `${hostKey}.pub`,
  };
}

function keyOf(ctx: LabContext, vm: VmPlan): string {
  const f = files(ctx, vm);
  const placeholders: VmFiles = {
    image: { kernel: '<kernel>', initrd: '<initrd>' },
    vm: { disk: '<disk>', pid: '<pid>', qmp: '<qmp>', console: '<console>' },
    switchDir: '<switch>',
    authorizedKey: '<authorized_key>',
    hostKey: '<host_key>',
    hostKeyPub: '<host_key_pub>',
  };
  return snapshotKey(
    {
      imageHash: imageOf(ctx, vm).id,
      qemuVersion: ctx.qemuVersion,
      args: qemuArgs(vm, placeholders, { accel: ctx.accel.accel }),
      files: {
        authorized_key: fs.readFileSync(f.authorizedKey, 'utf8'),
        host_key_pub: fs.readFileSync(f.hostKeyPub, 'utf8'),
      },
    },
    vm.name,
  );
}

export async function vmState(ctx: LabContext, vm: VmPlan): Promise<VmState> {
  if (!vmPid(ctx, vm)) return fs.existsSync(vmPaths(ctx, vm).disk) ? 'stopped' : 'absent';
  try {
    const qmp = await qmpConnect(vmPaths(ctx, vm).qmp, 2000);
    try {
      const { status } = await qmp.execute<{ status: string }>('query-status');
      return status === 'running' ? 'running' : 'paused';
    } finally {
      qmp.close();
    }
  } catch {
    return 'paused';
  }
}

/** SIGKILL of the VM's qemu: a power cut. Its disk stays. */
export async function killVm(ctx: LabContext, vm: VmPlan): Promise<boolean> {
  const pid = vmPid(ctx, vm);
  if (!pid) return false;
  await stopPid(pid, markers(ctx, vm), 'SIGKILL');
  fs.rmSync(vmPaths(ctx, vm).qmp, { force: true });
  return true;
}

/** Kills the VM and removes its state directory (overlay, sockets, logs). */
export async function removeVm(ctx: LabContext, vm: VmPlan): Promise<void> {
  await killVm(ctx, vm);
  fs.rmSync(vmPaths(ctx, vm).dir, { recursive: true, force: true });
}

const consoleSize = (file: string) => (fs.existsSync(file) ? fs.statSync(file).size : 0);

function note(file: string, line: string) {
  fs.appendFileSync(file, `\n=== lvsplay lab: ${line} at ${new Date().toISOString()} ===\n`);
}

async function launch(ctx: LabContext, vm: VmPlan, incoming?: string): Promise<void> {
  const p = vmPaths(ctx, vm);
  fs.rmSync(p.pid, { force: true });
  fs.rmSync(p.qmp, { force: true });
  const args = qemuArgs(vm, files(ctx, vm), { accel: ctx.accel.accel, incoming });
  await startQemu(args);
}

/** Written once the VM is up: a later `up` leaves a VM with the same record alone. */
function record(ctx: LabContext, vm: VmPlan, key: string, action: VmResult['action']) {
  fs.writeFileSync(vmPaths(ctx, vm).plan, JSON.stringify({ key, action, at: new Date().toISOString() }, null, 2));
}

/** A VM that failed to come up is not left half-running: the next `up` starts it anew. */
async function orKill<T>(ctx: LabContext, vm: VmPlan, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    await killVm(ctx, vm).catch(() => {});
    throw e;
  }
}

/** Boots from the VM's disk and waits for its ready marker on the serial console. */
async function coldBoot(ctx: LabContext, vm: VmPlan): Promise<void> {
  const p = vmPaths(ctx, vm);
  const offset = consoleSize(p.console);
  await launch(ctx, vm);
  await waitForConsole(p.console, offset, readyLine(vm.name), () => !!vmPid(ctx, vm), ctx.bootTimeoutMs);
}

async function connectAndFixClock(ctx: LabContext, vm: VmPlan): Promise<void> {
  const conn = await connectGuest(hostOf(ctx, vm), ctx.plan.knownHosts);
  try {
    await fixClock(conn);
  } finally {
    await conn.close();
  }
}

/** Restores the VM from its snapshot (a fresh overlay: the disk as it was when frozen). */
async function restore(ctx: LabContext, vm: VmPlan, snapshot: { disk: string; state: string }): Promise<void> {
  const p = vmPaths(ctx, vm);
  fs.rmSync(p.disk, { force: true });
  await createOverlay(p.disk, snapshot.disk);
  note(p.console, 'restored from snapshot');
  await launch(ctx, vm, snapshot.state);
  const qmp = await qmpConnect(p.qmp);
  try {
    await waitMigration(qmp, ctx.bootTimeoutMs);
    // the snapshot was taken paused, and the paused state travels with it
    await qmp.execute('cont');
    await waitRunning(qmp);
  } finally {
    qmp.close();
  }
}

/**
 * Brings one VM to its pristine running state. `up` leaves a VM that already runs with the same
 * configuration alone; `reset` always discards it. Returns what was done and how long it took.
 */
export function upVm(ctx: LabContext, vm: VmPlan, mode: 'up' | 'reset'): Promise<VmResult> {
  return orKill(ctx, vm, () => bringUp(ctx, vm, mode));
}

async function bringUp(ctx: LabContext, vm: VmPlan, mode: 'up' | 'reset'): Promise<VmResult> {
  const t0 = Date.now();
  const p = vmPaths(ctx, vm);
  const key = keyOf(ctx, vm);
  const seconds = () => (Date.now() - t0) / 1000;

  let same = false;
  try {
    same = JSON.parse(fs.readFileSync(p.plan, 'utf8')).key === key;
  } catch {
    /* no record: start it anew */
  }
  if (mode === 'up' && same && vmPid(ctx, vm) && ctx.switchRestarted) await killVm(ctx, vm);
  if (mode === 'up' && same && vmPid(ctx, vm)) {
    if ((await vmState(ctx, vm)) === 'paused') {
      const qmp = await qmpConnect(p.qmp);
      await qmp.execute('cont').finally(() => qmp.close());
    }
    return { name: vm.name, action: 'running', seconds: seconds() };
  }
  // `up` never throws a VM's disk away: a killed VM (or every VM after a host reboot) boots from it
  if (mode === 'up' && same && fs.existsSync(p.disk)) return startVm(ctx, vm);
  await killVm(ctx, vm);
  fs.rmSync(p.plan, { force: true });
  fs.mkdirSync(p.dir, { recursive: true });

  const snapshot = findSnapshot(key);
  if (snapshot) {
    await restore(ctx, vm, snapshot);
    await connectAndFixClock(ctx, vm);
    record(ctx, vm, key, 'restored');
    return { name: vm.name, action: 'restored', seconds: seconds() };
  }

  fs.rmSync(p.disk, { force: true });
  await createOverlay(p.disk, imageOf(ctx, vm).paths.base);
  note(p.console, 'cold boot');
  await coldBoot(ctx, vm);
  const qmp = await qmpConnect(p.qmp);
  try {
    await saveSnapshot(qmp, p.disk, key, { name: vm.name, imageHash: imageOf(ctx, vm).id, accel: ctx.accel.accel });
  } finally {
    qmp.close();
  }
  pruneSnapshots(vm.name, imageOf(ctx, vm).id);
  await connectAndFixClock(ctx, vm);
  record(ctx, vm, key, 'booted');
  return { name: vm.name, action: 'booted', seconds: seconds() };
}

/** Boots a stopped (killed) VM again from its own disk: a cold boot, its state kept. */
export async function startVm(ctx: LabContext, vm: VmPlan): Promise<VmResult> {
  const t0 = Date.now();
  const p = vmPaths(ctx, vm);
  if (vmPid(ctx, vm)) return { name: vm.name, action: 'running', seconds: 0 };
  if (!fs.existsSync(p.disk)) throw new Error(`${vm.name} has no disk yet: run \`lab up\` first`);
  note(p.console, 'cold boot from its disk');
  await orKill(ctx, vm, async () => {
    await coldBoot(ctx, vm);
    await connectAndFixClock(ctx, vm);
  });
  record(ctx, vm, keyOf(ctx, vm), 'started');
  return { name: vm.name, action: 'started', seconds: (Date.now() - t0) / 1000 };
}
