// The runner's pure logic with a fake Conn and a fake module: ordering, batches, tags, when,
// register, check mode, unreachable hosts, exit codes. (The transport is tested against real sshd.)
import test from 'ava';
import { defineModule } from '../../lib/module.ts';
import { batchHosts, runPlays, shouldRunByTags, summarizeArgs, taskName, type ConnPool, type RunOptions } from '../../lib/runner.ts';
import {
  CommandError,
  ConfigError,
  UnreachableError,
  type Conn,
  type Facts,
  type Host,
  type Inventory,
  type Play,
  type Role,
  type RunEvent,
  type Task,
} from '../../lib/types.ts';

// ---------------------------------------------------------------- fakes

function fakeInventory(groups: Record<string, string[]>, hostVars: Record<string, Record<string, unknown>> = {}): Inventory {
  const names = [...new Set(Object.values(groups).flat())];
  const hosts = new Map<string, Host>(
    names.map((name) => [
      name,
      {
        name,
        address: '127.0.0.1',
        port: 22,
        user: 'test',
        become: false,
        groups: ['all', ...Object.keys(groups).filter((g) => groups[g].includes(name))],
        vars: hostVars[name] ?? {},
      },
    ]),
  );
  const groupMap = new Map<string, string[]>([['all', names], ...Object.entries(groups)]);
  return {
    file: '/fake/inventory.yml',
    hosts,
    groups: groupMap,
    select(pattern) {
      const wanted = new Set(pattern.split(':').flatMap((p) => groupMap.get(p) ?? (hosts.has(p) ? [p] : [])));
      return names.filter((n) => wanted.has(n)).map((n) => hosts.get(n)!);
    },
  };
}

const facts = (hostname: string): Facts => ({
  hostname,
  os: { id: 'debian', versionId: '12', codename: 'bookworm', prettyName: 'Debian 12' },
  interfaces: {},
  packages: {},
  systemd: true,
});

/** A pool whose conns do nothing; `down` hosts are unreachable. Tracks concurrency. */
function fakePool(down: string[] = []) {
  const opened: string[] = [];
  const pool: ConnPool & { opened: string[] } = {
    opened,
    async get(host: Host): Promise<Conn> {
      opened.push(host.name);
      if (down.includes(host.name)) throw new UnreachableError(host.name, 'connect ECONNREFUSED 127.0.0.1:22');
      const conn: Conn = {
        host,
        exec: async () => ({ stdout: '', stderr: '', exitCode: 0 }),
        $: async () => ({ stdout: '', stderr: '', exitCode: 0 }),
        read: async (cmds) => cmds.map(() => ({ stdout: '', stderr: '', exitCode: 0 })),
        put: async () => {},
        close: async () => {},
      };
      return conn;
    },
    async closeAll() {},
  };
  return pool;
}

interface FakeArgs {
  id: string;
  /** hosts on which the state differs (plan returns a change); default: every host */
  changeOn?: string[];
  failOn?: string[];
  /** hosts on which the task throws UnreachableError */
  dropOn?: string[];
  delayMs?: number;
}

/** A module that logs `host:plan:id` / `host:apply:id` into the shared journal. */
function fakeModule(journal: string[]) {
  return defineModule<FakeArgs>({
    name: 'fake',
    async plan(ctx, a) {
      const h = ctx.host.name;
      journal.push(`${h}:plan:${a.id}`);
      if (a.delayMs) await new Promise((r) => setTimeout(r, a.delayMs));
      if (a.failOn?.includes(h)) throw new CommandError(h, `false ${a.id}`, 1, '', 'boom');
      if (a.dropOn?.includes(h)) throw new UnreachableError(h, 'connection lost');
      return !a.changeOn || a.changeOn.includes(h) ? { summary: `change ${a.id}`, diff: `-old\n+new ${a.id}\n` } : null;
    },
    async apply(ctx, a) {
      journal.push(`${ctx.host.name}:apply:${a.id}`);
      return { applied: a.id };
    },
  });
}

