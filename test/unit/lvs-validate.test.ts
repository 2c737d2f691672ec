// Every refusal, table-driven: the ConfigError names the file, the key, the value and why.
import test from 'ava';
import { buildCluster } from '../../lib/lvs/index.ts';
import { ConfigError } from '../../lib/types.ts';
import client from '../../roles/client/index.ts';
import director from '../../roles/director/index.ts';
import realserver from '../../roles/realserver/index.ts';
import { LAB, labInput, load, validate } from './lvs-fixtures.ts';

const FILE = /^inventory\/test\.yml: /;
const threeDirectors = { directors: ['bal1', 'bal2', 'bal3'] };
const bal3 = { bal3: { lan_ip: '172.28.128.13' } };

type Case = [name: string, input: ReturnType<typeof labInput>, message: RegExp, notIn?: string];

const cases: Case[] = [
  // auth
  ['auth_pass longer than 8 characters', labInput({ lvs_auth_pass: 'netology_secret' }), /^lvs_auth_pass \(15 characters, value not shown\): keepalived uses only the first 8 characters .* silently/, 'netology_secret'],
  ['auth with VRRPv3', labInput({ lvs_auth_pass: 'buka17', lvs_vrrp_version: 3 }), /^lvs_auth_pass \(6 characters, value not shown\): VRRPv3 has no authentication .* lvs_vrrp_version is 3/, 'buka17'],
  ['auth with the fast profile (VRRPv3)', labInput({ lvs_auth_pass: 'buka17', lvs_profile: 'fast' }), /VRRPv3 has no authentication .* lvs_vrrp_version \(from lvs_profile: fast\) is 3/],
  ['auth_pass with a comment character', labInput({ lvs_auth_pass: 'ab#cd' }), /^lvs_auth_pass \(5 characters, value not shown\): .* `#` and `!` as the start of a comment/, 'ab#cd'],
  // VRIDs
  ['duplicate VRID on one segment', labInput({ lvs_vips: ['172.28.128.200', '172.28.128.201'], lvs_vrids: [51, 51] }), /^lvs_vrids\[1\] = 51: duplicate of lvs_vrids\[0\]: .* flap/],
  ['VRIDs not one per VIP', labInput({ lvs_vips: ['172.28.128.200', '172.28.128.201'], lvs_vrids: [51] }), /^lvs_vrids = \[51\]: lists 1 VRIDs for 2 VRRP instances \(one per VIP\)/],
  ['VRID out of range', labInput({ lvs_vrids: [256] }), /^lvs_vrids\[0\] = 256: Number must be less than or equal to 255/],
  // preemption
  ['preempt_delay with nopreempt', labInput({ lvs_preempt: false, lvs_preempt_delay: 5 }), /^lvs_preempt_delay = 5: delays a preemption that lvs_preempt: false \(nopreempt\) never makes/],
  ['sync refresh without the sync daemon', labInput({ lvs_sync_daemon: false, lvs_sync_refresh: 2 }), /^lvs_sync_refresh = 2: paces the IPVS connection sync, which lvs_sync_daemon: false turns off/],
  ['sync refresh out of range', labInput({ lvs_sync_refresh: 61 }), /^lvs_sync_refresh = 61: /],
  ['preempt_delay over keepalived\'s 1000 s', labInput({ lvs_preempt_delay: 1001 }), /^lvs_preempt_delay = 1001: Number must be less than or equal to 1000/],
  // priorities
  ['equal priorities (both set)', labInput({}, { bal1: { lvs_priority: 120 }, bal2: { lvs_priority: 120 } }), /^host bal2: lvs_priority = 120: equal to bal1's priority in the VRRP instance for 172\.28\.128\.200/],
  ['equal priorities (one set, one derived)', labInput({}, { bal1: { lvs_priority: 100 } }), /^host bal2: lvs_priority \(derived from the order of the directors\) = 100: equal to bal1's priority/],
  ['priority 255', labInput({}, { bal1: { lvs_priority: 255 } }), /^host bal1: lvs_priority = 255: VRRP priorities run from 1 to 254/],
  ['priority 0', labInput({}, { bal2: { lvs_priority: 0 } }), /^host bal2: lvs_priority = 0: VRRP priorities run from 1 to 254/],
  ['lvs_priority with active-active', labInput({ lvs_active_active: true, lvs_vip_pool: '172.28.128.200/29' }, { bal1: { lvs_priority: 200 } }), /^host bal1: lvs_priority = 200: lvs_active_active derives every priority/],
  // VIPs
  ['VIP outside the LAN subnet', labInput({ lvs_vips: ['10.0.0.200'] }), /^lvs_vips\[0\] = "10\.0\.0\.200": is outside lan_cidr 172\.28\.128\.0\/24: .* gratuitous ARP/],
  ['VIP pool outside the LAN subnet', labInput({ lvs_active_active: true, lvs_vips: undefined, lvs_vip_pool: '10.9.0.0/29' }), /^lvs_vip_pool = "10\.9\.0\.0\/29": gives 10\.9\.0\.1, which is outside lan_cidr/],
  ['VIP that a host owns', labInput({ lvs_vips: ['172.28.128.21'] }), /^lvs_vips\[0\] = "172\.28\.128\.21": 172\.28\.128\.21 is already host real1's lan_ip/],
  ['VIP on the broadcast address', labInput({ lvs_vips: ['172.28.128.255'] }), /^lvs_vips\[0\] = "172\.28\.128\.255": .* network or broadcast address/],
  ['the same VIP twice', labInput({ lvs_vips: ['172.28.128.200', '172.28.128.200'] }), /^lvs_vips\[1\] = "172\.28\.128\.200": repeats lvs_vips\[0\]/],
  ['no VIP', labInput({ lvs_vips: [] }), /^lvs_vips = \[\]: the cluster needs at least one VIP/],
  ['not an address', labInput({ lvs_vips: ['172.28.128.300'] }), /^lvs_vips\[0\] = "172\.28\.128\.300": not an IPv4 address/],
  ['active-active without N·(N−1) VIPs or a pool', labInput({ lvs_active_active: true, lvs_vips: ['172.28.128.200', '172.28.128.201', '172.28.128.202'] }, bal3, threeDirectors), /^lvs_vips = \[.*\]: active-active over 3 directors needs 6 VIPs .* lvs_vip_pool/],
  ['active-active pool too small', labInput({ lvs_active_active: true, lvs_vips: undefined, lvs_vip_pool: '172.28.128.200/30' }, bal3, threeDirectors), /^lvs_vip_pool = "172\.28\.128\.200\/30": holds 2 host addresses; active-active over 3 directors needs 6/],
  ['active-active with one director', labInput({ lvs_active_active: true }, {}, { directors: ['bal1'] }), /^lvs_active_active = true: needs at least 2 directors/],
  // topology
  ['co-located with NAT', labInput({ lvs_services: [{ port: 80, lb_kind: 'NAT' }], lvs_nat_gateway: '172.28.128.250' }, {}, { realservers: ['real1', 'bal2'] }), /^lvs_services\[0\]\.lb_kind = "NAT": bal2 is director and real server at once: a co-located cluster forwards by Direct Routing only \(DR\)/],
  ['co-located with TUN', labInput({ lvs_services: [{ port: 80 }, { port: 81, lb_kind: 'TUN' }] }, {}, { realservers: ['bal1', 'bal2'] }), /^lvs_services\[1\]\.lb_kind = "TUN": bal1, bal2 are director and real server at once/],
  ['co-located, a director without lan_ip', labInput({}, { bal1: { lan_ip: undefined } }, { realservers: ['real1', 'bal2'] }), /^host bal1: lan_ip = \(not set\): a co-located cluster needs every director's LAN address/],
  ['SSL_GET on a UDP service', labInput({ lvs_services: [{ port: 443, protocol: 'udp', check: { type: 'SSL_GET' } }] }), /^lvs_services\[0\]\.check\.type = "SSL_GET": an HTTP check needs a TCP service/],
  ['tls on a UDP service', labInput({ lvs_services: [{ port: 443, protocol: 'udp', tls: true, check: { type: 'TCP_CHECK' } }] }), /^lvs_services\[0\]\.tls = true: HTTPS needs a TCP service/],
  ['an unknown check type', labInput({ lvs_services: [{ port: 80, check: { type: 'SMTP_CHECK' } }] }), /^lvs_services\[0\]\.check\.type = "SMTP_CHECK": unknown health check type; expected one of TCP_CHECK, HTTP_GET, SSL_GET/],
  ['no directors', labInput({}, {}, { directors: [] }), /^group `directors` is empty or missing/],
  ['a real server without lan_ip', labInput({}, { real2: { lan_ip: undefined } }), /^host real2: lan_ip = \(not set\): a real server needs its LAN address/],
  ['a DR real server off the LAN', labInput({}, { real2: { lan_ip: '10.1.2.3' } }), /^host real2: lan_ip = "10\.1\.2\.3": outside lan_cidr 172\.28\.128\.0\/24: DR and NAT forward on the LAN segment/],
  ['cluster vars that differ between directors', labInput({}, { bal2: { lvs_vips: ['172.28.128.201'] } }), /^host bal2: lvs_vips = \["172\.28\.128\.201"\]: differs from bal1's \["172\.28\.128\.200"\]: .* all\.vars/],
  ['no lan_cidr', labInput({ lan_cidr: undefined }), /^lan_cidr = \(not set\): Required/],
  // services
  ['unknown lb_algo', labInput({ lvs_services: [{ port: 80, lb_algo: 'roundrobin' }] }), /^lvs_services\[0\]\.lb_algo = "roundrobin": unknown IPVS scheduler \(lb_algo\); expected one of rr, wrr, lc, wlc, sh, dh, sed, nq, mh/],
  ['unknown lb_kind', labInput({ lvs_services: [{ port: 80, lb_kind: 'DSR' }] }), /^lvs_services\[0\]\.lb_kind = "DSR": unknown IPVS forwarding method \(lb_kind\); expected one of DR, NAT, TUN/],
  ['a misspelt service key', labInput({ lvs_services: [{ port: 80, lb_algorithm: 'rr' }] }), /^lvs_services\[0\] = .*: Unrecognized key\(s\) in object: 'lb_algorithm'/],
  ['a virtual service with no real servers', labInput({}, {}, { realservers: [] }), /^lvs_services\[0\] = "80\/tcp": a virtual service with no real servers: the group `realservers` is empty/],
  ['every real server at weight 0', labInput({}, { real1: { lvs_weight: 0 }, real2: { lvs_weight: 0 } }), /^lvs_services\[0\] = "80\/tcp": a virtual service with no real servers: every real server has lvs_weight 0/],
  ['HTTP_GET on a UDP service', labInput({ lvs_services: [{ port: 53, protocol: 'udp' }] }), /^lvs_services\[0\]\.check\.type = "HTTP_GET": an HTTP check needs a TCP service/],
  ['the same port twice', labInput({ lvs_services: [{ port: 80 }, { port: 80 }] }), /^lvs_services\[1\]\.port = 80: 80\/tcp is already lvs_services\[0\]/],
  ['NAT without a gateway', labInput({ lvs_services: [{ port: 80, lb_kind: 'NAT' }] }), /^lvs_nat_gateway = \(not set\): lvs_services\[0\] uses lb_kind NAT/],
  ['NAT gateway off the LAN', labInput({ lvs_services: [{ port: 80, lb_kind: 'NAT' }], lvs_nat_gateway: '10.0.0.1' }), /^lvs_nat_gateway = "10\.0\.0\.1": must be a host address in lan_cidr/],
  ['NAT with active-active', labInput({ lvs_active_active: true, lvs_vip_pool: '172.28.128.200/29', lvs_services: [{ port: 80, lb_kind: 'NAT' }], lvs_nat_gateway: '172.28.128.250' }), /^lvs_services\[0\]\.lb_kind = "NAT": NAT is not supported with lvs_active_active/],
  // VRRP timing
  ['advert_int not an integer with VRRPv2', labInput({ lvs_advert_int: 0.5 }), /^lvs_advert_int = 0\.5: VRRPv2 carries the advert interval in whole seconds/],
  ['the fast profile forced back to VRRPv2', labInput({ lvs_profile: 'fast', lvs_vrrp_version: 2 }), /^lvs_advert_int \(from lvs_profile: fast\) = 0\.1: VRRPv2 carries the advert interval in whole seconds/],
  ['VRRPv3 advert_int finer than a centisecond', labInput({ lvs_vrrp_version: 3, lvs_advert_int: 0.005 }), /^lvs_advert_int = 0\.005: VRRPv3 advert intervals are whole centiseconds/],
  ['unknown VRRP version', labInput({ lvs_vrrp_version: 4 }), /^lvs_vrrp_version = 4: VRRP version is 2 or 3/],
  ['unknown profile', labInput({ lvs_profile: 'turbo' }), /^lvs_profile = "turbo": unknown profile; expected one of default, fast/],
];

for (const [name, input, message, notIn] of cases) {
  test(`refused: ${name}`, (t) => {
    const err = t.throws(() => buildCluster(input), { instanceOf: ConfigError });
    t.regex(err!.message, FILE, 'names the inventory file');
    t.regex(err!.message.replace(FILE, ''), message);
    if (notIn) t.false(err!.message.includes(notIn), 'the secret itself is not shown');
  });
}

test('the lab inventory passes every role validation', async (t) => {
  const inv = await load(LAB);
  for (const role of [director, realserver, client]) t.notThrows(() => validate(inv, role), role.name);
});

test('Role.validate refuses bad -e vars, naming the real inventory file, before any host is touched', async (t) => {
  const extra = { lvs_auth_pass: 'netology_secret' };
  const inv = await load(LAB, extra);
  const err = t.throws(() => validate(inv, director, extra), { instanceOf: ConfigError });
  t.regex(err!.message, /^inventory\/lab\.yml: lvs_auth_pass \(15 characters, value not shown\)/);
});

test('numbers given as strings (-e key=value) are accepted', (t) => {
  const m = buildCluster(labInput({ lvs_vrrp_version: '3', lvs_advert_int: '0.1', lvs_active_active: 'false', lvs_services: [{ port: '8080' }] }));
  t.like(m.vrrp, { version: 3, advertInt: 0.1 });
  t.is(m.services[0].port, 8080);
});
