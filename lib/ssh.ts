// The transport: one ssh2 connection per host, opened once and reused. The only importer of ssh2
// (with its helpers lib/ssh-*.ts). Exec channels are bounded per connection, sudo wraps become,
// files go up by sftp to a temp file and are renamed into place.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Client, ClientChannel, ConnectConfig, SFTPWrapper } from 'ssh2';
import { credentials, loadSsh2 } from './ssh-auth.ts';
import { hostKeyVerifier, knownHostsFiles, type HostKeyChecking } from './ssh-hostkey.ts';
import { PUT_STEP, putPaths, putScript, validateFailure } from './ssh-put.ts';
import { readScript } from './ssh-read.ts';
import { isCommand, literal, quote, sh, type Command } from './shell.ts';
import {
  CommandError,
  UnreachableError,
  type Conn,
  type ExecOptions,
  type ExecResult,
  type Host,
  type PutOptions,
} from './types.ts';

export type { HostKeyChecking } from './ssh-hostkey.ts';

export interface ConnectOptions {
  /** default 'accept-new' */
  hostKeyChecking?: HostKeyChecking;
  /** default ~/.ssh/known_hosts; the host's `lvsplay_known_hosts` var is always added */
  knownHostsFiles?: string[];
  /** TCP connect + SSH handshake + auth, default 15000 */
  connectTimeoutMs?: number;
  /** called for every channel opened (exec or sftp): round trips, for bench/noop.ts and tests */
  onChannel?: (host: string, kind: 'exec' | 'sftp') => void;
  /** exec channels in flight per connection, default 5 (OpenSSH's MaxSessions is 10) */
  maxChannels?: number;
  /**
   * A keepalive request every this many ms (default 5000); the host's `lvsplay_keepalive_interval`
   * (seconds) wins. A host that answers none of `keepaliveCountMax` in a row (default 3; the host's
   * `lvsplay_keepalive_count_max` wins) is lost: see keepaliveOf().
   */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /** -v output: commands, their exit codes and output */
  onLog?: (host: string, line: string) => void;
}

/** `become` was asked for but sudo wants a password. */
export class BecomePasswordError extends CommandError {
  constructor(host: string, user: string, command: string, exitCode: number, stdout: string, stderr: string) {
    super(host, command, exitCode, stdout, stderr);
    this.name = 'BecomePasswordError';
    this.message = `${host}: become needs a password for ${user} (sudo -n): configure NOPASSWD sudo or connect as root`;
  }
}

/** A put() step failed; dest was left untouched. */
export class PutError extends CommandError {
  constructor(host: string, command: string, exitCode: number, stdout: string, stderr: string, message: string) {
    super(host, command, exitCode, stdout, stderr);
    this.name = 'PutError';
    this.message = message;
  }
}

const SUDO_PASSWORD = /^sudo: (a password is required|a terminal is required|sorry, you must have a tty)/m;
const CHANNEL_OPEN_FAILURE = /Channel open failure/;
const MAX_OPEN_ATTEMPTS = 8;

class Semaphore {
  private waiting: Array<() => void> = [];
  constructor(private free: number) {}
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function exitCodeOf(code: number | null | undefined, signal: string | undefined): number {
  if (typeof code === 'number') return code;
  const name = signal?.startsWith('SIG') ? signal : `SIG${signal}`;
  const n = signal ? os.constants.signals[name as keyof typeof os.constants.signals] : undefined;
  return n ? 128 + n : -1;
}

/**
 * Sends SIGKILL to the command's process group (OpenSSH >= 7.9 honours "signal" requests).
 * ssh2's Channel.signal() refuses once our side is no longer writable, i.e. after stdin was
 * closed, which is always the case here: so the request goes through its protocol object.
 * Without it, sshd keeps a closed channel's command running until the command exits.
 */
function killRemote(stream: ClientChannel): void {
  const ch = stream as unknown as { outgoing?: { id: number; state: string }; _client?: { _protocol?: { signal?(id: number, name: string): void } } };
  try {
    if (ch.outgoing?.state === 'open' || ch.outgoing?.state === 'eof') ch._client?._protocol?.signal?.(ch.outgoing.id, 'KILL');
  } catch {
    /* best effort: closing the channel still frees our side */
  }
}

function tail(text: string, lines = 200): string[] {
  const all = text.replace(/\n$/, '').split('\n');
  return all.length > lines ? [`… ${all.length - lines} lines`, ...all.slice(-lines)] : all;
}

/**
 * LVSPLAY_COUNT_CHANNELS=1: channels opened per host, printed to stderr at exit (the lab's round
 * trips per host, for bench/README figures; the CLI's pool has no other hook for it).
 */
const channelCounts = process.env.LVSPLAY_COUNT_CHANNELS === '1' ? new Map<string, { exec: number; sftp: number }>() : undefined;
if (channelCounts)
  process.on('exit', () => {
    for (const [host, c] of channelCounts) process.stderr.write(`lvsplay channels ${host}: exec=${c.exec} sftp=${c.sftp}\n`);
  });
function countChannel(host: string, kind: 'exec' | 'sftp'): void {
  if (!channelCounts) return;
  const c = channelCounts.get(host) ?? { exec: 0, sftp: 0 };
  c[kind]++;
  channelCounts.set(host, c);
}

class SshConn implements Conn {
  private readonly channels: Semaphore;
  private sftpSession?: Promise<SFTPWrapper>;
  private lostWhy?: string;
  private readonly onLost = new Set<() => void>();

