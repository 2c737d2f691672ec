// Batched planning: the state for a run of tasks is read in ONE exec.
//
// A module's probe is the first conn.read() its plan makes. Discovery runs each plan against a
// conn that records that read and stops the plan there (nothing reaches the host); the recorded
// probes of the whole window go out as one read, split per task. When the task's real plan runs,
// in order and with the vars of that moment, its first read is answered from the batch only if it
// asks for exactly the same commands with the same `become` and nothing was applied on the host
// since the batch was read; any other read goes to the host as before. So a batched run plans
// from the same state as a task-by-task run, by construction.
import type { FactGroup } from './facts.ts';
import type { Command } from './shell.ts';
import type { Conn, ExecResult } from './types.ts';

export interface ProbeRead {
  cmds: Command[];
  become?: boolean;
}

/** What discovery learned about one task. */
export type Discovery =
  /** the plan's first read */
  | ({ kind: 'probe' } & ProbeRead)
  /** nothing to read ahead: skipped (tags, `when`), no read, a plan error, or a non-read call */
  | { kind: 'none' }
  /** the plan decided on a change without reading: later reads would be stale after its apply */
  | { kind: 'change' }
  /** the plan (or `when`) read facts not gathered yet */
  | { kind: 'facts'; groups: FactGroup[] };

class Recorded extends Error {}
class NotBatchable extends Error {}

export const probeKey = (p: ProbeRead): string => JSON.stringify([p.become ?? null, p.cmds.map((c) => c.text)]);

/** A conn that records the first read and refuses everything else: for discovery only. */
export function recordingConn(host: Conn['host']): { conn: Conn; first(): ProbeRead | undefined } {
  let first: ProbeRead | undefined;
  const refuse = async (): Promise<never> => {
    throw new NotBatchable('discovery: only reads are recorded');
  };
  const conn: Conn = {
    host,
    read: async (cmds, o) => {
      first ??= { cmds, become: o?.become };
      throw new Recorded('discovery: read recorded');
    },
    exec: refuse,
    $: refuse,
    put: refuse,
    close: async () => {},
  };
  return { conn, first: () => first };
}

/** One task's share of a batch. */
export interface Prefetched {
  key: string;
  results: ExecResult[];
  cmds: Command[];
  /** the host's apply count when the batch was read: valid while it has not moved */
  applies: number;
  used?: boolean;
}

/** One exec per distinct `become` (one in practice); `extra` rides along with the host's default. */
export async function readBatch(
  conn: Conn,
  reads: Map<number, ProbeRead>,
  extra: Command[],
): Promise<{ byTask: Map<number, ExecResult[]>; extra: ExecResult[] }> {
  const groups = new Map<boolean | undefined, Array<{ task: number; cmds: Command[] }>>();
  for (const [task, r] of reads) {
    const g = groups.get(r.become) ?? [];
    g.push({ task, cmds: r.cmds });
    groups.set(r.become, g);
  }
  if (extra.length) groups.set(undefined, [{ task: -1, cmds: extra }, ...(groups.get(undefined) ?? [])]);
  const byTask = new Map<number, ExecResult[]>();
  let extraResults: ExecResult[] = [];
  await Promise.all(
    [...groups].map(async ([become, parts]) => {
      const results = await conn.read(
        parts.flatMap((p) => p.cmds),
        become === undefined ? {} : { become },
      );
      let at = 0;
      for (const p of parts) {
        const mine = results.slice(at, (at += p.cmds.length));
        if (p.task === -1) extraResults = mine;
        else byTask.set(p.task, mine);
      }
    }),
  );
  return { byTask, extra: extraResults };
}

/**
 * The conn a task's real plan sees: its first read, when it matches the batch, is answered from
 * it (and shown in -v as the probe and its output); anything else goes to `conn`.
 */
export function servingConn(conn: Conn, pre: Prefetched | undefined, currentApplies: () => number, log: (line: string) => void): Conn {
  if (!pre) return conn;
  const served: Conn = {
    host: conn.host,
    exec: (cmd, o) => conn.exec(cmd, o),
    $: (strings, ...values) => conn.$(strings, ...values),
    put: (dest, content, o) => conn.put(dest, content, o),
    close: () => conn.close(),
    read: async (cmds, o) => {
      if (!pre.used && currentApplies() === pre.applies && probeKey({ cmds, become: o?.become }) === pre.key) {
        pre.used = true;
        logProbes(log, cmds, pre.results);
        return pre.results;
      }
      return conn.read(cmds, o);
    },
  };
  return served;
}

const tail = (text: string, lines = 200): string[] => {
  const all = text.replace(/\n$/, '').split('\n');
  return all.length > lines ? [`… ${all.length - lines} lines`, ...all.slice(-lines)] : all;
};

/** -v: each probe answered from a batch, with its exit code and output, as the transport logs an exec. */
export function logProbes(log: (line: string) => void, cmds: Command[], results: ExecResult[]): void {
  cmds.forEach((c, i) => {
    const r = results[i];
    log(`probe (batched read) $ ${c.masked}`);
    log(`exit ${r.exitCode}`);
    for (const l of r.stdout ? tail(r.stdout) : []) log(`  out| ${l}`);
    for (const l of r.stderr ? tail(r.stderr) : []) log(`  err| ${l}`);
  });
}
