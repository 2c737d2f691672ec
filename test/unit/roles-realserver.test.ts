import test from 'ava';
import { sh } from '../../lib/shell.ts';
import realserver from '../../roles/realserver/index.ts';
import { NETWORK_UNIT, networkUnit, systemdQuote } from '../../roles/realserver/network.ts';
import { LAB, byModule, load, render, roleVars, validate } from './lvs-fixtures.ts';

async function realserver_(host = 'real1', extra: Record<string, unknown> = {}) {
  const inv = await load(LAB, extra);
  validate(inv, realserver, extra);
  const vars = roleVars(inv, realserver, host, extra);
  return { vars, tasks: realserver.tasks(vars as never) };
}

const NAT = { lvs_services: [{ port: 80, lb_kind: 'NAT' }], lvs_nat_gateway: '172.28.128.250' };
const TUN = { lvs_services: [{ port: 80, lb_kind: 'TUN' }] };

test('DR (the lab): nginx, the page, the site; ARP sysctls on all and the LAN interface; the VIP on lo, persistent', async (t) => {
  const { tasks } = await realserver_('real1');
  t.deepEqual(byModule(tasks, 'pkg')[0].args.names, ['nginx']);
  t.deepEqual(
    byModule(tasks, 'sysctl').filter((s) => s.args.state !== 'absent').map((s) => [s.args.key, s.args.value]),
    [
      ['net.ipv4.conf.all.arp_ignore', 1],
      ['net.ipv4.conf.all.arp_announce', 2],
      ['net.ipv4.conf.eth1.arp_ignore', 1],
      ['net.ipv4.conf.eth1.arp_announce', 2],
    ],
  );
  t.deepEqual(byModule(tasks, 'address').map((a) => a.args), [{ dev: 'lo', cidr: '172.28.128.200/32', persist: true }]);
  t.deepEqual(byModule(tasks, 'kmod'), []);
  t.deepEqual(byModule(tasks, 'command'), []);
  t.deepEqual(byModule(tasks, 'copy'), [], 'no tunnel or routes unit in DR');
  const files = byModule(tasks, 'file').map((f) => f.args);
  t.deepEqual(files, [
    { path: '/var/www/lvsplay', state: 'directory', mode: '0755' },
    { path: '/etc/nginx/sites-enabled/lvsplay', state: 'link', src: '/etc/nginx/sites-available/lvsplay' },
    { path: '/etc/nginx/sites-enabled/default', state: 'absent' },
  ]);
  t.like(tasks.at(-1)!.args, { name: 'nginx', state: 'started', enabled: true });
  // every task that touches nginx's configuration reloads it
  for (const x of tasks.filter((x) => /nginx\/sites/.test(JSON.stringify(x.args)))) t.deepEqual(x.notify, ['reload nginx']);
});

test('the page names the real server as `served-by: <inventory_hostname>`; /healthz answers 200', async (t) => {
  const { vars, tasks } = await realserver_('real2');
  const [page, site] = byModule(tasks, 'template');
  t.is(page.args.dest, '/var/www/lvsplay/index.html');
  t.regex(await render(realserver, vars, page), /^served-by: real2$/m);
  const conf = await render(realserver, vars, site);
  t.is(site.args.dest, '/etc/nginx/sites-available/lvsplay');
  t.regex(conf, /^\s*listen 80 default_server;$/m);
  t.regex(conf, /^\s*root \/var\/www\/lvsplay;$/m);
  t.regex(conf, /^\s*add_header X-Served-By real2 always;$/m);
  t.regex(conf, /location = \/healthz {\s*access_log off;\s*default_type text\/plain;\s*return 200 "ok\\n";\s*}/);
  t.is((conf.match(/{/g) ?? []).length, (conf.match(/}/g) ?? []).length);
});

test('custom health path and status, every TCP port listened on', async (t) => {
  const extra = { lvs_services: [{ port: 80, check: { path: '/ready', status: 204 } }, { port: 8080 }, { port: 53, protocol: 'udp', check: { type: 'TCP_CHECK' } }] };
  const { vars, tasks } = await realserver_('real1', extra);
  const conf = await render(realserver, vars, byModule(tasks, 'template')[1]);
  t.deepEqual([...conf.matchAll(/listen (\d+) default_server/g)].map((m) => m[1]), ['80', '8080']);
  t.regex(conf, /location = \/ready {[^}]*return 204 "ok\\n";/);
  t.regex(conf, /location = \/healthz {[^}]*return 200 "ok\\n";/);
});

