// Pure decisions of every module: facts in → commands/changes out. Table-driven; every module
// has its 0 / empty-value rows and its whitespace/ordering normalisation rows.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { secret, sh, type Command } from '../../lib/shell.ts';
import type { Conn, ExecResult, ModuleContext } from '../../lib/types.ts';
import { MASK, redactLines, redactValues, secretLinePatterns, stateDiff, unifiedDiff } from '../../lib/diff.ts';
import {
  attrChanges,
  attrCommands,
  decideContent,
  parseMode,
  parseSha256sum,
  parseStat,
  sha256,
  type RemoteStat,
} from '../../lib/modules/remote-file.ts';
import { loadEjs, prepareVars, render, renderTemplate, templatePath } from '../../lib/modules/template.ts';
import { decideSysctl, fileValue, normaliseSysctl, setFileValue } from '../../lib/modules/sysctl.ts';
import { decideService, parseServiceState, serviceCommand, type ServiceState } from '../../lib/modules/service.ts';
import { decideAddress, normaliseCidr, parseIpAddrCidrs, systemdEscape, unitContent, unitName, UNIT_DIR } from '../../lib/modules/address.ts';
import { skipReason } from '../../lib/modules/command.ts';
import { decideFile } from '../../lib/modules/file.ts';
import { editLines } from '../../lib/modules/lineinfile.ts';
import { decideKmod, parseLoaded, parseModulesFile } from '../../lib/modules/kmod.ts';
import { decidePkg, newestList, parseDpkgStatus, pkgCommand } from '../../lib/modules/pkg.ts';
import { command, copy, kmod, pkg, service, sysctl, template } from '../../lib/modules/index.ts';
import {
  interfaceFacts,
  osFacts,
  parseDefaultInterface,
  parseDpkgVersions,
  parseIpAddr,
  parseIpLink,
  parseOsRelease,
  parseSysClassNet,
} from '../../lib/facts.ts';

const ok = (stdout = ''): ExecResult => ({ stdout, stderr: '', exitCode: 0 });
const fail = (stderr = '', exitCode = 1): ExecResult => ({ stdout: '', stderr, exitCode });
const st = (over: Partial<RemoteStat> = {}): RemoteStat => ({ kind: 'file', mode: 0o644, owner: 'root', group: 'root', uid: 0, gid: 0, size: 1, ...over });

/** A scripted Conn for plan() logic: answers read() from a function and counts round trips. */
function fakeCtx(answer: (cmd: Command) => ExecResult, over: Partial<ModuleContext> = {}) {
  const reads: string[][] = [];
  const conn = {
    host: { name: 'fake', address: '127.0.0.1', port: 22, user: 'root', become: false, groups: [], vars: {} },
    async read(cmds: Command[]) {
      reads.push(cmds.map((c) => c.text));
      return cmds.map(answer);
    },
    async exec() {
      throw new Error('plan must not exec');
    },
    async put() {
      throw new Error('plan must not put');
    },
  } as unknown as Conn;
  const ctx: ModuleContext = {
    conn,
    host: conn.host,
    facts: { hostname: 'fake', os: { id: '', versionId: '', codename: '', prettyName: '' }, interfaces: {}, packages: {}, systemd: true },
    vars: {},
    check: false,
    log: () => {},
    ...over,
  };
  return { ctx, reads };
}

// ---------------------------------------------------------------- diff

test('unifiedDiff: equal → empty; new file from /dev/null; binary summarised', (t) => {
  t.is(unifiedDiff('/etc/x', 'a\n', 'a\n'), '');
  t.is(unifiedDiff('/etc/x', '', ''), '');
  const created = unifiedDiff('/etc/x', null, 'hello\n');
  t.regex(created, /^--- \/dev\/null\n\+\+\+ b\/etc\/x/);
  t.regex(created, /^\+hello$/m);
  const changed = unifiedDiff('/etc/x', 'a\nb\n', 'a\nc\n');
  t.regex(changed, /^-b$/m);
  t.regex(changed, /^\+c$/m);
  t.regex(unifiedDiff('/bin/x', 'a\0b', 'a\0c'), /Binary or large files/);
  // 0 / empty: a file that becomes empty still shows its removed lines
  t.regex(unifiedDiff('/etc/x', '0\n', ''), /^-0$/m);
});

test('stateDiff: key/value lines, undefined keys left out', (t) => {
  const d = stateDiff('lo', { addresses: '(none)', mode: undefined }, { addresses: '127.0.0.77/32' });
  t.regex(d, /^-addresses: \(none\)$/m);
  t.regex(d, /^\+addresses: 127\.0\.0\.77\/32$/m);
  t.notRegex(d, /mode/);
  t.is(stateDiff('x', { a: 0 }, { a: 0 }), '');
});

test('redactValues: longest first, empty secrets ignored', (t) => {
  const table: Array<[string, string[], string]> = [
    ['pass=hunter2', ['hunter2'], `pass=${MASK}`],
    ['a=abc b=abcdef', ['abc', 'abcdef'], `a=${MASK} b=${MASK}`],
    ['nothing here', [''], 'nothing here'],
    ['x=0', ['0'], `x=${MASK}`],
  ];
  for (const [text, secrets, want] of table) t.is(redactValues(text, secrets), want, text);
});

