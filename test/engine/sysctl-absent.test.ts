// The sysctl module's `state: absent` with `restore` (lvs_arp_scope switching, roles/realserver/arp.ts)
// against a REAL sshd on 127.0.0.1: the key's line leaves the file, the kernel goes back to `restore`
// only while it still runs the file's value, check mode changes nothing, a second run has nothing to
// do. Uses net.ipv4.conf.lo.arp_announce (test/engine/modules.test.ts uses lo.arp_ignore: the files
// run in parallel) and puts its value back.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect } from '../../lib/ssh.ts';
import { sysctl, type SysctlArgs } from '../../lib/modules/sysctl.ts';
import type { Conn, ModuleContext } from '../../lib/types.ts';
import { startSshd, type SshdLab } from '../helpers/sshd.ts';

const KEY = 'net.ipv4.conf.lo.arp_announce';
const PROC = '/proc/sys/net/ipv4/conf/lo/arp_announce';

let lab: SshdLab;
let conn: Conn;
let before: string;

test.before(async () => {
  before = fs.readFileSync(PROC, 'utf8').trim();
  lab = await startSshd({ count: 1 });
  conn = await connect({ ...lab.hosts[0], become: true }, { knownHostsFiles: [lab.knownHostsFile], hostKeyChecking: 'strict' });
});

test.after.always(async () => {
  if (before !== undefined) fs.writeFileSync(PROC, before);
  await conn?.close();
  await lab?.stop();
});

const ctx = (check = false) => ({ conn, host: conn.host, facts: {}, vars: {}, check, log: () => {} }) as unknown as ModuleContext;

async function run(args: SysctlArgs, check = false) {
  const change = await sysctl.module.plan(ctx(check), args);
  if (change && !check) await sysctl.module.apply(ctx(), args, change);
  return change;
}

const kernel = () => fs.readFileSync(PROC, 'utf8').trim();

test.serial('state absent + restore: lvsplay\'s line removed and the kernel restored; a foreign value is left; idempotent; check mode inert', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-sysctl-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, '60-lvsplay.conf');

  t.is(await run({ key: KEY, state: 'absent', restore: 0, file }), null, 'no file: nothing of ours to undo');
  t.truthy(await run({ key: KEY, value: 2, file }));
  fs.appendFileSync(file, 'net.ipv4.conf.eth1.arp_announce = 2\n');
  t.is(kernel(), '2');

  const dry = await run({ key: KEY, state: 'absent', restore: 0, file }, true);
  t.is(dry!.summary, `${KEY} 2 → 0 (restored), ${KEY} removed from ${file}`);
  t.regex(dry!.diff!, /^-net\.ipv4\.conf\.lo\.arp_announce = 2$/m);
  t.is(kernel(), '2', 'check mode: kernel untouched');
  t.regex(fs.readFileSync(file, 'utf8'), /lo\.arp_announce = 2/, 'check mode: file untouched');

  t.truthy(await run({ key: KEY, state: 'absent', restore: 0, file }));
  t.is(kernel(), '0', 'the kernel back at restore');
  t.is(fs.readFileSync(file, 'utf8'), 'net.ipv4.conf.eth1.arp_announce = 2\n', 'only our key left the file');
  t.is(await run({ key: KEY, state: 'absent', restore: 0, file }), null, 'second run: nothing to do');

  // our line is back, but someone changed the kernel since: only the line goes
  fs.writeFileSync(file, `${KEY} = 2\n`);
  fs.writeFileSync(PROC, '1');
  const foreign = await run({ key: KEY, state: 'absent', restore: 0, file });
  t.is(foreign!.summary, `${KEY} removed from ${file}`);
  t.is(kernel(), '1', 'a value that is not the file\'s stays');
  t.is(fs.readFileSync(file, 'utf8'), '');
});
