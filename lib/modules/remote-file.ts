// Shared machinery for modules that own a remote file or its attributes: stat parsing,
// mode/owner/group comparison, and the content compare → diff → atomic put used by
// template, copy, lineinfile, sysctl, kmod and address.
import { createHash } from 'node:crypto';
import type { Change, ExecResult, ModuleContext } from '../types.ts';
import { join, sh, type Command } from '../shell.ts';
import { unifiedDiff } from '../diff.ts';

/** File mode: an octal string ('0644', '644') or the mode bits as a number (0o644). */
export type Mode = string | number;

export interface Attrs {
  mode?: Mode;
  owner?: string;
  group?: string;
}

export interface RemoteStat {
  kind: 'file' | 'directory' | 'link' | 'other';
  mode: number;
  owner: string;
  group: string;
  uid: number;
  gid: number;
  size: number;
}

/** `stat` without -L: a symlink is reported as a link, not as its target. */
export const STAT_FORMAT = '%F|%a|%U|%G|%u|%g|%s';
export const statCmd = (path: string): Command => sh`stat -c ${STAT_FORMAT} -- ${path}`;

/** null when the path does not exist; throws when stat failed for another reason. */
export function parseStat(path: string, r: ExecResult): RemoteStat | null {
  if (r.exitCode !== 0) {
    if (/permission denied/i.test(r.stderr)) throw new Error(`cannot stat ${path}: ${r.stderr.trim()}`);
    return null;
  }
  const [type, mode, owner, group, uid, gid, size] = r.stdout.trim().split('|');
  const kind = type === 'directory' ? 'directory' : type === 'symbolic link' ? 'link' : /regular/.test(type) ? 'file' : 'other';
  return { kind, mode: parseInt(mode, 8), owner, group, uid: Number(uid), gid: Number(gid), size: Number(size) };
}

export function parseMode(mode: Mode, what = 'mode'): number {
  if (typeof mode === 'number') {
    if (Number.isInteger(mode) && mode >= 0 && mode <= 0o7777) return mode;
  } else if (/^(0o?)?[0-7]{1,4}$/.test(mode.trim())) {
    return parseInt(mode.trim().replace(/^0o/, ''), 8);
  }
  throw new Error(`${what}: ${JSON.stringify(mode)} is not an octal file mode (e.g. '0644')`);
}

export const formatMode = (bits: number) => bits.toString(8).padStart(4, '0');

/** `owner` may be a name or a numeric id. */
const sameId = (want: string, name: string, id: number) => want === name || want === String(id);

export interface AttrChanges {
  mode?: { from?: string; to: string };
  owner?: { from?: string; to: string };
  group?: { from?: string; to: string };
}

/** Which of the wanted attributes differ from the current ones (all of them when the path is new). */
export function attrChanges(current: RemoteStat | null, want: Attrs): AttrChanges {
  const out: AttrChanges = {};
  if (want.mode !== undefined) {
    const to = parseMode(want.mode);
    if (!current || current.mode !== to) out.mode = { from: current ? formatMode(current.mode) : undefined, to: formatMode(to) };
  }
  if (want.owner !== undefined && (!current || !sameId(want.owner, current.owner, current.uid))) {
    out.owner = { from: current?.owner, to: want.owner };
  }
  if (want.group !== undefined && (!current || !sameId(want.group, current.group, current.gid))) {
    out.group = { from: current?.group, to: want.group };
  }
  return out;
}

export const hasAttrChanges = (c: AttrChanges) => c.mode !== undefined || c.owner !== undefined || c.group !== undefined;

export function describeAttrChanges(c: AttrChanges): string[] {
  return (['mode', 'owner', 'group'] as const)
    .filter((k) => c[k])
    .map((k) => `${k} ${c[k]!.from ?? '∅'}→${c[k]!.to}`);
}

