// The upstream host: one tiny HTTP server per port some real server's lvs_upstream names (python3's
// http.server, a systemd template unit per port), each answering GET /healthz with 200. Stopping
// one unit is "that node's upstream died": the node's proxied /healthz fails and keepalived takes
// the node out of every service (the two-level check).
import { command, copy, file, service } from '../../lib/modules/index.ts';
import { sh } from '../../lib/shell.ts';
import type { RoleVars, Task } from '../../lib/types.ts';

export interface UpstreamVars {
  lan_ip?: string;
}

export const UPSTREAM_ROOT = '/srv/lvsplay-upstream';
export const upstreamUnit = (port: number) => `lvsplay-upstream@${port}.service`;

export const UPSTREAM_SERVER = '/usr/local/lib/lvsplay-upstream.py';

// `python3 -m http.server` listens with a backlog of 5 and logs every request to the journal: on the
// emulated lab a stall of the upstream VM let the nodes' health requests pile up ("Possible SYN
// flooding on port 8083"), every node's /healthz failed at once and keepalived took every node out
// of every service for ~40 s. This one queues 128 connections and logs nothing per request.
const SERVER = [
  '# Managed by lvsplay (role upstream): do not edit.',
  'import functools, http.server, sys',
  '',
  'class Quiet(http.server.SimpleHTTPRequestHandler):',
  '    def log_message(self, *args):',
  '        pass',
  '',
  'class Server(http.server.ThreadingHTTPServer):',
  '    request_queue_size = 128',
  '    daemon_threads = True',
  '',
  'port, root = int(sys.argv[1]), sys.argv[2]',
  "Server(('', port), functools.partial(Quiet, directory=root)).serve_forever()",
  '',
].join('\n');

const UNIT = [
  '# Managed by lvsplay (role upstream): do not edit.',
  '[Unit]',
  'Description=lvsplay: upstream stand-in on port %i',
  'After=network.target',
  '',
  '[Service]',
  `ExecStart=/usr/bin/python3 ${UPSTREAM_SERVER} %i ${UPSTREAM_ROOT}`,
  'User=nobody',
  'Restart=on-failure',
  '',
  '[Install]',
  'WantedBy=multi-user.target',
  '',
].join('\n');

/** The ports of this host named by the real servers' lvs_upstream (`host:port`, host = its lan_ip or name). */
export function upstreamPorts(vars: UpstreamVars & RoleVars): number[] {
  const me = [vars.inventory_hostname, vars.lan_ip].filter(Boolean);
  const ports = Object.values(vars.hostvars)
    .map((v) => (typeof v.lvs_upstream === 'string' ? v.lvs_upstream : undefined))
    .filter((u): u is string => !!u && me.includes(u.slice(0, u.lastIndexOf(':'))))
    .map((u) => Number(u.slice(u.lastIndexOf(':') + 1)));
  return [...new Set(ports)].sort((a, b) => a - b);
}

export default function tasks(vars: UpstreamVars & RoleVars): Task[] {
  const ports = upstreamPorts(vars);
  return [
    file({ path: UPSTREAM_ROOT, state: 'directory', mode: '0755' }),
    copy({ content: 'ok\n', dest: `${UPSTREAM_ROOT}/healthz`, mode: '0644' }, { name: 'GET /healthz → 200' }),
    copy({ content: SERVER, dest: UPSTREAM_SERVER, mode: '0644' }, { name: 'upstream server', notify: ['restart upstreams'] }),
    copy({ content: UNIT, dest: '/etc/systemd/system/lvsplay-upstream@.service', mode: '0644' }, { name: 'upstream unit', notify: ['restart upstreams'] }),
    ...ports.map((p) => service({ name: upstreamUnit(p), state: 'started', enabled: true }, { name: `upstream on port ${p}` })),
  ];
}

/** A changed server or unit: systemd reads the unit again, the running servers restart with it. */
export function handlers(): Array<Task & { name: string }> {
  return [command({ cmd: sh`systemctl daemon-reload && systemctl try-restart 'lvsplay-upstream@*.service'` }, { name: 'restart upstreams' }) as Task & { name: string }];
}
