// A phase of the drill as its events: phase:start, then phase:end done with the detail, or failed
// with the error's message (and the error rethrown).
import type { DrillPhase, Emit, RunLabel } from './types.ts';

export async function phase<T>(
  emit: Emit,
  run: RunLabel | undefined,
  name: DrillPhase,
  title: string,
  fn: () => Promise<{ value: T; detail: string }>,
): Promise<T> {
  emit({ type: 'phase:start', run, phase: name, title });
  try {
    const { value, detail } = await fn();
    emit({ type: 'phase:end', run, phase: name, status: 'done', detail });
    return value;
  } catch (err) {
    emit({ type: 'phase:end', run, phase: name, status: 'failed', detail: (err as Error).message });
    throw err;
  }
}

/** A duration for a phase's detail: `1.23 s`, `—` when unknown. */
export const fmtS = (ms: number | undefined): string => (ms === undefined ? '—' : `${(ms / 1000).toFixed(2)} s`);
