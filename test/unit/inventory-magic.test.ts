// `{{ inventory_dir }}` in the connection vars: what lets inventory/lab.yml name its key and known_hosts
// so that ansible-playbook (which resolves from the working directory) and lvsplay agree.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { loadInventory } from '../../lib/inventory.ts';
import { renderConnectionVars, renderInventoryMagic } from '../../lib/inventory-magic.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('inventory_dir and inventory_file are rendered, with or without spaces inside the braces', (t) => {
  const magic = { inventory_dir: '/srv/inv', inventory_file: '/srv/inv/hosts.yml' };
  t.is(renderInventoryMagic('{{ inventory_dir }}/../k', magic), '/srv/inv/../k');
  t.is(renderInventoryMagic('{{inventory_file}}', magic), '/srv/inv/hosts.yml');
  t.is(renderInventoryMagic('plain/path', magic), 'plain/path');
});

test('any other template in a connection var is refused, naming host, key and value', (t) => {
  const vars = { ansible_ssh_private_key_file: '{{ lookup("env", "HOME") }}/k', other: '{{ kept }}' };
  const err = t.throws(() => renderConnectionVars(vars, 'bal1', '/srv/inv/hosts.yml', '/srv/inv'));
  t.regex(err!.message, /^\/srv\/inv\/hosts\.yml: host bal1: ansible_ssh_private_key_file: lvsplay renders only \{\{ inventory_dir \}\}/);
  const ok: Record<string, unknown> = { lvsplay_known_hosts: '{{ inventory_dir }}/kh', other: '{{ kept }}' };
  renderConnectionVars(ok, 'bal1', '/srv/inv/hosts.yml', '/srv/inv');
  t.deepEqual(ok, { lvsplay_known_hosts: '/srv/inv/kh', other: '{{ kept }}' }, 'vars lvsplay does not read pass through');
});

test('the lab inventories resolve the key, known_hosts and ssh args to the lab state, from any working directory', async (t) => {
  for (const file of ['inventory/lab.yml', 'inventory/active-active.yml']) {
    const inv = await loadInventory(path.join(root, file));
    for (const h of inv.hosts.values()) {
      t.is(h.privateKeyFile, path.join(root, '.lvsplay/lab/id_ed25519'), `${file} ${h.name}`);
      t.is(path.resolve(h.vars.lvsplay_known_hosts as string), path.join(root, '.lvsplay/lab/known_hosts'));
      t.regex(h.vars.ansible_ssh_common_args as string, new RegExp(`UserKnownHostsFile="${path.join(root, 'inventory')}/\\.\\./\\.lvsplay/lab/known_hosts" -o StrictHostKeyChecking=yes`));
    }
  }
});
