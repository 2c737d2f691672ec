// The real server's network state that is not an address: the ipip tunnel device up (TUN) and the
// routes through the directors' gateway (NAT). Applied now by commands guarded by probes, and at
// boot by one oneshot unit (the address module persists the VIPs the same way).
import type { RealserverPlan } from './plan.ts';
import { sh, type Command } from '../../lib/shell.ts';

export const NETWORK_UNIT = 'lvsplay-realserver-net.service';

export interface NetworkStep {
  name: string;
  run: Command;
  /** exits 0 when the step is already in place */
  probe: Command;
}

export function networkSteps(plan: RealserverPlan): NetworkStep[] {
  const steps: NetworkStep[] = [];
  if (plan.tunnelVips.length) {
    steps.push({
      name: 'TUN: tunl0 up',
      run: sh`ip link set tunl0 up`,
      probe: sh`ip -o link show tunl0 | grep -q '[<,]UP[,>]'`,
    });
  }
  if (plan.nat) {
    const { gateway, routes } = plan.nat;
    for (const route of routes) {
      steps.push({
        name: `NAT: route ${route} via ${gateway}`,
        run: sh`ip -4 route replace ${route} via ${gateway} dev ${plan.lanInterface}`,
        probe: sh`ip -4 route show exact ${route} | grep -qF ${`via ${gateway} dev ${plan.lanInterface}`}`,
      });
    }
  }
  return steps;
}

/** A double-quoted systemd argument: C escapes, and `%` / `$` doubled so systemd expands nothing. */
export const systemdQuote = (s: string) => JSON.stringify(s).replace(/%/g, '%%').replace(/\$/g, '$$$$');

/** The unit that replays the steps at boot; null when there are none. */
export function networkUnit(plan: RealserverPlan): string | null {
  const steps = networkSteps(plan);
  if (!steps.length) return null;
  return [
    '# Managed by lvsplay (role realserver): do not edit.',
    '[Unit]',
    'Description=lvsplay: real server tunnel and routes',
    'After=systemd-modules-load.service network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    ...steps.map((s) => `ExecStart=/bin/sh -c ${systemdQuote(s.run.text)}`),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
