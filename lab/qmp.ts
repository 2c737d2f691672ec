// A minimal QMP client (qemu's JSON monitor on a unix socket): one command at a time, events
// ignored except while waiting for a state.
import net from 'node:net';

export class QmpError extends Error {}

export interface Qmp {
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T>;
  close(): void;
}

/** Connects to `socket` and negotiates capabilities; retries while qemu is still creating it. */
export async function qmpConnect(socket: string, timeoutMs = 10_000): Promise<Qmp> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await open(socket);
    } catch (e) {
      if (Date.now() > deadline) throw new QmpError(`QMP ${socket}: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function open(socket: string): Promise<Qmp> {
  return new Promise((resolve, reject) => {
    const conn = net.createConnection(socket);
    let buffer = '';
    let greeted = false;
    const waiting: Array<{ resolve: (v: unknown) => void; reject: (e: Error) => void; command: string }> = [];
    const fail = (e: Error) => {
      for (const w of waiting.splice(0)) w.reject(e);
    };
    conn.on('error', (e) => {
      if (!greeted) reject(e);
      fail(e);
    });
    conn.on('close', () => fail(new QmpError('QMP connection closed')));
    const send = (command: string, args?: Record<string, unknown>) =>
      new Promise<unknown>((res, rej) => {
        waiting.push({ resolve: res, reject: rej, command });
        conn.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
      });
    conn.on('data', (chunk) => {
      buffer += chunk.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line);
        if (msg.QMP) {
          greeted = true;
          send('qmp_capabilities').then(
            () =>
              resolve({
                execute: <T>(command: string, args?: Record<string, unknown>) => send(command, args) as Promise<T>,
                close: () => conn.destroy(),
              }),
            reject,
          );
        } else if ('return' in msg || 'error' in msg) {
          const w = waiting.shift();
          if (!w) continue;
          if (msg.error) w.reject(new QmpError(`${w.command}: ${msg.error.desc}`));
          else w.resolve(msg.return);
        }
      }
    });
  });
}

/** Polls `query-migrate` until the migration completed (throws if it failed). */
export async function waitMigration(qmp: Qmp, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, 'error-desc': error } = await qmp.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
    if (status === 'completed') return;
    if (status === 'failed' || status === 'cancelled') throw new QmpError(`migration ${status}${error ? `: ${error}` : ''}`);
    if (Date.now() > deadline) throw new QmpError(`migration still ${status} after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Polls `query-status` until the VM runs. */
export async function waitRunning(qmp: Qmp, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status } = await qmp.execute<{ status: string }>('query-status');
    if (status === 'running') return;
    if (['internal-error', 'guest-panicked', 'shutdown'].includes(status)) throw new QmpError(`VM is ${status}`);
    if (Date.now() > deadline) throw new QmpError(`VM still ${status} after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
