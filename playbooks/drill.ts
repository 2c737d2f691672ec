// The failover drill: kill the MASTER director, measure the outage as the client sees it, restore,
// measure the failback; print the table, write the timeline SVG under reports/ (and --json).
//   npx tsx playbooks/drill.ts -i inventory/lab.yml --mode stop,kill,link,poweroff --runs 3
import path from 'node:path';
import { abortOnSigint, loadFromArgs, printError, UsageError } from '../lib/cli.ts';
import { DRILL_MODES } from '../lib/drill/modes.ts';
import { drillUsage, parseDrillArgs } from '../lib/drill/options.ts';
import { DrillError } from '../lib/drill/types.ts';
import { ConfigError, UnreachableError } from '../lib/types.ts';
// The drill itself, its view (listr2), its reports and the lab's power switch (zx) are imported
// once the command line and inventory are read, so --help starts without them (issue 13).

const DESCRIPTION = `Kills the MASTER director (${DRILL_MODES.join(' | ')}), measures the failover from the client, restores it and measures the failback.`;

async function main(argv: string[]): Promise<number> {
  const startedAt = new Date();
  let parsed;
  let loaded;
  try {
    parsed = parseDrillArgs(argv);
    if (parsed.args.help) {
      console.log(drillUsage(DESCRIPTION));
      return 0;
    }
    loaded = await loadFromArgs(parsed.args);
  } catch (err) {
    return printError(err);
  }
  const { args, drill } = parsed;
  const { inventory } = loaded;
  const [{ labControl }, { formatDrillSummary, writeDrillReports }, { runDrill }, { createDrillUi }] = await Promise.all([
    import('../lab/drill-control.ts'),
    import('../lib/drill/report.ts'),
    import('../lib/drill/run.ts'),
    import('../lib/drill/ui.ts'),
  ]);

  const ui = createDrillUi({ verbose: args.verbose > 0 });
  const abort = abortOnSigint('restoring the cluster, then stopping (Ctrl-C again to quit now and leave it broken)');
  let result;
  let failure: unknown;
  const lab = await labControl(inventory);
  try {
    result = await runDrill(
      {
        inventory,
        connect: { hostKeyChecking: args.hostKeyChecking, onLog: args.verbose > 0 ? (host, line) => ui.onEvent({ type: 'log', line: `[${host}] ${line}` }) : undefined },
        lab,
        onEvent: ui.onEvent,
        signal: abort.signal,
      },
      drill,
    );
  } catch (err) {
    failure = err;
  } finally {
    abort.release();
  }
  await ui.done();
  if (failure) {
    if (failure instanceof DrillError || failure instanceof UnreachableError) console.error(`error: ${failure.message}`);
    else printError(failure);
    if (failure instanceof UsageError || failure instanceof ConfigError) return 1;
    const code = failure instanceof DrillError ? failure.exitCode : failure instanceof UnreachableError ? 4 : 2;
    if (code === 4 && lab) console.error(`is the lab up? start it with  npx tsx lab/lab.ts up -i ${path.relative(process.cwd(), inventory.file) || inventory.file}`);
    return code;
  }
  console.log(`\n${formatDrillSummary(result!, drill)}`);
  const files = writeDrillReports(result!, { startedAt, inventory: inventory.file, options: drill, json: args.json });
  if (files.svg) console.log(`\ntimeline: ${path.relative(process.cwd(), files.svg)}`);
  if (files.json) console.log(`json: ${files.json}`);
  if (abort.signal.aborted) return 130;
  if (result!.failures.length) return 2;
  if (result!.withinBudget === false) return 1;
  return 0;
}

process.exit(await main(process.argv.slice(2)));