  constructor(
    readonly host: Host,
    private readonly client: Client,
    private readonly opts: ConnectOptions,
  ) {
    this.channels = new Semaphore(opts.maxChannels ?? 5);
  }

  private log(line: string): void {
    this.opts.onLog?.(this.host.name, line);
  }

  /** why the connection is gone, once it is */
  get lost(): string | undefined {
    return this.lostWhy;
  }

  markLost(why: string): void {
    if (this.lostWhy !== undefined) return;
    this.lostWhy = why;
    for (const f of this.onLost) f();
    this.onLost.clear();
  }

  /**
   * `op`, or UnreachableError as soon as the connection is lost: ssh2 leaves some callbacks
   * pending forever on a dead connection (a channel open or an sftp request sent after the close).
   */
  private untilLost<T>(op: Promise<T>): Promise<T> {
    if (this.lost) return Promise.reject(this.unreachable());
    return new Promise<T>((resolve, reject) => {
      const onLost = () => reject(this.unreachable());
      this.onLost.add(onLost);
      op.then(resolve, reject).finally(() => this.onLost.delete(onLost));
    });
  }

  private unreachable(): UnreachableError {
    return new UnreachableError(this.host.name, `connection lost: ${this.lost}`);
  }

  private needsBecome(become?: boolean): boolean {
    return (become ?? this.host.become) && this.host.user !== 'root';
  }

