// Inventory sources and formats: INI (values, errors with file:line), format detection, -i DIR,
// repeated -i, host lists, connection aliases and ansible_connection, files that are no inventory.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { loadInventory } from '../../lib/inventory.ts';
import { iniValue } from '../../lib/inventory/pyliteral.ts';
import { ConfigError } from '../../lib/types.ts';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/inventory');
const fixture = (name: string) => path.join(fixtures, name);
const quiet = { warn: () => {} };
const refused = async (t: ExecutionContext, sources: string | string[]) =>
  (await t.throwsAsync(loadInventory(sources, quiet), { instanceOf: ConfigError }))!;

// ---------------------------------------------------------------- INI values: ast.literal_eval

const literals: Array<[text: string, value: unknown]> = [
  ['1', 1], ['-3', -3], ['1_000', 1000], ['0x1F', 31], ['0o17', 15], ['0b101', 5], ['1.5', 1.5], ['1e3', 1000], ['.5', 0.5],
  ['True', true], ['False', false], ['None', null], ['true', 'true'], ['yes', 'yes'],
  ['0755', '0755'], // a SyntaxError in Python 3: stays a string
  ["'quoted'", 'quoted'], ['"dq"', 'dq'], ["'a' 'b'", 'ab'], ["'tab\\there'", 'tab\there'], ["r'raw\\n'", 'raw\\n'],
  ['[1, 2]', [1, 2]], ["[1, 'two', None]", [1, 'two', null]], ['(1, 2)', [1, 2]], ['(1)', 1], ['()', []],
  ["{'k': [1, 2.5]}", { k: [1, 2.5] }], ['{k: 1}', '{k: 1}'], ['{1, 2}', '{1, 2}'],
  ['hello world', 'hello world'], ['10.0.0.1', '10.0.0.1'], ['1 # comment', 1], ['1j', '1j'], ['', ''],
];
for (const [text, value] of literals) {
  test(`INI value ${JSON.stringify(text)} → ${JSON.stringify(value)} (Python's ast.literal_eval, else the text)`, (t) => {
    t.deepEqual(iniValue(text), value);
  });
}

// ---------------------------------------------------------------- INI files

test('INI: groups, :children declared before its groups, :vars, host-line vars, host:port, ranges', async (t) => {
  const inv = await loadInventory(fixture('ansible-compare/ini-forms'), quiet);
  t.deepEqual([...inv.hosts.keys()], ['lone1', 'lone2', 'web01', 'web02', 'web03', 'db-a', 'db-b', 'db-c', 'w1', 'w4', 'w7', 'x1']);
  t.deepEqual(inv.groups.get('ungrouped'), ['lone1', 'lone2']);
  t.deepEqual(inv.groups.get('meta'), ['web01', 'web02', 'web03', 'db-a', 'db-b', 'db-c', 'w1', 'w4', 'w7', 'x1']);
  t.like(inv.hosts.get('lone2'), { port: 2201 });
  t.like(inv.hosts.get('db-b'), { port: 2222 });
  t.like(inv.hosts.get('web02'), { user: 'deploy' });
  t.like(inv.hosts.get('x1'), { address: '10.0.0.1', port: 22 });
  t.like(inv.hosts.get('lone1')!.vars, { a: 1, b: 1.5, c: true, d: 'true', e: 'x y', f: [1, 2], g: '0755', h: 31, i: null, j: '{k:1}', k: 'quoted', n: 'yes' });
  t.like(inv.hosts.get('w4')!.vars, { v1: 1, v2: true, v3: 'hello world', v4: [1, 2], v5: 'quoted' });
});

