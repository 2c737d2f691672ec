// The cluster's plays as data; site.ts runs them all, the per-role playbooks one each.
import type { Play } from '../lib/types.ts';
import { client } from '../roles/client/index.ts';
import { director, directorPackages } from '../roles/director/index.ts';
import { realserver } from '../roles/realserver/index.ts';
import { upstream } from '../roles/upstream/index.ts';

/** The application stand-ins the real servers' nginx proxies /healthz to (co-located inventory). */
export const upstreamPlay: Play = { name: 'upstreams', hosts: 'upstreams', roles: [upstream], optional: true };

/** Real servers first (the VIP on lo and the ARP sysctls before any director sends them traffic). */
export const realserverPlay: Play = { name: 'realservers', hosts: 'realservers', roles: [realserver] };

/** keepalived and ipvsadm on every director at once: installing them takes nothing down. */
export const directorPackagesPlay: Play = { name: 'directors: packages', hosts: 'directors', roles: [directorPackages] };

/** One director at a time, so a rollout never takes the VIP down. */
export const directorPlay: Play = { name: 'directors', hosts: 'directors', roles: [director], serial: 1 };

/** The client checks that every VIP answers from every healthy real server, split by weight. */
export const clientPlay: Play = { name: 'clients', hosts: 'clients', roles: [client] };

export const sitePlays: Play[] = [upstreamPlay, realserverPlay, directorPackagesPlay, directorPlay, clientPlay];
