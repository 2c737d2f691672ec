// The co-located cluster (inventory/colocated.yml): the model accepts nodes that direct and serve,
// the director renders firewall-mark services and the nftables marks, the real server serves HTTPS
// and the two-level /healthz, the client probes every port, the upstream role its ports.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { clusterFromInventory } from '../../lib/lvs/index.ts';
import client from '../../roles/client/index.ts';
import { colocationArgs, colocationRuleset, colocationUnit, parseNeighbours, recordedMacs } from '../../roles/director/colocation.ts';
import { parseIpvsServices } from '../../roles/director/health.ts';
import realserver from '../../roles/realserver/index.ts';
import { upstreamPorts } from '../../roles/upstream/tasks.ts';
import upstream from '../../roles/upstream/index.ts';
import { ROOT, byModule, load, render, renderDirector, roleVars, validate } from './lvs-fixtures.ts';

const COLOCATED = path.join(ROOT, 'inventory/colocated.yml');
const MACS = { node1: '52:54:00:00:00:01', node2: '52:54:00:00:00:02', node3: '52:54:00:00:00:03', node4: '52:54:00:00:00:04' };

test('the model: four co-located nodes, one fwmark per VIP × port, HTTPS where the check or tls says', async (t) => {
  const inv = await load(COLOCATED);
  const m = clusterFromInventory(inv, (h) => h.vars);
  t.deepEqual(m.colocated, ['node1', 'node2', 'node3', 'node4']);
  t.deepEqual(
    m.services.map((s) => [s.port, s.fwmark, s.tls, s.check.type]),
    [
      [80, 1, false, 'HTTP_GET'],
      [443, 2, true, 'SSL_GET'],
      [8443, 3, true, 'SSL_GET'],
      [6443, 4, true, 'TCP_CHECK'],
    ],
  );
  t.deepEqual(m.realservers.map((r) => r.name), ['node1', 'node2', 'node3', 'node4']);
  const lab = clusterFromInventory(await load(), (h) => h.vars);
  t.deepEqual(lab.colocated, []);
  t.true(lab.services.every((s) => s.fwmark === undefined), 'separate directors keep VIP:port services');
});