function setup(groups: Record<string, string[]>, down: string[] = [], hostVars = {}) {
  const journal: string[] = [];
  const events: RunEvent[] = [];
  const inventory = fakeInventory(groups, hostVars);
  const pool = fakePool(down);
  const gathered: string[] = [];
  const opts: RunOptions = {
    inventory,
    pool,
    // The journal records every plan() call, and batched planning also runs plans dry to find their
    // probes: these tests check the task-by-task order; batching has its own tests below.
    batch: false,
    onEvent: (e) => events.push(e),
    gatherFacts: async (conn) => {
      gathered.push(conn.host.name);
      return facts(conn.host.name);
    },
  };
  return { journal, events, inventory, pool, gathered, opts, fake: fakeModule(journal) };
}

const named = (task: Task, name: string) => ({ ...task, name });
const role = (name: string, r: Partial<Role>): Role => ({ name, dir: `/roles/${name}`, defaults: {}, tasks: () => [], ...r });
const statuses = (events: RunEvent[], host: string) =>
  events.flatMap((e) => (e.type === 'task:end' && e.result.host === host ? [`${e.result.task}=${e.result.status}`] : []));

// ---------------------------------------------------------------- pure helpers

test('tags: Ansible semantics for all, always, never, tagged, untagged', (t) => {
  const cases: Array<[string[], string[] | undefined, string[] | undefined, boolean]> = [
    [[], undefined, undefined, true],
    [['never'], undefined, undefined, false],
    [['never', 'debug'], ['debug'], undefined, true],
    [['always'], ['foo'], undefined, true],
    [['always'], undefined, ['always'], false],
    [['always'], undefined, ['all'], true],
    [['x'], undefined, ['all'], false],
    [['x'], ['y'], undefined, false],
    [['x', 'y'], ['y'], undefined, true],
    [['x'], undefined, ['x'], false],
    [[], ['untagged'], undefined, true],
    [['x'], ['untagged'], undefined, false],
    [['x'], ['tagged'], undefined, true],
    [[], ['tagged'], undefined, false],
    [['x'], undefined, ['tagged'], false],
    [[], undefined, ['tagged'], true],
  ];
  for (const [tags, only, skip, want] of cases) t.is(shouldRunByTags(tags, only, skip), want, `tags ${tags} --tags ${only} --skip-tags ${skip}`);
});

test('serial: counts, percentages, 0 and unset', (t) => {
  const hosts = ['a', 'b', 'c', 'd', 'e'];
  t.deepEqual(batchHosts(hosts, undefined), [hosts]);
  t.deepEqual(batchHosts(hosts, 2), [['a', 'b'], ['c', 'd'], ['e']]);
  t.deepEqual(batchHosts(hosts, '40%'), [['a', 'b'], ['c', 'd'], ['e']]);
  t.deepEqual(batchHosts(hosts, '10%'), [['a'], ['b'], ['c'], ['d'], ['e']]);
  t.deepEqual(batchHosts(hosts, 0), [hosts]);
  t.deepEqual(batchHosts([], 2), []);
  t.throws(() => batchHosts(hosts, 'half'), { instanceOf: ConfigError, message: /serial.*"half"/ });
});

test('default task names: module plus a short summary of its args', (t) => {
  const mod = { name: 'template', plan: async () => null, apply: async () => null };
  t.is(taskName({ module: mod, args: { src: 'keepalived.conf.ejs', dest: '/etc/keepalived/keepalived.conf' } }), 'template keepalived.conf.ejs → /etc/keepalived/keepalived.conf');
  t.is(taskName({ module: { ...mod, name: 'pkg' }, args: { names: ['keepalived', 'ipvsadm'] } }), 'pkg keepalived ipvsadm');
  t.is(taskName({ module: { ...mod, name: 'sysctl' }, args: { key: 'net.ipv4.ip_forward', value: 0 } }), 'sysctl net.ipv4.ip_forward=0');
  t.is(taskName({ module: { ...mod, name: 'service' }, args: { name: 'nginx', state: 'started' } }), 'service nginx started');
  t.is(taskName({ module: mod, args: {}, name: 'explicit' }), 'explicit');
  t.is(summarizeArgs({ cmd: { text: 'echo s3cret', masked: 'echo ********' } }), 'echo ********');
});

// ---------------------------------------------------------------- runs

