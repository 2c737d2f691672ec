// A fact: one read-only command and the pure function that parses its result (pyinfra's
// facts/*.py). A set of facts is read from a host in ONE exec (lib/ssh-read.ts frames each
// command), so a caller names what it wants and pays one round trip for all of it.
import { readScript } from '../ssh-read.ts';
import type { Command } from '../shell.ts';
import type { Conn, ExecResult } from '../types.ts';

export interface Fact<T> {
  /** what the command reads, for error messages */
  name: string;
  command: Command;
  /** pure: the command's result (any exit code) → the fact */
  parse(r: ExecResult): T;
}

export const defineFact = <T>(f: Fact<T>): Fact<T> => f;

export type FactValues<F extends Record<string, Fact<unknown>>> = { [K in keyof F]: ReturnType<F[K]['parse']> };

/** Parses each fact from the results of readScript(commands), in order (pure: for tests on recorded output). */
export function parseFacts<F extends Record<string, Fact<unknown>>>(facts: F, results: ExecResult[]): FactValues<F> {
  const keys = Object.keys(facts) as (keyof F)[];
  return Object.fromEntries(keys.map((k, i) => [k, facts[k].parse(results[i] ?? { stdout: '', stderr: '', exitCode: -1 })])) as FactValues<F>;
}

/**
 * Every fact of `facts` from one host in one exec, bounded by timeoutMs. Throws only when the
 * transport fails (UnreachableError) or the whole script times out; a failing command is the
 * fact's business (parse sees its exit code).
 */
export async function readFacts<F extends Record<string, Fact<unknown>>>(
  conn: Conn,
  facts: F,
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<{ values: FactValues<F>; raw: Record<keyof F, ExecResult> }> {
  const keys = Object.keys(facts) as (keyof F)[];
  const { script, parse } = readScript(keys.map((k) => facts[k].command));
  const r = await conn.exec(script, { nothrow: true, timeoutMs: opts.timeoutMs, signal: opts.signal });
  if (r.exitCode === 124 && /lvsplay: timed out/.test(r.stderr)) throw new Error(`${conn.host.name}: reading ${keys.join(', ')} timed out after ${opts.timeoutMs} ms`);
  const results = parse(r.stdout, r.stderr);
  return { values: parseFacts(facts, results), raw: Object.fromEntries(keys.map((k, i) => [k, results[i]])) as Record<keyof F, ExecResult> };
}
