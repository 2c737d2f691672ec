// The cluster vars as the inventory writes them (all.vars / host vars), checked with zod.
// Only shapes and ranges live here; relations between values (subnets, VRIDs, priorities…)
// are checked in validate.ts. Values that depend on other values (the VRRP version and advert
// interval follow lvs_profile, VRIDs and priorities follow the layout) are optional here and
// resolved in model.ts, so that "not set" stays distinguishable from "set to the default".
import { z } from 'zod';
import { CHECK_TYPES } from './checks.ts';
import { isCidr, isIPv4 } from './ip.ts';
import { TRACK_KIND_NAMES, TRACK_NAME } from './track.ts';

export const LB_ALGOS = ['rr', 'wrr', 'lc', 'wlc', 'sh', 'dh', 'sed', 'nq', 'mh'] as const;
export const LB_KINDS = ['DR', 'NAT', 'TUN'] as const;
export { CHECK_TYPES };
export const PROFILES = ['default', 'fast'] as const;

export type LbAlgo = (typeof LB_ALGOS)[number];
export type LbKind = (typeof LB_KINDS)[number];

/** What each profile sets when lvs_vrrp_version / lvs_advert_int / lvs_preempt_delay are not given. */
export const PROFILE_VRRP: Record<(typeof PROFILES)[number], { version: 2 | 3; advertInt: number; preemptDelay: number }> = {
  default: { version: 2, advertInt: 1, preemptDelay: 0 },
  // VRRPv3 counts the interval in centiseconds: a backup takes over after 3 × 0.1 s + skew.
  // A director whose link comes back and preempts within a few hundred ms cost the client 2–3 s
  // on the lab (link drill, 2 runs); waiting 3 s before preempting cost it ~0.1 s.
  fast: { version: 3, advertInt: 0.1, preemptDelay: 3 },
};

// Extra vars (-e key=value) arrive as strings: accept "80" for 80 and "true" for true.
const num = <T extends z.ZodTypeAny>(inner: T) =>
  z.preprocess((v) => (typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v) ? Number(v) : v), inner);
const bool = () => z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());
const oneOf = <T extends readonly [string, ...string[]]>(values: T, what: string) =>
  z.enum(values as unknown as [T[number], ...T[number][]], {
    errorMap: () => ({ message: `${what}; expected one of ${values.join(', ')}` }),
  });
const ipv4 = z.string().refine(isIPv4, { message: 'not an IPv4 address' });
const cidr = z.string().refine(isCidr, { message: 'not an IPv4 CIDR such as 172.28.128.0/24' });

export const checkSchema = z
  .object({
    type: oneOf(CHECK_TYPES, 'unknown health check type').default('HTTP_GET'),
    path: z.string().startsWith('/', { message: 'an HTTP path starts with /' }).default('/healthz'),
    status: num(z.number().int().min(100).max(599)).default(200),
    connect_timeout: num(z.number().positive()).default(2),
    retry: num(z.number().int().min(0)).default(1),
    delay_before_retry: num(z.number().positive()).default(1),
    delay_loop: num(z.number().positive()).default(2),
  })
  .strict();

export const serviceSchema = z
  .object({
    port: num(z.number().int().min(1).max(65535)),
    protocol: oneOf(['tcp', 'udp'] as const, 'unknown protocol').default('tcp'),
    lb_algo: oneOf(LB_ALGOS, 'unknown IPVS scheduler (lb_algo)').default('rr'),
    lb_kind: oneOf(LB_KINDS, 'unknown IPVS forwarding method (lb_kind)').default('DR'),
    persistence_timeout: num(z.number().int().min(1)).optional(),
    check: checkSchema.default({}),
    /** the real servers answer this port over HTTPS (default: when its check is SSL_GET) */
    tls: bool().optional(),
  })
  .strict();

// keepalived 2.3.2 reads vrrp_script times in milliseconds; older versions in whole seconds
const scriptSeconds = z
  .number()
  .min(0.001, { message: 'at least 1 ms (0.001)' })
  .max(3600)
  .refine((v) => Math.abs(v * 1000 - Math.round(v * 1000)) < 1e-6, { message: 'whole milliseconds at most (keepalived 2.3.2 and later)' });

