// The YAML inventory: Ansible's documented examples load unchanged, precedence at every level,
// group_vars/ and host_vars/, -e forms, and malformed files refused with file:line:col, key and value.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { parseExtraVars } from '../../lib/extravars.ts';
import { loadInventory } from '../../lib/inventory.ts';
import { unknownNames } from '../../lib/patterns.ts';
import { ConfigError } from '../../lib/types.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixtures = path.join(root, 'test/fixtures/inventory');
const fixture = (name: string) => path.join(fixtures, name);
const names = (hosts: Iterable<{ name: string }>) => [...hosts].map((h) => h.name);

// ---------------------------------------------------------------- the lab

test('inventory/lab.yml: 5 hosts, the three groups, absolute key and known_hosts paths', async (t) => {
  const inv = await loadInventory(path.join(root, 'inventory/lab.yml'));
  t.is(inv.file, path.join(root, 'inventory/lab.yml'));
  t.deepEqual([...inv.hosts.keys()], ['bal1', 'bal2', 'real1', 'real2', 'client']);
  t.deepEqual(inv.groups.get('directors'), ['bal1', 'bal2']);
  t.deepEqual(inv.groups.get('realservers'), ['real1', 'real2']);
  t.deepEqual(inv.groups.get('clients'), ['client']);
  t.deepEqual(inv.groups.get('all'), ['bal1', 'bal2', 'real1', 'real2', 'client']);
  t.deepEqual(inv.groups.get('ungrouped'), []);
  const bal1 = inv.hosts.get('bal1')!;
  t.like(bal1, { address: '127.0.0.1', port: 2211, user: 'root', become: false, groups: ['all', 'directors'] });
  t.is(bal1.privateKeyFile, path.join(root, '.lvsplay/lab/id_ed25519'));
  t.true(path.isAbsolute(bal1.privateKeyFile!));
  t.is(bal1.vars.lvsplay_known_hosts, path.join(root, '.lvsplay/lab/known_hosts'));
  t.is(bal1.vars.lan_ip, '172.28.128.11');
  t.deepEqual(bal1.vars.lvs_vips, ['172.28.128.200']);
  t.deepEqual([...inv.hosts.values()].map((h) => h.port), [2211, 2212, 2221, 2222, 2240]);
  t.deepEqual(names(inv.select('directors:realservers')), ['bal1', 'bal2', 'real1', 'real2']);
  t.deepEqual(names(inv.select('all:!clients:!bal2')), ['bal1', 'real1', 'real2']);
  t.deepEqual(names(inv.select('nosuch')), []);
  t.deepEqual(unknownNames('directors:direktors:!bal3', inv), ['direktors', 'bal3']);
});

test('host vars are separate copies: changing one host does not leak into another', async (t) => {
  const inv = await loadInventory(path.join(root, 'inventory/lab.yml'));
  (inv.hosts.get('bal1')!.vars.lvs_vips as string[]).push('10.0.0.1');
  t.deepEqual(inv.hosts.get('bal2')!.vars.lvs_vips, ['172.28.128.200']);
});

test('extra vars win, connection settings included (-e ansible_user=deploy -e ansible_port=2200)', async (t) => {
  const extraVars = await parseExtraVars(['ansible_user=deploy ansible_port=2200', 'lan_cidr=10.9.0.0/16']);
  const inv = await loadInventory(path.join(root, 'inventory/lab.yml'), { extraVars });
  for (const h of inv.hosts.values()) t.like(h, { user: 'deploy', port: 2200, vars: { lan_cidr: '10.9.0.0/16' } });
});

test('bad extra vars for a connection setting are refused', async (t) => {
  const e = await t.throwsAsync(loadInventory(path.join(root, 'inventory/lab.yml'), { extraVars: { ansible_port: '22x' } }), { instanceOf: ConfigError });
  t.is(e!.message, 'extra vars: ansible_port: expected an integer 1..65535, got "22x"');
});

test('the keepalive vars are checked: seconds > 0, a count >= 1', async (t) => {
  const lab = path.join(root, 'inventory/lab.yml');
  const bad = async (extraVars: Record<string, unknown>) => (await t.throwsAsync(loadInventory(lab, { extraVars }), { instanceOf: ConfigError }))!.message;
  t.regex(await bad({ lvsplay_keepalive_interval: '0' }), /lvsplay_keepalive_interval: expected a number of seconds > 0, got "0"/);
  t.regex(await bad({ lvsplay_keepalive_count_max: '1.5' }), /lvsplay_keepalive_count_max: expected an integer >= 1, got "1\.5"/);
  await t.notThrowsAsync(loadInventory(lab, { extraVars: { lvsplay_keepalive_interval: '0.5', lvsplay_keepalive_count_max: '2' } }));
});

