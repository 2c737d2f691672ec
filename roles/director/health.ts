// The director's verify step: keepalived's own account of itself. SIGUSR1 makes keepalived dump
// its state to /tmp/keepalived.data; a daemon that does not answer is hung, an instance missing or
// at another priority than keepalived.conf says means the running config is not the one on disk,
// FAULT means its interface or a tracked script is down, and a virtual server missing from the
// kernel's IPVS table means the checker process is not doing its job. The dump holds the VRRP
// password, so only the lines read here leave the host, and the file is removed.
import { defineModule } from '../../lib/module.ts';
import { literal } from '../../lib/shell.ts';

// The parsers live in the fact catalogue (lib/facts/), shared with playbooks/status.ts.
import { parseKeepalivedData, type InstanceState } from '../../lib/facts/keepalived.ts';
import { parseIpvsServices } from '../../lib/facts/ipvs.ts';
export { parseKeepalivedData, parseIpvsServices, type InstanceState };

export interface HealthArgs {
  /** instance name → its priority in keepalived.conf */
  instances: Record<string, number>;
  /** `TCP 172.28.128.200:80` or `FWM 1`, as ipvsadm -Ln lists a virtual service */
  services: string[];
  /** how long the state may take to become right after a reload or restart */
  settleMs?: number;
}

/** Pure: what is wrong with the running keepalived, given what keepalived.conf asks for. */
export function healthProblems(states: InstanceState[], ipvs: string[], want: HealthArgs): string[] {
  const problems: string[] = [];
  for (const [name, priority] of Object.entries(want.instances)) {
    const s = states.find((x) => x.name === name);
    if (!s) problems.push(`${name} is not running: keepalived runs another config than the one on disk (a failed reload?)`);
    else if (s.priority !== undefined && s.priority !== priority)
      problems.push(`${name} runs at priority ${s.priority}, keepalived.conf says ${priority}: the new config was not loaded (a failed reload?)`);
    else if (s.state === 'FAULT') problems.push(`${name} is in FAULT: its interface or a tracked script is down`);
    else if (s.state !== 'MASTER' && s.state !== 'BACKUP') problems.push(`${name} is in state ${s.state}`);
  }
  const missing = want.services.filter((svc) => !ipvs.includes(svc));
  if (missing.length) problems.push(`not in the kernel's IPVS table: ${missing.join(', ')} (is keepalived's checker running?)`);
  return problems;
}

export const describeStates = (states: InstanceState[]): string =>
  states.map((s) => `${s.name} ${s.state}${s.state === 'BACKUP' && s.masterRouter ? ` (master ${s.masterRouter})` : ''}`).join(', ');

const DUMP_WAIT_S = 5;
// Waits for the dump to stop growing; prints the Topology lines, then the IPVS table.
const PROBE = literal(`pid=$(systemctl show -p MainPID --value keepalived)
if [ -z "$pid" ] || [ "$pid" = 0 ]; then echo 'keepalived is not running' >&2; exit 3; fi
f=/tmp/keepalived.data
rm -f "$f"; kill -USR1 "$pid" || exit 3
i=0; last=-1
while [ $i -lt ${DUMP_WAIT_S * 10} ]; do
  size=$(stat -c %s "$f" 2>/dev/null || echo -1)
  if [ "$size" -gt 0 ] && [ "$size" = "$last" ]; then break; fi
  last=$size; i=$((i + 1)); sleep 0.1
done
if [ ! -s "$f" ]; then echo "keepalived (pid $pid) did not answer SIGUSR1 within ${DUMP_WAIT_S} s: hung?" >&2; exit 4; fi
awk '/^------< /{t = /VRRP Topology/; next} t && /^ VRRP Instance = |^   (State|Priority|Effective priority|Master router) = /' "$f"
rm -f "$f"
echo '---'
ipvsadm -Ln`);

// A reload (SIGHUP) and a restart are asynchronous: the state is asked again until it is right or
// settleMs has passed. A daemon that is not running or does not answer fails at once.
export const keepalivedHealth = defineModule<HealthArgs>({
  name: 'keepalived_health',
  async plan(ctx, args) {
    const deadline = Date.now() + (args.settleMs ?? 5000);
    for (;;) {
      const r = await ctx.conn.exec(PROBE, { nothrow: true, timeoutMs: (DUMP_WAIT_S + 10) * 1000, signal: ctx.signal });
      if (r.exitCode !== 0) throw new Error(`keepalived_health: ${(r.stderr || r.stdout).trim() || `probe exited ${r.exitCode}`}`);
      const [topology, ipvs = ''] = r.stdout.split('\n---\n');
      const states = parseKeepalivedData(topology);
      const problems = healthProblems(states, parseIpvsServices(ipvs), args);
      if (!problems.length) {
        ctx.log(`keepalived: ${describeStates(states)}`);
        return null;
      }
      if (Date.now() > deadline) throw new Error(`keepalived_health: ${problems.join('; ')}`);
      await new Promise((res) => setTimeout(res, 250));
    }
  },
  async apply() {
    // plan() never returns a change
  },
});
