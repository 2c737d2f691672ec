// keepalived's own account of itself. SIGUSR1 makes keepalived dump its state: the VRRP child to
// /tmp/keepalived.data, the checker child to /tmp/keepalived_check.data. The VRRP dump holds the
// VRRP password, so only the lines named here leave the host (filtered by awk on the host) and
// the files are removed. The journal adds what the dump has not: when a check failed, and why.
import { literal, sh } from '../shell.ts';
import { defineFact } from './fact.ts';

export interface InstanceState {
  name: string;
  state: string;
  priority?: number;
  effectivePriority?: number;
  masterRouter?: string;
  /** epoch seconds of the last state change (only when asked for: VRRP_FIELDS_WITH_TRANSITION) */
  lastTransition?: number;
}

type Field = { key: keyof InstanceState; value: (v: string) => string | number };

const num = (v: string) => Number(v);
/** The instance lines the director's verify reads (roles/director/health.ts). */
export const VRRP_FIELDS: Record<string, Field> = {
  State: { key: 'state', value: (v) => v },
  Priority: { key: 'priority', value: num },
  'Effective priority': { key: 'effectivePriority', value: num },
  'Master router': { key: 'masterRouter', value: (v) => v },
};
/** …and since when the instance is in its state: `Last transition = 1795309929.552011 (Sun Nov 22 …)`. */
export const VRRP_FIELDS_WITH_TRANSITION: Record<string, Field> = {
  ...VRRP_FIELDS,
  'Last transition': { key: 'lastTransition', value: (v) => Number(v.split(/\s/)[0]) },
};

/** Pure: the VRRP instances of a keepalived.data dump (or of its Topology lines). */
export function parseKeepalivedData(text: string, fields: Record<string, Field> = VRRP_FIELDS): InstanceState[] {
  const out: InstanceState[] = [];
  let inTopology = !text.includes('------<');
  for (const line of text.split('\n')) {
    if (line.startsWith('------<')) {
      inTopology = line.includes('VRRP Topology');
      continue;
    }
    if (!inTopology) continue;
    const inst = /^ VRRP Instance = (\S+)/.exec(line);
    if (inst) {
      out.push({ name: inst[1], state: '?' });
      continue;
    }
    const m = /^ {3}([A-Za-z ]+?) = (.*)$/.exec(line);
    const field = m && Object.hasOwn(fields, m[1]) ? fields[m[1]] : undefined;
    const cur = out.at(-1);
    if (field && cur) (cur as unknown as Record<string, unknown>)[field.key] = field.value(m![2].trim());
  }
  return out;
}

export interface CheckedReal {
  /** `172.28.128.21:80` */
  addr: string;
  /** keepalived's checkers think it is up (it is in IPVS, or at weight 0 with inhibit_on_failure) */
  alive: boolean;
  failedCheckers: number;
}

export interface CheckedService {
  /** `172.28.128.200:80`, or `FWM 1` */
  addr: string;
  /** the quorum is up (enough real servers alive) */
  alive: boolean;
  reals: CheckedReal[];
}

/** Pure: the virtual servers of a keepalived_check.data dump (or of the probe's filtered lines). */
export function parseCheckerData(text: string): CheckedService[] {
  const out: CheckedService[] = [];
  let inLvs = !text.includes('------< Global');
  let real: CheckedReal | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('------<')) {
      inLvs = line.includes('LVS Topology');
      continue;
    }
    if (!inLvs) continue;
    const vs = /^ VS VIP = (\S+), VPORT = (\d+)/.exec(line) ?? /^ VS FWMARK = (\d+)/.exec(line);
    if (vs) {
      out.push({ addr: vs[2] ? `${vs[1]}:${vs[2]}` : `FWM ${vs[1]}`, alive: false, reals: [] });
      real = undefined;
      continue;
    }
    const svc = out.at(-1);
    if (!svc) continue;
    const rs = /^ {3}RIP = (\S+), RPORT = (\d+)/.exec(line);
    if (rs) {
      real = { addr: `${rs[1]}:${rs[2]}`, alive: false, failedCheckers: 0 };
      svc.reals.push(real);
      continue;
    }
    // keepalived ≥ 2.3 names the service's own line `VS alive` (and gives sorry servers 5-space `alive`)
    const alive = /^ {3}(VS )?alive = (\d+)/.exec(line);
    if (alive) {
      if (alive[1] || !real) svc.alive = alive[2] !== '0';
      else real.alive = alive[2] !== '0';
      continue;
    }
    const failed = /^ {3}num failed checkers = (\d+)/.exec(line);
    if (failed && real) real.failedCheckers = Number(failed[1]);
  }
  return out;
}

export interface KeepalivedDump {
  /** keepalived answered the dump */
  running: boolean;
  /** why there is no dump (not running, hung) */
  error?: string;
  instances: InstanceState[];
  checker: CheckedService[];
}

const CHECKER_MARK = '--- checker';

/** Pure: the output of KEEPALIVED_DUMP. */
export function parseKeepalivedDump(r: { stdout: string; stderr: string; exitCode: number }): KeepalivedDump {
  if (r.exitCode !== 0) return { running: false, error: (r.stderr || r.stdout).trim() || `dump exited ${r.exitCode}`, instances: [], checker: [] };
  const [vrrp, check = ''] = r.stdout.split(`${CHECKER_MARK}\n`);
  return { running: true, instances: parseKeepalivedData(vrrp, VRRP_FIELDS_WITH_TRANSITION), checker: parseCheckerData(check) };
}

const DUMP_WAIT_S = 5;
const FILES = '/tmp/keepalived.data /tmp/keepalived_check.data /tmp/keepalived_parent.data';

