// The command line every playbook shares: flags, inventory, run, recap, exit code. The only place
// that prints errors.
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseExtraVars } from './extravars.ts';
import { loadInventory } from './inventory.ts';
import { formatRecap, jsonReport, writeJsonReport } from './report.ts';
import { playHosts, runPlays, type RunSummary } from './runner.ts';
import { ConnectionPool, type HostKeyChecking } from './ssh.ts';
import { ConfigError, type Host, type Inventory, type Play } from './types.ts';
import { createUi } from './ui.ts';

/** Bad command line: printed with a pointer to --help, exit 1. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface CommonArgs {
  inventory?: string;
  limit?: string;
  tags: string[];
  skipTags: string[];
  check: boolean;
  diff: boolean;
  forks: number;
  /** raw -e values (key=value, JSON/YAML, @file) in order */
  extraVars: string[];
  /** number of -v */
  verbose: number;
  json?: string;
  hostKeyChecking: HostKeyChecking;
  listHosts: boolean;
  help: boolean;
}

type Options = NonNullable<ParseArgsConfig['options']>;

const COMMON_OPTIONS = {
  inventory: { type: 'string', short: 'i' },
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
} satisfies Options;

export const COMMON_HELP = `Options:
  -i, --inventory FILE        inventory (Ansible YAML); default $LVSPLAY_INVENTORY
  -l, --limit PATTERN         only hosts matching PATTERN (a:b union, a:&b intersection, !a, globs)
  -t, --tags TAGS             only tasks tagged TAGS (comma-separated, repeatable)
      --skip-tags TAGS        skip tasks tagged TAGS
  -C, --check                 change nothing; report what would change
  -D, --diff                  show unified diffs of changed files and settings
  -f, --forks N               hosts worked on at once (default 10)
  -e, --extra-vars VARS       key=value, JSON/YAML, or @file.yml; highest precedence; repeatable
  -v, --verbose               print commands and their output
      --json FILE             write every task result and the recap to FILE
      --host-key-checking M   accept-new (default) | strict | off
      --list-hosts            print the hosts each play selects and exit
  -h, --help                  this help

Exit codes: 0 ok, 1 bad command line / inventory / configuration (no host touched),
            2 a task failed, 4 a host was unreachable (wins over 2, as in Ansible).`;

const splitList = (values: string[] | undefined): string[] =>
  (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);

/**
 * Parses the flags every entry point shares, plus `extraOptions` (node:util parseArgs syntax).
 * Arguments after `--` are in `positionals`. Throws UsageError.
 */
export function parseCommonArgs<E extends Options = {}>(
  argv: string[],
  extraOptions?: E,
): { args: CommonArgs; values: Record<string, unknown>; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...extraOptions }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values as Record<string, unknown>;
  const forksText = (v.forks as string | undefined) ?? '10';
  const forks = Number(forksText);
  if (!/^\d+$/.test(forksText) || forks < 1) throw new UsageError(`--forks must be a positive integer, got "${forksText}"`);
  const hkc = (v['host-key-checking'] as string | undefined) ?? 'accept-new';
  if (!['accept-new', 'strict', 'off'].includes(hkc))
    throw new UsageError(`--host-key-checking must be accept-new, strict or off, got "${hkc}"`);
  const args: CommonArgs = {
    inventory: (v.inventory as string | undefined) ?? (process.env.LVSPLAY_INVENTORY || undefined),
    limit: v.limit as string | undefined,
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
  };
  return { args, values: v, positionals: parsed.positionals };
}

/** Inventory and extra vars from parsed args (throws ConfigError / UsageError). */
export async function loadFromArgs(args: CommonArgs): Promise<{ inventory: Inventory; extraVars: Record<string, unknown> }> {
  if (!args.inventory) throw new UsageError('no inventory: pass -i FILE or set LVSPLAY_INVENTORY');
  const extraVars = await parseExtraVars(args.extraVars, process.cwd());
  const inventory = await loadInventory(args.inventory, { extraVars });
  return { inventory, extraVars };
}

/** Prints an error the way every entry point does and returns its exit code (1). */
export function printError(err: unknown): 1 {
  if (err instanceof UsageError) console.error(`error: ${err.message}\n(run with --help for usage)`);
  else if (err instanceof ConfigError) console.error(`error: ${err.message}`);
  else console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  return 1;
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

/** The whole life of a playbook run; exits the process with Ansible's exit code. */
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
    ({ inventory, extraVars } = await loadFromArgs(args));
    plays = await def.plays({ inventory, args, extraVars });
    if (args.limit !== undefined) inventory.select(args.limit); // a bad --limit is refused before anything runs
    if (args.listHosts) {
      console.log(listHostsText(def.description, plays, inventory, args.limit));
      return 0;
    }
  } catch (err) {
    return printError(err);
  }

  const ui = createUi({ verbose: args.verbose > 0, diff: args.diff });
  const pool = new ConnectionPool({
    hostKeyChecking: args.hostKeyChecking,
    onLog: args.verbose > 0 ? (host, line) => ui.onEvent({ type: 'log', host, line }) : undefined,
  });
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
