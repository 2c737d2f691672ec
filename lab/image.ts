// Builds the lab's base image once per recipe hash: debootstrap from the host's mirror, the recipe's
// packages and files, an offline apt repository, a small initrd, then ext4 → read-only qcow2.
// Needs root (debootstrap, chroot, mounts).
import fs from 'node:fs';
import path from 'node:path';
import { $ } from 'zx';
import { mirrorFor, readHostSources, sourcesForSuite, toDeb822 } from './apt-source.ts';
import { imagePaths, type ImagePaths } from './paths.ts';
import { offlineSource, recipe as defaultRecipe, recipeHash, type Recipe } from './recipe.ts';
import { extractVmlinux } from './vmlinux.ts';
import { withLock } from './pids.ts';

const q = $({ quiet: true });

export interface BuildOptions {
  recipe?: Recipe;
  log?: (line: string) => void;
}

export function imageReady(hash = recipeHash()): ImagePaths | undefined {
  const p = imagePaths(hash);
  return fs.existsSync(p.done) ? p : undefined;
}

/** The host's apt `Acquire::` settings (proxy, date checks…) the image build needs to reach the same mirror. */
async function hostAcquireConf(): Promise<{ conf: string; proxy?: string }> {
  const dump = (await q`apt-config dump Acquire`.nothrow()).stdout;
  const lines = dump.split('\n').filter((l) => l.startsWith('Acquire::') && !l.startsWith('Acquire::IndexTargets'));
  const proxy = /^Acquire::http::Proxy "([^"]+)";/m.exec(dump)?.[1];
  return { conf: lines.join('\n') + '\n', proxy };
}

function writeFile(root: string, file: string, mode: string, content: string) {
  const dest = path.join(root, file);
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.writeFileSync(dest, content);
  fs.chmodSync(dest, parseInt(mode, 8));
}

/** Refuses to delete a tree that still has something mounted under it (a bound /dev, say). */
function assertUnmounted(root: string) {
  const mounted = fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m && (m === root || m.startsWith(root + '/')));
  if (mounted.length) throw new Error(`still mounted under ${root}: ${mounted.join(' ')} (unmount them, then remove ${root})`);
}

async function withMounts<T>(root: string, fn: () => Promise<T>): Promise<T> {
  const mounts: string[] = [];
  try {
    for (const [what, where, args] of [
      ['proc', 'proc', ['-t', 'proc']],
      ['sysfs', 'sys', ['-t', 'sysfs']],
      ['/dev', 'dev', ['--bind']],
      ['devpts', 'dev/pts', ['-t', 'devpts']],
    ] as const) {
      const target = path.join(root, where);
      fs.mkdirSync(target, { recursive: true });
      await q`mount ${args} ${what} ${target}`;
      mounts.unshift(target);
    }
    return await fn();
  } finally {
    for (const m of mounts) await q`umount -l ${m}`.nothrow();
  }
}

const suiteOf = (done: string): string | undefined => {
  try {
    return (JSON.parse(fs.readFileSync(done, 'utf8')) as { recipe?: Recipe }).recipe?.suite;
  } catch {
    return undefined;
  }
};

/**
 * Images of older recipes of the same release are never used again once every lab has been brought
 * up anew (other releases' images are: a lab may mix them); a day's grace keeps another checkout's
 * running lab (its `start` boots from its image's kernel) working.
 */