test('secret line patterns mask the *old* value of a changed secret', (t) => {
  const token = '@@T@@';
  const patterns = secretLinePatterns('vrrp {\n  auth_pass @@T@@\n  url http://@@T@@@host/x\n}\n', token);
  t.is(patterns.length, 2);
  const old = 'vrrp {\n  auth_pass oldsecret\n  url http://u:p@host/x\n}\n';
  t.is(redactLines(old, patterns), `vrrp {\n  auth_pass ${MASK}\n  url http://${MASK}@host/x\n}\n`);
  t.is(redactLines('plain\n', []), 'plain\n');
});

// ---------------------------------------------------------------- remote-file helpers

test('parseMode: octal strings and mode numbers, 0 included; junk refused', (t) => {
  const table: Array<[string | number, number]> = [
    ['0644', 0o644],
    ['644', 0o644],
    ['0o755', 0o755],
    ['0', 0],
    ['0000', 0],
    [0, 0],
    [0o4755, 0o4755],
    [' 600 ', 0o600],
  ];
  for (const [m, want] of table) t.is(parseMode(m), want, String(m));
  for (const bad of ['rw-r--r--', '0999', '12345', '', 0o10000, -1, 1.5]) t.throws(() => parseMode(bad as never), undefined, String(bad));
});

test('parseStat: kinds, missing, permission denied', (t) => {
  t.deepEqual(parseStat('/x', ok('regular file|644|root|adm|0|4|12\n')), { kind: 'file', mode: 0o644, owner: 'root', group: 'adm', uid: 0, gid: 4, size: 12 });
  t.is(parseStat('/x', ok('regular empty file|0|root|root|0|0|0\n'))!.mode, 0);
  t.is(parseStat('/x', ok('regular empty file|0|root|root|0|0|0\n'))!.kind, 'file');
  t.is(parseStat('/x', ok('directory|755|a|b|1|2|4096'))!.kind, 'directory');
  t.is(parseStat('/x', ok('symbolic link|777|a|b|1|2|4'))!.kind, 'link');
  t.is(parseStat('/x', fail("stat: cannot statx '/x': No such file or directory")), null);
  t.throws(() => parseStat('/x', fail("stat: cannot statx '/x': Permission denied")), { message: /Permission denied/ });
});

test('attrChanges: numeric compare, ids or names, 0 is a value', (t) => {
  t.deepEqual(attrChanges(st({ mode: 0 }), { mode: '0' }), {});
  t.deepEqual(attrChanges(st({ mode: 0 }), { mode: '0000' }), {});
  t.deepEqual(attrChanges(st({ mode: 0o644 }), { mode: '0' }), { mode: { from: '0644', to: '0000' } });
  t.deepEqual(attrChanges(st({ mode: 0o644 }), { mode: 0o644 }), {});
  t.deepEqual(attrChanges(st({ owner: 'root', uid: 0 }), { owner: '0', group: '0' }), {});
  t.deepEqual(attrChanges(st({ owner: 'root', uid: 0 }), { owner: 'www-data' }), { owner: { from: 'root', to: 'www-data' } });
  t.deepEqual(attrChanges(null, { mode: '0600' }), { mode: { from: undefined, to: '0600' } });
  t.deepEqual(attrChanges(null, {}), {});
});

test('attrCommands: chown owner:group together, chgrp alone, no chmod on links', (t) => {
  const texts = (cmds: Command[]) => cmds.map((c) => c.text);
  t.deepEqual(texts(attrCommands('/a b', { owner: { to: 'u' }, group: { to: 'g' }, mode: { to: '0600' } })), [
    "chown -- u:g '/a b'",
    "chmod -- 0600 '/a b'",
  ]);
  t.deepEqual(texts(attrCommands('/a', { group: { to: 'g' } })), ['chgrp -- g /a']);
  t.deepEqual(texts(attrCommands('/l', { owner: { to: 'u' }, mode: { to: '0600' } }, { link: true })), ['chown -h -- u /l']);
});

test('decideContent: sha compare, created, attributes only, not a regular file', (t) => {
  const sha = sha256('x\n');
  t.is(decideContent('/f', { stat: st(), sha }, { sha }), null);
  t.is(decideContent('/f', { stat: st({ mode: 0 }), sha }, { sha, mode: '0000' }), null);
  t.deepEqual(decideContent('/f', { stat: null }, { sha }), { content: true, created: true, attrs: {} });
  t.deepEqual(decideContent('/f', { stat: st(), sha: sha256('y\n') }, { sha }), { content: true, created: false, attrs: {} });
  t.deepEqual(decideContent('/f', { stat: st(), sha }, { sha, mode: '0600' }), { content: false, created: false, attrs: { mode: { from: '0644', to: '0600' } } });
  t.throws(() => decideContent('/f', { stat: st({ kind: 'directory' }), sha }, { sha }), { message: /is a directory/ });
  // an empty file is content too: its sha is not "nothing"
  t.is(decideContent('/f', { stat: st({ size: 0 }), sha: sha256('') }, { sha: sha256('') }), null);
  t.is(parseSha256sum(ok(`${sha}  /f\n`)), sha);
  t.is(parseSha256sum(fail('No such file')), undefined);
});

// ---------------------------------------------------------------- template / copy

test('templatePath: relative to <roleDir>/templates, absolute kept, relative without role refused', (t) => {
  t.is(templatePath('k.conf.ejs', '/roles/lb'), '/roles/lb/templates/k.conf.ejs');
  t.is(templatePath('/abs/x.ejs', '/roles/lb'), '/abs/x.ejs');
  t.throws(() => templatePath('x.ejs'), { message: /no role directory/ });
});

