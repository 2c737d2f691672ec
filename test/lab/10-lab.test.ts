// The lab itself, against real VMs (the runner brings the lab up before and down after all lab
// tests; labUp here is idempotent, so this file also runs alone): SSH with host-key checking on,
// IPVS on the directors from the offline repository, the private segment (unicast and multicast),
// a power cut and cold start, and reset back to pristine.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { labKill, labReset, labStart, labStatus, labUp, loadLab } from '../../lab/index.ts';
import { sh } from '../../lib/shell.ts';
import { connect } from '../../lib/ssh.ts';
import type { Conn, Host } from '../../lib/types.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const inventoryFile = path.resolve(root, process.env.LVSPLAY_LAB_INVENTORY ?? 'inventory/lab.yml');

const { inventory, plan } = await loadLab(inventoryFile);
const hosts = [...inventory.hosts.values()];
const byName = (name: string) => inventory.hosts.get(name)!;
const directors = inventory.select('directors');

const open = new Set<Conn>();
async function ssh(host: Host): Promise<Conn> {
  const conn = await connect(host, { hostKeyChecking: 'strict', knownHostsFiles: [plan.knownHosts] });
  open.add(conn);
  return conn;
}
async function closeAll() {
  await Promise.all([...open].map((c) => c.close()));
  open.clear();
}
test.afterEach.always(closeAll);

/** Runs a command on a host over a fresh connection. */
async function run(name: string, cmd: ReturnType<typeof sh>, opts: { nothrow?: boolean; timeoutMs?: number } = {}) {
  const conn = await ssh(byName(name));
  return conn.exec(cmd, { nothrow: opts.nothrow, timeoutMs: opts.timeoutMs ?? 300_000 });
}

test.serial.before('lab: up (idempotent: the runner may have brought it up already)', async () => {
  const r = await labUp(inventoryFile);
  console.log(`lab up: ${r.seconds.toFixed(1)} s, ${r.ctx.accel.accel}: ${r.vms.map((v) => `${v.name} ${v.action} ${v.seconds.toFixed(1)} s`).join(', ')}`);
});

test.serial('lab: every host answers SSH with host-key checking on, as itself, with its private address', async (t) => {
  const status = await labStatus(inventoryFile);
  t.deepEqual(status.vms.map((v) => [v.name, v.state]), hosts.map((h) => [h.name, 'running']));
  t.truthy(status.switchPid);
  for (const host of hosts) {
    const conn = await ssh(host);
    const [name, addr, sources] = await conn.read([sh`hostname`, sh`ip -4 -o addr show dev eth1`, sh`cat /etc/apt/sources.list.d/*.sources`]);
    t.is(name.stdout.trim(), host.name);
    t.regex(addr.stdout, new RegExp(`inet ${String(host.vars.lan_ip).replace(/\./g, '\\.')}/24 `));
    t.regex(sources.stdout, /URIs: file:\/var\/lib\/lvsplay\/apt/, 'the offline repository is the only apt source');
    t.notRegex(sources.stdout, /https?:/);
  }
  // host-key checking is really on: with a known_hosts that lacks the VM's key the connection is refused
  const empty = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-kh-')), 'known_hosts');
  fs.writeFileSync(empty, '');
  const stranger = { ...hosts[0], vars: { ...hosts[0].vars, lvsplay_known_hosts: empty } };
  await t.throwsAsync(connect(stranger, { hostKeyChecking: 'strict', knownHostsFiles: [empty] }), { message: /not in known_hosts/ });
  fs.rmSync(path.dirname(empty), { recursive: true, force: true });
});

test.serial('lab: the guests have no outside network, not even the host loopback', async (t) => {
  // restrict=on: the user-mode NIC forwards SSH in and nothing out
  const r = await run('client', sh`curl -sS -m 3 -o /dev/null http://10.0.2.2/ ; echo rc=$?`, { nothrow: true });
  t.notRegex(r.stdout, /rc=0/);
});

test.serial('lab: directors install ipvsadm from the offline repository, load ip_vs, ipvsadm -Ln works', async (t) => {
  await Promise.all(
    directors.map(async (d) => {
      const conn = await ssh(d);
      const install = await conn.exec(sh`DEBIAN_FRONTEND=noninteractive apt-get install -y ipvsadm`, { nothrow: true, timeoutMs: 300_000 });
      t.is(install.exitCode, 0, `${d.name}: apt-get install ipvsadm: ${install.stderr}`);
      const r = await conn.exec(sh`modprobe ip_vs && ipvsadm -Ln`);
      t.regex(r.stdout, /IP Virtual Server version/, d.name);
    }),
  );
});

