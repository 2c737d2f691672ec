// Where the lab keeps things: the image and snapshots in a cache outside the repository (keyed by
// hashes, shared by every checkout), per-VM runtime state beside the inventory's key.
import os from 'node:os';
import path from 'node:path';

/** ~/.cache/lvsplay/lab (XDG_CACHE_HOME honoured; LVSPLAY_LAB_CACHE overrides). */
export function cacheRoot(env = process.env): string {
  if (env.LVSPLAY_LAB_CACHE) return path.resolve(env.LVSPLAY_LAB_CACHE);
  const base = env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache');
  return path.join(base, 'lvsplay', 'lab');
}

export interface ImagePaths {
  dir: string;
  base: string;
  kernel: string;
  initrd: string;
  /** written last: its presence means the image is complete */
  done: string;
}

export function imagePaths(hash: string, root = cacheRoot()): ImagePaths {
  const dir = path.join(root, `image-${hash}`);
  return {
    dir,
    base: path.join(dir, 'base.qcow2'),
    kernel: path.join(dir, 'vmlinux'),
    initrd: path.join(dir, 'initrd.img'),
    done: path.join(dir, 'recipe.json'),
  };
}

export interface SnapshotPaths {
  dir: string;
  /** the disk as it was when the VM was frozen (backing file of every restored overlay) */
  disk: string;
  /** qemu's migration stream: RAM and device state */
  state: string;
  done: string;
}

export function snapshotPaths(key: string, root = cacheRoot()): SnapshotPaths {
  const dir = path.join(root, 'snapshots', key);
  return { dir, disk: path.join(dir, 'disk.qcow2'), state: path.join(dir, 'state.bin'), done: path.join(dir, 'meta.json') };
}

export interface VmPaths {
  dir: string;
  disk: string;
  pid: string;
  qmp: string;
  console: string;
  /** the plan the running VM was started with */
  plan: string;
}

export interface StatePaths {
  dir: string;
  switchDir: string;
  switchPid: string;
  switchMgmt: string;
  hostKeys: string;
  vm(name: string): VmPaths;
}

export function statePaths(dir: string): StatePaths {
  return {
    dir,
    switchDir: path.join(dir, 'switch'),
    switchPid: path.join(dir, 'switch.pid'),
    switchMgmt: path.join(dir, 'switch.mgmt'),
    hostKeys: path.join(dir, 'hostkeys'),
    vm(name) {
      const d = path.join(dir, 'vms', name);
      return {
        dir: d,
        disk: path.join(d, 'disk.qcow2'),
        pid: path.join(d, 'qemu.pid'),
        qmp: path.join(d, 'qmp.sock'),
        console: path.join(d, 'console.log'),
        plan: path.join(d, 'plan.json'),
      };
    },
  };
}