test('tasks run in order per host; changed then ok is counted; exit 0', async (t) => {
  const s = setup({ web: ['w1', 'w2'] });
  const play: Play = { name: 'p', hosts: 'web', tasks: () => [s.fake({ id: 'a' }), s.fake({ id: 'b', changeOn: [] })] };
  const sum = await runPlays([play], s.opts);
  t.is(sum.exitCode, 0);
  for (const h of ['w1', 'w2']) {
    t.deepEqual(
      s.journal.filter((j) => j.startsWith(`${h}:`)),
      [`${h}:plan:a`, `${h}:apply:a`, `${h}:plan:b`],
    );
    t.deepEqual(sum.stats.get(h), { ok: 2, changed: 1, unreachable: 0, failed: 0, skipped: 0 }); // a + b (no task reads facts)
  }
});

test('check mode reports changes and never calls apply, handlers included', async (t) => {
  const s = setup({ web: ['w1'] });
  const r = role('r', {
    tasks: () => [s.fake({ id: 'a' }, { notify: ['h'] })],
    handlers: () => [named(s.fake({ id: 'handler' }), 'h')],
  });
  const sum = await runPlays([{ name: 'p', hosts: 'all', roles: [r] }], { ...s.opts, check: true });
  t.false(s.journal.some((j) => j.includes(':apply:')));
  t.deepEqual(statuses(s.events, 'w1'), ['fake=changed', 'h=changed']);
  t.is(sum.stats.get('w1')!.changed, 2);
});

test('handlers: once per batch, in definition order, only on notifying hosts, never on failed hosts', async (t) => {
  const s = setup({ web: ['w1', 'w2', 'w3'] });
  const r = role('web', {
    tasks: () => [
      s.fake({ id: 't1', changeOn: ['w1', 'w3'] }, { notify: ['second', 'first'] }),
      s.fake({ id: 't2', changeOn: ['w1', 'w3'] }, { notify: ['second'] }),
      s.fake({ id: 't3', failOn: ['w3'], changeOn: [] }),
    ],
    handlers: () => [named(s.fake({ id: 'first' }), 'first'), named(s.fake({ id: 'second' }), 'second'), named(s.fake({ id: 'third' }), 'third')],
  });
  const sum = await runPlays([{ name: 'p', hosts: 'web', roles: [r] }], s.opts);
  const handlerRuns = s.journal.filter((j) => /:(plan|apply):(first|second|third)$/.test(j) && j.includes(':apply:'));
  t.deepEqual(handlerRuns, ['w1:apply:first', 'w1:apply:second']);
  // all tasks of every host ran before any handler
  const firstHandler = s.journal.indexOf('w1:plan:first');
  t.true(s.journal.lastIndexOf('w2:plan:t3') < firstHandler);
  t.is(sum.exitCode, 2);
  t.true(s.events.some((e) => e.type === 'task:end' && e.result.handler && e.result.task === 'first'));
});

test('handlers run once per serial batch', async (t) => {
  const s = setup({ web: ['w1', 'w2', 'w3', 'w4'] });
  const r = role('web', {
    tasks: () => [s.fake({ id: 't' }, { notify: ['h'] })],
    handlers: () => [named(s.fake({ id: 'h' }), 'h')],
  });
  await runPlays([{ name: 'p', hosts: 'web', serial: 2, roles: [r] }], s.opts);
  const order = s.journal.filter((j) => j.includes(':apply:')).map((j) => j.replace(':apply:', ' '));
  t.deepEqual(order, ['w1 t', 'w2 t', 'w1 h', 'w2 h', 'w3 t', 'w4 t', 'w3 h', 'w4 h']);
});

