// group_vars/ and host_vars/ beside each inventory source (Ansible's host_group_vars vars plugin).
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { isMapping, showValue, type VarLayer } from './layers.ts';
import { schemaError, varsIssues } from './schema.ts';
import { yamlLayer } from './yaml-source.ts';
import { errorAt, readYamlFile } from './yaml.ts';

const VARS_EXTS = ['', '.yml', '.yaml', '.json'];

/** <base>/<name>{,.yml,.yaml,.json}, or every such file under <base>/<name>/ in lexical order. */
export async function varsFiles(base: string, name: string): Promise<VarLayer[]> {
  if (name.includes('/') || name.startsWith('.')) return [];
  const files: string[] = [];
  for (const ext of VARS_EXTS) {
    const candidate = path.join(base, name + ext);
    const st = await stat(candidate).catch(() => undefined);
    if (st?.isDirectory()) files.push(...(await filesUnder(candidate)));
    else if (st?.isFile()) files.push(candidate);
  }
  const layers: VarLayer[] = [];
  for (const file of files) {
    const src = await readYamlFile(file, 'vars file');
    if (src.data == null) continue; // an empty vars file is fine
    if (!isMapping(src.data)) throw errorAt(src, [], `expected a mapping of variables, got ${showValue(src.data)}`);
    const issues = varsIssues(src.data);
    if (issues.length) throw schemaError(src, issues, () => 'a valid value');
    layers.push(yamlLayer(src, [], src.data));
  }
  return layers;
}

/** Names present in <base> (without extension), to skip stat calls for the many groups and hosts that have no file. */
export async function namesIn(base: string): Promise<Set<string> | undefined> {
  const entries = await readdir(base).catch(() => undefined);
  if (!entries) return undefined;
  return new Set(entries.map((e) => (VARS_EXTS.includes(path.extname(e)) ? e.slice(0, e.length - path.extname(e).length) : e)));
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.name.startsWith('.') || entry.name.endsWith('~')) continue;
    const full = path.join(dir, entry.name);
    const isDir = entry.isDirectory() || (entry.isSymbolicLink() && (await stat(full).catch(() => undefined))?.isDirectory());
    if (isDir) out.push(...(await filesUnder(full)));
    else if (VARS_EXTS.includes(path.extname(entry.name))) out.push(full);
  }
  return out;
}