const iniErrors: Array<[file: string, where: string, message: RegExp]> = [
  ['unknown-type.ini', ':4', /section \[web:hosts2\] has unknown type "hosts2"/],
  ['bad-section.ini', ':3', /invalid section "\[bad group\]"/],
  ['no-equals.ini', ':2:4', /expected key=value after the host name, got "ansible_port"/],
  ['undefined-child.ini', ':3', /section \[all:children\] names a group defined nowhere: nosuch/],
  ['vars-undefined.ini', ':2', /section \[ghost:vars\] is for a group defined nowhere: ghost/],
  ['unclosed-quote.ini', ':2', /host line: no closing quotation/],
  ['trailing-colon.ini', ':2:1', /invalid host "w1:": a trailing ':' must be followed by a port/],
  ['vars-no-equals.ini', ':2', /expected key=value in \[db:vars\], got "not a pair"/],
  ['bad-range.ini', ':2:1', /host range \[1:\]: the end is missing/],
  ['bad-port.ini', ':2:4', /w1 ansible_port: expected an integer 1\.\.65535, got "22x"/],
  ['all-child.ini', ':6', /group "all" cannot be a child of "web"/],
  ['cycle.ini', ':4', /group "a" under "b" makes a loop: a → b → a/],
];
for (const [file, where, message] of iniErrors) {
  test(`INI refused with file:line: ${file}`, async (t) => {
    const e = await refused(t, fixture(`ini-malformed/${file}`));
    t.true(e.message.startsWith(`${e.file}${where}: `), e.message);
    t.true(e.file!.endsWith(`ini-malformed/${file}`));
    t.regex(e.message, message);
  });
}

// ---------------------------------------------------------------- format detection, files that are no inventory

const formatErrors: Array<[file: string, message: RegExp]> = [
  ['format/neither', /format\/neither:1:1: neither a YAML nor an INI inventory:\n {2}as YAML: \S+neither:4:1: YAML: Flow map.*\n {2}as INI: {2}\S+neither:1:1: invalid host "all:"/],
  ['format/python-tag.yml', /python-tag\.yml:4:10: YAML: unknown tag !!python\/object\/apply:os\.system/],
  ['format/vault.yml', /vault\.yml:4:15: YAML: unknown tag !vault: vault-encrypted values are not supported/],
  ['format/nul.yml', /nul\.yml:4:16: NUL byte in the file/],
  ['format/latin1.yml', /latin1\.yml:4:16: invalid UTF-8 \(byte 0xe9\)/],
  ['format/script.sh', /script\.sh: an executable file is an inventory script for Ansible; lvsplay does not run inventory scripts/],
  ['format/script-output.json', /script-output\.json:1:1: looks like the JSON an inventory script prints/],
  ['format/empty', /empty:1:1: the inventory is empty/],
  ['format/host-space.yml', /host-space\.yml:3:5: all\.hosts\["host with space"\]: invalid host name/],
];
for (const [file, message] of formatErrors) {
  test(`refused with file:line, never the file's text: ${file}`, async (t) => {
    const e = await refused(t, fixture(file));
    t.regex(e.message, message);
  });
}

test('a .yml file holding INI is read as INI (Ansible: the ini plugin takes what the yaml plugin could not)', async (t) => {
  const inv = await loadInventory(fixture('format/ini-in.yml'), quiet);
  t.deepEqual(inv.groups.get('web'), ['w1']);
});

// ---------------------------------------------------------------- sources

test('-i DIR: every file, sorted, recursive; .ini/.md/.bak/~/.retry/hidden skipped; group_vars/ host_vars/ of DIR', async (t) => {
  const inv = await loadInventory(fixture('ansible-compare/dir'), quiet);
  t.deepEqual([...inv.hosts.keys()], ['w1', 'w2', 'w3', 'd1', 'd2']);
  t.false(inv.groups.has('ignored'));
  t.like(inv.hosts.get('w3')!.vars, { from_file: 'extra', web_port: 8080, all_var: 'json' });
  t.like(inv.hosts.get('w1')!.vars, { from_file: 'base', role: 'primary' });
  t.like(inv.hosts.get('d2')!.vars, { nested: true });
});

