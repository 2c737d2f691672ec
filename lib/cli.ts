// The command line every playbook shares: flags, inventory, run, recap, exit code. The only place
// that prints errors. Settings come, highest first, from the flags, lvsplay's env (LVSPLAY_*), Ansible's
// env (ANSIBLE_*), the ansible.cfg Ansible would read, then defaults (lib/ansible-cfg.ts).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ansibleSettings, type AnsibleSettings } from './ansible-cfg.ts';
import { emptyFacts, playHosts, runPlays, shouldRunByTags, taskName, validatePlays, varsFor, type RunSummary } from './runner.ts';
import type { ConnectOptions, HostKeyChecking } from './ssh.ts';
import { ConfigError, type Facts, type Host, type Inventory, type Play, type RunEvent, type Task } from './types.ts';
// Imported where used, not here: --help, --version and the listings start without them (issue 13):
// ./inventory.ts and ./extravars.ts (yaml, zod), ./ssh.ts (the transport), ./ui.ts (listr2), ./report.ts.

/** Bad command line: printed with a pointer to --help, exit 1. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface CommonArgs {
  inventory?: string;
  /** every -i in order (merged as Ansible does); undefined: `inventory` alone */
  inventories?: string[];
  limit?: string;
  tags: string[];
  skipTags: string[];
  check: boolean;
  diff: boolean;
  forks: number;
  /** raw -e values (key=value, JSON/YAML, @file) in order */
  extraVars: string[];
  /** number of -v: 1 results, 2 + commands, 3 + command output and SSH details */
  verbose: number;
  json?: string;
  hostKeyChecking: HostKeyChecking;
  listHosts: boolean;
  help: boolean;
  /** -u / ANSIBLE_REMOTE_USER / remote_user: the user for hosts whose inventory sets none */
  user?: string;
  /** --private-key / ANSIBLE_PRIVATE_KEY_FILE / private_key_file: absolute; for hosts whose inventory sets none */
  privateKey?: string;
  /** -b: become for hosts whose inventory does not set ansible_become */
  become: boolean;
  /** -T / ANSIBLE_TIMEOUT / timeout: SSH connect timeout, seconds */
  timeout?: number;
  listTasks: boolean;
  listTags: boolean;
  syntaxCheck: boolean;
  startAtTask?: string;
  version: boolean;
  /** the Ansible settings read (env and ansible.cfg), for --version and -vvv */
  ansible: AnsibleSettings;
}

type Options = NonNullable<ParseArgsConfig['options']>;

const COMMON_OPTIONS = {
  inventory: { type: 'string', short: 'i', multiple: true },
  limit: { type: 'string', short: 'l' },
  tags: { type: 'string', short: 't', multiple: true },
  'skip-tags': { type: 'string', multiple: true },
  check: { type: 'boolean', short: 'C' },
  diff: { type: 'boolean', short: 'D' },
  forks: { type: 'string', short: 'f' },
  'extra-vars': { type: 'string', short: 'e', multiple: true },
  verbose: { type: 'boolean', short: 'v', multiple: true },
  json: { type: 'string' },
  'host-key-checking': { type: 'string' },
  'list-hosts': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  user: { type: 'string', short: 'u' },
  'private-key': { type: 'string' },
  'key-file': { type: 'string' },
  become: { type: 'boolean', short: 'b' },
  timeout: { type: 'string', short: 'T' },
  connection: { type: 'string', short: 'c' },
  'list-tasks': { type: 'boolean' },
  'list-tags': { type: 'boolean' },
  'syntax-check': { type: 'boolean' },
  'start-at-task': { type: 'string' },
  step: { type: 'boolean' },
  version: { type: 'boolean' },
} satisfies Options;

