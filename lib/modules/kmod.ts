// kmod: a kernel module loaded now (modprobe) and at boot (/etc/modules-load.d/lvsplay.conf).
import path from 'node:path';
import { defineModule } from '../module.ts';
import { raw, sh, type Command } from '../shell.ts';
import { unifiedDiff } from '../diff.ts';

export interface KmodArgs {
  name: string;
  state?: 'present' | 'absent';
  /** list it in /etc/modules-load.d/lvsplay.conf (or remove it from there) */
  persist?: boolean;
}

export const MODULES_FILE = '/etc/modules-load.d/lvsplay.conf';

/** The kernel treats - and _ in module names alike; /proc/modules shows _. */
export const canonicalModule = (name: string) => name.trim().replace(/-/g, '_');

export function checkName(name: string): void {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`kmod: invalid module name ${JSON.stringify(name)}`);
}

/** Module names from /proc/modules (or lsmod, whose header line is skipped). */
export function parseLoaded(procModules: string): Set<string> {
  return new Set(
    procModules
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0])
      .filter((n) => n && n !== 'Module')
      .map(canonicalModule),
  );
}

/** Module names listed in a modules-load.d file (comments and blank lines ignored). */
export function parseModulesFile(content: string): string[] {
  return content
    .split('\n')
    .map((l) => l.replace(/[#;].*$/, '').trim())
    .filter(Boolean)
    .map(canonicalModule);
}

export interface KmodState {
  loaded: Set<string>;
  builtin: boolean;
  /** the persistence file, null when missing */
  file: string | null;
}

export interface KmodDecision {
  load?: 'modprobe' | 'unload';
  /** new file content */
  file?: { from: string | null; to: string };
}

/** Pure: what to load/unload and how the modules-load.d file must change. */
export function decideKmod(args: KmodArgs, st: KmodState): KmodDecision | null {
  checkName(args.name);
  const name = canonicalModule(args.name);
  const present = (args.state ?? 'present') === 'present';
  const loaded = st.builtin || st.loaded.has(name);
  const d: KmodDecision = {};
  if (present && !loaded) d.load = 'modprobe';
  if (!present && loaded) {
    if (st.builtin) throw new Error(`kmod: ${args.name} is built into the kernel and cannot be unloaded`);
    d.load = 'unload';
  }
  if (args.persist) {
    const content = st.file ?? '';
    const listed = parseModulesFile(content).includes(name);
    if (present && !listed) d.file = { from: st.file, to: `${content}${content && !content.endsWith('\n') ? '\n' : ''}${args.name}\n` };
    if (!present && listed) {
      const kept = content.split('\n').filter((l) => canonicalModule(l.replace(/[#;].*$/, '').trim()) !== name);
      d.file = { from: st.file, to: kept.join('\n') };
    }
  }
  return d.load || d.file ? d : null;
}

/** modules.builtin lists paths like kernel/net/netfilter/ipvs/ip_vs.ko; - and _ are equivalent. */
const builtinProbe = (name: string): Command =>
  sh`grep -qE ${`/${canonicalModule(name).replace(/_/g, '[-_]')}\\.ko$`} ${raw('"/lib/modules/$(uname -r)/modules.builtin"')}`;

export const kmod = defineModule<KmodArgs>({
  name: 'kmod',
  async plan(ctx, args) {
    checkName(args.name);
    const probes = [sh`cat /proc/modules`, builtinProbe(args.name)];
    if (args.persist) probes.push(sh`cat -- ${MODULES_FILE}`);
    const [mods, builtin, file] = await ctx.conn.read(probes);
    if (mods.exitCode !== 0) throw new Error(`kmod: cannot read /proc/modules: ${mods.stderr.trim()}`);
    const d = decideKmod(args, {
      loaded: parseLoaded(mods.stdout),
      builtin: builtin.exitCode === 0,
      file: file && file.exitCode === 0 ? file.stdout : null,
    });
    if (!d) return null;
    const present = (args.state ?? 'present') === 'present';
    const parts: string[] = [];
    let diff = '';
    if (d.load) {
      parts.push(`${d.load === 'modprobe' ? 'load' : 'unload'} ${args.name}`);
      diff += unifiedDiff(`(loaded) ${args.name}`, present ? null : `${args.name}\n`, present ? `${args.name}\n` : null);
    }
    if (d.file) {
      parts.push(`${present ? 'persist in' : 'remove from'} ${MODULES_FILE}`);
      diff += unifiedDiff(MODULES_FILE, d.file.from, d.file.to);
    }
    return { summary: parts.join(', '), diff, data: d };
  },
  async apply(ctx, args, change) {
    const d = change.data as KmodDecision;
    if (d.load === 'modprobe') await ctx.conn.exec(sh`modprobe -- ${args.name}`);
    if (d.load === 'unload') await ctx.conn.exec(sh`modprobe -r -- ${args.name}`);
    if (d.file) {
      await ctx.conn.exec(sh`mkdir -p -- ${path.dirname(MODULES_FILE)}`);
      await ctx.conn.put(MODULES_FILE, d.file.to, { mode: '0644' });
    }
  },
});