test('-i a -i b: merged in order, the later source wins key by key', async (t) => {
  const ab = await loadInventory([fixture('ansible-compare/multi/a.yml'), fixture('ansible-compare/multi/b.ini')], quiet);
  t.like(ab.hosts.get('m1')!.vars, { level: 'b', only_a: 1, who: 'b' });
  t.deepEqual(ab.groups.get('web'), ['m1', 'm2']);
  const ba = await loadInventory([fixture('ansible-compare/multi/b.ini'), fixture('ansible-compare/multi/a.yml')], quiet);
  t.like(ba.hosts.get('m1')!.vars, { level: 'a', who: 'a' });
  t.deepEqual(ab.sources, [fixture('ansible-compare/multi/a.yml'), fixture('ansible-compare/multi/b.ini')]);
});

test("-i 'h1,h2:2201,[::1]:2222,': a host list (Ansible's host_list plugin), hosts in ungrouped", async (t) => {
  const inv = await loadInventory('h1,h2:2201,[::1]:2222,', quiet);
  t.deepEqual(inv.groups.get('ungrouped'), ['h1', 'h2', '::1']);
  t.like(inv.hosts.get('h2'), { address: 'h2', port: 2201 });
  t.like(inv.hosts.get('::1'), { address: '::1', port: 2222 });
});

test('-i naming nothing is refused (Ansible only warns, then runs on no host)', async (t) => {
  const e = await refused(t, [fixture('ansible-compare/ini-forms'), fixture('nosuch')]);
  t.regex(e.message, /nosuch: no such file or directory/);
});

// ---------------------------------------------------------------- connection vars

test('ansible_ssh_host/_port/_user: honoured, and they win over ansible_host/_port/_user (MAGIC_VARIABLE_MAPPING)', async (t) => {
  const inv = await loadInventory(fixture('ansible-compare/aliases.yml'), quiet);
  t.like(inv.hosts.get('a1'), { address: '10.9.9.1', port: 2201, user: 'group_ssh_user' });
  t.like(inv.hosts.get('a2'), { address: '10.9.9.22', user: 'group_ssh_user' }); // ssh_user from all: vars beats the host's ansible_user
  t.like(inv.hosts.get('a3'), { address: '10.9.9.3', port: 2203, user: 'group_ssh_user' });
  const ini = await loadInventory(fixture('format/conn-ssh'), quiet);
  t.like(ini.hosts.get('w1'), { address: '10.0.0.9', port: 2299, user: 'ops' });
});

test('ansible_connection local (or docker…) is refused naming host, file, line; ssh is fine', async (t) => {
  const local = await refused(t, fixture('format/conn-local.yml'));
  t.regex(local.message, /conn-local\.yml:4:27: all\.hosts\.h1\.ansible_connection: host "h1": ansible_connection "local" is not supported/);
  const docker = await refused(t, fixture('format/conn-docker'));
  t.regex(docker.message, /conn-docker:2:4: w1 ansible_connection: host "w1": ansible_connection "docker" is not supported: lvsplay speaks only SSH/);
  const viaExtra = await t.throwsAsync(loadInventory(fixture('format/conn-ssh'), { ...quiet, extraVars: { ansible_connection: 'local' } }));
  t.regex(viaExtra!.message, /^extra vars: ansible_connection: host "w1"/);
});

// ---------------------------------------------------------------- patterns

test('a pattern naming no host or group warns once, as Ansible: "Could not match supplied host pattern, ignoring: X"', async (t) => {
  const warnings: string[] = [];
  const inv = await loadInventory(fixture('ansible-compare/ini-forms'), { warn: (m) => warnings.push(m) });
  t.deepEqual(inv.select('web-servers:nosuch:zz*').map((h) => h.name).length, 9);
  inv.select('nosuch');
  t.deepEqual(warnings, ['Could not match supplied host pattern, ignoring: nosuch', 'Could not match supplied host pattern, ignoring: zz*']);
});

test('all[1] selects what Ansible selects: all own hosts, then ungrouped, then the groups', async (t) => {
  const inv = await loadInventory(fixture('ansible-compare/host-order.yml'), quiet);
  t.deepEqual(inv.select('all').map((h) => h.name), ['z1', 'a1', 'u1', 'b1', 'c1']);
  t.deepEqual(inv.select('all[1]').map((h) => h.name), ['a1']);
  t.deepEqual(inv.select('ungrouped').map((h) => h.name), ['u1', 'z1']);
});