test('TUN: ipip loaded, loose rp_filter on tunl0, the VIP on tunl0, tunl0 up now and at boot', async (t) => {
  const { tasks } = await realserver_('real1', TUN);
  t.deepEqual(byModule(tasks, 'kmod').map((k) => k.args), [{ name: 'ipip', persist: true }]);
  t.deepEqual(byModule(tasks, 'address').map((a) => a.args), [{ dev: 'tunl0', cidr: '172.28.128.200/32', persist: true }]);
  t.true(byModule(tasks, 'sysctl').some((s) => s.args.key === 'net.ipv4.conf.tunl0.rp_filter' && s.args.value === 2));
  t.true(byModule(tasks, 'sysctl').some((s) => s.args.key === 'net.ipv4.conf.all.arp_ignore'), 'the VIP is local: ARP still suppressed');
  const [up] = byModule(tasks, 'command');
  t.is(up.args.cmd.text, 'ip link set tunl0 up');
  t.regex(up.args.unless.text, /ip -o link show tunl0/);
  const [unit] = byModule(tasks, 'copy');
  t.is(unit.args.dest, `/etc/systemd/system/${NETWORK_UNIT}`);
  t.regex(unit.args.content, /^ExecStart=\/bin\/sh -c "ip link set tunl0 up"$/m);
  t.deepEqual(unit.notify, ['reload realserver network unit']);
  t.like(byModule(tasks, 'service')[0].args, { name: NETWORK_UNIT, enabled: true });
});

test('NAT: no VIP on the host, no ARP sysctls; default and the client routed through the gateway, guarded by probes', async (t) => {
  const { tasks } = await realserver_('real2', NAT);
  t.deepEqual(byModule(tasks, 'address'), []);
  t.deepEqual(byModule(tasks, 'sysctl'), []);
  const cmds = byModule(tasks, 'command').map((c) => [c.args.cmd.text, c.args.unless.text]);
  t.deepEqual(cmds, [
    ['ip -4 route replace default via 172.28.128.250 dev eth1', "ip -4 route show exact default | grep -qF 'via 172.28.128.250 dev eth1'"],
    ['ip -4 route replace 172.28.128.40/32 via 172.28.128.250 dev eth1', "ip -4 route show exact 172.28.128.40/32 | grep -qF 'via 172.28.128.250 dev eth1'"],
  ]);
  const unit = byModule(tasks, 'copy')[0].args.content as string;
  t.regex(unit, /^ExecStart=\/bin\/sh -c "ip -4 route replace default via 172\.28\.128\.250 dev eth1"$/m);
  t.regex(unit, /^\[Install\]\nWantedBy=multi-user\.target$/m);
});

test('the boot unit escapes what systemd would expand', (t) => {
  const unit = networkUnit({ lanInterface: 'eth1', loVips: [], tunnelVips: [], nat: { gateway: '10.0.0.1', routes: ['default'] }, ports: [], checks: [], arpSysctls: false })!;
  t.regex(unit, /Type=oneshot/);
  t.is(networkUnit({ lanInterface: 'eth1', loVips: ['10.0.0.9'], tunnelVips: [], ports: [{ port: 80, tls: false }], checks: [], arpSysctls: true }), null);
  t.is(systemdQuote(sh`echo ${'50% of $HOME'}`.text), `"echo '50%% of $$HOME'"`);
  t.is(systemdQuote('printf "a\\b"'), '"printf \\"a\\\\b\\""');
});

test('lvs_nginx_package and lvs_www_root can be changed', async (t) => {
  const { tasks } = await realserver_('real1', { lvs_nginx_package: 'nginx-light', lvs_www_root: '/srv/www' });
  t.deepEqual(byModule(tasks, 'pkg')[0].args.names, ['nginx-light']);
  t.is(byModule(tasks, 'template')[0].args.dest, '/srv/www/index.html');
});
