// Before any run: what the drill needs from the inventory (drillTargets), then the cluster as it
// runs — the client serving every VIP, keepalived active with its deployed VRRP timing on each
// director, exactly one holder per VIP.
import { clusterFromInventory, type ClusterModel } from '../lvs/index.ts';
import { crashCleanupDeployed } from '../../roles/director/crash-cleanup.ts';
import { hostLanInterface } from '../lvs/views.ts';
import { interfaceFacts } from '../facts.ts';
import { emptyFacts } from '../runner.ts';
import { sh } from '../shell.ts';
import { ConfigError, type Conn, type Inventory } from '../types.ts';
import type { Links } from './links.ts';
import { instanceScripts, parseKeepalivedConf, vipHolders, type DeployedKeepalived, type DeployedScript } from './observe.ts';
import type { DrillOptions } from './options.ts';
import { phase } from './phase.ts';
import { DrillError, type Emit } from './types.ts';

export interface Director {
  name: string;
  lanInterface: string;
  /** from its deployed keepalived.conf: this VIP's instance */
  priority: number;
  advertInt: number;
  vrrpVersion: 2 | 3;
  /** preempt_delay (s), nopreempt and down_timer_adverts as deployed (absent: keepalived's defaults) */
  preemptDelayS?: number;
  preempt: boolean;
  downTimerAdverts?: number;
  /** keepalived.service runs lvsplay's crash cleanup after an unclean end (the drop-in loaded, the script there) */
  crashCleanup: boolean;
  /** the vrrp_scripts this VIP's instance tracks, as deployed */
  tracks?: DeployedScript[];
}

export interface Cluster {
  model: ClusterModel;
  vip: string;
  port: number;
  client: string;
  directors: Record<string, Director>;
  profile: string;
  notes: string[];
}

export interface DrillTargets {
  model: ClusterModel;
  vip: string;
  port: number;
  client: string;
}

/** What the drill needs from the inventory, before any host is touched (ConfigError otherwise). */
export function drillTargets(inventory: Inventory, vip?: string): DrillTargets {
  const model = clusterFromInventory(inventory, (h) => h.vars);
  const chosen = vip ?? model.vips[0]!;
  if (!model.vips.includes(chosen)) throw new ConfigError(`--vip ${chosen} is not a VIP of the cluster (lvs_vips: ${model.vips.join(', ')})`, inventory.file);
  const service = model.services.find((s) => s.vip === chosen && s.protocol === 'tcp');
  if (!service) throw new ConfigError(`the drill probes over TCP (HTTP): VIP ${chosen} has no TCP service in lvs_services`, inventory.file);
  const client = model.clients[0];
  if (!client) throw new ConfigError('the drill runs its probe on a client: the group `clients` is empty or missing', inventory.file);
  if (model.directors.length < 2) throw new ConfigError(`a failover needs two directors; the group directors has ${model.directors.length}`, inventory.file);
  return { model, vip: chosen, port: service.port, client };
}

/** Which profile a deployed VRRP timing is. */
export function profileLabel(version: 2 | 3, advertInt: number): string {
  if (version === 2 && advertInt === 1) return 'default';
  if (version === 3 && advertInt === 0.1) return 'fast';
  return `vrrpv${version}/${advertInt}s`;
}

export async function preflight(links: Links, targets: DrillTargets, opts: DrillOptions, emit: Emit): Promise<Cluster> {
  emit({ type: 'preflight:start' });
  return phase(emit, undefined, 'preflight', `preflight: ${targets.vip}:${targets.port} from ${targets.client}, ${targets.model.directors.join(' + ')}`, async () => {
    const { model, vip, port, client } = targets;
    const reach = async (name: string) => {
      try {
        return await links.get(name);
      } catch (err) {
        throw new DrillError((err as Error).message, 4);
      }
    };
    const notes: string[] = [];
    const [clientConn, ...dirConns] = await Promise.all([reach(client), ...model.directors.map(reach)]);
    const served = await checkClient(clientConn!, client, model);
    const confPath = (name: string) => String(links.host(name).vars.keepalived_conf ?? '/etc/keepalived/keepalived.conf');
    const { directors, addrs } = await readDirectors(dirConns, model, vip, confPath, notes);
    const holders = vipHolders(addrs, model.vips);
    for (const v of model.vips) {
      if (holders[v]!.length > 1) throw new DrillError(`split brain before the drill: ${v} is held by ${holders[v]!.join(' and ')} — the drill stops (find out why both are MASTER)`);
      if (holders[v]!.length === 0) throw new DrillError(`no director holds ${v}: the cluster is down — converge it first (playbooks/site.ts)`);
    }
    const first = directors[model.directors[0]!]!;
    const profile = opts.profile ?? profileLabel(first.vrrpVersion, first.advertInt);
    return {
      value: { model, vip, port, client, directors, profile, notes },
      detail: `${vip} on ${holders[vip]![0]}, ${served} VIP service(s) answer, VRRPv${first.vrrpVersion} advert_int ${first.advertInt} s (${profile})${notes.length ? `; ${notes.join('; ')}` : ''}`,
    };
  });
}

