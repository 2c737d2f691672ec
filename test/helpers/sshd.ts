// Real OpenSSH servers on 127.0.0.1 for engine tests: one `sshd -D` per host, each with its own
// generated host key, all accepting one generated user key. Nothing is mocked: tests talk SSH to
// these exactly as lvsplay talks to a VM.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import type { Host } from '../../lib/types.ts';

/** Test user with passwordless sudo, shell /bin/sh and empty rc files. */
export const TEST_USER = 'lvsplaytest';
/** Test user without any sudo rights (for the "become needs a password" path). */
export const NOPW_USER = 'lvsplaynopw';

const SSHD = '/usr/sbin/sshd';

export interface SshdLab {
  /** one Host per sshd: address 127.0.0.1, user lvsplaytest, privateKeyFile set, become false */
  hosts: Host[];
  /** known_hosts with every sshd's host key, as `[127.0.0.1]:PORT ssh-ed25519 …` */
  knownHostsFile: string;
  /** OpenSSH-style `SHA256:…` fingerprint of the host key served on `port` */
  hostKeyFingerprint(port: number): string;
  /** `ssh-ed25519 AAAA…` public host key served on `port` */
  hostPublicKey(port: number): string;
  /** the user's private key (also in every host's privateKeyFile) */
  userKeyFile: string;
  /** PIDs of the sshd listeners this lab started */
  pids: number[];
  /** temp dir holding keys, configs and sshd logs (removed by stop) */
  dir: string;
  /** sshd's own log for the server on `port` (for debugging a failing test) */
  log(port: number): string;
  /**
   * SIGSTOPs every connection process of the server on `port` (not its listener) and whatever
   * they run: those connections go silent as after a power cut, no FIN, no RST. stop() kills them.
   * Returns the PIDs stopped.
   */
  freeze(port: number): number[];
  stop(): Promise<void>;
}

export interface InventoryHost {
  name: string;
  port: number;
  /** a child group of all; none: directly under all.hosts */
  group?: string;
  vars?: Record<string, unknown>;
}

/**
 * An Ansible YAML inventory reaching the harness's servers: the connection vars (127.0.0.1, the
 * test user, its key, the servers' known_hosts) and `vars` in all.vars, each host with its port.
 * Hosts default to every server of the lab.
 */
export function writeInventory(
  lab: Pick<SshdLab, 'hosts' | 'userKeyFile' | 'knownHostsFile'>,
  file: string,
  opts: { vars?: Record<string, unknown>; hosts?: InventoryHost[] } = {},
): string {
  const hosts: InventoryHost[] = opts.hosts ?? lab.hosts.map((h) => ({ name: h.name, port: h.port }));
  const entries = (list: InventoryHost[]) => Object.fromEntries(list.map((h) => [h.name, { ansible_port: h.port, ...h.vars }]));
  const groups = [...new Set(hosts.flatMap((h) => (h.group ? [h.group] : [])))];
  const ungrouped = hosts.filter((h) => !h.group);
  const all = {
    vars: {
      ansible_host: '127.0.0.1',
      ansible_user: TEST_USER,
      ansible_ssh_private_key_file: lab.userKeyFile,
      lvsplay_known_hosts: lab.knownHostsFile,
      ...opts.vars,
    },
    ...(ungrouped.length ? { hosts: entries(ungrouped) } : {}),
    ...(groups.length ? { children: Object.fromEntries(groups.map((g) => [g, { hosts: entries(hosts.filter((h) => h.group === g)) }])) } : {}),
  };
  fs.writeFileSync(file, stringify({ all }));
  return file;
}

interface Server {
  port: number;
  child: ChildProcess;
  pubKey: string;
  logFile: string;
}

const running = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of running) killTree(pid, 'SIGKILL');
  });
}

