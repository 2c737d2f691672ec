// The contracts between lvsplay's layers. Layers import downwards only:
// transport (lib/ssh.ts, the only importer of ssh2) → modules → runner (events) → UI (listr2).
import type { Command } from './shell.ts';

// ---------------------------------------------------------------- inventory

/** One host as the inventory resolves it: connection settings plus merged vars. */
export interface Host {
  name: string;
  /** ansible_host, or the name */
  address: string;
  /** ansible_port, default 22 */
  port: number;
  /** ansible_user, default: the local user name */
  user: string;
  /** ansible_ssh_private_key_file, resolved to an absolute path */
  privateKeyFile?: string;
  /** ansible_become */
  become: boolean;
  /** every group the host is in, including ancestors and `all` */
  groups: string[];
  /** merged vars with Ansible precedence: all < parent group < child group < host < extra vars */
  vars: Record<string, unknown>;
}

export interface Inventory {
  /** the (first) inventory file, absolute */
  file: string;
  /** every -i source in order (files and directories absolute; `h1,h2,` lists as given) */
  sources?: string[];
  /** each group as declared: its own hosts and child groups (what `ansible-inventory --list` prints) */
  tree?: Map<string, { hosts: string[]; children: string[] }>;
  /** a host's inventory vars as Ansible shows them (`ansible-inventory --host`): no extra vars, paths as written */
  hostvars?(name: string): Record<string, unknown>;
  hosts: Map<string, Host>;
  /** group name → member host names (recursive through children), `all` and `ungrouped` included */
  groups: Map<string, string[]>;
  /** hosts matching an Ansible pattern (`a:b`, `a:&b`, `!a`, globs), in Ansible's order (terms as written, a group as Group.get_hosts) */
  select(pattern: string): Host[];
}

