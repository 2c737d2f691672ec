// lvsplay's VM lab: the inventory's hosts as qemu VMs on one private segment.
//   npx tsx lab/lab.ts up|reset [NAME…]|down|status -i inventory/lab.yml [--accel auto|kvm|tcg]
//   npx tsx lab/lab.ts ssh NAME [-- command…] | kill NAME | start NAME | console NAME
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import chalk from 'chalk';
import { Listr } from 'listr2';
import { labDown, labKill, labStatus, loadLab, prepareLab, rssMiB, type LabContext, type Loaded, type VmResult } from './index.ts';
import { withLock } from './pids.ts';
import { upVm, startVm, vmPid } from './vm.ts';
import type { AccelChoice } from './accel.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const usage = `usage: npx tsx lab/lab.ts COMMAND [-i INVENTORY] [--accel auto|kvm|tcg]
  up              build the image if needed, start every VM (restored from its snapshot when there is one)
  reset [NAME…]   every VM (or the named ones) back to pristine (freshly booted, nothing installed)
  down            stop every VM and the switch; remove overlays, sockets and logs
  status          each VM's state, SSH port, private address, memory
  ssh NAME [-- command…]   OpenSSH into a VM with the lab's key and known_hosts
  kill NAME       power cut (SIGKILL of its qemu)
  start NAME      cold boot of a killed VM from its own disk
  console NAME    follow its serial console log
  -i, --inventory FILE   default: inventory/lab.yml`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    inventory: { type: 'string', short: 'i', default: path.join(repo, 'inventory/lab.yml') },
    accel: { type: 'string', default: 'auto' },
    help: { type: 'boolean', short: 'h' },
  },
});
const [command, name, ...rest] = positionals;
const inventory = values.inventory!;
const accel = values.accel as AccelChoice;

function fail(message: string): never {
  console.error(chalk.red(message));
  process.exit(1);
}

const needName = () => name ?? fail(`lab ${command}: which VM? (${usage.split('\n')[0]})`);
const fmt = (s: number) => `${s.toFixed(1)} s`;

/** up / reset / start under a listr2 view: preparation, then one concurrent task per VM. */
async function bringUp(mode: 'up' | 'reset' | 'start'): Promise<void> {
  const loaded: Loaded = await loadLab(inventory);
  const t0 = Date.now();
  const results: VmResult[] = [];
  let ctx!: LabContext;
  // start NAME; reset [NAME…] (every VM when none is named); up: every VM
  const named = mode === 'start' ? [needName()] : mode === 'reset' && name ? [name, ...rest] : undefined;
  const unknown = named?.filter((n) => !loaded.plan.vms.some((v) => v.name === n)) ?? [];
  if (unknown.length) fail(`no host ${unknown.map((n) => JSON.stringify(n)).join(', ')} in ${loaded.plan.inventoryFile}`);
  const vms = named ? loaded.plan.vms.filter((v) => named.includes(v.name)) : loaded.plan.vms;
  await withLock(path.join(loaded.state.dir, 'lab.lock'), async () => {
    fs.mkdirSync(loaded.state.dir, { recursive: true });
    await new Listr(
      [
        {
          title: 'Prepare: host packages, image, accelerator, keys, switch',
          task: async (_c, task) => {
            ctx = await prepareLab(loaded, { accel, log: (line) => (task.output = line) });
            task.title = `Prepared: accelerator ${ctx.accel.accel.toUpperCase()} (${ctx.accel.why}); ${Object.keys(ctx.images).length > 1 ? 'images' : 'image'} ${Object.entries(ctx.images).map(([rel, im]) => `${rel} ${im!.hash}`).join(', ')}`;
          },
        },
        {
          title: `${mode === 'reset' ? 'Reset' : 'Start'} ${vms.map((v) => v.name).join(', ')}`,
          task: (_c, task) =>
            task.newListr(
              vms.map((vm) => ({
                title: vm.name,
                task: async (_c2: unknown, sub: { title: string }) => {
                  const r = mode === 'start' ? await startVm(ctx, vm) : await upVm(ctx, vm, mode);
                  results.push(r);
                  sub.title = `${vm.name}: ${r.action} in ${fmt(r.seconds)} — ssh 127.0.0.1:${vm.port}, ${vm.lanIp}`;
                },
              })),
              { concurrent: true, exitOnError: false },
            ),
        },
      ],
      { exitOnError: true, rendererOptions: { collapseSubtasks: false } },
    ).run();
  });
  const total = (Date.now() - t0) / 1000;
  const rss = vms.reduce((sum, vm) => { const pid = vmPid(ctx, vm); return sum + ((pid && rssMiB(pid)) || 0); }, 0);
  if (results.length < vms.length) fail(`lab ${mode}: ${vms.length - results.length} VM(s) failed (see above; console logs in ${path.join(loaded.state.dir, 'vms')})`);
  console.log(`lab ${mode}: ${results.length} VM(s) in ${fmt(total)} (accelerator ${ctx.accel.accel}; qemu RSS ${rss} MiB)`);
  for (const r of results.sort((a, b) => a.name.localeCompare(b.name))) console.log(`  ${r.name.padEnd(10)} ${r.action.padEnd(9)} ${fmt(r.seconds)}`);
}

async function status(): Promise<void> {
  const s = await labStatus(inventory);
  const color = { running: chalk.green, paused: chalk.yellow, stopped: chalk.red, absent: chalk.gray };
  console.log(`switch: ${s.switchPid ? `running (pid ${s.switchPid})` : 'not running'}`);
  for (const vm of s.vms) {
    console.log(
      `${vm.name.padEnd(10)} ${color[vm.state](vm.state.padEnd(8))} ssh 127.0.0.1:${vm.port}  lan ${vm.lanIp.padEnd(15)} ${vm.pid ? `pid ${vm.pid}, ${vm.rssMiB} MiB` : ''}`,
    );
  }
}

async function ssh(): Promise<void> {
  const { plan } = await loadLab(inventory);
  const vm = plan.vms.find((v) => v.name === needName()) ?? fail(`no host ${JSON.stringify(name)} in ${plan.inventoryFile}`);
  const args = [
    '-F', '/dev/null', '-i', plan.keyFile, '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${plan.knownHosts}`, '-o', 'StrictHostKeyChecking=yes',
    '-p', String(vm.port), ...(rest.length === 0 && process.stdin.isTTY ? ['-t'] : []),
    `root@${vm.address}`, ...rest,
  ];
  const child = spawn('ssh', args, { stdio: 'inherit' });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
}

