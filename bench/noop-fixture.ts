// Shared by bench/noop.ts and bench/ansible-noop.ts: the converged 20-task play, N real sshd hosts
// on 127.0.0.1, and the same hosts behind an added RTT (bench/delay-relay.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { copy, file, lineinfile } from '../lib/modules/index.ts';
import type { Play, Task } from '../lib/types.ts';
import { startSshd, writeInventory, type SshdLab } from '../test/helpers/sshd.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const TSX = path.join(ROOT, 'node_modules/.bin/tsx');

/** 20 tasks on files under <base>/<host>/: 1 directory, 7 copies, 7 line edits, 5 modes. */
export function tasks(v: Record<string, unknown>): Task[] {
  const dir = `${v.base}/${v.inventory_hostname}`;
  const out: Task[] = [file({ path: dir, state: 'directory', mode: '0755' })];
  for (let i = 1; i <= 7; i++) out.push(copy({ content: `setting_${i} = ${i * 7}\n`, dest: `${dir}/copy${i}.conf`, mode: '0644' }));
  for (let i = 1; i <= 7; i++) out.push(lineinfile({ path: `${dir}/lines.conf`, line: `key${i} = value${i}`, regexp: `^key${i} =`, create: true }));
  for (let i = 1; i <= 5; i++) out.push(file({ path: `${dir}/copy${i}.conf`, state: 'file', mode: '0644' }));
  return out;
}

export const play: Play = { name: 'noop', hosts: 'all', tasks };

/** The same play for ansible-playbook (gather_facts off: the play reads no fact, as lvsplay's). */
export function ansiblePlaybook(): string {
  const dir = '{{ base }}/{{ inventory_hostname }}';
  const t: string[] = [`    - file: { path: "${dir}", state: directory, mode: "0755" }`];
  for (let i = 1; i <= 7; i++) t.push(`    - copy: { content: "setting_${i} = ${i * 7}\\n", dest: "${dir}/copy${i}.conf", mode: "0644" }`);
  for (let i = 1; i <= 7; i++) t.push(`    - lineinfile: { path: "${dir}/lines.conf", line: "key${i} = value${i}", regexp: "^key${i} =", create: true }`);
  for (let i = 1; i <= 5; i++) t.push(`    - file: { path: "${dir}/copy${i}.conf", state: file, mode: "0644" }`);
  return ['- hosts: all', '  gather_facts: false', '  tasks:', ...t, ''].join('\n');
}

export interface Hosts {
  lab: SshdLab;
  dir: string;
  base: string;
  /** an inventory reaching the hosts directly (rtt 0) or through a relay with that RTT */
  inventory(rttMs: number): Promise<string>;
  stop(): Promise<void>;
}

/** N sshd hosts, a shared remote base directory, and relays started on demand (one process per RTT). */
export async function startHosts(n: number): Promise<Hosts> {
  const lab = await startSshd({ count: n });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-bench-'));
  fs.chmodSync(dir, 0o755);
  const base = path.join(dir, 'remote');
  fs.mkdirSync(base);
  fs.chmodSync(base, 0o1777);
  const relays: ChildProcess[] = [];
  const inventories = new Map<number, string>();

  async function inventory(rttMs: number): Promise<string> {
    const known = inventories.get(rttMs);
    if (known) return known;
    const file = path.join(dir, `hosts-${rttMs}ms.yml`);
    if (rttMs === 0) {
      writeInventory(lab, file, { vars: { base } });
    } else {
      const relay = spawn(TSX, [path.join(ROOT, 'bench/delay-relay.ts'), String(rttMs), ...lab.hosts.map((h) => String(h.port))], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      relays.push(relay);
      const line = await new Promise<string>((resolve, reject) => {
        const rl = readline.createInterface({ input: relay.stdout! });
        rl.once('line', resolve);
        relay.once('exit', (code) => reject(new Error(`delay relay exited ${code}`)));
      });
      const map = JSON.parse(line) as Record<string, number>;
      // host keys are checked per [address]:port: the relay ports get the servers' keys
      const knownHostsFile = path.join(dir, `known_hosts-${rttMs}ms`);
      fs.writeFileSync(
        knownHostsFile,
        fs.readFileSync(lab.knownHostsFile, 'utf8').replace(/^\[127\.0\.0\.1\]:(\d+)/gm, (_, p) => `[127.0.0.1]:${map[p]}`),
      );
      writeInventory({ ...lab, knownHostsFile }, file, { vars: { base }, hosts: lab.hosts.map((h) => ({ name: h.name, port: map[String(h.port)] })) });
    }
    inventories.set(rttMs, file);
    return file;
  }

  return {
    lab,
    dir,
    base,
    inventory,
    async stop() {
      for (const r of relays) if (r.pid && r.exitCode === null) process.kill(r.pid);
      await lab.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