// ---------------------------------------------------------------- transport

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface ExecOptions {
  /** do not throw on a non-zero exit (probes) */
  nothrow?: boolean;
  /** run through `sudo -n` (defaults to the host's `become`) */
  become?: boolean;
  /** written to the command's stdin, then closed */
  stdin?: string | Buffer;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface PutOptions {
  /** octal string, e.g. '0644' */
  mode?: string;
  owner?: string;
  group?: string;
  /** run on the temp file before it replaces dest; `%s` is the temp path. A non-zero exit aborts, dest untouched. */
  validate?: string;
  become?: boolean;
}

/** A connection to one host, opened once and reused for the whole run. */
export interface Conn {
  readonly host: Host;
  exec(cmd: Command | string, opts?: ExecOptions): Promise<ExecResult>;
  /** zx-style: host.$`ip addr add ${cidr} dev lo` — quoted, throws CommandError on non-zero */
  $(strings: TemplateStringsArray, ...values: unknown[]): Promise<ExecResult>;
  /** several read-only probes in ONE round trip; each result is independent (never throws on exit codes) */
  read(cmds: Command[], opts?: { become?: boolean }): Promise<ExecResult[]>;
  /** atomic write: sftp to a temp file beside dest, chmod/chown, validate, rename */
  put(dest: string, content: string | Buffer, opts?: PutOptions): Promise<void>;
  close(): Promise<void>;
}

/** A failed remote command. Only the CLI prints it. */
export class CommandError extends Error {
  constructor(
    readonly host: string,
    /** masked command text */
    readonly command: string,
    readonly exitCode: number,
    readonly stdout: string,
    readonly stderr: string,
    /** play › role › task, filled in by the runner */
    public path = '',
  ) {
    const tail = (stderr || stdout).trim().split('\n').slice(-8).join('\n');
    super(`${host}: \`${command}\` exited ${exitCode}${tail ? `:\n${tail}` : ''}`);
    this.name = 'CommandError';
  }
}

/** The host could not be reached or authenticated (counts as `unreachable`, exit 4). */
export class UnreachableError extends Error {
  constructor(readonly host: string, message: string) {
    super(`${host}: ${message}`);
    this.name = 'UnreachableError';
  }
}

// ---------------------------------------------------------------- facts

export interface Facts {
  hostname: string;
  os: { id: string; versionId: string; codename: string; prettyName: string };
  /** interface name → its IPv4 addresses in CIDR form */
  interfaces: Record<string, { cidrs: string[]; up: boolean; mac?: string }>;
  defaultInterface?: string;
  /** package name → version, for installed packages */
  packages: Record<string, string>;
  /** systemd present */
  systemd: boolean;
}

// ---------------------------------------------------------------- modules

export interface Change {
  /** one line for the progress view, e.g. "install keepalived ipvsadm" */
  summary: string;
  /** unified diff (secrets redacted), for --diff */
  diff?: string;
  /** whatever apply() needs, computed by plan() */
  data?: unknown;
}

export interface ModuleContext {
  conn: Conn;
  host: Host;
  facts: Facts;
  /** host vars + role defaults + registered results */
  vars: Record<string, unknown>;
  /** directory of the role the task came from (templates/ lives there) */
  roleDir?: string;
  check: boolean;
  /** -v output */
  log(line: string): void;
  signal?: AbortSignal;
}

export interface Module<A> {
  name: string;
  /** reads current state and returns null ("nothing to do") or the change to make */
  plan(ctx: ModuleContext, args: A): Promise<Change | null>;
  /** makes exactly the planned change; may return data to register */
  apply(ctx: ModuleContext, args: A, change: Change): Promise<unknown>;
}

export interface TaskOptions {
  /** human name in progress and recap; defaults to the module's summary of args */
  name?: string;
  tags?: string[];
  /** skip unless true; evaluated per host at run time */
  when?: (ctx: ModuleContext) => boolean;
  /** handler names to notify when the task changed something */
  notify?: string[];
  /** store the result in vars under this name for later tasks */
  register?: string;
  become?: boolean;
  ignoreErrors?: boolean;
}

export interface Task<A = any> extends TaskOptions {
  module: Module<A>;
  args: A;
}

/** A role: the Ansible layout as TypeScript values. */
export interface Role<V = any> {
  name: string;
  /** absolute path of roles/<name>/ */
  dir: string;
  defaults: Partial<V>;
  tasks: (vars: V & RoleVars) => Task[];
  handlers?: (vars: V & RoleVars) => Array<Task & { name: string }>;
  /**
   * Read-only checks that the role's service really works, run on each host after its batch's
   * handlers (a reload or restart has happened by then); not run in check mode.
   */
  verify?: (vars: V & RoleVars) => Task[];
  /** validation of the merged vars before any host is touched; throws a ConfigError */
  validate?: (inventory: Inventory, vars: (host: Host) => V & RoleVars) => void;
}

/** Vars every role sees besides its own. */
export interface RoleVars {
  inventory_hostname: string;
  group_names: string[];
  groups: Record<string, string[]>;
  hostvars: Record<string, Record<string, unknown>>;
  facts: Facts;
}

export interface Play {
  name: string;
  hosts: string;
  roles?: Role[];
  tasks?: (vars: Record<string, unknown> & RoleVars) => Task[];
  vars?: Record<string, unknown>;
  /** batch size (number or percentage string like '30%') */
  serial?: number | string;
  /** stop the play when more than this share of a batch failed (default 0: any failure in a batch stops later batches) */
  maxFailPercentage?: number;
  gatherFacts?: boolean;
  /** a play for a group only some inventories have (the co-located cluster's upstreams): no warning when it is absent */
  optional?: boolean;
}

/** Bad input caught before any host is touched: names file, key, value. */
export class ConfigError extends Error {
  constructor(message: string, readonly file?: string, readonly line?: number, readonly col?: number) {
    super(file ? `${file}${line ? `:${line}${col ? `:${col}` : ''}` : ''}: ${message}` : message);
    this.name = 'ConfigError';
  }
}

// ---------------------------------------------------------------- runner events

export type TaskStatus = 'ok' | 'changed' | 'failed' | 'skipped' | 'unreachable';

export interface TaskResult {
  host: string;
  play: string;
  role?: string;
  task: string;
  status: TaskStatus;
  summary?: string;
  diff?: string;
  error?: string;
  durationMs: number;
  handler?: boolean;
  /** failed, but the task had ignoreErrors: counted as ok (Ansible's `ignored`) */
  ignored?: boolean;
}

export type RunEvent =
  | { type: 'play:start'; play: string; hosts: string[] }
  | { type: 'batch:start'; play: string; hosts: string[] }
  | { type: 'host:start'; play: string; host: string }
  | { type: 'task:start'; play: string; host: string; task: string; role?: string }
  | { type: 'task:end'; result: TaskResult }
  | { type: 'host:end'; play: string; host: string; failed: boolean; unreachable: boolean }
  | { type: 'play:end'; play: string }
  /** a serial batch failed beyond maxFailPercentage: `hosts` (the later batches) are not run */
  | { type: 'play:stopped'; play: string; reason: string; hosts: string[] }
  | { type: 'log'; host: string; line: string };

export interface HostStats {
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
  skipped: number;
}