async function consoleLog(): Promise<void> {
  const { state, plan } = await loadLab(inventory);
  if (!plan.vms.some((v) => v.name === needName())) fail(`no host ${JSON.stringify(name)} in ${plan.inventoryFile}`);
  const file = state.vm(name).console;
  if (!fs.existsSync(file)) fail(`${name}: no console log (${file}): is the lab up?`);
  const child = spawn('tail', ['-n', '+1', '-F', file], { stdio: 'inherit' });
  child.on('exit', (code) => process.exit(code ?? 0));
}

try {
  if (values.help || !command) {
    console.log(usage);
    process.exit(command || values.help ? 0 : 2);
  }
  if (!['auto', 'kvm', 'tcg'].includes(accel)) fail(`--accel: expected auto, kvm or tcg, got ${JSON.stringify(accel)}`);
  switch (command) {
    case 'up':
    case 'reset':
      await bringUp(command);
      break;
    case 'start':
      await bringUp('start');
      break;
    case 'down': {
      const stopped = await labDown(inventory);
      console.log(`lab down: stopped ${stopped.length ? stopped.join(', ') : 'no VM'}; switch stopped; overlays and sockets removed`);
      break;
    }
    case 'status':
      await status();
      break;
    case 'kill': {
      const killed = await labKill(inventory, needName());
      console.log(killed ? `${name}: power cut (qemu killed); \`lab start ${name}\` boots it again` : `${name}: was not running`);
      break;
    }
    case 'ssh':
      await ssh();
      break;
    case 'console':
      await consoleLog();
      break;
    default:
      fail(`unknown command ${JSON.stringify(command)}\n${usage}`);
  }
} catch (e) {
  fail((e as Error).message);
}
