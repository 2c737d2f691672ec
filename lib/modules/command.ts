// command: an arbitrary command, made idempotent by its guards (creates / removes / unless).
import { defineModule } from '../module.ts';
import { isCommand, literal, sh, type Command } from '../shell.ts';
import type { ExecResult } from '../types.ts';

export interface CommandArgs {
  cmd: Command | string;
  /** skip when this path exists */
  creates?: string;
  /** skip when this path does not exist */
  removes?: string;
  /** a probe: skip when it exits 0 */
  unless?: Command | string;
  /** decides whether a run counts as a change (default: it does) */
  changedWhen?: (r: ExecResult) => boolean;
}

/** What apply() returns (and `register` stores). `changed: false` tells the runner to report ok. */
export interface CommandResult extends ExecResult {
  changed: boolean;
}

const asCommand = (c: Command | string): Command => (isCommand(c) ? c : literal(c));

export interface CommandProbes {
  createsExists?: boolean;
  removesExists?: boolean;
  unlessExit?: number;
}

/** Pure: the reason to skip, or null to run. */
export function skipReason(args: Pick<CommandArgs, 'creates' | 'removes' | 'unless'>, p: CommandProbes): string | null {
  if (args.creates !== undefined && p.createsExists === true) return `${args.creates} exists`;
  if (args.removes !== undefined && p.removesExists === false) return `${args.removes} does not exist`;
  if (args.unless !== undefined && p.unlessExit === 0) return `unless probe exited 0`;
  return null;
}

export const command = defineModule<CommandArgs>({
  name: 'command',
  async plan(ctx, args) {
    const cmd = asCommand(args.cmd);
    const probes: Command[] = [];
    const at: Partial<Record<keyof CommandProbes, number>> = {};
    if (args.creates !== undefined) at.createsExists = probes.push(sh`test -e ${args.creates}`) - 1;
    if (args.removes !== undefined) at.removesExists = probes.push(sh`test -e ${args.removes}`) - 1;
    if (args.unless !== undefined) at.unlessExit = probes.push(asCommand(args.unless)) - 1;
    const results = probes.length ? await ctx.conn.read(probes) : [];
    const p: CommandProbes = {
      createsExists: at.createsExists === undefined ? undefined : results[at.createsExists].exitCode === 0,
      removesExists: at.removesExists === undefined ? undefined : results[at.removesExists].exitCode === 0,
      unlessExit: at.unlessExit === undefined ? undefined : results[at.unlessExit].exitCode,
    };
    const skip = skipReason(args, p);
    if (skip) {
      ctx.log(`command skipped: ${skip}`);
      return null;
    }
    return { summary: `${ctx.check ? 'would run' : 'run'}: ${cmd.masked}`, data: cmd };
  },
  async apply(ctx, args, change) {
    const r = await ctx.conn.exec(change.data as Command);
    const result: CommandResult = { ...r, changed: args.changedWhen ? args.changedWhen(r) : true };
    return result;
  },
});