// ---------------------------------------------------------------- Ansible's documented examples, unchanged

test("Ansible docs: the yaml plugin's EXAMPLES (single-host shorthand, host in two groups)", async (t) => {
  const inv = await loadInventory(fixture('ansible-docs/plugin-example.yml'));
  t.deepEqual([...inv.hosts.keys()], ['test1', 'test2', 'test5', 'test6', 'test4']);
  // Ansible's Group.get_hosts order (checked with `ansible -i … other_group --list-hosts`): own hosts, then children's
  t.deepEqual(inv.groups.get('other_group'), ['test4', 'test5', 'test6']);
  t.deepEqual(inv.groups.get('group_x'), ['test5']);
  t.deepEqual(inv.groups.get('last_group'), ['test1']);
  t.deepEqual(inv.groups.get('ungrouped'), ['test2']);
  t.like(inv.hosts.get('test4'), { address: '127.0.0.1', port: 22, user: os.userInfo().username });
  t.deepEqual(inv.hosts.get('test1')!.vars, { group_all_var: 'value', group_last_var: 'value' });
  t.deepEqual(inv.hosts.get('test2')!.vars, { group_all_var: 'value', host_var: 'value' });
  t.deepEqual(inv.hosts.get('test5')!.vars, { group_all_var: 'value', g2_var2: 'value3' });
  t.deepEqual(inv.hosts.get('test5')!.groups, ['all', 'other_group', 'group_x']);
});

test('Ansible docs: hosts in multiple groups (what, where, when)', async (t) => {
  const inv = await loadInventory(fixture('ansible-docs/what-where-when.yml'));
  t.is(inv.hosts.size, 6);
  t.deepEqual(inv.hosts.get('one.example.com')!.groups, ['all', 'dbservers', 'east', 'prod']);
  t.deepEqual(inv.groups.get('ungrouped'), ['mail.example.com']);
  t.deepEqual(inv.hosts.get('mail.example.com')!.groups, ['all', 'ungrouped']);
  t.deepEqual(names(inv.select('webservers:&prod')), ['foo.example.com']);
});

test('Ansible docs: parent/child groups (prod: children: east:)', async (t) => {
  const inv = await loadInventory(fixture('ansible-docs/parent-child.yml'));
  t.deepEqual(inv.groups.get('prod'), ['foo.example.com', 'one.example.com', 'two.example.com']);
  t.deepEqual(inv.groups.get('test'), ['bar.example.com', 'three.example.com']);
  t.deepEqual(inv.hosts.get('foo.example.com')!.groups, ['all', 'prod', 'webservers', 'east']);
});

test('Ansible docs: groups of groups with vars; bodiless children are empty groups', async (t) => {
  const inv = await loadInventory(fixture('ansible-docs/usa.yml'));
  t.deepEqual(inv.groups.get('usa'), ['host1', 'host2', 'host3']);
  t.deepEqual(inv.groups.get('northeast'), []);
  t.deepEqual(inv.hosts.get('host2')!.groups, ['all', 'usa', 'southeast', 'atlanta', 'raleigh']);
  t.like(inv.hosts.get('host2')!.vars, { some_server: 'foo.southeast.example.com', escape_pods: 2, halon_system_timeout: 30 });
  t.deepEqual(names(inv.select('northeast')), []);
});

test('Ansible docs: ranges, strides, letters, host:port, aliases, host and group vars', async (t) => {
  const inv = await loadInventory(fixture('ansible-docs/basic-all.yml'));
  const ranged = inv.groups.get('ranged')!;
  t.is(ranged.length, 50);
  t.deepEqual([ranged[0], ranged[9], ranged[49]], ['www01.example.com', 'www10.example.com', 'www50.example.com']);
  const strided = inv.groups.get('strided')!;
  t.is(strided.length, 25);
  t.deepEqual([strided[0], strided[1], strided[24]], ['www01.example.com', 'www03.example.com', 'www49.example.com']);
  t.deepEqual(inv.groups.get('databases'), ['db-a', 'db-b', 'db-c', 'db-d', 'db-e', 'db-f'].map((h) => `${h}.example.com`));
  t.like(inv.hosts.get('jumper'), { address: '192.0.2.50', port: 5555 });
  t.like(inv.hosts.get('badwolf.example.com'), { address: 'badwolf.example.com', port: 5309 });
  t.deepEqual(inv.hosts.get('host1')!.vars, { http_port: 80, maxRequestsPerChild: 808, ntp_server: 'ntp.atlanta.example.com', proxy: 'proxy.atlanta.example.com' });
  t.deepEqual(inv.groups.get('ungrouped'), ['mail.example.com']);
  t.deepEqual(names(inv.select('www0[1-3].example.com')), ['www01.example.com', 'www02.example.com', 'www03.example.com']);
});

