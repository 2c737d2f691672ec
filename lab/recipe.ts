// The lab image as data: what goes into it and every file written into it. The image cache is
// keyed by a hash of this object, so changing anything here rebuilds the image once.
import { createHash } from 'node:crypto';

export interface Recipe {
  /** bump when the build steps in image.ts change in a way the data below does not show */
  buildVersion: number;
  suite: string;
  variant: string;
  /** installed into the image (no recommends) */
  packages: string[];
  /**
   * Libraries the roles' packages depend on (keepalived → libsnmp40 → perl, glib → shared-mime-info…),
   * pre-installed: unpacking perl and running update-mime-database take over a minute under
   * emulation, on every converge after a reset. The packages the roles install are not here.
   */
  dependencies: string[];
  /** downloaded with their dependencies into the image's offline apt repository, NOT installed */
  repoPackages: string[];
  /** the only modules in the initrd (MODULES=list) */
  initrdModules: string[];
  /** kernel module directories removed from the image (no such hardware in the lab) */
  pruneModules: string[];
  /** systemd units masked: boot work the lab does not need */
  masked: string[];
  /** systemd generators disabled: each is an exec under emulation, and the lab needs none of them */
  maskedGenerators: string[];
  /** units enabled */
  enabled: string[];
  /** absolute path in the image → [mode, content] */
  files: Record<string, [string, string]>;
  /** size of the ext4 root file system (sparse) */
  diskMiB: number;
  /** the offline repository's directory inside the image */
  repoDir: string;
}

/** Reads the guest identity qemu passes with -fw_cfg, at every boot (see lab/qemu.ts). */
const identityScript = `#!/bin/sh
# lvsplay lab: per-VM identity from qemu's fw_cfg, applied at every boot (the image is shared).
set -eu
# without waiting for udev's coldplug: load the drivers and wait for the NICs ourselves
modprobe -a qemu_fw_cfg virtio_net
i=0
while [ ! -e /sys/class/net/eth1 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
d=/sys/firmware/qemu_fw_cfg/by_name/opt/lab
get() { cat "$d/$1/raw"; }
name=$(get hostname)
hostname "$name"
echo "$name" > /etc/hostname
printf '127.0.0.1\\tlocalhost\\n127.0.1.1\\t%s\\n::1\\tlocalhost ip6-localhost ip6-loopback\\n' "$name" > /etc/hosts
umask 077
mkdir -p /root/.ssh
get authorized_key > /root/.ssh/authorized_keys
get host_key > /etc/ssh/ssh_host_ed25519_key
umask 022
get host_key_pub > /etc/ssh/ssh_host_ed25519_key.pub
ip link set lo up
# eth0: user-mode networking (qemu's slirp), only for the SSH forward from the host
ip addr replace 10.0.2.15/24 dev eth0
ip link set eth0 up
ip route replace default via 10.0.2.2 dev eth0
# eth1: the private segment
ip addr replace "$(get lan_cidr)" dev eth1
ip link set eth1 up
`;

const identityUnit = `[Unit]
Description=lvsplay lab identity (hostname, keys, addresses) from qemu fw_cfg
DefaultDependencies=no
Wants=network.target
After=local-fs.target
Before=network.target ssh.service lab-ready.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/lab-identity

[Install]
WantedBy=multi-user.target
`;

/** Tells the host (serial log) that sshd is up: the moment a snapshot may be taken. */
const readyUnit = `[Unit]
Description=lvsplay lab: ready marker on the serial console
After=ssh.service lab-identity.service

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "lvsplay-lab-ready $(hostname)" > /dev/ttyS0'

[Install]
WantedBy=multi-user.target
`;

/** devtmpfs is enough to find /dev/vda: udev in the initrd costs seconds under emulation. */
const noUdevHook = `#!/bin/sh
case "$1" in prereqs) echo udev; exit 0;; esac
rm -f "$DESTDIR/scripts/init-top/udev" "$DESTDIR/scripts/init-bottom/udev"
`;

