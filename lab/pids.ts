// PID files of the processes the lab starts (qemu, vde_switch). A PID file is trusted only while
// /proc/<pid>/cmdline still shows the command that wrote it: after a crash or a reboot the number
// may belong to anything else, which the lab must never signal.
import fs from 'node:fs';
import path from 'node:path';

/** Whether a NUL-separated /proc cmdline contains every marker as a whole argument. */
export function cmdlineMatches(cmdline: string, markers: string[]): boolean {
  const args = cmdline.split('\0');
  return markers.every((m) => args.includes(m));
}

export function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function cmdlineOf(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
}

/** The PID in `file` if that process is alive and is the one we started; undefined otherwise (stale). */
export function livePid(file: string, markers: string[]): number | undefined {
  const pid = readPid(file);
  if (pid === undefined) return undefined;
  const cmdline = cmdlineOf(pid);
  return cmdline !== undefined && cmdlineMatches(cmdline, markers) ? pid : undefined;
}

/** Sends `signal` to our process and waits until it is gone (zombies of other parents count as gone). */
export async function stopPid(pid: number, markers: string[], signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 10_000): Promise<void> {
  const ours = () => {
    const c = cmdlineOf(pid);
    return c !== undefined && c !== '' && cmdlineMatches(c, markers);
  };
  if (!ours()) return;
  try {
    process.kill(pid, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
  const deadline = Date.now() + timeoutMs;
  while (ours()) {
    if (Date.now() > deadline) throw new Error(`process ${pid} still alive ${timeoutMs / 1000} s after ${signal}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function waitForPidFile(file: string, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pid = readPid(file);
    if (pid !== undefined) return pid;
    if (Date.now() > deadline) throw new Error(`${file} not written within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * One lab command at a time per state dir: `lab up` from a test and from a shell must not both
 * boot the same VM. A lock left by a dead process is taken over.
 */
const held = new Set<string>();

export async function withLock<T>(file: string, fn: () => Promise<T>, timeoutMs = 15 * 60_000): Promise<T> {
  if (held.has(file)) return fn(); // nested call in this process
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = readPid(file);
      if (holder === undefined || cmdlineOf(holder) === undefined) {
        fs.rmSync(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`another lab command (pid ${holder}) holds ${file}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  held.add(file);
  try {
    return await fn();
  } finally {
    held.delete(file);
    if (readPid(file) === process.pid) fs.rmSync(file, { force: true });
  }
}
