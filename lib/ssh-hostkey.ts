// Host key verification for one connection, OpenSSH style: look the presented key up in the
// known_hosts files, record unknown keys under `accept-new`, refuse changed keys (with both
// fingerprints) always, refuse unknown ones under `strict`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  checkHostKey,
  fingerprint,
  formatEntry,
  hostName,
  keyTypeOf,
  knownKeyTypes,
  parseKnownHosts,
  type KnownHostEntry,
} from './knownhosts.ts';
import type { Host } from './types.ts';

export type HostKeyChecking = 'accept-new' | 'strict' | 'off';

export const userKnownHosts = (): string => path.join(os.homedir(), '.ssh', 'known_hosts');

/**
 * Files to read: the given list (default ~/.ssh/known_hosts) plus the host's
 * `lvsplay_known_hosts` var. New keys go to the first project file (anything but the user's
 * own file), else to ~/.ssh/known_hosts, as OpenSSH would.
 */
export function knownHostsFiles(host: Host, files?: string[]): { read: string[]; write: string } {
  const read = [...(files ?? [userKnownHosts()])];
  const fromVars = host.vars.lvsplay_known_hosts;
  if (typeof fromVars === 'string' && fromVars && !read.includes(fromVars)) read.push(fromVars);
  const user = userKnownHosts();
  return { read, write: read.find((f) => path.resolve(f) !== user) ?? user };
}

function readEntries(files: string[]): KnownHostEntry[] {
  return files.flatMap((file) => {
    try {
      return parseKnownHosts(fs.readFileSync(file, 'utf8'), file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  });
}

function appendEntry(file: string, line: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  let prefix = '';
  try {
    const st = fs.statSync(file);
    if (st.size > 0) {
      const fd = fs.openSync(file, 'r');
      const last = Buffer.alloc(1);
      fs.readSync(fd, last, 0, 1, st.size - 1);
      fs.closeSync(fd);
      if (last[0] !== 0x0a) prefix = '\n';
    }
  } catch {
    /* new file */
  }
  fs.appendFileSync(file, prefix + line, { mode: 0o644 });
}

// ssh2's default host key algorithms; the ones this host is known by are moved to the front.
const HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];
const algorithmsFor = (keyType: string): string[] =>
  keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [keyType];

export interface HostKeyVerifier {
  /** for ssh2's hostVerifier: true to continue the handshake */
  verify(blob: Buffer): boolean;
  /** why the last key was refused (for the UnreachableError) */
  refusal?: string;
  /** host key algorithms in preference order, or undefined for ssh2's default */
  algorithms?: string[];
}

export function hostKeyVerifier(
  host: Host,
  checking: HostKeyChecking,
  files: { read: string[]; write: string },
  log: (line: string) => void,
): HostKeyVerifier {
  const name = hostName(host.address, host.port);
  if (checking === 'off') return { verify: () => true };
  const entries = readEntries(files.read);
  const known = knownKeyTypes(entries, host.address, host.port).flatMap(algorithmsFor);
  const preferred = known.filter((a) => HOST_KEY_ALGORITHMS.includes(a));
  const verifier: HostKeyVerifier = {
    algorithms: preferred.length ? [...preferred, ...HOST_KEY_ALGORITHMS.filter((a) => !preferred.includes(a))] : undefined,
    verify(blob) {
      const presented = `${fingerprint(blob)} (${keyTypeOf(blob)})`;
      const verdict = checkHostKey(entries, host.address, host.port, blob);
      switch (verdict.status) {
        case 'known':
          return true;
        case 'revoked':
          verifier.refusal = `host key ${presented} for ${name} is marked @revoked in ${verdict.entry.file}:${verdict.entry.line}`;
          return false;
        case 'changed': {
          const was = verdict.expected.map((e) => `${fingerprint(e.key)} (${e.keyType}) in ${e.file}:${e.line}`).join(', ');
          verifier.refusal =
            `HOST KEY CHANGED for ${name} — possible man-in-the-middle; refusing to connect. ` +
            `The server presented ${presented}; known_hosts records ${was}. ` +
            `If the change is expected, remove the old entry (ssh-keygen -R '${name}' -f FILE) and retry.`;
          return false;
        }
        case 'unknown':
          if (checking === 'strict') {
            verifier.refusal =
              `host key ${presented} for ${name} is not in known_hosts (${files.read.join(', ')}) ` +
              `and host key checking is strict`;
            return false;
          }
          try {
            appendEntry(files.write, formatEntry(host.address, host.port, blob));
          } catch (err) {
            verifier.refusal = `cannot record the host key of ${name} in ${files.write}: ${(err as Error).message}`;
            return false;
          }
          log(`Permanently added '${name}' ${presented} to ${files.write}`);
          return true;
      }
    },
  };
  return verifier;
}