test('verify tasks run after the batch handlers, on hosts still standing, not in check mode; a failing one fails its host', async (t) => {
  const s = setup({ web: ['w1', 'w2', 'w3'] });
  const r = role('web', {
    tasks: () => [s.fake({ id: 't', failOn: ['w3'] }, { notify: ['h'] })],
    handlers: () => [named(s.fake({ id: 'h' }), 'h')],
    verify: () => [s.fake({ id: 'v', changeOn: [], failOn: ['w2'] })],
  });
  const sum = await runPlays([{ name: 'p', hosts: 'web', roles: [r] }], s.opts);
  const at = (j: string) => s.journal.indexOf(j);
  for (const h of ['w1', 'w2']) {
    t.true(at(`${h}:apply:h`) >= 0 && at(`${h}:apply:h`) < at(`${h}:plan:v`), `${h}: handler, then verify`);
    t.true(at('w3:plan:t') < at(`${h}:plan:v`), `${h}: verified after every host's tasks`);
  }
  t.deepEqual(statuses(s.events, 'w1').slice(-1), ['fake=ok']);
  t.deepEqual(statuses(s.events, 'w2').slice(-1), ['fake=failed']);
  t.false(s.journal.includes('w3:plan:v'), 'a host that failed a task is not verified');
  t.is(sum.exitCode, 2);

  const dry = setup({ web: ['w1'] });
  await runPlays([{ name: 'p', hosts: 'web', roles: [role('web', { tasks: () => [dry.fake({ id: 't' })], verify: () => [dry.fake({ id: 'v' })] })] }], { ...dry.opts, check: true });
  t.false(dry.journal.includes('w1:plan:v'), 'check mode: nothing to verify yet');
});

test('a handler that is notified but undefined fails the task with a clear message', async (t) => {
  const s = setup({ web: ['w1'] });
  const r = role('web', { tasks: () => [s.fake({ id: 't' }, { notify: ['restart nginx'] })], handlers: () => [] });
  const sum = await runPlays([{ name: 'p', hosts: 'web', roles: [r] }], s.opts);
  t.is(sum.exitCode, 2);
  t.regex(sum.results.find((r) => r.status === 'failed')!.error!, /notifies handler "restart nginx"/);
});

test('serial batches stop the play when a batch fails beyond maxFailPercentage', async (t) => {
  const s = setup({ web: ['w1', 'w2', 'w3', 'w4', 'w5', 'w6'] });
  const play = (max?: number): Play => ({
    name: 'p',
    hosts: 'web',
    serial: 2,
    maxFailPercentage: max,
    tasks: () => [s.fake({ id: 't', failOn: ['w3'] })],
  });
  const sum = await runPlays([play()], s.opts);
  t.deepEqual([...sum.stats.keys()], ['w1', 'w2', 'w3', 'w4']);
  const stop = s.events.find((e) => e.type === 'play:stopped');
  t.like(stop, { type: 'play:stopped', hosts: ['w5', 'w6'], reason: '50% of the batch failed (max 0%)' });

  const s2 = setup({ web: ['w1', 'w2', 'w3', 'w4', 'w5', 'w6'] });
  const sum2 = await runPlays([{ ...play(50), tasks: () => [s2.fake({ id: 't', failOn: ['w3'] })] }], s2.opts);
  t.is(sum2.stats.size, 6, '50% failed is not more than 50%: the play goes on');
  t.false(s2.events.some((e) => e.type === 'play:stopped'));
});

test('tags and skip-tags filter tasks; a role name is a tag; never/always', async (t) => {
  const ran = async (tags?: string[], skipTags?: string[]) => {
    const s = setup({ web: ['w1'] });
    const nginx = role('nginx', { tasks: () => [s.fake({ id: 'n1' }), s.fake({ id: 'n2' }, { tags: ['conf'] })] });
    const play: Play = {
      name: 'p',
      hosts: 'all',
      roles: [nginx],
      tasks: () => [
        s.fake({ id: 'p1' }, { tags: ['conf'] }),
        s.fake({ id: 'p2' }, { tags: ['always'] }),
        s.fake({ id: 'p3' }, { tags: ['never', 'debug'] }),
        s.fake({ id: 'p4' }),
      ],
    };
    await runPlays([play], { ...s.opts, tags, skipTags });
    return s.journal.filter((j) => j.includes(':plan:')).map((j) => j.split(':')[2]);
  };
  t.deepEqual(await ran(), ['n1', 'n2', 'p1', 'p2', 'p4']);
  t.deepEqual(await ran(['conf']), ['n2', 'p1', 'p2']);
  t.deepEqual(await ran(['nginx']), ['n1', 'n2', 'p2']);
  t.deepEqual(await ran(['debug']), ['p2', 'p3']);
  t.deepEqual(await ran(undefined, ['conf']), ['n1', 'p2', 'p4']);
  t.deepEqual(await ran(undefined, ['nginx', 'always']), ['p1', 'p4']);
});