test('keepalived.conf on a node: fwmark services with every node as real server, SSL_GET / HTTP_GET / TCP_CHECK blocks', async (t) => {
  const { conf, tasks } = await renderDirector('node2', {}, COLOCATED);
  t.regex(conf, /^# 192\.168\.2\.100:80\/tcp \(marked by \/etc\/lvsplay\/colocation\.nft\)\nvirtual_server fwmark 1 \{$/m);
  t.is([...conf.matchAll(/^virtual_server fwmark (\d+) \{$/gm)].map((x) => x[1]).join(','), '1,2,3,4');
  t.notRegex(conf, /^virtual_server 192/m);
  t.is((conf.match(/real_server 192\.168\.2\.1[1-4] \{/g) ?? []).length, 16, 'no port on a firewall-mark service\'s real servers');
  t.notRegex(conf, /protocol TCP/, 'nor a protocol');
  t.regex(conf, /real_server 192\.168\.2\.13 \{\s*weight 1\s*SSL_GET \{\s*connect_port 443\s*url \{\s*path \/healthz\s*status_code 200\s*\}\s*connect_timeout 3\s*retry 2\s*delay_before_retry 1\s*\}/);
  t.regex(conf, /real_server 192\.168\.2\.11 \{\s*weight 1\s*HTTP_GET \{\s*connect_port 80\s*url \{/);
  // the two-level check reaches every service: 6443's TCP_CHECK is joined by the node's proxied
  // /healthz (port 80's HTTP_GET), so a dead upstream fails the node there too
  t.regex(conf, /real_server 192\.168\.2\.14 \{\s*weight 1\s*TCP_CHECK \{\s*connect_port 6443\s*connect_timeout 3\s*retry 2\s*delay_before_retry 1\s*\}\s*HTTP_GET \{\s*connect_port 80\s*url \{\s*path \/healthz\s*status_code 200\s*\}/);
  t.is((conf.match(/HTTP_GET \{/g) ?? []).length, 8, 'port 80 and 6443 on each of the four nodes, nowhere else');
  t.regex(conf, /priority 101\n/);
  t.is((conf.match(/{/g) ?? []).length, (conf.match(/}/g) ?? []).length);
  // the marks come before keepalived.conf, which relies on them
  const names = tasks.map((x) => x.module.name);
  t.true(names.indexOf('colocation_marks') < names.indexOf('template'));
  t.deepEqual(byModule(tasks, 'pkg').map((p) => p.args.names), [['keepalived', 'ipvsadm'], ['nftables']]);
});

test('the verify step expects the fwmark services as ipvsadm lists them', async (t) => {
  const { vars } = await renderDirector('node1', {}, COLOCATED);
  const { director } = await import('../../roles/director/index.ts');
  const [health] = director.verify!(vars as never);
  t.deepEqual(health.args.services, ['FWM 1', 'FWM 2', 'FWM 3', 'FWM 4']);
  t.deepEqual(parseIpvsServices('IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port\nFWM  1 rr\n  -> 192.168.2.11:80 Local 1 0 0\nTCP  10.0.0.1:80 rr\n'), ['FWM 1', 'TCP 10.0.0.1:80']);
});

test('the nftables ruleset: the directors\' MACs skip marking, each VIP:port gets its mark', async (t) => {
  const inv = await load(COLOCATED);
  const args = colocationArgs(clusterFromInventory(inv, (h) => h.vars), 'node3', 'eth1')!;
  t.deepEqual(args.directors.map((d) => d.ip), ['192.168.2.11', '192.168.2.12', '192.168.2.13', '192.168.2.14']);
  const rules = colocationRuleset(args, MACS);
  t.regex(rules, /^table ip lvsplay\ndelete table ip lvsplay\ntable ip lvsplay \{$/m, 'replaced atomically as a whole');
  t.regex(rules, /elements = \{ 52:54:00:00:00:01, 52:54:00:00:00:02, 52:54:00:00:00:03, 52:54:00:00:00:04 \}/);
  t.regex(rules, /type filter hook prerouting priority mangle; policy accept;\n\s*ether saddr @directors return\n\s*ip daddr 192\.168\.2\.100 tcp dport 80 meta mark set 1\n\s*ip daddr 192\.168\.2\.100 tcp dport 443 meta mark set 2\n\s*ip daddr 192\.168\.2\.100 tcp dport 8443 meta mark set 3\n\s*ip daddr 192\.168\.2\.100 tcp dport 6443 meta mark set 4\n/);
  t.deepEqual(recordedMacs(rules), MACS, 'a later run can fall back on the MACs recorded here');
  t.throws(() => colocationRuleset(args, { node1: MACS.node1 }), { message: /no MAC for node2, node3, node4/ });
  t.regex(colocationUnit(args.dest), /^ExecStart=\/usr\/sbin\/nft -f \/etc\/lvsplay\/colocation\.nft$/m);
  t.regex(colocationUnit(args.dest), /^Before=network-pre\.target keepalived\.service$/m);
  t.is(colocationArgs(clusterFromInventory(await load(), (h) => h.vars), 'bal1', 'eth1'), undefined, 'nothing to mark without co-location');
});

test('parseNeighbours: only entries with a MAC', (t) => {
  const text = [
    '192.168.2.12 lladdr 52:54:00:AA:bb:cc REACHABLE',
    '192.168.2.13 INCOMPLETE',
    '192.168.2.14 lladdr 52:54:00:11:22:33 STALE',
    '192.168.2.15 FAILED',
  ].join('\n');
  t.deepEqual(parseNeighbours(text), { '192.168.2.12': '52:54:00:aa:bb:cc', '192.168.2.14': '52:54:00:11:22:33' });
});

// nft parses the ruleset for real when this machine has it (the guests always do)
const withNft = existsSync('/usr/sbin/nft') ? test : test.skip;
withNft('nft -c accepts the ruleset', async (t) => {
  const inv = await load(COLOCATED);
  const rules = colocationRuleset(colocationArgs(clusterFromInventory(inv, (h) => h.vars), 'node1', 'eth1')!, MACS);
  t.notThrows(() => execFileSync('/usr/sbin/nft', ['-c', '-f', '-'], { input: rules }));
});

test('a node as real server: the VIP on lo, HTTPS on 443/8443/6443 with its own certificate, /healthz proxied to its upstream', async (t) => {
  const inv = await load(COLOCATED);
  validate(inv, realserver);
  const vars = roleVars(inv, realserver, 'node2');
  const tasks = realserver.tasks(vars as never);
  t.deepEqual(byModule(tasks, 'address').map((a) => a.args), [{ dev: 'lo', cidr: '192.168.2.100/32', persist: true }]);
  t.deepEqual(byModule(tasks, 'pkg').map((p) => p.args.names), [['nginx'], ['openssl']]);
  const [cert] = byModule(tasks, 'command');
  t.regex(cert.args.cmd.text, /^umask 077 && openssl req -x509 -newkey ec .* -subj \/CN=node2 .*-keyout \/etc\/ssl\/private\/lvsplay\.key\.new -out \/etc\/ssl\/certs\/lvsplay\.pem\.new .*&& mv -f \/etc\/ssl\/certs\/lvsplay\.pem\.new \/etc\/ssl\/certs\/lvsplay\.pem$/);
  t.is(cert.args.unless.text, 'test -s /etc/ssl/certs/lvsplay.pem && test -s /etc/ssl/private/lvsplay.key', 'generated once, then kept');
  t.deepEqual(cert.notify, ['reload nginx']);
  const conf = await render(realserver, vars, byModule(tasks, 'template')[1]);
  t.deepEqual([...conf.matchAll(/^\s*listen (.*) default_server;$/gm)].map((x) => x[1]), ['80', '443 ssl', '8443 ssl', '6443 ssl']);
  t.regex(conf, /ssl_certificate \/etc\/ssl\/certs\/lvsplay\.pem;\n\s*ssl_certificate_key \/etc\/ssl\/private\/lvsplay\.key;/);
  t.regex(conf, /location = \/healthz \{\s*access_log off;\s*proxy_pass http:\/\/192\.168\.2\.31:8082\/healthz;\s*proxy_connect_timeout 1s;\s*proxy_read_timeout 1s;\s*proxy_cache lvsplay_health;\s*proxy_cache_key lvsplay-health;\s*proxy_cache_valid 200 1s;\s*proxy_cache_lock on;\s*\}/);
  t.regex(conf, /^proxy_cache_path \/var\/cache\/lvsplay-health .*keys_zone=lvsplay_health:1m/m, 'the upstream sees one request a second per node');
  t.is((conf.match(/{/g) ?? []).length, (conf.match(/}/g) ?? []).length);
});

test('the client probes every port, HTTPS where served, over the four nodes', async (t) => {
  const inv = await load(COLOCATED);
  const [v] = byModule(client.tasks(roleVars(inv, client, 'client') as never), 'lvs_verify');
  t.deepEqual(
    v.args.targets.map((x: { port: number; tls: boolean }) => [x.port, x.tls]),
    [
      [80, false],
      [443, true],
      [8443, true],
      [6443, true],
    ],
  );
  t.deepEqual(v.args.servers.map((s: { name: string }) => s.name), ['node1', 'node2', 'node3', 'node4']);
});

test('the upstream role: one unit per port the nodes name for it', async (t) => {
  const inv = await load(COLOCATED);
  const vars = roleVars(inv, upstream, 'upstream');
  t.deepEqual(upstreamPorts(vars as never), [8081, 8082, 8083, 8084]);
  const tasks = upstream.tasks(vars as never);
  t.deepEqual(byModule(tasks, 'service').map((s) => s.args.name), ['lvsplay-upstream@8081.service', 'lvsplay-upstream@8082.service', 'lvsplay-upstream@8083.service', 'lvsplay-upstream@8084.service']);
  const [, server, unit] = byModule(tasks, 'copy');
  t.regex(unit!.args.content, /^ExecStart=\/usr\/bin\/python3 \/usr\/local\/lib\/lvsplay-upstream\.py %i \/srv\/lvsplay-upstream$/m);
  // a backlog for every node's health requests at once, no journal line per request
  t.regex(server!.args.content, /request_queue_size = 128/);
  t.regex(server!.args.content, /def log_message\(self, \*args\):\n {8}pass/);
  t.deepEqual([server!.notify, unit!.notify], [['restart upstreams'], ['restart upstreams']]);
  t.deepEqual(upstreamPorts(roleVars(inv, upstream, 'client') as never), [], 'a host no node names serves nothing');
});

test('the drill counts a VIP as held on the LAN side only: every co-located node has it on lo', async (t) => {
  const { vipHolders } = await import('../../lib/drill/observe.ts');
  const backup = ['1: lo    inet 127.0.0.1/8 scope host lo', '1: lo    inet 192.168.2.100/32 scope global lo', '3: eth1    inet 192.168.2.12/24 scope global eth1'].join('\n');
  const master = `${backup.replace('192.168.2.12/24', '192.168.2.11/24')}\n3: eth1    inet 192.168.2.100/32 scope global eth1`;
  t.deepEqual(vipHolders({ node1: master, node2: backup }, ['192.168.2.100']), { '192.168.2.100': ['node1'] });
});