  /** Opens a channel, retrying while the server refuses it (the command never started). */
  private async open<T>(what: string, opener: (cb: (err: Error | undefined, ch: T) => void) => void): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      if (this.lost) throw this.unreachable();
      try {
        return await this.untilLost(new Promise<T>((resolve, reject) => opener((err, ch) => (err ? reject(err) : resolve(ch)))));
      } catch (err) {
        // A dead socket may fail the open before ssh2 reports 'close': let that event land first.
        if (!this.lost) await new Promise((r) => setImmediate(r));
        if (this.lost) throw this.unreachable();
        if (/Not connected|No response from server/.test((err as Error).message)) {
          this.markLost((err as Error).message);
          throw this.unreachable();
        }
        if (!CHANNEL_OPEN_FAILURE.test((err as Error).message) || attempt >= MAX_OPEN_ATTEMPTS) {
          throw new Error(`${this.host.name}: cannot open ${what}: ${(err as Error).message}`);
        }
        this.log(`${what} refused (${(err as Error).message}), retry ${attempt}/${MAX_OPEN_ATTEMPTS - 1}`);
        await sleep(25 * 2 ** attempt + Math.random() * 25);
      }
    }
  }

  /**
   * One command on one channel: no quoting, no become, no throwing on exit codes.
   * `onStop` runs after a timeout or abort, before the call settles; `unbounded` skips the
   * channel limit (for that clean-up command, which must not queue behind what it cleans up).
   */
  private async run(
    text: string,
    o: Pick<ExecOptions, 'stdin' | 'timeoutMs' | 'signal'> & { onStop?: () => Promise<void>; unbounded?: boolean },
  ): Promise<ExecResult & { timedOut?: boolean }> {
    o.signal?.throwIfAborted();
    const release = o.unbounded ? () => {} : () => this.channels.release();
    if (!o.unbounded) await this.channels.acquire();
    this.opts.onChannel?.(this.host.name, 'exec');
    countChannel(this.host.name, 'exec');
    let stream: ClientChannel;
    try {
      stream = await this.open<ClientChannel>('an exec channel', (cb) => this.client.exec(text, cb));
    } catch (err) {
      release();
      throw err;
    }
    return new Promise((resolve, reject) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let settled = false;
      const settle = (finish: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        finish();
      };
      const result = (exitCode: number, timedOut = false) => ({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        exitCode,
        timedOut,
      });
      // A timeout or abort kills and closes, waits for the clean-up, then settles; the channel
      // slot itself is freed only when the server has really closed the channel.
      let stopping = false;
      const stop = (finish: () => void) => {
        if (stopping) return;
        stopping = true;
        killRemote(stream);
        stream.close();
        // the clean-up ends early on a lost connection; the host is then unreachable, not slow
        void (o.onStop?.() ?? Promise.resolve()).finally(() => settle(this.lost ? () => reject(this.unreachable()) : finish));
      };
      const timer = o.timeoutMs ? setTimeout(() => stop(() => resolve(result(124, true))), o.timeoutMs) : undefined;
      const onAbort = () => stop(() => reject(o.signal!.reason));
      o.signal?.addEventListener('abort', onAbort, { once: true });
      if (o.signal?.aborted) onAbort(); // aborted while waiting for a channel
      stream.on('data', (d: Buffer) => out.push(d));
      stream.stderr.on('data', (d: Buffer) => err.push(d));
      // 'close' repeats the exit status: use it rather than 'exit', which may already have
      // fired while this continuation was queued behind the exec callback.
      stream.on('close', (code?: number | null, signal?: string) => {
        release();
        if (stopping) return; // stop() settles, once its clean-up is done
        settle(() => {
          if (this.lost && code === undefined) reject(this.unreachable());
          else resolve(result(exitCodeOf(code, signal)));
        });
      });
      stream.end(o.stdin ?? undefined);
    });
  }

  /** `tag` marks sudo's command line so that a timed-out command can be found and killed. */
  private wrap(cmd: Command, tag?: string): string {
    return tag ? `sudo -n -- sh -c ${quote(`: ${tag}; ${cmd.text}`)}` : cmd.text;
  }

  /**
   * sshd's signal request runs as the login user, so it cannot kill what sudo started as root:
   * find the exec's session through the tag on sudo's command line and kill it as root.
   * The `[l]` keeps the pattern from matching this clean-up command's own command line.
   */
  private async killBecomeSession(tag: string): Promise<void> {
    const script =
      `for p in $(pgrep -f '[${tag[0]}]${tag.slice(1)}'); do ` +
      `s=$(ps -o sid= -p "$p" | tr -d ' '); [ -n "$s" ] && pkill -KILL -s "$s"; done; true`;
    await this.run(`sudo -n -- sh -c ${quote(script)}`, { timeoutMs: 5000, unbounded: true }).catch(() => {});
  }

  private becomeRefused(become: boolean, r: ExecResult): boolean {
    return become && r.exitCode === 1 && SUDO_PASSWORD.test(r.stderr);
  }

  async exec(cmd: Command | string, o: ExecOptions = {}): Promise<ExecResult> {
    const command = isCommand(cmd) ? cmd : literal(cmd);
    const become = this.needsBecome(o.become);
    const started = Date.now();
    this.log(`${become ? '[sudo] ' : ''}$ ${command.masked}`);
    const tag = become ? `lvsplay-${randomBytes(6).toString('hex')}` : undefined;
    const r = await this.run(this.wrap(command, tag), {
      ...o,
      onStop: tag ? () => this.killBecomeSession(tag) : undefined,
    });
    this.log(`exit ${r.exitCode} in ${Date.now() - started} ms${r.timedOut ? ` (timed out after ${o.timeoutMs} ms)` : ''}`);
    for (const l of r.stdout ? tail(r.stdout) : []) this.log(`  out| ${l}`);
    for (const l of r.stderr ? tail(r.stderr) : []) this.log(`  err| ${l}`);
    if (this.becomeRefused(become, r)) {
      throw new BecomePasswordError(this.host.name, this.host.user, command.masked, r.exitCode, r.stdout, r.stderr);
    }
    if (r.timedOut) {
      // 124 like timeout(1); said in stderr too so the error message explains itself.
      const stderr = `${r.stderr}${r.stderr && !r.stderr.endsWith('\n') ? '\n' : ''}lvsplay: timed out after ${o.timeoutMs} ms`;
      if (o.nothrow) return { stdout: r.stdout, stderr, exitCode: 124 };
      throw new CommandError(this.host.name, command.masked, 124, r.stdout, stderr);
    }
    const result = { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
    if (r.exitCode !== 0 && !o.nothrow) {
      throw new CommandError(this.host.name, command.masked, r.exitCode, r.stdout, r.stderr);
    }
    return result;
  }

  $ = (strings: TemplateStringsArray, ...values: unknown[]): Promise<ExecResult> => this.exec(sh(strings, ...values));

  async read(cmds: Command[], o: { become?: boolean } = {}): Promise<ExecResult[]> {
    if (!cmds.length) return [];
    const { script, parse } = readScript(cmds);
    const r = await this.exec(script, { become: o.become, nothrow: true });
    return parse(r.stdout, r.stderr);
  }

  private sftp(): Promise<SFTPWrapper> {
    if (!this.sftpSession) {
      this.opts.onChannel?.(this.host.name, 'sftp');
      countChannel(this.host.name, 'sftp');
    }
    this.sftpSession ??= this.open<SFTPWrapper>('an sftp session', (cb) => this.client.sftp(cb)).then(
      (s) => {
        s.on('close', () => (this.sftpSession = undefined));
        return s;
      },
      (err) => {
        this.sftpSession = undefined;
        throw err;
      },
    );
    return this.sftpSession;
  }

  /**
   * Without become the bytes go straight to the temp file beside dest. With become (and a
   * non-root login) sftp can only write as the login user, so they go to a private /tmp file
   * first and root copies them beside dest: the final rename stays atomic either way.
   */
  async put(dest: string, content: string | Buffer, o: PutOptions = {}): Promise<void> {
    const become = this.needsBecome(o.become);
    const paths = putPaths(dest, randomBytes(6).toString('hex'), become);
    const upload = paths.upload ?? paths.temp;
    const sftp = await this.sftp();
    this.log(`put ${dest} (${Buffer.byteLength(content)} bytes via ${upload})`);
    try {
      await this.untilLost(
        new Promise<void>((resolve, reject) => sftp.writeFile(upload, content, { mode: 0o600 }, (err) => (err ? reject(err) : resolve()))),
      );
    } catch (err) {
      sftp.unlink(upload, () => {});
      if (this.lost) throw this.unreachable();
      throw new Error(`${this.host.name}: put ${dest}: cannot write ${upload}: ${(err as Error).message}`);
    }
    const asRoot = become || this.host.user === 'root';
    let r: ExecResult;
    try {
      r = await this.exec(putScript(paths, o, asRoot), { become, nothrow: true });
    } catch (err) {
      sftp.unlink(upload, () => {}); // e.g. sudo refused: the script never ran to clean up
      throw err;
    }
    if (r.exitCode === 0) return;
    const step = PUT_STEP[r.exitCode] ?? `exit ${r.exitCode}`;
    if (r.exitCode === 103) {
      const v = validateFailure(r.stderr);
      const shown = v.stderr.trim() || r.stdout.trim();
      throw new PutError(
        this.host.name,
        o.validate!,
        v.exitCode,
        r.stdout,
        v.stderr,
        `${this.host.name}: put ${dest}: validate \`${o.validate}\` exited ${v.exitCode}; ${dest} left untouched${shown ? `:\n${shown}` : ''}`,
      );
    }
    const shown = r.stderr.trim();
    throw new PutError(
      this.host.name,
      `put ${dest}`,
      r.exitCode,
      r.stdout,
      r.stderr,
      `${this.host.name}: put ${dest}: ${step} failed; ${dest} left untouched${shown ? `:\n${shown}` : ''}`,
    );
  }

  close(): Promise<void> {
    if (this.lost) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.client.destroy();
        resolve();
      }, 2000);
      this.client.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.client.end();
    });
  }
}