test('prepareVars: Secrets unwrapped for rendering, paths collected, token replaces them', (t) => {
  const vars = { a: { pass: 'p4ss', n: 0 }, s: secret('sekret'), list: [secret(1234)], plain: 'x' };
  const real = prepareVars(vars, ['a.pass', 'a.n']);
  t.deepEqual(real.vars, { a: { pass: 'p4ss', n: 0 }, s: 'sekret', list: ['1234'], plain: 'x' });
  t.deepEqual(real.secrets.sort(), ['0', '1234', 'p4ss', 'sekret'].sort());
  const tok = prepareVars(vars, ['a.pass'], 'T');
  t.deepEqual(tok.vars, { a: { pass: 'T', n: 0 }, s: 'T', list: ['T'], plain: 'x' });
  t.throws(() => prepareVars(vars, ['a.missing']), { message: /secret var "a.missing" is not defined/ });
  // the caller's vars are not modified
  t.is(vars.a.pass, 'p4ss');
});

test('render: <%- %> is not HTML-escaped; errors name the template', async (t) => {
  await loadEjs();
  t.is(render('v=<%- v %> e=<%= v %>', { v: 'a<b' }, '/t.ejs'), 'v=a<b e=a&lt;b');
  t.is(render('n=<%- n %>', { n: 0 }, '/t.ejs'), 'n=0');
  t.throws(() => render('<%- missing %>', {}, '/roles/x/templates/t.ejs'), { message: /t\.ejs[\s\S]*missing is not defined/ });
});

test('renderTemplate: vars = ctx.vars + args.vars; secrets masked on both sides of the diff', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-tpl-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'templates'));
  fs.writeFileSync(path.join(dir, 'templates', 'k.conf.ejs'), 'prio <%- prio %>\nauth_pass <%- auth.pass %>\nkey <%- key %>\n');
  const want = await renderTemplate(
    { vars: { prio: 100, auth: { pass: 'newpass' }, key: secret('k3y') }, roleDir: dir },
    { src: 'k.conf.ejs', dest: '/etc/k.conf', vars: { prio: 0 }, secrets: ['auth.pass'] },
  );
  t.is(want.content, 'prio 0\nauth_pass newpass\nkey k3y\n');
  t.is(want.redact!(want.content as string, 'new'), `prio 0\nauth_pass ${MASK}\nkey ${MASK}\n`);
  t.is(want.redact!('prio 1\nauth_pass oldpass\nkey oldk3y\n', 'old'), `prio 1\nauth_pass ${MASK}\nkey ${MASK}\n`);
});

test('template plan: one round trip when nothing differs, a second (cat) for the diff when it does', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-tpl-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const src = path.join(dir, 'x.ejs');
  fs.writeFileSync(src, 'pass <%- pass %>\n');
  const rendered = 'pass s3cret\n';
  let remote = rendered;
  const answer = (c: Command) =>
    c.text.startsWith('sha256sum') ? ok(`${sha256(remote)}  /etc/x\n`) : c.text.startsWith('stat') ? ok('regular file|644|root|root|0|0|12') : ok(remote);
  const same = fakeCtx(answer, { vars: { pass: secret('s3cret') } });
  t.is(await template.module.plan(same.ctx, { src, dest: '/etc/x' }), null);
  t.is(same.reads.length, 1);

  remote = 'pass old\nextra\n';
  const diff = fakeCtx(answer, { vars: { pass: secret('s3cret') } });
  const change = await template.module.plan(diff.ctx, { src, dest: '/etc/x', mode: '0600' });
  t.is(diff.reads.length, 2);
  t.is(change!.summary, 'update /etc/x mode 0644→0600');
  t.regex(change!.diff!, /^-extra$/m);
  // the new secret by value, the old one by its line's shape: neither shows
  t.notRegex(change!.diff!, /s3cret|old/);

  remote = 'pass old\n';
  const onlySecret = fakeCtx(answer, { vars: { pass: secret('s3cret') } });
  t.regex((await template.module.plan(onlySecret.ctx, { src, dest: '/etc/x' }))!.diff!, /differs only in redacted values/);
});

test('copy plan: Buffer and empty content compared by sha256, never by truthiness', async (t) => {
  const answer = (sha: string, size: number) => (c: Command) =>
    c.text.startsWith('sha256sum') ? ok(`${sha}  /f\n`) : c.text.startsWith('stat') ? ok(`regular file|644|root|root|0|0|${size}`) : ok('');
  t.is(await copy.module.plan(fakeCtx(answer(sha256(''), 0)).ctx, { content: '', dest: '/f' }), null);
  t.is(await copy.module.plan(fakeCtx(answer(sha256(Buffer.from([0])), 1)).ctx, { content: Buffer.from([0]), dest: '/f' }), null);
  const c = await copy.module.plan(fakeCtx(answer(sha256('x'), 1)).ctx, { content: '', dest: '/f' });
  t.is(c!.summary, 'update /f');
  const missing = await copy.module.plan(
    fakeCtx((cmd) => (cmd.text.startsWith('sha') || cmd.text.startsWith('stat') ? fail('No such file or directory') : ok())).ctx,
    { content: '0', dest: '/f' },
  );
  t.is(missing!.summary, 'create /f');
  t.regex(missing!.diff!, /^\+0$/m);
});

