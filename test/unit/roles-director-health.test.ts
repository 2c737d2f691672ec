import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describeStates, healthProblems, parseIpvsServices, parseKeepalivedData } from '../../roles/director/health.ts';
import verify from '../../roles/director/verify.ts';
import { renderDirector } from './lvs-fixtures.ts';

// A SIGUSR1 dump of keepalived 2.2.7 on the lab's bal2 (BACKUP of VI_1, no VRRP auth).
const dump = readFileSync(fileURLToPath(new URL('../fixtures/keepalived/bal2-backup.data', import.meta.url)), 'utf8');

const IPVS = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  172.28.128.200:80 rr
  -> 172.28.128.21:80             Route   1      0          0
  -> 172.28.128.22:80             Route   1      0          0
UDP  172.28.128.200:53 sh
`;

test('parseKeepalivedData: the Topology section only (the Interfaces section has State lines too)', (t) => {
  const states = parseKeepalivedData(dump);
  t.deepEqual(states, [{ name: 'VI_1', state: 'BACKUP', masterRouter: '172.28.128.11', priority: 100, effectivePriority: 100 }]);
  t.is(describeStates(states), 'VI_1 BACKUP (master 172.28.128.11)');
});

test('parseKeepalivedData: the filtered lines the remote probe sends give the same result', (t) => {
  // as the probe's awk: the Topology section's instance, state, priority and master lines
  const topology = dump.split(/^------< VRRP Topology >------\n/m)[1].split(/^------</m)[0];
  const filtered = topology
    .split('\n')
    .filter((l) => /^ VRRP Instance = |^ {3}(State|Priority|Effective priority|Master router) = /.test(l))
    .join('\n');
  t.false(filtered.includes('Authentication'), 'nothing else leaves the host');
  t.deepEqual(parseKeepalivedData(filtered), parseKeepalivedData(dump));
});

test('parseIpvsServices: one entry per virtual service, real servers ignored', (t) => {
  t.deepEqual(parseIpvsServices(IPVS), ['TCP 172.28.128.200:80', 'UDP 172.28.128.200:53']);
});

test('healthProblems: a healthy BACKUP has none; each kind of trouble is named', (t) => {
  const states = parseKeepalivedData(dump);
  const want = { instances: { VI_1: 100 }, services: ['TCP 172.28.128.200:80'] };
  t.deepEqual(healthProblems(states, parseIpvsServices(IPVS), want), []);
  t.deepEqual(healthProblems(states, parseIpvsServices(IPVS), { ...want, instances: { VI_1: 100, VI_2: 150 } }), [
    'VI_2 is not running: keepalived runs another config than the one on disk (a failed reload?)',
  ]);
  t.regex(healthProblems(states, [], want).join(), /not in the kernel's IPVS table: TCP 172\.28\.128\.200:80/);
  t.regex(healthProblems(states, parseIpvsServices(IPVS), { ...want, instances: { VI_1: 90 } }).join(), /VI_1 runs at priority 100, keepalived.conf says 90/);
  t.regex(healthProblems([{ ...states[0], state: 'FAULT' }], parseIpvsServices(IPVS), want).join(), /VI_1 is in FAULT/);
  t.regex(healthProblems([{ ...states[0], state: 'INIT' }], parseIpvsServices(IPVS), want).join(), /VI_1 is in state INIT/);
});

test('the director verify task asks for every instance at this director\'s priority and every virtual service', async (t) => {
  const { vars } = await renderDirector('bal2', { lvs_services: [{ port: 80 }, { port: 53, protocol: 'udp', check: { type: 'TCP_CHECK' } }] });
  const [task] = verify(vars as never);
  t.is(task.module.name, 'keepalived_health');
  t.deepEqual(task.args, { instances: { VI_1: 100 }, services: ['TCP 172.28.128.200:80', 'UDP 172.28.128.200:53'] });
  t.deepEqual(task.tags, ['verify']);
});