export interface Keepalive {
  intervalMs: number;
  countMax: number;
}

/**
 * The keepalive a connection to `host` uses: the host's vars over `opts` over 5 s × 3. ssh2 gives
 * up at the tick after `countMax` unanswered requests, so a host that goes silent (a power cut:
 * no RST, no FIN) is declared lost at most (countMax + 1) × interval after its last answer, 20 s
 * by default, and every pending exec, sftp and put rejects with UnreachableError.
 */
export function keepaliveOf(host: Host, opts: Pick<ConnectOptions, 'keepaliveIntervalMs' | 'keepaliveCountMax'> = {}): Keepalive {
  const secs = host.vars.lvsplay_keepalive_interval;
  const count = host.vars.lvsplay_keepalive_count_max;
  return {
    intervalMs: secs !== undefined ? Math.round(Number(secs) * 1000) : (opts.keepaliveIntervalMs ?? 5000),
    countMax: count !== undefined ? Number(count) : (opts.keepaliveCountMax ?? 3),
  };
}

function describeConnectError(err: Error & { level?: string; code?: string }, host: Host, tried: string[], timeoutMs: number): string {
  if (err.level === 'client-authentication') {
    return `authentication failed for ${host.user} (offered: ${tried.join(', ')})`;
  }
  if (err.level === 'client-timeout') return `no SSH handshake within ${timeoutMs} ms`;
  return err.message;
}

