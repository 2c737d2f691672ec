// lvs_vrrp_unicast: keepalived.conf gets unicast_src_ip (this director's lan_ip) and unicast_peer
// (every other director's) in every vrrp_instance; off, the render is what it was; a director
// without its own lan_ip is refused before any host is touched; a switch either way changes
// vrrp-peers.lvsplay, so it restarts keepalived like the other settings the directors share.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import YAML from 'yaml';
import { parseKeepalivedConf } from '../../lib/drill/observe.ts';
import { buildCluster } from '../../lib/lvs/index.ts';
import { ConfigError } from '../../lib/types.ts';
import { keepalivedConfig, vrrpPeerSettings } from '../../roles/director/keepalived.ts';
import { ACTIVE_ACTIVE, LAB, ROOT, byModule, labFacts, labInput, load, renderDirector } from './lvs-fixtures.ts';
import { runLocal } from '../helpers/lab-cluster.ts';

const UNICAST = { lvs_vrrp_unicast: 'true' }; // as -e lvs_vrrp_unicast=true gives it

/** Each vrrp_instance block of a keepalived.conf, by name. */
function instances(conf: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = conf.split('\n');
  lines.forEach((l, start) => {
    const m = /^vrrp_instance (\S+) {$/.exec(l);
    if (!m) return;
    let depth = 0;
    for (let i = start; i < lines.length; i++) {
      depth += (lines[i]!.match(/{/g) ?? []).length - (lines[i]!.match(/}/g) ?? []).length;
      if (depth === 0) {
        out[m[1]!] = lines.slice(start, i + 1).join('\n');
        return;
      }
    }
  });
  return out;
}

/** `unicast_src_ip` and the addresses in `unicast_peer { … }` of one instance block. */
function unicastOf(block: string): { src?: string; peers?: string[] } {
  const src = /^\s*unicast_src_ip (\S+)$/m.exec(block)?.[1];
  const peers = /^\s*unicast_peer {\n([^}]*)^\s*}$/m.exec(block)?.[1]?.trim().split(/\s+/);
  return { ...(src ? { src } : {}), ...(peers ? { peers } : {}) };
}

const peerFile = async (extra: Record<string, unknown>, host = 'bal1', file = LAB) => {
  const { tasks } = await renderDirector(host, extra, file);
  const [task] = byModule(tasks, 'copy').filter((x) => String((x.args as { dest: string }).dest).endsWith('/vrrp-peers.lvsplay'));
  return { content: String((task!.args as { content: string }).content), notify: task!.notify };
};

test('off (the default, or "false" from -e): keepalived.conf is rendered as before — no unicast keyword', async (t) => {
  const { conf } = await renderDirector('bal1');
  t.notRegex(conf, /unicast/);
  t.is((await renderDirector('bal1', { lvs_vrrp_unicast: 'false' })).conf, conf);
  t.is((await renderDirector('bal1', { lvs_vrrp_unicast: false })).conf, conf);
});

