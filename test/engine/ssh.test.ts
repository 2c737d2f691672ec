// The transport against real OpenSSH servers on 127.0.0.1 (test/helpers/sshd.ts).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BecomePasswordError, ConnectionPool, PutError, connect, type ConnectOptions } from '../../lib/ssh.ts';
import { secret, sh } from '../../lib/shell.ts';
import { CommandError, UnreachableError, type Conn, type Host } from '../../lib/types.ts';
import { NOPW_USER, isAlive, startSshd, type SshdLab } from '../helpers/sshd.ts';

let lab: SshdLab;
let conn: Conn;
let scratch: string; // local temp dir for known_hosts files and keys
let remoteDir: string; // a directory on the "remote" side owned by the test user

test.before(async () => {
  lab = await startSshd({ count: 2 });
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-ssh-test-'));
  conn = await connect(lab.hosts[0], { knownHostsFiles: [lab.knownHostsFile], hostKeyChecking: 'strict' });
  remoteDir = (await conn.exec('mktemp -d /tmp/lvsplay-ssh-test-XXXXXX')).stdout.trim();
});

test.after.always(async () => {
  if (conn && remoteDir) await conn.exec(sh`rm -rf ${remoteDir}`, { nothrow: true });
  await conn?.close();
  await lab?.stop();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

const strictTo = (file: string): ConnectOptions => ({ knownHostsFiles: [file], hostKeyChecking: 'strict' });
const withUser = (h: Host, user: string): Host => ({ ...h, user });
const scratchFile = (name: string) => path.join(scratch, `${name}-${randomBytes(4).toString('hex')}`);
/** a fresh remote directory per test: tests in a file run concurrently */
const remoteTmp = async () => (await conn.exec(sh`mktemp -d ${remoteDir}/t-XXXXXX`)).stdout.trim();

// ------------------------------------------------------------------ quoting through real shells

const hostile = [
  '',
  ' ',
  'two words',
  '  leading and trailing  ',
  "it's",
  "''",
  '"double"',
  '$(id -u)',
  '`id -u`',
  '$HOME ${HOME} $0 $$',
  'a\nb',
  '\n',
  'trailing newline\n',
  'tab\tsep',
  'back\\slash \\n \\\\',
  '*',
  '~ ~root',
  '; rm -rf /tmp/nope && echo pwned | cat > /dev/null &',
  '#not a comment',
  '-n',
  '--',
  '%s %d %%',
  '!event',
  'ünïcödé ✓ 😀',
  "mix: '\"`$(\\)'\n\t",
];

for (const shell of ['sh', 'dash', 'bash']) {
  test(`hostile strings round-trip exactly through ${shell} -c`, async (t) => {
    for (const value of hostile) {
      const inner = sh`printf %s ${value}`;
      const r = shell === 'sh' ? await conn.exec(inner) : await conn.exec(sh`${shell} -c ${inner.text}`);
      t.is(r.stdout, value, `through ${shell}: ${JSON.stringify(value)}`);
    }
  });
}

test('the login shell is dash, and bash is there to compare with', async (t) => {
  const r = await conn.$`readlink -f /bin/sh; command -v bash`;
  t.regex(r.stdout, /dash\n.*bash\n$/);
});

test('$`` spreads arrays into separate arguments', async (t) => {
  const r = await conn.$`printf '[%s]' ${['a b', "c'd", '']}`;
  t.is(r.stdout, "[a b][c'd][]");
});

// ------------------------------------------------------------------ exec

test('exec returns stdout, stderr and exit code 0', async (t) => {
  const r = await conn.exec('echo out; echo err >&2');
  t.deepEqual(r, { stdout: 'out\n', stderr: 'err\n', exitCode: 0 });
});

test('a non-zero exit throws CommandError with host, masked command, code, output', async (t) => {
  const err = await t.throwsAsync(conn.exec(sh`echo partial; echo ${'boom'} >&2; exit 3`), { instanceOf: CommandError });
  t.is(err!.host, 'h1');
  t.is(err!.command, 'echo partial; echo boom >&2; exit 3');
  t.is(err!.exitCode, 3);
  t.is(err!.stdout, 'partial\n');
  t.is(err!.stderr, 'boom\n');
  t.regex(err!.message, /^h1: `echo partial.*` exited 3:\nboom$/s);
});

test('$`` throws on non-zero like exec', async (t) => {
  const err = await t.throwsAsync(conn.$`test -e ${'/nonexistent path'}`, { instanceOf: CommandError });
  t.is(err!.exitCode, 1);
  t.is(err!.command, "test -e '/nonexistent path'");
});

test('secrets reach the host but never the error', async (t) => {
  const pw = 'hunter2-' + randomBytes(4).toString('hex');
  const ok = await conn.exec(sh`printf %s ${secret(pw)}`);
  t.is(ok.stdout, pw);
  const err = await t.throwsAsync(conn.exec(sh`test ${secret(pw)} = x`), { instanceOf: CommandError });
  t.false(err!.message.includes(pw));
  t.false(err!.command.includes(pw));
  t.true(err!.command.includes('********'));
});

test('nothrow returns the failing result instead of throwing', async (t) => {
  const r = await conn.exec('echo nope >&2; exit 42', { nothrow: true });
  t.deepEqual(r, { stdout: '', stderr: 'nope\n', exitCode: 42 });
});

test('a command killed by a signal exits 128+n', async (t) => {
  const r = await conn.exec('kill -TERM $$', { nothrow: true });
  t.is(r.exitCode, 128 + 15);
});

test('stdin is written and closed; without it a reader sees EOF at once', async (t) => {
  t.is((await conn.exec('cat', { stdin: "line 1\n$(id)'\n" })).stdout, "line 1\n$(id)'\n");
  t.is((await conn.exec('wc -c', { stdin: Buffer.from([0, 1, 2, 255]) })).stdout.trim(), '4');
  t.is((await conn.exec('cat')).stdout, '');
});

/** PIDs still running `cmd` on the host, after giving the kill a moment to land ('' when none). */
async function survivor(cmd: string): Promise<string> {
  let left = '';
  for (let i = 0; i < 50; i++) {
    left = (await conn.exec(sh`pgrep -f -x ${cmd}`, { nothrow: true })).stdout;
    if (!left) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return left;
}

test('timeoutMs closes the channel, kills the command and throws exit 124', async (t) => {
  const marker = `sleep 30.${Date.now() % 1000}1`;
  const err = await t.throwsAsync(conn.exec(marker, { timeoutMs: 200 }), { instanceOf: CommandError });
  t.is(err!.exitCode, 124);
  t.regex(err!.message, /timed out after 200 ms/);
  t.is(await survivor(marker), '');
});

test('a timed-out become command is killed too', async (t) => {
  const marker = `sleep 31.${Date.now() % 1000}1`;
  await t.throwsAsync(conn.exec(marker, { timeoutMs: 200, become: true }), { message: /timed out/ });
  t.is(await survivor(marker), '');
});

test('an abort signal stops the command and rejects with its reason', async (t) => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error('operator pressed ^C')), 100);
  const marker = `sleep 32.${Date.now() % 1000}1`;
  await t.throwsAsync(conn.exec(marker, { signal: ac.signal }), { message: 'operator pressed ^C' });
  t.is(await survivor(marker), '');
  await t.throwsAsync(conn.exec('true', { signal: AbortSignal.abort(new Error('already')) }), { message: 'already' });
});

