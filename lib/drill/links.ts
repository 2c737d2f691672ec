// The drill's SSH connections, one per host, that it can drop and open again (a powered-off VM
// comes back as a new sshd).
import { connect, type ConnectOptions } from '../ssh.ts';
import { ConfigError, UnreachableError, type Conn, type Host, type Inventory } from '../types.ts';
import { sleep } from './sleep.ts';

export class Links {
  private readonly conns = new Map<string, Promise<Conn>>();
  constructor(private readonly inventory: Inventory, private readonly opts: ConnectOptions) {}

  host(name: string): Host {
    const h = this.inventory.hosts.get(name);
    if (!h) throw new ConfigError(`host ${name} is not in ${this.inventory.file}`);
    return h;
  }

  get(name: string): Promise<Conn> {
    let c = this.conns.get(name);
    if (!c) {
      c = connect(this.host(name), this.opts);
      c.catch(() => {});
      this.conns.set(name, c);
    }
    return c;
  }

  /** Forgets a dead connection (its socket is gone with the VM). */
  drop(name: string): void {
    const c = this.conns.get(name);
    this.conns.delete(name);
    c?.then((conn) => conn.close(), () => {}).catch(() => {});
  }

  /** Connects again until it works or the deadline passes (a booting VM refuses or stalls SSH). */
  async reconnect(name: string, timeoutMs: number, signal?: AbortSignal): Promise<Conn> {
    this.drop(name);
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (let attempt = 1; Date.now() < deadline && attempt <= 200; attempt++) {
      try {
        const conn = await connect(this.host(name), { ...this.opts, connectTimeoutMs: Math.min(20_000, Math.max(1000, deadline - Date.now())) });
        this.conns.set(name, Promise.resolve(conn));
        return conn;
      } catch (err) {
        last = err;
        if (signal?.aborted) break;
        await sleep(1500, signal);
      }
    }
    throw new UnreachableError(name, `no SSH within ${Math.round(timeoutMs / 1000)} s after the restore: ${(last as Error)?.message ?? 'aborted'}`);
  }

  async closeAll(): Promise<void> {
    const all = [...this.conns.values()];
    this.conns.clear();
    await Promise.all(all.map((c) => c.then((conn) => conn.close(), () => {})));
  }
}
