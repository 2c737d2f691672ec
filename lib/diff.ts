// Unified diffs for --diff (jsdiff) and the redaction of secret values in them.
import { createRequire } from 'node:module';

// jsdiff is loaded on the first diff, not with every module that may make one (issue 13: start-up).
// require() keeps unifiedDiff synchronous; the package ships the same code as CommonJS.
let jsdiff: typeof import('diff') | undefined;
const loadJsdiff = () => (jsdiff ??= createRequire(import.meta.url)('diff') as typeof import('diff'));

export const MASK = '********';

/** Text we refuse to diff line by line: NUL bytes, or too large to be worth showing. */
const MAX_DIFF_BYTES = 512 * 1024;
const isBinary = (s: string) => s.includes('\0');

/**
 * A unified diff of `before` → `after` for `path`; '' when they are equal.
 * `before === null` means the file does not exist yet (shown as /dev/null, like diff -N).
 */
export function unifiedDiff(path: string, before: string | null, after: string | null): string {
  if (before === after) return '';
  const from = before === null ? '/dev/null' : `a${path.startsWith('/') ? '' : '/'}${path}`;
  const to = after === null ? '/dev/null' : `b${path.startsWith('/') ? '' : '/'}${path}`;
  const a = before ?? '';
  const b = after ?? '';
  if (isBinary(a) || isBinary(b) || a.length + b.length > MAX_DIFF_BYTES) {
    return `Binary or large files ${from} (${a.length} bytes) and ${to} (${b.length} bytes) differ\n`;
  }
  const patch = loadJsdiff().createTwoFilesPatch(from, to, a, b, undefined, undefined, { context: 3 });
  // jsdiff starts with a "===" underline line; unified diff readers expect the --- / +++ headers first.
  return patch.replace(/^=+\n/, '');
}

/** A diff of two small key/value descriptions (state, mode, owner…), for modules without file content. */
export function stateDiff(path: string, before: Record<string, unknown> | null, after: Record<string, unknown> | null): string {
  const show = (o: Record<string, unknown> | null) =>
    o === null ? null : Object.entries(o).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${String(v)}\n`).join('');
  return unifiedDiff(path, show(before), show(after));
}

/** Replaces every occurrence of each secret value by ********. Longest first, so a secret containing another is masked whole. */
export function redactValues(text: string, secrets: Iterable<string>): string {
  const values = [...new Set(secrets)].filter((s) => s !== '').sort((a, b) => b.length - a.length);
  let out = text;
  for (const v of values) out = out.split(v).join(MASK);
  return out;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Patterns for the lines that carry a secret, learnt from a rendering where every secret was
 * replaced by `token`: the line `auth_pass TOKEN` becomes /^auth_pass (.*?)$/. They let us mask
 * a secret's *old* value in the remote file, which we cannot know by value.
 */
export function secretLinePatterns(renderedWithToken: string, token: string): RegExp[] {
  const patterns: RegExp[] = [];
  for (const line of renderedWithToken.split('\n')) {
    if (!line.includes(token)) continue;
    const parts = line.split(token).map(escapeRegExp);
    patterns.push(new RegExp(`^${parts.join('(.*?)')}$`, 'd'));
  }
  return patterns;
}

/** Masks the captured parts of every line that matches one of the patterns. */
export function redactLines(text: string, patterns: RegExp[]): string {
  if (patterns.length === 0) return text;
  return text
    .split('\n')
    .map((line) => {
      for (const re of patterns) {
        const m = re.exec(line);
        if (!m) continue;
        // Rebuild the line with every captured group (the secret's place) masked.
        let out = '';
        let pos = 0;
        for (const span of m.indices!.slice(1)) {
          if (!span) continue;
          const [start, end] = span;
          out += line.slice(pos, start) + (end > start ? MASK : '');
          pos = end;
        }
        return out + line.slice(pos);
      }
      return line;
    })
    .join('\n');
}
