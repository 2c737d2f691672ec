// The CLI end to end against real sshd on 127.0.0.1: a playbook file in a temp dir importing
// lib/cli.ts, run as a child process exactly as a user runs one.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { startSshd, writeInventory, type SshdLab } from '../helpers/sshd.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');

let lab: SshdLab;
let dir: string;
let remote: string;
let inventory: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(script: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      TSX,
      [script, ...args],
      { cwd: dir, env: { ...process.env, FORCE_COLOR: '0', CI: 'true', LVSPLAY_INVENTORY: '', ...env }, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

const site = (...args: string[]) => run(path.join(dir, 'site.ts'), args);
const adhoc = (...args: string[]) => run(path.join(ROOT, 'playbooks/adhoc.ts'), args);

/** The recap line of `host`, parsed. */
function recap(out: string, host: string): Record<string, number> {
  const line = out.split('\n').find((l) => l.startsWith(`${host} `) && l.includes(' : ok='));
  if (!line) throw new Error(`no recap line for ${host} in:\n${out}`);
  return Object.fromEntries([...line.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1], Number(m[2])]));
}

const read = (host: string, f: string) => fs.readFileSync(path.join(remote, host, f), 'utf8');

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** The harness's inventory with this file's vars; hosts as [name, port, group], `extra` their host vars. */
function inventoryFile(name: string, hosts: Array<[string, number, string]>, extra: Record<string, Record<string, unknown>> = {}): string {
  return writeInventory(lab, path.join(dir, name), {
    vars: { base: remote, greeting: 'inventory' },
    hosts: hosts.map(([host, port, group]) => ({ name: host, port, group, vars: extra[host] })),
  });
}

// A role with a handler, a play with vars, and a task that fails on demand.
const PLAYBOOK = `
import { main } from ${JSON.stringify(path.join(ROOT, 'lib/cli.ts'))};
import { command, copy, file, lineinfile } from ${JSON.stringify(path.join(ROOT, 'lib/modules/index.ts'))};
import { sh } from ${JSON.stringify(path.join(ROOT, 'lib/shell.ts'))};

const demo = {
  name: 'demo',
  dir: ${JSON.stringify('/nonexistent')},
  defaults: { greeting: 'default', colour: 'default', only_default: 'from-defaults' },
  tasks: (v) => {
    const d = v.base + '/' + v.inventory_hostname;
    return [
      file({ path: d, state: 'directory', mode: '0755' }),
      copy({ content: 'greeting=' + v.greeting + ' colour=' + v.colour + ' default=' + v.only_default + '\\n', dest: d + '/app.conf', mode: '0644' }, { notify: ['note reload'] }),
      lineinfile({ path: d + '/list.txt', line: 'member ' + v.inventory_hostname, create: true }),
      command({ cmd: sh\`echo \${'nope from ' + v.inventory_hostname} >&2; exit 3\` }, { name: 'failing command', when: (ctx) => ctx.vars.fail_on === ctx.host.name }),
    ];
  },
  handlers: (v) => [
    { ...command({ cmd: sh\`echo reloaded >> \${v.base + '/' + v.inventory_hostname + '/handler.log'}\` }), name: 'note reload' },
  ],
};

await main({
  description: 'cli engine test',
  plays: () => [{ name: 'converge', hosts: 'all', vars: { colour: 'play' }, roles: [demo] }],
});
`;

test.before(async () => {
  lab = await startSshd({ count: 3 });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-cli-'));
  fs.chmodSync(dir, 0o755);
  remote = path.join(dir, 'remote');
  fs.mkdirSync(remote, { mode: 0o1777 });
  fs.chmodSync(remote, 0o1777); // the test user writes here through sshd
  fs.writeFileSync(path.join(dir, 'site.ts'), PLAYBOOK);
  fs.writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }\n'); // ESM, like the repo's playbooks
  const [p1, p2, p3] = lab.hosts.map((h) => h.port);
  inventory = inventoryFile('hosts.yml', [
    ['h1', p1, 'web'],
    ['h2', p2, 'web'],
    ['h3', p3, 'db'],
  ]);
});