// ---------------------------------------------------------------- sysctl

test('normaliseSysctl: whitespace and integer forms', (t) => {
  const table: Array<[string | number, string]> = [
    [0, '0'],
    ['0', '0'],
    ['00', '0'],
    [' 1\n', '1'],
    ['4096\t87380   6291456', '4096 87380 6291456'],
    ['-1', '-1'],
    ['bbr', 'bbr'],
    ['', ''],
  ];
  for (const [v, want] of table) t.is(normaliseSysctl(v), want, JSON.stringify(v));
});

test('sysctl file parsing and rewriting', (t) => {
  t.is(fileValue('# c\nnet.ipv4.ip_forward = 0\n', 'net.ipv4.ip_forward'), '0');
  t.is(fileValue('net/ipv4/ip_forward=1\nnet.ipv4.ip_forward = 0\n', 'net.ipv4.ip_forward'), '0'); // last wins, / and . alike
  t.is(fileValue('', 'a.b'), undefined);
  t.is(fileValue('a.bc = 1\n', 'a.b'), undefined);
  t.is(setFileValue('', 'a.b', '0'), 'a.b = 0\n');
  t.is(setFileValue('# keep\na.b=1\nc.d = 2\na.b = 3', 'a.b', '0'), '# keep\na.b = 0\nc.d = 2\n');
  t.is(setFileValue('c.d = 2\n', 'a.b', '4096 87380 6291456'), 'c.d = 2\na.b = 4096 87380 6291456\n');
});

test('decideSysctl: table', (t) => {
  const key = 'net.ipv4.ip_forward';
  type Row = [string, string | number, string | undefined, string | null, { runtime: boolean; file: boolean } | null];
  const table: Row[] = [
    ['0 is a value (pyinfra re-applies it)', 0, '0\n', `${key} = 0\n`, null],
    ['string 0 equals number 0', '0', '0', `${key}=0`, null],
    ['runtime differs', 1, '0\n', `${key} = 1\n`, { runtime: true, file: false }],
    ['file missing', 0, '0', null, { runtime: false, file: true }],
    ['file empty', 0, '0', '', { runtime: false, file: true }],
    ['file differs', 0, '0', `${key} = 1\n`, { runtime: false, file: true }],
    ['key not available yet', 1, undefined, null, { runtime: true, file: true }],
  ];
  for (const [name, value, runtime, file, want] of table) {
    const d = decideSysctl(key, value, runtime, file);
    t.deepEqual(d && { runtime: !!d.runtime, file: !!d.file }, want, name);
  }
  const ws = decideSysctl('net.ipv4.tcp_rmem', '4096 87380 6291456', '4096\t87380\t6291456\n', 'net.ipv4.tcp_rmem = 4096  87380 6291456\n');
  t.is(ws, null, 'whitespace normalised on both sides');
});

test('sysctl plan: one round trip; missing key reported, other failures thrown', async (t) => {
  const f = fakeCtx((c) => (c.text.startsWith('sysctl') ? ok('0\n') : ok('net.ipv4.ip_forward = 0\n')));
  t.is(await sysctl.module.plan(f.ctx, { key: 'net.ipv4.ip_forward', value: 0 }), null);
  t.is(f.reads.length, 1);
  const gone = fakeCtx((c) => (c.text.startsWith('sysctl') ? fail('sysctl: cannot stat /proc/sys/net/ipv4/vs/x: No such file or directory', 255) : fail()));
  const ch = await sysctl.module.plan(gone.ctx, { key: 'net.ipv4.vs.x', value: 1 });
  t.regex(ch!.summary, /not available yet/);
  const broken = fakeCtx(() => fail('sh: 1: sysctl: not found', 127));
  await t.throwsAsync(sysctl.module.plan(broken.ctx, { key: 'a.b', value: 1 }), { message: /not found/ });
  await t.throwsAsync(sysctl.module.plan(broken.ctx, { key: 'a b; rm', value: 1 }), { message: /invalid key/ });
});

// ---------------------------------------------------------------- service

test('decideService: table', (t) => {
  const s = (active: string, enabled: string): ServiceState => ({ active, enabled });
  type Row = [ServiceState, Parameters<typeof decideService>[1], string[]];
  const table: Row[] = [
    [s('active', 'enabled'), { state: 'started', enabled: true }, []],
    [s('inactive', 'enabled'), { state: 'started' }, ['start']],
    [s('failed', 'disabled'), { state: 'started', enabled: true }, ['enable', 'start']],
    [s('active', 'enabled'), { state: 'stopped', enabled: false }, ['disable', 'stop']],
    [s('inactive', 'disabled'), { state: 'stopped', enabled: false }, []],
    [s('active', 'static'), { enabled: true }, []],
    [s('active', 'enabled'), { state: 'restarted' }, ['restart']],
    [s('inactive', 'enabled'), { state: 'restarted' }, ['restart']],
    [s('active', 'enabled'), { state: 'reloaded' }, ['reload']],
    [s('inactive', 'enabled'), { state: 'reloaded' }, ['start']],
    [s('failed', 'enabled'), { state: 'reloaded' }, ['start']],
    [s('active', 'enabled'), {}, []],
    [s('inactive', ''), { state: 'started' }, ['start']],
  ];
  for (const [cur, args, want] of table) t.deepEqual(decideService(cur, args), want, `${JSON.stringify(cur)} ${JSON.stringify(args)}`);
  t.throws(() => decideService(s('inactive', 'masked'), { enabled: true }), { message: /masked/ });
  t.deepEqual(parseServiceState('inactive\n', 'disabled\n'), s('inactive', 'disabled'));
  t.is(serviceCommand('nginx', ['enable', 'start']).text, 'systemctl enable nginx && systemctl start nginx');
});

