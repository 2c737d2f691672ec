// The flags, environment variables and ansible.cfg settings Ansible users bring, end to end against
// real sshd on 127.0.0.1: a playbook file in a temp dir importing lib/cli.ts (and playbooks/adhoc.ts),
// run as a child process exactly as a user runs one, with Ansible's meaning of each.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { findAnsibleCfg } from '../../lib/ansible-cfg.ts';
import { logLevel, parseCommonArgs } from '../../lib/cli.ts';
import { NOPW_USER, startSshd, TEST_USER, writeInventory, type SshdLab } from '../helpers/sshd.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');

let lab: SshdLab;
let dir: string;
let remote: string;
/** h1, h2 in group web; every connection var set */
let inventory: string;
/** the same hosts without ansible_user and without a key */
let bare: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Ansible's and lvsplay's env cleared, so only what a test sets counts; cwd = the temp dir. */
function run(script: string, args: string[], env: Record<string, string> = {}, cwd = dir): Promise<Run> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(ANSIBLE_|LVSPLAY_INVENTORY|SSH_AUTH_SOCK)/.test(k)));
  return new Promise((resolve) => {
    execFile(
      TSX,
      [script, ...args],
      { cwd, env: { ...clean, FORCE_COLOR: '0', CI: 'true', ANSIBLE_CONFIG: path.join(dir, 'no-such.cfg'), ...env }, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

const site = (args: string[], env?: Record<string, string>, cwd?: string) => run(path.join(dir, 'site.ts'), args, env, cwd);
const adhoc = (args: string[], env?: Record<string, string>, cwd?: string) => run(path.join(ROOT, 'playbooks/adhoc.ts'), args, env, cwd);

function recap(out: string, host: string): Record<string, number> {
  const line = out.split('\n').find((l) => l.startsWith(`${host} `) && l.includes(' : ok='));
  if (!line) throw new Error(`no recap line for ${host} in:\n${out}`);
  return Object.fromEntries([...line.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1], Number(m[2])]));
}

/** adhoc's `host | CHANGED | rc=0 >>\nOUTPUT` for each host, as a map. */
function outputs(out: string): Record<string, string> {
  return Object.fromEntries([...out.matchAll(/^(\S+) \| CHANGED \| rc=0 >>\n(.*)$/gm)].map((m) => [m[1], m[2]]));
}

const PLAYBOOK = `
import { main } from ${JSON.stringify(path.join(ROOT, 'lib/cli.ts'))};
import { command, copy, file } from ${JSON.stringify(path.join(ROOT, 'lib/modules/index.ts'))};
import { sh } from ${JSON.stringify(path.join(ROOT, 'lib/shell.ts'))};

const demo = {
  name: 'demo',
  dir: '/nonexistent',
  defaults: {},
  tasks: (v) => {
    const d = v.base + '/' + v.inventory_hostname;
    return [
      file({ path: d, state: 'directory', mode: '0755' }, { name: 'work dir' }),
      copy({ content: 'one\\n', dest: d + '/one.txt', mode: '0644' }, { name: 'first file', tags: ['files'] }),
      copy({ content: 'two\\n', dest: d + '/two.txt', mode: '0644' }, { name: 'second file', tags: ['files', 'second'] }),
      command({ cmd: sh\`rm -f \${d + '/whoami.txt'}; id -un > \${d + '/whoami.txt'}\` }, { name: 'who am i', tags: ['who'] }),
    ];
  },
};

await main({ description: 'ansible habits test', plays: () => [{ name: 'converge', hosts: 'all', roles: [demo] }] });
`;

test.before(async () => {
  lab = await startSshd({ count: 2 });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-cli-ansible-'));
  fs.chmodSync(dir, 0o755);
  remote = path.join(dir, 'remote');
  fs.mkdirSync(remote, { mode: 0o1777 });
  fs.chmodSync(remote, 0o1777);
  fs.writeFileSync(path.join(dir, 'site.ts'), PLAYBOOK);
  fs.writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }\n');
  const [p1, p2] = lab.hosts.map((h) => h.port);
  const hosts = [{ name: 'h1', port: p1, group: 'web' }, { name: 'h2', port: p2, group: 'web' }];
  inventory = writeInventory(lab, path.join(dir, 'hosts.yml'), { vars: { base: remote }, hosts });
  // no user, no key: they must come from -u / --private-key / env / ansible.cfg
  const text = fs.readFileSync(inventory, 'utf8').split('\n').filter((l) => !/ansible_user|ansible_ssh_private_key_file/.test(l));
  bare = path.join(dir, 'bare.yml');
  fs.writeFileSync(bare, text.join('\n'));
});

test.after.always(async () => {
  await lab?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test.serial('-u and --private-key fill in what the inventory leaves out; the inventory still wins, as in Ansible', async (t) => {
  const noKey = await adhoc(['-i', bare, '-u', TEST_USER, '-a', 'id -un']);
  t.is(noKey.code, 4, 'no key anywhere: unreachable');
  const both = await adhoc(['-i', bare, '-u', NOPW_USER, '--private-key', lab.userKeyFile, '-a', 'id -un']);
  t.is(both.code, 0, both.stdout + both.stderr);
  t.deepEqual(outputs(both.stdout), { h1: NOPW_USER, h2: NOPW_USER });
  const inventoryWins = await adhoc(['-i', inventory, '-u', NOPW_USER, '--private-key', '/nonexistent/key', '-a', 'id -un']);
  t.is(inventoryWins.code, 0, inventoryWins.stdout + inventoryWins.stderr);
  t.deepEqual(outputs(inventoryWins.stdout), { h1: TEST_USER, h2: TEST_USER });
  const extraWins = await adhoc(['-i', inventory, '-l', 'h1', '-e', `ansible_user=${NOPW_USER}`, '-u', TEST_USER, '-a', 'id -un']);
  t.deepEqual(outputs(extraWins.stdout), { h1: NOPW_USER });
});

test.serial('-b runs every task through sudo unless the inventory sets ansible_become', async (t) => {
  const converge = await site(['-i', inventory]);
  t.is(converge.code, 0, converge.stdout + converge.stderr);
  const r = await site(['-i', inventory, '-l', 'h1', '-b', '-t', 'who']);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.is(fs.readFileSync(path.join(remote, 'h1/whoami.txt'), 'utf8'), 'root\n');
  const off = await site(['-i', inventory, '-l', 'h1', '-b', '-t', 'who', '-e', 'ansible_become=false']);
  t.is(off.code, 0, off.stdout + off.stderr);
  t.is(fs.readFileSync(path.join(remote, 'h1/whoami.txt'), 'utf8'), `${TEST_USER}\n`);
  const adhocB = await adhoc(['-i', inventory, '-l', 'h2', '-b', '-a', 'id -u']);
  t.deepEqual(outputs(adhocB.stdout), { h2: '0' });
});

test.serial('-T / ANSIBLE_TIMEOUT bound the SSH handshake; -c ssh is accepted, other connections refused with the reason', async (t) => {
  // a port that accepts TCP and never speaks SSH
  const silent = net.createServer(() => {}).listen(0, '127.0.0.1');
  await new Promise((r) => silent.once('listening', r));
  const port = (silent.address() as net.AddressInfo).port;
  try {
    const inv = writeInventory(lab, path.join(dir, 'silent.yml'), { hosts: [{ name: 'mute', port }] });
    const flag = await adhoc(['-i', inv, '-T', '1', '-c', 'ssh', '-a', 'true']);
    t.is(flag.code, 4, flag.stdout + flag.stderr);
    t.regex(flag.stdout, /mute \| UNREACHABLE! => .*no SSH handshake within 1000 ms/);
    const env = await adhoc(['-i', inv, '-a', 'true'], { ANSIBLE_TIMEOUT: '2' });
    t.regex(env.stdout, /no SSH handshake within 2000 ms/);
  } finally {
    silent.close();
  }
  for (const c of ['local', 'paramiko', 'winrm']) {
    const r = await site(['-i', inventory, '-c', c]);
    t.is(r.code, 1, c);
    t.regex(r.stderr, new RegExp(`-c ${c}(: unknown connection| is not supported: )`), c);
    t.false(r.stdout.includes('PLAY'), c);
  }
  const bad = await site(['-i', inventory, '-T', '0']);
  t.regex(bad.stderr, /--timeout must be a positive integer/);
});

test.serial('--list-tasks, --list-tags and --syntax-check touch no host; --step is refused; --version names the config file', async (t) => {
  // a port nobody listens on: any connection attempt would fail the command
  const srv = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  const down = writeInventory(lab, path.join(dir, 'down.yml'), { vars: { base: remote }, hosts: [{ name: 'gone', port }] });

  const tasks = await site(['-i', down, '--list-tasks', '--skip-tags', 'who']);
  t.is(tasks.code, 0, tasks.stdout + tasks.stderr);
  t.regex(tasks.stdout, /play #1 \(all\): converge\tTAGS: \[\]\n    tasks:\n      demo : work dir\tTAGS: \[demo\]\n      demo : first file\tTAGS: \[demo, files\]\n      demo : second file\tTAGS: \[demo, files, second\]\n\n?$/);
  const tags = await site(['-i', down, '--list-tags']);
  t.is(tags.code, 0);
  t.regex(tags.stdout, /TASK TAGS: \[demo, files, second, who\]/);
  const syntax = await site(['-i', down, '--syntax-check']);
  t.is(syntax.code, 0, syntax.stdout + syntax.stderr);
  t.regex(syntax.stdout, /playbook: ansible habits test/);
  const badSyntax = await site(['-i', down, '--syntax-check', '-e', 'not a var']);
  t.is(badSyntax.code, 1);
  t.regex(badSyntax.stderr, /is not key=value/);

  const step = await site(['-i', down, '--step']);
  t.is(step.code, 1);
  t.regex(step.stderr, /--step is not supported: .+/);
  const cfg = path.join(dir, 'version.cfg');
  fs.writeFileSync(cfg, '[defaults]\nforks = 3\n');
  const version = await site(['--version'], { ANSIBLE_CONFIG: cfg });
  t.is(version.code, 0);
  t.regex(version.stdout, /^lvsplay \d+\.\d+\.\d+\n  config file = .*version\.cfg$/m);
});

test.serial('--start-at-task skips every task before the first match (name, "role : name" or glob); no match is refused', async (t) => {
  fs.rmSync(path.join(remote, 'h2'), { recursive: true, force: true });
  const r = await site(['-i', inventory, '-l', 'h2', '--start-at-task', 'demo : second*']);
  t.is(r.code, 2, 'the work dir was skipped, so the copy fails');
  t.false(fs.existsSync(path.join(remote, 'h2/one.txt')));
  t.regex(r.stdout, /\[h2\] failed: converge › demo › second file/);
  t.notRegex(r.stdout, /work dir|first file/);

  const full = await site(['-i', inventory, '-l', 'h2']);
  t.is(full.code, 0, full.stdout + full.stderr);
  const again = await site(['-i', inventory, '-l', 'h2', '--start-at-task', 'who am i']);
  t.is(again.code, 0, again.stdout + again.stderr);
  t.like(recap(again.stdout, 'h2'), { ok: 1, changed: 1 }); // only the command ran

  const none = await site(['-i', inventory, '--start-at-task', 'no such task']);
  t.is(none.code, 1);
  t.regex(none.stderr, /--start-at-task "no such task": no task of these plays has that name/);
});

test.serial('-v shows results, -vv adds the commands, -vvv adds their output and SSH details', async (t) => {
  const v1 = await site(['-i', inventory, '-l', 'h1', '-v', '-t', 'who']);
  const v2 = await site(['-i', inventory, '-l', 'h1', '-vv', '-t', 'who']);
  const v3 = await site(['-i', inventory, '-l', 'h1', '-vvv', '-t', 'who']);
  for (const r of [v1, v2, v3]) {
    t.is(r.code, 0, r.stdout + r.stderr);
    t.regex(r.stdout, /^\[h1\] changed: who am i/m);
  }
  t.notRegex(v1.stdout, /^\[h1\] \| \$ /m);
  t.regex(v2.stdout, /^\[h1\] \| \$ .*id -un/m);
  t.notRegex(v2.stdout, /^\[h1\] \| connected to/m);
  t.regex(v3.stdout, /^\[h1\] \| connected to/m);
  t.regex(v3.stderr, /^config file = /m);
  t.is(logLevel('$ true'), 2);
  t.is(logLevel('[sudo] $ true'), 2);
  t.is(logLevel('  out| x'), 3);
});

test.serial('-l @file: one pattern per line, like a .retry file; a missing file is refused', async (t) => {
  const list = path.join(dir, 'site.retry');
  fs.writeFileSync(list, 'h2\n\n');
  const r = await adhoc(['-i', inventory, '-l', `@${list}`, '-a', 'hostname >/dev/null; echo x']);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.deepEqual(Object.keys(outputs(r.stdout)), ['h2']);
  fs.writeFileSync(list, 'h1\nh2\n');
  const hosts = await site(['-i', inventory, '-l', '@site.retry', '--list-hosts']);
  t.regex(hosts.stdout, /hosts \(2\):\n {6}h1\n {6}h2/);
  const missing = await site(['-i', inventory, '-l', '@nope.retry']);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /--limit @nope\.retry: cannot read .*nope\.retry: ENOENT/);
});

test.serial('ANSIBLE_INVENTORY, ANSIBLE_REMOTE_USER, ANSIBLE_PRIVATE_KEY_FILE work like the flags; -i and LVSPLAY_INVENTORY win', async (t) => {
  const env = { ANSIBLE_INVENTORY: bare, ANSIBLE_REMOTE_USER: NOPW_USER, ANSIBLE_PRIVATE_KEY_FILE: lab.userKeyFile };
  const r = await adhoc(['-a', 'id -un'], env);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.deepEqual(outputs(r.stdout), { h1: NOPW_USER, h2: NOPW_USER });
  const flagWins = await adhoc(['-u', TEST_USER, '-a', 'id -un'], env);
  t.deepEqual(outputs(flagWins.stdout), { h1: TEST_USER, h2: TEST_USER });
  const one = writeInventory(lab, path.join(dir, 'one.yml'), { hosts: [{ name: 'only', port: lab.hosts[0].port }] });
  const lvsplayWins = await adhoc(['--list-hosts'], { ...env, LVSPLAY_INVENTORY: one });
  t.regex(lvsplayWins.stdout, /hosts \(1\):\n {4}only/);
  const iWins = await adhoc(['-i', one, '--list-hosts'], { ...env, LVSPLAY_INVENTORY: inventory });
  t.regex(iWins.stdout, /hosts \(1\):\n {4}only/);
  // a path list, as Ansible reads it: every source, merged in order
  const both = await adhoc(['--list-hosts'], { ...env, ANSIBLE_INVENTORY: `${one},${bare}` });
  t.is(both.code, 0, both.stdout + both.stderr);
  t.regex(both.stdout, /hosts \(3\):/);
  const badForks = await site([], { ...env, ANSIBLE_FORKS: 'lots' });
  t.is(badForks.code, 1);
  t.regex(badForks.stderr, /environment ANSIBLE_FORKS: expected an integer, got "lots"/);
  const noInv = await site([]);
  t.is(noInv.code, 1);
  t.regex(noInv.stderr, /no inventory: pass -i FILE, set LVSPLAY_INVENTORY or ANSIBLE_INVENTORY, or name one in ansible.cfg/);
});

test.serial('ANSIBLE_HOST_KEY_CHECKING: True is strict (unknown key refused), False is off; --host-key-checking wins', async (t) => {
  // no lvsplay_known_hosts: the servers' keys are unknown (and ~/.ssh/known_hosts is never written here)
  const text = fs.readFileSync(inventory, 'utf8').split('\n').filter((l) => !/lvsplay_known_hosts/.test(l));
  const unknown = path.join(dir, 'unknown-keys.yml');
  fs.writeFileSync(unknown, text.join('\n'));
  const strict = await adhoc(['-i', unknown, '-l', 'h1', '-a', 'true'], { ANSIBLE_HOST_KEY_CHECKING: 'True' });
  t.is(strict.code, 4, strict.stdout + strict.stderr);
  t.regex(strict.stdout, /not in known_hosts .*host key checking is strict/);
  const off = await adhoc(['-i', unknown, '-l', 'h1', '-a', 'true'], { ANSIBLE_HOST_KEY_CHECKING: 'False' });
  t.is(off.code, 0, off.stdout + off.stderr);
  const flag = await adhoc(['-i', unknown, '-l', 'h1', '--host-key-checking', 'strict', '-a', 'true'], { ANSIBLE_HOST_KEY_CHECKING: 'no' });
  t.is(flag.code, 4);
  const bad = await adhoc(['-i', unknown, '-a', 'true'], { ANSIBLE_HOST_KEY_CHECKING: 'maybe' });
  t.is(bad.code, 1);
  t.regex(bad.stderr, /ANSIBLE_HOST_KEY_CHECKING: expected a boolean/);
});

test.serial('ansible.cfg in the usual places, first found wins; paths relative to the file; env beats it', async (t) => {
  const project = path.join(dir, 'project');
  fs.mkdirSync(path.join(project, 'keys'), { recursive: true });
  fs.chmodSync(project, 0o755);
  fs.copyFileSync(lab.userKeyFile, path.join(project, 'keys/id'));
  fs.chmodSync(path.join(project, 'keys/id'), 0o600);
  fs.copyFileSync(bare, path.join(project, 'hosts.yml'));
  fs.writeFileSync(
    path.join(project, 'ansible.cfg'),
    [
      '# as ansible-config init writes it', '[defaults]', 'inventory = hosts.yml ; inline comment', `remote_user: ${NOPW_USER}`,
      'private_key_file = keys/id', 'forks = 3', 'timeout = 7', 'host_key_checking = False', '', '[ssh_connection]', 'pipelining = True', '',
    ].join('\n'),
  );
  const sub = path.join(dir, 'elsewhere');
  fs.mkdirSync(sub, { recursive: true });

  // ./ansible.cfg of the working directory (ANSIBLE_CONFIG unset)
  const r = await adhoc(['-a', 'id -un'], { ANSIBLE_CONFIG: '' }, project);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.deepEqual(outputs(r.stdout), { h1: NOPW_USER, h2: NOPW_USER });
  const args = parseCommonArgs([], undefined, { ANSIBLE_CONFIG: path.join(project, 'ansible.cfg') }).args;
  t.like(args, { inventory: path.join(project, 'hosts.yml'), user: NOPW_USER, privateKey: path.join(project, 'keys/id'), forks: 3, timeout: 7, hostKeyChecking: 'off' });
  // env over the file, flags over env
  t.like(parseCommonArgs([], undefined, { ANSIBLE_CONFIG: path.join(project, 'ansible.cfg'), ANSIBLE_FORKS: '4', ANSIBLE_TIMEOUT: '9' }).args, { forks: 4, timeout: 9 });
  t.like(parseCommonArgs(['-f', '6', '-T', '2'], undefined, { ANSIBLE_CONFIG: path.join(project, 'ansible.cfg'), ANSIBLE_FORKS: '4' }).args, { forks: 6, timeout: 2 });

  // ANSIBLE_CONFIG (a file or a directory) wins over ./ansible.cfg; a world-writable cwd's file is ignored, as Ansible does
  fs.writeFileSync(path.join(sub, 'ansible.cfg'), '[defaults]\nforks = 2\n');
  t.is(findAnsibleCfg({ ANSIBLE_CONFIG: sub }, project), path.join(sub, 'ansible.cfg'));
  t.is(findAnsibleCfg({}, project), path.join(project, 'ansible.cfg'));
  fs.chmodSync(sub, 0o777);
  t.not(findAnsibleCfg({}, sub), path.join(sub, 'ansible.cfg'));
  fs.chmodSync(sub, 0o755);

  fs.writeFileSync(path.join(sub, 'ansible.cfg'), '[defaults]\nforks = many\n');
  const bad = await site([], { ANSIBLE_CONFIG: '' }, sub);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /elsewhere\/ansible\.cfg:2: \[defaults\] forks: expected an integer, got "many"/);
});

test.serial('adhoc -C runs nothing (a marker file stays absent) and says why; --json writes results; tags are refused', async (t) => {
  const marker = path.join(remote, 'marker');
  const check = await adhoc(['-i', inventory, '-C', '--', 'touch', marker]);
  t.is(check.code, 0, check.stdout + check.stderr);
  t.false(fs.existsSync(marker));
  t.regex(check.stdout, /^h1 \| SKIPPED \| skipped: check mode cannot know the effect of a raw command$/m);

  const json = path.join(dir, 'adhoc.json');
  const r = await adhoc(['-i', inventory, '--json', json, '-a', 'echo hi; exit $([ "$(hostname)" = x ] && echo 1 || echo 0)']);
  t.is(r.code, 0, r.stdout + r.stderr);
  const report = JSON.parse(fs.readFileSync(json, 'utf8'));
  t.is(report.exitCode, 0);
  t.deepEqual(report.results.map((x: { host: string; rc: number; stdout: string }) => [x.host, x.rc, x.stdout]), [['h1', 0, 'hi\n'], ['h2', 0, 'hi\n']]);
  t.like(report.recap.h1, { changed: 1, failed: 0 });

  for (const flags of [['-t', 'x'], ['--skip-tags', 'x'], ['-D'], ['--list-tasks'], ['--start-at-task', 'x']]) {
    const refused = await adhoc(['-i', inventory, ...flags, '--', 'touch', marker]);
    t.is(refused.code, 1, flags.join(' '));
    t.regex(refused.stderr, /these flags are for playbooks/);
  }
  t.false(fs.existsSync(marker));
});
