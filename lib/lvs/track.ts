// Tracked checks (lvs_track): keepalived's vrrp_script, one table of built-in kinds. Each kind says
// which key it needs, the command it runs and the package that command comes from; adding a kind
// is one entry here (and its test). The schema takes the kinds' names from this table, the
// director renders their commands and installs their packages.
//
// keepalived (2.2) does not run a script through a shell: it splits the string at unquoted spaces
// and execs the first word, so the command must be an absolute path (a bare name is "resolved by
// path search", with a warning) and shell syntax means nothing. lvsplay renders every command
// between double quotes with no quoting inside it, so a word may not contain what keepalived's
// parser would read: quotes and backslashes (quoting, escapes), `#` and `!` (comments), `{` `}`
// (blocks), `$` (its ${NAME} substitution) or whitespace other than single spaces between words.
export interface TrackKind {
  /** the key of lvs_track[i] this kind reads */
  key: 'unit' | 'port' | 'url';
  /** the words of the command (absolute paths; every word free of UNSAFE) */
  command(value: string | number, timeoutS: number): string[];
  /** the Debian package that provides the command on a director, beyond keepalived's own */
  packages: string[];
  /** one line for keepalived.conf's reader */
  describe(value: string | number): string;
}

export const TRACK_KINDS = {
  // as root, systemctl talks to systemd's private socket (any other user needs the system D-Bus,
  // absent from a minimal Debian): the director runs tracked checks as root (keepalived.ts)
  service: {
    key: 'unit',
    command: (unit) => ['/usr/bin/systemctl', 'is-active', '--quiet', String(unit)],
    packages: [],
    describe: (unit) => `the local unit ${unit} is active`,
  },
  // bash is Essential on Debian (/usr/bin/bash with merged /usr); dash has no /dev/tcp. The
  // redirection alone opens the connection; keepalived's `timeout` ends a hanging connect.
  tcp: {
    key: 'port',
    command: (port) => ['/usr/bin/bash', '-c', `</dev/tcp/127.0.0.1/${port}`],
    packages: [],
    describe: (port) => `the local TCP port ${port} accepts a connection`,
  },
  // --max-redirs 0 with -L makes a 3xx an error: only a 2xx passes (-f fails 4xx/5xx).
  http: {
    key: 'url',
    command: (url, timeoutS) => ['/usr/bin/curl', '-fsL', '--max-redirs', '0', '-o', '/dev/null', '-m', String(timeoutS), String(url)],
    packages: ['curl'],
    describe: (url) => `${url} answers 2xx`,
  },
} satisfies Record<string, TrackKind>;

/** The unit a `service` check's command tests (the inverse of its command), for the drill that stops it. */
export function serviceUnitOf(script: string): string | undefined {
  const words = script.split(' ');
  const pattern = TRACK_KINDS.service.command('UNIT');
  return words.length === pattern.length && pattern.every((w, i) => w === 'UNIT' || w === words[i]) ? words[pattern.indexOf('UNIT')] : undefined;
}

export type TrackKindName = keyof typeof TRACK_KINDS;
export const TRACK_KIND_NAMES = Object.keys(TRACK_KINDS) as [TrackKindName, ...TrackKindName[]];

/** A character keepalived's parser would read inside a double-quoted script string. */
export const UNSAFE = /[\s"'\\#!{}$]/;

/** keepalived's names are single words; these are also safe in every place lvsplay writes them. */
export const TRACK_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,31}$/;