test('on, lab: each director sends from its own lan_ip to the other\'s, inside the instance', async (t) => {
  for (const [host, src, peer] of [['bal1', '172.28.128.11', '172.28.128.12'], ['bal2', '172.28.128.12', '172.28.128.11']] as const) {
    const { conf } = await renderDirector(host, UNICAST);
    t.is((conf.match(/{/g) ?? []).length, (conf.match(/}/g) ?? []).length, `${host}: braces balance`);
    const vi = instances(conf).VI_1!;
    t.deepEqual(unicastOf(vi), { src, peers: [peer] }, host);
    t.is(conf.match(/unicast_src_ip/g)?.length, 1, `${host}: only in the instance`);
    // the rest of the instance is untouched: remove the unicast lines and it is the multicast render
    const plain = instances((await renderDirector(host)).conf).VI_1!;
    t.is(vi.replace(/^\s*# unicast VRRP.*\n\s*unicast_src_ip .*\n\s*unicast_peer {\n[^}]*}\n/m, ''), plain, `${host}: nothing else changes`);
  }
  t.true((await renderDirector('bal1', { lvs_vrrp_unicast: true })).conf.includes('unicast_src_ip 172.28.128.11'), 'a YAML boolean works too');
});

test('on, active-active over 3 directors: every instance of each director lists both others as peers', async (t) => {
  for (const [host, src, peers] of [['bal1', '172.28.128.11', ['172.28.128.12', '172.28.128.13']], ['bal3', '172.28.128.13', ['172.28.128.11', '172.28.128.12']]] as const) {
    const { conf } = await renderDirector(host, UNICAST, ACTIVE_ACTIVE);
    const all = instances(conf);
    t.is(Object.keys(all).length, 6);
    for (const [name, block] of Object.entries(all)) t.deepEqual(unicastOf(block), { src, peers: [...peers] }, `${host} ${name}`);
  }
});

test('the drill reads the same timing from a unicast keepalived.conf as from the multicast one', async (t) => {
  const multicast = parseKeepalivedConf((await renderDirector('bal2')).conf);
  const unicast = parseKeepalivedConf((await renderDirector('bal2', UNICAST)).conf);
  t.deepEqual(unicast, multicast);
  t.like(unicast.instances[0], { name: 'VI_1', priority: 100, advertInt: 1, vips: ['172.28.128.200'] });
});

test('vrrp-peers.lvsplay: unchanged when off; on, one more line, the same on every director; a switch either way restarts keepalived', async (t) => {
  const off = await peerFile({});
  t.is((await peerFile({ lvs_vrrp_unicast: 'false' })).content, off.content);
  t.notRegex(off.content, /unicast/);
  const on = await peerFile(UNICAST);
  t.is(on.content, `${off.content}unicast between 172.28.128.11 172.28.128.12\n`);
  t.is((await peerFile(UNICAST, 'bal2')).content, on.content, 'the same on every director');
  t.deepEqual(on.notify, ['restart keepalived'], 'a change of this file restarts keepalived');
  // a director's address moving is a change of transport too
  const moved = buildCluster(labInput({ lvs_vrrp_unicast: true }, { bal2: { lan_ip: '172.28.128.13' } }));
  t.regex(vrrpPeerSettings(keepalivedConfig(moved, 'bal1', labFacts((await load()), 'bal1'))), /^unicast between 172\.28\.128\.11 172\.28\.128\.13$/m);
  t.regex((await peerFile(UNICAST, 'bal3', ACTIVE_ACTIVE)).content, /^unicast between 172\.28\.128\.11 172\.28\.128\.12 172\.28\.128\.13$/m);
});

const FILE = /^inventory\/test\.yml: /;
const refusals: Array<[string, ReturnType<typeof labInput>, RegExp]> = [
  ['a director without lan_ip', labInput({ lvs_vrrp_unicast: true }, { bal2: { lan_ip: undefined } }), /^host bal2: lan_ip = \(not set\): lvs_vrrp_unicast: true sends VRRP adverts from each director's LAN address/],
  ['two directors with one lan_ip', labInput({ lvs_vrrp_unicast: true }, { bal2: { lan_ip: '172.28.128.11' } }), /^host bal2: lan_ip = "172\.28\.128\.11": is also bal1's lan_ip/],
  ['a single director', labInput({ lvs_vrrp_unicast: 'true' }, {}, { directors: ['bal1'] }), /^lvs_vrrp_unicast = true: sends VRRP adverts to the other directors, and the group directors has only bal1: keepalived would fall back to multicast/],
  ['not a boolean', labInput({ lvs_vrrp_unicast: 'yes' }), /^lvs_vrrp_unicast = "yes": Expected boolean/],
];

for (const [name, input, message] of refusals) {
  test(`refused: unicast with ${name}`, (t) => {
    const err = t.throws(() => buildCluster(input), { instanceOf: ConfigError });
    t.regex(err!.message, FILE, 'names the inventory file');
    t.regex(err!.message.replace(FILE, ''), message);
  });
}

test('without unicast, a director without lan_ip is not refused for it (multicast needs no peer address)', (t) => {
  t.notThrows(() => buildCluster(labInput({}, { bal2: { lan_ip: undefined } })));
});

test('the CLI refuses a director without lan_ip under -e lvs_vrrp_unicast=true, exit 1, before any host is touched', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lvsplay-unicast-'));
  try {
    // port 1 on loopback: had the run reached a host it would have been unreachable (exit 4)
    const inv = {
      all: {
        vars: { ansible_host: '127.0.0.1', ansible_port: 1, ansible_user: 'root', lan_cidr: '172.28.128.0/24', lvs_vips: ['172.28.128.200'] },
        children: {
          directors: { hosts: { bal1: { lan_ip: '172.28.128.11' }, bal2: {} } },
          realservers: { hosts: { real1: { lan_ip: '172.28.128.21' } } },
        },
      },
    };
    const file = path.join(dir, 'unicast.yml');
    writeFileSync(file, YAML.stringify(inv));
    const r = await runLocal(path.join(ROOT, 'node_modules/.bin/tsx'), [path.join(ROOT, 'playbooks/site.ts'), '-i', file, '-e', 'lvs_vrrp_unicast=true'], 60_000);
    t.is(r.code, 1, `${r.stdout}\n${r.stderr}`);
    t.regex(`${r.stdout}\n${r.stderr}`, /unicast\.yml: host bal2: lan_ip = \(not set\): lvs_vrrp_unicast: true sends VRRP adverts/);
    t.notRegex(`${r.stdout}\n${r.stderr}`, /unreachable|ECONNREFUSED/i);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
