// Ad-hoc: one shell command on every matching host, in parallel — like `ansible PATTERN -m shell -a CMD`.
//   npx tsx playbooks/adhoc.ts -i inventory/lab.yml -l directors -- ipvsadm -Ln
import { COMMON_HELP, loadFromArgs, parseCommonArgs, poolOptions, printError, UsageError, versionText, type CommonArgs } from '../lib/cli.ts';
import { emptyStats, mapLimit, playHosts } from '../lib/runner.ts';
import { literal } from '../lib/shell.ts';
import { UnreachableError, type HostStats, type TaskResult } from '../lib/types.ts';
// chalk, the transport and the report are imported once there is a command to run (issue 13: start-up).

const HELP = `Runs a shell command on matching hosts in parallel and prints each host's output and exit status.

Usage: npx tsx playbooks/adhoc.ts -i INVENTORY [-l PATTERN] [-b] -- COMMAND...
       npx tsx playbooks/adhoc.ts -i INVENTORY [-l PATTERN] -a 'COMMAND'

  -a, --args CMD              the command (instead of the words after --)
  -C, --check                 run nothing: every host is reported skipped (the effect of a raw
                              command cannot be known beforehand; Ansible's command/shell skip too)
      --json FILE             write each host's result (rc, stdout, stderr) and the recap to FILE
  Playbook-only flags are refused here: -t, --skip-tags, -D, --list-tasks, --list-tags,
  --syntax-check, --start-at-task.
${COMMON_HELP}`;

export const CHECK_SKIP = 'skipped: check mode cannot know the effect of a raw command';

/** Flags an ad-hoc command cannot honour: refused rather than ignored. */
function refusePlaybookFlags(args: CommonArgs): void {
  const refused: Array<[boolean, string]> = [
    [args.tags.length > 0, '-t/--tags'],
    [args.skipTags.length > 0, '--skip-tags'],
    [args.diff, '-D/--diff'],
    [args.listTasks, '--list-tasks'],
    [args.listTags, '--list-tags'],
    [args.syntaxCheck, '--syntax-check'],
    [args.startAtTask !== undefined, '--start-at-task'],
  ];
  const bad = refused.filter(([set]) => set).map(([, flag]) => flag);
  if (bad.length) throw new UsageError(`${bad.join(', ')}: an ad-hoc command is one task with no tags, diff or task list; these flags are for playbooks`);
}

async function adhoc(argv: string[]): Promise<number> {
  const startedAt = new Date();
  const { args, values, positionals } = parseCommonArgs(argv, {
    args: { type: 'string', short: 'a' },
  });
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  if (args.version) {
    console.log(versionText(args));
    return 0;
  }
  refusePlaybookFlags(args);
  const cmd = (values.args as string | undefined) ?? positionals.join(' ');
  if (!cmd.trim() && !args.listHosts) throw new UsageError('no command: pass it after -- or with -a');
  const { inventory } = await loadFromArgs(args);
  const hosts = playHosts(inventory, { name: 'adhoc', hosts: args.limit ?? 'all' });
  if (args.listHosts) {
    console.log([`  hosts (${hosts.length}):`, ...hosts.map((h) => `    ${h.name}`)].join('\n'));
    return 0;
  }
  if (!hosts.length) throw new UsageError(`no host matches "${args.limit ?? 'all'}"`);
  const [{ default: chalk }, { ConnectionPool }, { jsonReport, writeJsonReport }] = await Promise.all([
    import('chalk'),
    import('../lib/ssh.ts'),
    import('../lib/report.ts'),
  ]);

  const stats = new Map<string, HostStats>(hosts.map((h) => [h.name, emptyStats()]));
  const results: Array<TaskResult & { rc?: number; stdout?: string; stderr?: string }> = [];
  const base = { play: 'adhoc', task: cmd };

  if (args.check) {
    for (const host of hosts) {
      stats.get(host.name)!.skipped++;
      results.push({ ...base, host: host.name, status: 'skipped', summary: CHECK_SKIP, durationMs: 0 });
      console.log(`${host.name} | ${chalk.cyan('SKIPPED')} | ${CHECK_SKIP}`);
    }
  } else {
    const pool = new ConnectionPool(poolOptions(args, (host, line) => console.error(`[${host}] | ${line}`)));
    try {
      await mapLimit(hosts, args.forks, async (host) => {
        const started = Date.now();
        const s = stats.get(host.name)!;
        try {
          const conn = await pool.get(host);
          const r = await conn.exec(literal(cmd), { nothrow: true });
          const ok = r.exitCode === 0;
          if (ok) s.changed++;
          else s.failed++;
          const output = [r.stdout, r.stderr].map((x) => x.replace(/\n$/, '')).filter(Boolean).join('\n');
          results.push({
            ...base, host: host.name, status: ok ? 'changed' : 'failed', durationMs: Date.now() - started,
            ...(ok ? {} : { error: `exit ${r.exitCode}` }), rc: r.exitCode, stdout: r.stdout, stderr: r.stderr,
          });
          console.log(`${host.name} | ${ok ? chalk.yellow('CHANGED') : chalk.red('FAILED')} | rc=${r.exitCode} >>${output ? `\n${output}` : ''}`);
        } catch (err) {
          const unreachable = err instanceof UnreachableError;
          if (unreachable) s.unreachable++;
          else s.failed++;
          const message = (err as Error).message;
          results.push({ ...base, host: host.name, status: unreachable ? 'unreachable' : 'failed', error: message, durationMs: Date.now() - started });
          console.log(`${host.name} | ${unreachable ? chalk.redBright('UNREACHABLE!') : chalk.red('FAILED')} => ${message}`);
        }
      });
    } finally {
      await pool.closeAll();
    }
  }
  const all = [...stats.values()];
  const exitCode = all.some((s) => s.unreachable) ? 4 : all.some((s) => s.failed) ? 2 : 0;
  if (args.json) {
    const order = new Map(hosts.map((h, i) => [h.name, i]));
    results.sort((a, b) => order.get(a.host)! - order.get(b.host)!);
    writeJsonReport(args.json, jsonReport({ stats, results, exitCode }, { check: args.check, startedAt, durationMs: Date.now() - startedAt.getTime() }));
  }
  return exitCode;
}

adhoc(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => process.exit(printError(err)),
);
