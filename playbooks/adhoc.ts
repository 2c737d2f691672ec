// Ad-hoc: one shell command on every matching host, in parallel — like `ansible PATTERN -m shell -a CMD`.
//   npx tsx playbooks/adhoc.ts -i inventory/lab.yml -l directors -- ipvsadm -Ln
import chalk from 'chalk';
import { COMMON_HELP, loadFromArgs, parseCommonArgs, printError, UsageError } from '../lib/cli.ts';
import { mapLimit, playHosts } from '../lib/runner.ts';
import { literal } from '../lib/shell.ts';
import { ConnectionPool } from '../lib/ssh.ts';
import { UnreachableError } from '../lib/types.ts';

const HELP = `Runs a shell command on matching hosts in parallel and prints each host's output and exit status.

Usage: npx tsx playbooks/adhoc.ts -i INVENTORY [-l PATTERN] [-b] -- COMMAND...
       npx tsx playbooks/adhoc.ts -i INVENTORY [-l PATTERN] -a 'COMMAND'

  -a, --args CMD              the command (instead of the words after --)
  -b, --become                run it through sudo -n
${COMMON_HELP}`;

async function adhoc(argv: string[]): Promise<number> {
  const { args, values, positionals } = parseCommonArgs(argv, {
    args: { type: 'string', short: 'a' },
    become: { type: 'boolean', short: 'b' },
  });
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  const cmd = (values.args as string | undefined) ?? positionals.join(' ');
  if (!cmd.trim() && !args.listHosts) throw new UsageError('no command: pass it after -- or with -a');
  const { inventory } = await loadFromArgs(args);
  const hosts = playHosts(inventory, { name: 'adhoc', hosts: args.limit ?? 'all' });
  if (args.listHosts) {
    console.log([`  hosts (${hosts.length}):`, ...hosts.map((h) => `    ${h.name}`)].join('\n'));
    return 0;
  }
  if (!hosts.length) throw new UsageError(`no host matches "${args.limit ?? 'all'}"`);

  const pool = new ConnectionPool({
    hostKeyChecking: args.hostKeyChecking,
    onLog: args.verbose ? (host, line) => console.error(`[${host}] | ${line}`) : undefined,
  });
  let failed = false;
  let unreachable = false;
  try {
    await mapLimit(hosts, args.forks, async (host) => {
      try {
        const conn = await pool.get(host);
        const r = await conn.exec(literal(cmd), { nothrow: true, become: values.become ? true : undefined });
        if (r.exitCode !== 0) failed = true;
        const status = r.exitCode === 0 ? chalk.yellow('CHANGED') : chalk.red('FAILED');
        const output = [r.stdout, r.stderr].map((s) => s.replace(/\n$/, '')).filter(Boolean).join('\n');
        console.log(`${host.name} | ${status} | rc=${r.exitCode} >>${output ? `\n${output}` : ''}`);
      } catch (err) {
        if (err instanceof UnreachableError) {
          unreachable = true;
          console.log(`${host.name} | ${chalk.redBright('UNREACHABLE!')} => ${err.message}`);
        } else {
          failed = true;
          console.log(`${host.name} | ${chalk.red('FAILED')} => ${(err as Error).message}`);
        }
      }
    });
  } finally {
    await pool.closeAll();
  }
  return unreachable ? 4 : failed ? 2 : 0;
}

adhoc(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => process.exit(printError(err)),
);
