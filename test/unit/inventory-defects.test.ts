// The input defects of issue 10, each with its regression test (timings are in bench/inventory.ts):
// deep group chains, loops, diamond lattices, 25 000 hosts, binary files, NUL / invalid UTF-8 /
// unknown YAML tags.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { loadInventory } from '../../lib/inventory.ts';
import { ConfigError } from '../../lib/types.ts';
import { binaries, chainYaml, cycleYaml, latticeYaml, manyHostsYaml, writeIn } from '../helpers/inventory-gen.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-inv-defects-'));
test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));
const quiet = { warn: () => {} };

for (const depth of [1000, 3000]) {
  test(`a chain of ${depth} nested groups loads: no stack overflow, the host is in every group, vars reach it`, async (t) => {
    const inv = await loadInventory(writeIn(dir, `chain${depth}.yml`, chainYaml(depth)), quiet);
    const h1 = inv.hosts.get('h1')!;
    t.is(h1.groups.length, depth + 1); // all + g0…g<depth-1>
    t.is(h1.groups[1], 'g0');
    t.is(h1.groups.at(-1), `g${depth - 1}`);
    t.deepEqual(inv.groups.get('g0'), ['h1']);
    t.is(h1.vars.depth_var, 'deepest');
  });
}

test('a loop of 3000 groups is refused with the edge that closes it, file:line:col, no stack trace', async (t) => {
  const e = await t.throwsAsync(loadInventory(writeIn(dir, 'cycle.yml', cycleYaml(3000)), quiet), { instanceOf: ConfigError });
  t.regex(e!.message, /cycle\.yml:\d+:5: g2999\.children\.g0: group "g0" under "g2999" makes a loop: g0 → g1 → g2 → g3 → … 2994 more … → g2998 → g2999 → g0$/);
  t.notRegex(e!.message, /RangeError|Maximum call stack/);
});

test('a 28-level diamond lattice (2^28 paths, 56 groups) loads: the host is in a27 and every group above it (55 + all), vars from both tops', async (t) => {
  const text = latticeYaml(28);
  t.true(text.length < 2000); // the audit's 1.9 KB file
  const inv = await loadInventory(writeIn(dir, 'lattice.yml', text), quiet);
  const bottom = inv.hosts.get('bottom')!;
  t.is(bottom.groups.length, 56);
  t.false(bottom.groups.includes('b27'));
  t.is(bottom.vars.top, 'b0'); // same depth: merged by name, b0 after a0
  t.deepEqual(inv.groups.get('a0'), ['bottom']);
});

test('25 000 hosts in one group load, in order, each with its var', async (t) => {
  const inv = await loadInventory(writeIn(dir, 'many.yml', manyHostsYaml(25_000)), quiet);
  t.is(inv.hosts.size, 25_000);
  t.is(inv.groups.get('big')!.length, 25_000);
  t.is(inv.groups.get('all')![24_999], 'host24999');
  t.is(inv.hosts.get('host12345')!.vars.n, 12345);
  t.is(inv.select('big[-1]')[0].name, 'host24999');
});

test('a duplicate key among 25 000 is still found, with its line', async (t) => {
  const text = manyHostsYaml(25_000).replace('        host24999: { n: 24999 }', '        host17: { n: 24999 }');
  const e = await t.throwsAsync(loadInventory(writeIn(dir, 'dup.yml', text), quiet), { instanceOf: ConfigError });
  t.regex(e!.message, /dup\.yml:25004:9: YAML: duplicate key "host17": map keys must be unique$/);
});

for (const kind of ['elf', 'gzip'] as const) {
  test(`a binary file (${kind}) is refused as "binary file" with its size, not its bytes`, async (t) => {
    const bytes = binaries()[kind];
    const file = writeIn(dir, `inventory.${kind}`, bytes);
    const e = await t.throwsAsync(loadInventory(file, quiet), { instanceOf: ConfigError });
    t.regex(e!.message, new RegExp(`^inventory \\S+inventory\\.${kind}: binary file \\((ELF executable|gzip), ${bytes.length} bytes\\), not an inventory$`));
    t.true(e!.message.length < 200);
  });
}

test('NUL bytes, invalid UTF-8 and unknown YAML tags in a group_vars file are refused with file:line:col too', async (t) => {
  const base = fs.mkdtempSync(path.join(dir, 'gv-'));
  fs.mkdirSync(path.join(base, 'group_vars'));
  const inv = writeIn(base, 'hosts.yml', 'web:\n  hosts:\n    w1:\n');
  const cases: Array<[content: string | Buffer, message: RegExp]> = [
    [Buffer.from('a: 1\nb: "x\0y"\n'), /group_vars\/web\.yml:2:6: NUL byte in the file/],
    [Buffer.concat([Buffer.from('a: 1\nname: caf'), Buffer.from([0xc3, 0x28]), Buffer.from('\n')]), /group_vars\/web\.yml:2:10: invalid UTF-8 \(byte 0xc3\)/],
    ['a: !!python/object/apply:os.system ["id"]\n', /group_vars\/web\.yml:1:4: YAML: unknown tag !!python\/object\/apply:os\.system/],
    ['a: !custom x\n', /group_vars\/web\.yml:1:4: YAML: unknown tag !custom/],
  ];
  for (const [content, message] of cases) {
    writeIn(base, 'group_vars/web.yml', content);
    const e = await t.throwsAsync(loadInventory(inv, quiet), { instanceOf: ConfigError });
    t.regex(e!.message, message);
  }
});