test('when skips per host; register exposes changed/failed/skipped/result to later tasks', async (t) => {
  const s = setup({ web: ['w1', 'w2'] }, [], { w1: { enabled: true }, w2: { enabled: false } });
  const seen: Record<string, unknown> = {};
  const play: Play = {
    name: 'p',
    hosts: 'web',
    tasks: () => [
      s.fake({ id: 'a', changeOn: ['w1'] }, { name: 'fake a', register: 'a_res', when: (ctx) => ctx.vars.enabled === true }),
      s.fake({ id: 'b', changeOn: [] }, { name: 'fake b', register: 'b_res' }),
      s.fake({ id: 'c' }, { name: 'fake c', when: (ctx) => {
        seen[ctx.host.name] = { a: ctx.vars.a_res, b: ctx.vars.b_res };
        return (ctx.vars.a_res as { changed: boolean }).changed;
      } }),
    ],
  };
  await runPlays([play], s.opts);
  t.deepEqual(seen.w1, {
    a: { changed: true, failed: false, skipped: false, result: { applied: 'a' } },
    b: { changed: false, failed: false, skipped: false, result: undefined },
  });
  t.deepEqual((seen.w2 as { a: unknown }).a, { changed: false, failed: false, skipped: true });
  t.deepEqual(statuses(s.events, 'w2'), ['fake a=skipped', 'fake b=ok', 'fake c=skipped']);
  t.deepEqual(statuses(s.events, 'w1'), ['fake a=changed', 'fake b=ok', 'fake c=changed']);
});

test('registered results are visible to the task list of later roles', async (t) => {
  const s = setup({ web: ['w1'] });
  let later: unknown;
  const r1 = role('one', { tasks: () => [s.fake({ id: 'a' }, { register: 'first' })] });
  const r2 = role('two', { tasks: (v) => ((later = (v as Record<string, unknown>).first), []) });
  await runPlays([{ name: 'p', hosts: 'all', roles: [r1, r2] }], s.opts);
  t.like(later, { changed: true });
});

test('an unreachable host does not stop the others; exit 4 wins over failed (Ansible)', async (t) => {
  const s = setup({ web: ['w1', 'w2', 'w3'] }, ['w2']);
  const sum = await runPlays([{ name: 'p', hosts: 'web', tasks: () => [s.fake({ id: 'a' }), s.fake({ id: 'b' })] }], s.opts);
  t.is(sum.exitCode, 4);
  t.deepEqual(sum.stats.get('w2'), { ok: 0, changed: 0, unreachable: 1, failed: 0, skipped: 0 });
  t.is(sum.stats.get('w3')!.changed, 2);

  const s2 = setup({ web: ['w1', 'w2'] }, ['w2']);
  const sum2 = await runPlays([{ name: 'p', hosts: 'web', tasks: () => [s2.fake({ id: 'a', failOn: ['w1'] })] }], s2.opts);
  t.is(sum2.exitCode, 4);

  const s3 = setup({ web: ['w1', 'w2'] });
  const sum3 = await runPlays([{ name: 'p', hosts: 'web', tasks: () => [s3.fake({ id: 'a', dropOn: ['w1'] }), s3.fake({ id: 'b' })] }], s3.opts);
  t.is(sum3.exitCode, 4, 'a connection lost mid-play counts as unreachable');
  t.deepEqual(s3.journal.filter((j) => j.startsWith('w1')), ['w1:plan:a']);
});

test('a failed task stops its host, fills the task path, and the host leaves later plays', async (t) => {
  const s = setup({ web: ['w1', 'w2'] });
  const r = role('nginx', { tasks: () => [s.fake({ id: 'a', failOn: ['w1'] }, { name: 'install' }), s.fake({ id: 'b' })] });
  const plays: Play[] = [
    { name: 'first', hosts: 'web', roles: [r] },
    { name: 'second', hosts: 'web', tasks: () => [s.fake({ id: 'c' })] },
  ];
  const sum = await runPlays(plays, s.opts);
  t.is(sum.exitCode, 2);
  t.deepEqual(s.journal.filter((j) => j.startsWith('w1')), ['w1:plan:a']);
  t.true(s.journal.includes('w2:plan:c'));
  const failed = sum.results.find((r) => r.status === 'failed')!;
  t.like(failed, { host: 'w1', play: 'first', role: 'nginx', task: 'install' });
  t.regex(failed.error!, /`false a` exited 1:\nboom/);
});

