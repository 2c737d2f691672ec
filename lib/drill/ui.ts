// The drill's progress: a listr2 list of phases per run on a terminal, one line per finished phase
// elsewhere (CI, pipes, -v) — the conventions of lib/ui.ts. A view over DrillEvents only.
import { Listr, ListrLogger, ProcessOutput, type ListrTaskWrapper } from 'listr2';
import { defaultUiMode } from '../ui.ts';
import { RUN_PHASES, type DrillEvent, type DrillPhase, type RunLabel } from './types.ts';

export interface DrillUiOptions {
  out?: NodeJS.WritableStream;
  verbose?: boolean;
  mode?: 'tree' | 'lines' | 'test' | 'silent';
}

export interface DrillUi {
  onEvent(e: DrillEvent): void;
  /** resolves once every list has finished rendering */
  done(): Promise<void>;
}

interface PhaseView {
  title: string;
  detail?: string;
  status?: 'done' | 'failed' | 'skipped';
  task?: ListrTaskWrapper<unknown, any, any>;
  finish: () => void;
  finished: Promise<void>;
}

const runName = (r: RunLabel) => `${r.mode} ${r.index}/${r.of} (${r.profile})`;

function newPhase(title: string): PhaseView {
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  return { title, finish, finished };
}

export function createDrillUi(opts: DrillUiOptions = {}): DrillUi {
  const out = opts.out ?? process.stdout;
  const mode = opts.mode ?? defaultUiMode(out, !!opts.verbose);
  const lines = mode === 'lines';
  const print = (text: string) => void out.write(`${text}\n`);
  let chain: Promise<void> = Promise.resolve();
  let views = new Map<DrillPhase, PhaseView>();

  const startList = (title: string, phases: DrillPhase[]) => {
    const batch = new Map(phases.map((p) => [p, newPhase(p)] as const));
    views = batch;
    const list = new Listr(
      [
        {
          title,
          task: (_ctx: unknown, parent: ListrTaskWrapper<unknown, any, any>) =>
            parent.newListr(
              phases.map((p) => ({
                title: p,
                task: async (_c: unknown, task: ListrTaskWrapper<unknown, any, any>) => {
                  const v = batch.get(p)!;
                  v.task = task;
                  task.title = v.title;
                  await v.finished;
                  task.title = v.detail ? `${p}: ${v.detail}` : v.title;
                  if (v.status === 'failed') throw new Error(`${p}: ${v.detail ?? 'failed'}`);
                  if (v.status === 'skipped') task.skip(`${p}: ${v.detail ?? 'skipped'}`);
                },
              })),
              { concurrent: false, exitOnError: false },
            ),
        },
      ],
      {
        exitOnError: false,
        registerSignalListeners: false,
        renderer: mode === 'tree' ? 'default' : mode,
        rendererOptions:
          mode === 'tree'
            ? { collapseSubtasks: false, collapseErrors: false, showErrorMessage: true }
            : mode === 'test'
              ? { logger: new ListrLogger({ processOutput: new ProcessOutput(out as NodeJS.WriteStream, out as NodeJS.WriteStream) }) }
              : {},
      } as never,
    );
    chain = chain.then(() => list.run().then(() => undefined, () => undefined));
  };

  const finishAll = (status: 'skipped' | 'failed', detail: string) => {
    for (const v of views.values()) {
      if (v.status) continue;
      v.status = status;
      v.detail = detail;
      v.finish();
    }
  };

  return {
    onEvent(e) {
      switch (e.type) {
        case 'preflight:start':
          if (!lines) startList('preflight', ['preflight']);
          break;
        case 'run:start':
          if (lines) print(`RUN [${runName(e.run)}] ${'*'.repeat(40)}`);
          else startList(`run ${runName(e.run)}`, RUN_PHASES);
          break;
        case 'phase:start': {
          const v = views.get(e.phase);
          if (v) {
            v.title = `${e.phase}: ${e.title}`;
            if (v.task) v.task.title = v.title;
          }
          break;
        }
        case 'phase:end': {
          if (lines) print(`${e.run ? `[${runName(e.run)}] ` : ''}${e.phase} ${e.status === 'done' ? 'ok' : e.status}: ${e.detail}`);
          const v = views.get(e.phase);
          if (v && !v.status) {
            v.status = e.status;
            v.detail = e.detail;
            v.finish();
          }
          break;
        }
        case 'run:end':
          if (lines) print(`[${runName(e.run)}] ${e.failed ? `FAILED: ${e.failed}` : e.summary}`);
          finishAll(e.failed ? 'failed' : 'skipped', e.failed ? 'not reached: the run failed' : 'not needed');
          break;
        case 'log':
          if (opts.verbose) (lines ? print : (t: string) => (chain = chain.then(() => print(t))))(e.line);
          break;
      }
    },
    done: () => {
      finishAll('skipped', 'not reached');
      return chain;
    },
  };
}