/** chmod/chown commands for the changed attributes; `link` changes the link itself (chown -h, no chmod). */
export function attrCommands(path: string, c: AttrChanges, opts: { link?: boolean } = {}): Command[] {
  const cmds: Command[] = [];
  const h = opts.link ? ['-h', '--'] : ['--'];
  if (c.owner) cmds.push(sh`chown ${h} ${c.group ? `${c.owner.to}:${c.group.to}` : c.owner.to} ${path}`);
  else if (c.group) cmds.push(sh`chgrp ${h} ${c.group.to} ${path}`);
  if (c.mode && !opts.link) cmds.push(sh`chmod -- ${c.mode.to} ${path}`);
  return cmds;
}

// ---------------------------------------------------------------- content

export const sha256 = (content: string | Buffer) => createHash('sha256').update(content).digest('hex');

export interface ContentDecision {
  /** the file is missing or its sha256 differs */
  content: boolean;
  created: boolean;
  attrs: AttrChanges;
}

/** Pure: what differs between the remote file (stat + sha256sum output) and the wanted one. */
export function decideContent(
  dest: string,
  remote: { stat: RemoteStat | null; sha?: string },
  want: Attrs & { sha: string },
): ContentDecision | null {
  if (remote.stat && remote.stat.kind !== 'file') {
    throw new Error(`${dest} exists and is a ${remote.stat.kind}, not a regular file`);
  }
  const content = !remote.stat || remote.sha !== want.sha;
  const attrs = attrChanges(remote.stat, want);
  if (!content && !hasAttrChanges(attrs)) return null;
  return { content, created: !remote.stat, attrs };
}

export const parseSha256sum = (r: ExecResult): string | undefined =>
  r.exitCode === 0 ? r.stdout.trim().split(/\s+/)[0] : undefined;

export interface WantedFile extends Attrs {
  dest: string;
  content: string | Buffer;
  validate?: string;
  /** applied to both sides of the diff: masks secrets; `side` says which text it is */
  redact?: (text: string, side: 'old' | 'new') => string;
}

interface ContentData {
  want: WantedFile;
  decision: ContentDecision;
}

/**
 * One round trip (sha256sum + stat) when nothing changed; a second one (cat) only when the
 * content differs, to show the diff.
 */
export async function planContent(ctx: ModuleContext, want: WantedFile): Promise<Change | null> {
  const [sum, st] = await ctx.conn.read([sh`sha256sum -- ${want.dest}`, statCmd(want.dest)]);
  const stat = parseStat(want.dest, st);
  const decision = decideContent(want.dest, { stat, sha: parseSha256sum(sum) }, { ...want, sha: sha256(want.content) });
  if (!decision) return null;
  let old: string | null = null;
  if (decision.content && stat) [{ stdout: old }] = await ctx.conn.read([sh`cat -- ${want.dest}`]);
  return contentChange(want, decision, old);
}

/** Pure: the Change for a decided content update, with its (redacted) diff against `old`. */
export function contentChange(want: WantedFile, decision: ContentDecision, old: string | null): Change {
  const redact = want.redact ?? ((t: string) => t);
  let diff = '';
  if (decision.content) {
    diff = unifiedDiff(want.dest, old === null ? null : redact(old, 'old'), redact(want.content.toString(), 'new'));
    if (diff === '') diff = `${want.dest}: content differs only in redacted values\n`;
  }
  const details = describeAttrChanges(decision.attrs);
  if (details.length) diff += `${want.dest}: ${details.join(', ')}\n`;
  const what = decision.created ? 'create' : decision.content ? 'update' : 'set';
  const summary = [`${what} ${want.dest}`, ...details].join(' ');
  return { summary, diff, data: { want, decision } satisfies ContentData };
}

/** Uploads only when the content differs (atomic, validated); otherwise just chmod/chown. */
export async function applyContent(ctx: ModuleContext, change: Change): Promise<void> {
  const { want, decision } = change.data as ContentData;
  if (decision.content) {
    // Without explicit attributes put() keeps those of the file it replaces.
    await ctx.conn.put(want.dest, want.content, {
      mode: want.mode !== undefined ? formatMode(parseMode(want.mode)) : undefined,
      owner: want.owner,
      group: want.group,
      validate: want.validate,
    });
    return;
  }
  const cmds = attrCommands(want.dest, decision.attrs);
  if (cmds.length) await ctx.conn.exec(join(cmds, ' && '));
}
