// keepalived's health checkers as one table: what each needs from the service and the real server,
// and the lines it renders inside `real_server { … }`. Adding a checker is one entry here (and its
// test): the schema takes its names from this table, the validation its protocol rule, the
// director's template its lines, the real server whether to serve HTTP / HTTPS for it.
export interface CheckSettings {
  type: string;
  path: string;
  status: number;
  connect_timeout: number;
  retry: number;
  delay_before_retry: number;
}

export interface CheckKind {
  /** only for TCP services (HTTP, TLS) */
  tcpOnly: boolean;
  /** the real server must answer GET `path` with `status` on the port */
  http: boolean;
  /** … over TLS */
  tls: boolean;
  /** the body of `NAME { … }` in keepalived.conf, one statement per line */
  lines(c: CheckSettings): string[];
}

const common = (c: CheckSettings) => [`connect_timeout ${c.connect_timeout}`, `retry ${c.retry}`, `delay_before_retry ${c.delay_before_retry}`];
const url = (c: CheckSettings) => ['url {', `    path ${c.path}`, `    status_code ${c.status}`, '}'];

export const CHECKS = {
  // a TCP connect to the port; allowed beside a UDP service (it then checks the port's TCP side)
  TCP_CHECK: { tcpOnly: false, http: false, tls: false, lines: common },
  HTTP_GET: { tcpOnly: true, http: true, tls: false, lines: (c) => [...url(c), ...common(c)] },
  // keepalived's SSL_GET does not verify the certificate unless an SSL { cafile } block says so:
  // the real servers' self-signed certificates are accepted, as the seed's setup needs.
  SSL_GET: { tcpOnly: true, http: true, tls: true, lines: (c) => [...url(c), ...common(c)] },
} satisfies Record<string, CheckKind>;

export type CheckType = keyof typeof CHECKS;
export const CHECK_TYPES = Object.keys(CHECKS) as [CheckType, ...CheckType[]];