test('Ansible docs: ansible_group_priority beats name order; same depth otherwise merges by name', async (t) => {
  const inv = await loadInventory(fixture('ansible-docs/group-priority.yml'));
  t.is(inv.hosts.get('h1')!.vars.testvar, 'a');
  t.is(inv.hosts.get('h2')!.vars.testvar, 'c');
  t.deepEqual(inv.hosts.get('h1')!.groups, ['all', 'b_group', 'a_group']);
});

// ---------------------------------------------------------------- precedence, group_vars/, host_vars/

const LEVELS = ['all-inline', 'parent-inline', 'child-inline', 'group_vars/all', 'group_vars/parent', 'group_vars/child', 'host-inline', 'host_vars', 'extra'];

test('precedence: all < parent < child inline < group_vars all < parent < child < host inline < host_vars < extra', async (t) => {
  const inv = await loadInventory(fixture('precedence/inventory.yml'), { extraVars: { p9: 'extra' } });
  const h1 = inv.hosts.get('h1')!.vars;
  LEVELS.forEach((level, i) => t.is(h1[`p${i + 1}`], level, `p${i + 1}`));
  const h2 = inv.hosts.get('h2')!.vars; // no host-level vars: the group levels show through
  t.deepEqual([h2.p6, h2.p7, h2.p8, h2.p9], ['group_vars/child', 'group_vars/child', 'group_vars/child', 'extra']);
});

test('precedence: dicts replace; deeper groups win over shallower; same depth merges by name', async (t) => {
  const inv = await loadInventory(fixture('precedence/inventory.yml'));
  const h1 = inv.hosts.get('h1')!;
  t.deepEqual(h1.vars.d, { c: 3 });
  t.is(h1.vars.depthvar, 'child'); // child (depth 2) beats zzz (depth 1)
  t.is(h1.vars.same, 'zzz'); // alpha and zzz both depth 1: zzz merges last
  t.deepEqual(h1.groups, ['all', 'alpha', 'parent', 'zzz', 'child']);
  t.is(h1.vars.p9, 'host_vars');
});

test('group_vars/<group>/ directory: files in lexical order, hidden and non-YAML files skipped; unknown groups ignored', async (t) => {
  const inv = await loadInventory(fixture('precedence/inventory.yml'));
  const h2 = inv.hosts.get('h2')!.vars;
  t.is(h2.order, 'second');
  t.is(h2.p8, 'group_vars/child'); // not .hidden.yml
  for (const h of inv.hosts.values()) t.false('unrelated' in h.vars);
});

test('host_vars paths: ~ expanded, relative paths resolved from the inventory directory', async (t) => {
  const inv = await loadInventory(fixture('precedence/inventory.yml'));
  const h1 = inv.hosts.get('h1')!;
  t.is(h1.privateKeyFile, path.join(os.homedir(), '.ssh/id_test'));
  t.is(h1.vars.lvsplay_known_hosts, path.join(fixtures, 'kh'));
  t.is(inv.hosts.get('h2')!.privateKeyFile, undefined);
});

test('connection settings: same value twice, child over parent, host over its groups are all fine', async (t) => {
  const inv = await loadInventory(fixture('valid-edge-cases.yml'));
  t.deepEqual([...inv.hosts.keys()], ['bal1', 'bal2', 'old1', 'web1']);
  t.like(inv.hosts.get('bal1'), { port: 2211 });
  t.like(inv.hosts.get('bal2'), { port: 2211 });
  t.like(inv.hosts.get('old1'), { port: 2299, user: 'admin', become: true });
  t.like(inv.hosts.get('web1'), { port: 22, become: false });
  t.deepEqual(inv.groups.get('web'), ['web1', 'bal1', 'old1']); // own hosts first, as `ansible web --list-hosts`
  t.deepEqual(inv.hosts.get('old1')!.groups, ['all', 'sudoers', 'web', 'legacy']);
});

// ---------------------------------------------------------------- malformed inventories

