// Snapshots of booted VMs, outside the repository and kept across `lab down`: qemu's migration
// stream (RAM + devices) plus a frozen copy of the disk as it was at that instant. Restoring one
// = a new overlay over that disk + `qemu -incoming` from the stream: seconds instead of a boot.
import fs from 'node:fs';
import path from 'node:path';
import { cacheRoot, snapshotPaths, type SnapshotPaths } from './paths.ts';
import { waitMigration, type Qmp } from './qmp.ts';
import { stableHash } from './recipe.ts';

export interface SnapshotIdentity {
  imageHash: string;
  qemuVersion: string;
  /** the qemu arguments with run-time paths replaced by placeholders */
  args: string[];
  /** contents of the files handed to the guest (keys) */
  files: Record<string, string>;
}

/** Same key ⇔ the restored VM would be exactly the one that was frozen. */
export const snapshotKey = (id: SnapshotIdentity, name: string): string => `${name}-${stableHash(id)}`;

export function findSnapshot(key: string): SnapshotPaths | undefined {
  const p = snapshotPaths(key);
  return fs.existsSync(p.done) ? p : undefined;
}

/**
 * Freezes a running VM into the snapshot `key`: stop, stream its state to a file, copy its disk
 * (qemu has flushed and released it when the migration completes), then let it run on.
 */
export async function saveSnapshot(qmp: Qmp, disk: string, key: string, meta: Record<string, unknown>): Promise<SnapshotPaths> {
  const final = snapshotPaths(key);
  const tmp = `${final.dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  await qmp.execute('stop');
  try {
    const state = path.join(tmp, path.basename(final.state));
    await qmp.execute('migrate', { uri: `exec:cat > '${state.replace(/'/g, `'\\''`)}'` });
    await waitMigration(qmp);
    fs.copyFileSync(disk, path.join(tmp, path.basename(final.disk)));
  } finally {
    await qmp.execute('cont');
  }
  fs.chmodSync(path.join(tmp, path.basename(final.disk)), 0o444);
  fs.writeFileSync(path.join(tmp, path.basename(final.done)), JSON.stringify({ key, savedAt: new Date().toISOString(), ...meta }, null, 2));
  fs.rmSync(final.dir, { recursive: true, force: true });
  fs.renameSync(tmp, final.dir);
  return final;
}

/**
 * Removes this VM's snapshots built on another image: they are never restored again. A day's grace,
 * as for images: another checkout's lab may still run VMs whose disks are backed by them.
 */
export function pruneSnapshots(name: string, imageHash: string, root = cacheRoot(), graceMs = 24 * 3600_000): void {
  const dir = path.join(root, 'snapshots');
  if (!fs.existsSync(dir)) return;
  for (const entry of fs.readdirSync(dir)) {
    if (!entry.startsWith(`${name}-`)) continue;
    try {
      const meta = JSON.parse(fs.readFileSync(path.join(dir, entry, 'meta.json'), 'utf8'));
      const old = Date.now() - fs.statSync(path.join(dir, entry)).mtimeMs > graceMs;
      if (meta.name === name && meta.imageHash !== imageHash && old) fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
    } catch {
      /* unfinished or foreign: leave it */
    }
  }
}