test('ignoreErrors: the failure is reported, counted as ok, and the host goes on', async (t) => {
  const s = setup({ web: ['w1'] });
  const sum = await runPlays(
    [{ name: 'p', hosts: 'web', tasks: () => [s.fake({ id: 'a', failOn: ['w1'] }, { name: 'fake a', ignoreErrors: true, register: 'r' }), s.fake({ id: 'b' })] }],
    s.opts,
  );
  t.is(sum.exitCode, 0);
  t.true(s.journal.includes('w1:apply:b'));
  t.like(sum.results.find((r) => r.task === 'fake a'), { status: 'failed', ignored: true });
  t.deepEqual(sum.stats.get('w1'), { ok: 2, changed: 1, unreachable: 0, failed: 0, skipped: 0 });
});

test('CommandError.path is play › role › task', async (t) => {
  const s = setup({ web: ['w1'] });
  let caught: CommandError | undefined;
  const mod = defineModule<Record<string, never>>({
    name: 'boom',
    async plan(ctx) {
      try {
        throw new CommandError(ctx.host.name, 'false', 1, '', '');
      } catch (err) {
        caught = err as CommandError;
        throw err;
      }
    },
    async apply() {},
  });
  await runPlays([{ name: 'site', hosts: 'web', roles: [role('lvs', { tasks: () => [mod({}, { name: 'load ip_vs' })] })] }], s.opts);
  t.is(caught!.path, 'site › lvs › load ip_vs');
});

test('facts are gathered when first read, once per host for the whole run; gatherFacts: false skips them', async (t) => {
  const s = setup({ web: ['w1', 'w2'] });
  const seen: string[] = [];
  const plays: Play[] = [
    { name: 'a', hosts: 'w1', gatherFacts: false, tasks: (v) => (seen.push(`a:${v.facts.hostname}`), []) },
    { name: 'b', hosts: 'web', tasks: () => [] },
    { name: 'c', hosts: 'web', tasks: (v) => (seen.push(`c:${v.facts.hostname}`), []) },
    { name: 'd', hosts: 'web', tasks: (v) => (seen.push(`d:${v.facts.os.id}`), []) },
  ];
  await runPlays(plays, s.opts);
  t.deepEqual(s.gathered.sort(), ['w1', 'w2']);
  t.deepEqual(seen.sort(), ['a:w1', 'c:w1', 'c:w2', 'd:debian', 'd:debian']);
  // play b reads no fact: the gathering is reported in play c, where the first reader is
  t.deepEqual(s.events.flatMap((e) => (e.type === 'task:end' && e.result.task === 'Gathering Facts' ? [e.result.play] : [])), ['c', 'c']);
});

test('a play whose tasks read no fact gathers none', async (t) => {
  const s = setup({ web: ['w1'] });
  await runPlays([{ name: 'p', hosts: 'web', tasks: () => [s.fake({ id: 'a' })] }], s.opts);
  t.deepEqual(s.gathered, []);
});

test('vars precedence: role defaults < inventory < play vars < extra vars; magic vars present', async (t) => {
  const s = setup({ web: ['w1'] }, [], { w1: { a: 'inv', b: 'inv', c: 'inv' } });
  let v: Record<string, unknown> = {};
  const r = role('r', { defaults: { a: 'def', b: 'def', c: 'def', d: 'def' }, tasks: (vars) => ((v = vars as never), []) });
  await runPlays([{ name: 'p', hosts: 'web', vars: { b: 'play', c: 'play' }, roles: [r] }], { ...s.opts, extraVars: { c: 'extra' } });
  t.like(v, { a: 'inv', b: 'play', c: 'extra', d: 'def', inventory_hostname: 'w1', group_names: ['web'] });
  t.deepEqual((v.groups as Record<string, string[]>).web, ['w1']);
  t.deepEqual(v.hostvars, { w1: { a: 'inv', b: 'inv', c: 'inv' } });
});