export const COMMON_HELP = `Options:
  -i, --inventory SRC         inventory: YAML or INI file, directory, or 'h1,h2:2201,'; repeatable (merged
                              in order); default $LVSPLAY_INVENTORY, then $ANSIBLE_INVENTORY,
                              then ansible.cfg's [defaults] inventory
  -l, --limit PATTERN         only hosts matching PATTERN (a:b union, a:&b intersection, !a, globs);
                              @FILE: one pattern per line (a .retry file)
  -t, --tags TAGS             only tasks tagged TAGS (comma-separated, repeatable)
      --skip-tags TAGS        skip tasks tagged TAGS
  -C, --check                 change nothing; report what would change
  -D, --diff                  show unified diffs of changed files and settings
  -f, --forks N               hosts worked on at once (default $ANSIBLE_FORKS, ansible.cfg forks, else 10)
  -e, --extra-vars VARS       key=value, JSON/YAML, or @file.yml; highest precedence; repeatable
  -u, --user USER             SSH user where the inventory sets no ansible_user
      --private-key FILE      SSH key where the inventory sets no ansible_ssh_private_key_file
  -b, --become                sudo for every task where the inventory sets no ansible_become
  -T, --timeout SECONDS       SSH connect timeout (default $ANSIBLE_TIMEOUT, ansible.cfg timeout, else 15)
  -c, --connection ssh        the only connection lvsplay has (smart is taken as ssh)
  -v, --verbose               -v task results; -vv also the commands run; -vvv also their output and SSH details
      --json FILE             write every task result and the recap to FILE
      --host-key-checking M   accept-new (default) | strict | off; ANSIBLE_HOST_KEY_CHECKING=True/False
                              (or ansible.cfg host_key_checking) means strict/off
      --list-hosts            print the hosts each play selects and exit
      --list-tasks            print the tasks each play would run and exit
      --list-tags             print the tags of each play's tasks and exit
      --syntax-check          load inventory, vars and plays, validate them, touch no host, and exit
      --start-at-task NAME    start at the first task named NAME (or "role : NAME"; * and ? globs)
      --version               print lvsplay's version and the ansible.cfg it reads
  -h, --help                  this help

Exit codes: 0 ok, 1 bad command line / inventory / configuration (no host touched),
            2 a task failed, 4 a host was unreachable (wins over 2, as in Ansible),
            130 interrupted, 250 an unexpected error (a bug: the stack trace is printed).`;

/** Flags Ansible users type that lvsplay refuses, with the one-line reason. */
const REFUSED: Record<string, string> = {
  step: '--step is not supported: lvsplay runs hosts in parallel without a prompt per task; run part of a playbook with --start-at-task, -t or -l',
};

const CONNECTIONS: Record<string, string | undefined> = {
  ssh: undefined,
  smart: undefined,
  local: 'lvsplay reaches every host over SSH; to work on this machine, run sshd on it and use ansible_host: 127.0.0.1',
  paramiko: 'lvsplay has its own SSH transport (ssh2); use -c ssh',
};

const splitList = (values: string[] | undefined): string[] =>
  (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);

const positiveInt = (flag: string, text: string): number => {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < 1) throw new UsageError(`${flag} must be a positive integer, got "${text}"`);
  return n;
};

/** `-l @file`: one pattern per line (Ansible's retry files), joined as a union. */
export function limitFromFile(spec: string, cwd = process.cwd()): string {
  const file = path.resolve(cwd, spec.slice(1));
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--limit ${spec}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const patterns = text.split('\n').map((l) => l.trim()).filter(Boolean);
  if (!patterns.length) throw new UsageError(`--limit ${spec}: ${file} lists no host`);
  return patterns.join(',');
}

/** The inventory sources, in order: every -i, else $LVSPLAY_INVENTORY, else Ansible's (env or ansible.cfg, a path list). */
function inventorySources(flags: string[] | undefined, settings: AnsibleSettings, env: NodeJS.ProcessEnv): string[] | undefined {
  if (flags?.length) return flags;
  if (env.LVSPLAY_INVENTORY) return [env.LVSPLAY_INVENTORY];
  const list = settings.inventory;
  if (!list?.length) return undefined;
  if (list.length === 1 && !fs.existsSync(list[0])) return undefined; // Ansible's default /etc/ansible/hosts is not there either: "no inventory"
  return list;
}

/**
 * Parses the flags every entry point shares, plus `extraOptions` (node:util parseArgs syntax).
 * Arguments after `--` are in `positionals`. Throws UsageError (ConfigError for a bad ansible.cfg).
 */