// ------------------------------------------------------------------ read

test('read() runs 3 probes in one exec and returns each stdout, stderr and exit code', async (t) => {
  const lines: string[] = [];
  const c = await connect(lab.hosts[0], { ...strictTo(lab.knownHostsFile), onLog: (_h, l) => lines.push(l) });
  try {
    const [a, b, d] = await c.read([
      sh`echo $$; printf 'no newline'`,
      sh`echo $$; ls ${'/no such file'}`,
      sh`echo $$ >&2; cat; exit 7 # a trailing comment must not swallow the framing`,
    ]);
    const pid = a.stdout.split('\n')[0];
    t.regex(pid, /^\d+$/);
    t.deepEqual(a, { stdout: `${pid}\nno newline`, stderr: '', exitCode: 0 });
    t.is(b.stdout, `${pid}\n`);
    t.regex(b.stderr, /No such file/);
    t.is(b.exitCode, 2);
    t.deepEqual(d, { stdout: '', stderr: `${pid}\n`, exitCode: 7 });
    // one shell ($$ is the same in all three) and one exec channel
    t.is(lines.filter((l) => l.startsWith('$ ')).length, 1);
  } finally {
    await c.close();
  }
});

test('read() isolates probes: exit and cd in one do not affect the next', async (t) => {
  const [a, b, c] = await conn.read([sh`cd /; exit 5`, sh`pwd`, sh`printf ''`]);
  t.is(a.exitCode, 5);
  t.is(b.stdout, `${(await conn.exec('pwd')).stdout}`);
  t.deepEqual(c, { stdout: '', stderr: '', exitCode: 0 });
  t.deepEqual(await conn.read([]), []);
});

