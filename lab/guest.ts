// Talking to a booted guest: the ready marker its lab-ready unit writes on the serial console,
// and SSH (lvsplay's own transport, host-key checking strict against the lab's known_hosts).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { connect } from '../lib/ssh.ts';
import { sh } from '../lib/shell.ts';
import type { Conn, Host } from '../lib/types.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const readyLine = (name: string) => `lvsplay-lab-ready ${name}`;

/** Waits until `text` appears in `file` after byte `offset`; `alive` is polled to fail fast when qemu dies. */
export async function waitForConsole(file: string, offset: number, text: string, alive: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = fs.openSync(file, 'r');
      try {
        const size = fs.fstatSync(fd).size;
        if (size > offset) {
          const buf = Buffer.alloc(size - offset);
          fs.readSync(fd, buf, 0, buf.length, offset);
          if (buf.toString().includes(text)) return;
        }
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (!alive()) throw new Error(`qemu exited before "${text}" appeared in ${file}`);
    if (Date.now() > deadline) throw new Error(`"${text}" not in ${file} after ${timeoutMs / 1000} s (see the console log)`);
    await sleep(100);
  }
}

/** Connects with strict host-key checking, retrying while sshd is not answering yet. */
export async function connectGuest(host: Host, knownHosts: string, timeoutMs = 60_000): Promise<Conn> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await connect(host, { hostKeyChecking: 'strict', knownHostsFiles: [knownHosts], connectTimeoutMs: 20_000 });
    } catch (e) {
      // a changed or unknown host key is not going to fix itself
      if (/HOST KEY|not in known_hosts|authentication failed/.test((e as Error).message) || Date.now() > deadline) throw e;
      await sleep(250);
    }
  }
}

/**
 * A restored guest's clock stands where it was when the snapshot was taken: set it from the
 * host's (one command on an open connection, so it is off by that command's latency only), and
 * stir fresh host randomness into its pool so restored VMs do not replay the same random numbers.
 */
export async function fixClock(conn: Conn): Promise<void> {
  const now = (Date.now() / 1000).toFixed(3);
  await conn.exec(sh`date -s @${now} >/dev/null && cat >/dev/urandom`, { stdin: randomBytes(64) });
}