export function parseCommonArgs<E extends Options = {}>(
  argv: string[],
  extraOptions?: E,
  env: NodeJS.ProcessEnv = process.env,
): { args: CommonArgs; values: Record<string, unknown>; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...extraOptions }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values as Record<string, unknown>;
  for (const [flag, why] of Object.entries(REFUSED)) if (v[flag] !== undefined) throw new UsageError(why);
  const connection = v.connection as string | undefined;
  if (connection !== undefined) {
    if (!(connection in CONNECTIONS)) throw new UsageError(`-c ${connection}: unknown connection; lvsplay has only ssh`);
    const why = CONNECTIONS[connection];
    if (why) throw new UsageError(`-c ${connection} is not supported: ${why}`);
  }
  const settings = ansibleSettings(env);
  const forks = v.forks !== undefined ? positiveInt('--forks', v.forks as string) : (settings.forks ?? 10);
  let hkc = v['host-key-checking'] as string | undefined;
  if (hkc !== undefined && !['accept-new', 'strict', 'off'].includes(hkc))
    throw new UsageError(`--host-key-checking must be accept-new, strict or off, got "${hkc}"`);
  hkc ??= settings.hostKeyChecking === undefined ? 'accept-new' : settings.hostKeyChecking ? 'strict' : 'off';
  const privateKey = (v['private-key'] as string | undefined) ?? (v['key-file'] as string | undefined);
  const limit = v.limit as string | undefined;
  const inventories = inventorySources(v.inventory as string[] | undefined, settings, env);
  const args: CommonArgs = {
    inventory: inventories?.[0],
    inventories,
    limit: limit?.startsWith('@') ? limitFromFile(limit) : limit,
    tags: splitList(v.tags as string[] | undefined),
    skipTags: splitList(v['skip-tags'] as string[] | undefined),
    check: !!v.check,
    diff: !!v.diff,
    forks,
    extraVars: (v['extra-vars'] as string[] | undefined) ?? [],
    verbose: (v.verbose as boolean[] | undefined)?.length ?? 0,
    json: v.json as string | undefined,
    hostKeyChecking: hkc as HostKeyChecking,
    listHosts: !!v['list-hosts'],
    help: !!v.help,
    user: (v.user as string | undefined) ?? settings.remoteUser,
    privateKey: privateKey !== undefined ? path.resolve(privateKey) : settings.privateKeyFile,
    become: !!v.become,
    // an entry point defining its own --timeout (status.ts: a read bound) keeps it; -T is then unset
    timeout: v.timeout !== undefined && !(extraOptions && 'timeout' in extraOptions) ? positiveInt('--timeout', v.timeout as string) : settings.timeout,
    listTasks: !!v['list-tasks'],
    listTags: !!v['list-tags'],
    syntaxCheck: !!v['syntax-check'],
    startAtTask: v['start-at-task'] as string | undefined,
    version: !!v.version,
    ansible: settings,
  };
  if (args.user !== undefined && !args.user.trim()) throw new UsageError('--user must not be empty');
  return { args, values: v, positionals: parsed.positionals };
}

/**
 * -u, --private-key and -b as Ansible applies them: defaults under the inventory, so a host's
 * ansible_user / ansible_ssh_private_key_file / ansible_become (or -e) still wins.
 */
export function applyConnectionDefaults(inventory: Inventory, args: Pick<CommonArgs, 'user' | 'privateKey' | 'become'>): void {
  const unset = (h: Host, keys: string[]) => keys.every((k) => h.vars[k] === undefined);
  for (const h of inventory.hosts.values()) {
    if (args.user !== undefined && unset(h, ['ansible_user', 'ansible_ssh_user'])) h.user = args.user;
    if (args.privateKey !== undefined && unset(h, ['ansible_ssh_private_key_file', 'ansible_private_key_file'])) h.privateKeyFile = args.privateKey;
    if (args.become && unset(h, ['ansible_become'])) h.become = true;
  }
}

/** Inventory and extra vars from parsed args (throws ConfigError / UsageError). */
export async function loadFromArgs(args: CommonArgs): Promise<{ inventory: Inventory; extraVars: Record<string, unknown> }> {
  if (!args.inventory) throw new UsageError('no inventory: pass -i FILE, set LVSPLAY_INVENTORY or ANSIBLE_INVENTORY, or name one in ansible.cfg');
  const [{ parseExtraVars }, { loadInventory }] = await Promise.all([import('./extravars.ts'), import('./inventory.ts')]);
  const extraVars = await parseExtraVars(args.extraVars, process.cwd());
  const inventory = await loadInventory(args.inventories ?? args.inventory, { extraVars });
  applyConnectionDefaults(inventory, args);
  return { inventory, extraVars };
}

