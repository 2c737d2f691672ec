// The lab's pure parts: inventory → VM plan (ports, addresses, MACs) with its refusals, the
// qemu command line, the image recipe hash, known_hosts replacement, host apt sources and the
// stale-PID check that keeps the lab from ever signalling a process it did not start.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { loadInventory } from '../../lib/inventory.ts';
import { ConfigError } from '../../lib/types.ts';
import { accelArgs, cpuHasVirtFlag } from '../../lab/accel.ts';
import { debianSources, mirrorFor, parseDeb822, parseSourcesList, sourcesForSuite, toDeb822 } from '../../lab/apt-source.ts';
import { replaceKnownHosts } from '../../lab/keys.ts';
import { cmdlineMatches, livePid } from '../../lab/pids.ts';
import { macFor, machineIdFor, parseCidr, planLab } from '../../lab/plan.ts';
import { kernelCmdline, qemuArgs, type VmFiles } from '../../lab/qemu.ts';
import { RELEASES, recipe, recipeFor, recipeHash, stableHash } from '../../lab/recipe.ts';
import { snapshotKey } from '../../lab/snapshot.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function inventoryFrom(t: { teardown(fn: () => void): void }, yaml: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-lab-plan-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'inv.yml');
  fs.writeFileSync(file, yaml);
  return loadInventory(file);
}

const header = `all:
  vars:
    ansible_host: 127.0.0.1
    ansible_user: root
    ansible_ssh_private_key_file: state/id_ed25519
    lvsplay_known_hosts: state/known_hosts
    lan_cidr: 172.28.128.0/24
  hosts:
`;

// ---------------------------------------------------------------- plan

test('lab plan: inventory/lab.yml gives one VM per host with its port, address and MAC', async (t) => {
  const plan = planLab(await loadInventory(path.join(root, 'inventory/lab.yml')));
  t.is(plan.stateDir, path.join(root, '.lvsplay/lab'));
  t.is(plan.keyFile, path.join(root, '.lvsplay/lab/id_ed25519'));
  t.is(plan.knownHosts, path.join(root, '.lvsplay/lab/known_hosts'));
  t.deepEqual(
    plan.vms.map((v) => [v.name, v.address, v.port, v.lanIp, v.prefix, v.memoryMiB]),
    [
      ['bal1', '127.0.0.1', 2211, '172.28.128.11', 24, 256],
      ['bal2', '127.0.0.1', 2212, '172.28.128.12', 24, 256],
      ['real1', '127.0.0.1', 2221, '172.28.128.21', 24, 256],
      ['real2', '127.0.0.1', 2222, '172.28.128.22', 24, 256],
      ['client', '127.0.0.1', 2240, '172.28.128.40', 24, 256],
    ],
  );
  t.deepEqual(plan.vms[0].groups, ['directors']);
  t.is(new Set(plan.vms.map((v) => v.mac)).size, 5);
  t.true(plan.vms.every((v) => v.release === 'bookworm'), 'lab_release defaults to bookworm');
});

test('lab plan: lab_release per host', async (t) => {
  const inv = await inventoryFrom(t, header + '    a: { ansible_port: 2211, lan_ip: 172.28.128.11, lab_release: trixie }\n    b: { ansible_port: 2212, lan_ip: 172.28.128.12, lab_release: bullseye }\n    c: { ansible_port: 2213, lan_ip: 172.28.128.13 }\n');
  t.deepEqual(planLab(inv).vms.map((v) => [v.name, v.release]), [['a', 'trixie'], ['b', 'bullseye'], ['c', 'bookworm']]);
});

test('lab plan: the 6-host active-active inventory adds bal3 and keeps the others identical', async (t) => {
  const five = planLab(await loadInventory(path.join(root, 'inventory/lab.yml')));
  const six = planLab(await loadInventory(path.join(root, 'inventory/active-active.yml')));
  t.deepEqual(six.vms.map((v) => v.name), ['bal1', 'bal2', 'bal3', 'real1', 'real2', 'client']);
  t.like(six.vms[2], { port: 2213, lanIp: '172.28.128.13', mac: macFor('bal3') });
  for (const vm of five.vms) t.deepEqual(six.vms.find((v) => v.name === vm.name), vm);
  t.is(six.stateDir, five.stateDir);
});