/** Children of `pid` and their descendants, read from /proc (sshd's per-connection processes call setsid, so a process-group kill would miss them). */
function descendants(pid: number): number[] {
  const byParent = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // "pid (comm) state ppid …": comm may contain spaces and parentheses, so split after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = byParent.get(ppid) ?? [];
    list.push(Number(entry));
    byParent.set(ppid, list);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of byParent.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

function killTree(pid: number, signal: NodeJS.Signals): void {
  let tree: number[] = [];
  try {
    tree = descendants(pid);
  } catch {
    /* /proc unreadable: kill the listener alone */
  }
  for (const p of [pid, ...tree]) {
    try {
      process.kill(p, signal);
    } catch {
      /* already gone */
    }
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0): it is dead for our purposes.
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function userExists(name: string): boolean {
  try {
    run('id', ['-u', name]);
    return true;
  } catch {
    return false;
  }
}

/** useradd/usermod fail while another process holds /etc/passwd's lock: retry a few times. */
function runLocked(cmd: string, args: string[], done: () => boolean): void {
  for (let attempt = 1; ; attempt++) {
    try {
      run(cmd, args);
      return;
    } catch (err) {
      if (done()) return;
      if (attempt >= 20) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50 * attempt);
    }
  }
}

function passwordField(name: string): string | undefined {
  return fs.readFileSync('/etc/shadow', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`))?.split(':')[1];
}

/** Idempotent and safe when several test workers race to create the same users. */
function ensureUser(name: string, sudo: boolean): void {
  if (!userExists(name)) runLocked('useradd', ['--create-home', '--shell', '/bin/sh', name], () => userExists(name));
  // useradd leaves the password field "!" (locked); with UsePAM no, sshd then refuses even
  // public-key logins. "*" means "no password can match" without locking the account.
  if (passwordField(name) !== '*') runLocked('usermod', ['-p', '*', name], () => passwordField(name) === '*');
  const home = run('getent', ['passwd', name]).split(':')[5];
  // Empty rc files: anything they print or do would slow (or break) every exec.
  for (const rc of ['.profile', '.bashrc', '.bash_logout']) {
    const f = path.join(home, rc);
    if (!fs.existsSync(f) || fs.statSync(f).size > 0) fs.writeFileSync(f, '');
  }
  const sudoers = `/etc/sudoers.d/${name}`;
  if (sudo) {
    const line = `${name} ALL=(ALL) NOPASSWD: ALL\n`;
    if (!fs.existsSync(sudoers) || fs.readFileSync(sudoers, 'utf8') !== line) {
      const tmp = `${sudoers}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, line, { mode: 0o440 });
      fs.renameSync(tmp, sudoers);
    }
  } else if (fs.existsSync(sudoers)) {
    fs.rmSync(sudoers, { force: true });
  }
}

function keygen(file: string, comment: string): string {
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
  return fs.readFileSync(`${file}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
}

/** OpenSSH's `SHA256:` fingerprint (unpadded base64 of the SHA-256 of the key blob). */
export function fingerprint(publicKey: string): string {
  const blob = Buffer.from(publicKey.trim().split(/\s+/)[1], 'base64');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function sshdConfig(dir: string, port: number, hostKey: string): string {
  return [
    'ListenAddress 127.0.0.1',
    `Port ${port}`,
    `HostKey ${hostKey}`,
    `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
    'StrictModes no',
    'UsePAM no',
    'PidFile none',
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'MaxSessions 10',
    'MaxStartups 200',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'Subsystem sftp internal-sftp',
    `LogLevel ${process.env.LVSPLAY_SSHD_LOGLEVEL ?? 'ERROR'}`,
    '',
  ].join('\n');
}

function waitForPort(port: number, child: ChildProcess, logFile: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
        return reject(new Error(`sshd on port ${port} exited (${child.exitCode ?? child.signalCode}): ${log.trim()}`));
      }
      const sock = net.connect({ host: '127.0.0.1', port });
      sock.once('connect', () => {
        sock.destroy();
        resolve();
      });
      sock.once('error', () => {
        sock.destroy();
        if (Date.now() > deadline) return reject(new Error(`sshd on port ${port} did not accept connections within ${timeoutMs} ms`));
        setTimeout(attempt, 25);
      });
    };
    attempt();
  });
}

async function startOne(dir: string, index: number): Promise<Server> {
  const hostKey = path.join(dir, `host${index}_ed25519`);
  const pubKey = keygen(hostKey, `lvsplay-test-host${index}`);
  // Another process may grab the port between our probe and sshd's bind: retry on a fresh one.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const cfg = path.join(dir, `sshd${index}.conf`);
    fs.writeFileSync(cfg, sshdConfig(dir, port, hostKey));
    const logFile = path.join(dir, `sshd${index}.log`);
    const logFd = fs.openSync(logFile, 'w');
    const child = spawn(SSHD, ['-D', '-e', '-f', cfg], { stdio: ['ignore', 'ignore', logFd] });
    fs.closeSync(logFd);
    if (child.pid === undefined) throw new Error(`could not start ${SSHD}`);
    running.add(child.pid);
    const pid = child.pid;
    child.once('exit', () => running.delete(pid));
    try {
      await waitForPort(port, child, logFile);
      return { port, child, pubKey, logFile };
    } catch (err) {
      killTree(pid, 'SIGKILL');
      if (attempt >= 3) throw err;
    }
  }
}