/** Connection pool options from the args: host-key policy, connect timeout, graded -v logging. */
export function poolOptions(args: CommonArgs, log?: (host: string, line: string) => void): ConnectOptions {
  return {
    hostKeyChecking: args.hostKeyChecking,
    ...(args.timeout !== undefined ? { connectTimeoutMs: args.timeout * 1000 } : {}),
    onLog: log && args.verbose >= 2 ? (host, line) => {
      if (args.verbose >= logLevel(line)) log(host, line);
    } : undefined,
  };
}

/** -vv: the commands run, their exit status and uploads; -vvv: everything else (output, SSH details). */
export function logLevel(line: string): 2 | 3 {
  return /^(\[sudo\] )?\$ |^exit \d+ in |^put /.test(line) ? 2 : 3;
}

/** Prints an error the way every entry point does and returns its exit code (1, or 250 for a bug). */
export function printError(err: unknown): 1 | 250 {
  if (err instanceof UsageError) console.error(`error: ${err.message}\n(run with --help for usage)`);
  else if (err instanceof ConfigError) console.error(`error: ${err.message}`);
  else {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    return 250;
  }
  return 1;
}

export function versionText(args: CommonArgs): string {
  const pkg = createRequire(import.meta.url)('../package.json') as { version: string };
  return [
    `lvsplay ${pkg.version}`,
    `  config file = ${args.ansible.configFile ?? 'None'}`,
    `  node version = ${process.version}`,
  ].join('\n');
}

/** The lab's hosts are reached through forwards on 127.0.0.1 and carry a lan_ip. */
const isLabHost = (h: Host) => h.address === '127.0.0.1' && h.vars.lan_ip !== undefined;

/** One line pointing at the fix when every host of a lab inventory is unreachable, else undefined. */
export function labDownHint(inventory: Inventory, summary: RunSummary): string | undefined {
  const stats = [...summary.stats];
  if (!stats.length || !stats.every(([, s]) => s.unreachable > 0)) return undefined;
  if (!stats.every(([name]) => { const h = inventory.hosts.get(name); return h && isLabHost(h); })) return undefined;
  return `lab is down: start it with  npx tsx lab/lab.ts up -i ${path.relative(process.cwd(), inventory.file) || inventory.file}`;
}

export function listHostsText(description: string, plays: Play[], inventory: Inventory, limit?: string): string {
  const lines = [`playbook: ${description}`];
  plays.forEach((play, i) => {
    const hosts = playHosts(inventory, play, limit);
    lines.push('', `  play #${i + 1} (${play.hosts}): ${play.name}`, `    hosts (${hosts.length}):`, ...hosts.map((h) => `      ${h.name}`));
  });
  return lines.join('\n');
}

export interface ListedTask {
  /** Ansible's get_name(): "role : name", or the name */
  name: string;
  /** the task's own name and its role */
  task: string;
  role?: string;
  tags: string[];
  verify?: boolean;
}

/**
 * The tasks a play would run, in order, as built from each selected host's vars before any
 * connection (facts empty): the union over the hosts, each task once. Tags include the role's name,
 * as the runner applies them. Throws ConfigError when a role cannot build its tasks.
 */
/**
 * Facts for listing without a connection: tasks are built from facts, so the LAN interface (found at
 * run time from the address holding lan_ip) is shown as `<lan>`; nothing else is assumed installed.
 */
export function listingFacts(host: Host): Facts {
  const facts = emptyFacts(host.name);
  const ip = host.vars.lan_ip;
  const prefix = typeof host.vars.lan_cidr === 'string' ? host.vars.lan_cidr.split('/')[1] : undefined;
  if (typeof ip === 'string') facts.interfaces['<lan>'] = { cidrs: [`${ip}/${prefix ?? 32}`], up: true };
  facts.systemd = true;
  return facts;
}

