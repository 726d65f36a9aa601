// A "registry" that accepts TCP connections on loopback and never answers: the slowest registry an
// attacker can name in a key. Work against it only ends by the caller's own timeouts or aborts, so
// it shows how much background work (and memory) a flood of undecided keys can hold.

import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface HungServer {
  /** 127.0.0.1:PORT */
  host: string;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections open now. */
  readonly open: number;
  close(): Promise<void>;
}

export async function startHungServer(): Promise<HungServer> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    // Read and drop whatever the client sends, so its writes never block; never answer.
    socket.resume();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    get open() {
      return sockets.size;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