test('lab plan: MACs and machine ids are deterministic, unicast, locally administered', (t) => {
  t.is(macFor('bal1'), macFor('bal1'));
  t.not(macFor('bal1'), macFor('bal2'));
  for (const name of ['bal1', 'bal2', 'bal3', 'real1', 'real2', 'client']) {
    const mac = macFor(name);
    t.regex(mac, /^52:54:00(:[0-9a-f]{2}){3}$/);
    t.is(parseInt(mac.slice(0, 2), 16) & 1, 0, 'unicast');
    t.regex(machineIdFor(name), /^[0-9a-f]{32}$/);
  }
});

test('lab plan: CIDR parsing', (t) => {
  t.deepEqual(parseCidr('172.28.128.0/24'), { network: (172 * 2 ** 24 + 28 * 2 ** 16 + 128 * 256) >>> 0, prefix: 24 });
  t.deepEqual(parseCidr('172.28.128.77/24'), parseCidr('172.28.128.0/24'));
  t.is(parseCidr('172.28.128.0'), undefined);
  t.is(parseCidr('172.28.300.0/24'), undefined);
  t.is(parseCidr('10.0.0.0/32'), undefined);
});

const refusals: Array<[string, string, RegExp]> = [
  ['duplicate port', `    a: { ansible_port: 2211, lan_ip: 172.28.128.11 }\n    b: { ansible_port: 2211, lan_ip: 172.28.128.12 }\n`, /host b: ansible_port: already used by a, got 2211/],
  ['duplicate lan_ip', `    a: { ansible_port: 2211, lan_ip: 172.28.128.11 }\n    b: { ansible_port: 2212, lan_ip: 172.28.128.11 }\n`, /host b: lan_ip: already used by a, got "172.28.128.11"/],
  ['lan_ip outside lan_cidr', `    a: { ansible_port: 2211, lan_ip: 172.28.129.11 }\n`, /host a: lan_ip: not inside lan_cidr 172.28.128.0\/24, got "172.28.129.11"/],
  ['lan_ip is the broadcast', `    a: { ansible_port: 2211, lan_ip: 172.28.128.255 }\n`, /lan_ip: is the network or broadcast address/],
  ['lan_ip missing', `    a: { ansible_port: 2211 }\n`, /host a: lan_ip: expected an IPv4 address, got undefined/],
  ['lan_ip not an address', `    a: { ansible_port: 2211, lan_ip: 172.28.128 }\n`, /host a: lan_ip: expected an IPv4 address/],
  ['no port', `    a: { lan_ip: 172.28.128.11 }\n`, /host a: ansible_port: expected the SSH forward port/],
  ['privileged port', `    a: { ansible_port: 22, lan_ip: 172.28.128.11 }\n`, /host a: ansible_port: expected the SSH forward port, 1024–65535, got 22/],
  ['not on the loopback', `    a: { ansible_host: 192.0.2.1, ansible_port: 2211, lan_ip: 172.28.128.11 }\n`, /host a: ansible_host: .*use 127.0.0.1, got "192.0.2.1"/],
  ['bad name', `    a_b: { ansible_port: 2211, lan_ip: 172.28.128.11 }\n`, /host a_b: name: a lab VM name must be a valid host name/],
  ['unknown release', `    a: { ansible_port: 2211, lan_ip: 172.28.128.11, lab_release: buster }\n`, /host a: lab_release: expected one of bullseye, bookworm, trixie, got "buster"/],
  ['bad memory', `    a: { ansible_port: 2211, lan_ip: 172.28.128.11, lab_memory_mb: 64 }\n`, /host a: lab_memory_mb: expected MiB.*got 64/],
  ['different key per host', `    a: { ansible_port: 2211, lan_ip: 172.28.128.11 }\n    b: { ansible_port: 2212, lan_ip: 172.28.128.12, ansible_ssh_private_key_file: other }\n`, /host b: ansible_ssh_private_key_file: every lab host must use the same value as a/],
];

for (const [what, hosts, message] of refusals) {
  test(`lab plan refuses: ${what}`, async (t) => {
    const inv = await inventoryFrom(t, header + hosts);
    const err = t.throws(() => planLab(inv), { instanceOf: ConfigError, message });
    t.true(err!.message.startsWith(inv.file), 'names the file');
  });
}

