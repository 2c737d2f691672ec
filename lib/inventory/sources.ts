// Inventory sources as Ansible's InventoryManager takes them (inventory/manager.py parse_source):
// a comma list (`h1,h2:2201,`, the host_list plugin), a directory (every file in it, sorted,
// recursively, skipping INVENTORY_IGNORE_EXTS and hidden/group_vars/host_vars entries), or a file,
// read by the first plugin that accepts it: yaml (.yml/.yaml/.json or no extension), then ini.
import { access, constants, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../types.ts';
import type { InventoryData } from './data.ts';
import { parseHostKey } from './hostkeys.ts';
import { readIniInventory } from './ini.ts';
import { isMapping } from './layers.ts';
import { readText, shownPath } from './text.ts';
import { readYamlInventory } from './yaml-source.ts';
import { parseYaml, type YamlSource } from './yaml.ts';

/** ansible-core config/base.yml INVENTORY_IGNORE_EXTS: REJECT_EXTS + .orig .ini .cfg .retry */
export const IGNORE_EXTS = ['.pyc', '.pyo', '.swp', '.bak', '~', '.rpm', '.md', '.txt', '.rst', '.orig', '.ini', '.cfg', '.retry'];
/** inventory/manager.py IGNORED_ALWAYS */
const IGNORE_ALWAYS = [/^\./, /^host_vars$/, /^group_vars$/, /^vars_plugins$/];
/** the yaml plugin's yaml_extensions */
const YAML_EXTS = ['.yaml', '.yml', '.json'];

export const ignoredInDirectory = (name: string) => IGNORE_ALWAYS.some((re) => re.test(name)) || IGNORE_EXTS.some((ext) => name.endsWith(ext));

export interface SourceResult {
  /** where group_vars/ and host_vars/ are looked for (Ansible: the directory, or the file's directory) */
  varsDirs: string[];
  /** the files read, in order */
  files: string[];
}

export async function readSources(sources: string[], data: InventoryData): Promise<SourceResult> {
  const result: SourceResult = { varsDirs: [], files: [] };
  for (const source of sources) {
    const abs = path.resolve(source);
    const st = await stat(abs).catch(() => undefined);
    data.currentSource = abs;
    if (!st && source.includes(',')) { data.currentSource = ''; readHostList(source, data); continue; }
    if (!st) throw new ConfigError(`inventory ${shownPath(abs)}: no such file or directory`);
    if (st.isDirectory()) {
      const files = await filesOf(abs);
      if (files.length === 0) throw new ConfigError(`inventory ${shownPath(abs)}: the directory holds no inventory file`);
      for (const f of files) await readFile(f, data);
      result.files.push(...files);
      result.varsDirs.push(abs);
    } else {
      await readFile(abs, data);
      result.files.push(abs);
      result.varsDirs.push(path.dirname(abs));
    }
  }
  return result;
}

/** The host_list plugin: `h1,h2:2201,` → hosts in ungrouped (no ranges, as Ansible). */
function readHostList(list: string, data: InventoryData) {
  for (const item of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    const fail = (msg: string) => new ConfigError(`-i ${JSON.stringify(list)}: ${msg}`);
    let names: string[];
    let port: number | undefined;
    try {
      ({ names, port } = parseHostKey(item, fail, false));
    } catch {
      names = [item]; // Ansible: "Unable to parse address from hostname, leaving unchanged"
    }
    for (const name of names) {
      const { host, created } = data.addHost('ungrouped', name, (m) => fail(`${name}: ${m}`));
      if (created && port !== undefined) host.inline.push({ vars: { ansible_port: port }, at: () => ({ file: `-i ${list}`, path: item }) });
    }
  }
}

async function filesOf(dir: string): Promise<string[]> {
  const out: string[] = [];
  const names = (await readdir(dir)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const name of names) {
    if (ignoredInDirectory(name)) continue;
    const full = path.join(dir, name);
    const st = await stat(full).catch(() => undefined);
    if (st?.isDirectory()) out.push(...(await filesOf(full)));
    else if (st?.isFile()) out.push(full);
  }
  return out;
}

async function isScript(file: string, text: string): Promise<boolean> {
  if (text.startsWith('#!')) return true;
  return access(file, constants.X_OK).then(() => true, () => false);
}

/**
 * One file: YAML when its extension allows and it reads as a mapping, else INI (Ansible's plugin
 * order: the ini plugin takes any file the yaml plugin could not read, `.yml` ones included).
 */
async function readFile(file: string, data: InventoryData) {
  data.currentSource = file;
  const { text, shown } = await readText(file, 'inventory');
  if (await isScript(file, text)) {
    throw new ConfigError(`inventory ${shown}: an executable file is an inventory script for Ansible; lvsplay does not run inventory scripts: save its output as YAML (ansible-inventory -i ${shown} --list -y > inventory.yml)`);
  }
  const ext = path.extname(file);
  let yamlError: ConfigError | undefined;
  if (ext === '' || YAML_EXTS.includes(ext)) {
    let src: YamlSource | undefined;
    try {
      src = parseYaml(text, file, shown);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      yamlError = e;
    }
    if (src && isMapping(src.data)) {
      if ('_meta' in src.data) throw new ConfigError(`looks like the JSON an inventory script prints (_meta): Ansible does not read it from a file either; convert it: ansible-inventory -i SCRIPT --list -y`, shown, 1, 1);
      readYamlInventory(src, data);
      return;
    }
    if (src && YAML_EXTS.includes(ext)) { readYamlInventory(src, data); return; } // empty or not a mapping: the YAML message says so
    if (src && src.data == null && text.trim() === '') throw new ConfigError('the inventory is empty: expected groups such as `all:` with hosts', shown, 1, 1);
  }
  try {
    readIniInventory(text, shown, data);
  } catch (e) {
    if (!(e instanceof ConfigError) || !yamlError) throw e;
    if (YAML_EXTS.includes(ext)) throw yamlError; // a .yml file meant as YAML: its YAML error is the one to fix
    const first = (m: string) => m.split('\n')[0];
    throw new ConfigError(`neither a YAML nor an INI inventory:\n  as YAML: ${first(yamlError.message)}\n  as INI:  ${first(e.message)}`, shown, e.line, e.col);
  }
}
