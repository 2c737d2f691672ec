import { clusterFromRoleVars, ipv4ConfKey } from '../../lib/lvs/index.ts';
import { address, command, copy, file, kmod, pkg, service, sysctl, template } from '../../lib/modules/index.ts';
import type { RoleVars, Task } from '../../lib/types.ts';
import { defaults, type RealserverVars } from './defaults.ts';
import { arpTasks } from './arp.ts';
import { NETWORK_UNIT, networkSteps, networkUnit } from './network.ts';
import { realserverPlan } from './plan.ts';
import { TLS, tlsCertificate } from './tls.ts';

const SITE = '/etc/nginx/sites-available/lvsplay';

export default function tasks(vars: RealserverVars & RoleVars): Task[] {
  const host = vars.inventory_hostname;
  const model = clusterFromRoleVars(vars);
  const plan = realserverPlan(model, host, vars.facts);
  const root = vars.lvs_www_root ?? defaults.lvs_www_root!;
  const unit = networkUnit(plan);
  const tls = plan.ports.some((p) => p.tls);

  return [
    pkg({ names: [vars.lvs_nginx_package ?? defaults.lvs_nginx_package!] }, { name: 'nginx' }),
    ...(tls ? [pkg({ names: ['openssl'] }, { name: 'HTTPS: openssl' }), tlsCertificate(host)] : []),
    file({ path: root, state: 'directory', mode: '0755' }),
    template({ src: 'index.html.ejs', dest: `${root}/index.html`, mode: '0644', vars: { servedBy: host } }, { name: 'page naming this real server' }),
    template(
      { src: 'site.conf.ejs', dest: SITE, mode: '0644', vars: { site: { servedBy: host, root, ports: plan.ports, checks: plan.checks, upstream: plan.upstream, tls: tls ? TLS : undefined } } },
      { name: 'nginx site', notify: ['reload nginx'] },
    ),
    file({ path: '/etc/nginx/sites-enabled/lvsplay', state: 'link', src: SITE }, { notify: ['reload nginx'] }),
    file({ path: '/etc/nginx/sites-enabled/default', state: 'absent' }, { name: "nginx's default site off", notify: ['reload nginx'] }),

    // A VIP sits on this host (lo or tunl0) but only the director may answer ARP for it.
    ...(plan.arpSysctls ? arpTasks(model.arpScope, plan.lanInterface) : []),
    ...plan.loVips.map((vip) => address({ dev: 'lo', cidr: `${vip}/32`, persist: true }, { name: `DR: VIP ${vip} on lo` })),

    ...(plan.tunnelVips.length
      ? [
          kmod({ name: 'ipip', persist: true }, { name: 'TUN: kernel module ipip (tunl0)' }),
          // Decapsulated packets arrive on tunl0 from a client routed via the LAN interface: strict
          // reverse-path filtering drops them. 2 (loose) on tunl0 wins whatever `all` says (the
          // kernel uses the higher of the two).
          sysctl({ key: ipv4ConfKey('tunl0', 'rp_filter'), value: 2 }, { name: 'TUN: loose rp_filter on tunl0' }),
          ...plan.tunnelVips.map((vip) => address({ dev: 'tunl0', cidr: `${vip}/32`, persist: true }, { name: `TUN: VIP ${vip} on tunl0` })),
        ]
      : []),

    ...networkSteps(plan).map((s) => command({ cmd: s.run, unless: s.probe }, { name: s.name })),
    ...(unit
      ? [
          copy({ content: unit, dest: `/etc/systemd/system/${NETWORK_UNIT}`, mode: '0644' }, { name: 'tunnel and routes at boot', notify: ['reload realserver network unit'] }),
          service({ name: NETWORK_UNIT, enabled: true }, { name: 'tunnel and routes at boot: enabled' }),
        ]
      : []),

    service({ name: 'nginx', state: 'started', enabled: true }, { name: 'nginx running' }),
  ];
}
