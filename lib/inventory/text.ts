// Reading an inventory or vars file as text, refusing what no inventory plugin could mean: binary
// files (said with their size, never their bytes), NUL bytes and invalid UTF-8 (said with file:line:col).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../types.ts';

export function shownPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/** File signatures of common binaries, for a friendlier "binary file (gzip)" */
const MAGIC: Array<[bytes: number[], kind: string]> = [
  [[0x7f, 0x45, 0x4c, 0x46], 'ELF executable'],
  [[0x1f, 0x8b], 'gzip'],
  [[0x50, 0x4b, 0x03, 0x04], 'zip'],
  [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 'xz'],
  [[0x42, 0x5a, 0x68], 'bzip2'],
  [[0x28, 0xb5, 0x2f, 0xfd], 'zstd'],
  [[0x89, 0x50, 0x4e, 0x47], 'PNG'],
  [[0x25, 0x50, 0x44, 0x46], 'PDF'],
];

const SNIFF = 8000;

/** The file's text; ConfigError naming the file (and line:col) for anything that is not UTF-8 text. */
export async function readText(file: string, what: string): Promise<{ text: string; shown: string }> {
  const shown = shownPath(file);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new ConfigError(`${what} ${shown}: ${why}`);
  }
  return { text: decodeText(bytes, shown, what), shown };
}

export function decodeText(bytes: Buffer, shown: string, what = 'file'): string {
  const kind = MAGIC.find(([magic]) => magic.every((b, i) => bytes[i] === b))?.[1];
  if (kind || looksBinary(bytes.subarray(0, SNIFF))) {
    throw new ConfigError(`${what} ${shown}: binary file (${kind ? `${kind}, ` : ''}${bytes.length} bytes), not an inventory`);
  }
  const nul = bytes.indexOf(0);
  if (nul !== -1) throw at(bytes, nul, shown, 'NUL byte in the file: not a text file');
  const bad = invalidUtf8At(bytes);
  if (bad !== -1) throw at(bytes, bad, shown, `invalid UTF-8 (byte 0x${bytes[bad].toString(16).padStart(2, '0')}): save the file as UTF-8`);
  const text = bytes.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text; // a BOM, as Python's utf-8-sig
}

/** NULs among many control bytes: binary. A stray NUL in text is reported with its line instead. */
function looksBinary(head: Buffer): boolean {
  if (!head.includes(0)) return false;
  let control = 0;
  for (const b of head) if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c) control++;
  return control > head.length * 0.1;
}

function at(bytes: Buffer, offset: number, shown: string, message: string): ConfigError {
  const before = bytes.subarray(0, offset);
  let line = 1;
  let lineStart = 0;
  for (let i = before.indexOf(10); i !== -1; i = before.indexOf(10, i + 1)) { line++; lineStart = i + 1; }
  const col = before.subarray(lineStart).toString('utf8').length + 1;
  return new ConfigError(message, shown, line, col);
}

/** Offset of the first byte that breaks UTF-8, or -1. */
export function invalidUtf8At(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i];
    if (c < 0x80) { i++; continue; }
    let n: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) { n = 1; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { n = 2; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; min = 0x10000; }
    else return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}
