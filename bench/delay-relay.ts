// Benchmark helper (not a test): added network latency in front of the bench's sshd hosts.
//
// The issue asked for a network namespace + veth pair + `tc netem delay`; this machine's kernel
// has no netem (`tc qdisc add … netem` → "Specified qdisc kind is unknown", and no module tree to
// load it from), so the delay is made in user space instead: one TCP relay per host on 127.0.0.1,
// in this separate process (its CPU is not the measured client's), holding every chunk for half
// the RTT in each direction and a new connection for one RTT (the TCP handshake).
//   tsx bench/delay-relay.ts RTT_MS PORT...   → prints {"PORT": RELAY_PORT, …} on one line
import net from 'node:net';

const [rttArg, ...ports] = process.argv.slice(2);
const rtt = Number(rttArg);
const oneWay = rtt / 2;

/** Writes each chunk `delay` ms after it arrived, in order. */
function delayedPipe(from: net.Socket, to: net.Socket, delay: number): void {
  const queue: Array<{ at: number; data: Buffer }> = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const now = performance.now();
    while (queue.length && queue[0].at <= now + 0.5) to.write(queue.shift()!.data);
    if (queue.length) timer = setTimeout(flush, Math.max(0, queue[0].at - performance.now()));
  };
  from.on('data', (data: Buffer) => {
    if (delay <= 0) return void to.write(data);
    queue.push({ at: performance.now() + delay, data });
    timer ??= setTimeout(flush, delay);
  });
  from.on('end', () => setTimeout(() => to.end(), delay));
  from.on('error', () => to.destroy());
  from.on('close', () => setTimeout(() => to.destroy(), delay + 1));
}

const map: Record<string, number> = {};
await Promise.all(
  ports.map(
    (port) =>
      new Promise<void>((resolve) => {
        const server = net.createServer((client) => {
          client.setNoDelay(true);
          client.pause();
          setTimeout(() => {
            const upstream = net.connect({ host: '127.0.0.1', port: Number(port) }, () => {
              upstream.setNoDelay(true);
              delayedPipe(client, upstream, oneWay);
              delayedPipe(upstream, client, oneWay);
              client.resume();
            });
            upstream.on('error', () => client.destroy());
          }, rtt);
        });
        server.listen(0, '127.0.0.1', () => {
          map[port] = (server.address() as net.AddressInfo).port;
          resolve();
        });
      }),
  ),
);
process.stdout.write(`${JSON.stringify(map)}\n`);