test('read() with become runs every probe as root', async (t) => {
  const [a, b] = await conn.read([sh`id -u`, sh`cat /etc/shadow >/dev/null`], { become: true });
  t.is(a.stdout, '0\n');
  t.is(b.exitCode, 0);
});

// ------------------------------------------------------------------ put

const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

test('put() writes content and mode atomically and leaves no temp file', async (t) => {
  const dir = await remoteTmp();
  const dest = `${dir}/app.conf`;
  const content = Buffer.concat([Buffer.from("line 1\n$(id) 'q'\n"), randomBytes(4096)]);
  await conn.put(dest, content, { mode: '0640' });
  const r = await conn.$`stat -c %a ${dest}; sha256sum ${dest}`;
  const [mode, sum] = r.stdout.split('\n');
  t.is(mode, '640');
  t.is(sum.split(' ')[0], sha(content));
  t.is((await conn.$`ls -A ${dir}`).stdout, 'app.conf\n');
});

test('put() over an existing file keeps its mode when none is given; new files get 0644', async (t) => {
  const dir = await remoteTmp();
  const dest = `${dir}/keep-mode`;
  await conn.put(dest, 'v1\n', { mode: '0600' });
  await conn.put(dest, 'v2\n');
  t.is((await conn.$`stat -c %a ${dest}; cat ${dest}`).stdout, '600\nv2\n');
  const fresh = `${dir}/fresh`;
  await conn.put(fresh, '');
  t.is((await conn.$`stat -c '%a %s' ${fresh}`).stdout, '644 0\n');
});

test('a failing validate leaves the old file unchanged, no temp file, and quotes the validator', async (t) => {
  const dir = await remoteTmp();
  const dest = `${dir}/validated.conf`;
  await conn.put(dest, 'good config\n');
  const err = await t.throwsAsync(
    conn.put(dest, 'bad config\n', { validate: `grep -q good %s || { echo "syntax error in $(basename %s) line 1" >&2; exit 2; }` }),
    { instanceOf: PutError },
  );
  t.regex(err!.message, /validate `.*` exited 2; .*validated\.conf left untouched/);
  t.regex(err!.message, /syntax error in \.validated\.conf\.lvsplay-[0-9a-f]+ line 1/);
  t.true(err instanceof CommandError);
  t.is(err!.exitCode, 2);
  t.is((await conn.$`cat ${dest}`).stdout, 'good config\n');
  t.is((await conn.$`ls -A ${dir}`).stdout, 'validated.conf\n');
  // and a passing validate replaces it
  await conn.put(dest, 'good config v2\n', { validate: 'grep -q good %s' });
  t.is((await conn.$`cat ${dest}`).stdout, 'good config v2\n');
});

