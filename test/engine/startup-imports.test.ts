// Issue 13, start-up: the commands that touch no host (--help, --version, the listings,
// --syntax-check) must not load the transport, the progress view, the lab or the drill. Each case
// runs the entry point as a child process with test/helpers/trace-modules.mjs, which records every
// module the process loads, and checks the list. No timing here: the figures are bench/startup.ts's.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TRACER = path.join(ROOT, 'test/helpers/trace-modules.mjs');
const INVENTORY = 'inventory/lab.yml';

/** Loaded only when a run connects, shows progress, diffs, renders or drives the lab. */
const HEAVY_PACKAGES = ['ssh2', 'listr2', 'zx', 'ejs', 'diff', 'cli-table3'];
const HEAVY_FILES = ['lib/ssh.ts', 'lib/ui.ts', 'lib/report.ts', 'lib/drill/ui.ts', 'lib/drill/run.ts', 'lib/status/render.ts', 'lab/'];
/** --help reads no inventory and builds no play. */
const HELP_ALSO = ['yaml', 'zod'];
const HELP_ALSO_FILES = ['lib/inventory.ts', 'playbooks/plays.ts', 'roles/'];

/** Runs `node --import tsx --import trace-modules.mjs ARGS` in the repo; returns its exit code and the modules it loaded. */
function traced(args: string[]): Promise<{ code: number; stderr: string; modules: string[] }> {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-trace-')), 'modules');
  const env: NodeJS.ProcessEnv = { ...process.env, LVSPLAY_TRACE_MODULES: out, LVSPLAY_INVENTORY: '', FORCE_COLOR: '0' };
  for (const k of Object.keys(env)) if (k.startsWith('ANSIBLE_')) delete env[k];
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', '--import', TRACER, ...args], { cwd: ROOT, env, timeout: 120_000 }, (err, _stdout, stderr) => {
      const modules = fs.existsSync(out) ? fs.readFileSync(out, 'utf8').split('\n').filter(Boolean) : [];
      fs.rmSync(path.dirname(out), { recursive: true, force: true });
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stderr, modules });
    });
  });
}

/** The repo-relative path of a traced module (file URL or CommonJS path). */
const relative = (m: string) => path.relative(ROOT, m.startsWith('file:') ? fileURLToPath(m) : m.replace(/^cjs:/, ''));
const packagesIn = (modules: string[], names: string[]) =>
  names.filter((name) => modules.some((m) => relative(m).includes(`node_modules/${name}/`)));
const filesIn = (modules: string[], prefixes: string[]) =>
  prefixes.filter((p) => modules.some((m) => relative(m).startsWith(p)));

// The tracer itself: a module imported is seen (ESM and CommonJS), so an empty finding means something.
test.serial('the tracer sees ESM and CommonJS packages a process imports', async (t) => {
  const r = await traced(['--input-type=module', '-e', "await import('listr2'); await import('ssh2'); await import('./lib/ui.ts');"]);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(packagesIn(r.modules, ['listr2', 'ssh2']), ['listr2', 'ssh2']);
  t.deepEqual(filesIn(r.modules, ['lib/ui.ts']), ['lib/ui.ts']);
});

test.serial(`site.ts -i ${INVENTORY} --list-hosts reads the inventory (yaml, zod) and the plays, and nothing heavy`, async (t) => {
  const r = await traced(['playbooks/site.ts', '-i', INVENTORY, '--list-hosts']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(packagesIn(r.modules, ['yaml', 'zod']), ['yaml', 'zod']);
  t.deepEqual(filesIn(r.modules, ['playbooks/plays.ts']), ['playbooks/plays.ts']);
  t.deepEqual(packagesIn(r.modules, HEAVY_PACKAGES), []);
  t.deepEqual(filesIn(r.modules, HEAVY_FILES), []);
});

for (const flag of ['--list-tasks', '--list-tags', '--syntax-check']) {
  test.serial(`site.ts -i ${INVENTORY} ${flag} loads nothing heavy`, async (t) => {
    const r = await traced(['playbooks/site.ts', '-i', INVENTORY, flag]);
    t.is(r.code, 0, r.stderr);
    t.deepEqual(packagesIn(r.modules, HEAVY_PACKAGES), []);
    t.deepEqual(filesIn(r.modules, HEAVY_FILES), []);
  });
}

for (const [playbook, flag] of [
  ['site', '--help'], ['site', '--version'], ['director', '--help'], ['realserver', '--help'], ['client', '--help'],
  ['drill', '--help'], ['status', '--help'], ['adhoc', '--help'], ['adhoc', '--version'], ['inventory', '--help'],
]) {
  test.serial(`${playbook}.ts ${flag} loads neither the inventory reader nor anything heavy`, async (t) => {
    const r = await traced([`playbooks/${playbook}.ts`, flag]);
    t.is(r.code, 0, r.stderr);
    t.deepEqual(packagesIn(r.modules, [...HEAVY_PACKAGES, ...HELP_ALSO]), []);
    t.deepEqual(filesIn(r.modules, [...HEAVY_FILES, ...HELP_ALSO_FILES]), []);
  });
}

test.serial(`adhoc.ts -i ${INVENTORY} --list-hosts loads nothing heavy`, async (t) => {
  const r = await traced(['playbooks/adhoc.ts', '-i', INVENTORY, '--list-hosts']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(packagesIn(r.modules, ['yaml']), ['yaml']);
  t.deepEqual(packagesIn(r.modules, HEAVY_PACKAGES), []);
  t.deepEqual(filesIn(r.modules, HEAVY_FILES), []);
});
