import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
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
  matchesHost,
  parseKnownHosts,
} from '../../lib/knownhosts.ts';

// A real key blob: ssh-keygen's output is what known_hosts files contain.
function realKey(type = 'ed25519'): { line: string; blob: Buffer; b64: string; keyType: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-kh-'));
  try {
    execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', path.join(dir, 'k')]);
    const line = fs.readFileSync(path.join(dir, 'k.pub'), 'utf8').trim();
    const [keyType, b64] = line.split(' ');
    return { line, blob: Buffer.from(b64, 'base64'), b64, keyType };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const keyA = realKey();
const keyB = realKey();
const keyE = realKey('ecdsa');

function hashed(name: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

test('hostName uses [host]:port except on port 22', (t) => {
  t.is(hostName('127.0.0.1', 22), '127.0.0.1');
  t.is(hostName('127.0.0.1', 2211), '[127.0.0.1]:2211');
  t.is(hostName('bal1'), 'bal1');
});

test('parseKnownHosts keeps markers, skips comments, blanks and malformed lines, numbers lines', (t) => {
  const text = [
    '# comment',
    '',
    `bal1,10.0.0.2 ${keyA.keyType} ${keyA.b64} root@bal1`,
    `@revoked * ${keyB.keyType} ${keyB.b64}`,
    `@cert-authority *.lab ${keyE.keyType} ${keyE.b64}`,
    'garbage-without-key',
    `@unknown-marker x ${keyA.keyType} ${keyA.b64}`,
    `bad ssh-ed25519 not*base64`,
    `   [127.0.0.1]:2211 ${keyA.keyType} ${keyA.b64}`,
  ].join('\n');
  const entries = parseKnownHosts(text, '/f');
  t.deepEqual(
    entries.map((e) => [e.marker, e.hosts, e.line, e.file]),
    [
      [undefined, 'bal1,10.0.0.2', 3, '/f'],
      ['revoked', '*', 4, '/f'],
      ['cert-authority', '*.lab', 5, '/f'],
      [undefined, '[127.0.0.1]:2211', 9, '/f'],
    ],
  );
  t.is(entries[0].key, keyA.b64);
});

const matchTable: Array<[string, string, number, boolean]> = [
  ['bal1', 'bal1', 22, true],
  ['bal1', 'BAL1', 22, true],
  ['bal1', 'bal2', 22, false],
  ['bal1', 'bal1', 2211, false],
  ['[127.0.0.1]:2211', '127.0.0.1', 2211, true],
  ['[127.0.0.1]:2211', '127.0.0.1', 2212, false],
  ['[127.0.0.1]:2211', '127.0.0.1', 22, false],
  ['127.0.0.1', '127.0.0.1', 2211, false],
  ['a,b,c', 'b', 22, true],
  ['*.lab', 'bal1.lab', 22, true],
  ['*.lab,!bal2.lab', 'bal2.lab', 22, false],
  ['!bal2.lab,*.lab', 'bal2.lab', 22, false],
  ['bal?', 'bal1', 22, true],
  ['bal?', 'bal10', 22, false],
  ['[127.0.0.1]:22*', '127.0.0.1', 2211, true],
  ['10.0.0.1', '10.0.0.10', 22, false], // dots are literal
];

for (const [field, host, port, expected] of matchTable) {
  test(`matchesHost(${field}, ${host}:${port}) is ${expected}`, (t) => {
    t.is(matchesHost(field, host, port), expected);
  });
}

test('hashed |1| names match the exact name they were hashed from, port form included', (t) => {
  t.true(matchesHost(hashed('[127.0.0.1]:2211'), '127.0.0.1', 2211));
  t.false(matchesHost(hashed('[127.0.0.1]:2211'), '127.0.0.1', 2212));
  t.true(matchesHost(hashed('bal1'), 'bal1', 22));
  t.false(matchesHost(hashed('bal1'), 'bal2', 22));
  t.false(matchesHost('|2|abc|def', 'bal1', 22));
  t.false(matchesHost('|1|garbage', 'bal1', 22));
});

test('hashed entries written by ssh-keygen -H are understood', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-kh-'));
  try {
    const file = path.join(dir, 'known_hosts');
    fs.writeFileSync(file, `[127.0.0.1]:2211 ${keyA.keyType} ${keyA.b64}\nbal1 ${keyB.keyType} ${keyB.b64}\n`);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', file], { stdio: 'ignore' });
    const entries = parseKnownHosts(fs.readFileSync(file, 'utf8'));
    t.true(entries.every((e) => e.hosts.startsWith('|1|')));
    t.is(checkHostKey(entries, '127.0.0.1', 2211, keyA.blob).status, 'known');
    t.is(checkHostKey(entries, 'bal1', 22, keyB.blob).status, 'known');
    t.is(checkHostKey(entries, '127.0.0.1', 2211, keyB.blob).status, 'changed');
    t.is(checkHostKey(entries, '127.0.0.1', 2299, keyB.blob).status, 'unknown');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('checkHostKey: known, unknown, changed (listing what was expected), revoked', (t) => {
  const entries = parseKnownHosts(
    [
      `[127.0.0.1]:2211 ${keyA.keyType} ${keyA.b64}`,
      `[127.0.0.1]:2212 ${keyA.keyType} ${keyA.b64}`,
      `@revoked [127.0.0.1]:2213 ${keyE.keyType} ${keyE.b64}`,
      `@cert-authority [127.0.0.1]:2214 ${keyA.keyType} ${keyA.b64}`,
    ].join('\n'),
    'kh',
  );
  t.like(checkHostKey(entries, '127.0.0.1', 2211, keyA.blob), { status: 'known', entry: { line: 1 } });
  t.is(checkHostKey(entries, '127.0.0.1', 2299, keyA.blob).status, 'unknown');
  const changed = checkHostKey(entries, '127.0.0.1', 2212, keyB.blob);
  t.is(changed.status, 'changed');
  t.deepEqual(changed.status === 'changed' && changed.expected.map((e) => e.line), [2]);
  // A different key type while the host is known by another type counts as changed too.
  t.is(checkHostKey(entries, '127.0.0.1', 2211, keyE.blob).status, 'changed');
  t.is(checkHostKey(entries, '127.0.0.1', 2213, keyE.blob).status, 'revoked');
  // a CA line is not a host key: the host stays unknown
  t.is(checkHostKey(entries, '127.0.0.1', 2214, keyB.blob).status, 'unknown');
});

test('knownKeyTypes lists the types a host is recorded with, once each', (t) => {
  const entries = parseKnownHosts(
    `bal1 ${keyE.keyType} ${keyE.b64}\nbal1,bal2 ${keyA.keyType} ${keyA.b64}\nbal1 ${keyE.keyType} ${keyE.b64}\n`,
  );
  t.deepEqual(knownKeyTypes(entries, 'bal1', 22), ['ecdsa-sha2-nistp256', 'ssh-ed25519']);
  t.deepEqual(knownKeyTypes(entries, 'bal3', 22), []);
});

test('fingerprint matches ssh-keygen -l exactly', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-kh-'));
  try {
    const file = path.join(dir, 'k.pub');
    fs.writeFileSync(file, `${keyE.line}\n`);
    const out = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', file], { encoding: 'utf8' });
    t.is(fingerprint(keyE.blob), out.split(' ')[1]);
    t.is(fingerprint(keyE.b64), out.split(' ')[1]);
    t.notRegex(fingerprint(keyE.blob), /=$/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('keyTypeOf reads the type inside the blob; formatEntry writes a line parse reads back', (t) => {
  t.is(keyTypeOf(keyA.blob), 'ssh-ed25519');
  t.is(keyTypeOf(keyE.blob), 'ecdsa-sha2-nistp256');
  t.is(keyTypeOf(Buffer.alloc(2)), '');
  const line = formatEntry('127.0.0.1', 2211, keyA.blob);
  t.is(line, `[127.0.0.1]:2211 ssh-ed25519 ${keyA.b64}\n`);
  t.is(checkHostKey(parseKnownHosts(line), '127.0.0.1', 2211, keyA.blob).status, 'known');
  t.is(formatEntry('bal1', 22, keyA.blob), `bal1 ssh-ed25519 ${keyA.b64}\n`);
});