test('lab plan refuses: no lan_cidr', async (t) => {
  const inv = await inventoryFrom(t, header.replace('    lan_cidr: 172.28.128.0/24\n', '') + '    a: { ansible_port: 2211, lan_ip: 172.28.128.11 }\n');
  t.throws(() => planLab(inv), { instanceOf: ConfigError, message: /host a: lan_cidr: the lab needs it set/ });
});

// ---------------------------------------------------------------- qemu command line

const files: VmFiles = {
  image: { kernel: '/img/vmlinux', initrd: '/img/initrd.img' },
  vm: { disk: '/st/vms/bal1/disk.qcow2', pid: '/st/vms/bal1/qemu.pid', qmp: '/st/vms/bal1/qmp.sock', console: '/st/vms/bal1/console.log' },
  switchDir: '/st/switch',
  authorizedKey: '/st/id_ed25519.pub',
  hostKey: '/st/hostkeys/bal1_ed25519',
  hostKeyPub: '/st/hostkeys/bal1_ed25519.pub',
};

test('qemu args: management NIC restricted with the SSH forward on the loopback, LAN NIC on the switch', async (t) => {
  const plan = planLab(await loadInventory(path.join(root, 'inventory/lab.yml')));
  const bal1 = plan.vms[0];
  const args = qemuArgs(bal1, files, { accel: 'tcg' });
  const after = (flag: string) => args.filter((_, i) => args[i - 1] === flag);
  t.deepEqual(after('-netdev'), ['user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:2211-:22', 'vde,id=lan,sock=/st/switch']);
  t.true(after('-device').includes(`virtio-net-pci,netdev=lan,mac=${macFor('bal1')},addr=0x4`));
  t.deepEqual(after('-fw_cfg'), [
    'name=opt/lab/hostname,string=bal1',
    'name=opt/lab/lan_cidr,string=172.28.128.11/24',
    'name=opt/lab/authorized_key,file=/st/id_ed25519.pub',
    'name=opt/lab/host_key,file=/st/hostkeys/bal1_ed25519',
    'name=opt/lab/host_key_pub,file=/st/hostkeys/bal1_ed25519.pub',
  ]);
  t.deepEqual(after('-m'), ['256']);
  t.deepEqual(after('-smp'), ['1']);
  t.deepEqual(after('-accel'), ['tcg,tb-size=64']);
  t.deepEqual(after('-name'), ['lvsplay-lab-bal1']);
  t.false(args.includes('-incoming'));
  t.true(after('-drive')[0].includes('cache=unsafe'));
  t.regex(kernelCmdline(bal1), /root=\/dev\/vda rw console=ttyS0 net\.ifnames=0 .*systemd\.machine_id=[0-9a-f]{32}/);
  const restore = qemuArgs(bal1, files, { accel: 'tcg', incoming: "/c/it's/state.bin" });
  t.deepEqual(restore.slice(-2), ['-incoming', `exec:cat '/c/it'\\''s/state.bin'`]);
  t.deepEqual(accelArgs('kvm'), ['-accel', 'kvm', '-cpu', 'host']);
});

test('qemu args: a comma in a path is doubled (qemu option syntax)', async (t) => {
  const plan = planLab(await loadInventory(path.join(root, 'inventory/lab.yml')));
  const args = qemuArgs(plan.vms[0], { ...files, switchDir: '/st/a,b' }, { accel: 'tcg' });
  t.true(args.includes('vde,id=lan,sock=/st/a,,b'));
});

test('snapshot key: paths do not matter, configuration and keys do', (t) => {
  const id = { imageHash: 'abc', qemuVersion: 'QEMU 7.2', args: ['-m', '256'], files: { host_key_pub: 'ssh-ed25519 AAAA' } };
  t.is(snapshotKey(id, 'bal1'), snapshotKey({ ...id, files: { host_key_pub: 'ssh-ed25519 AAAA' } }, 'bal1'));
  t.regex(snapshotKey(id, 'bal1'), /^bal1-[0-9a-f]{16}$/);
  t.not(snapshotKey(id, 'bal1'), snapshotKey({ ...id, args: ['-m', '512'] }, 'bal1'));
  t.not(snapshotKey(id, 'bal1'), snapshotKey({ ...id, files: { host_key_pub: 'ssh-ed25519 BBBB' } }, 'bal1'));
  t.not(snapshotKey(id, 'bal1'), snapshotKey({ ...id, qemuVersion: 'QEMU 8.0' }, 'bal1'));
});

