// Several read-only probes in ONE exec: each runs in its own subshell (an `exit` or `cd` in one
// cannot affect the next) with stdin from /dev/null, and is framed by a random marker on both
// stdout and stderr, so each probe gets its own stdout, stderr and exit code back. Pure.
import { randomBytes } from 'node:crypto';
import type { Command } from './shell.ts';
import type { ExecResult } from './types.ts';

export interface ReadScript {
  script: Command;
  parse(stdout: string, stderr: string): ExecResult[];
}

export function readScript(cmds: Command[], marker = `lvsplay-${randomBytes(8).toString('hex')}`): ReadScript {
  const frame = (f: (c: Command, i: number) => string) => cmds.map(f).join('\n');
  // The newline before ')' keeps a trailing `# comment` in a probe from swallowing the paren.
  const build = (text: (c: Command) => string) =>
    frame(
      (c, i) =>
        `printf '%s\\n' '${marker}:${i}:begin'; printf '%s\\n' '${marker}:${i}:begin' >&2\n` +
        `(${text(c)}\n) </dev/null\n` +
        `printf '\\n%s:%s\\n' '${marker}:${i}:end' "$?"; printf '\\n%s\\n' '${marker}:${i}:end' >&2`,
    );
  return {
    script: { text: build((c) => c.text), masked: cmds.map((c) => c.masked).join('; ') },
    parse(stdout, stderr) {
      return cmds.map((_, i) => {
        const out = between(stdout, `${marker}:${i}:begin\n`, `\n${marker}:${i}:end:`);
        const err = between(stderr, `${marker}:${i}:begin\n`, `\n${marker}:${i}:end\n`);
        // No end marker: the probe killed the whole script (e.g. `kill $$`), or the script never ran.
        const code = out.rest === undefined ? NaN : parseInt(out.rest, 10);
        return { stdout: out.body, stderr: err.body, exitCode: Number.isNaN(code) ? -1 : code };
      });
    },
  };
}

function between(text: string, begin: string, end: string): { body: string; rest?: string } {
  const b = text.indexOf(begin);
  if (b < 0) return { body: '' };
  const start = b + begin.length;
  const e = text.indexOf(end, start);
  if (e < 0) return { body: text.slice(start) };
  return { body: text.slice(start, e), rest: text.slice(e + end.length) };
}
