import test from 'ava';
import { clusterFromInventory, mastersWith } from '../../lib/lvs/index.ts';
import { renderTemplate } from '../../lib/modules/template.ts';
import director from '../../roles/director/index.ts';
import { ACTIVE_ACTIVE, LAB, byModule, labFacts, load, renderDirector, roleVars } from './lvs-fixtures.ts';

/** The text of the block opened by the first line matching `head` (braces balanced). */
function block(conf: string, head: RegExp): string {
  const lines = conf.split('\n');
  const start = lines.findIndex((l) => head.test(l));
  if (start < 0) throw new Error(`no block ${head}`);
  let depth = 0;
  for (let i = start; i < lines.length; i++) {
    depth += (lines[i].match(/{/g) ?? []).length - (lines[i].match(/}/g) ?? []).length;
    if (depth === 0) return lines.slice(start, i + 1).join('\n');
  }
  throw new Error(`unbalanced block ${head}`);
}

const line = (s: string) => new RegExp(`^\\s*${s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\s*$`, 'm');
/** Set on every director whatever the forwarding method (roles/director/tasks.ts). */
const IPVS_SYSCTLS = [
  ['net.ipv4.vs.expire_nodest_conn', 1],
  ['net.ipv4.vs.conn_reuse_mode', 2],
  // lvs_sync_refresh (default 1 s): connections synced by time, so a returning director holds them
  ['net.ipv4.vs.sync_refresh_period', 1],
  ['net.ipv4.vs.sync_threshold', '3 0'],
];