/** The client has python3 for the probe, and every TCP service of every VIP answers 200 to it (HTTPS where the service is TLS); how many. */
async function checkClient(clientConn: Conn, client: string, model: ClusterModel): Promise<number> {
  const urls = model.services.filter((s) => s.protocol === 'tcp').map((s) => `${s.tls ? 'https' : 'http'}://${s.vip}:${s.port}/`);
  // -k: the real servers' certificates are self-signed (generated once per host by the realserver role)
  const curls = urls.map((u) => sh`for i in 1 2 3; do curl -s -k -m 3 -o /dev/null -w '%{http_code} ' ${u}; done`);
  const [py, ...answers] = await clientConn.read([sh`command -v python3`, ...curls]);
  if (py!.exitCode !== 0) throw new DrillError(`${client}: python3 is missing (the probe runs on it)`);
  urls.forEach((u, i) => {
    const codes = answers[i]!.stdout.trim().split(/\s+/);
    if (codes.length < 3 || codes.some((c) => c !== '200')) {
      throw new DrillError(`${client}: ${u} does not answer 200 (got ${codes.join(' ') || 'nothing'}): the cluster is not serving — converge it first (playbooks/site.ts)`);
    }
  });
  return urls.length;
}

/** Each director's addresses, keepalived active, and this VIP's instance in its deployed config. */
async function readDirectors(
  dirConns: Conn[],
  model: ClusterModel,
  vip: string,
  confPath: (name: string) => string,
  notes: string[],
): Promise<{ directors: Record<string, Director>; addrs: Record<string, string> }> {
  const reads = await Promise.all(
    dirConns.map((c, i) =>
      c.read([sh`ip -o -4 addr show`, sh`ip -o link show`, sh`systemctl is-active keepalived`, sh`cat ${confPath(model.directors[i]!)}`, sh`command -v python3`, crashCleanupDeployed()]),
    ),
  );
  const addrs: Record<string, string> = {};
  const directors: Record<string, Director> = {};
  model.directors.forEach((name, i) => {
    const [addr, link, active, conf, dpy, cleanup] = reads[i]!;
    addrs[name] = addr!.stdout;
    if (active!.stdout.trim() !== 'active') throw new DrillError(`${name}: keepalived is ${active!.stdout.trim() || 'not running'}: converge the cluster first (playbooks/site.ts)`);
    if (dpy!.exitCode !== 0) throw new DrillError(`${name}: python3 is missing (the VIP watcher runs on it)`);
    if (conf!.exitCode !== 0) throw new DrillError(`${name}: cannot read ${confPath(name)}: ${conf!.stderr.trim()}`);
    const deployed: DeployedKeepalived = parseKeepalivedConf(conf!.stdout);
    const inst = deployed.instances.find((x) => x.vips.includes(vip));
    if (!inst || inst.priority === undefined || inst.advertInt === undefined) {
      throw new DrillError(`${name}: ${confPath(name)} has no vrrp_instance with ${vip} (priority, advert_int): converge the cluster first`);
    }
    const facts = { ...emptyFacts(name), interfaces: interfaceFacts(addr!.stdout, link!.stdout, '') };
    const lanInterface = inst.interface ?? hostLanInterface(model, name, facts);
    directors[name] = { name, lanInterface, priority: inst.priority, advertInt: inst.advertInt, vrrpVersion: deployed.vrrpVersion ?? 2, preempt: !inst.nopreempt, crashCleanup: cleanup!.exitCode === 0 };
    if (inst.preemptDelay !== undefined) directors[name]!.preemptDelayS = inst.preemptDelay;
    if (inst.downTimerAdverts !== undefined) directors[name]!.downTimerAdverts = inst.downTimerAdverts;
    if (inst.trackScripts) directors[name]!.tracks = instanceScripts(deployed, inst);
    if (inst.advertInt !== model.vrrp.advertInt || (deployed.vrrpVersion ?? 2) !== model.vrrp.version) {
      notes.push(`${name} runs VRRPv${deployed.vrrpVersion ?? 2} advert_int ${inst.advertInt}, the inventory says VRRPv${model.vrrp.version} advert_int ${model.vrrp.advertInt} (pass the same -e as the converge); the theory uses what runs`);
    }
  });
  return { directors, addrs };
}
