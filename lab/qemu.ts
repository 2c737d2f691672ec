// One VM = one daemonized qemu-system-x86_64. The argument list is a pure function of the plan,
// so the snapshot of a VM is reusable exactly when the argument list (paths aside) is unchanged.
import { $ } from 'zx';
import { accelArgs, type Accel } from './accel.ts';
import { machineIdFor, type VmPlan } from './plan.ts';
import type { ImagePaths, VmPaths } from './paths.ts';

const q = $({ quiet: true });

export interface VmFiles {
  image: Pick<ImagePaths, 'kernel' | 'initrd'>;
  vm: Pick<VmPaths, 'disk' | 'pid' | 'qmp' | 'console'>;
  switchDir: string;
  /** the lab user's public key, the VM's host key pair */
  authorizedKey: string;
  hostKey: string;
  hostKeyPub: string;
}

export interface QemuOptions {
  accel: Accel;
  /** restore RAM and device state from this qemu migration stream instead of booting */
  incoming?: string;
}

/** The tag in every lab qemu's command line, for recognising our processes. */
export const qemuMarker = (name: string) => `lvsplay-lab-${name}`;

export function kernelCmdline(vm: VmPlan): string {
  return [
    'root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet mitigations=off 8250.nr_uarts=1',
    // on a busy host an emulated CPU can miss the boot-time timer check ("IO-APIC + timer doesn't
    // work!" panic); and should the kernel panic anyway, reboot rather than hang
    'no_timer_check panic=-1',
    `systemd.machine_id=${machineIdFor(vm.name)}`,
  ].join(' ');
}

/** qemu's -opt values separate fields with commas; a literal comma is written twice. */
const optValue = (s: string) => s.replace(/,/g, ',,');

export function qemuArgs(vm: VmPlan, files: VmFiles, opts: QemuOptions): string[] {
  const fw = (name: string, value: string, kind: 'string' | 'file') => ['-fw_cfg', `name=opt/lab/${name},${kind}=${optValue(value)}`];
  return [
    '-name', qemuMarker(vm.name),
    '-machine', 'pc',
    ...accelArgs(opts.accel),
    '-smp', '1',
    '-m', String(vm.memoryMiB),
    '-nodefaults', '-display', 'none', '-daemonize',
    '-pidfile', files.vm.pid,
    '-kernel', files.image.kernel,
    '-initrd', files.image.initrd,
    '-append', kernelCmdline(vm),
    '-drive', `file=${optValue(files.vm.disk)},if=none,id=disk,format=qcow2,cache=unsafe,discard=unmap`,
    '-device', 'virtio-blk-pci,drive=disk,addr=0x2',
    // eth0: management, like Vagrant's NAT NIC; restrict=on: the guest reaches nothing outside
    '-netdev', `user,id=mgmt,restrict=on,hostfwd=tcp:${vm.address}:${vm.port}-:22`,
    '-device', 'virtio-net-pci,netdev=mgmt,addr=0x3',
    // eth1: the private segment, a vde_switch shared by every VM
    '-netdev', `vde,id=lan,sock=${optValue(files.switchDir)}`,
    '-device', `virtio-net-pci,netdev=lan,mac=${vm.mac},addr=0x4`,
    ...fw('hostname', vm.name, 'string'),
    ...fw('lan_cidr', `${vm.lanIp}/${vm.prefix}`, 'string'),
    ...fw('authorized_key', files.authorizedKey, 'file'),
    ...fw('host_key', files.hostKey, 'file'),
    ...fw('host_key_pub', files.hostKeyPub, 'file'),
    '-chardev', `file,id=serial,path=${optValue(files.vm.console)},append=on`,
    '-serial', 'chardev:serial',
    '-qmp', `unix:${optValue(files.vm.qmp)},server=on,wait=off`,
    ...(opts.incoming ? ['-incoming', `exec:cat ${shellWord(opts.incoming)}`] : []),
  ];
}

/** For the exec: migration URI, run by /bin/sh. */
function shellWord(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Starts qemu; it daemonizes once its devices are set up, so errors arrive here on stderr. */
export async function startQemu(args: string[]): Promise<void> {
  // A VM killed a moment ago leaves its SSH forward's closed connections in TIME_WAIT, and slirp binds
  // the forward without SO_REUSEADDR: the port comes free within the kernel's 60 s TIME_WAIT.
  const deadline = Date.now() + 75_000;
  for (;;) {
    const r = await q`qemu-system-x86_64 ${args}`.nothrow();
    if (r.exitCode === 0) return;
    const message = r.stderr.trim() || r.stdout.trim();
    if (!/Could not set up host forwarding rule/.test(message) || Date.now() > deadline) {
      throw new Error(`qemu-system-x86_64 failed (exit ${r.exitCode}): ${message}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

let version: Promise<string> | undefined;
/** `QEMU emulator version 7.2.22 (…)`: part of every snapshot's key (migration streams are version-bound). */
export function qemuVersion(): Promise<string> {
  return (version ??= q`qemu-system-x86_64 --version`.then((r) => r.stdout.split('\n')[0].trim()));
}

/** qemu-img create -f qcow2 -b backing: a copy-on-write disk over a read-only one. */
export async function createOverlay(disk: string, backing: string): Promise<void> {
  await q`qemu-img create -q -f qcow2 -b ${backing} -F qcow2 ${disk}`;
}
