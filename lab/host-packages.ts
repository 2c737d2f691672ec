// The host tools the lab runs, and the Debian packages that provide them. Missing ones are
// installed with apt-get when running as root; otherwise the error says what to install.
import { $, which } from 'zx';

/** command → Debian package */
export const HOST_TOOLS: Record<string, string> = {
  'qemu-system-x86_64': 'qemu-system-x86',
  'qemu-img': 'qemu-utils',
  vde_switch: 'vde2',
  debootstrap: 'debootstrap',
  'dpkg-scanpackages': 'dpkg-dev',
  'mkfs.ext4': 'e2fsprogs',
  'ssh-keygen': 'openssh-client',
  xz: 'xz-utils',
};

export async function missingPackages(tools = HOST_TOOLS): Promise<string[]> {
  const missing = new Set<string>();
  for (const [cmd, pkg] of Object.entries(tools)) {
    if (!(await which(cmd, { nothrow: true, path: `${process.env.PATH}:/usr/sbin:/sbin` }))) missing.add(pkg);
  }
  return [...missing];
}

/** Installs what is missing; returns the packages installed (empty when nothing was). */
export async function ensureHostPackages(log: (line: string) => void = () => {}): Promise<string[]> {
  const missing = await missingPackages();
  if (missing.length === 0) return [];
  if (process.getuid?.() !== 0) {
    throw new Error(`the lab needs these Debian packages: ${missing.join(' ')} — run \`sudo apt-get install -y ${missing.join(' ')}\` or run lab up as root`);
  }
  log(`apt-get install ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await $({ quiet: true, env })`apt-get update -q`;
  await $({ quiet: true, env })`apt-get install -y -q --no-install-recommends ${missing}`;
  return missing;
}