test('service plan: restarted/reloaded always changed; unit not installed yet reported', async (t) => {
  const running = fakeCtx((c) => ok(c.text.includes('is-active') ? 'active\n' : 'enabled\n'));
  t.is(await service.module.plan(running.ctx, { name: 'nginx', state: 'started', enabled: true }), null);
  t.is(running.reads.length, 1);
  t.is((await service.module.plan(running.ctx, { name: 'nginx', state: 'reloaded' }))!.summary, 'reload nginx');
  const missing = fakeCtx((c) => (c.text.includes('is-active') ? { stdout: 'inactive\n', stderr: '', exitCode: 3 } : fail('Failed to get unit file state')));
  t.is((await service.module.plan(missing.ctx, { name: 'keepalived', state: 'started' }))!.summary, 'start keepalived (unit not installed yet)');
});

// ---------------------------------------------------------------- address

test('normaliseCidr: bare address is /32, junk refused', (t) => {
  t.is(normaliseCidr('10.0.0.5'), '10.0.0.5/32');
  t.is(normaliseCidr(' 10.0.0.5/24 '), '10.0.0.5/24');
  t.is(normaliseCidr('0.0.0.0/0'), '0.0.0.0/0');
  for (const bad of ['10.0.0.256/32', '10.0.0/24', '10.0.0.5/33', 'fe80::1/64', '', '10.0.0.5/']) t.throws(() => normaliseCidr(bad), undefined, bad);
});

test('parseIpAddrCidrs and unit naming', (t) => {
  const out =
    '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n' +
    '1: lo    inet 10.0.0.100/32 scope global lo\\       valid_lft forever preferred_lft forever\n';
  t.deepEqual(parseIpAddrCidrs(out), ['127.0.0.1/8', '10.0.0.100/32']);
  t.deepEqual(parseIpAddrCidrs(''), []);
  t.is(systemdEscape('br-lan'), 'br\\x2dlan');
  t.is(systemdEscape('eth0.100'), 'eth0.100');
  t.is(unitName('lo', '10.0.0.100/32'), 'lvsplay-addr-lo-10.0.0.100_32.service');
  t.regex(unitContent('lo', '10.0.0.100/32'), /^ExecStart=\/sbin\/ip addr replace 10\.0\.0\.100\/32 dev lo$/m);
});

test('decideAddress: table', (t) => {
  const name = unitName('lo', '10.0.0.100/32');
  const unit = unitContent('lo', '10.0.0.100/32');
  const link = `${UNIT_DIR}/${name}`;
  const none = { cidrs: [], unit: null, link: null };
  const texts = (d: ReturnType<typeof decideAddress>) => d && { now: d.now.map((c) => c.text), unit: d.unit === undefined ? 'keep' : d.unit === null ? 'remove' : 'write', link: d.link };
  type Row = [string, Parameters<typeof decideAddress>[0], Parameters<typeof decideAddress>[1], ReturnType<typeof texts>];
  const table: Row[] = [
    ['add', { dev: 'lo', cidr: '10.0.0.100/32' }, { ...none, cidrs: ['127.0.0.1/8'] }, { now: ['ip addr add 10.0.0.100/32 dev lo'], unit: 'keep', link: undefined }],
    ['present', { dev: 'lo', cidr: '10.0.0.100' }, { ...none, cidrs: ['127.0.0.1/8', '10.0.0.100/32'] }, null],
    ['other prefix replaced', { dev: 'lo', cidr: '10.0.0.100/32' }, { ...none, cidrs: ['10.0.0.100/24'] }, { now: ['ip addr del 10.0.0.100/24 dev lo', 'ip addr add 10.0.0.100/32 dev lo'], unit: 'keep', link: undefined }],
    ['absent, not there', { dev: 'lo', cidr: '10.0.0.100/32', state: 'absent' }, none, null],
    ['absent, there', { dev: 'lo', cidr: '10.0.0.100/32', state: 'absent' }, { ...none, cidrs: ['10.0.0.100/32'] }, { now: ['ip addr del 10.0.0.100/32 dev lo'], unit: 'keep', link: undefined }],
    ['persist new', { dev: 'lo', cidr: '10.0.0.100/32', persist: true }, { ...none, cidrs: ['10.0.0.100/32'] }, { now: [], unit: 'write', link: true }],
    ['persist done', { dev: 'lo', cidr: '10.0.0.100/32', persist: true }, { cidrs: ['10.0.0.100/32'], unit, link }, null],
    ['persist edited unit', { dev: 'lo', cidr: '10.0.0.100/32', persist: true }, { cidrs: ['10.0.0.100/32'], unit: unit + '# x\n', link }, { now: [], unit: 'write', link: undefined }],
    ['unpersist', { dev: 'lo', cidr: '10.0.0.100/32', persist: true, state: 'absent' }, { cidrs: [], unit, link }, { now: [], unit: 'remove', link: false }],
  ];
  for (const [name, args, state, want] of table) t.deepEqual(texts(decideAddress(args, state)), want, name);
  t.throws(() => decideAddress({ dev: 'lo; reboot', cidr: '10.0.0.1' }, none), { message: /invalid device/ });
});