const malformed: Array<[file: string, where: string, message: RegExp]> = [
  ['syntax.yml', 'syntax.yml:5:5', /YAML: Flow map in block collection must be sufficiently indented and end with a \}/],
  ['duplicate-key.yml', 'duplicate-key.yml:6:5', /YAML: duplicate key "bal1": map keys must be unique/],
  ['unknown-alias.yml', 'unknown-alias.yml:5:11', /YAML: unknown alias \*nope: no &nope anchor before it/],
  ['empty.yml', 'empty.yml:1:1', /the inventory is empty/],
  ['list.yml', 'list.yml:2:1', /expected a mapping of groups \(all:, …\), got a list/],
  ['plugin.yml', 'plugin.yml:2:1', /plugin: this is an inventory plugin configuration/],
  ['group-list.yml', 'group-list.yml:4:16', /all\.children\.directors: expected a mapping with hosts, children or vars \(or nothing\), got a list/],
  ['unknown-group-key.yml', 'unknown-group-key.yml:5:7', /all\.children\.directors\.host: unknown key "host": a group takes only hosts, children and vars$/],
  ['hostvar-in-group.yml', 'hostvar-in-group.yml:3:3', /all\.ansible_user: unknown key "ansible_user".*host vars go under hosts\.<name>/],
  ['hosts-list.yml', 'hosts-list.yml:6:9', /all\.children\.web\.hosts: expected a mapping of host names.*got a list/],
  ['children-list.yml', 'children-list.yml:4:5', /all\.children: expected a mapping of group names, got a list/],
  ['vars-list.yml', 'vars-list.yml:6:5', /all\.vars: expected a mapping of variables, got a list/],
  ['host-scalar.yml', 'host-scalar.yml:4:11', /all\.hosts\.bal1: expected a mapping of host vars \(or nothing\), got 2211/],
  ['port-string.yml', 'port-string.yml:6:31', /^all\.children\.directors\.hosts\.bal1\.ansible_port: expected an integer 1\.\.65535, got "22x1"$/],
  ['port-range.yml', 'port-range.yml:5:21', /all\.hosts\.bal1\.ansible_port: expected an integer 1\.\.65535, got 70000/],
  ['become.yml', 'become.yml:4:21', /all\.vars\.ansible_become: expected a boolean \(true\/false, yes\/no\), got "maybe"/],
  ['host-list.yml', 'host-list.yml:5:21', /all\.hosts\.bal1\.ansible_host: expected a host name or address, got a list/],
  ['key-number.yml', 'key-number.yml:4:35', /all\.vars\.ansible_ssh_private_key_file: expected the path of a private key file, got 42/],
  ['bad-range.yml', 'bad-range.yml:4:5', /host range \[1:\]: the end is missing/],
  ['conflict-host.yml', 'conflict-host.yml:9:31', /keepalived\.hosts\.bal1\.ansible_port: host "bal1" is listed again with ansible_port 2212, but \S*conflict-host\.yml:6:31 gives it 2211/],
  ['conflict-groups.yml', 'conflict-groups.yml:9:23', /legacy\.vars\.ansible_port: host "bal1" is in groups "directors" \(ansible_port 2211 at \S*conflict-groups\.yml:5:29\) and "legacy" \(ansible_port 2299\)/],
  ['group-host-name.yml', 'group-host-name.yml:9:9', /all\.children\.other\.hosts\.web: "web" is both a host and a group/],
  ['cycle.yml', 'cycle.yml:8:13', /all\.children\.a\.children\.b\.children\.a: group "a" under "b" makes a loop/],
  ['all-child.yml', 'all-child.yml:4:5', /web\.children\.all: group "all" cannot be a child of "web"/],
  ['gv-port/inventory.yml', 'gv-port/group_vars/web.yml:3:15', /^ansible_port: expected an integer 1\.\.65535, got "2x2"\n\s+\S*gv-port\/group_vars\/web\.yml:4:15: ansible_user: expected a user name, got ""$/],
  ['hv-list/inventory.yml', 'hv-list/host_vars/web1.yaml:2:1', /expected a mapping of variables, got a list/],
  ['gv-syntax/inventory.yml', 'gv-syntax/group_vars/all/02.yml:3:1', /YAML: Flow sequence in block collection must be sufficiently indented/],
];