/** Opens and authenticates one connection; any failure is an UnreachableError. */
export async function connect(host: Host, opts: ConnectOptions = {}): Promise<Conn> {
  const where = `${host.user}@${host.address}:${host.port}`;
  const fail = (why: string) => new UnreachableError(host.name, `ssh ${where}: ${why}`);
  const log = (line: string) => opts.onLog?.(host.name, line);
  const timeoutMs = opts.connectTimeoutMs ?? 15_000;
  const ssh2 = await loadSsh2();
  const { methods, tried } = credentials(host);
  const verifier = hostKeyVerifier(host, opts.hostKeyChecking ?? 'accept-new', knownHostsFiles(host, opts.knownHostsFiles), log);

  const keepalive = keepaliveOf(host, opts);
  const client = new ssh2.Client();
  let conn: SshConn | undefined;
  const config: ConnectConfig = {
    host: host.address,
    port: host.port,
    username: host.user,
    authHandler: methods,
    hostVerifier: (key: Buffer) => verifier.verify(key),
    readyTimeout: timeoutMs,
    keepaliveInterval: keepalive.intervalMs,
    keepaliveCountMax: keepalive.countMax,
    ...(verifier.algorithms ? { algorithms: { serverHostKey: verifier.algorithms as any } } : {}),
  };

  return new Promise<Conn>((resolve, reject) => {
    let settled = false;
    // The one permanent 'error' listener: before ready it fails the connect, afterwards it
    // marks the connection lost so that pending and later commands fail as unreachable.
    client.on('error', (err: Error & { level?: string }) => {
      if (!settled) {
        settled = true;
        client.destroy();
        reject(fail(verifier.refusal ?? describeConnectError(err, host, tried, timeoutMs)));
        return;
      }
      log(`connection error: ${err.message}`);
      conn?.markLost(
        err.message === 'Keepalive timeout'
          ? `no answer to ${keepalive.countMax} keepalives ${keepalive.intervalMs / 1000} s apart (host down or network cut)`
          : err.message,
      );
    });
    client.on('close', () => {
      conn?.markLost('closed');
      if (!settled) {
        settled = true;
        reject(fail(verifier.refusal ?? 'connection closed during the handshake'));
      }
    });
    client.on('ready', () => {
      settled = true;
      client.setNoDelay(true);
      conn = new SshConn(host, client, opts);
      log(`connected to ${where}`);
      resolve(conn);
    });
    client.connect(config);
  });
}

/** One connection per host for a whole run: opened on first use, then shared. */
export class ConnectionPool {
  private readonly conns = new Map<string, Promise<Conn>>();
  constructor(private readonly opts: ConnectOptions = {}) {}

  /** A host that failed to connect stays failed for the run (it is reported unreachable once). */
  get(host: Host): Promise<Conn> {
    let conn = this.conns.get(host.name);
    if (!conn) {
      conn = connect(host, this.opts);
      conn.catch(() => {}); // observed by the caller; avoid an unhandled rejection if nobody awaits twice
      this.conns.set(host.name, conn);
    }
    return conn;
  }

  async closeAll(): Promise<void> {
    const all = [...this.conns.values()];
    this.conns.clear();
    await Promise.all(all.map((c) => c.then((conn) => conn.close(), () => {})));
  }
}
