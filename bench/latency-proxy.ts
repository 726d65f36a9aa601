// A TCP proxy that delays every chunk by half a round trip in each direction, so benchmarks can
// show what loopback hides: on a real link each sequential registry round trip costs the RTT.
import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface LatencyProxy {
  /** host:port to use instead of the upstream's */
  host: string;
  url: string;
  close(): Promise<void>;
}

/** Forwards to `upstream` (host:port), adding `rttMs / 2` on the way in and on the way out. */
export async function startLatencyProxy(upstream: string, rttMs: number): Promise<LatencyProxy> {
  const [upstreamHost, upstreamPort] = [
    upstream.slice(0, upstream.lastIndexOf(':')),
    Number(upstream.slice(upstream.lastIndexOf(':') + 1)),
  ];
  const sockets = new Set<Socket>();
  const delayed = (from: Socket, to: Socket) => {
    // Order is kept: every chunk waits the same time, and timers of equal delay fire in order.
    from.on('data', (chunk) => setTimeout(() => to.destroyed || to.write(chunk), rttMs / 2));
    from.on('end', () => setTimeout(() => to.end(), rttMs / 2));
    from.on('error', () => to.destroy());
    from.on('close', () => setTimeout(() => to.destroy(), rttMs / 2));
  };
  const server = createServer((client) => {
    client.setNoDelay(true);
    const target = connect({ host: upstreamHost, port: upstreamPort, noDelay: true });
    for (const s of [client, target]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    delayed(client, target);
    delayed(target, client);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    url: `http://${host}`,
    close: () =>
      new Promise<void>((ok) => {
        for (const s of sockets) s.destroy();
        server.close(() => ok());
      }),
  };
}