for (const [file, where, message] of malformed) {
  test(`refused: ${file}`, async (t) => {
    const e = await t.throwsAsync(loadInventory(fixture(`malformed/${file}`)), { instanceOf: ConfigError });
    const [, line, col] = where.match(/:(\d+):(\d+)$/)!;
    t.true(e!.file!.endsWith(`malformed/${where.replace(/:\d+:\d+$/, '')}`), e!.file);
    t.deepEqual([e!.line, e!.col], [Number(line), Number(col)]);
    t.true(e!.message.includes(`${where}: `), e!.message);
    t.regex(e!.message.slice(e!.message.indexOf(`${where}: `) + where.length + 2), message);
  });
}

test('refused: an inventory file that does not exist', async (t) => {
  const e = await t.throwsAsync(loadInventory(fixture('nosuch.yml')), { instanceOf: ConfigError });
  t.regex(e!.message, /^inventory \S*nosuch\.yml: no such file or directory$/);
});

test('a directory given as the inventory is read file by file (here the first malformed one is refused)', async (t) => {
  const e = await t.throwsAsync(loadInventory(fixture('malformed')), { instanceOf: ConfigError });
  t.regex(e!.message, /all-child\.yml:4:5: web\.children\.all: group "all" cannot be a child of "web"/);
});

test('there are at least 15 malformed fixtures, each refused', (t) => {
  t.true(malformed.length >= 15);
});

// ---------------------------------------------------------------- -e / --extra-vars

const extraDir = fixture('extravars');

test('-e key=value: several per argument, values stay strings, quotes group words, later wins', async (t) => {
  t.deepEqual(await parseExtraVars(['a=1 b=two', 'c=true']), { a: '1', b: 'two', c: 'true' });
  t.deepEqual(await parseExtraVars([`msg="hello world" path='/x y' eq=a=b empty=`]), { msg: 'hello world', path: '/x y', eq: 'a=b', empty: '' });
  t.deepEqual(await parseExtraVars(['a=1', 'a=2']), { a: '2' });
  t.deepEqual(await parseExtraVars(['', '  ']), {});
});

test('-e JSON or YAML mapping keeps types', async (t) => {
  t.deepEqual(await parseExtraVars(['{"n": 1, "l": [1, 2], "o": {"k": true}}']), { n: 1, l: [1, 2], o: { k: true } });
  t.deepEqual(await parseExtraVars(['{port: 8080, flag: yes, name: web}']), { port: 8080, flag: true, name: 'web' });
  t.deepEqual(await parseExtraVars(['{a: {x: 1, y: 2}}', '{a: {z: 3}}']), { a: { z: 3 } }); // dicts replace
});

test('-e @file: YAML or JSON, relative to the working directory', async (t) => {
  t.deepEqual(await parseExtraVars(['@vars.yml'], extraDir), {
    vip: '172.28.128.200',
    real_servers: ['real1', 'real2'],
    weights: { real1: 1, real2: 2 },
    enabled: true,
  });
  t.deepEqual(await parseExtraVars(['@vars.json', 'json_var=2'], extraDir), { json_var: '2', list: [1, 2] });
  t.deepEqual(await parseExtraVars([`@${path.join(extraDir, 'vars.json')}`], '/'), { json_var: 1, list: [1, 2] });
});

const badExtra: Array<[arg: string, message: RegExp]> = [
  ['foo', /^-e 'foo': "foo" is not key=value; -e takes key=value pairs/],
  ['vars.yml', /\(to read a file, write -e @vars\.yml\)/],
  ['a=1 oops', /^-e 'a=1 oops': "oops" is not key=value/],
  ['1abc=2', /"1abc" is not a valid variable name/],
  ['a.b=2', /"a\.b" is not a valid variable name/],
  ['msg="unclosed', /unterminated " quote/],
  ['@', /^-e '@': expected a file name after @$/],
  ['@missing.yml', /^extra vars file \S*missing\.yml: no such file$/],
  ['@list.yml', /extravars\/list\.yml:2:1: the extra vars file must be a mapping of variables, got a list$/],
  ['@empty.yml', /extravars\/empty\.yml:1:1: the extra vars file must be a mapping of variables, got nothing$/],
  ['@broken.yml', /extravars\/broken\.yml:3:1: YAML: /],
  ['[1, 2]', /^-e '\[1, 2\]':1:1: the extra vars must be a mapping of variables, got a list$/],
  ['{a: [1}', /^-e '\{a: \[1\}':1:\d+: YAML: /],
];

for (const [arg, message] of badExtra) {
  test(`-e refused: ${arg}`, async (t) => {
    const e = await t.throwsAsync(parseExtraVars([arg], extraDir), { instanceOf: ConfigError });
    t.regex(e!.message, message);
  });
}
