import type { Module, Task, TaskOptions } from './types.ts';

/** A module as a task factory: `pkg({ names: ['nginx'] }, { notify: ['restart nginx'] })`. */
export type TaskFactory<A> = ((args: A, opts?: TaskOptions) => Task<A>) & { module: Module<A> };

export function defineModule<A>(module: Module<A>): TaskFactory<A> {
  const factory = (args: A, opts: TaskOptions = {}): Task<A> => ({ ...opts, module, args });
  return Object.assign(factory, { module });
}
