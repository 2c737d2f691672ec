// file: a path's kind (file, directory, symlink, absent) and its mode/owner/group.
import path from 'node:path';
import { defineModule } from '../module.ts';
import { join, sh, type Command } from '../shell.ts';
import { stateDiff } from '../diff.ts';
import { attrChanges, attrCommands, describeAttrChanges, formatMode, parseMode, parseStat, statCmd, type Attrs, type RemoteStat } from './remote-file.ts';

export interface FileArgs extends Attrs {
  path: string;
  state: 'file' | 'directory' | 'absent' | 'link';
  /** link target, for state 'link' */
  src?: string;
}

const KIND = { file: 'file', directory: 'directory', link: 'link' } as const;

export function checkPath(p: string): void {
  if (typeof p !== 'string' || !path.isAbsolute(p)) throw new Error(`file: path must be absolute, got ${JSON.stringify(p)}`);
  if (path.normalize(p) === '/') throw new Error('file: refusing to manage /');
}

/** Pure: the commands that bring `path` from `current` (null: missing; `target`: readlink) to `args`. */
export function decideFile(args: FileArgs, current: RemoteStat | null, target?: string): { cmds: Command[]; describe: string[] } | null {
  checkPath(args.path);
  const p = args.path;
  const cmds: Command[] = [];
  const describe: string[] = [];
  if (args.state === 'absent') {
    if (!current) return null;
    return { cmds: [sh`rm -rf -- ${p}`], describe: [`remove ${current.kind} ${p}`] };
  }
  const wantKind = KIND[args.state];
  if (!wantKind) throw new Error(`file ${p}: unknown state ${JSON.stringify(args.state)}`);
  if (args.state === 'link' && (args.src === undefined || args.src === '')) throw new Error(`file ${p}: state 'link' needs src`);
  if (current && current.kind !== wantKind) {
    throw new Error(`file ${p}: exists as a ${current.kind}, wanted a ${wantKind}`);
  }
  let existing = current;
  if (!current || (args.state === 'link' && target !== args.src)) {
    if (args.state === 'directory') cmds.push(sh`mkdir -p -- ${p}`);
    else if (args.state === 'file') cmds.push(sh`touch -- ${p}`);
    else cmds.push(sh`ln -sfn -- ${args.src!} ${p}`);
    describe.push(current ? `relink ${p} → ${args.src}` : `create ${wantKind} ${p}${args.state === 'link' ? ` → ${args.src}` : ''}`);
    if (args.state === 'link') existing = null;
  }
  const want: Attrs = args.state === 'link' ? { owner: args.owner, group: args.group } : args;
  const attrs = attrChanges(existing, want);
  cmds.push(...attrCommands(p, attrs, { link: args.state === 'link' }));
  describe.push(...describeAttrChanges(attrs));
  return cmds.length ? { cmds, describe } : null;
}

const show = (st: RemoteStat | null, target?: string) =>
  st ? { state: st.kind, ...(st.kind === 'link' ? { src: target } : { mode: formatMode(st.mode) }), owner: st.owner, group: st.group } : { state: 'absent' };

export const file = defineModule<FileArgs>({
  name: 'file',
  async plan(ctx, args) {
    checkPath(args.path);
    const probes = [statCmd(args.path)];
    if (args.state === 'link') probes.push(sh`readlink -- ${args.path}`);
    const [st, link] = await ctx.conn.read(probes);
    const current = parseStat(args.path, st);
    const target = link && link.exitCode === 0 ? link.stdout.replace(/\n$/, '') : undefined;
    const d = decideFile(args, current, target);
    if (!d) return null;
    const mode = args.mode !== undefined ? formatMode(parseMode(args.mode)) : current ? formatMode(current.mode) : undefined;
    const after =
      args.state === 'absent'
        ? { state: 'absent' }
        : {
            state: KIND[args.state],
            ...(args.state === 'link' ? { src: args.src } : { mode }),
            owner: args.owner ?? current?.owner,
            group: args.group ?? current?.group,
          };
    return {
      summary: d.describe.join(', '),
      diff: stateDiff(args.path, show(current, target), after),
      data: d.cmds,
    };
  },
  async apply(ctx, _args, change) {
    await ctx.conn.exec(join(change.data as Command[], ' && '));
  },
});