export function playTasks(play: Play, inventory: Inventory, opts: { limit?: string; extraVars?: Record<string, unknown> } = {}): ListedTask[] {
  const seen = new Map<string, ListedTask>();
  const add = (task: Task, role: string | undefined, verify = false) => {
    const own = taskName(task);
    const name = `${role ? `${role} : ` : ''}${own}${verify ? ' (verify)' : ''}`;
    if (!seen.has(name)) seen.set(name, { name, task: own, ...(role ? { role } : {}), tags: [...(task.tags ?? []), ...(role ? [role] : [])], ...(verify ? { verify } : {}) });
  };
  for (const host of playHosts(inventory, play, opts.limit)) {
    const facts = listingFacts(host);
    const build = (what: string, fn: () => Task[]): Task[] => {
      try {
        return fn();
      } catch (err) {
        throw new ConfigError(`play "${play.name}", ${what}, host ${host.name}: cannot build the tasks: ${(err as Error).message}`);
      }
    };
    const roles = play.roles ?? [];
    for (const role of roles) {
      const vars = varsFor(inventory, host, play, [role.defaults as Record<string, unknown>], { extraVars: opts.extraVars, facts }) as never;
      build(`role ${role.name}`, () => role.tasks(vars)).forEach((t) => add(t, role.name));
    }
    if (play.tasks) {
      const vars = varsFor(inventory, host, play, roles.map((r) => r.defaults as Record<string, unknown>), { extraVars: opts.extraVars, facts });
      build('tasks', () => play.tasks!(vars)).forEach((t) => add(t, undefined));
    }
    for (const role of roles) {
      if (!role.verify) continue;
      const vars = varsFor(inventory, host, play, [role.defaults as Record<string, unknown>], { extraVars: opts.extraVars, facts }) as never;
      build(`role ${role.name} verify`, () => role.verify!(vars)).forEach((t) => add(t, role.name, true));
    }
  }
  return [...seen.values()];
}

const tagList = (tags: Iterable<string>) => `[${[...new Set(tags)].sort().join(', ')}]`;

/** ansible-playbook --list-tasks / --list-tags output. */
export function listTasksText(description: string, plays: Play[], inventory: Inventory, opts: { limit?: string; extraVars?: Record<string, unknown>; tags?: string[]; skipTags?: string[]; what: 'tasks' | 'tags' }): string {
  const lines = [`playbook: ${description}`];
  plays.forEach((play, i) => {
    const tasks = playTasks(play, inventory, opts).filter((t) => shouldRunByTags(t.tags, opts.tags?.length ? opts.tags : ['all'], opts.skipTags));
    lines.push('', `  play #${i + 1} (${play.hosts}): ${play.name}\tTAGS: []`);
    if (opts.what === 'tags') lines.push(`      TASK TAGS: ${tagList(tasks.flatMap((t) => t.tags))}`);
    else lines.push('    tasks:', ...tasks.map((t) => `      ${t.name}\tTAGS: ${tagList(t.tags)}`));
  });
  return lines.join('\n');
}

/** Ansible's match for --start-at-task: the name or "role : name", exactly or as an fnmatch glob. */
export function taskNameMatches(pattern: string, name: string, role?: string): boolean {
  const glob = new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
  const full = role ? `${role} : ${name}` : name;
  return [name, full].some((n) => n === pattern || glob.test(n));
}

/**
 * --start-at-task: the plays with every task before the first match dropped, per host as Ansible's
 * play iterator does; plays after the one where a host found it run whole. Throws UsageError when no
 * task of any play matches (Ansible says "No matching task" and runs nothing).
 */
export function startAtTask(plays: Play[], pattern: string, inventory: Inventory, opts: { limit?: string; extraVars?: Record<string, unknown> } = {}): Play[] {
  const first = plays.findIndex((p) => playTasks(p, inventory, opts).some((t) => !t.verify && taskNameMatches(pattern, t.task, t.role)));
  if (first < 0) throw new UsageError(`--start-at-task "${pattern}": no task of these plays has that name (see --list-tasks)`);
  return plays.slice(first).map((play, i) => {
    if (i > 0) return play;
    const started = new Set<string>(); // hosts past the match
    const from = <V extends { inventory_hostname: string }>(role: string | undefined, fn: (vars: V) => Task[]) => (vars: V) =>
      fn(vars).filter((t) => {
        if (started.has(vars.inventory_hostname)) return true;
        if (!taskNameMatches(pattern, taskName(t), role)) return false;
        started.add(vars.inventory_hostname);
        return true;
      });
    return {
      ...play,
      roles: play.roles?.map((r) => ({ ...r, tasks: from(r.name, r.tasks) })),
      ...(play.tasks ? { tasks: from(undefined, play.tasks) } : {}),
    };
  });
}

export interface PlaybookContext {
  inventory: Inventory;
  args: CommonArgs;
  extraVars: Record<string, unknown>;
}

