// Benchmark (not a test): lvsplay and Ansible side by side on the same converged 20-task no-op
// play, the same sshd hosts, the same added RTT (bench/delay-relay.ts), interleaved (lvsplay,
// Ansible, lvsplay, …). Both as the user runs them: a process each (lvsplay: `tsx` + the playbook;
// Ansible: ansible-playbook with pipelining and ControlPersist, i.e. at its best; gather_facts off,
// since the play reads no fact and lvsplay reads none either).
//   npx tsx bench/ansible-noop.ts [--sizes 5,50] [--rtts 0,20,50] [--forks 10] [--repeat 1]
// ansible-playbook: Debian's ansible-core (`apt-get install -y ansible-core`). pyinfra is not
// installable here (PyPI is unreachable), so it is not in the comparison.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadInventory } from '../lib/inventory.ts';
import { runPlays } from '../lib/runner.ts';
import { ConnectionPool } from '../lib/ssh.ts';
import { ansiblePlaybook, median, play, ROOT, startHosts, TSX } from './noop-fixture.ts';

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv, check: (out: string) => string | undefined): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${path.basename(cmd)} failed: ${err.message}\n${stdout.slice(-3000)}\n${stderr.slice(-2000)}`));
      const bad = check(stdout);
      if (bad) return reject(new Error(`${path.basename(cmd)}: ${bad}\n${stdout.slice(-3000)}`));
      resolve(performance.now() - t0);
    }),
  );
}

const noChanges = (out: string) => (/changed=[1-9]/.test(out) ? 'not a no-op' : !/changed=0/.test(out) ? 'no recap' : undefined);

async function bench(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '5,50' },
      rtts: { type: 'string', default: '0,20,50' },
      forks: { type: 'string', default: '10' },
      repeat: { type: 'string', default: '1' },
    },
  });
  try {
    execFileSync('ansible-playbook', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('ansible-playbook is missing: apt-get install -y ansible-core');
  }
  const forks = values.forks;
  const rows: Array<{ hosts: number; rtt: number; lvsplay: number; ansible: number }> = [];
  for (const n of values.sizes.split(',').map(Number)) {
    const hosts = await startHosts(n);
    try {
      const inventory = await loadInventory(await hosts.inventory(0));
      const pool = new ConnectionPool({ hostKeyChecking: 'strict' });
      const converge = await runPlays([play], { inventory, pool, forks: Number(forks) }).finally(() => pool.closeAll());
      if (converge.exitCode !== 0) throw new Error('converge failed');
      const playbook = path.join(hosts.dir, 'noop.yml');
      fs.writeFileSync(playbook, ansiblePlaybook());
      fs.mkdirSync(path.join(hosts.dir, 'cp'));
      for (const rtt of values.rtts.split(',').map(Number)) {
        const inv = await hosts.inventory(rtt);
        const knownHosts = fs.readFileSync(inv, 'utf8').match(/lvsplay_known_hosts: (\S+)/)![1];
        const ansibleEnv = {
          ANSIBLE_PIPELINING: 'True',
          ANSIBLE_SSH_ARGS: `-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=${knownHosts} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes`,
          ANSIBLE_SSH_CONTROL_PATH_DIR: path.join(hosts.dir, 'cp'),
          ANSIBLE_PYTHON_INTERPRETER: '/usr/bin/python3',
          ANSIBLE_NOCOWS: '1',
          ANSIBLE_RETRY_FILES_ENABLED: 'False',
        };
        const lv: number[] = [];
        const an: number[] = [];
        for (let i = 0; i < Number(values.repeat); i++) {
          lv.push(await timed(TSX, [path.join(ROOT, 'bench/noop.ts'), 'playbook', '-i', inv, '-f', forks], { CI: 'true' }, noChanges));
          an.push(await timed('ansible-playbook', ['-i', inv, '-f', forks, playbook], ansibleEnv, noChanges));
          console.error(`${n} hosts, ${rtt} ms RTT: lvsplay ${lv.at(-1)!.toFixed(0)} ms, ansible ${an.at(-1)!.toFixed(0)} ms`);
        }
        rows.push({ hosts: n, rtt, lvsplay: median(lv), ansible: median(an) });
      }
    } finally {
      await hosts.stop();
    }
  }
  console.log(`\nno-op of the converged 20-task play, as a process each (median of ${values.repeat}, forks ${forks}, interleaved)`);
  console.log('hosts  RTT ms  lvsplay ms  ansible ms  ansible/lvsplay');
  for (const r of rows) {
    console.log(
      `${String(r.hosts).padStart(5)}  ${String(r.rtt).padStart(6)}  ${r.lvsplay.toFixed(0).padStart(10)}  ${r.ansible.toFixed(0).padStart(10)}  ${(r.ansible / r.lvsplay).toFixed(1).padStart(14)}×`,
    );
  }
}

await bench();
