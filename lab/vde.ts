// The private segment: one vde_switch (a user-space Ethernet switch on a unix socket directory).
// VRRP multicast and gratuitous ARP cross it like a real L2 segment, and it never touches the
// host's network stack.
import fs from 'node:fs';
import { $ } from 'zx';
import { livePid, stopPid, waitForPidFile } from './pids.ts';
import type { StatePaths } from './paths.ts';

const q = $({ quiet: true });

const markers = (p: StatePaths) => [p.switchDir];

export const switchPid = (p: StatePaths) => livePid(p.switchPid, markers(p));

/** Starts the switch unless ours is already running; returns its PID and whether it is a new one. */
export async function ensureSwitch(p: StatePaths): Promise<{ pid: number; started: boolean }> {
  const running = switchPid(p);
  if (running) return { pid: running, started: false };
  fs.rmSync(p.switchDir, { recursive: true, force: true });
  fs.rmSync(p.switchPid, { force: true });
  fs.rmSync(p.switchMgmt, { force: true });
  await q`vde_switch --daemon --sock ${p.switchDir} --pidfile ${p.switchPid} --mgmt ${p.switchMgmt}`;
  const pid = await waitForPidFile(p.switchPid);
  // the control socket must exist before a qemu connects to it
  const deadline = Date.now() + 5000;
  while (!fs.existsSync(`${p.switchDir}/ctl`)) {
    if (Date.now() > deadline) throw new Error(`vde_switch (pid ${pid}) did not create ${p.switchDir}/ctl`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { pid, started: true };
}

export async function stopSwitch(p: StatePaths): Promise<void> {
  const pid = switchPid(p);
  if (pid) await stopPid(pid, markers(p), 'SIGTERM');
  fs.rmSync(p.switchDir, { recursive: true, force: true });
  fs.rmSync(p.switchPid, { force: true });
  fs.rmSync(p.switchMgmt, { force: true });
}
