// Which credentials to offer, in OpenSSH's order: the inventory's key file (then the agent),
// or else the agent and the default ~/.ssh/id_* keys that exist and need no passphrase.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AnyAuthMethod } from 'ssh2';
import { UnreachableError, type Host } from './types.ts';

const DEFAULT_KEYS = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

// ssh2 is loaded by the first connect (loadSsh2), not at import: --help and --list-hosts never pay for it.
type Ssh2 = typeof import('ssh2');
let ssh2Module: Ssh2 | undefined;
export async function loadSsh2(): Promise<Ssh2> {
  // a CommonJS package: its exports are the ESM default
  const m = (await import('ssh2')) as Ssh2 & { default?: Ssh2 };
  return (ssh2Module ??= m.default ?? m);
}
const ssh2 = () => {
  if (!ssh2Module) throw new Error('ssh2 is not loaded yet: await loadSsh2() first');
  return ssh2Module;
};

export interface Credentials {
  methods: AnyAuthMethod[];
  /** what was offered, for the "authentication failed" message */
  tried: string[];
}

function loadKey(file: string): Buffer | Error {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    return err as Error;
  }
  const parsed = ssh2().utils.parseKey(buf);
  return parsed instanceof Error ? parsed : buf;
}

export function credentials(host: Host, env: NodeJS.ProcessEnv = process.env): Credentials {
  const username = host.user;
  const methods: AnyAuthMethod[] = [];
  const tried: string[] = [];
  const agent = env.SSH_AUTH_SOCK;
  const addAgent = () => {
    if (!agent) return;
    methods.push({ type: 'agent', username, agent });
    tried.push(`ssh-agent (${agent})`);
  };
  if (host.privateKeyFile) {
    const key = loadKey(host.privateKeyFile);
    if (key instanceof Error) {
      throw new UnreachableError(host.name, `cannot use private key ${host.privateKeyFile}: ${key.message}`);
    }
    methods.push({ type: 'publickey', username, key });
    tried.push(host.privateKeyFile);
    addAgent();
  } else {
    addAgent();
    for (const name of DEFAULT_KEYS) {
      const file = path.join(os.homedir(), '.ssh', name);
      if (!fs.existsSync(file)) continue;
      const key = loadKey(file);
      if (key instanceof Error) continue; // e.g. passphrase-protected: only usable through the agent
      methods.push({ type: 'publickey', username, key });
      tried.push(file);
    }
  }
  if (!methods.length) {
    throw new UnreachableError(
      host.name,
      'no SSH credentials: set ansible_ssh_private_key_file, start an ssh-agent (SSH_AUTH_SOCK) or create ~/.ssh/id_ed25519',
    );
  }
  return { methods, tried };
}
