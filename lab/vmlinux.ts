// The kernel's uncompressed ELF image, cut out of the bzImage (like the kernel's
// scripts/extract-vmlinux): qemu boots it directly, which skips the decompressor — seconds of
// CPU under software emulation.
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';

const formats: Array<{ magic: Buffer; cmd: string[] }> = [
  { magic: Buffer.from('fd377a585a00', 'hex'), cmd: ['xz', '-dc'] },
  { magic: Buffer.from('28b52ffd', 'hex'), cmd: ['zstd', '-dcq'] },
  { magic: Buffer.from('1f8b08', 'hex'), cmd: ['gzip', '-dc'] },
  { magic: Buffer.from('02214c18', 'hex'), cmd: ['lz4', '-dc'] },
];

const isElf = (b: Buffer) => b.length > 4 && b.readUInt32BE(0) === 0x7f454c46;

/** Writes the ELF vmlinux found inside `bzImage` to `dest`; throws if none decompresses. */
export async function extractVmlinux(bzImage: string, dest: string): Promise<void> {
  const image = fs.readFileSync(bzImage);
  const tried: string[] = [];
  for (const { magic, cmd } of formats) {
    for (let at = image.indexOf(magic); at >= 0; at = image.indexOf(magic, at + 1)) {
      // decompressors complain about the trailing bytes after the payload; the output is still whole
      const r = spawnSync(cmd[0], cmd.slice(1), { input: image.subarray(at), maxBuffer: 1 << 30 });
      const error = r.error as NodeJS.ErrnoException | undefined;
      if (error?.code === 'ENOENT') {
        tried.push(`${cmd[0]}: not installed`);
        break;
      }
      // EPIPE is expected: the decompressor stops reading at the end of its stream
      tried.push(`${cmd[0]} at ${at}: ${error ? error.message : `exit ${r.status}`}, ${r.stdout?.length ?? 0} bytes`);
      if (r.stdout && isElf(r.stdout)) {
        fs.writeFileSync(dest, r.stdout);
        return;
      }
    }
  }
  throw new Error(`${bzImage}: no compressed ELF kernel found (${tried.join('; ') || 'no xz, zstd, gzip or lz4 signature'})`);
}