// ---------------------------------------------------------------- recipe

test('recipe hash: stable, independent of key order, changes with the recipe', (t) => {
  t.is(recipeHash(), recipeHash(recipe));
  t.regex(recipeHash(), /^[0-9a-f]{16}$/);
  t.is(stableHash({ a: 1, b: [1, 2] }), stableHash({ b: [1, 2], a: 1 }));
  t.not(stableHash({ a: [1, 2] }), stableHash({ a: [2, 1] }));
  t.not(recipeHash({ ...recipe, packages: [...recipe.packages, 'vim'] }), recipeHash());
  t.not(recipeHash({ ...recipe, files: { ...recipe.files, '/etc/motd': ['0644', 'hi'] } }), recipeHash());
});

test('recipe per release: bookworm is the recipe as it was (same hash, same cached image); the others differ in suite and library names only', (t) => {
  t.is(recipeFor('bookworm'), recipe);
  const hashes = new Set(Object.keys(RELEASES).map((r) => recipeHash(recipeFor(r as keyof typeof RELEASES))));
  t.is(hashes.size, 3, 'one image per release');
  for (const release of ['bullseye', 'trixie'] as const) {
    const r = recipeFor(release);
    t.is(r.suite, release);
    const { suite: _s, dependencies: _d, ...rest } = r;
    const { suite: _bs, dependencies: _bd, ...bookworm } = recipe;
    t.deepEqual(rest, bookworm, `${release}: nothing else differs`);
  }
  t.true(recipeFor('trixie').dependencies.includes('libsnmp40t64'));
  t.true(recipeFor('bullseye').dependencies.includes('libicu67'));
});

test('recipe: roles install keepalived, ipvsadm, nginx and arping from the offline repository, not the image', (t) => {
  for (const p of ['keepalived', 'ipvsadm', 'nginx', 'nginx-light', 'arping']) {
    t.false(recipe.packages.includes(p), `${p} is not pre-installed`);
    t.true(recipe.repoPackages.includes(p), `${p} is in the offline repository`);
  }
  t.deepEqual(recipe.initrdModules, ['virtio_pci', 'virtio_blk', 'ext4', 'crc32c_generic']);
  t.true(recipe.packages.includes('linux-image-amd64'));
});

// ---------------------------------------------------------------- known_hosts

test('known_hosts: stale entries for the same [address]:port are replaced, others kept', (t) => {
  const before = [
    '# lab',
    '[127.0.0.1]:2211 ssh-ed25519 OLDKEY',
    '[127.0.0.1]:2211 ecdsa-sha2-nistp256 OLDKEY2',
    '[127.0.0.1]:22110 ssh-ed25519 OTHERPORT',
    'example.org,192.0.2.1 ssh-ed25519 SOMEONE',
    '',
  ].join('\n');
  const after = replaceKnownHosts(before, [
    { address: '127.0.0.1', port: 2211, publicKey: 'ssh-ed25519 NEWKEY' },
    { address: '127.0.0.1', port: 2212, publicKey: 'ssh-ed25519 KEY2' },
  ]);
  t.is(
    after,
    ['# lab', '[127.0.0.1]:22110 ssh-ed25519 OTHERPORT', 'example.org,192.0.2.1 ssh-ed25519 SOMEONE', '[127.0.0.1]:2211 ssh-ed25519 NEWKEY', '[127.0.0.1]:2212 ssh-ed25519 KEY2', ''].join('\n'),
  );
  t.is(replaceKnownHosts(after, [{ address: '127.0.0.1', port: 2212, publicKey: 'ssh-ed25519 KEY2' }]).split('\n').length, after.split('\n').length, 'idempotent');
  t.is(replaceKnownHosts('', [{ address: '127.0.0.1', port: 22, publicKey: 'ssh-ed25519 K' }]), '127.0.0.1 ssh-ed25519 K\n');
});

// ---------------------------------------------------------------- host apt sources

