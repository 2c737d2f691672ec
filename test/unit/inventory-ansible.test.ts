// lvsplay's inventory against the real ansible-core: for every inventory form, the groups (own
// hosts, children) and every host's merged vars equal `ansible-inventory -i … --list`, and host
// patterns with subscripts select what `ansible PATTERN --list-hosts` selects. Skipped, saying so,
// only when ansible-core is not installed (CI installs Debian's ansible-core).
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { loadInventory } from '../../lib/inventory.ts';
import { hostVars, inventoryGraph, inventoryList } from '../../lib/inventory/listing.ts';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixtures = path.join(root, 'test/fixtures/inventory');
const cmp = (name: string) => path.join(fixtures, 'ansible-compare', name);
// an empty ansible.cfg: no ansible.cfg of the working tree or the machine changes what Ansible reads
const cfgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-ansible-cfg-'));
fs.writeFileSync(path.join(cfgDir, 'ansible.cfg'), '[defaults]\n');
test.after.always(() => fs.rmSync(cfgDir, { recursive: true, force: true }));
const env = { ...process.env, ANSIBLE_NOCOLOR: '1', ANSIBLE_LOCALHOST_WARNING: 'False', ANSIBLE_CONFIG: path.join(cfgDir, 'ansible.cfg') };

const ansibleVersion = (() => {
  try {
    return execFileSync('ansible-inventory', ['--version'], { env, encoding: 'utf8' }).split('\n')[0];
  } catch {
    return undefined;
  }
})();
const ansibleTest = ansibleVersion ? test.serial : test.serial.skip; // serial: one ansible process at a time
if (!ansibleVersion) console.log('ansible-inventory not found: the comparisons with ansible-core are SKIPPED (apt-get install ansible-core)');

async function ansibleList(sources: string[]): Promise<unknown> {
  const { stdout } = await run('ansible-inventory', [...sources.flatMap((s) => ['-i', s]), '--list'], { env, cwd: root, maxBuffer: 64 << 20 });
  return JSON.parse(stdout);
}

/** Every inventory form (the case name is the table row of the closing note). */
const cases: Array<[name: string, sources: string[]]> = [
  ['INI: ungrouped, host:port, literals on host lines and in :vars, ranges, :children before its groups', [cmp('ini-forms')]],
  ['INI (.ini): quoting, escapes, alpha and stepped ranges, [all:vars], nested :children', [cmp('ini-edge.ini')]],
  ['YAML 1.1 scalars (yes/no/on/off, y/n, octal, 1e3, sexagesimal, 0x, 0b)', [cmp('yaml11-types.yml')]],
  ['YAML host order under all / ungrouped / groups', [cmp('host-order.yml')]],
  ['JSON file (the yaml plugin)', [cmp('json-inventory.json')]],
  ['-i DIR (sorted, recursive, ignored extensions, group_vars/ host_vars/ in DIR)', [cmp('dir')]],
  ['-i DIR/ (trailing slash)', [cmp('dir') + '/']],
  ['-i a.yml -i b.ini (merged in order)', [cmp('multi/a.yml'), cmp('multi/b.ini')]],
  ['-i b.ini -i a.yml (the other order)', [cmp('multi/b.ini'), cmp('multi/a.yml')]],
  ["-i 'h1,h2:2201,[::1]:2222,' (host list)", ['h1,h2:2201,[::1]:2222,']],
  ['ansible_ssh_host/_port/_user aliases', [cmp('aliases.yml')]],
  ['Ansible docs: yaml plugin EXAMPLES', [path.join(fixtures, 'ansible-docs/plugin-example.yml')]],
  ['Ansible docs: ranges, host:port, host and group vars', [path.join(fixtures, 'ansible-docs/basic-all.yml')]],
  ['Ansible docs: groups of groups (usa)', [path.join(fixtures, 'ansible-docs/usa.yml')]],
  ['Ansible docs: ansible_group_priority', [path.join(fixtures, 'ansible-docs/group-priority.yml')]],
  ['precedence: inline, group_vars/, host_vars/ at every level', [path.join(fixtures, 'precedence/inventory.yml')]],
  ['connection settings edge cases', [path.join(fixtures, 'valid-edge-cases.yml')]],
  ['the lab: inventory/lab.yml', [path.join(root, 'inventory/lab.yml')]],
  ['the lab: inventory/active-active.yml', [path.join(root, 'inventory/active-active.yml')]],
];

for (const [name, sources] of cases) {
  ansibleTest(`ansible-inventory --list agrees: ${name}`, async (t) => {
    const [theirs, ours] = await Promise.all([ansibleList(sources), loadInventory(sources, { warn: () => {} }).then(inventoryList)]);
    t.deepEqual(ours, theirs);
  });
}

ansibleTest('ansible-inventory --host and --graph agree (INI, with :vars inherited through :children)', async (t) => {
  const inv = await loadInventory([cmp('ini-edge.ini')]);
  const { stdout: host } = await run('ansible-inventory', ['-i', cmp('ini-edge.ini'), '--host', 'db1'], { env });
  t.deepEqual(hostVars(inv, 'db1'), JSON.parse(host));
  const { stdout: graph } = await run('ansible-inventory', ['-i', cmp('ini-edge.ini'), '--graph'], { env });
  t.is(inventoryGraph(inv).join('\n'), graph.trimEnd());
});

const patterns: Array<[source: string, pattern: string]> = [
  ['host-order.yml', 'all[1]'],
  ['host-order.yml', 'all[0:2]'],
  ['host-order.yml', 'ungrouped[-1]'],
  ['host-order.yml', 'all'],
  ['ini-forms', 'all[3]'],
  ['ini-forms', 'web-servers[2:]'],
  ['ini-forms', 'meta:!late'],
  ['ini-forms', 'late:web-servers[0:1]'],
  ['ini-forms', 'w*:&meta'],
  ['dir', 'web[1]'],
];

for (const [source, pattern] of patterns) {
  ansibleTest(`ansible ${pattern} --list-hosts agrees (${source})`, async (t) => {
    const { stdout } = await run('ansible', ['-i', cmp(source), pattern, '--list-hosts'], { env });
    const theirs = stdout.split('\n').slice(1).map((l) => l.trim()).filter(Boolean);
    const inv = await loadInventory(cmp(source));
    t.deepEqual(inv.select(pattern).map((h) => h.name), theirs);
  });
}

ansibleTest('a pattern matching nothing: both warn "Could not match supplied host pattern, ignoring: X"', async (t) => {
  const { stderr } = await run('ansible', ['-i', cmp('ini-forms'), 'web-servers:nosuch', '--list-hosts'], { env });
  const warnings: string[] = [];
  const inv = await loadInventory(cmp('ini-forms'), { warn: (m) => warnings.push(m) });
  inv.select('web-servers:nosuch');
  t.deepEqual(warnings, ['Could not match supplied host pattern, ignoring: nosuch']);
  t.true(stderr.replace(/\s+/g, ' ').includes(`[WARNING]: ${warnings[0]}`), stderr);
});
