// Looks at the running cluster, read-only, one exec per host: who holds each VIP, what IPVS and
// keepalived's checks say about each real server, timeouts and the connection table, the sync
// daemon, the real servers' VIP / ARP / nginx. Exit 0 healthy, 2 something wrong, 4 unreachable.
//   npx tsx playbooks/status.ts -i inventory/lab.yml [--watch [SECONDS]] [--json [FILE]]
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { abortOnSigint, loadFromArgs, parseCommonArgs, printError, UsageError } from '../lib/cli.ts';
import type { StatusReport } from '../lib/status/assess.ts';
import { normaliseArgv } from '../lib/status/args.ts';
// The cluster model, the transport, the checks and the table view (cli-table3) are imported after
// --help (issue 13: start-up).

const DESCRIPTION = 'Shows the running cluster: VIP holders and VRRP states, the IPVS table with keepalived\'s checks, timeouts and connection table, sync daemon, real servers.';
const HELP = `${DESCRIPTION}

Usage: npx tsx playbooks/status.ts -i INVENTORY [options]

Options:
  -i, --inventory FILE      inventory (Ansible YAML); default $LVSPLAY_INVENTORY
  -w, --watch [SECONDS]     refresh every SECONDS (default 2) until Ctrl-C; on a TTY in place,
                            otherwise one block per refresh
      --count N             with --watch: stop after N refreshes
      --json [FILE]         the report as JSON, to FILE or (no FILE, or -) to stdout
      --timeout SECONDS     per host: to connect, and to read (default 20)
      --host-key-checking M accept-new (default) | strict | off
  -e, --extra-vars VARS     as for the other playbooks (e.g. -e lvs_profile=fast)
  -h, --help                this help

Exit codes: 0 healthy, 1 bad command line / inventory, 2 something is wrong (split brain, no
master, a real server down or missing from IPVS, a VIP or sysctl missing on a real server),
4 a host was unreachable (wins over 2). With --watch: the code of the last refresh.`;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const onAbort = () => (clearTimeout(t), resolve());
    const t = setTimeout(() => (signal.removeEventListener('abort', onAbort), resolve()), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });

async function main(argv: string[]): Promise<number> {
  let parsed;
  let inventory;
  try {
    parsed = parseCommonArgs(normaliseArgv(argv), { watch: { type: 'string', short: 'w' }, count: { type: 'string' }, timeout: { type: 'string' } });
    if (parsed.positionals.length) throw new UsageError(`unexpected argument "${parsed.positionals[0]}" (--watch takes seconds: --watch 5)`);
    if (parsed.args.help) {
      console.log(HELP);
      return 0;
    }
    ({ inventory } = await loadFromArgs(parsed.args));
  } catch (err) {
    return printError(err);
  }
  const { args, values } = parsed;
  const [{ clusterFromInventory }, { ConnectionPool }, { assess }, { observe }, { renderStatus }] = await Promise.all([
    import('../lib/lvs/index.ts'),
    import('../lib/ssh.ts'),
    import('../lib/status/assess.ts'),
    import('../lib/status/observe.ts'),
    import('../lib/status/render.ts'),
  ]);
  let model;
  let watchS: number | undefined;
  let count: number | undefined;
  let timeoutS = 20;
  try {
    model = clusterFromInventory(inventory, (h) => h.vars);
    if (values.watch !== undefined) {
      watchS = Number(values.watch);
      if (!(watchS > 0)) throw new UsageError(`--watch takes seconds > 0, got "${values.watch}"`);
    }
    if (values.count !== undefined) {
      count = Number(values.count);
      if (!Number.isInteger(count) || count < 1) throw new UsageError(`--count takes a positive integer, got "${values.count}"`);
    }
    if (values.timeout !== undefined) {
      timeoutS = Number(values.timeout);
      if (!(timeoutS > 0)) throw new UsageError(`--timeout takes seconds > 0, got "${values.timeout}"`);
    }
  } catch (err) {
    return printError(err);
  }

  const json = args.json;
  const jsonToStdout = json === '-';
  const tty = process.stdout.isTTY && !jsonToStdout;
  const color = tty && !process.env.NO_COLOR;
  const title = `lvsplay status ${path.relative(process.cwd(), inventory.file) || inventory.file}`;
  const pool = new ConnectionPool({ hostKeyChecking: args.hostKeyChecking, connectTimeoutMs: timeoutS * 1000 });
  const abort = abortOnSigint('stopping after this refresh');
  let report: StatusReport | undefined;
  try {
    for (let round = 1; ; round++) {
      const { observation } = await observe({ inventory, model, connect: (h) => pool.get(h), timeoutMs: timeoutS * 1000, signal: abort.signal });
      report = assess(model, observation);
      if (jsonToStdout) console.log(JSON.stringify(report, null, watchS ? 0 : 2));
      else {
        const text = renderStatus(report, { color, title });
        if (watchS && tty) process.stdout.write(`\x1b[H\x1b[2J${text}\n\n(every ${watchS} s — Ctrl-C ends)\n`);
        else console.log(watchS ? `${text}\n${'─'.repeat(72)}` : text);
      }
      if (json && !jsonToStdout) writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
      if (!watchS || abort.signal.aborted || (count !== undefined && round >= count)) break;
      await sleep(watchS * 1000, abort.signal);
      if (abort.signal.aborted) break;
    }
  } catch (err) {
    return printError(err);
  } finally {
    abort.release();
    await pool.closeAll();
  }
  return report!.exitCode;
}

process.exit(await main(process.argv.slice(2)));
