// Where a real server suppresses ARP for the VIPs it carries on lo / tunl0 (lvs_arp_scope).
//
// The kernel judges arp_ignore and arp_announce per interface as the higher of conf/all and
// conf/<dev>. `all` (the LVS HOWTO's recipe, lvsplay's default) therefore reaches every interface,
// present and future: a Docker bridge, a veth or a macvlan then stops answering ARP for the host's
// addresses on other interfaces (seed 004). `interfaces` sets only `lo` and the LAN interface, the
// ones that face the VIP, and leaves `all` as the host had it.
//
// Switching scope removes what the other scope had persisted in lvsplay's own sysctl.d file and
// puts those kernel values back to the kernel default (0) — only where that file had set them and
// the kernel still runs them; a value found anywhere else is not lvsplay's and stays.
import { ipv4ConfKey } from '../../lib/lvs/index.ts';
import type { ClusterModel } from '../../lib/lvs/index.ts';
import { sysctl } from '../../lib/modules/index.ts';
import type { Task } from '../../lib/types.ts';

export type ArpScope = ClusterModel['arpScope'];

/** `-t arp` converges the ARP settings alone (a scope switch in seconds). */
export const ARP_TAG = 'arp';

/** What the kernel has for arp_ignore / arp_announce before anyone sets them. */
export const ARP_KERNEL_DEFAULT = 0;

/** The values that keep a host carrying a VIP on lo or tunl0 from answering or announcing it. */
export const ARP_VALUES = { arp_ignore: 1, arp_announce: 2 } as const;

/** The devices besides the LAN interface each scope sets. */
export const ARP_SCOPE_DEVICES: Record<ArpScope, string[]> = {
  all: ['all'],
  interfaces: ['lo'],
};

const WHY: Record<keyof typeof ARP_VALUES, string> = {
  arp_ignore: 'answer ARP only for addresses of the interface asked',
  arp_announce: "ARP from the interface's own address",
};

export interface ArpPlan {
  /** devices set to ARP_VALUES, the LAN interface last */
  set: string[];
  /** devices of the other scope: their lines leave lvsplay's file, their values go back to the kernel default */
  unset: string[];
}

export function arpPlan(scope: ArpScope, lanInterface: string): ArpPlan {
  const set = [...ARP_SCOPE_DEVICES[scope], lanInterface];
  const others = Object.values(ARP_SCOPE_DEVICES).flat();
  return { set, unset: [...new Set(others)].filter((d) => !set.includes(d)) };
}

/** The scope's devices set first, then the other scope's undone: the LAN interface never drops below ARP_VALUES in between. */
export function arpTasks(scope: ArpScope, lanInterface: string): Task[] {
  const { set, unset } = arpPlan(scope, lanInterface);
  const names = Object.keys(ARP_VALUES) as (keyof typeof ARP_VALUES)[];
  return [
    ...set.flatMap((dev) => names.map((n) => sysctl({ key: ipv4ConfKey(dev, n), value: ARP_VALUES[n] }, { name: `${dev}: ${WHY[n]}`, tags: [ARP_TAG] }))),
    ...unset.flatMap((dev) =>
      names.map((n) =>
        sysctl(
          { key: ipv4ConfKey(dev, n), state: 'absent', restore: ARP_KERNEL_DEFAULT },
          { name: `${dev}: ${n} no longer lvsplay's (lvs_arp_scope: ${scope})`, tags: [ARP_TAG] },
        ),
      ),
    ),
  ];
}
