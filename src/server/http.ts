// The Gatekeeper-facing HTTP(S) server (docs/api.md "HTTP endpoints"): POST /v1/verify and /v1/mutate with
// ProviderRequest/ProviderResponse, GET /healthz, /readyz and /metrics. TLS 1.3 only (Gatekeeper's
// client requires it), certificates reloaded when their files change, client certificates required
// when a client CA is configured (mTLS with Gatekeeper's webhook certificate).

import { readFile, stat } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../log.js';
import { ProviderMetrics, countOutcomes } from './metrics.js';
import {
  BadProviderRequest,
  parseProviderRequest,
  providerResponseJson,
  systemErrorResponse,
  toProviderResponse,
  toVerifyResponse,
  type ProviderBackend,
  type ProviderResponse,
} from './provider-protocol.js';

// The server's defaults, also those of the configuration's `server:` section (config takes them
// from here, so the two cannot disagree).

/** Serves the local host only; in a cluster, `0.0.0.0:8443`. */
export const DEFAULT_SERVER_ADDRESS = '127.0.0.1:8443';
/**
 * Budget for one /v1/verify request: below the `vouch` Provider's `spec.timeout` (2 s), with room for
 * the connection Gatekeeper opens per call and a busy event loop (deploy/README.md "Timeouts").
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 1500;
export const MAX_REQUEST_TIMEOUT_MS = 60_000;
/** Gatekeeper never reuses a connection: each of its calls leaves one socket idle this long. */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 5000;
export const DEFAULT_MAX_CONNECTIONS = 1000;
export const DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024;
export const DEFAULT_MAX_KEYS = 1000;

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  clientCAFile?: string;
}

export interface HttpServerOptions {
  backend: ProviderBackend;
  /** host:port; port 0 picks a free port. */
  address: string;
  tls?: TlsFiles;
  /** Budget for one /v1/verify request (server.requestTimeoutMs). */
  requestTimeoutMs: number;
  /** Budget for one /v1/mutate request (server.mutateTimeoutMs); default requestTimeoutMs. */
  mutateTimeoutMs?: number;
  /**
   * How long a connection may stay idle after an answer (server.keepAliveTimeoutMs, default
   * {@link DEFAULT_KEEP_ALIVE_TIMEOUT_MS}). Gatekeeper never reuses a connection, so this is how long
   * each of its calls leaves a socket open here.
   */
  keepAliveTimeoutMs?: number;
  /**
   * Most TCP connections open at once (server.maxConnections, default {@link DEFAULT_MAX_CONNECTIONS}).
   * At the cap, connections idle after an answer are closed first; if none is, the new connection is
   * closed before its TLS handshake, logged and counted (vouch_connections_refused_total).
   */
  maxConnections?: number;
  maxRequestBytes: number;
  maxKeys: number;
  logger: Logger;
  metrics: ProviderMetrics;
  /**
   * Readiness for /readyz: config and trust material loaded (`ready`, HTTP 200 or 503), a one-word
   * `status`, the full `detail` (paths, error text) and `publicDetail`, the only detail the
   * unauthenticated health listener shows (routes 'health').
   */
  readiness: () => { ready: boolean; status?: string; detail?: unknown; publicDetail?: unknown };
  /** How often TLS files are checked for changes (ms). */
  tlsReloadIntervalMs?: number;
  /**
   * 'health': only GET /healthz, /readyz and /metrics (the plain-HTTP `server.healthAddress`
   * listener for probes and scrapers); the provider endpoints answer 404 there. Default 'all'.
   */
  routes?: 'all' | 'health';
}

/**
 * A client has this long to complete the TLS handshake (Node's default is 120 s), and then to send a
 * request's headers. Gatekeeper sends its request right after the handshake and gives up after the
 * Provider's timeout (a few seconds), so a connection still silent after this is of no use to anyone.
 */
const HANDSHAKE_TIMEOUT_MS = 5000;
const HEADERS_TIMEOUT_MS = 5000;
/** The whole request, headers and body; a request of at most maxRequestBytes needs far less. */
const REQUEST_TIMEOUT_MS = 10_000;
/** How often Node checks headersTimeout and requestTimeout (its default is 30 s, too late for them). */
const CONNECTIONS_CHECKING_INTERVAL_MS = 1000;
/** At most one "connection refused" log line per this interval (with the count since the last one). */
const REFUSAL_LOG_INTERVAL_MS = 5000;
/** At most one "TLS handshake failed" log line per this interval (with the count since the last one). */
const TLS_ERROR_LOG_INTERVAL_MS = 5000;

