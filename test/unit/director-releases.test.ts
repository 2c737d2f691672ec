// keepalived per Debian release (issue 12): which version a director runs or will run, and the
// refusal of an option its version cannot take, before its tasks run, naming the version.
import test from 'ava';
import { buildCluster } from '../../lib/lvs/index.ts';
import { ConfigError, type Facts } from '../../lib/types.ts';
import { keepalivedConfig } from '../../roles/director/keepalived.ts';
import { keepalivedVersion, upstreamVersion, versionAtLeast } from '../../roles/director/keepalived-version.ts';
import { labInput } from './lvs-fixtures.ts';

const facts = (versionId: string, codename: string, packages: Record<string, string> = {}): Facts => ({
  hostname: 'bal1',
  os: { id: 'debian', versionId, codename, prettyName: `Debian GNU/Linux ${versionId} (${codename})` },
  interfaces: { lo: { cidrs: ['127.0.0.1/8'], up: true }, eth1: { cidrs: ['172.28.128.11/24'], up: true } },
  defaultInterface: 'eth1',
  packages,
  systemd: true,
});

test('keepalived version: the installed package first, else what the Debian release ships', (t) => {
  t.is(upstreamVersion('1:2.2.7-1+b2'), '2.2.7');
  t.is(upstreamVersion('1:2.1.5-0.2+deb11u1'), '2.1.5');
  t.is(upstreamVersion('1:2.2.7-1~bpo11+1'), '2.2.7');
  t.deepEqual(keepalivedVersion(facts('11', 'bullseye')), { version: '2.1.5', from: "Debian 11 (bullseye)'s package" });
  t.deepEqual(keepalivedVersion(facts('13', 'trixie')), { version: '2.3.3', from: "Debian 13 (trixie)'s package" });
  t.deepEqual(keepalivedVersion(facts('11', 'bullseye', { keepalived: '1:2.2.7-1~bpo11+1' })), { version: '2.2.7', from: 'installed 1:2.2.7-1~bpo11+1' });
  t.is(keepalivedVersion({ ...facts('22.04', 'jammy'), os: { id: 'ubuntu', versionId: '22.04', codename: 'jammy', prettyName: '' } }), undefined);
  t.true(versionAtLeast('2.3.3', '2.3.2'));
  t.true(versionAtLeast('2.10.0', '2.9'));
  t.false(versionAtLeast('2.2.7', '2.3.2'));
});

const tracked = (interval: number) => buildCluster(labInput({ lvs_track: [{ name: 'chk_nginx', kind: 'service', unit: 'nginx', interval, timeout: 0.25 }] }));

test('a track interval in fractions of a second: rendered for keepalived ≥ 2.3.2, refused on older ones with the version', (t) => {
  const ka = keepalivedConfig(tracked(0.5), 'bal1', facts('13', 'trixie'));
  t.deepEqual([ka.scripts[0]!.interval, ka.scripts[0]!.timeout], [0.5, 0.25]);
  const err = t.throws(() => keepalivedConfig(tracked(0.5), 'bal1', facts('12', 'bookworm')), { instanceOf: ConfigError });
  t.regex(err!.message, /^inventory\/test\.yml: host bal1: lvs_track\[0\]\.interval = 0\.5: keepalived 2\.2\.7 \(Debian 12 \(bookworm\)'s package\) runs vrrp_script checks in whole seconds; fractions of a second need keepalived ≥ 2\.3\.2/);
  t.throws(() => keepalivedConfig(tracked(2), 'bal1', facts('11', 'bullseye')), { message: /lvs_track\[0\]\.timeout = 0\.25: keepalived 2\.1\.5/ });
  // whole seconds: every version, and the package facts are not even read
  const whole = buildCluster(labInput({ lvs_track: [{ name: 'chk_nginx', kind: 'service', unit: 'nginx' }] }));
  t.notThrows(() => keepalivedConfig(whole, 'bal1', { ...facts('11', 'bullseye'), get packages(): Record<string, string> { throw new Error('read'); } }));
});

test('lvs_track times: whole milliseconds at most', (t) => {
  t.throws(() => tracked(0.0005), { instanceOf: ConfigError, message: /lvs_track\.0\.interval|lvs_track\[0\]\.interval/ });
  t.throws(() => tracked(0.1234), { message: /whole milliseconds/ });
  t.notThrows(() => tracked(0.125));
});
