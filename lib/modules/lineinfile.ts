// lineinfile: one line in a text file, replaced by regexp or appended; or lines removed.
import { defineModule } from '../module.ts';
import { sh } from '../shell.ts';
import { applyContent, contentChange, decideContent, parseStat, sha256, statCmd } from './remote-file.ts';

export interface LineinfileArgs {
  path: string;
  line: string;
  /** JavaScript regular expression: the last matching line is replaced (present) or all are removed (absent) */
  regexp?: string;
  state?: 'present' | 'absent';
  /** create the file when it is missing (state present) */
  create?: boolean;
}

function compile(regexp: string): RegExp {
  try {
    return new RegExp(regexp);
  } catch (err) {
    throw new Error(`lineinfile: invalid regexp ${JSON.stringify(regexp)}: ${(err as Error).message}`);
  }
}

/**
 * Pure, Ansible's semantics: present + regexp replaces the last matching line (or appends when
 * none matches and the line is not there yet); present alone appends when missing; absent removes
 * every line matching regexp (or equal to line). `content` null: the file does not exist.
 */
export function editLines(content: string | null, args: Pick<LineinfileArgs, 'line' | 'regexp' | 'state'>): string | null {
  if (args.line.includes('\n')) throw new Error('lineinfile: line must be a single line');
  const re = args.regexp !== undefined ? compile(args.regexp) : undefined;
  const text = content ?? '';
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const matches = (l: string) => (re ? re.test(l) : l === args.line);

  if ((args.state ?? 'present') === 'absent') {
    if (content === null) return null;
    const kept = lines.filter((l) => !matches(l));
    return kept.length === lines.length ? content : kept.map((l) => `${l}\n`).join('');
  }
  let last = -1;
  if (re) lines.forEach((l, i) => re.test(l) && (last = i));
  if (last >= 0) {
    if (lines[last] === args.line) return content;
    lines[last] = args.line;
  } else if (lines.includes(args.line)) {
    return content;
  } else {
    lines.push(args.line);
  }
  return lines.map((l) => `${l}\n`).join('');
}

export const lineinfile = defineModule<LineinfileArgs>({
  name: 'lineinfile',
  async plan(ctx, args) {
    const [cat, st] = await ctx.conn.read([sh`cat -- ${args.path}`, statCmd(args.path)]);
    const stat = parseStat(args.path, st);
    if (stat && stat.kind !== 'file') throw new Error(`lineinfile: ${args.path} is a ${stat.kind}, not a regular file`);
    const old = stat ? cat.stdout : null;
    if (stat && cat.exitCode !== 0) throw new Error(`lineinfile: cannot read ${args.path}: ${cat.stderr.trim()}`);
    if (!stat && (args.state ?? 'present') === 'present' && !args.create) {
      throw new Error(`lineinfile: ${args.path} does not exist (set create: true to create it)`);
    }
    const next = editLines(old, args);
    if (next === null || next === old) return null;
    const want = { dest: args.path, content: next };
    const decision = decideContent(args.path, { stat, sha: old === null ? undefined : sha256(old) }, { sha: sha256(next) })!;
    return contentChange(want, decision, old);
  },
  async apply(ctx, _args, change) {
    await applyContent(ctx, change);
  },
});