export interface PlaybookDef {
  description: string;
  plays: (ctx: PlaybookContext) => Play[] | Promise<Play[]>;
}

export function usage(description: string, script = path.relative(process.cwd(), process.argv[1] ?? 'playbook.ts')): string {
  return `${description}\n\nUsage: npx tsx ${script} -i INVENTORY [options]\n\n${COMMON_HELP}`;
}

/**
 * The first Ctrl-C aborts the signal (the run winds down, saying `what` it does); the second quits
 * at once. release() puts Ctrl-C back to normal.
 */
export function abortOnSigint(what: string): { signal: AbortSignal; release(): void } {
  const abort = new AbortController();
  const onSigint = () => {
    if (abort.signal.aborted) process.exit(130);
    console.error(`\ninterrupted: ${what}`);
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  return { signal: abort.signal, release: () => process.off('SIGINT', onSigint) };
}

/** The whole life of a playbook run; exits the process with Ansible's exit code. */
export async function main(def: PlaybookDef, argv = process.argv.slice(2)): Promise<never> {
  process.exit(await run(def, argv));
}

async function run(def: PlaybookDef, argv: string[]): Promise<number> {
  const startedAt = new Date();
  let args: CommonArgs;
  let inventory: Inventory;
  let extraVars: Record<string, unknown>;
  let plays: Play[];
  try {
    ({ args } = parseCommonArgs(argv));
    if (args.help) {
      console.log(usage(def.description));
      return 0;
    }
    if (args.version) {
      console.log(versionText(args));
      return 0;
    }
    ({ inventory, extraVars } = await loadFromArgs(args));
    plays = await def.plays({ inventory, args, extraVars });
    if (args.limit !== undefined) inventory.select(args.limit); // a bad --limit is refused before anything runs
    if (args.listHosts) {
      console.log(listHostsText(def.description, plays, inventory, args.limit));
      return 0;
    }
    const listing = { limit: args.limit, extraVars, tags: args.tags, skipTags: args.skipTags };
    if (args.listTasks || args.listTags) {
      console.log(listTasksText(def.description, plays, inventory, { ...listing, what: args.listTasks ? 'tasks' : 'tags' }));
      return 0;
    }
    if (args.syntaxCheck) {
      validatePlays(plays, { inventory, extraVars });
      for (const play of plays) playTasks(play, inventory, listing);
      console.log(`\nplaybook: ${def.description}`);
      return 0;
    }
    if (args.startAtTask !== undefined) plays = startAtTask(plays, args.startAtTask, inventory, listing);
  } catch (err) {
    return printError(err);
  }
  const [{ createUi }, { ConnectionPool }, { formatRecap, jsonReport, writeJsonReport }] = await Promise.all([
    import('./ui.ts'),
    import('./ssh.ts'),
    import('./report.ts'),
  ]);

  const ui = createUi({ verbose: args.verbose > 0, diff: args.diff });
  if (args.verbose >= 3) {
    const where = Object.entries(args.ansible.origin).map(([k, o]) => `${k} from ${o}`);
    console.error(`config file = ${args.ansible.configFile ?? 'None'}${where.length ? `; ${where.join('; ')}` : ''}`);
  }
  const pool = new ConnectionPool(poolOptions(args, (host, line) => ui.onEvent({ type: 'log', host, line })));
  const abort = abortOnSigint('finishing the tasks in flight (Ctrl-C again to quit now)');
  let summary: RunSummary;
  try {
    summary = await runPlays(plays, {
      inventory,
      limit: args.limit,
      tags: args.tags,
      skipTags: args.skipTags,
      check: args.check,
      diff: args.diff,
      forks: args.forks,
      pool,
      extraVars,
      onEvent: ui.onEvent,
      signal: abort.signal,
    });
  } catch (err) {
    return printError(err);
  } finally {
    abort.release();
    await pool.closeAll();
  }
  await ui.done();
  console.log(`\n${formatRecap(summary.stats, summary.results)}`);
  if (args.json) writeJsonReport(args.json, jsonReport(summary, { check: args.check, startedAt, durationMs: Date.now() - startedAt.getTime() }));
  const hint = labDownHint(inventory, summary);
  if (hint) console.error(hint);
  return abort.signal.aborted ? 130 : summary.exitCode;
}