test.after.always(async () => {
  await lab?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test.serial('first run changes, second run changes nothing; handlers ran once; --json has every result', async (t) => {
  const first = await site('-i', inventory, '--json', 'first.json');
  t.is(first.code, 0, first.stdout + first.stderr);
  for (const h of ['h1', 'h2', 'h3']) {
    t.like(recap(first.stdout, h), { changed: 4, failed: 0, unreachable: 0 }); // dir, file, line, handler
    t.is(read(h, 'app.conf'), 'greeting=inventory colour=play default=from-defaults\n');
    t.is(read(h, 'list.txt'), `member ${h}\n`);
    t.is(read(h, 'handler.log'), 'reloaded\n');
  }
  t.regex(first.stdout, /^\[h1\] changed: copy \S+\/h1\/app\.conf \(create /m);
  t.regex(first.stdout, /^\[h2\] changed: handler: note reload \(run: echo reloaded/m);
  t.regex(first.stdout, /^PLAY RECAP \*+$/m);
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'first.json'), 'utf8'));
  t.is(json.exitCode, 0);
  t.like(json.recap.h3, { changed: 4, failed: 0 });
  t.is(json.results.filter((r: { host: string }) => r.host === 'h1').length, 5); // 4 tasks (1 skipped), handler: the play reads no fact, none gathered
  t.true(json.results.some((r: { task: string; status: string }) => r.task === 'failing command' && r.status === 'skipped'));

  const second = await site('-i', inventory);
  t.is(second.code, 0, second.stdout + second.stderr);
  for (const h of ['h1', 'h2', 'h3']) {
    t.like(recap(second.stdout, h), { changed: 0, failed: 0 });
    t.is(read(h, 'handler.log'), 'reloaded\n', 'no change, no handler');
  }
});

test.serial('-e beats play vars and inventory; --check reports it and changes nothing; --diff shows it', async (t) => {
  const check = await site('-i', inventory, '-l', 'h1', '-e', 'greeting=extra', '-e', '{"colour": "extra2"}', '--check', '--diff');
  t.is(check.code, 0, check.stdout + check.stderr);
  t.like(recap(check.stdout, 'h1'), { changed: 2 }); // app.conf and its handler
  t.regex(check.stdout, /^-greeting=inventory colour=play default=from-defaults$/m);
  t.regex(check.stdout, /^\+greeting=extra colour=extra2 default=from-defaults$/m);
  t.is(read('h1', 'app.conf'), 'greeting=inventory colour=play default=from-defaults\n', 'check mode changed nothing');
  t.is(read('h1', 'handler.log'), 'reloaded\n', 'check mode ran no handler');

  const real = await site('-i', inventory, '-l', 'h1', '-e', 'greeting=extra', '-e', '{"colour": "extra2"}');
  t.is(real.code, 0, real.stdout + real.stderr);
  t.is(read('h1', 'app.conf'), 'greeting=extra colour=extra2 default=from-defaults\n');
  t.is(read('h1', 'handler.log'), 'reloaded\nreloaded\n');
  t.is(read('h2', 'app.conf'), 'greeting=inventory colour=play default=from-defaults\n', '--limit kept h2 out');
  t.false(real.stdout.includes('[h2]'));
  t.throws(() => recap(real.stdout, 'h2'));
});

test.serial('--list-hosts prints the hosts each play selects, --limit applied, without connecting', async (t) => {
  // a listener standing in for a host: --list-hosts must never connect to it
  let connections = 0;
  const watcher = net.createServer((sock) => {
    connections++;
    sock.destroy();
  });
  await new Promise<void>((r) => watcher.listen(0, '127.0.0.1', r));
  const watched = (watcher.address() as net.AddressInfo).port;
  const [p1, p2, p3] = lab.hosts.map((h) => h.port);
  const inv = inventoryFile('watched.yml', [
    ['h1', p1, 'web'],
    ['h2', p2, 'web'],
    ['h3', p3, 'db'],
    ['w', watched, 'db'],
  ]);
  try {
    const r = await site('-i', inv, '--list-hosts', '-l', 'h1:db');
    t.is(r.code, 0, r.stderr);
    const hosts = r.stdout.split('\n').filter((l) => /^ {6}\S+$/.test(l)).map((l) => l.trim());
    t.deepEqual(hosts, ['h1', 'h3', 'w']);
    t.regex(r.stdout, /play #1 \(all\): converge/);
    t.false(r.stdout.includes('PLAY RECAP'));
    t.is(connections, 0);
  } finally {
    watcher.close();
  }
});

test.serial('a failing command: exit 2, the message names host, task path, exit code and stderr; others finish', async (t) => {
  const r = await site('-i', inventory, '-e', 'fail_on=h2');
  t.is(r.code, 2, r.stdout + r.stderr);
  t.regex(r.stdout, /\[h2\] failed: converge › demo › failing command\n\s+h2: `echo 'nope from h2' >&2; exit 3` exited 3:\n\s+nope from h2/);
  t.like(recap(r.stdout, 'h2'), { failed: 1 });
  t.like(recap(r.stdout, 'h1'), { failed: 0 });
  t.like(recap(r.stdout, 'h3'), { failed: 0 });
});

test.serial('an unreachable host: recap says unreachable, the others finish, exit 4', async (t) => {
  const dead = await closedPort();
  const [p1, p2] = lab.hosts.map((h) => h.port);
  const inv = inventoryFile('with-dead.yml', [
    ['h1', p1, 'web'],
    ['h2', p2, 'web'],
    ['gone', dead, 'web'],
  ]);
  const r = await site('-i', inv);
  t.is(r.code, 4, r.stdout + r.stderr);
  t.like(recap(r.stdout, 'gone'), { unreachable: 1, ok: 0 });
  t.like(recap(r.stdout, 'h1'), { unreachable: 0, failed: 0 });
  t.like(recap(r.stdout, 'h2'), { unreachable: 0, failed: 0 });
  t.regex(r.stdout, /\[gone\] unreachable: converge › connect/);
  t.false(r.stderr.includes('lab is down'), 'not a lab inventory');
});

test.serial('a lab inventory with every host down prints the one-line hint', async (t) => {
  const [d1, d2] = [await closedPort(), await closedPort()];
  const inv = inventoryFile('lab-down.yml', [['bal1', d1, 'directors'], ['bal2', d2, 'directors']], {
    bal1: { lan_ip: '172.28.128.11' },
    bal2: { lan_ip: '172.28.128.12' },
  });
  const r = await site('-i', inv);
  t.is(r.code, 4);
  t.is(r.stderr.trim(), 'lab is down: start it with  npx tsx lab/lab.ts up -i lab-down.yml');
});

test.serial('a bad inventory: exit 1, file:line named, no host touched', async (t) => {
  const bad = path.join(dir, 'bad.yml');
  fs.writeFileSync(bad, ['all:', '  hosts:', '    h1:', '      ansible_port: eighty', ''].join('\n'));
  const r = await site('-i', bad);
  t.is(r.code, 1, r.stdout + r.stderr);
  t.regex(r.stderr, /bad\.yml:4/);
  t.regex(r.stderr, /ansible_port/);
  t.false(r.stdout.includes('PLAY'));
});

test.serial('command-line mistakes: exit 1 with a pointer to --help; --help lists every flag', async (t) => {
  const noInv = await site();
  t.is(noInv.code, 1);
  t.regex(noInv.stderr, /no inventory: pass -i FILE, set LVSPLAY_INVENTORY/);
  const unknown = await site('-i', inventory, '--frobnicate');
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /--frobnicate[\s\S]*--help/);
  const forks = await site('-i', inventory, '-f', '0');
  t.is(forks.code, 1);
  t.regex(forks.stderr, /--forks must be a positive integer/);
  const help = await site('--help');
  t.is(help.code, 0);
  for (const flag of ['--inventory', '--limit', '--tags', '--skip-tags', '--check', '--diff', '--forks', '--extra-vars', '--verbose', '--json', '--host-key-checking', '--list-hosts', '--help'])
    t.true(help.stdout.includes(flag), flag);
  t.regex(help.stdout, /^cli engine test/);
});

test.serial('-vvv prints the commands run and their output', async (t) => {
  const r = await site('-i', inventory, '-l', 'h3', '-vvv');
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /^\[h3\] \| .+/m);
});

test.serial('adhoc.ts runs a command on matching hosts and prints each output block; exit 2 on failure', async (t) => {
  const ok = await adhoc('-i', inventory, '-l', 'web', '--', 'echo', 'hello', '$(id -un)');
  t.is(ok.code, 0, ok.stdout + ok.stderr);
  for (const h of ['h1', 'h2']) t.regex(ok.stdout, new RegExp(`^${h} \\| CHANGED \\| rc=0 >>\\nhello lvsplaytest$`, 'm'));
  t.false(ok.stdout.includes('h3 |'));

  const failing = await adhoc('-i', inventory, '-a', 'echo out; echo err >&2; exit 5');
  t.is(failing.code, 2);
  for (const h of ['h1', 'h2', 'h3']) t.regex(failing.stdout, new RegExp(`^${h} \\| FAILED \\| rc=5 >>\\nout\\nerr$`, 'm'));

  const become = await adhoc('-i', inventory, '-l', 'h1', '--become', '--', 'id', '-u');
  t.is(become.code, 0, become.stdout + become.stderr);
  t.regex(become.stdout, /^h1 \| CHANGED \| rc=0 >>\n0$/m);
});
