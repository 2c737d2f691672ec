// One status round: every director and real server read in parallel, ONE exec per host. The raw
// results can be kept (a recording) and parsed again later: the unit tests replay recordings of
// the lab through the same parsers (observationFromRecording).
import { parseFacts, readFacts, type Fact } from '../facts/fact.ts';
import type { ClusterModel } from '../lvs/index.ts';
import type { Conn, ExecResult, Host, Inventory } from '../types.ts';
import { directorFacts, realserverFacts, type DirectorFacts, type RealserverFacts } from './probes.ts';

/** both: a co-located host (director and real server), read in the same one exec */
export type Role = 'director' | 'realserver' | 'both';

export type HostObservation =
  | { host: string; role: 'director'; ok: true; ms: number; facts: DirectorFacts }
  | { host: string; role: 'realserver'; ok: true; ms: number; facts: RealserverFacts }
  | { host: string; role: 'both'; ok: true; ms: number; facts: DirectorFacts & RealserverFacts }
  | { host: string; role: Role; ok: false; ms: number; error: string };

export interface Observation {
  /** when the round started */
  at: Date;
  /** how long the whole round took */
  ms: number;
  hosts: Record<string, HostObservation>;
}

/** The raw command results of one round, by host and fact name (a fixture). */
export type Recording = Record<string, { role: Role; raw?: Record<string, ExecResult>; error?: string }>;

function factsOf(model: ClusterModel, role: Role): Record<string, Fact<unknown>> {
  if (role === 'director') return directorFacts();
  if (role === 'realserver') return realserverFacts(model);
  const { keepalived, ...first } = directorFacts(); // the dump stays last
  return { ...first, ...realserverFacts(model), keepalived };
}

export const statusHosts = (model: ClusterModel): { name: string; role: Role }[] => {
  const reals = new Set(model.realservers.map((r) => r.name));
  return [
    ...model.directors.map((name) => ({ name, role: reals.has(name) ? ('both' as const) : ('director' as const) })),
    ...model.realservers.filter((r) => !model.directors.includes(r.name)).map((r) => ({ name: r.name, role: 'realserver' as const })),
  ];
};

export interface ObserveContext {
  inventory: Inventory;
  model: ClusterModel;
  connect(host: Host): Promise<Conn>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export async function observe(ctx: ObserveContext): Promise<{ observation: Observation; recording: Recording }> {
  const at = new Date();
  const recording: Recording = {};
  const entries = await Promise.all(
    statusHosts(ctx.model).map(async ({ name, role }): Promise<[string, HostObservation]> => {
      const started = Date.now();
      try {
        const host = ctx.inventory.hosts.get(name);
        if (!host) throw new Error(`not in the inventory`);
        const conn = await ctx.connect(host);
        const { values, raw } = await readFacts(conn, factsOf(ctx.model, role), { timeoutMs: ctx.timeoutMs ?? 20_000, signal: ctx.signal });
        recording[name] = { role, raw };
        return [name, { host: name, role, ok: true, ms: Date.now() - started, facts: values } as HostObservation];
      } catch (err) {
        const error = (err as Error).message.replace(new RegExp(`^${name}: `), '');
        recording[name] = { role, error };
        return [name, { host: name, role, ok: false, ms: Date.now() - started, error }];
      }
    }),
  );
  return { observation: { at, ms: Date.now() - at.getTime(), hosts: Object.fromEntries(entries) }, recording };
}

/** Pure: a recorded round parsed again, as observe() would have returned it. */
export function observationFromRecording(model: ClusterModel, recording: Recording, at = new Date(0)): Observation {
  const hosts: Record<string, HostObservation> = {};
  for (const [name, rec] of Object.entries(recording)) {
    if (!rec.raw) {
      hosts[name] = { host: name, role: rec.role, ok: false, ms: 0, error: rec.error ?? 'no recording' };
      continue;
    }
    const facts = factsOf(model, rec.role);
    const results = Object.keys(facts).map((k) => rec.raw![k] ?? { stdout: '', stderr: `not recorded: ${k}`, exitCode: -1 });
    hosts[name] = { host: name, role: rec.role, ok: true, ms: 0, facts: parseFacts(facts, results) } as HostObservation;
  }
  return { at, ms: 0, hosts };
}
