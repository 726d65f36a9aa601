// A malicious registry for egress tests: the spec-following fake registry (fake-registry.ts) with
// attacks layered on its intercept hook (redirects to chosen targets, a Bearer realm on any URL, a
// flood of fresh scopes with huge long-lived tokens), plus a "canary": a server that records every
// request it gets, to prove that nothing (above all no Authorization header) reached a host vouch
// must refuse. Everything not attacked follows distribution-spec v1.1.1 and the Docker token spec
// (https://distribution.github.io/distribution/spec/auth/token/).

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFakeRegistry, type FakeRegistry, type FakeRegistryOptions } from './fake-registry.js';

export interface SeenRequest {
  method: string;
  /** Path and query. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface Canary {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT */
  host: string;
  port: number;
  requests: SeenRequest[];
  close(): Promise<void>;
}

/** A plain-HTTP server on 127.0.0.1 that records every request; answers with `respond`, else 200 "canary". */
export async function startCanary(respond?: (req: IncomingMessage, res: ServerResponse) => void): Promise<Canary> {
  const requests: SeenRequest[] = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } });
    if (respond) return respond(req, res);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('canary');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

export interface TokenService extends Canary {
  /** Tokens handed out, for a registry to accept. */
  issued: Set<string>;
}

/** A Docker token service on its own host (GET /token): issues `realm-token-<n>`, records every request. */
export async function startTokenService(options: { expiresIn?: number } = {}): Promise<TokenService> {
  const issued = new Set<string>();
  let n = 0;
  const canary = await startCanary((_req, res) => {
    const token = `realm-token-${++n}`;
    issued.add(token);
    const body = JSON.stringify({ token, access_token: token, expires_in: options.expiresIn ?? 300, issued_at: new Date().toISOString() });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
  return { ...canary, issued };
}

type RedirectStatus = 301 | 302 | 303 | 307 | 308;

export interface HostileRegistry extends FakeRegistry {
  /**
   * GET/HEAD requests whose path matches are answered with a redirect to `to` (307 unless told);
   * with `authenticated`, only requests that carry an Authorization header (others get the spec's
   * 401 challenge first, as a registry redirecting authorised pulls to storage does).
   */
  redirect(match: RegExp, to: string | ((path: string) => string), options?: { status?: RedirectStatus; authenticated?: boolean }): void;
  /** Bearer auth with an attacker-chosen realm; a /v2/ request passes with a token `accept` approves. */
  bearerRealm(realm: string, accept: (token: string) => boolean, service?: string): void;
  /**
   * Token flood: every challenge names a new service, the realm (/hostile-token on this host)
   * issues tokens of `tokenBytes` characters with `expires_in`, and each token passes exactly once,
   * so every fetch costs a fresh token under a fresh cache key.
   */
  rotatingTokens(options: { tokenBytes: number; expiresIn: number }): void;
  flood: { challenges: number; tokensIssued: number };
}

export async function startHostileRegistry(options: FakeRegistryOptions = {}): Promise<HostileRegistry> {
  const registry = await startFakeRegistry(options);
  const redirects: Array<{ match: RegExp; to: string | ((path: string) => string); status: RedirectStatus; authenticated: boolean }> = [];
  let realm: { url: string; service: string; accept: (token: string) => boolean } | undefined;
  let rotating: { tokenBytes: number; expiresIn: number; unused: Set<string> } | undefined;
  const flood = { challenges: 0, tokensIssued: 0 };

  // spec.md "Error Codes" body with the Docker token spec's challenge (scope of the repository asked for).
  const challenge = (res: ServerResponse, path: string, realmUrl: string, service: string) => {
    const name = /^\/v2\/(.+)\/(?:manifests|blobs|referrers|tags)\//.exec(path)?.[1];
    const scope = name === undefined ? '' : `,scope="repository:${name}:pull"`;
    const body = JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: null }] });
    res.writeHead(401, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'www-authenticate': `Bearer realm="${realmUrl}",service="${service}"${scope}`,
      'docker-distribution-api-version': 'registry/2.0',
    });
    res.end(body);
  };

  registry.intercept((req, res) => {
    const raw = req.url ?? '/';
    const path = raw.split('?')[0] ?? '/';
    const bearer = req.headers.authorization?.startsWith('Bearer ') ? req.headers.authorization.slice(7).trim() : undefined;

    if (rotating && path === '/hostile-token') {
      flood.tokensIssued++;
      const prefix = `rot-${flood.tokensIssued}-`;
      const token = prefix + 'x'.repeat(Math.max(0, rotating.tokenBytes - prefix.length));
      rotating.unused.add(token);
      // keep only the newest few: the helper must not be what grows in a memory measurement
      if (rotating.unused.size > 16) rotating.unused.delete(rotating.unused.values().next().value!);
      const body = JSON.stringify({ token, expires_in: rotating.expiresIn });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
      res.end(body);
      return true;
    }
    if (path.startsWith('/v2/')) {
      if (rotating) {
        if (bearer === undefined || !rotating.unused.delete(bearer)) {
          flood.challenges++;
          challenge(res, path, `${registry.url}/hostile-token`, `svc-${flood.challenges}`);
          return true;
        }
      } else if (realm && (bearer === undefined || !realm.accept(bearer))) {
        challenge(res, path, realm.url, realm.service);
        return true;
      }
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      const rule = redirects.find((r) => r.match.test(path) && (!r.authenticated || req.headers.authorization !== undefined));
      if (rule) {
        const location = typeof rule.to === 'string' ? rule.to : rule.to(path);
        res.writeHead(rule.status, { location, 'content-length': '0' });
        res.end();
        return true;
      }
    }
    return false;
  });

  return {
    ...registry,
    flood,
    redirect: (match, to, options = {}) => {
      redirects.push({ match, to, status: options.status ?? 307, authenticated: options.authenticated ?? false });
    },
    bearerRealm: (url, accept, service = 'hostile-registry') => {
      realm = { url, service, accept };
    },
    rotatingTokens: ({ tokenBytes, expiresIn }) => {
      rotating = { tokenBytes, expiresIn, unused: new Set() };
    },
  };
}
