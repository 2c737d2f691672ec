// site.ts installs the directors' packages on every director at once, before the one-at-a-time
// director play: the same package tasks as the role's, none notifying a handler, and the same refusal.
import path from 'node:path';
import test from 'ava';
import { directorPackagesPlay, directorPlay, sitePlays } from '../../playbooks/plays.ts';
import { directorPackages } from '../../roles/director/index.ts';
import { ROOT, load, renderDirector, roleVars } from './lvs-fixtures.ts';

const COLOCATED = path.join(ROOT, 'inventory/colocated.yml');
const pkgs = (tasks: Array<{ module: { name: string }; args: unknown; name?: string; notify?: string[] }>) =>
  tasks.filter((t) => t.module.name === 'pkg').map((t) => ({ name: t.name, args: t.args }));

test('site: the packages play runs on every director at once, right before the serial director play', (t) => {
  const i = sitePlays.indexOf(directorPlay);
  t.is(sitePlays[i - 1], directorPackagesPlay);
  t.is(directorPackagesPlay.hosts, directorPlay.hosts);
  t.is(directorPackagesPlay.serial, undefined);
  t.is(directorPlay.serial, 1);
  // `-t director` selects both: the tag is the role's name
  t.is(directorPackagesPlay.roles?.[0]?.name, directorPlay.roles?.[0]?.name);
});

for (const [label, file, host, extra] of [
  ['lab', undefined, 'bal1', {}],
  ['tracked checks', undefined, 'bal1', { lvs_track: [{ name: 'chk_web', kind: 'http', url: 'http://127.0.0.1:80/healthz' }] }],
  ['co-located', COLOCATED, 'node1', {}],
] as const) {
  test(`packages play (${label}): exactly the role's package tasks, without its handler`, async (t) => {
    const role = await renderDirector(host, extra, file);
    const inv = await load(file, extra);
    const early = directorPackages.tasks(roleVars(inv, directorPackages, host, extra) as never);
    t.deepEqual(pkgs(early as never), pkgs(role.tasks as never));
    t.is(early.length, pkgs(early as never).length, 'packages only');
    t.true(early.every((x) => !x.notify?.length), 'nothing to restart yet');
    t.deepEqual(role.tasks.find((x) => x.name === 'keepalived and ipvsadm')?.notify, ['restart keepalived'], 'the role itself still restarts keepalived after a new package');
  });
}

test('packages play: a keepalived too old for a fractional track interval is refused before anything is installed', async (t) => {
  const extra = { lvs_track: [{ name: 'chk_nginx', kind: 'service', unit: 'nginx', interval: 0.5 }] };
  const inv = await load(undefined, extra);
  const vars = roleVars(inv, directorPackages, 'bal1', extra) as Record<string, unknown>;
  t.throws(() => directorPackages.tasks(vars as never), { message: /lvs_track\[0\]\.interval = 0\.5: keepalived 2\.2\.7/ });
});