test('put() to a missing directory or a relative path fails clearly', async (t) => {
  await t.throwsAsync(conn.put(`${remoteDir}/missing/dir/f`, 'x'), { message: /cannot write .*missing\/dir/ });
  await t.throwsAsync(conn.put('relative/f', 'x'), { message: /absolute path/ });
});

test('put() with become writes a root-owned file where the user cannot, via /tmp', async (t) => {
  const name = `lvsplay-test-${randomBytes(4).toString('hex')}`;
  const dest = `/etc/${name}`;
  try {
    await conn.put(dest, 'owned by root\n', { become: true, mode: '0600' });
    t.is((await conn.exec(sh`stat -c '%a %U:%G' ${dest}; cat ${dest}`, { become: true })).stdout, '600 root:root\nowned by root\n');
    // without become the same write is refused, and says where
    await t.throwsAsync(conn.put(dest, 'x'), { message: /cannot write \/etc\/\..*Permission denied/i });
    t.is((await conn.exec(sh`ls -A /etc`)).stdout.split('\n').filter((f) => f.startsWith(`.${name}`)).length, 0);
  } finally {
    await conn.exec(sh`rm -f ${dest}`, { become: true, nothrow: true });
  }
});

// ------------------------------------------------------------------ become

test('become runs as root through sudo -n (per command and per host)', async (t) => {
  t.is((await conn.exec('id -u', { become: true })).stdout, '0\n');
  t.not((await conn.exec('id -u')).stdout, '0\n');
  const c = await connect({ ...lab.hosts[0], become: true }, strictTo(lab.knownHostsFile));
  try {
    t.is((await c.$`id -u`).stdout, '0\n');
    t.is((await c.exec('id -u', { become: false })).stdout.trim() !== '0', true);
    // quoting survives the extra sh -c layer
    t.is((await c.$`printf %s ${"it's $(x) `y`"}`).stdout, "it's $(x) `y`");
  } finally {
    await c.close();
  }
});

test('become without NOPASSWD sudo fails with a clear message', async (t) => {
  const c = await connect(withUser(lab.hosts[0], NOPW_USER), strictTo(lab.knownHostsFile));
  try {
    const err = await t.throwsAsync(c.exec('id -u', { become: true }), { instanceOf: BecomePasswordError });
    t.is(err!.message, `h1: become needs a password for ${NOPW_USER} (sudo -n): configure NOPASSWD sudo or connect as root`);
    t.true(err instanceof CommandError);
    await t.throwsAsync(c.put('/etc/lvsplay-never', 'x', { become: true }), { instanceOf: BecomePasswordError });
    t.is((await c.exec('id -un')).stdout, `${NOPW_USER}\n`);
  } finally {
    await c.close();
  }
});

// ------------------------------------------------------------------ connection reuse and channels

test('the pool opens one connection per host and reuses it; 20 concurrent execs succeed', async (t) => {
  const pool = new ConnectionPool(strictTo(lab.knownHostsFile));
  try {
    const [a, b, other] = await Promise.all([pool.get(lab.hosts[0]), pool.get(lab.hosts[0]), pool.get(lab.hosts[1])]);
    t.is(a, b);
    t.not(a, other);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => a.exec(sh`echo ${i} $SSH_CONNECTION`)));
    t.deepEqual(
      results.map((r) => r.stdout.split(' ')[0]),
      Array.from({ length: 20 }, (_, i) => String(i)),
    );
    // every command came over the same TCP connection (same client port)
    t.is(new Set(results.map((r) => r.stdout.split(' ')[2])).size, 1);
    t.is(await pool.get(lab.hosts[0]), a);
  } finally {
    await pool.closeAll();
  }
});

