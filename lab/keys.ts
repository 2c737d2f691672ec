// SSH keys of the lab: the user key the inventory names (generated if missing), one ed25519 host
// key per VM generated on the host (handed to the guest by fw_cfg, so nothing is learned by
// trust-on-first-use), and the inventory's known_hosts file listing exactly those keys.
import fs from 'node:fs';
import path from 'node:path';
import { $ } from 'zx';
import { hostName, matchesHost } from '../lib/knownhosts.ts';

const q = $({ quiet: true });

async function ensureKeyPair(file: string, comment: string): Promise<void> {
  if (fs.existsSync(file) && fs.existsSync(`${file}.pub`)) return;
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.rmSync(file, { force: true });
  fs.rmSync(`${file}.pub`, { force: true });
  await q`ssh-keygen -q -t ed25519 -N ${''} -C ${comment} -f ${file}`;
}

/** The lab's user key (the inventory's ansible_ssh_private_key_file). */
export const ensureUserKey = (file: string) => ensureKeyPair(file, 'lvsplay-lab');

export interface HostKey {
  privateFile: string;
  publicFile: string;
  /** `ssh-ed25519 AAAA…` */
  publicKey: string;
}

export async function ensureHostKey(dir: string, name: string): Promise<HostKey> {
  const privateFile = path.join(dir, `${name}_ed25519`);
  await ensureKeyPair(privateFile, `lvsplay-lab-${name}`);
  const [type, blob] = fs.readFileSync(`${privateFile}.pub`, 'utf8').trim().split(/\s+/);
  return { privateFile, publicFile: `${privateFile}.pub`, publicKey: `${type} ${blob}` };
}

/**
 * known_hosts text with one line per (address, port, key): every older line for those
 * addresses and ports is dropped (a rebuilt VM gets a new key), other lines are kept.
 */
export function replaceKnownHosts(text: string, entries: Array<{ address: string; port: number; publicKey: string }>): string {
  const kept = text.split('\n').filter((line) => {
    const field = line.trim().split(/\s+/)[0];
    if (!field || field.startsWith('#') || field.startsWith('@')) return line.trim() !== '';
    return !entries.some((e) => field.split(',').some((f) => matchesHost(f, e.address, e.port)));
  });
  const added = entries.map((e) => `${hostName(e.address, e.port)} ${e.publicKey}`);
  return [...kept, ...added].join('\n') + '\n';
}

export function writeKnownHosts(file: string, entries: Array<{ address: string; port: number; publicKey: string }>): void {
  const before = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const after = replaceKnownHosts(before, entries);
  if (after === before) return;
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, after, { mode: 0o644 });
  fs.renameSync(tmp, file);
}