test('--limit intersects play hosts', async (t) => {
  const s = setup({ web: ['w1', 'w2'], db: ['d1'] });
  const sum = await runPlays([{ name: 'p', hosts: 'web', tasks: () => [s.fake({ id: 'a' })] }], { ...s.opts, limit: 'w2:d1' });
  t.deepEqual([...sum.stats.keys()], ['w2']);
});

test('forks bounds the hosts worked on at once', async (t) => {
  const s = setup({ web: ['w1', 'w2', 'w3', 'w4', 'w5'] });
  let now = 0;
  let peak = 0;
  const mod = defineModule<Record<string, never>>({
    name: 'slow',
    async plan() {
      peak = Math.max(peak, ++now);
      await new Promise((r) => setTimeout(r, 20));
      now--;
      return null;
    },
    async apply() {},
  });
  await runPlays([{ name: 'p', hosts: 'web', tasks: () => [mod({})] }], { ...s.opts, forks: 2 });
  t.is(peak, 2);
});

test('role validate runs for every role before any connection; a ConfigError stops the run', async (t) => {
  const s = setup({ web: ['w1'] }, [], { w1: { port: 'eighty' } });
  const checked: string[] = [];
  const r = role('nginx', {
    defaults: { port: 80 },
    validate: (inv, varsFor) => {
      for (const host of inv.select('web')) {
        const v = varsFor(host) as Record<string, unknown>;
        checked.push(`${host.name}:${v.inventory_hostname}`);
        if (typeof v.port !== 'number') throw new ConfigError(`host ${host.name}: port must be a number, got ${JSON.stringify(v.port)}`);
      }
    },
  });
  const ok = role('other', { validate: () => void checked.push('other') });
  await t.throwsAsync(runPlays([{ name: 'p', hosts: 'web', roles: [ok, r] }], s.opts), { instanceOf: ConfigError, message: /port must be a number, got "eighty"/ });
  t.deepEqual(checked, ['other', 'w1:w1']);
  t.deepEqual(s.pool.opened, []);
  t.deepEqual(s.events, []);
});

test('events: play, batch, host and task events frame the run; a play with no hosts says so', async (t) => {
  const s = setup({ web: ['w1'] });
  await runPlays(
    [
      { name: 'p', hosts: 'web', tasks: () => [s.fake({ id: 'a' })] },
      { name: 'empty', hosts: 'nothing', tasks: () => [] },
    ],
    s.opts,
  );
  t.deepEqual(
    s.events.map((e) => e.type),
    ['play:start', 'batch:start', 'host:start', 'task:start', 'task:end', 'host:end', 'play:end', 'play:start', 'play:end'],
  );
  t.like(s.events[7], { type: 'play:start', play: 'empty', hosts: [] });
});

test('task become is passed to every exec of the task', async (t) => {
  const s = setup({ web: ['w1'] });
  const seen: Array<boolean | undefined> = [];
  const base = s.pool.get.bind(s.pool);
  s.opts.pool = {
    ...s.pool,
    get: async (h) => {
      const c = await base(h);
      return { ...c, exec: async (cmd, o) => (seen.push(o?.become), c.exec(cmd, o)) };
    },
  };
  const mod = defineModule<Record<string, never>>({
    name: 'probe',
    async plan(ctx) {
      await ctx.conn.exec('true');
      await ctx.conn.exec('true', { become: false });
      return null;
    },
    async apply() {},
  });
  await runPlays([{ name: 'p', hosts: 'web', tasks: () => [mod({}, { become: true }), mod({})] }], s.opts);
  t.deepEqual(seen, [true, false, undefined, false]);
});

test('apply returning { changed: false } (command changedWhen) reports ok and notifies nothing', async (t) => {
  const s = setup({ web: ['w1'] });
  const mod = defineModule<Record<string, never>>({
    name: 'cmd',
    plan: async () => ({ summary: 'run: true' }),
    apply: async () => ({ changed: false, exitCode: 0 }),
  });
  const r = role('r', { tasks: () => [mod({}, { notify: ['h'], register: 'out' })], handlers: () => [named(s.fake({ id: 'h' }), 'h')] });
  const sum = await runPlays([{ name: 'p', hosts: 'web', roles: [r] }], s.opts);
  t.deepEqual(statuses(s.events, 'w1'), ['cmd=ok']);
  t.is(sum.stats.get('w1')!.changed, 0);
  t.false(s.journal.includes('w1:plan:h'));
});