export class ProviderHttpServer {
  readonly #options: HttpServerOptions;
  #server: Server | HttpsServer | undefined;
  /** Every open TCP connection (handshaking, busy or idle), for server.maxConnections. */
  readonly #sockets = new Set<Socket>();
  /** Connections that have answered a request and wait for another: the first to go at the cap. */
  readonly #idle = new Set<Socket>();
  #refusedSinceLog = 0;
  #lastRefusalLog = -Infinity;
  #tlsErrorsSinceLog = 0;
  #lastTlsErrorLog = -Infinity;
  #tlsStamp = '';
  #tlsTimer: NodeJS.Timeout | undefined;
  #inflight = 0;
  #closing = false;

  constructor(options: HttpServerOptions) {
    this.#options = options;
  }

  /** Starts listening; resolves with the bound address (useful with port 0). */
  async listen(): Promise<{ host: string; port: number; url: string }> {
    const { tls, logger } = this.#options;
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.#handle(req, res);
    const timeouts = {
      keepAliveTimeout: this.#options.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
    };
    if (tls) {
      const material = await readTls(tls);
      this.#tlsStamp = await tlsStamp(tls);
      this.#server = createHttpsServer(
        {
          ...material,
          ...timeouts,
          minVersion: 'TLSv1.3',
          requestCert: tls.clientCAFile !== undefined,
          rejectUnauthorized: tls.clientCAFile !== undefined,
          handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
        },
        handler,
      );
      this.#server.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => this.#tlsClientError(error, socket));
      this.#tlsTimer = setInterval(() => void this.#reloadTls(), this.#options.tlsReloadIntervalMs ?? 5000);
      this.#tlsTimer.unref();
    } else {
      if (this.#options.routes !== 'health') logger.warn('serving plain HTTP: development only (Gatekeeper requires HTTPS with TLS 1.3)');
      this.#server = createHttpServer(timeouts, handler);
    }
    // Gatekeeper (frameworks pkg/externaldata/request.go, DefaultSendRequestToProvider) builds a new
    // http.Client and http.Transport for every call, without IdleConnTimeout: it never reuses a
    // connection and never closes the idle one it leaves behind. The server's keep-alive timeout is
    // therefore all that bounds those sockets (about request rate × keepAliveTimeout of them, here and
    // in Gatekeeper): keep it short. Clients that do reuse connections lose nothing but a handshake.
    // (Node closes an idle connection about 1 s after keepAliveTimeout, a grace for clients racing it.)
    this.#server.keepAliveTimeout = timeouts.keepAliveTimeout;
    this.#server.headersTimeout = timeouts.headersTimeout;
    this.#server.requestTimeout = timeouts.requestTimeout;
    this.#server.on('connection', (socket: Socket) => this.#admit(socket));
    const [host, portText] = splitAddress(this.#options.address);
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', reject);
      this.#server!.listen(Number(portText), host, () => {
        this.#server!.off('error', reject);
        resolve();
      });
    });
    const address = this.#server.address() as AddressInfo;
    const url = `${tls ? 'https' : 'http'}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
    if (this.#options.routes === 'health') logger.info({ url }, 'health and metrics listener (plain HTTP) listening');
    else logger.info({ url, tls: tls !== undefined, mtls: tls?.clientCAFile !== undefined }, 'provider HTTP server listening');
    return { host: address.address, port: address.port, url };
  }

  /** Stops accepting connections and waits for in-flight requests to finish. */
  async close(): Promise<void> {
    if (this.#tlsTimer) clearInterval(this.#tlsTimer);
    const server = this.#server;
    if (!server) return;
    // From now on every answer says `Connection: close` (see #handle), so connections busy now are
    // closed once answered; idle keep-alive connections are closed right away, rather than staying
    // until keepAliveTimeout.
    this.#closing = true;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
  }

  get inflight(): number {
    return this.#inflight;
  }

  /** TCP connections open now (handshaking, busy or idle). */
  get connections(): number {
    return this.#sockets.size;
  }

  /**
   * A new TCP connection, before its TLS handshake. At server.maxConnections, connections idle after
   * an answer are closed to make room (Gatekeeper would never use them again); when every open
   * connection is busy, the new one is closed at once: cheaper than a handshake, and the client sees
   * its connection closed (Go: "EOF" or "connection reset by peer"), which the template turns into a
   * denial (fail closed). Logged (at most every few seconds, with the count) and counted.
   */
  #admit(socket: Socket): void {
    const cap = this.#options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    if (this.#sockets.size >= cap) {
      for (const idle of this.#idle) {
        if (this.#sockets.size < cap) break;
        this.#forget(idle);
        idle.destroy();
      }
    }
    if (this.#sockets.size >= cap) {
      socket.destroy();
      this.#options.metrics.connectionsRefused.inc();
      this.#refusedSinceLog++;
      const now = performance.now();
      if (now - this.#lastRefusalLog >= REFUSAL_LOG_INTERVAL_MS) {
        this.#options.logger.warn(
          { refused: this.#refusedSinceLog, open: this.#sockets.size, maxConnections: cap, remote: socket.remoteAddress },
          'connection refused: server.maxConnections reached and no connection is idle',
        );
        this.#lastRefusalLog = now;
        this.#refusedSinceLog = 0;
      }
      return;
    }
    this.#sockets.add(socket);
    socket.once('close', () => this.#forget(socket));
  }

  /**
   * A handshake that failed: a client without a certificate or with one the client CA did not issue
   * (mTLS), an older TLS version, plain HTTP sent to the HTTPS port, or a handshake timeout. Node
   * drops these connections without a request, so without this line a Gatekeeper whose webhook
   * certificate does not match `server.tls.clientCAFile` fails every call and leaves no trace here.
   * Rate-limited like refusals (a scanner or a misconfigured client retries in a loop); the count
   * says how many failed since the last line.
   */
  #tlsClientError(error: Error & { code?: string }, socket: TLSSocket): void {
    this.#tlsErrorsSinceLog++;
    const now = performance.now();
    if (now - this.#lastTlsErrorLog < TLS_ERROR_LOG_INTERVAL_MS) return;
    const tcp = (socket as TLSSocket & { _parent?: Socket | null })._parent ?? socket;
    this.#options.logger.warn(
      {
        remote: socket.remoteAddress ?? tcp.remoteAddress,
        remotePort: socket.remotePort ?? tcp.remotePort,
        reason: error.code ?? error.message,
        err: error.message,
        failed: this.#tlsErrorsSinceLog,
        mtls: this.#options.tls?.clientCAFile !== undefined,
      },
      'TLS handshake failed',
    );
    this.#lastTlsErrorLog = now;
    this.#tlsErrorsSinceLog = 0;
  }

  #forget(socket: Socket): void {
    this.#sockets.delete(socket);
    this.#idle.delete(socket);
  }

  /** The TCP socket under a request (for TLS, the socket the TLSSocket wraps). */
  static #tcp(req: IncomingMessage): Socket {
    const socket = req.socket as Socket & { _parent?: Socket | null };
    return socket._parent ?? socket;
  }

  async #reloadTls(): Promise<void> {
    const tls = this.#options.tls!;
    try {
      const stamp = await tlsStamp(tls);
      if (stamp === this.#tlsStamp) return;
      const material = await readTls(tls);
      (this.#server as HttpsServer).setSecureContext({ ...material, minVersion: 'TLSv1.3' });
      this.#tlsStamp = stamp;
      this.#options.logger.info('TLS certificate reloaded');
    } catch (error) {
      // Keep serving with the previous certificate; a half-written file is retried next tick.
      this.#options.logger.error({ err: (error as Error).message }, 'TLS certificate reload failed; keeping the previous one');
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const route = routeOf(req.url);
    this.#inflight++;
    const tcp = ProviderHttpServer.#tcp(req);
    this.#idle.delete(tcp);
    if (this.#closing) res.setHeader('connection', 'close');
    // A request in flight when closing began leaves its connection idle once answered: close it then.
    res.once('finish', () => {
      if (this.#sockets.has(tcp) && !tcp.destroyed) this.#idle.add(tcp);
      if (this.#closing) setImmediate(() => this.#server?.closeIdleConnections());
    });
    let status = 500;
    try {
      status = await this.#route(route, req, res);
    } catch (error) {
      this.#options.logger.error({ err: (error as Error).stack ?? String(error), route }, 'request failed');
      status = send(res, 500, systemErrorResponse('internal error'));
    } finally {
      this.#inflight--;
      this.#options.metrics.requestDuration.observe({ route, status: String(status) }, (performance.now() - started) / 1000);
    }
  }

  async #route(route: string, req: IncomingMessage, res: ServerResponse): Promise<number> {
    const { metrics, readiness } = this.#options;
    switch (route) {
      case '/healthz':
        return sendJson(res, 200, { status: 'ok' });
      case '/readyz': {
        const state = readiness();
        // The plain-HTTP health listener answers anyone who can reach it: no file paths or error
        // text there (they name the trust material and its layout), only states.
        const detail = this.#options.routes === 'health' ? state.publicDetail : state.detail;
        return sendJson(res, state.ready ? 200 : 503, {
          ready: state.ready,
          ...(state.status !== undefined ? { status: state.status } : {}),
          ...(detail !== undefined ? { detail } : {}),
        });
      }
      case '/metrics': {
        const { contentType, body } = await metrics.render();
        res.writeHead(200, { 'content-type': contentType });
        res.end(body);
        return 200;
      }
      case '/v1/verify':
      case '/v1/mutate':
        if (this.#options.routes === 'health') return sendJson(res, 404, { error: `${route} is not served on the health listener` });
        if (req.method !== 'POST') {
          res.setHeader('allow', 'POST');
          return send(res, 405, systemErrorResponse(`${route} accepts POST only`));
        }
        return this.#provider(route, req, res);
      default:
        return sendJson(res, 404, { error: `no route ${route}` });
    }
  }

  async #provider(route: '/v1/verify' | '/v1/mutate', req: IncomingMessage, res: ServerResponse): Promise<number> {
    const { backend, requestTimeoutMs, maxRequestBytes, maxKeys, logger } = this.#options;
    const started = performance.now();
    // The budget starts when the request arrives, so the answer leaves before Gatekeeper gives up.
    const budget = route === '/v1/mutate' ? (this.#options.mutateTimeoutMs ?? requestTimeoutMs) : requestTimeoutMs;
    const deadline = Date.now() + budget;
    let keys: string[];
    try {
      keys = parseProviderRequest(await readBody(req, maxRequestBytes), maxKeys);
    } catch (error) {
      if (error instanceof BadProviderRequest) {
        logger.info({ route, status: error.status, err: error.message }, 'bad provider request');
        // An unread rest of the body leaves the connection unusable: answer and close it.
        if (error.status === 413) res.setHeader('connection', 'close');
        return send(res, error.status, systemErrorResponse(error.message));
      }
      throw error;
    }
    // vouch_key_outcomes_total is counted by the engine's observer (src/app), once for every route.
    const options = { deadline, caller: route };
    let answer: ProviderResponse;
    let outcomes: Record<string, number>;
    if (route === '/v1/verify') {
      const results = await backend.verify(keys, options);
      [answer, outcomes] = [toVerifyResponse(results), countOutcomes(results)];
    } else {
      const results = await backend.mutate(keys, options);
      [answer, outcomes] = [toProviderResponse(results), countOutcomes(results)];
    }
    logger.info(
      { route, keys: keys.length, durationMs: Math.round((performance.now() - started) * 10) / 10, outcomes },
      'provider request',
    );
    return send(res, 200, answer);
  }
}

function routeOf(url: string | undefined): string {
  const path = (url ?? '/').split('?')[0]!;
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

function send(res: ServerResponse, status: number, body: ProviderResponse): number {
  return sendText(res, status, providerResponseJson(body));
}

function sendJson(res: ServerResponse, status: number, body: unknown): number {
  return sendText(res, status, JSON.stringify(body));
}

function sendText(res: ServerResponse, status: number, text: string): number {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
  return status;
}

/** Reads a body up to `limit` bytes; beyond that a 413 without reading the rest. */
async function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw new BadProviderRequest(413, `request body of ${declared} bytes is over the limit of ${limit}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      req.resume();
      throw new BadProviderRequest(413, `request body is over the limit of ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}

async function readTls(tls: TlsFiles): Promise<{ cert: Buffer; key: Buffer; ca?: Buffer }> {
  const [cert, key, ca] = await Promise.all([
    readFile(tls.certFile),
    readFile(tls.keyFile),
    tls.clientCAFile ? readFile(tls.clientCAFile) : undefined,
  ]);
  return { cert, key, ...(ca ? { ca } : {}) };
}

async function tlsStamp(tls: TlsFiles): Promise<string> {
  const files = [tls.certFile, tls.keyFile, ...(tls.clientCAFile ? [tls.clientCAFile] : [])];
  const stats = await Promise.all(files.map((f) => stat(f)));
  return stats.map((s) => `${s.ino}:${s.size}:${s.mtimeMs}`).join('|');
}

function splitAddress(address: string): [string, string] {
  const colon = address.lastIndexOf(':');
  if (colon === -1) return [address, '0'];
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '');
  return [host, address.slice(colon + 1)];
}
