// Batched planning (one exec reads the state of a run of tasks) gives exactly the results of
// planning task by task, against a REAL sshd: every module, changed and unchanged, register and
// `when`, facts read by `when` and by a template, handlers, verify, a failing task with
// ignoreErrors, check mode and --diff. Each mode works in its own directory (and on its own
// loopback address) from the same starting state; results and the files left behind must match.
//
// The roles' own task lists run on the lab (test/lab/22-batch.test.ts compares both modes there).
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadInventory } from '../../lib/inventory.ts';
import { address, command, copy, file, kmod, lineinfile, pkg, service, sysctl, template } from '../../lib/modules/index.ts';
import { runPlays } from '../../lib/runner.ts';
import { secret, sh } from '../../lib/shell.ts';
import { ConnectionPool } from '../../lib/ssh.ts';
import type { Play, Role, Task, TaskResult } from '../../lib/types.ts';
import { startSshd, writeInventory, type SshdLab } from '../helpers/sshd.ts';

let lab: SshdLab;
let root: string;
const ADDR = { batched: '127.0.0.81', single: '127.0.0.82' } as const;
type Mode = keyof typeof ADDR;

test.before(async () => {
  lab = await startSshd({ count: 1 });
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-eq-'));
  fs.chmodSync(root, 0o755);
  fs.writeFileSync(path.join(root, 'app.conf.ejs'), 'name=<%- name %>\npass=<%- pass %>\n');
  fs.writeFileSync(path.join(root, 'host.conf.ejs'), 'host=<%- facts.hostname %> os=<%- facts.os.id %>\n');
});