test('no more than maxChannels commands run at once on a connection', async (t) => {
  const dir = await remoteTmp();
  const c = await connect(lab.hosts[0], { ...strictTo(lab.knownHostsFile), maxChannels: 5 });
  try {
    const counts = await Promise.all(
      Array.from({ length: 15 }, (_, i) => c.exec(sh`touch ${dir}/${i}; sleep 0.1; ls ${dir} | wc -l; rm ${dir}/${i}`)),
    );
    const max = Math.max(...counts.map((r) => Number(r.stdout.trim())));
    t.true(max <= 5, `saw ${max} in flight`);
    t.true(max >= 2, `saw ${max} in flight: commands should overlap`);
  } finally {
    await c.close();
  }
});

test('channels refused by the server (MaxSessions 10) are retried, not failed', async (t) => {
  const lines: string[] = [];
  const c = await connect(lab.hosts[1], { ...strictTo(lab.knownHostsFile), maxChannels: 25, onLog: (_h, l) => lines.push(l) });
  try {
    const results = await Promise.all(Array.from({ length: 25 }, (_, i) => c.exec(sh`sleep 0.2; echo ${i}`)));
    t.deepEqual(results.map((r) => Number(r.stdout)), Array.from({ length: 25 }, (_, i) => i));
    t.true(lines.some((l) => /exec channel refused .*Channel open failure.*retry/.test(l)));
  } finally {
    await c.close();
  }
});

// ------------------------------------------------------------------ host keys

test('accept-new records an unknown host key in the project known_hosts file, then it is known', async (t) => {
  const project = scratchFile('known_hosts');
  const lines: string[] = [];
  const c = await connect(lab.hosts[0], { knownHostsFiles: [project], onLog: (_h, l) => lines.push(l) });
  await c.close();
  const port = lab.hosts[0].port;
  t.is(fs.readFileSync(project, 'utf8'), `[127.0.0.1]:${port} ${lab.hostPublicKey(port)}\n`);
  t.true(lines.some((l) => l.includes(`Permanently added '[127.0.0.1]:${port}'`) && l.includes(lab.hostKeyFingerprint(port))));
  // now strict accepts it, and accept-new does not append it twice
  await (await connect(lab.hosts[0], strictTo(project))).close();
  await (await connect(lab.hosts[0], { knownHostsFiles: [project] })).close();
  t.is(fs.readFileSync(project, 'utf8').split('\n').length, 2);
});

test('the host var lvsplay_known_hosts is read and written', async (t) => {
  const file = scratchFile('hostvar_known_hosts');
  const host = { ...lab.hosts[1], vars: { lvsplay_known_hosts: file } };
  await (await connect(host, { knownHostsFiles: [] })).close();
  t.regex(fs.readFileSync(file, 'utf8'), new RegExp(`^\\[127\\.0\\.0\\.1\\]:${lab.hosts[1].port} ssh-ed25519 `));
  await (await connect(host, { knownHostsFiles: [], hostKeyChecking: 'strict' })).close();
});

test('strict refuses an unknown host key and records nothing', async (t) => {
  const empty = scratchFile('empty_known_hosts');
  fs.writeFileSync(empty, '');
  const port = lab.hosts[0].port;
  const err = await t.throwsAsync(connect(lab.hosts[0], strictTo(empty)), { instanceOf: UnreachableError });
  t.regex(err!.message, /not in known_hosts .* strict/);
  t.true(err!.message.includes(lab.hostKeyFingerprint(port)));
  t.is(fs.readFileSync(empty, 'utf8'), '');
});

