// service: a systemd unit's run state and boot-time enablement.
import { defineModule } from '../module.ts';
import { join, sh, type Command } from '../shell.ts';
import { stateDiff } from '../diff.ts';

export interface ServiceArgs {
  name: string;
  state?: 'started' | 'stopped' | 'restarted' | 'reloaded';
  enabled?: boolean;
}

export type ServiceAction = 'start' | 'stop' | 'restart' | 'reload' | 'enable' | 'disable';

export interface ServiceState {
  /** `systemctl is-active`: active, inactive, failed, activating, … */
  active: string;
  /** `systemctl is-enabled`: enabled, disabled, static, masked, not-found, … */
  enabled: string;
}

const RUNNING = new Set(['active', 'activating', 'reloading']);
/** States in which `enable` has nothing (or nothing possible) to do. */
const ENABLED = new Set(['enabled', 'enabled-runtime', 'static', 'indirect', 'generated', 'alias', 'transient']);

export const unitMissing = (s: ServiceState) => s.enabled === 'not-found' || s.enabled === '';

/**
 * Pure: the systemctl actions that bring `current` to the wanted state, in order (enablement
 * first). restarted/reloaded always act: they are what handlers are for.
 */
export function decideService(current: ServiceState, args: Pick<ServiceArgs, 'state' | 'enabled'>): ServiceAction[] {
  const actions: ServiceAction[] = [];
  if (args.enabled === true && !ENABLED.has(current.enabled)) {
    if (current.enabled === 'masked' || current.enabled === 'masked-runtime') throw new Error('is masked: cannot enable it');
    actions.push('enable');
  }
  if (args.enabled === false && (current.enabled === 'enabled' || current.enabled === 'enabled-runtime')) actions.push('disable');
  const running = RUNNING.has(current.active);
  switch (args.state) {
    case 'started':
      if (!running) actions.push('start');
      break;
    case 'stopped':
      if (running) actions.push('stop');
      break;
    case 'restarted':
      actions.push('restart');
      break;
    case 'reloaded':
      actions.push(running ? 'reload' : 'start');
      break;
    case undefined:
      break;
    default:
      throw new Error(`unknown state ${JSON.stringify(args.state)}`);
  }
  return actions;
}

export const serviceCommand = (name: string, actions: ServiceAction[]): Command =>
  join(actions.map((a) => sh`systemctl ${a} ${name}`), ' && ');

/** Reads `systemctl is-active` / `is-enabled` output (they exit non-zero for "inactive"/"disabled": that is an answer, not an error). */
export function parseServiceState(active: string, enabled: string): ServiceState {
  return { active: active.trim().split('\n')[0] ?? '', enabled: enabled.trim().split('\n')[0] ?? '' };
}

export const service = defineModule<ServiceArgs>({
  name: 'service',
  async plan(ctx, args) {
    const [a, e] = await ctx.conn.read([sh`systemctl is-active ${args.name}`, sh`systemctl is-enabled ${args.name}`]);
    const current = parseServiceState(a.stdout, e.stdout);
    let actions: ServiceAction[];
    try {
      actions = decideService(current, args);
    } catch (err) {
      throw new Error(`service ${args.name}: ${(err as Error).message}`);
    }
    if (actions.length === 0) return null;
    // A unit that is not installed yet may come from an earlier task's package (check mode reads it before it exists).
    const missing = unitMissing(current);
    const after: ServiceState = {
      active: actions.some((x) => x === 'start' || x === 'restart' || x === 'reload') ? 'active' : actions.includes('stop') ? 'inactive' : current.active,
      enabled: actions.includes('enable') ? 'enabled' : actions.includes('disable') ? 'disabled' : current.enabled,
    };
    return {
      summary: `${actions.join(' + ')} ${args.name}${missing ? ' (unit not installed yet)' : ''}`,
      diff: stateDiff(`service ${args.name}`, { ...current }, { ...after }),
      data: { actions, missing },
    };
  },
  async apply(ctx, args, change) {
    const { actions } = change.data as { actions: ServiceAction[] };
    await ctx.conn.exec(serviceCommand(args.name, actions));
  },
});