export const recipe: Recipe = {
  buildVersion: 1,
  suite: 'bookworm',
  variant: 'minbase',
  packages: [
    'systemd-sysv', 'udev', 'kmod', 'openssh-server', 'sudo', 'iproute2', 'procps', 'curl', 'perl-base',
    'python3-minimal', 'tcpdump', 'iputils-ping', 'initramfs-tools', 'linux-image-amd64',
    // Ansible's modules import the full standard library, and its apt module needs python3-apt
    'python3', 'python3-apt',
  ],
  dependencies: [
    'perl', 'libsnmp40', 'libglib2.0-0', 'libglib2.0-data', 'shared-mime-info', 'libicu72', 'libxml2', 'xdg-user-dirs',
    'libnl-genl-3-200', 'libnftnl11', 'libpci3', 'libsensors5', 'netbase', 'libpopt0', 'libnet1',
  ],
  repoPackages: [
    'keepalived', 'ipvsadm', 'nginx-light', 'nginx', 'arping', 'curl', 'python3-minimal', 'tcpdump', 'iputils-ping',
    'nftables', 'openssl', 'ssl-cert',
  ],
  initrdModules: ['virtio_pci', 'virtio_blk', 'ext4', 'crc32c_generic'],
  pruneModules: [
    'kernel/sound', 'kernel/drivers/gpu', 'kernel/drivers/media', 'kernel/drivers/net/wireless',
    'kernel/drivers/infiniband', 'kernel/drivers/staging', 'kernel/drivers/bluetooth', 'kernel/net/bluetooth',
    'kernel/drivers/usb', 'kernel/drivers/hid', 'kernel/drivers/input', 'kernel/drivers/scsi',
    'kernel/drivers/isdn', 'kernel/drivers/iio', 'kernel/drivers/nfc', 'kernel/net/wireless', 'kernel/net/mac80211',
  ],
  masked: [
    'apt-daily.timer', 'apt-daily-upgrade.timer', 'dpkg-db-backup.timer', 'e2scrub_all.timer', 'e2scrub_reap.service',
    'fstrim.timer', 'getty.target', 'serial-getty@.service', 'getty@.service', 'systemd-hwdb-update.service',
    'ldconfig.service', 'systemd-networkd-wait-online.service', 'systemd-timesyncd.service', 'systemd-pstore.service',
    'sys-kernel-debug.mount', 'sys-kernel-tracing.mount', 'dev-hugepages.mount', 'dev-mqueue.mount',
    'sys-fs-fuse-connections.mount', 'sys-kernel-config.mount', 'systemd-journal-flush.service',
    'systemd-update-utmp.service', 'systemd-update-utmp-runlevel.service', 'systemd-binfmt.service',
    'proc-sys-fs-binfmt_misc.automount', 'systemd-ask-password-console.path', 'systemd-ask-password-wall.path',
    'systemd-random-seed.service', 'systemd-sysusers.service', 'modprobe@.service', 'kmod-static-nodes.service',
    'systemd-remount-fs.service',
  ],
  maskedGenerators: [
    'systemd-cryptsetup-generator', 'systemd-debug-generator', 'systemd-fstab-generator', 'systemd-getty-generator',
    'systemd-gpt-auto-generator', 'systemd-hibernate-resume-generator', 'systemd-integritysetup-generator',
    'systemd-rc-local-generator', 'systemd-run-generator', 'systemd-system-update-generator',
    'systemd-veritysetup-generator',
    // not systemd-sysv-generator: packages with only an init script (ipvsadm) start their service in postinst
  ],
  enabled: ['lab-identity.service', 'lab-ready.service', 'ssh.service'],
  files: {
    '/usr/local/sbin/lab-identity': ['0755', identityScript],
    '/etc/systemd/system/lab-identity.service': ['0644', identityUnit],
    '/etc/systemd/system/lab-ready.service': ['0644', readyUnit],
    // Debian runs `sshd -t` before every start: one more exec of sshd under emulation
    '/etc/systemd/system/ssh.service.d/lab.conf': ['0644', '[Service]\nExecStartPre=\n'],
    '/etc/ssh/sshd_config.d/lab.conf': ['0644', [
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'UseDNS no',
      'PrintMotd no',
      'PrintLastLog no',
      'HostKey /etc/ssh/ssh_host_ed25519_key',
      '',
    ].join('\n')],
    '/etc/systemd/journald.conf.d/lab.conf': ['0644', '[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n'],
    '/etc/initramfs-tools/conf.d/lab.conf': ['0644', 'MODULES=list\nBUSYBOX=n\nCOMPRESS=gzip\n'],
    '/etc/fstab': ['0644', '# root is mounted rw by the kernel (root=/dev/vda rw)\n'],
    '/etc/initramfs-tools/hooks/zz-lab-no-udev': ['0755', noUdevHook],
    // modules udev would load for the emulated chipset, which nothing here uses
    '/etc/modprobe.d/lab.conf': ['0644', ['floppy', 'i2c_piix4', 'pcspkr', 'kvm', 'kvm_amd', 'kvm_intel'].map((m) => `blacklist ${m}\n`).join('')],
    '/etc/apt/apt.conf.d/90lab-offline': ['0644', '// the lab has no outside network: the offline repository is the only source\nAcquire::Languages "none";\n'],
  },
  diskMiB: 2048,
  repoDir: '/var/lib/lvsplay/apt',
};