test.serial('lab: apt-get install keepalived works offline inside a VM', async (t) => {
  const conn = await ssh(directors[0]);
  const r = await conn.exec(sh`DEBIAN_FRONTEND=noninteractive apt-get install -y keepalived nginx-light arping`, { nothrow: true, timeoutMs: 600_000 });
  t.is(r.exitCode, 0, r.stderr);
  const v = await conn.exec(sh`keepalived --version 2>&1; command -v arping nginx`);
  t.regex(v.stdout, /Keepalived v2/);
  t.regex(v.stdout, /arping/);
});

test.serial('lab: the private segment carries unicast (ping) and multicast between VMs', async (t) => {
  const [a, b] = [hosts[0], hosts[1]];
  const ping = await run(a.name, sh`ping -c 2 -W 3 ${String(b.vars.lan_ip)}`, { nothrow: true });
  t.is(ping.exitCode, 0, ping.stdout + ping.stderr);

  // VRRP's group: b listens, a sends to 224.0.0.18 from its private address until b has seen it
  const listener = await ssh(b);
  const capture = listener.exec(sh`timeout 40 tcpdump -i eth1 -n -l -c 1 ${`dst host 224.0.0.18 and src host ${a.vars.lan_ip}`}`, { nothrow: true, timeoutMs: 60_000 });
  const sender = await ssh(a);
  let seen = false;
  capture.then(() => (seen = true));
  for (let i = 0; i < 60 && !seen; i++) {
    await sender.exec(sh`ping -c 1 -W 1 -I eth1 -t 1 224.0.0.18`, { nothrow: true });
  }
  const r = await capture;
  t.regex(r.stdout, new RegExp(`${String(a.vars.lan_ip).replace(/\./g, '\\.')} > 224\\.0\\.0\\.18`), r.stdout + r.stderr);
});

test.serial('lab: kill is a power cut, start boots the VM again from its own disk', async (t) => {
  const victim = hosts[hosts.length - 1];
  await run(victim.name, sh`echo survived > /root/lvsplay-marker && sync`);
  t.true(await labKill(inventoryFile, victim.name));
  const down = await labStatus(inventoryFile);
  t.is(down.vms.find((v) => v.name === victim.name)!.state, 'stopped');
  await t.throwsAsync(connect(victim, { hostKeyChecking: 'strict', knownHostsFiles: [plan.knownHosts], connectTimeoutMs: 5000 }));
  t.false(await labKill(inventoryFile, victim.name), 'killing a stopped VM is a no-op');

  const started = await labStart(inventoryFile, victim.name);
  t.is(started.action, 'started');
  const r = await run(victim.name, sh`cat /root/lvsplay-marker; cat /proc/uptime`);
  t.regex(r.stdout, /^survived\n/, 'its disk was kept');
  t.true(Number(r.stdout.split('\n')[1].split(' ')[0]) < 600, 'freshly booted');

  // `up` never throws a disk away either: a killed VM comes back from its disk, the others stay
  t.true(await labKill(inventoryFile, victim.name));
  const up = await labUp(inventoryFile);
  t.deepEqual(up.vms.map((v) => [v.name, v.action]), hosts.map((h) => [h.name, h.name === victim.name ? 'started' : 'running']));
  t.regex((await run(victim.name, sh`cat /root/lvsplay-marker`)).stdout, /^survived/);
});

test.serial('lab: reset returns every VM to pristine, clock set', async (t) => {
  const modified = directors[0].name;
  await run(modified, sh`touch /root/lvsplay-dirty`);
  const r = await labReset(inventoryFile);
  t.deepEqual(r.vms.map((v) => v.action).sort(), hosts.map(() => 'restored'));
  console.log(`lab reset: ${r.seconds.toFixed(1)} s (${r.vms.map((v) => `${v.name} ${v.seconds.toFixed(1)} s`).join(', ')})`);
  for (const host of hosts) {
    const conn = await ssh(host);
    const [dirty, ipvsadm, keepalived, marker, clock] = await conn.read([
      sh`test -e /root/lvsplay-dirty && echo dirty`,
      sh`command -v ipvsadm || echo none`,
      sh`dpkg-query -W -f '\${Status}' keepalived 2>/dev/null || echo none`,
      sh`test -e /root/lvsplay-marker && echo marker`,
      sh`date +%s`,
    ]);
    t.is(dirty.stdout.trim(), '', `${host.name}: the file written before reset is gone`);
    t.is(ipvsadm.stdout.trim(), 'none', `${host.name}: ipvsadm is not installed`);
    t.is(keepalived.stdout.trim(), 'none', `${host.name}: keepalived is not installed`);
    t.is(marker.stdout.trim(), '', `${host.name}: pristine disk`);
    t.true(Math.abs(Number(clock.stdout) - Date.now() / 1000) < 5, `${host.name}: clock within 5 s of the host's`);
  }
});

test.serial('lab: up again is harmless (every VM left running as it is)', async (t) => {
  const r = await labUp(inventoryFile);
  t.deepEqual(r.vms.map((v) => v.action), hosts.map(() => 'running'));
});
