// Connections from a client that never reuses them (Gatekeeper's DefaultSendRequestToProvider builds
// a new http.Transport per call and leaves the connection idle): idle sockets are closed after the
// keep-alive timeout, silent connections after the handshake/headers timeouts, and beyond
// server.maxConnections idle connections make room before a new one is refused and counted. Real
// TLS 1.3 mTLS server on a loopback port.

import test, { type ExecutionContext } from 'ava';
import { Agent, request as httpsRequest } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';
import { connect as tcpConnect, type Socket } from 'node:net';
import { pino } from 'pino';
import { ProviderHttpServer } from '../../../src/server/http.js';
import { ProviderMetrics } from '../../../src/server/metrics.js';
import type { ProviderBackend } from '../../../src/server/provider-protocol.js';
import { createTlsMaterial, type TlsMaterial } from '../../helpers/tls.js';

const silent = pino({ level: 'silent' });

const backend: ProviderBackend = {
  async verify(keys) {
    return keys.map((key) => ({
      key,
      value: { verified: true, environment: 'prod', reference: key, signatures: [], reasons: [], warnings: [] },
    }));
  },
  async mutate(keys) {
    return keys.map((key) => ({ key, value: key }));
  },
};

const BODY = JSON.stringify({ apiVersion: 'externaldata.gatekeeper.sh/v1beta1', kind: 'ProviderRequest', request: { keys: ['good/a'] } });

let material: Promise<TlsMaterial> | undefined;
const tlsMaterial = (): Promise<TlsMaterial> => (material ??= createTlsMaterial());

async function start(t: ExecutionContext, options: { keepAliveTimeoutMs?: number; maxConnections?: number }) {
  const tls = await tlsMaterial();
  const metrics = new ProviderMetrics({ defaultMetrics: false });
  const server = new ProviderHttpServer({
    backend,
    address: '127.0.0.1:0',
    tls: tls.files,
    requestTimeoutMs: 1000,
    maxRequestBytes: 64 * 1024,
    maxKeys: 100,
    logger: silent,
    metrics,
    readiness: () => ({ ready: true }),
    ...options,
  });
  const { port } = await server.listen();
  const agents: Agent[] = [];
  const sockets: Socket[] = [];
  t.teardown(async () => {
    for (const agent of agents) agent.destroy();
    for (const socket of sockets) socket.destroy();
    await server.close();
  });
  /** One POST /v1/verify as Gatekeeper makes it: a new agent (Go: a new Transport) that keeps the connection. */
  const gatekeeperCall = (): Promise<number> => {
    const agent = new Agent({ keepAlive: true, ...tls.clientOptions });
    agents.push(agent);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port, path: '/v1/verify', method: 'POST', agent, headers: { 'content-type': 'application/json' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(BODY);
    });
  };
  /** A TLS connection that completes the handshake and never sends a request. */
  const silentTls = (): Promise<TLSSocket> =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ...tls.clientOptions }, () => resolve(socket));
      sockets.push(socket);
      socket.on('error', reject);
    });
  /** A TCP connection that never starts TLS. */
  const silentTcp = (): Socket => {
    const socket = tcpConnect(port, '127.0.0.1');
    socket.on('error', () => {});
    sockets.push(socket);
    return socket;
  };
  return { server, metrics, port, gatekeeperCall, silentTls, silentTcp, tls };
}

async function until(t: ExecutionContext, what: string, condition: () => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) t.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - started;
}

async function refused(metrics: ProviderMetrics): Promise<number> {
  return (await metrics.connectionsRefused.get()).values[0]?.value ?? 0;
}

test('connections: each idle connection a one-call client leaves is closed after keepAliveTimeoutMs', async (t) => {
  const { server, gatekeeperCall } = await start(t, { keepAliveTimeoutMs: 2000 });
  const statuses = await Promise.all(Array.from({ length: 30 }, () => gatekeeperCall()));
  t.deepEqual(new Set(statuses), new Set([200]));
  t.is(server.connections, 30, 'every call left its connection open');
  const took = await until(t, 'idle connections closed', () => server.connections === 0, 5000);
  t.true(took >= 1000, `closed after ${took} ms, not before the keep-alive timeout`);
  t.log(`30 idle connections closed ${took} ms after the last answer (keepAliveTimeoutMs 2000)`);
  // and the server still answers
  t.is(await gatekeeperCall(), 200);
});

test('connections: silent connections (no TLS handshake, or no request after it) are closed', async (t) => {
  const { server, silentTls, silentTcp } = await start(t, { keepAliveTimeoutMs: 300 });
  for (let i = 0; i < 5; i++) silentTcp();
  await Promise.all(Array.from({ length: 5 }, () => silentTls()));
  await until(t, 'all 10 connections counted', () => server.connections === 10, 2000);
  // handshakeTimeout and headersTimeout (5 s each, checked every second), not Node's 120 s / 60 s
  const took = await until(t, 'silent connections closed', () => server.connections === 0, 9000);
  t.is(server.connections, 0);
  t.log(`10 silent connections closed after ${took} ms`);
});

test('connections: at maxConnections idle connections make room; with none idle a new one is refused and counted', async (t) => {
  const { server, metrics, gatekeeperCall, silentTls, tls, port } = await start(t, { keepAliveTimeoutMs: 60_000, maxConnections: 5 });
  // five calls leave five idle connections: the cap is reached, yet further calls succeed by replacing them
  for (let i = 0; i < 5; i++) t.is(await gatekeeperCall(), 200);
  t.is(server.connections, 5);
  for (let i = 0; i < 10; i++) t.is(await gatekeeperCall(), 200);
  t.true(server.connections <= 5, `${server.connections} open`);
  t.is(await refused(metrics), 0);

  // five connections that are not idle (handshaken, request not sent yet): the next is refused
  const busy = await Promise.all(Array.from({ length: 5 }, () => silentTls()));
  await until(t, 'idle connections replaced', () => server.connections === 5, 2000);
  const outcome = await new Promise<string>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ...tls.clientOptions }, () => resolve('connected'));
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    socket.on('close', () => resolve('closed'));
  });
  t.not(outcome, 'connected', 'refused before the TLS handshake completes');
  t.is(await refused(metrics), 1);
  t.regex((await metrics.registry.metrics()).toString(), /^vouch_connections_refused_total 1$/m);

  // once a connection goes, a normal call works again
  busy[0]!.destroy();
  await until(t, 'a busy connection closed', () => server.connections === 4, 2000);
  t.is(await gatekeeperCall(), 200);
});
