// The remote half of an atomic put, as one shell script run in one exec: the uploaded bytes
// sit in a temp file beside dest, get their mode and owner, are validated, and only then
// replace dest by rename (atomic within one filesystem). Any failure removes the temp file and
// leaves dest untouched. Pure: builds the script and explains its exit codes.
import { posix } from 'node:path';
import { quote, raw, sh, type Command } from './shell.ts';
import type { PutOptions } from './types.ts';

export interface PutPaths {
  dest: string;
  /** temp file in dest's directory: `.<name>.lvsplay-<random>` */
  temp: string;
  /** where sftp wrote the bytes when that differs from temp (become: /tmp, then copied by root) */
  upload?: string;
}

export function putPaths(dest: string, random: string, viaTmp: boolean): PutPaths {
  if (!posix.isAbsolute(dest)) throw new Error(`put: destination must be an absolute path, got ${JSON.stringify(dest)}`);
  const temp = posix.join(posix.dirname(dest), `.${posix.basename(dest)}.lvsplay-${random}`);
  return viaTmp ? { dest, temp, upload: `/tmp/.lvsplay-upload-${random}` } : { dest, temp };
}

export const PUT_STEP: Record<number, string> = {
  100: 'copying the upload beside the destination',
  101: 'chmod',
  102: 'chown',
  103: 'validate',
  104: 'rename into place',
};

/**
 * Without an explicit mode/owner, an existing dest keeps its own (like Ansible's atomic_move);
 * a new file gets 0644. `asRoot` says whether chown --reference may be attempted.
 */
export function putScript(p: PutPaths, opts: PutOptions, asRoot: boolean): Command {
  const lines: Command[] = [
    sh`t=${p.temp}`,
    p.upload ? sh`u=${p.upload}` : sh`u=`,
    sh`trap ${'rm -f -- "$t" ${u:+"$u"}'} EXIT`,
  ];
  if (p.upload) lines.push(sh`cp -- "$u" "$t" || exit 100`);
  lines.push(
    opts.mode
      ? sh`chmod -- ${opts.mode} "$t" || exit 101`
      : sh`if [ -e ${p.dest} ]; then chmod --reference=${p.dest} -- "$t"; else chmod 0644 -- "$t"; fi || exit 101`,
  );
  if (opts.owner || opts.group) {
    const spec = `${opts.owner ?? ''}${opts.group ? `:${opts.group}` : ''}`;
    lines.push(sh`chown -- ${spec} "$t" || exit 102`);
  } else if (asRoot) {
    lines.push(sh`if [ -e ${p.dest} ]; then chown --reference=${p.dest} -- "$t"; fi || exit 102`);
  }
  if (opts.validate) {
    const validate = raw(opts.validate.replaceAll('%s', quote(p.temp)));
    lines.push(sh`(${validate}\n) </dev/null || { rc=$?; printf 'validate exited %s\\n' "$rc" >&2; exit 103; }`);
  }
  // the content reaches the disk before the rename makes it live: a power cut right after a converge
  // must leave the old file or the new one, never an empty one (coreutils sync FILE is fsync)
  lines.push(sh`sync -- "$t" 2>/dev/null || true`);
  lines.push(sh`mv -f -- "$t" ${p.dest} || exit 104`);
  return { text: lines.map((l) => l.text).join('\n'), masked: `put ${p.dest}` };
}

/** The validator's own exit code and stderr, recovered from the script's output. */
export function validateFailure(stderr: string): { exitCode: number; stderr: string } {
  const m = /(?:^|\n)validate exited (\d+)\n?$/.exec(stderr);
  return m ? { exitCode: Number(m[1]), stderr: stderr.slice(0, m.index) } : { exitCode: 103, stderr };
}