// ---------------------------------------------------------------- batched planning

/** A module whose plan reads `probe` and changes when the answer is not `want`. */
function probingSetup(answers: Record<string, string>) {
  const s = setup({ web: ['w1'] });
  const reads: string[][] = [];
  const applied: string[] = [];
  s.opts.batch = true;
  s.opts.pool = {
    async get(host) {
      return {
        host,
        exec: async () => ({ stdout: '', stderr: '', exitCode: 0 }),
        $: async () => ({ stdout: '', stderr: '', exitCode: 0 }),
        read: async (cmds) => {
          reads.push(cmds.map((c) => c.text));
          return cmds.map((c) => ({ stdout: answers[c.text] ?? '', stderr: '', exitCode: 0 }));
        },
        put: async () => {},
        close: async () => {},
      };
    },
    async closeAll() {},
  };
  const mod = defineModule<{ probe: string | ((v: Record<string, unknown>) => string); want: string }>({
    name: 'probe',
    async plan(ctx, a) {
      const probe = typeof a.probe === 'function' ? a.probe(ctx.vars) : a.probe;
      const [r] = await ctx.conn.read([{ text: probe, masked: probe }]);
      return r.stdout === a.want ? null : { summary: `${probe}: ${r.stdout} → ${a.want}`, data: probe };
    },
    async apply(_ctx, _a, change) {
      applied.push(change.data as string);
      answers[change.data as string] = 'fixed';
    },
  });
  return { s, reads, applied, mod };
}

test('batched: an unchanged run of tasks is read in one exec', async (t) => {
  const { s, reads, mod } = probingSetup({ a: 'ok', b: 'ok', c: 'ok' });
  const sum = await runPlays([{ name: 'p', hosts: 'web', tasks: () => ['a', 'b', 'c'].map((p) => mod({ probe: p, want: 'ok' })) }], s.opts);
  t.is(sum.exitCode, 0);
  t.deepEqual(reads, [['a', 'b', 'c']]);
  // -v: each task shows the probe it was answered from, with its exit code and output
  const logs = s.events.flatMap((e) => (e.type === 'log' ? [e.line] : []));
  t.deepEqual(logs.slice(0, 3), ['probe (batched read) $ a', 'exit 0', '  out| ok']);
});

test('batched: after an apply the tasks after it are read again; check mode reads once', async (t) => {
  const live = probingSetup({ a: 'ok', b: 'bad', c: 'ok' });
  const tasks = (m: typeof live.mod) => () => [m({ probe: 'a', want: 'ok' }), m({ probe: 'b', want: 'fixed' }), m({ probe: 'c', want: 'ok' })];
  await runPlays([{ name: 'p', hosts: 'web', tasks: tasks(live.mod) }], live.s.opts);
  t.deepEqual(live.reads, [['a', 'b', 'c'], ['c']]);
  t.deepEqual(live.applied, ['b']);
  const dry = probingSetup({ a: 'ok', b: 'bad', c: 'ok' });
  await runPlays([{ name: 'p', hosts: 'web', tasks: tasks(dry.mod) }], { ...dry.s.opts, check: true });
  t.deepEqual(dry.reads, [['a', 'b', 'c']]);
  t.deepEqual(dry.applied, []);
});

test('batched: a plan whose probe depends on a registered result reads for itself when the batch guessed wrong', async (t) => {
  const { s, reads, mod } = probingSetup({ a: 'ok', 'after-skip': 'ok', 'after-run': 'ok' });
  const dependent = (v: Record<string, unknown>) => ((v.r as { skipped?: boolean } | undefined)?.skipped ? 'after-skip' : 'after-run');
  await runPlays(
    [
      {
        name: 'p',
        hosts: 'web',
        tasks: () => [mod({ probe: 'a', want: 'ok' }, { register: 'r', when: () => false }), mod({ probe: dependent, want: 'ok' })],
      },
    ],
    s.opts,
  );
  // discovery saw no `r` yet and read after-run; the real plan asked for after-skip
  t.deepEqual(reads, [['after-run'], ['after-skip']]);
});
