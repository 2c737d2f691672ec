// HTTPS on the ports that ask for it: one self-signed certificate per host, generated on the host
// the first time and kept (its key never leaves the host; a rerun finds both files and does nothing).
import { command } from '../../lib/modules/index.ts';
import { sh } from '../../lib/shell.ts';
import type { Task } from '../../lib/types.ts';

export const TLS = { cert: '/etc/ssl/certs/lvsplay.pem', key: '/etc/ssl/private/lvsplay.key' };

/** Written beside, then renamed into place: a half-written pair never reaches nginx. */
export function tlsCertificate(host: string): Task {
  const { cert, key } = TLS;
  return command(
    {
      cmd: sh`umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -subj ${`/CN=${host}`} -addext ${`subjectAltName=DNS:${host}`} -keyout ${`${key}.new`} -out ${`${cert}.new`} 2>&1 && chmod 0644 ${`${cert}.new`} && mv -f ${`${key}.new`} ${key} && mv -f ${`${cert}.new`} ${cert}`,
      unless: sh`test -s ${cert} && test -s ${key}`,
    },
    { name: 'HTTPS: this host\'s certificate (generated once, kept)', notify: ['reload nginx'] },
  );
}