/**
 * The Debian releases the lab boots, and what differs between their images: the library names of
 * `dependencies` (trixie's 64-bit time_t transition renamed libsnmp40, libglib2.0-0…; ICU's soname
 * moves every release). Everything else in the recipe is the same for all three.
 */
export const RELEASES = {
  bullseye: {
    dependencies: [
      'perl', 'libsnmp40', 'libglib2.0-0', 'libglib2.0-data', 'shared-mime-info', 'libicu67', 'libxml2', 'xdg-user-dirs',
      'libnl-genl-3-200', 'libnftnl11', 'libpci3', 'libsensors5', 'netbase', 'libpopt0', 'libnet1',
    ],
  },
  bookworm: { dependencies: recipe.dependencies },
  trixie: {
    dependencies: [
      'perl', 'libsnmp40t64', 'libglib2.0-0t64', 'libglib2.0-data', 'shared-mime-info', 'libicu76', 'libxml2', 'xdg-user-dirs',
      'libnl-genl-3-200', 'libnftnl11', 'libpci3', 'libsensors5', 'netbase', 'libpopt0', 'libnet1',
    ],
  },
} as const satisfies Record<string, { dependencies: readonly string[] }>;

export type Release = keyof typeof RELEASES;
export const DEFAULT_RELEASE: Release = 'bookworm';
export const isRelease = (x: unknown): x is Release => typeof x === 'string' && Object.hasOwn(RELEASES, x);

/** The image recipe of a release; bookworm's is `recipe` itself (its hash, hence its cached image, unchanged). */
export function recipeFor(release: Release): Recipe {
  if (release === 'bookworm') return recipe;
  return { ...recipe, suite: release, dependencies: [...RELEASES[release].dependencies] };
}

/** The apt source that makes the offline repository the guests' only one. */
export const offlineSource = (r: Recipe) =>
  `Types: deb\nURIs: file:${r.repoDir}\nSuites: ./\nTrusted: yes\n`;

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])]));
  }
  return value;
}

/** Stable hash of a JSON-able value (object key order does not matter). */
export const stableHash = (value: unknown, length = 16): string =>
  createHash('sha256').update(JSON.stringify(canonical(value))).digest('hex').slice(0, length);

export const recipeHash = (r: Recipe = recipe): string => stableHash(r);