// ---------------------------------------------------------------- command

test('skipReason: creates / removes / unless', (t) => {
  type Row = [Parameters<typeof skipReason>[0], Parameters<typeof skipReason>[1], string | null];
  const table: Row[] = [
    [{}, {}, null],
    [{ creates: '/x' }, { createsExists: true }, '/x exists'],
    [{ creates: '/x' }, { createsExists: false }, null],
    [{ removes: '/x' }, { removesExists: false }, '/x does not exist'],
    [{ removes: '/x' }, { removesExists: true }, null],
    [{ unless: sh`true` }, { unlessExit: 0 }, 'unless probe exited 0'],
    [{ unless: sh`false` }, { unlessExit: 1 }, null],
    // an empty path is still a path to test (and does not exist): never skipped by truthiness
    [{ creates: '' }, { createsExists: false }, null],
  ];
  for (const [args, probes, want] of table) t.is(skipReason(args, probes), want, JSON.stringify([args, probes]));
});

test('command plan: no probes → no round trip; check mode says "would run"; secrets masked', async (t) => {
  const f = fakeCtx(() => ok(), { check: true });
  const c = await command.module.plan(f.ctx, { cmd: sh`echo ${secret('tok')}` });
  t.is(f.reads.length, 0);
  t.is(c!.summary, 'would run: echo ********');
  const g = fakeCtx((cmd) => (cmd.text.startsWith('test -e') ? ok() : fail()));
  t.is(await command.module.plan(g.ctx, { cmd: 'touch /x', creates: '/x' }), null);
  t.is(g.reads.length, 1);
});

// ---------------------------------------------------------------- file

test('decideFile: table', (t) => {
  const texts = (d: ReturnType<typeof decideFile>) => d && d.cmds.map((c) => c.text);
  type Row = [string, Parameters<typeof decideFile>[0], RemoteStat | null, string | undefined, string[] | null];
  const table: Row[] = [
    ['absent missing', { path: '/x', state: 'absent' }, null, undefined, null],
    ['absent dir', { path: '/x', state: 'absent' }, st({ kind: 'directory' }), undefined, ['rm -rf -- /x']],
    ['new dir with mode', { path: '/d', state: 'directory', mode: '0750' }, null, undefined, ['mkdir -p -- /d', 'chmod -- 0750 /d']],
    ['dir ok', { path: '/d', state: 'directory', mode: '0755' }, st({ kind: 'directory', mode: 0o755 }), undefined, null],
    ['mode 0 ok', { path: '/d', state: 'directory', mode: '0' }, st({ kind: 'directory', mode: 0 }), undefined, null],
    ['mode 0 to set', { path: '/d', state: 'directory', mode: 0 }, st({ kind: 'directory', mode: 0o755 }), undefined, ['chmod -- 0000 /d']],
    ['file created', { path: '/f', state: 'file' }, null, undefined, ['touch -- /f']],
    ['file owner', { path: '/f', state: 'file', owner: 'nobody' }, st(), undefined, ['chown -- nobody /f']],
    ['link new', { path: '/l', state: 'link', src: '/t' }, null, undefined, ['ln -sfn -- /t /l']],
    ['link ok', { path: '/l', state: 'link', src: '/t' }, st({ kind: 'link' }), '/t', null],
    ['link relinked', { path: '/l', state: 'link', src: '/t2' }, st({ kind: 'link' }), '/t', ['ln -sfn -- /t2 /l']],
  ];
  for (const [name, args, cur, target, want] of table) t.deepEqual(texts(decideFile(args, cur, target)), want, name);
  t.throws(() => decideFile({ path: '/d', state: 'directory' }, st(), undefined), { message: /exists as a file/ });
  t.throws(() => decideFile({ path: 'rel', state: 'directory' }, null), { message: /absolute/ });
  t.throws(() => decideFile({ path: '/', state: 'absent' }, st({ kind: 'directory' })), { message: /refusing/ });
  t.throws(() => decideFile({ path: '/l', state: 'link', src: '' }, null), { message: /needs src/ });
});

// ---------------------------------------------------------------- lineinfile

test('editLines: table', (t) => {
  type Row = [string, string | null, Parameters<typeof editLines>[1], string | null];
  const table: Row[] = [
    ['append', 'a\n', { line: 'b' }, 'a\nb\n'],
    ['already there', 'a\nb\n', { line: 'b' }, 'a\nb\n'],
    ['append to file without final newline', 'a', { line: 'b' }, 'a\nb\n'],
    ['create', null, { line: 'x=0' }, 'x=0\n'],
    ['empty file', '', { line: '0' }, '0\n'],
    ['empty line appended once', 'a\n', { line: '' }, 'a\n\n'],
    ['empty line already there', 'a\n\n', { line: '' }, 'a\n\n'],
    ['regexp replaces last match', 'x=1\ny\nx=2\n', { line: 'x=0', regexp: '^x=' }, 'x=1\ny\nx=0\n'],
    ['regexp match already right', 'x=0\n', { line: 'x=0', regexp: '^x=' }, 'x=0\n'],
    ['regexp no match appends', 'y\n', { line: 'x=0', regexp: '^x=' }, 'y\nx=0\n'],
    ['absent by regexp', 'x=1\ny\nx=2\n', { line: '', regexp: '^x=', state: 'absent' }, 'y\n'],
    ['absent by line', 'a\nb\na\n', { line: 'a', state: 'absent' }, 'b\n'],
    ['absent, nothing to remove', 'b\n', { line: 'a', state: 'absent' }, 'b\n'],
    ['absent, no file', null, { line: 'a', state: 'absent' }, null],
  ];
  for (const [name, content, args, want] of table) t.is(editLines(content, args), want, name);
  t.throws(() => editLines('', { line: 'a', regexp: '(' }), { message: /invalid regexp/ });
  t.throws(() => editLines('', { line: 'a\nb' }), { message: /single line/ });
});