/** SIGUSR1 to keepalived (old dumps removed first). Read it FIRST: keepalived writes while the other facts run. */
export const KEEPALIVED_SIGNAL = literal(`pid=$(systemctl show -p MainPID --value keepalived)
if [ -z "$pid" ] || [ "$pid" = 0 ]; then echo 'keepalived is not running' >&2; exit 3; fi
rm -f ${FILES}; kill -USR1 "$pid" || exit 3`);

/**
 * Read LAST: waits (builtins, then one stat per try: forks are slow on an emulated VM) until the
 * dumps exist and stop growing — the checker's may never come (no virtual_server, no checker) —,
 * prints only the VRRP instance lines and the checker's virtual/real server state lines, and
 * removes the files. Exit 3: not running; 4: no answer.
 */
export const KEEPALIVED_DUMP = literal(`pid=$(systemctl show -p MainPID --value keepalived)
if [ -z "$pid" ] || [ "$pid" = 0 ]; then echo 'keepalived is not running' >&2; exit 3; fi
f=/tmp/keepalived.data; c=/tmp/keepalived_check.data
i=0; prev=
while [ $i -lt ${DUMP_WAIT_S * 10} ]; do
  if [ -s "$f" ] && { [ -s "$c" ] || [ $i -ge 20 ]; }; then
    now=$(stat -c %s "$f" "$c" 2>/dev/null)
    [ "$now" = "$prev" ] && break
    prev=$now
  fi
  i=$((i + 1)); sleep 0.1
done
if [ ! -s "$f" ]; then rm -f ${FILES}; echo "keepalived (pid $pid) did not answer SIGUSR1 within ${DUMP_WAIT_S} s: hung?" >&2; exit 4; fi
awk '/^------< /{t = /VRRP Topology/; next} t && /^ VRRP Instance = |^   (State|Priority|Effective priority|Master router|Last transition) = /' "$f"
echo '${CHECKER_MARK}'
[ -f "$c" ] && awk '/^------< /{t = /LVS Topology/; next} t && /^ VS (VIP|FWMARK) = |^   (RIP|alive|VS alive|num failed checkers) = /' "$c"
rm -f ${FILES}
true`);

export type CheckEventKind = 'up' | 'down' | 'failure' | 'start';

export interface CheckEvent {
  /** epoch seconds (journalctl -o short-unix) */
  at: number;
  kind: CheckEventKind;
  /** `172.28.128.21:80`; undefined for a keepalived start */
  real?: string;
  /** `172.28.128.200:80` or `FWM 1` when the line names it */
  vs?: string;
  /** the journal line's message */
  text: string;
}

// `[ip]:proto:port`; a firewall-mark service's real server is `[ip]:none:0`, the service `FWM n`
const ADDR = String.raw`\[([\d.]+)\]:(?:tcp|udp|sctp|none):(\d+)`;
const VS = String.raw`(?:${ADDR}|FWM (\d+))`;
// keepalived 2.2 checker messages (check_http.c, check_tcp.c, ipwrapper.c), in the order tried.
const EVENT_PATTERNS: { kind: CheckEventKind; re: RegExp }[] = [
  { kind: 'start', re: /Starting Keepalived v/ },
  { kind: 'down', re: new RegExp(`Removing service ${ADDR}(?: (?:from|to) VS ${VS})?`) },
  { kind: 'up', re: new RegExp(`Adding service ${ADDR}(?: to VS ${VS})?`) },
  { kind: 'failure', re: new RegExp(`(?:HTTP_CHECK|TCP_CHECK|SSL_CHECK|MISC_CHECK|DNS_CHECK|SMTP_CHECK)? ?(?:on service )?${ADDR}.*(?:failed|[Ee]rror|timeout|Timeout|status code)`) },
  { kind: 'failure', re: new RegExp(`(?:[Ee]rror|[Tt]imeout|failed).*${ADDR}`) },
];

/** Pure: `journalctl -o short-unix` lines of keepalived → checker events, oldest first. */
export function parseCheckJournal(text: string): CheckEvent[] {
  const out: CheckEvent[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+(?:\.\d+)?) \S+ [^:]+: (.*)$/.exec(line);
    if (!m) continue;
    for (const p of EVENT_PATTERNS) {
      const e = p.re.exec(m[2]);
      if (!e) continue;
      const vs = e[3] ? `${e[3]}:${e[4]}` : e[5] ? `FWM ${e[5]}` : undefined;
      out.push({ at: Number(m[1]), kind: p.kind, ...(e[1] ? { real: `${e[1]}:${e[2]}` } : {}), ...(vs ? { vs } : {}), text: m[2].trim() });
      break;
    }
  }
  return out;
}

/** In this order: the signal first, the dump last (see KEEPALIVED_SIGNAL); spread other facts between them. */
export const keepalivedFacts = {
  keepalivedSignal: defineFact({ name: 'kill -USR1 keepalived', command: KEEPALIVED_SIGNAL, parse: (r) => r.exitCode === 0 }),
  keepalived: defineFact({ name: 'keepalived SIGUSR1 dump', command: KEEPALIVED_DUMP, parse: parseKeepalivedDump }),
  // The lines of the checker, bounded: the last 400 of the unit, then the checker's own lines.
  checkJournal: defineFact({
    name: 'journalctl -u keepalived',
    command: sh`journalctl -u keepalived -o short-unix --no-pager -n 400 | grep -E 'Starting Keepalived v|service \\[|server \\[|\\]:(tcp|udp|sctp):[0-9]+' | tail -n 100`,
    parse: (r) => parseCheckJournal(r.stdout),
  }),
  clock: defineFact({ name: 'date +%s', command: sh`date +%s.%N`, parse: (r) => Number(r.stdout.trim()) }),
};