/** One tracked check (lvs_track[i]); which keys go together is checked in validate.ts (checkTracks). */
export const trackSchema = z
  .object({
    name: z.string().regex(TRACK_NAME, { message: 'a check name is a letter, then at most 31 letters, digits, `_`, `.` or `-` (keepalived reads it as one word)' }),
    /** an absolute path and its arguments, separated by single spaces */
    command: z.string().optional(),
    kind: oneOf(TRACK_KIND_NAMES, 'unknown check kind').optional(),
    /** kind service: the systemd unit (`nginx` or `nginx.service`) */
    unit: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9:_.@-]{0,254}$/, { message: 'not a systemd unit name' }).optional(),
    /** kind tcp: the local port (127.0.0.1) */
    port: num(z.number().int().min(1).max(65535)).optional(),
    /** kind http: a local URL */
    url: z.string().regex(/^https?:\/\/(127\.0\.0\.1|localhost)(:\d{1,5})?(\/[^\s"'\\#!{}$]*)?$/, { message: 'a local URL: http://127.0.0.1[:port]/path (or localhost, or https), without spaces, quotes, backslashes, `#`, `!`, braces or `$`' }).optional(),
    /** seconds between runs; fractions (whole ms) need keepalived ≥ 2.3.2 (roles/director/keepalived-version.ts) */
    interval: num(scriptSeconds).default(2),
    /** seconds after which a run counts as failed */
    timeout: num(scriptSeconds).default(1),
    /** consecutive failures before the check counts as down, successes before it counts as up */
    fall: num(z.number().int().min(1).max(100)).default(2),
    rise: num(z.number().int().min(1).max(100)).default(2),
    /** 0: the VRRP instance goes FAULT while the check is down; otherwise the priority change */
    weight: num(z.number().int().min(-253, { message: 'keepalived takes weights from -253 to 253 (0: fault)' }).max(253, { message: 'keepalived takes weights from -253 to 253 (0: fault)' })).default(0),
  })
  .strict();

export type TrackVars = z.infer<typeof trackSchema>;
export type ServiceVars = z.infer<typeof serviceSchema>;
export type CheckVars = z.infer<typeof checkSchema>;

export const DEFAULT_SERVICES: z.input<typeof serviceSchema>[] = [
  { port: 80, protocol: 'tcp', lb_algo: 'rr', lb_kind: 'DR', check: { type: 'HTTP_GET', path: '/healthz', status: 200 } },
];

/** Cluster-wide vars: the same on every director (all.vars in the inventory). */
export const clusterVarsSchema = z.object({
  lan_cidr: cidr,
  lvs_vips: z.array(ipv4).optional(),
  lvs_vip_pool: cidr.optional(),
  lvs_services: z.array(serviceSchema).min(1).default(DEFAULT_SERVICES),
  lvs_profile: oneOf(PROFILES, 'unknown profile').default('default'),
  lvs_vrrp_version: num(z.number()).pipe(z.union([z.literal(2), z.literal(3)], { errorMap: () => ({ message: 'VRRP version is 2 or 3' }) })).optional(),
  lvs_advert_int: num(z.number().positive()).optional(),
  /** VRRP adverts by unicast to the other directors' lan_ip (unicast_src_ip / unicast_peer) instead of multicast to 224.0.0.18 */
  lvs_vrrp_unicast: bool().default(false),
  lvs_vrids: z.array(num(z.number().int().min(1).max(255))).optional(),
  // YAML reads `auth_pass: 1234` as a number: take it as the text it was written as.
  lvs_auth_pass: z.union([z.string().min(1), z.number().transform(String)]).optional(),
  lvs_active_active: bool().default(false),
  lvs_preempt: bool().default(true),
  // keepalived's range: whole seconds 0..1000
  lvs_preempt_delay: num(z.number().int().min(0).max(1000)).optional(),
  lvs_script_user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, { message: 'not a user name' }).default('nobody'),
  lvs_sync_daemon: bool().default(true),
  // seconds; 0: the kernel's packet-count rule only (see SYNC_FLUSH_S in model.ts)
  lvs_sync_refresh: num(z.number().int().min(0).max(60)).optional(),
  /** remove the VIPs and IPVS services when keepalived dies without its own cleanup (roles/director/crash-cleanup.ts) */
  lvs_crash_cleanup: bool().default(true),
  lvs_arp_scope: oneOf(['all', 'interfaces'] as const, 'unknown ARP scope (where the real servers set arp_ignore/arp_announce)').default('all'),
  lvs_nat_gateway: ipv4.optional(),
  lvs_track: z.array(trackSchema).default([]),
  lvs_nat_routes: z.array(z.string().refine((s) => s === 'default' || isCidr(s), { message: 'a route is `default` or a CIDR' })).optional(),
});

export type ClusterVars = z.infer<typeof clusterVarsSchema>;
export type ClusterVarsInput = z.input<typeof clusterVarsSchema>;

/** The keys of clusterVarsSchema: these must agree across the directors. */
export const CLUSTER_KEYS = Object.keys(clusterVarsSchema.shape) as (keyof ClusterVars)[];

/** Per-host vars. */
export const hostVarsSchema = z.object({
  lan_ip: ipv4.optional(),
  lvs_priority: num(z.number().int()).optional(),
  lvs_weight: num(z.number().int().min(0).max(65535)).default(1),
  /** real server: `host:port` its /healthz asks before answering 200 (the two-level check) */
  lvs_upstream: z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, { message: 'expected host:port, e.g. 192.168.2.31:8081' }).optional(),
  lvs_lan_interface: z.string().regex(/^[A-Za-z0-9_.:@-]{1,15}$/, { message: 'not an interface name' }).optional(),
});

export type HostVars = z.infer<typeof hostVarsSchema>;

/** `['lvs_services', 0, 'lb_algo']` → `lvs_services[0].lb_algo` */
export function keyPath(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i ? `.${p}` : p)).join('');
}

/** The value at `path` in `obj`, for error messages. */
export function valueAt(obj: unknown, path: (string | number)[]): unknown {
  let v: unknown = obj;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[p] : undefined;
  return v;
}

export const show = (v: unknown): string => (v === undefined ? '(not set)' : JSON.stringify(v));