// ---------------------------------------------------------------- kmod

test('kmod parsing: /proc/modules, lsmod, modules-load.d; - and _ alike', (t) => {
  const proc = 'ip_vs_rr 12288 1 - Live 0x0\nip_vs 200704 3 ip_vs_rr, Live 0x0\nnf_conntrack 0 1 ip_vs, Live 0x0\n';
  t.deepEqual([...parseLoaded(proc)], ['ip_vs_rr', 'ip_vs', 'nf_conntrack']);
  t.deepEqual([...parseLoaded('Module                  Size  Used by\nip_vs 1 0\n')], ['ip_vs']);
  t.deepEqual([...parseLoaded('')], []);
  t.deepEqual(parseModulesFile('# comment\nip_vs\n\n  ip-vs-rr  \n'), ['ip_vs', 'ip_vs_rr']);
});

test('decideKmod: table', (t) => {
  const loaded = new Set(['ip_vs']);
  type Row = [string, Parameters<typeof decideKmod>[0], Parameters<typeof decideKmod>[1], ReturnType<typeof decideKmod>];
  const table: Row[] = [
    ['loaded', { name: 'ip_vs' }, { loaded, builtin: false, file: null }, null],
    ['dash alias loaded', { name: 'ip-vs' }, { loaded, builtin: false, file: null }, null],
    ['builtin', { name: 'dummy' }, { loaded, builtin: true, file: null }, null],
    ['load', { name: 'ip_vs_rr' }, { loaded, builtin: false, file: null }, { load: 'modprobe' }],
    ['persist new', { name: 'ip_vs', persist: true }, { loaded, builtin: false, file: null }, { file: { from: null, to: 'ip_vs\n' } }],
    ['persist empty file', { name: 'ip_vs', persist: true }, { loaded, builtin: false, file: '' }, { file: { from: '', to: 'ip_vs\n' } }],
    ['persist append', { name: 'ip_vs', persist: true }, { loaded, builtin: false, file: 'dummy' }, { file: { from: 'dummy', to: 'dummy\nip_vs\n' } }],
    ['persisted', { name: 'ip_vs', persist: true }, { loaded, builtin: false, file: 'ip_vs\n' }, null],
    ['unload + unpersist', { name: 'ip_vs', state: 'absent', persist: true }, { loaded, builtin: false, file: 'a\nip_vs\n' }, { load: 'unload', file: { from: 'a\nip_vs\n', to: 'a\n' } }],
    ['absent already', { name: 'ip_vs_rr', state: 'absent' }, { loaded, builtin: false, file: null }, null],
  ];
  for (const [name, args, state, want] of table) t.deepEqual(decideKmod(args, state), want, name);
  t.throws(() => decideKmod({ name: 'dummy', state: 'absent' }, { loaded, builtin: true, file: null }), { message: /built into/ });
  t.throws(() => decideKmod({ name: 'ip_vs; reboot' }, { loaded, builtin: false, file: null }), { message: /invalid module/ });
});

test('kmod plan: one round trip', async (t) => {
  const f = fakeCtx((c) => (c.text.startsWith('cat /proc/modules') ? ok('ip_vs 1 0 - Live 0x0\n') : c.text.startsWith('grep') ? fail() : ok('ip_vs\n')));
  t.is(await kmod.module.plan(f.ctx, { name: 'ip_vs', persist: true }), null);
  t.is(f.reads.length, 1);
});

// ---------------------------------------------------------------- pkg

test('parseDpkgStatus: only fully installed packages', (t) => {
  const out = 'dash install ok installed\nfoo deinstall ok config-files\nbar install ok half-installed\nbaz hold ok installed\n';
  t.deepEqual([...parseDpkgStatus(out)], ['dash', 'baz']);
  t.deepEqual([...parseDpkgStatus('')], []);
  t.is(newestList('1700000000.5\n1700000100.0000000000\n'), 1700000100);
  t.is(newestList(''), undefined);
});