test('lab, bal1: global_defs, one BACKUP instance at priority 150, the virtual server with both real servers', async (t) => {
  const { conf } = await renderDirector('bal1');
  t.is((conf.match(/{/g) ?? []).length, (conf.match(/}/g) ?? []).length, 'braces balance');
  const g = block(conf, /^global_defs {/);
  for (const l of ['router_id bal1', 'enable_script_security', 'script_user nobody', 'vrrp_version 2']) t.regex(g, line(l));
  t.notRegex(g, /^\s*lvs_sync_daemon/m, "the sync threads are lvsplay's unit's, not keepalived's");
  t.regex(g, /lvsplay-ipvs-sync\.service runs the master and\n.*\(eth1, syncid 51\)/);

  const vi = block(conf, /^vrrp_instance VI_1 {/);
  for (const l of ['state BACKUP', 'interface eth1', 'virtual_router_id 51', 'priority 150', 'advert_int 1', '172.28.128.200/32 dev eth1']) t.regex(vi, line(l));
  t.notRegex(conf, /state MASTER/);
  t.notRegex(conf, /nopreempt/);
  t.notRegex(conf, /authentication|auth_pass/);

  const vs = block(conf, /^virtual_server 172\.28\.128\.200 80 {/);
  for (const l of ['delay_loop 2', 'lvs_sched rr', 'lvs_method DR', 'protocol TCP']) t.regex(vs, line(l));
  t.notRegex(vs, /persistence_timeout/);
  for (const ip of ['172.28.128.21', '172.28.128.22']) {
    const rs = block(vs, new RegExp(`^\\s*real_server ${ip.replace(/\./g, '\\.')} 80 {`));
    for (const l of ['weight 1', 'HTTP_GET {', 'path /healthz', 'status_code 200', 'connect_timeout 2', 'retry 1', 'delay_before_retry 1']) t.regex(rs, line(l));
  }
  t.is(conf.match(/^\s*real_server /gm)?.length, 2);
});

test('lab, bal2: the same layout at priority 100', async (t) => {
  const { conf } = await renderDirector('bal2');
  const vi = block(conf, /^vrrp_instance VI_1 {/);
  t.regex(vi, line('priority 100'));
  t.regex(vi, line('virtual_router_id 51'));
  t.regex(conf, line('router_id bal2'));
  t.regex(conf, /^# 172\.28\.128\.200: bal1 150, bal2 100 \(this director\)$/m);
});

test('the tasks: packages restart, the config reloads, validated by keepalived -t, 0640', async (t) => {
  const { tasks, tpl } = await renderDirector('bal1');
  // after keepalived.conf: the IPVS sync unit and its service (test/unit/director-ipvs-sync.test.ts), vrrp-peers, then
  // copy, file, copy before the service: lvs_crash_cleanup's script and drop-in (test/unit/director-crash-cleanup.test.ts)
  t.deepEqual(tasks.map((x) => x.module.name), ['pkg', 'kmod', 'kmod', 'sysctl', 'sysctl', 'sysctl', 'sysctl', 'template', 'copy', 'service', 'copy', 'copy', 'file', 'copy', 'service']);
  const [pkg] = byModule(tasks, 'pkg');
  t.deepEqual(pkg.args.names, ['keepalived', 'ipvsadm']);
  t.deepEqual(pkg.notify, ['restart keepalived']);
  t.deepEqual(byModule(tasks, 'kmod').map((k) => k.args), [
    { name: 'ip_vs', persist: true },
    { name: 'ip_vs_rr', persist: true },
  ]);
  t.like(tpl.args, { src: 'keepalived.conf.ejs', dest: '/etc/keepalived/keepalived.conf', mode: '0640', validate: 'keepalived -t -f %s' });
  t.deepEqual(tpl.notify, ['reload keepalived']);
  t.like(byModule(tasks, 'service').at(-1)!.args, { name: 'keepalived', state: 'started', enabled: true });
  t.deepEqual(byModule(tasks, 'sysctl').map((s) => [s.args.key, s.args.value]), IPVS_SYSCTLS, 'no forwarding in DR');

  const handlers = director.handlers!((await renderDirector('bal1')).vars as never);
  t.deepEqual(handlers.map((h) => [h.name, h.args.state]), [
    ['reload keepalived', 'reloaded'],
    ['restart keepalived', 'restarted'],
    ['reload systemd units', undefined],
    // after keepalived's restart, which stops the sync threads a keepalived that ran them leaves
    ['restart IPVS sync', 'restarted'],
  ]);
});

test('lvs_profile fast: VRRPv3, advert_int 0.1, preempt_delay 3, no authentication', async (t) => {
  const { conf } = await renderDirector('bal1', { lvs_profile: 'fast' });
  t.regex(conf, line('vrrp_version 3'));
  t.regex(conf, line('advert_int 0.1'));
  t.regex(conf, line('preempt_delay 4'), 'the sync window (1 s refresh + 3 s flush) outlasts the profile\'s 3 s');
  t.notRegex(conf, /authentication/);
});

test('VRRPv2 with lvs_auth_pass: PASS authentication, masked in the diff', async (t) => {
  const { conf, vars, tpl } = await renderDirector('bal2', { lvs_auth_pass: 'buka17' });
  const auth = block(conf, /^\s*authentication {/);
  t.regex(auth, line('auth_type PASS'));
  t.regex(auth, line('auth_pass buka17'));
  const wanted = await renderTemplate({ vars, roleDir: director.dir }, tpl.args);
  t.false(wanted.redact!(String(wanted.content), 'new').includes('buka17'));
});

test('lvs_preempt false: nopreempt, still BACKUP everywhere', async (t) => {
  const { conf } = await renderDirector('bal1', { lvs_preempt: false });
  t.regex(conf, line('nopreempt'));
  t.regex(conf, line('state BACKUP'));
  t.notRegex(conf, /state MASTER/);
});

test('lvs_preempt_delay: the returning director waits before it preempts; 0 writes nothing', async (t) => {
  t.regex((await renderDirector('bal1', { lvs_preempt_delay: 5 })).conf, line('preempt_delay 5'));
  t.notRegex((await renderDirector('bal1', { lvs_preempt_delay: 0 })).conf, /preempt_delay/);
});

test('lvs_sync_refresh: connections synced at least every N s; the returning director waits N + 3 s (sync flush) before it preempts', async (t) => {
  t.regex((await renderDirector('bal1')).conf, line('preempt_delay 4'), 'default: 1 s refresh');
  const five = await renderDirector('bal1', { lvs_sync_refresh: 5 });
  t.regex(five.conf, line('preempt_delay 8'));
  t.deepEqual(byModule(five.tasks, 'sysctl').filter((s) => String(s.args.key).includes('sync')).map((s) => [s.args.key, s.args.value]), [['net.ipv4.vs.sync_refresh_period', 5], ['net.ipv4.vs.sync_threshold', '3 0']]);
  const off = await renderDirector('bal1', { lvs_sync_refresh: 0 });
  t.notRegex(off.conf, /preempt_delay/, '0: the kernel default, no wait');
  t.false(byModule(off.tasks, 'sysctl').some((s) => String(s.args.key).includes('sync')));
  t.false(byModule((await renderDirector('bal1', { lvs_sync_daemon: false })).tasks, 'sysctl').some((s) => String(s.args.key).includes('sync')), 'no sync daemon, nothing to pace');
  t.regex((await renderDirector('bal1', { lvs_preempt_delay: 2 })).conf, line('preempt_delay 2'), 'an explicit lvs_preempt_delay wins');
});

test('vrrp-peers.lvsplay: what peers must share; a profile or password change alters it (restart), a weight change does not', async (t) => {
  const peers = async (extra: Record<string, unknown> = {}, host = 'bal1') => {
    const { tasks } = await renderDirector(host, extra);
    const [task] = byModule(tasks, 'copy').filter((x) => String((x.args as { dest: string }).dest).endsWith('/vrrp-peers.lvsplay'));
    t.deepEqual(task.notify, ['restart keepalived']);
    t.true(tasks.indexOf(task) > tasks.indexOf(byModule(tasks, 'template')[0]), 'written after keepalived.conf');
    return String((task.args as { content: string }).content);
  };
  const base = await peers();
  t.is(base, '# written by lvsplay (roles/director): VRRP settings every director must share\nvrrp_version 2\nVI_1 vrid 51 advert_int 1 auth none\nipvs sync threads by lvsplay-ipvs-sync.service\n');
  t.notRegex(await peers({ lvs_sync_daemon: false, lvs_sync_refresh: 0 }), /ipvs sync/, 'sync off: no line');
  t.is(await peers({}, 'bal2'), base, 'the same on every director');
  t.regex(await peers({ lvs_profile: 'fast' }), /^vrrp_version 3$/m);
  const auth = await peers({ lvs_auth_pass: 'buka17' });
  t.regex(auth, /auth PASS sha256:[0-9a-f]{16}$/m);
  t.false(auth.includes('buka17'));
  t.is(await peers({ lvs_preempt_delay: 7 }), base);
  t.is(await peers({ lvs_weight: 3 }), base);
});

test('NAT: forwarding and no redirects; the gateway rides with the VIPs in one sync group', async (t) => {
  const extra = {
    lvs_vips: ['172.28.128.200', '172.28.128.201'],
    lvs_services: [{ port: 80, lb_kind: 'NAT', lb_algo: 'wrr', persistence_timeout: 300, check: { type: 'TCP_CHECK' } }],
    lvs_nat_gateway: '172.28.128.250',
  };
  const { conf, tasks } = await renderDirector('bal1', extra);
  t.deepEqual(
    byModule(tasks, 'sysctl').map((s) => [s.args.key, s.args.value]),
    [
      ...IPVS_SYSCTLS,
      ['net.ipv4.ip_forward', 1],
      ['net.ipv4.conf.all.send_redirects', 0],
      ['net.ipv4.conf.default.send_redirects', 0],
      ['net.ipv4.conf.eth1.send_redirects', 0],
    ],
  );
  t.true(byModule(tasks, 'kmod').some((k) => k.args.name === 'ip_vs_wrr'));
  const vi1 = block(conf, /^vrrp_instance VI_1 {/);
  t.regex(vi1, line('172.28.128.200/32 dev eth1'));
  t.regex(vi1, line('172.28.128.250/32 dev eth1'));
  t.notRegex(block(conf, /^vrrp_instance VI_2 {/), /172\.28\.128\.250/);
  const group = block(conf, /^vrrp_sync_group VG_1 {/);
  t.regex(group, line('VI_1'));
  t.regex(group, line('VI_2'));
  const vs = block(conf, /^virtual_server 172\.28\.128\.201 80 {/);
  for (const l of ['lvs_method NAT', 'lvs_sched wrr', 'persistence_timeout 300', 'TCP_CHECK {']) t.regex(vs, line(l));
  t.notRegex(vs, /HTTP_GET|url {/);
});

test('TUN: lvs_method TUN, no forwarding sysctl', async (t) => {
  const { conf, tasks } = await renderDirector('bal2', { lvs_services: [{ port: 80, lb_kind: 'TUN' }] });
  t.regex(block(conf, /^virtual_server 172\.28\.128\.200 80 {/), line('lvs_method TUN'));
  t.deepEqual(byModule(tasks, 'sysctl').map((s) => [s.args.key, s.args.value]), IPVS_SYSCTLS, 'no forwarding in TUN');
});

test('active-active, bal1: six instances, its priorities follow the layout, MASTER (150) of two', async (t) => {
  const { conf, inv } = await renderDirector('bal1', {}, ACTIVE_ACTIVE);
  const m = clusterFromInventory(inv, (h) => h.vars);
  const instances = [...conf.matchAll(/^vrrp_instance (VI_\d+) {/gm)].map((x) => x[1]);
  t.deepEqual(instances, ['VI_1', 'VI_2', 'VI_3', 'VI_4', 'VI_5', 'VI_6']);
  const prios = instances.map((name) => Number(/priority (\d+)/.exec(block(conf, new RegExp(`^vrrp_instance ${name} {`)))![1]));
  t.deepEqual(prios, m.instances.map((i) => i.priorities.bal1));
  t.is(prios.filter((p) => p === 150).length, 2);
  const masters = mastersWith(m.instances, ['bal1', 'bal2', 'bal3']);
  t.deepEqual(instances.filter((_, i) => masters.get(m.instances[i].vip) === 'bal1'), instances.filter((_, i) => prios[i] === 150));
  t.is(conf.match(/^virtual_server /gm)?.length, 6);
  t.notRegex(conf, /state MASTER/);
});

test('the LAN interface is the one holding lan_ip in the facts', async (t) => {
  const { conf } = await renderDirector('bal1', {}, LAB, 'ens4');
  t.regex(conf, line('interface ens4'));
  t.regex(conf, /\(ens4, syncid 51\)/);
});

test('a host without facts and without lvs_lan_interface cannot build its tasks', async (t) => {
  const inv = await load(LAB);
  const vars = roleVars(inv, director, 'bal1', {}, { ...labFacts(inv, 'bal1'), interfaces: {} });
  t.throws(() => director.tasks(vars as never), { message: /bal1: cannot discover the LAN interface without facts/ });
});
