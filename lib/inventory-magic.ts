// Ansible's inventory magic vars in an inventory's own values. Ansible resolves a relative
// ansible_ssh_private_key_file from the working directory, lvsplay from the inventory's folder; an
// inventory both tools must read the same way writes `{{ inventory_dir }}/…`. lvsplay has no Jinja:
// it renders exactly these two names, in string values, and refuses any other `{{ … }}` in the
// connection vars it reads (better than connecting with a literal "{{" in a path).
import { ConfigError } from './types.ts';

const MAGIC = /\{\{\s*(inventory_dir|inventory_file)\s*\}\}/g;
const TEMPLATE = /\{\{.*?\}\}/;

/** The connection vars lvsplay reads whose values may carry `{{ inventory_dir }}`. */
export const RENDERED_KEYS = ['ansible_ssh_private_key_file', 'ansible_private_key_file', 'lvsplay_known_hosts', 'ansible_ssh_common_args'] as const;

export function renderInventoryMagic(value: string, magic: { inventory_dir: string; inventory_file: string }): string {
  return value.replace(MAGIC, (_, name: 'inventory_dir' | 'inventory_file') => magic[name]);
}

/** Renders RENDERED_KEYS in `vars` in place; throws on any other template in them. */
export function renderConnectionVars(vars: Record<string, unknown>, host: string, inventoryFile: string, dir: string): void {
  for (const key of RENDERED_KEYS) {
    const v = vars[key];
    if (typeof v !== 'string') continue;
    const out = renderInventoryMagic(v, { inventory_dir: dir, inventory_file: inventoryFile });
    const left = TEMPLATE.exec(out);
    if (left) {
      throw new ConfigError(
        `host ${host}: ${key}: lvsplay renders only {{ inventory_dir }} and {{ inventory_file }} here, got ${JSON.stringify(v)} (${left[0]})`,
        inventoryFile,
      );
    }
    vars[key] = out;
  }
}