test('decidePkg: table', (t) => {
  const installed = new Set(['dash', 'nginx-light']);
  const fresh = { newest: 1000, now: 1100 };
  type Row = [string, Parameters<typeof decidePkg>[0], Parameters<typeof decidePkg>[2], ReturnType<typeof decidePkg>];
  const table: Row[] = [
    ['all installed', { names: ['dash', 'nginx-light'] }, fresh, null],
    ['duplicates and arch', { names: ['dash', 'dash:amd64'] }, fresh, null],
    ['missing, lists fresh', { names: ['dash', 'ipvsadm'] }, fresh, { install: ['ipvsadm'], remove: [], update: false }],
    ['missing, lists stale', { names: ['ipvsadm'] }, { newest: 1000, now: 1000 + 3601 }, { install: ['ipvsadm'], remove: [], update: true }],
    ['missing, no lists', { names: ['ipvsadm'] }, { now: 5 }, { install: ['ipvsadm'], remove: [], update: true }],
    ['cacheValidSeconds 0 always updates', { names: ['ipvsadm'], cacheValidSeconds: 0 }, { newest: 1000, now: 1001 }, { install: ['ipvsadm'], remove: [], update: true }],
    ['cacheValidSeconds 0, same second', { names: ['ipvsadm'], cacheValidSeconds: 0 }, { newest: 1000, now: 1000 }, { install: ['ipvsadm'], remove: [], update: true }],
    ['exactly fresh enough', { names: ['ipvsadm'], cacheValidSeconds: 60 }, { newest: 1000, now: 1059 }, { install: ['ipvsadm'], remove: [], update: false }],
    ['absent', { names: ['dash', 'ipvsadm'], state: 'absent' }, fresh, { install: [], remove: ['dash'], update: false }],
    ['absent already', { names: ['ipvsadm'], state: 'absent' }, { now: 0 }, null],
  ];
  for (const [name, args, lists, want] of table) t.deepEqual(decidePkg(args, installed, lists), want, name);
  t.throws(() => decidePkg({ names: [] }, installed, fresh), { message: /non-empty/ });
  t.throws(() => decidePkg({ names: ['x; reboot'] }, installed, fresh), { message: /invalid package/ });
  const cmd = pkgCommand({ install: ['ipvsadm', 'keepalived'], remove: [], update: true }).text;
  t.is(
    cmd,
    'env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 -q update && ' +
      'env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends ' +
      '-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -- ipvsadm keepalived',
  );
});

test('pkg plan: dpkg-query, lists age and clock in one round trip', async (t) => {
  const f = fakeCtx((c) => (c.text.startsWith('dpkg-query') ? { stdout: 'dash install ok installed\n', stderr: 'dpkg-query: no packages found matching ipvsadm\n', exitCode: 1 } : c.text.startsWith('find') ? ok('100.5\n') : ok('200\n')));
  const c = await pkg.module.plan(f.ctx, { names: ['dash', 'ipvsadm'] });
  t.is(f.reads.length, 1);
  t.is(c!.summary, 'install ipvsadm');
  t.regex(c!.diff!, /^\+ipvsadm: installed$/m);
});

// ---------------------------------------------------------------- facts

const OS_RELEASE = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`;
const IP_LINK = `1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
2: ifb0: <BROADCAST,NOARP> mtu 1500 qdisc noop state DOWN mode DEFAULT group default qlen 32\\    link/ether fe:c8:2c:94:6f:68 brd ff:ff:ff:ff:ff:ff
4: eth0@if12: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 qdisc pfifo_fast state UP mode DEFAULT group default qlen 1000\\    link/ether 02:FC:00:00:00:01 brd ff:ff:ff:ff:ff:ff link-netnsid 0
`;
const IP_ADDR = `1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
1: lo    inet 10.0.0.100/32 scope global lo\\       valid_lft forever preferred_lft forever
4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever
`;
const ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth1\t00000000\t0101000A\t0003\t0\t0\t50\t00000000\t0\t0\t0
eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;

test('facts parsers on real outputs', (t) => {
  t.is(parseOsRelease(OS_RELEASE).VERSION_CODENAME, 'bookworm');
  t.deepEqual(osFacts(OS_RELEASE), { id: 'debian', versionId: '12', codename: 'bookworm', prettyName: 'Debian GNU/Linux 12 (bookworm)' });
  t.deepEqual(osFacts(''), { id: '', versionId: '', codename: '', prettyName: '' });
  t.deepEqual(parseIpLink(IP_LINK), { lo: { up: true }, ifb0: { up: false, mac: 'fe:c8:2c:94:6f:68' }, eth0: { up: true, mac: '02:fc:00:00:00:01' } });
  t.deepEqual(parseIpAddr(IP_ADDR), { lo: ['127.0.0.1/8', '10.0.0.100/32'], eth0: ['192.0.2.2/24'] });
  t.is(parseDefaultInterface(ROUTE), 'eth1');
  t.is(parseDefaultInterface('Iface\tDestination\n'), undefined);
  t.deepEqual(parseDpkgVersions('dash\t0.5.12-2\tinstall ok installed\nold\t\tdeinstall ok config-files\n'), { dash: '0.5.12-2' });
  t.deepEqual(
    parseSysClassNet('/sys/class/net/eth0/address:02:fc:00:00:00:01\n/sys/class/net/eth0/operstate:up\n/sys/class/net/lo/address:00:00:00:00:00:00\n/sys/class/net/lo/operstate:unknown\n'),
    { eth0: { up: true, mac: '02:fc:00:00:00:01' }, lo: { up: true } },
  );
  t.deepEqual(interfaceFacts(IP_ADDR, IP_LINK, '').lo, { cidrs: ['127.0.0.1/8', '10.0.0.100/32'], up: true });
  t.deepEqual(interfaceFacts(IP_ADDR, IP_LINK, '').ifb0, { cidrs: [], up: false, mac: 'fe:c8:2c:94:6f:68' });
  // without iproute2: links from sysfs, no addresses
  t.deepEqual(interfaceFacts(undefined, undefined, '/sys/class/net/eth0/operstate:down\n'), { eth0: { cidrs: [], up: false } });
});
