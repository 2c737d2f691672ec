// OpenSSH known_hosts, as data: parse lines, match a host (plain, `[host]:port`, wildcard,
// negated or hashed `|1|salt|hmac` names), decide known / unknown / changed for a presented
// key, and format a new entry. Pure: reading and appending files is the transport's job.
import { createHash, createHmac } from 'node:crypto';

export interface KnownHostEntry {
  /** `@revoked` or `@cert-authority` */
  marker?: 'revoked' | 'cert-authority';
  /** the host field as written: comma-separated patterns, or one hashed `|1|salt|hash` name */
  hosts: string;
  /** e.g. `ssh-ed25519` */
  keyType: string;
  /** base64 key blob */
  key: string;
  /** where it came from, for messages */
  file?: string;
  line: number;
}

/** Parses known_hosts text; comments, blank and malformed lines are skipped like OpenSSH does. */
export function parseKnownHosts(text: string, file?: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const fields = raw.trim().split(/\s+/);
    if (!fields[0] || fields[0].startsWith('#')) return;
    let marker: KnownHostEntry['marker'];
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') {
      marker = fields[0].slice(1) as KnownHostEntry['marker'];
      fields.shift();
    } else if (fields[0].startsWith('@')) {
      return;
    }
    const [hosts, keyType, key] = fields;
    if (!hosts || !keyType || !key || !/^[A-Za-z0-9+/]+=*$/.test(key)) return;
    entries.push({ marker, hosts, keyType, key, file, line: i + 1 });
  });
  return entries;
}

/** The name OpenSSH looks up and records: `host` on port 22, `[host]:port` otherwise. */
export function hostName(host: string, port = 22): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

function matchesHashed(field: string, name: string): boolean {
  const [, magic, salt, hash] = field.split('|');
  if (magic !== '1' || !salt || !hash) return false;
  const digest = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
  return digest === hash;
}

/** Whether an entry's host field names `host` on `port`. */
export function matchesHost(field: string, host: string, port = 22): boolean {
  const name = hostName(host, port);
  if (field.startsWith('|')) return matchesHashed(field, name);
  let matched = false;
  for (const pattern of field.split(',')) {
    const negated = pattern.startsWith('!');
    const p = negated ? pattern.slice(1) : pattern;
    if (!p || !globToRegExp(p).test(name)) continue;
    if (negated) return false; // a negated match wins over every positive one
    matched = true;
  }
  return matched;
}

/** The key type named inside an SSH public key blob (the first length-prefixed string). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return '';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** OpenSSH's fingerprint format: `SHA256:` + unpadded base64 of the SHA-256 of the key blob. */
export function fingerprint(blob: Buffer | string): string {
  const buf = typeof blob === 'string' ? Buffer.from(blob, 'base64') : blob;
  return `SHA256:${createHash('sha256').update(buf).digest('base64').replace(/=+$/, '')}`;
}

export type HostKeyStatus =
  | { status: 'known'; entry: KnownHostEntry }
  | { status: 'unknown' }
  | { status: 'revoked'; entry: KnownHostEntry }
  /** the host is recorded with other key(s): possible man-in-the-middle, refuse */
  | { status: 'changed'; expected: KnownHostEntry[] };

/**
 * Verdict for the key a server presented. A key of a type the host has no entry for, while it
 * does have entries of other types, also counts as changed: stricter than OpenSSH (which
 * would treat it as new), but we ask servers for the known types first (knownKeyTypes), so
 * this happens only when the recorded key is really gone.
 */
export function checkHostKey(entries: KnownHostEntry[], host: string, port: number, blob: Buffer): HostKeyStatus {
  const key = blob.toString('base64');
  const forHost = entries.filter((e) => e.marker !== 'cert-authority' && matchesHost(e.hosts, host, port));
  const revoked = forHost.find((e) => e.marker === 'revoked' && e.key === key);
  if (revoked) return { status: 'revoked', entry: revoked };
  const known = forHost.find((e) => !e.marker && e.key === key);
  if (known) return { status: 'known', entry: known };
  const expected = forHost.filter((e) => !e.marker);
  return expected.length ? { status: 'changed', expected } : { status: 'unknown' };
}

/** Key types recorded for a host, in file order (used to prefer them in the handshake, like OpenSSH). */
export function knownKeyTypes(entries: KnownHostEntry[], host: string, port: number): string[] {
  const types = entries.filter((e) => !e.marker && matchesHost(e.hosts, host, port)).map((e) => e.keyType);
  return [...new Set(types)];
}

/** One known_hosts line for a newly accepted key, in OpenSSH's unhashed form. */
export function formatEntry(host: string, port: number, blob: Buffer): string {
  return `${hostName(host, port)} ${keyTypeOf(blob)} ${blob.toString('base64')}\n`;
}
