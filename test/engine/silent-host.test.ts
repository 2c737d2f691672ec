// A host that goes silent mid-run (a power cut: no FIN, no RST, packets just stop), played by
// SIGSTOPping its sshd's connection processes: the keepalive declares it lost, whatever waited on
// it fails as unreachable, and the run goes on with the other hosts.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { connect } from '../../lib/ssh.ts';
import { sh } from '../../lib/shell.ts';
import { UnreachableError } from '../../lib/types.ts';
import { startSshd, writeInventory, type SshdLab } from '../helpers/sshd.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let lab: SshdLab;
let dir: string; // the test user writes here through sshd

test.before(async () => {
  lab = await startSshd({ count: 3 });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-silent-'));
  fs.chmodSync(dir, 0o1777);
});

test.after.always(async () => {
  await lab?.stop(); // ends the frozen connections too
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Resolves once `file` exists (the remote command got that far). */
async function appears(file: string): Promise<void> {
  for (let i = 0; !fs.existsSync(file); i++) {
    if (i >= 1500) throw new Error(`${file} never appeared`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a silent connection: every pending exec, sftp and put rejects with UnreachableError, later ones at once', async (t) => {
  t.timeout(60_000);
  const host = lab.hosts[2];
  const c = await connect(host, {
    knownHostsFiles: [lab.knownHostsFile],
    hostKeyChecking: 'strict',
    keepaliveIntervalMs: 1000,
    keepaliveCountMax: 3,
    maxChannels: 2,
  });
  const started = path.join(dir, 'conn.started');
  const pending = {
    running: c.exec(sh`touch ${started}; sleep 30`),
    // times out while the host is silent: its sudo clean-up cannot reach the host either
    'timed out with become': c.exec('sleep 30', { become: true, timeoutMs: 1000 }),
    'queued for a channel': c.exec('echo queued'),
  };
  await appears(started);
  lab.freeze(host.port);
  const all = { ...pending, put: c.put(path.join(dir, 'conn.put'), 'content\n') };
  const settled = await Promise.allSettled(Object.values(all));
  for (const [i, what] of Object.keys(all).entries()) {
    const r = settled[i];
    t.is(r.status, 'rejected', what);
    if (r.status !== 'rejected') continue;
    t.true(r.reason instanceof UnreachableError, `${what}: ${r.reason}`);
    t.regex(r.reason.message, /^h3: connection lost: no answer to 3 keepalives 1 s apart/, what);
  }
  await t.throwsAsync(c.exec('true'), { instanceOf: UnreachableError, message: /connection lost/ });
  await t.throwsAsync(c.put(path.join(dir, 'conn.put'), 'x'), { instanceOf: UnreachableError });
  t.false(fs.existsSync(path.join(dir, 'conn.put')));
  await c.close();
});

// Each host: a slow command (it marks when it started), then a file written after it.
const PLAYBOOK = `
import { main } from ${JSON.stringify(path.join(ROOT, 'lib/cli.ts'))};
import { command, copy } from ${JSON.stringify(path.join(ROOT, 'lib/modules/index.ts'))};
import { sh } from ${JSON.stringify(path.join(ROOT, 'lib/shell.ts'))};

await main({
  description: 'silent host test',
  plays: () => [{
    name: 'converge',
    hosts: 'all',
    tasks: (v) => [
      command({ cmd: sh\`touch \${v.base + '/' + v.inventory_hostname + '.started'}; sleep 3\` }, { name: 'slow' }),
      copy({ content: 'after\\n', dest: v.base + '/' + v.inventory_hostname + '.after', mode: '0644' }, { name: 'after' }),
    ],
  }],
});
`;

function recap(out: string, host: string): Record<string, number> {
  const line = out.split('\n').find((l) => l.startsWith(`${host} `) && l.includes(' : ok='));
  if (!line) throw new Error(`no recap line for ${host} in:\n${out}`);
  return Object.fromEntries([...line.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1], Number(m[2])]));
}

test('a host silent mid-task is unreachable, the other host finishes, exit 4', async (t) => {
  t.timeout(90_000);
  const run = path.join(dir, 'run');
  fs.mkdirSync(run, { mode: 0o1777 });
  fs.chmodSync(run, 0o1777);
  fs.writeFileSync(path.join(run, 'site.ts'), PLAYBOOK);
  fs.writeFileSync(path.join(run, 'package.json'), '{ "type": "module" }\n');
  const [h1, h2] = lab.hosts;
  // short keepalives for h1 only: h2, on the defaults, must not be cut by a slow test machine
  const inventory = writeInventory(lab, path.join(run, 'hosts.yml'), {
    vars: { base: run },
    hosts: [
      { name: h1.name, port: h1.port, vars: { lvsplay_keepalive_interval: 1, lvsplay_keepalive_count_max: 2 } },
      { name: h2.name, port: h2.port },
    ],
  });

  const done = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(
      path.join(ROOT, 'node_modules/.bin/tsx'),
      [path.join(run, 'site.ts'), '-i', inventory],
      { cwd: run, env: { ...process.env, FORCE_COLOR: '0', CI: 'true', LVSPLAY_INVENTORY: '' }, timeout: 80_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    ),
  );
  await appears(path.join(run, 'h1.started'));
  lab.freeze(h1.port);
  const r = await done;

  t.is(r.code, 4, r.stdout + r.stderr);
  t.regex(r.stdout, /\[h1\] unreachable: converge › slow\n\s+h1: connection lost: no answer to 2 keepalives 1 s apart/);
  t.like(recap(r.stdout, 'h1'), { unreachable: 1, failed: 0, changed: 0 });
  t.like(recap(r.stdout, 'h2'), { unreachable: 0, failed: 0, changed: 2 });
  t.is(fs.readFileSync(path.join(run, 'h2.after'), 'utf8'), 'after\n');
  t.false(fs.existsSync(path.join(run, 'h1.after')));
});
