// The Ansible settings lvsplay honours, from where Ansible reads them: ANSIBLE_* environment variables
// over the one ansible.cfg Ansible would pick (ANSIBLE_CONFIG, ./ansible.cfg unless the directory is
// world-writable, ~/.ansible.cfg, /etc/ansible/ansible.cfg — the first that exists wins, no merging).
// Relative paths in ansible.cfg are relative to the file's folder, in the environment to the working
// directory, as in Ansible's config manager.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ini from 'ini';
import { ConfigError } from './types.ts';

export interface AnsibleSettings {
  /** the ansible.cfg read, if any */
  configFile?: string;
  /** [defaults] inventory / ANSIBLE_INVENTORY: comma-separated sources, paths resolved */
  inventory?: string[];
  forks?: number;
  remoteUser?: string;
  privateKeyFile?: string;
  hostKeyChecking?: boolean;
  /** SSH connect timeout, seconds */
  timeout?: number;
  /** where each setting came from, for -vvv and error messages */
  origin: Partial<Record<SettingName, string>>;
}

type SettingName = 'inventory' | 'forks' | 'remoteUser' | 'privateKeyFile' | 'hostKeyChecking' | 'timeout';

type Kind = 'pathlist' | 'integer' | 'string' | 'path' | 'boolean';

/** Ansible's config/base.yml entries for the settings lvsplay reads: [defaults] key, env var, type. */
const SETTINGS: Array<{ name: SettingName; key: string; env: string; kind: Kind }> = [
  { name: 'inventory', key: 'inventory', env: 'ANSIBLE_INVENTORY', kind: 'pathlist' },
  { name: 'forks', key: 'forks', env: 'ANSIBLE_FORKS', kind: 'integer' },
  { name: 'remoteUser', key: 'remote_user', env: 'ANSIBLE_REMOTE_USER', kind: 'string' },
  { name: 'privateKeyFile', key: 'private_key_file', env: 'ANSIBLE_PRIVATE_KEY_FILE', kind: 'path' },
  { name: 'hostKeyChecking', key: 'host_key_checking', env: 'ANSIBLE_HOST_KEY_CHECKING', kind: 'boolean' },
  { name: 'timeout', key: 'timeout', env: 'ANSIBLE_TIMEOUT', kind: 'integer' },
];

const expandHome = (p: string) => (p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p);

/** Ansible's find_ini_config_file(). */
export function findAnsibleCfg(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string | undefined {
  const candidates: string[] = [];
  if (env.ANSIBLE_CONFIG !== undefined) {
    let p = path.resolve(cwd, expandHome(env.ANSIBLE_CONFIG));
    try {
      if (fs.statSync(p).isDirectory()) p = path.join(p, 'ansible.cfg');
    } catch {
      /* missing: skipped like Ansible */
    }
    candidates.push(p);
  }
  try {
    if (!(fs.statSync(cwd).mode & 0o002)) candidates.push(path.join(cwd, 'ansible.cfg'));
  } catch {
    /* unreadable cwd: skipped */
  }
  candidates.push(path.join(os.homedir(), '.ansible.cfg'), '/etc/ansible/ansible.cfg');
  return candidates.find((p) => {
    try {
      fs.accessSync(p, fs.constants.R_OK);
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  });
}

/** Ansible's boolean(): the strings it accepts. */
const TRUE = ['y', 'yes', 'on', '1', 'true', 't'];
const FALSE = ['n', 'no', 'off', '0', 'false', 'f'];

function convert(kind: Kind, raw: string, base: string, where: string): unknown {
  const v = raw.trim();
  switch (kind) {
    case 'integer':
      if (!/^-?\d+$/.test(v)) throw new ConfigError(`${where}: expected an integer, got ${JSON.stringify(raw)}`);
      return Number(v);
    case 'boolean': {
      const s = v.toLowerCase();
      if (TRUE.includes(s)) return true;
      if (FALSE.includes(s)) return false;
      throw new ConfigError(`${where}: expected a boolean (true/false, yes/no), got ${JSON.stringify(raw)}`);
    }
    case 'path':
      return path.resolve(base, expandHome(v));
    case 'pathlist':
      return v.split(',').map((p) => p.trim()).filter(Boolean).map((p) => path.resolve(base, expandHome(p)));
    case 'string':
      return v;
  }
}

/** 1-based line of `key` in [defaults], for error messages. */
function lineOf(text: string, key: string): number | undefined {
  const lines = text.split('\n');
  let inDefaults = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i].trim();
    if (l.startsWith('[')) inDefaults = l.toLowerCase() === '[defaults]';
    else if (inDefaults && l.split(/[=:]/)[0].trim().toLowerCase() === key) return i + 1;
  }
  return undefined;
}

/** [defaults] of an ansible.cfg (keys lower-cased as configparser does). Throws ConfigError. */
export function readAnsibleCfg(file: string): { values: Record<string, string>; text: string } {
  const text = fs.readFileSync(file, 'utf8');
  let parsed: Record<string, unknown>;
  try {
    parsed = ini.parse(text);
  } catch (err) {
    throw new ConfigError(`cannot parse as INI: ${(err as Error).message}`, file);
  }
  const section = Object.entries(parsed).find(([k]) => k === 'defaults')?.[1];
  const values: Record<string, string> = {};
  if (section && typeof section === 'object') {
    for (const [k, v] of Object.entries(section as Record<string, unknown>)) {
      const key = k.trim().toLowerCase();
      // `ini` reads only `key = value`; Python's configparser (Ansible) also takes `key: value`
      const colon = /^([a-z_][a-z0-9_]*)\s*:\s*(.*)$/.exec(key);
      if (v === true && colon) values[colon[1]] = (k.trim().match(/:\s*(.*)$/)?.[1] ?? '').trim();
      else if (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') values[key] = String(v);
    }
  }
  return { values, text };
}

/** The settings lvsplay reads, environment over ansible.cfg. Throws ConfigError naming file:line or variable. */
export function ansibleSettings(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): AnsibleSettings {
  const configFile = findAnsibleCfg(env, cwd);
  const cfg = configFile ? readAnsibleCfg(configFile) : undefined;
  const out: AnsibleSettings = { origin: {} };
  if (configFile) out.configFile = configFile;
  for (const s of SETTINGS) {
    const fromEnv = env[s.env];
    let value: unknown;
    if (fromEnv !== undefined && fromEnv !== '') {
      value = convert(s.kind, fromEnv, cwd, `environment ${s.env}`);
      out.origin[s.name] = `env ${s.env}`;
    } else if (cfg && cfg.values[s.key] !== undefined && configFile) {
      const line = lineOf(cfg.text, s.key);
      const where = `${configFile}${line ? `:${line}` : ''}: [defaults] ${s.key}`;
      value = convert(s.kind, cfg.values[s.key], path.dirname(configFile), where);
      out.origin[s.name] = where;
    } else continue;
    if (s.name === 'forks' && (value as number) < 1) throw new ConfigError(`${out.origin.forks}: forks must be a positive integer, got ${value}`);
    if (s.name === 'timeout' && (value as number) < 1) throw new ConfigError(`${out.origin.timeout}: timeout must be a positive number of seconds, got ${value}`);
    (out as unknown as Record<string, unknown>)[s.name] = value;
  }
  return out;
}
