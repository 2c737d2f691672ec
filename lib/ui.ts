// The progress view: a listr2 tree per batch (one concurrent task per host) on a terminal, a clean
// line per task result elsewhere. A view over runner events only — no work happens here.
import { Listr, ListrLogger, ProcessOutput, type ListrTaskWrapper } from 'listr2';
import { formatDiff, formatFailure, formatResultLine, playHeader, type FormatOptions } from './report.ts';
import type { HostStats, RunEvent, TaskResult } from './types.ts';

export interface UiOptions {
  out?: NodeJS.WritableStream;
  /** print commands and their output (the runner's and the pool's 'log' events) */
  verbose?: boolean;
  /** print unified diffs of changes */
  diff?: boolean;
  color?: boolean;
  /**
   * 'tree': listr2's live tree (default on a TTY without CI and without -v);
   * 'lines': one line per task result (the default elsewhere);
   * 'test' / 'silent': the tree with listr2's test or silent renderer (for tests).
   */
  mode?: 'tree' | 'lines' | 'test' | 'silent';
}

export interface Ui {
  onEvent(e: RunEvent): void;
  /** resolves once every tree has finished rendering and its trailing output is printed */
  done(): Promise<void>;
}

interface HostView {
  title: string;
  output?: string;
  counts: HostStats;
  results: TaskResult[];
  task?: ListrTaskWrapper<unknown, any, any>;
  failed?: string;
  finish: () => void;
  finished: Promise<void>;
}

export function defaultUiMode(out: NodeJS.WritableStream, verbose: boolean): 'tree' | 'lines' {
  const ci = !!process.env.CI && process.env.CI !== 'false';
  return (out as NodeJS.WriteStream).isTTY && !ci && !verbose ? 'tree' : 'lines';
}

export function createUi(opts: UiOptions = {}): Ui {
  const out = opts.out ?? process.stdout;
  const mode = opts.mode ?? defaultUiMode(out, !!opts.verbose);
  const fmt: FormatOptions = { color: opts.color };
  const print = (text: string): void => void out.write(`${text}\n`);
  const lines = mode === 'lines';

  let views = new Map<string, HostView>();
  // Trees render one after another: a batch's tree starts once the previous one is drawn.
  let chain: Promise<void> = Promise.resolve();
  const later = (fn: () => void | Promise<unknown>) => {
    chain = chain.then(fn).then(() => undefined);
  };

  const newView = (host: string): HostView => {
    let finish!: () => void;
    const finished = new Promise<void>((r) => (finish = r));
    return { title: `${host}: waiting`, counts: { ok: 0, changed: 0, unreachable: 0, failed: 0, skipped: 0 }, results: [], finish, finished };
  };
  const show = (v: HostView) => {
    if (!v.task) return;
    v.task.title = v.title;
    if (v.output !== undefined) v.task.output = v.output;
  };
  const countsText = (s: HostStats) =>
    Object.entries(s)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k}=${n}`)
      .join(' ') || 'nothing to do';

  const startTree = (hosts: string[]) => {
    const batch = views;
    const listr = new Listr(
      hosts.map((host) => ({
        title: host,
        task: async (_ctx: unknown, task: ListrTaskWrapper<unknown, any, any>) => {
          const v = batch.get(host)!;
          v.task = task;
          show(v);
          await v.finished;
          show(v);
          if (v.failed) throw new Error(v.failed);
        },
      })),
      {
        concurrent: true,
        exitOnError: false,
        registerSignalListeners: false,
        renderer: mode === 'tree' ? 'default' : mode,
        rendererOptions:
          mode === 'tree'
            ? { collapseErrors: false, showErrorMessage: false }
            : mode === 'test'
              ? { logger: new ListrLogger({ processOutput: new ProcessOutput(out as NodeJS.WriteStream, out as NodeJS.WriteStream) }) }
              : {},
      } as never,
    );
    later(async () => {
      await listr.run();
      for (const v of batch.values())
        for (const r of v.results) {
          if (r.diff && opts.diff) print(`[${r.host}] ${r.task}\n${formatDiff(r.diff, fmt)}`);
          if (r.status === 'failed' || r.status === 'unreachable') print(formatFailure(r, fmt));
        }
    });
  };

  const emit = (text: string) => (lines ? print(text) : later(() => print(text)));

  return {
    onEvent(e) {
      switch (e.type) {
        case 'play:start':
          emit(playHeader(e.play) + (e.hosts.length ? '' : '\nskipping: no hosts matched'));
          break;
        case 'batch:start':
          views = new Map(e.hosts.map((h) => [h, newView(h)]));
          if (!lines) startTree(e.hosts);
          break;
        case 'task:start': {
          const v = views.get(e.host);
          if (v) {
            v.title = `${e.host}: ${e.role ? `${e.role} › ` : ''}${e.task}`;
            show(v);
          }
          break;
        }
        case 'task:end': {
          const r = e.result;
          const v = views.get(r.host);
          if (v) {
            v.results.push(r);
            if (r.status === 'changed') v.counts.changed++;
            if (r.status === 'changed' || (r.status === 'failed' && r.ignored)) v.counts.ok++;
            else v.counts[r.status]++;
            v.output = formatResultLine({ ...r, error: undefined }, fmt);
            show(v);
          }
          if (lines) {
            print(formatResultLine(r, fmt));
            if (r.diff && opts.diff) print(formatDiff(r.diff, fmt));
          }
          break;
        }
        case 'host:end': {
          const v = views.get(e.host);
          if (v) {
            v.title = `${e.host}: ${countsText(v.counts)}`;
            if (e.failed || e.unreachable) v.failed = `${e.host}: ${e.unreachable ? 'unreachable' : 'failed'} (${countsText(v.counts)})`;
            v.output = undefined;
            v.finish();
          }
          break;
        }
        case 'play:stopped':
          emit(`play "${e.play}" stopped: ${e.reason}; not run on ${e.hosts.join(', ')}`);
          break;
        case 'log':
          if (opts.verbose) emit(`[${e.host}] | ${e.line}`);
          break;
        case 'host:start': {
          const v = views.get(e.host);
          if (v) {
            v.title = `${e.host}: connecting`;
            show(v);
          }
          break;
        }
        case 'play:end':
          break;
      }
    },
    done: () => chain,
  };
}
