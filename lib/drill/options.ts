// The drill's command line: the flags every playbook shares plus the drill's own, checked before
// any host is touched.
import { COMMON_HELP, parseCommonArgs, UsageError, type CommonArgs } from '../cli.ts';
import { DRILL_MODES, modeHelp, modeList, type DrillMode } from './modes.ts';

export interface DrillOptions {
  /** in the order given, each run `runs` times */
  modes: DrillMode[];
  runs: number;
  /** exit 1 when a mode's median outage is over this */
  budgetMs?: number;
  /** the probe's request interval */
  intervalMs: number;
  /** the probe's per-request timeout */
  probeTimeoutMs: number;
  /** the VIP the probe hits and whose MASTER is broken (default: the first VIP) */
  vip?: string;
  /** false: leave the master broken (one run, one mode) */
  restore: boolean;
  /** where the SVG (and nothing else) goes */
  reportsDir: string;
  /** label of the timing profile in the table (default: read from the deployed keepalived.conf) */
  profile?: string;
}

export const DRILL_FLAGS = {
  mode: { type: 'string', multiple: true },
  runs: { type: 'string' },
  budget: { type: 'string' },
  'interval-ms': { type: 'string' },
  'timeout-ms': { type: 'string' },
  vip: { type: 'string' },
  'no-restore': { type: 'boolean' },
  reports: { type: 'string' },
  profile: { type: 'string' },
} as const;

export const DRILL_HELP = `Drill options:
      --mode MODES            ${DRILL_MODES.join(' | ')} (comma list or repeated; default stop)
${modeHelp(' '.repeat(32))}
      --runs N                cycles per mode (default 1); the table gives min / median / max
      --budget MS             exit 1 when a mode's median outage is over MS
      --interval-ms MS        probe request interval (default 20)
      --timeout-ms MS         probe request timeout (default 300)
      --vip ADDR              the VIP to probe and fail over (default: the first of lvs_vips)
      --no-restore            leave the MASTER broken (one mode, one run)
      --reports DIR           where the timeline SVG goes (default reports/)
      --profile LABEL         profile name in the table (default: from the deployed keepalived.conf)
      --json FILE             every run's timeline, events and metrics

Exit codes: 0 drill done and cluster restored, 1 bad command line / inventory, or the median
            outage over --budget, 2 the drill failed or could not restore the cluster,
            4 a host was unreachable.`;

export const drillUsage = (description: string, script = 'playbooks/drill.ts') =>
  `${description}\n\nUsage: npx tsx ${script} -i INVENTORY [--mode ${DRILL_MODES.join(',')}] [--runs N] [options]\n\n${DRILL_HELP}\n\n${COMMON_HELP}`;

function int(name: string, text: string | undefined, dflt: number, min: number, max: number): number {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${text}"`);
  return n;
}

function num(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !(n >= min && n <= max)) throw new UsageError(`--${name} must be a number from ${min} to ${max}, got "${text}"`);
  return n;
}

/** Parses argv; throws UsageError. `args.help` set: print drillUsage and stop. */
export function parseDrillArgs(argv: string[]): { args: CommonArgs; drill: DrillOptions } {
  const { args, values, positionals } = parseCommonArgs(argv, DRILL_FLAGS);
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (args.help) return { args, drill: { modes: ['stop'], runs: 1, intervalMs: 20, probeTimeoutMs: 300, restore: true, reportsDir: 'reports' } };
  for (const [flag, set] of [['--check', args.check], ['--diff', args.diff], ['--tags', args.tags.length], ['--skip-tags', args.skipTags.length], ['--limit', args.limit !== undefined], ['--list-hosts', args.listHosts]] as const) {
    if (set) throw new UsageError(`${flag} does not apply to the drill (it changes the cluster on purpose, then restores it)`);
  }
  const modeWords = ((values.mode as string[] | undefined) ?? ['stop']).flatMap((m) => m.split(',')).map((m) => m.trim()).filter(Boolean);
  if (!modeWords.length) throw new UsageError(`--mode needs at least one of ${DRILL_MODES.join(', ')}`);
  const modes: DrillMode[] = [];
  for (const m of modeWords) {
    if (!DRILL_MODES.includes(m as DrillMode)) throw new UsageError(`--mode: unknown mode "${m}"; expected ${modeList()}`);
    if (!modes.includes(m as DrillMode)) modes.push(m as DrillMode);
  }
  const runs = int('runs', values.runs as string | undefined, 1, 1, 100);
  const restore = !values['no-restore'];
  if (!restore && (runs > 1 || modes.length > 1)) {
    throw new UsageError('--no-restore leaves the master broken: it allows one mode and one run only');
  }
  const drill: DrillOptions = {
    modes,
    runs,
    intervalMs: values['interval-ms'] === undefined ? 20 : num('interval-ms', values['interval-ms'] as string, 5, 1000),
    probeTimeoutMs: values['timeout-ms'] === undefined ? 300 : num('timeout-ms', values['timeout-ms'] as string, 10, 10_000),
    restore,
    reportsDir: (values.reports as string | undefined) ?? 'reports',
  };
  if (values.budget !== undefined) drill.budgetMs = num('budget', values.budget as string, 0, 3_600_000);
  if (values.vip !== undefined) {
    const vip = values.vip as string;
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(vip)) throw new UsageError(`--vip must be an IPv4 address, got "${vip}"`);
    drill.vip = vip;
  }
  if (values.profile !== undefined) drill.profile = values.profile as string;
  return { args, drill };
}
