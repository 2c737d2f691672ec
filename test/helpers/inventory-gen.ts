// Generated inventories for the input-defect tests and bench/inventory.ts (too big, or too binary, to keep as fixtures).
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

/** g0 > g1 > … > g<n-1>, one group per top-level key (the flat form), host h1 in the deepest. */
export function chainYaml(n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(`g${i}:`);
    if (i < n - 1) lines.push('  children:', `    g${i + 1}:`);
    else lines.push('  hosts:', '    h1:', '      depth_var: deepest');
  }
  return `${lines.join('\n')}\n`;
}

/** A loop: g0 > g1 > … > g<n-1> > g0. */
export function cycleYaml(n: number): string {
  return chainYaml(n).replace(/\n {2}hosts:[\s\S]*$/, `\n  children:\n    g0:\n`);
}

/**
 * A diamond lattice `levels` deep: level i holds groups a<i> and b<i>, each a child of both groups
 * of level i-1; paths from the top double at each level (2^levels), groups and edges grow by 2 and 4.
 */
export function latticeYaml(levels: number): string {
  const lines: string[] = [];
  for (let i = 0; i < levels; i++) {
    for (const p of ['a', 'b']) {
      lines.push(`${p}${i}:`);
      if (i === 0) lines.push(`  vars: { top: ${p}0 }`);
      if (i < levels - 1) lines.push('  children:', `    a${i + 1}:`, `    b${i + 1}:`);
      else if (p === 'a') lines.push('  hosts:', '    bottom:', '      ansible_host: 10.0.0.1');
    }
  }
  return `${lines.join('\n')}\n`;
}

/** `count` hosts in one group, each with a var. */
export function manyHostsYaml(count: number): string {
  const lines = ['all:', '  children:', '    big:', '      hosts:'];
  for (let i = 0; i < count; i++) lines.push(`        host${i}: { n: ${i} }`);
  return `${lines.join('\n')}\n`;
}

/** The first bytes of an ELF executable (this node binary), and a gzip of an inventory. */
export function binaries(): { elf: Buffer; gzip: Buffer } {
  const elf = Buffer.alloc(20_000);
  const fd = fs.openSync(process.execPath, 'r');
  try {
    fs.readSync(fd, elf, 0, elf.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  return { elf, gzip: zlib.gzipSync(manyHostsYaml(200)) };
}

export function writeIn(dir: string, name: string, content: string | Buffer): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}