function pruneOtherImages(hash: string, suite: string, graceMs = 24 * 3600_000) {
  const root = path.dirname(imagePaths(hash).dir);
  for (const entry of fs.readdirSync(root)) {
    const dir = path.join(root, entry);
    if (!/^image-[0-9a-f]+$/.test(entry) || entry === `image-${hash}`) continue;
    // an unreadable recipe.json is an unfinished or foreign build: bookworm's, as before releases existed
    if ((suiteOf(path.join(dir, 'recipe.json')) ?? defaultRecipe.suite) !== suite) continue;
    if (Date.now() - fs.statSync(dir).mtimeMs > graceMs) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Builds the image unless it is cached; returns its paths. */
export async function buildImage(opts: BuildOptions = {}): Promise<ImagePaths> {
  const r = opts.recipe ?? defaultRecipe;
  const hash = recipeHash(r);
  const paths = imagePaths(hash);
  if (fs.existsSync(paths.done)) return paths;
  // one build per image at a time, also across labs of other checkouts sharing the cache
  fs.mkdirSync(path.dirname(paths.dir), { recursive: true });
  return withLock(`${paths.dir}.lock`, async () => (fs.existsSync(paths.done) ? paths : build(r, hash, paths, opts)));
}

async function build(r: Recipe, hash: string, paths: ImagePaths, opts: BuildOptions): Promise<ImagePaths> {
  const log = opts.log ?? (() => {});
  if (process.getuid?.() !== 0) throw new Error('building the lab image needs root (debootstrap, chroot, mount): run `lab up` as root');

  const sources = sourcesForSuite(readHostSources(), r.suite);
  const mirror = mirrorFor(sources, r.suite);
  if (!mirror) throw new Error(`no Debian apt source (main) in /etc/apt/sources.list or /etc/apt/sources.list.d to build ${r.suite} from: the image is built from the host's mirror`);
  const acquire = await hostAcquireConf();

  const work = `${paths.dir}.build-${process.pid}`;
  const root = path.join(work, 'rootfs');
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C', ...(acquire.proxy ? { http_proxy: acquire.proxy } : {}) };
  const sh = $({ quiet: true, env });
  const chroot = (cmd: string) => sh`chroot ${root} /bin/sh -c ${cmd}`;
  try {
    log(`debootstrap ${r.variant} ${r.suite} from the host's mirror`);
    await sh`debootstrap --variant=${r.variant} ${r.suite} ${root} ${mirror}`;

    writeFile(root, '/usr/sbin/policy-rc.d', '0755', '#!/bin/sh\nexit 101\n');
    writeFile(root, '/etc/apt/apt.conf.d/00lvsplay-host', '0644', acquire.conf);
    writeFile(root, '/etc/apt/sources.list.d/build.sources', '0644', toDeb822(sources));
    fs.rmSync(path.join(root, 'etc/apt/sources.list'), { force: true });
    for (const [file, [mode, content]] of Object.entries(r.files)) writeFile(root, file, mode, content);
    writeFile(root, '/etc/initramfs-tools/modules', '0644', r.initrdModules.join('\n') + '\n');

    await withMounts(root, async () => {
      log('apt-get install ' + r.packages.join(' '));
      await chroot('apt-get update -q');
      await chroot(`apt-get install -y -q --no-install-recommends ${r.packages.join(' ')}`);
      await chroot(`apt-get install -y -q ${r.dependencies.join(' ')}`);
      log('offline repository: ' + r.repoPackages.join(' '));
      await chroot('apt-get clean');
      await chroot(`apt-get install -y -q --download-only ${r.repoPackages.join(' ')}`);
      const repo = path.join(root, r.repoDir);
      fs.mkdirSync(repo, { recursive: true });
      const archives = path.join(root, 'var/cache/apt/archives');
      for (const f of fs.readdirSync(archives)) if (f.endsWith('.deb')) fs.renameSync(path.join(archives, f), path.join(repo, f));
      await $({ quiet: true, cwd: repo })`dpkg-scanpackages --multiversion . /dev/null > Packages`;
      log(`offline repository: ${fs.readdirSync(repo).filter((f) => f.endsWith('.deb')).length} packages`);

      // from now on the guests' only apt source is the offline repository
      fs.rmSync(path.join(root, 'etc/apt/sources.list.d/build.sources'));
      fs.rmSync(path.join(root, 'etc/apt/apt.conf.d/00lvsplay-host'));
      writeFile(root, '/etc/apt/sources.list.d/lab.sources', '0644', offlineSource(r));
      await chroot('rm -rf /var/lib/apt/lists/* && apt-get update -q');

      const kver = fs.readdirSync(path.join(root, 'lib/modules'))[0];
      for (const dir of r.pruneModules) fs.rmSync(path.join(root, 'lib/modules', kver, dir), { recursive: true, force: true });
      await chroot(`depmod -a ${kver} && update-initramfs -u -k ${kver}`);
      await chroot(`systemctl enable ${r.enabled.join(' ')} && systemctl mask ${r.masked.join(' ')}`);
      const generators = path.join(root, 'etc/systemd/system-generators');
      fs.mkdirSync(generators, { recursive: true });
      for (const g of r.maskedGenerators) fs.symlinkSync('/dev/null', path.join(generators, g));
      await chroot('apt-get clean');
    });

    log('trim and seal the root file system');
    for (const f of ['usr/sbin/policy-rc.d', 'etc/hostname']) fs.rmSync(path.join(root, f), { force: true });
    for (const f of fs.readdirSync(path.join(root, 'etc/ssh'))) if (f.startsWith('ssh_host_')) fs.rmSync(path.join(root, 'etc/ssh', f));
    fs.writeFileSync(path.join(root, 'etc/machine-id'), '');
    fs.rmSync(path.join(root, 'var/lib/dbus/machine-id'), { force: true });
    for (const d of ['usr/share/doc', 'usr/share/man', 'usr/share/locale', 'usr/share/info', 'var/cache/debconf/templates.dat-old', 'var/log/apt']) {
      fs.rmSync(path.join(root, d), { recursive: true, force: true });
    }

    const boot = path.join(root, 'boot');
    const vmlinuz = fs.readdirSync(boot).find((f) => f.startsWith('vmlinuz-'));
    const initrd = fs.readdirSync(boot).find((f) => f.startsWith('initrd.img-'));
    if (!vmlinuz || !initrd) throw new Error(`no kernel or initrd in ${boot}`);
    log('kernel: uncompressed vmlinux from ' + vmlinuz);
    await extractVmlinux(path.join(boot, vmlinuz), path.join(work, 'vmlinux'));
    fs.copyFileSync(path.join(boot, initrd), path.join(work, 'initrd.img'));

    log(`mkfs.ext4 -d (${r.diskMiB} MiB) → qcow2`);
    const raw = path.join(work, 'root.raw');
    await q`truncate -s ${r.diskMiB}M ${raw}`;
    await q`mkfs.ext4 -q -F -L lab-root -d ${root} ${raw}`;
    await q`qemu-img convert -f raw -O qcow2 ${raw} ${path.join(work, 'base.qcow2')}`;
    fs.rmSync(raw);
    fs.chmodSync(path.join(work, 'base.qcow2'), 0o444);
    assertUnmounted(root);
    fs.rmSync(root, { recursive: true, force: true });
    fs.writeFileSync(path.join(work, 'recipe.json'), JSON.stringify({ hash, builtAt: new Date().toISOString(), recipe: r }, null, 2));
    fs.rmSync(paths.dir, { recursive: true, force: true });
    fs.renameSync(work, paths.dir);
    pruneOtherImages(hash, r.suite);
    return paths;
  } catch (e) {
    // leave no half-mounted or half-built tree behind
    await q`umount -R -l ${root}`.nothrow();
    assertUnmounted(root);
    fs.rmSync(work, { recursive: true, force: true });
    throw e;
  }
}
