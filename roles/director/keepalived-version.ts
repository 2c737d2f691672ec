// Which keepalived a director runs (or will run once the role installs Debian's package), and what
// lvsplay may render that not every version takes. A director whose version cannot do an option
// the inventory asks for is refused before its tasks run, naming the version.
import type { ClusterModel } from '../../lib/lvs/index.ts';
import { ConfigError, type Facts } from '../../lib/types.ts';

/** Debian's keepalived per release (os-release VERSION_ID): what `apt-get install keepalived` brings. */
export const DEBIAN_KEEPALIVED: Record<string, { version: string; codename: string }> = {
  '11': { version: '2.1.5', codename: 'bullseye' },
  '12': { version: '2.2.7', codename: 'bookworm' },
  '13': { version: '2.3.3', codename: 'trixie' },
};

export interface KeepalivedVersion {
  /** upstream version, `2.2.7` */
  version: string;
  /** where it was read: `installed 1:2.2.7-1+b2` or `Debian 12 (bookworm)'s package` */
  from: string;
}

/** `1:2.2.7-1+b2` → `2.2.7` */
export const upstreamVersion = (debian: string): string => debian.replace(/^\d+:/, '').replace(/-[^-]*$/, '').replace(/[~+].*$/, '');

/** a ≥ b, numerically part by part (`2.10` > `2.9`) */
export function versionAtLeast(a: string, b: string): boolean {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

/** The installed keepalived, else the one the host's Debian release ships; undefined on another OS. */
export function keepalivedVersion(facts: Pick<Facts, 'os' | 'packages'>): KeepalivedVersion | undefined {
  const installed = facts.packages.keepalived;
  if (installed) return { version: upstreamVersion(installed), from: `installed ${installed}` };
  const debian = facts.os.id === 'debian' ? DEBIAN_KEEPALIVED[facts.os.versionId] : undefined;
  return debian && { version: debian.version, from: `Debian ${facts.os.versionId} (${debian.codename})'s package` };
}

const SINCE_FRACTIONAL_SCRIPT_TIMES = '2.3.2';

/**
 * Refuses what this director's keepalived cannot take. Reads the package facts only when the
 * inventory asks for something version-bound.
 */
export function refuseForKeepalivedVersion(model: ClusterModel, host: string, facts: Facts | undefined): void {
  const fractional = model.tracks.flatMap((t, i) =>
    (['interval', 'timeout'] as const).filter((k) => !Number.isInteger(t[k])).map((k) => ({ key: `lvs_track[${i}].${k}`, value: t[k] })),
  );
  if (!fractional.length || !facts) return;
  const ka = keepalivedVersion(facts);
  if (!ka || versionAtLeast(ka.version, SINCE_FRACTIONAL_SCRIPT_TIMES)) return;
  const { key, value } = fractional[0]!;
  throw new ConfigError(
    `host ${host}: ${key} = ${value}: keepalived ${ka.version} (${ka.from}) runs vrrp_script checks in whole seconds; ` +
      `fractions of a second need keepalived ≥ ${SINCE_FRACTIONAL_SCRIPT_TIMES} (Debian 13 trixie): use whole seconds on this director`,
    model.file,
  );
}