test('apt sources: the host mirror for the suite, from deb822 and one-line files', (t) => {
  const deb822 = parseDeb822(`Types: deb
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.invalid/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.invalid/debian
Suites: bookworm
Components: main

Types: deb
URIs: https://thirdparty.invalid/node
Suites: nodistro
Components: main

Types: deb
Enabled: no
URIs: http://disabled.invalid/debian
Suites: bookworm
Components: main
`);
  const oneLine = parseSourcesList('# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://other.invalid/debian bookworm main contrib\ndeb-src http://x.invalid/debian bookworm main\n');
  const sources = debianSources([...deb822, ...oneLine], 'bookworm');
  t.deepEqual(sources.map((s) => [s.uri, s.suites]), [
    ['http://mirror.invalid/debian', ['bookworm', 'bookworm-updates']],
    ['http://mirror.invalid/debian-security', ['bookworm-security']],
    ['http://other.invalid/debian', ['bookworm']],
  ]);
  t.is(mirrorFor(sources, 'bookworm'), 'http://mirror.invalid/debian');
  t.is(mirrorFor(debianSources(deb822, 'trixie'), 'trixie'), undefined, 'the host has no trixie entry of its own');
  // …so trixie comes from the host's Debian mirrors with the codename swapped; other repositories stay out
  const trixie = sourcesForSuite([...deb822, ...oneLine], 'trixie');
  t.deepEqual(trixie.map((s) => [s.uri, s.suites]), [
    ['http://mirror.invalid/debian', ['trixie', 'trixie-updates']],
    ['http://mirror.invalid/debian-security', ['trixie-security']],
    ['http://other.invalid/debian', ['trixie']],
  ]);
  t.is(mirrorFor(trixie, 'trixie'), 'http://mirror.invalid/debian');
  t.is(trixie[0].signedBy, sources[0].signedBy, 'the same keyring (debian-archive-keyring holds every release key)');
  t.deepEqual(sourcesForSuite(deb822, 'bookworm'), debianSources(deb822, 'bookworm'), "the host's own suite: its entries as they are");
  t.deepEqual(sourcesForSuite(parseSourcesList('deb http://x.invalid/debian bookworm-backports main\n'), 'bullseye'), [], 'backports are not carried over');
  t.is(oneLine[0].signedBy, '/k.gpg');
  t.regex(toDeb822(sources.slice(0, 1)), /^Types: deb\nURIs: http:\/\/mirror\.invalid\/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /);
});

// ---------------------------------------------------------------- accelerator, PIDs

test('accelerator: KVM is considered only with a vmx or svm CPU flag', (t) => {
  t.false(cpuHasVirtFlag('processor\t: 0\nflags\t\t: fpu vme de pse tsc msr pae hypervisor lahf_lm\n'));
  t.true(cpuHasVirtFlag('processor\t: 0\nflags\t\t: fpu vme de vmx pse\n'));
  t.true(cpuHasVirtFlag('flags\t\t: fpu svm lahf_lm\n'));
  t.false(cpuHasVirtFlag('flags\t\t: fpu svmx\n'));
});

test('stale PIDs: a PID file counts only while its process shows our markers', (t) => {
  t.true(cmdlineMatches('qemu-system-x86_64\0-name\0lvsplay-lab-bal1\0-pidfile\0/st/vms/bal1/qemu.pid\0', ['-name', 'lvsplay-lab-bal1', '/st/vms/bal1/qemu.pid']));
  t.false(cmdlineMatches('qemu-system-x86_64\0-name\0lvsplay-lab-bal10\0', ['lvsplay-lab-bal1']), 'whole arguments only');
  t.false(cmdlineMatches('bash\0', ['lvsplay-lab-bal1']));

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-pids-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pidFile = path.join(dir, 'x.pid');
  const ourMarker = fs.readFileSync('/proc/self/cmdline', 'utf8').split('\0')[0];
  fs.writeFileSync(pidFile, `${process.pid}\n`);
  t.is(livePid(pidFile, [ourMarker]), process.pid, 'this very process, recognised');
  t.is(livePid(pidFile, ['lvsplay-lab-bal1']), undefined, 'a recycled PID that is not ours');
  fs.writeFileSync(pidFile, '4194305\n'); // above the kernel's pid_max limit: never alive
  t.is(livePid(pidFile, [ourMarker]), undefined, 'a dead process');
  fs.writeFileSync(pidFile, 'garbage');
  t.is(livePid(pidFile, [ourMarker]), undefined);
  t.is(livePid(path.join(dir, 'missing.pid'), [ourMarker]), undefined);
});