/**
 * A watchdog shell that kills our sshd listeners if this process dies without running its
 * 'exit' hook (SIGKILL from a test-runner timeout): it polls our PID once a second.
 */
function startWatchdog(pids: number[]): ChildProcess {
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill ${pids.join(' ')} 2>/dev/null; exit 0`;
  const dog = spawn('/bin/sh', ['-c', script], { stdio: 'ignore', detached: true });
  dog.unref();
  return dog;
}

export async function startSshd(opts: { count?: number } = {}): Promise<SshdLab> {
  const count = opts.count ?? 1;
  installExitHook();
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege-separation dir
  ensureUser(TEST_USER, true);
  ensureUser(NOPW_USER, false);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-sshd-'));
  // sshd reads authorized_keys as the target user: the directory must be traversable by them.
  fs.chmodSync(dir, 0o755);
  const userKeyFile = path.join(dir, 'user_ed25519');
  const userPub = keygen(userKeyFile, 'lvsplay-test-user');
  fs.writeFileSync(path.join(dir, 'authorized_keys'), `${userPub}\n`, { mode: 0o644 });

  const servers: Server[] = [];
  try {
    // Sequential: keygen + bind are fast, and parallel starts would race for the same free ports.
    for (let i = 1; i <= count; i++) servers.push(await startOne(dir, i));
  } catch (err) {
    for (const s of servers) killTree(s.child.pid!, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const knownHostsFile = path.join(dir, 'known_hosts');
  fs.writeFileSync(knownHostsFile, servers.map((s) => `[127.0.0.1]:${s.port} ${s.pubKey}\n`).join(''));
  const pids = servers.map((s) => s.child.pid!);
  const watchdog = startWatchdog(pids);
  const byPort = (port: number): Server => {
    const s = servers.find((x) => x.port === port);
    if (!s) throw new Error(`no test sshd on port ${port}`);
    return s;
  };

  const hosts: Host[] = servers.map((s, i) => ({
    name: `h${i + 1}`,
    address: '127.0.0.1',
    port: s.port,
    user: TEST_USER,
    privateKeyFile: userKeyFile,
    become: false,
    groups: ['all'],
    vars: {},
  }));

  const frozen = new Set<number>();
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      // Frozen processes go first, and hard: continued, a sudo whose command was stopped stops
      // itself again (job control) and would linger, stopped, once its sshd is gone.
      for (const pid of frozen) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      for (const s of servers) killTree(s.child.pid!, 'SIGTERM');
      const trees = new Set(servers.flatMap((s) => [s.child.pid!]));
      const deadline = Date.now() + 5000;
      while ([...trees].some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const pid of trees) if (isAlive(pid)) killTree(pid, 'SIGKILL');
      await Promise.all(
        servers.map((s) =>
          s.child.exitCode !== null || s.child.signalCode !== null
            ? undefined
            : new Promise<void>((r) => s.child.once('exit', () => r())),
        ),
      );
      try {
        if (watchdog.pid) process.kill(watchdog.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
      fs.rmSync(dir, { recursive: true, force: true });
    })());

  return {
    hosts,
    knownHostsFile,
    hostKeyFingerprint: (port) => fingerprint(byPort(port).pubKey),
    hostPublicKey: (port) => byPort(port).pubKey,
    userKeyFile,
    pids,
    dir,
    log: (port) => {
      const f = byPort(port).logFile;
      return fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '';
    },
    freeze: (port) => {
      const tree = descendants(byPort(port).child.pid!);
      const stopped = tree.filter((pid) => {
        try {
          process.kill(pid, 'SIGSTOP');
        } catch {
          return false; // exited since the listing (e.g. a command that just finished)
        }
        frozen.add(pid);
        return true;
      });
      return stopped;
    },
    stop,
  };
}
