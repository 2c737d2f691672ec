// The lab is drivable by ansible-playbook unchanged: from the repository root, with host-key
// checking on, `ansible-playbook -i inventory/lab.yml test/fixtures/ansible/lab-smoke.yml` runs
// apt, copy, template, sysctl and systemd tasks green, and a second run changes nothing.
// Skipped (with a message) only where ansible-playbook is not installed; .ci/run installs it.
import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { loadLab } from '../../lab/index.ts';
import { sh } from '../../lib/shell.ts';
import { connect } from '../../lib/ssh.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const inventoryFile = path.resolve(root, process.env.LVSPLAY_LAB_INVENTORY ?? 'inventory/lab.yml');
const playbook = 'test/fixtures/ansible/lab-smoke.yml';

function installed(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

interface Run {
  code: number;
  out: string;
  ms: number;
}

/** ansible-playbook as a user types it, from the repository root, Ansible's own settings cleared. */
function ansiblePlaybook(): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ANSIBLE_')));
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      'ansible-playbook',
      ['-i', path.relative(root, inventoryFile), playbook],
      { cwd: root, env: { ...env, ANSIBLE_HOST_KEY_CHECKING: 'True', ANSIBLE_NOCOLOR: '1' }, timeout: 600_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, out: stdout + stderr, ms: Date.now() - started }),
    );
  });
}

function recap(out: string, host: string): Record<string, number> {
  const line = out.split('\n').find((l) => l.startsWith(`${host} `) && l.includes(' : ok='));
  if (!line) throw new Error(`no recap line for ${host} in:\n${out}`);
  return Object.fromEntries([...line.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1], Number(m[2])]));
}

const hint = 'ansible.posix.sysctl needs the ansible.posix collection (Debian package `ansible`; ansible-core alone lacks it)';

if (!installed('ansible-playbook')) {
  test('ansible-playbook drives the lab unchanged', (t) => {
    t.log('skipped: ansible-playbook is not installed (apt-get install ansible)');
    t.pass();
  });
} else {
  test.serial('ansible-playbook drives the lab unchanged: green with host-key checking on, then changed=0', async (t) => {
    const { inventory } = await loadLab(inventoryFile);
    const client = inventory.hosts.get('client')!;
    const conn = await connect(client, { hostKeyChecking: 'strict' });
    try {
      const before = (await conn.exec(sh`cat /proc/sys/vm/swappiness`)).stdout.trim();
      try {
        const first = await ansiblePlaybook();
        t.log(`first run ${(first.ms / 1000).toFixed(1)} s`);
        t.is(first.code, 0, `${first.out}\n(${hint})`);
        t.like(recap(first.out, 'client'), { failed: 0, unreachable: 0 });
        t.notRegex(first.out, /UNREACHABLE|Host key verification failed|WARNING\]: .*interpreter/);

        // what the modules did, read back over lvsplay's own connection
        const state = await conn.exec(sh`dpkg-query -W -f=${'${Status}'} arping; echo; cat /tmp/lvsplay-ansible-copy.txt /tmp/lvsplay-ansible-template.txt; cat /proc/sys/vm/swappiness; systemctl is-active ssh.service`);
        t.is(
          state.stdout,
          `install ok installed\ncopied by ansible-playbook\nhost client lan_ip ${client.vars.lan_ip} (rendered by ansible-playbook)\n10\nactive\n`,
        );

        const second = await ansiblePlaybook();
        t.log(`second run ${(second.ms / 1000).toFixed(1)} s`);
        t.is(second.code, 0, second.out);
        t.like(recap(second.out, 'client'), { ok: 5, changed: 0, failed: 0 });
      } finally {
        await conn.exec(
          sh`rm -f /tmp/lvsplay-ansible-copy.txt /tmp/lvsplay-ansible-template.txt /etc/sysctl.d/90-lvsplay-ansible-smoke.conf; echo ${before} > /proc/sys/vm/swappiness`,
          { nothrow: true },
        );
      }
    } finally {
      await conn.close();
    }
  });
}
