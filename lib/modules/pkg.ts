// pkg: Debian packages through apt, installing only what dpkg says is missing.
import { defineModule } from '../module.ts';
import { join, sh, type Command } from '../shell.ts';
import { stateDiff } from '../diff.ts';

export interface PkgArgs {
  names: string[];
  state?: 'present' | 'absent';
  /** run `apt-get update` first only when the package lists are older than this (default 3600) */
  cacheValidSeconds?: number;
}

export const DPKG_FORMAT = '${Package} ${Status}\\n';
const LISTS = '/var/lib/apt/lists';
/** apt waits this long for another apt/dpkg (unattended-upgrades, cloud-init) to release its lock. */
const LOCK = ['-o', 'DPkg::Lock::Timeout=120'];

export function checkNames(names: string[]): void {
  if (!Array.isArray(names) || names.length === 0) throw new Error('pkg: names must be a non-empty list');
  for (const n of names) {
    if (typeof n !== 'string' || !/^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$/.test(n)) throw new Error(`pkg: invalid package name ${JSON.stringify(n)}`);
  }
}

/** Installed package names from `dpkg-query -W -f '${Package} ${Status}\n'` (status "… installed" only: not config-files or half-installed). */
export function parseDpkgStatus(out: string): Set<string> {
  const installed = new Set<string>();
  for (const line of out.split('\n')) {
    const [name, , , status] = line.trim().split(/\s+/);
    if (name && status === 'installed') installed.add(name);
  }
  return installed;
}

/** Newest list's mtime (seconds) from `find … -printf '%T@\n'`; undefined when there are none. */
export function newestList(out: string): number | undefined {
  const times = out.split('\n').map((l) => Number.parseFloat(l)).filter((t) => Number.isFinite(t));
  return times.length ? Math.max(...times) : undefined;
}

export interface PkgDecision {
  install: string[];
  remove: string[];
  update: boolean;
}

/** Pure: which packages to install or remove, and whether the lists need refreshing first. */
export function decidePkg(
  args: PkgArgs,
  installed: Set<string>,
  lists: { newest?: number; now: number },
): PkgDecision | null {
  checkNames(args.names);
  const base = (n: string) => n.split(':')[0];
  const want = [...new Set(args.names)];
  const present = (args.state ?? 'present') === 'present';
  const install = present ? want.filter((n) => !installed.has(base(n))) : [];
  const remove = present ? [] : want.filter((n) => installed.has(base(n)));
  if (!install.length && !remove.length) return null;
  const maxAge = args.cacheValidSeconds ?? 3600;
  if (typeof maxAge !== 'number' || !(maxAge >= 0)) throw new Error(`pkg: cacheValidSeconds must be a number >= 0, got ${JSON.stringify(args.cacheValidSeconds)}`);
  const update = install.length > 0 && (lists.newest === undefined || lists.now - lists.newest >= maxAge);
  return { install, remove, update };
}

const aptEnv = sh`env DEBIAN_FRONTEND=noninteractive`;

export function pkgCommand(d: PkgDecision): Command {
  const cmds: Command[] = [];
  if (d.update) cmds.push(sh`${aptEnv} apt-get ${LOCK} -q update`);
  if (d.install.length) {
    cmds.push(
      sh`${aptEnv} apt-get ${LOCK} install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -- ${d.install}`,
    );
  }
  if (d.remove.length) cmds.push(sh`${aptEnv} apt-get ${LOCK} remove -y -q -- ${d.remove}`);
  return join(cmds, ' && ');
}

export const pkg = defineModule<PkgArgs>({
  name: 'pkg',
  async plan(ctx, args) {
    checkNames(args.names);
    const [q, lists, now] = await ctx.conn.read([
      sh`dpkg-query -W -f ${DPKG_FORMAT} -- ${args.names.map((n) => n.split(':')[0])}`,
      sh`find ${LISTS} -maxdepth 1 -type f -name ${'*_Packages*'} -printf ${'%T@\\n'}`,
      sh`date +%s`,
    ]);
    // dpkg-query exits 1 when some name is unknown to dpkg (not installed): its stdout still lists the others.
    const installed = parseDpkgStatus(q.stdout);
    const d = decidePkg(args, installed, { newest: newestList(lists.stdout), now: Number(now.stdout.trim()) });
    if (!d) return null;
    ctx.log(`pkg: installed ${[...installed].join(' ') || '(none)'}; lists ${d.update ? 'stale: update first' : 'fresh'}`);
    const summary = [d.install.length ? `install ${d.install.join(' ')}` : '', d.remove.length ? `remove ${d.remove.join(' ')}` : '', d.update ? '(apt-get update first)' : '']
      .filter(Boolean)
      .join(' ');
    const before = Object.fromEntries([...d.install, ...d.remove].map((n) => [n, d.install.includes(n) ? 'absent' : 'installed']));
    const after = Object.fromEntries([...d.install, ...d.remove].map((n) => [n, d.install.includes(n) ? 'installed' : 'absent']));
    return { summary, diff: stateDiff('packages', before, after), data: d };
  },
  async apply(ctx, _args, change) {
    await ctx.conn.exec(pkgCommand(change.data as PkgDecision), { timeoutMs: 30 * 60_000 });
  },
});
