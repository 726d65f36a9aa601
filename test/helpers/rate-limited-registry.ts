// A rate-limiting front for a registry: a plain-HTTP reverse proxy on loopback that forwards every
// request to a real or fake registry and, when its policy says so, answers 429 Too Many Requests
// (RFC 6585 §4) itself, with or without Retry-After (RFC 9110 §10.2.3), the way registries with
// per-client limits do (Docker Hub, GHCR, Harbor). It counts the requests in flight at the front, so
// tests can prove how many a client sends at once.

import { createServer, request as httpRequest, Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the front answers instead of forwarding, or undefined to forward. */
export type ThrottleAnswer = { status: 429 | 503; retryAfter?: string } | undefined;

export interface ThrottleContext {
  method: string;
  path: string;
  /** Requests in flight at the front, this one included. */
  inFlight: number;
  /** Requests received so far, this one included. */
  seen: number;
}

export type ThrottlePolicy = (request: ThrottleContext) => ThrottleAnswer;

export interface RateLimitedRegistry {
  /** 127.0.0.1:PORT */
  host: string;
  /** Requests received (forwarded or throttled). */
  readonly seen: number;
  /** Requests answered 429 (or 503) by the front. */
  readonly throttled: number;
  /** Requests in flight now, and the most ever at once. */
  readonly inFlight: number;
  readonly maxInFlight: number;
  /** In flight at the arrival of each request, in order (tests look at how it changes). */
  readonly inFlightAtArrival: number[];
  setPolicy(policy: ThrottlePolicy | undefined): void;
  /** Forgets maxInFlight and the arrival history. */
  resetCounts(): void;
  close(): Promise<void>;
}

/** 429 with `retryAfter` for the first `count` requests, then forwards everything. */
export function firstRequests(count: number, retryAfter?: string): ThrottlePolicy {
  return ({ seen }) => (seen <= count ? { status: 429, ...(retryAfter !== undefined ? { retryAfter } : {}) } : undefined);
}

/** 429 whenever more than `limit` requests are in flight, as a per-client concurrency limit does. */
export function concurrencyAbove(limit: number, retryAfter?: string): ThrottlePolicy {
  return ({ inFlight }) => (inFlight > limit ? { status: 429, ...(retryAfter !== undefined ? { retryAfter } : {}) } : undefined);
}

/**
 * A token bucket per front: `perSecond` requests a second on average, bursts of `burst`; beyond it
 * 429 with the whole seconds until the next token as Retry-After. `now` is injectable.
 */
export function tokenBucket(perSecond: number, burst: number, now: () => number = Date.now): ThrottlePolicy {
  let tokens = burst;
  let at = now();
  return () => {
    const t = now();
    tokens = Math.min(burst, tokens + ((t - at) / 1000) * perSecond);
    at = t;
    if (tokens >= 1) {
      tokens -= 1;
      return undefined;
    }
    return { status: 429, retryAfter: String(Math.max(1, Math.ceil((1 - tokens) / perSecond))) };
  };
}

export interface RateLimitedRegistryOptions {
  /** host:port of the registry behind the front (plain HTTP). */
  upstream: string;
  policy?: ThrottlePolicy;
  /** Extra time each forwarded request is held at the front, in ms (lets concurrency build up). */
  delayMs?: number;
}

export async function startRateLimitedRegistry(options: RateLimitedRegistryOptions): Promise<RateLimitedRegistry> {
  let policy = options.policy;
  let seen = 0;
  let throttled = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let arrivals: number[] = [];
  const [upstreamHost, upstreamPort] = splitHost(options.upstream);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const sockets = new Set<Socket>();

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen++;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    arrivals.push(inFlight);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      inFlight--;
    };
    res.on('close', finish);
    const url = new URL(req.url ?? '/', 'http://front');
    const answer = policy?.({ method: req.method ?? 'GET', path: url.pathname, inFlight, seen });
    if (answer !== undefined) {
      throttled++;
      req.resume();
      const body = JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'rate limit exceeded', detail: null }] });
      // Held like a forwarded request, so in-flight counts mean the same for both.
      setTimeout(() => {
        res.writeHead(answer.status, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(answer.retryAfter !== undefined ? { 'retry-after': answer.retryAfter } : {}),
        });
        res.end(body);
      }, options.delayMs ?? 0);
      return;
    }
    const forward = () => {
      const upstream = httpRequest(
        {
          host: upstreamHost,
          port: upstreamPort,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: options.upstream },
          agent,
        },
        (upstreamRes) => {
          res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
          upstreamRes.pipe(res);
        },
      );
      upstream.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      req.pipe(upstream);
    };
    if (options.delayMs) setTimeout(forward, options.delayMs);
    else forward();
  });
  server.keepAliveTimeout = 5_000;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    get seen() {
      return seen;
    },
    get throttled() {
      return throttled;
    },
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    get inFlightAtArrival() {
      return arrivals;
    },
    setPolicy: (next) => {
      policy = next;
    },
    resetCounts: () => {
      maxInFlight = inFlight;
      arrivals = [];
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function splitHost(host: string): [string, number] {
  const at = host.lastIndexOf(':');
  return [host.slice(0, at), Number(host.slice(at + 1))];
}