test.after.always(async () => {
  await lab?.stop();
  for (const ip of Object.values(ADDR)) {
    try {
      (await import('node:child_process')).execFileSync('ip', ['addr', 'del', `${ip}/32`, 'dev', 'lo'], { stdio: 'ignore' });
    } catch {
      /* not there */
    }
  }
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

const ipForward = () => fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();

/** Every module; `extra` adds the ones that can only be planned here (no systemd, no apt in tests). */
function tasks(v: Record<string, any>): Task[] {
  const d: string = v.dir;
  const list: Task[] = [
    file({ path: d, state: 'directory', mode: '0755' }),
    copy({ content: 'a = 1\n', dest: `${d}/a.conf`, mode: '0644' }, { notify: ['note a'] }),
    copy({ content: 'b = 2\n', dest: `${d}/b.conf`, mode: '0600', owner: 'root' }),
    template({ src: `${v.root}/app.conf.ejs`, dest: `${d}/app.conf`, vars: { name: 'eq', pass: secret('s3cret') }, mode: '0640' }),
    lineinfile({ path: `${d}/lines.conf`, line: 'k1 = v1', regexp: '^k1 =', create: true }),
    lineinfile({ path: `${d}/lines.conf`, line: 'k2 = v2', regexp: '^k2 =', create: true }),
    lineinfile({ path: `${d}/lines.conf`, line: 'old', state: 'absent' }),
    file({ path: `${d}/a.link`, state: 'link', src: `${d}/a.conf` }),
    file({ path: `${d}/gone`, state: 'absent' }),
    command({ cmd: sh`touch ${`${d}/marker`}`, creates: `${d}/marker` }, { register: 'made' }),
    command({ cmd: sh`echo made >> ${`${d}/made.log`}` }, { when: (c) => (c.vars.made as { changed: boolean }).changed, name: 'log marker' }),
    command({ cmd: sh`true`, unless: sh`test -e ${`${d}/a.conf`}`, changedWhen: () => false }, { name: 'guarded' }),
    sysctl({ key: 'net.ipv4.ip_forward', value: ipForward(), file: `${d}/sysctl.conf` }),
    address({ dev: 'lo', cidr: `${v.addr}/32` }),
    pkg({ names: ['dash'] }),
    kmod({ name: 'dummy' }, { ignoreErrors: true, name: 'kmod (no /proc/modules here: fails the same way)' }),
    copy({ content: 'debian only\n', dest: `${d}/debian.conf` }, { when: (c) => c.facts.os.id === 'debian', name: 'when reads facts' }),
    template({ src: `${v.root}/host.conf.ejs`, dest: `${d}/host.conf` }),
    copy({ content: 'last\n', dest: `${d}/last.conf` }),
  ];
  if (v.extra) list.push(service({ name: 'lvsplay-eq-none', state: 'started', enabled: true }), pkg({ names: ['lvsplay-eq-missing'] }));
  return list;
}

const role: Role = {
  name: 'eq',
  dir: '/nonexistent',
  defaults: {},
  tasks: tasks as never,
  handlers: (v: any) => [{ ...command({ cmd: sh`echo handled >> ${`${v.dir}/handler.log`}` }), name: 'note a' }],
  verify: (v: any) => [command({ cmd: sh`test -s ${`${v.dir}/a.conf`}`, changedWhen: () => false }, { name: 'a.conf is there' })],
};

interface Outcome {
  results: Array<Partial<TaskResult>>;
  /** fact groups gathered: a batch reads them earlier than the task that needs them, maybe with others */
  facts: string[];
  execs: number;
  exitCode: number;
}

async function run(mode: Mode, opts: { check?: boolean; extra?: boolean } = {}): Promise<Outcome> {
  const dir = path.join(root, mode);
  const inv = writeInventory(lab, path.join(root, `${mode}.yml`), {
    vars: { ansible_become: true, dir, root, addr: ADDR[mode], extra: opts.extra ?? false },
  });
  const inventory = await loadInventory(inv);
  let execs = 0;
  const pool = new ConnectionPool({ hostKeyChecking: 'strict', onChannel: (_h, kind) => kind === 'exec' && execs++ });
  const play: Play = { name: 'eq', hosts: 'all', roles: [role] };
  try {
    const sum = await runPlays([play], { inventory, pool, batch: mode === 'batched', check: opts.check, diff: true });
    // both modes share this machine's lo: the other mode's address is not part of the comparison
    const other = ADDR[mode === 'batched' ? 'single' : 'batched'];
    const norm = (s?: string) => s?.replaceAll(dir, '<dir>').replaceAll(` ${other}/32`, '').replaceAll(ADDR[mode], '<addr>');
    const facts = sum.results.filter((r) => r.task === 'Gathering Facts').flatMap((r) => r.summary?.split(' ') ?? []).sort();
    const results = sum.results.filter((r) => r.task !== 'Gathering Facts').map((r) => ({
      task: norm(r.task),
      status: r.status,
      summary: norm(r.summary),
      diff: norm(r.diff),
      error: norm(r.error),
      ignored: r.ignored,
      handler: r.handler,
    }));
    return { results, facts, execs, exitCode: sum.exitCode };
  } finally {
    await pool.closeAll();
  }
}

/** The files a mode left: relative path → kind, mode, content or link target. */
function tree(mode: Mode): Record<string, string> {
  const dir = path.join(root, mode);
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  for (const name of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    const st = fs.lstatSync(p);
    const body = st.isSymbolicLink() ? `→ ${fs.readlinkSync(p).replace(dir, '<dir>')}` : st.isDirectory() ? '(directory)' : fs.readFileSync(p, 'utf8');
    out[name] = `${(st.mode & 0o7777).toString(8)} ${body}`;
  }
  return out;
}

/** The same change to both modes' directories (drift from outside lvsplay). */
function drift(): void {
  for (const mode of Object.keys(ADDR) as Mode[]) {
    const d = path.join(root, mode);
    fs.writeFileSync(path.join(d, 'a.conf'), 'a = changed by hand\n');
    fs.chmodSync(path.join(d, 'b.conf'), 0o644);
    fs.writeFileSync(path.join(d, 'lines.conf'), 'k2 = other\nold\n');
    fs.rmSync(path.join(d, 'marker'), { force: true });
    fs.mkdirSync(path.join(d, 'gone'), { recursive: true });
    fs.rmSync(path.join(d, 'a.link'), { force: true });
  }
}

async function same(t: any, what: string, opts: { check?: boolean; extra?: boolean } = {}): Promise<{ batched: Outcome; single: Outcome }> {
  const batched = await run('batched', opts);
  const single = await run('single', opts);
  t.deepEqual(batched.results, single.results, `${what}: same results`);
  t.deepEqual(batched.facts, single.facts, `${what}: same fact groups gathered`);
  t.is(batched.exitCode, single.exitCode, `${what}: same exit code`);
  t.deepEqual(tree('batched'), tree('single'), `${what}: same files`);
  t.true(batched.execs <= single.execs, `${what}: batched uses no more execs (${batched.execs} vs ${single.execs})`);
  return { batched, single };
}

test.serial('batched planning = task-by-task planning: check, apply, no-op, drift, check after drift', async (t) => {
  const fresh = await same(t, 'check mode on a fresh host (+ service, missing package)', { check: true, extra: true });
  t.true(fresh.batched.results.some((r) => r.task?.startsWith('service') && r.status === 'changed'));
  t.true(fresh.batched.results.some((r) => r.summary?.startsWith('install lvsplay-eq-missing')));
  t.deepEqual(tree('batched'), {}, 'check mode wrote nothing');

  const first = await same(t, 'first apply');
  t.true(first.batched.results.filter((r) => r.status === 'changed').length >= 15, 'the first apply changes nearly everything');
  t.true(first.batched.results.some((r) => r.task === 'note a' && r.handler));

  const noop = await same(t, 'no-op');
  t.deepEqual(
    noop.batched.results.filter((r) => r.status === 'changed'),
    [],
  );
  t.true(noop.batched.results.some((r) => r.task === 'log marker' && r.status === 'skipped'));
  // one exec for the tasks up to the first fact reader (+ the small facts), one for the rest, one for verify
  t.is(noop.batched.execs, 3, `no-op: ${noop.batched.execs} execs batched (${noop.single.execs} task by task)`);
  t.true(noop.single.execs >= 20);
  t.deepEqual(noop.batched.facts, ['hostname', 'interfaces', 'os', 'systemd'], 'the package list is not read: nothing reads it');

  drift();
  const checkDrift = await same(t, 'check + diff after drift', { check: true });
  t.true(checkDrift.batched.results.some((r) => r.diff?.includes('-a = changed by hand')));
  drift(); // check mode changed nothing; drift again is a no-op on disk but keeps both sides equal
  const repaired = await same(t, 'apply after drift');
  t.true(repaired.batched.results.some((r) => r.task === 'log marker' && r.status === 'changed'));
  await same(t, 'no-op after repair');
});