test('a changed host key is refused with both fingerprints, even under accept-new (also hashed)', async (t) => {
  const [h1, h2] = lab.hosts;
  const wrong = scratchFile('wrong_known_hosts');
  // h1's name recorded with h2's key: what a man in the middle (or a rebuilt VM) looks like
  fs.writeFileSync(wrong, `[127.0.0.1]:${h1.port} ${lab.hostPublicKey(h2.port)}\n`);
  for (const checking of ['accept-new', 'strict'] as const) {
    const err = await t.throwsAsync(connect(h1, { knownHostsFiles: [wrong], hostKeyChecking: checking }), {
      instanceOf: UnreachableError,
    });
    t.regex(err!.message, /HOST KEY CHANGED/);
    t.true(err!.message.includes(lab.hostKeyFingerprint(h1.port)), 'presented fingerprint');
    t.true(err!.message.includes(lab.hostKeyFingerprint(h2.port)), 'recorded fingerprint');
    t.true(err!.message.includes(`${wrong}:1`));
  }
  t.is(fs.readFileSync(wrong, 'utf8').split('\n').length, 2, 'nothing appended');
  execFileSync('ssh-keygen', ['-q', '-H', '-f', wrong], { stdio: 'ignore' });
  t.regex(fs.readFileSync(wrong, 'utf8'), /^\|1\|/);
  await t.throwsAsync(connect(h1, { knownHostsFiles: [wrong] }), { message: /HOST KEY CHANGED/ });
  // off accepts anything
  await (await connect(h1, { knownHostsFiles: [wrong], hostKeyChecking: 'off' })).close();
});

test('the harness known_hosts, hashed by ssh-keygen, still verifies', async (t) => {
  const hashed = scratchFile('hashed_known_hosts');
  fs.copyFileSync(lab.knownHostsFile, hashed);
  execFileSync('ssh-keygen', ['-q', '-H', '-f', hashed], { stdio: 'ignore' });
  const c = await connect(lab.hosts[1], strictTo(hashed));
  t.is((await c.exec('echo ok')).stdout, 'ok\n');
  await c.close();
});

// ------------------------------------------------------------------ unreachable

function unusedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

test('an unused port is UnreachableError (connection refused, not a timeout)', async (t) => {
  const port = await unusedPort();
  const err = await t.throwsAsync(connect({ ...lab.hosts[0], name: 'ghost', port }, { ...strictTo(lab.knownHostsFile), connectTimeoutMs: 10_000 }), {
    instanceOf: UnreachableError,
  });
  t.is(err!.host, 'ghost');
  t.regex(err!.message, new RegExp(`^ghost: ssh lvsplaytest@127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
});

test('the pool remembers an unreachable host instead of retrying it on every task', async (t) => {
  const pool = new ConnectionPool(strictTo(lab.knownHostsFile));
  const ghost = { ...lab.hosts[0], name: 'ghost', port: await unusedPort() };
  const first = pool.get(ghost);
  t.is(pool.get(ghost), first);
  await t.throwsAsync(first, { instanceOf: UnreachableError });
  await pool.closeAll();
});

test('a key the server does not accept is UnreachableError naming what was offered', async (t) => {
  const key = scratchFile('stranger_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  const err = await t.throwsAsync(connect({ ...lab.hosts[0], privateKeyFile: key }, strictTo(lab.knownHostsFile)), {
    instanceOf: UnreachableError,
  });
  t.regex(err!.message, /authentication failed for lvsplaytest/);
  t.true(err!.message.includes(key));
  await t.throwsAsync(connect({ ...lab.hosts[0], privateKeyFile: `${key}.missing` }, strictTo(lab.knownHostsFile)), {
    message: /cannot use private key .*missing.*ENOENT/,
  });
});

// ------------------------------------------------------------------ the harness itself

test('stop() ends every sshd it started, its session processes too, and removes its files', async (t) => {
  const own = await startSshd({ count: 2 });
  const c = await connect(own.hosts[0], strictTo(own.knownHostsFile));
  t.is((await c.exec('echo up')).stdout, 'up\n');
  const children = fs
    .readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
        return own.pids.includes(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      } catch {
        return false;
      }
    })
    .map(Number);
  t.true(children.length >= 1, 'the open connection has a per-session sshd');
  t.true(own.pids.every(isAlive));
  await own.stop();
  t.deepEqual(own.pids.filter(isAlive), []);
  t.deepEqual(children.filter(isAlive), []);
  t.false(fs.existsSync(own.dir));
  // the client notices: later commands fail as unreachable
  await t.throwsAsync(c.exec('true'), { instanceOf: UnreachableError });
  await c.close();
});
