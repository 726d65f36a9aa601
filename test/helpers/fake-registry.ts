// In-process OCI registry with fault injection, following distribution-spec v1.1.1
// (https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md) plus Docker token auth
// (https://distribution.github.io/distribution/spec/auth/token/). Self-contained on purpose: it shares no
// constants with src/, so a wrong media type in the client is not mirrored by the fake.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface FakeRegistryOptions {
  /** Referrers endpoint behaviour; 404/405/501 emulate a registry (or proxy) without the API. Default 'api'. */
  referrers?: 'api' | 'api-unfiltered' | 404 | 405 | 501 | 'wrong-content-type';
  /** Descriptors per referrers page; further pages are announced with `Link: <relative url>; rel="next"`. */
  referrersPageSize?: number;
  /** The Link of every referrers page points back to the first page. */
  referrersLinkLoop?: boolean;
  auth?:
    | { kind: 'basic'; username: string; password: string }
    | { kind: 'bearer'; username?: string; password?: string; tokenTtlSeconds?: number; anonymous?: boolean }
    | { kind: 'challenge-less-401' };
  /** Serve HTTPS with this certificate (PEM) instead of plain HTTP; fixed at start. */
  tls?: { cert: string; key: string };
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface RecordedTokenRequest {
  scope: string[];
  service: string;
  authorization?: string;
}

export type Interceptor = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

export interface FakeRegistry {
  /** http://127.0.0.1:PORT (https:// with the tls option) */
  url: string;
  /** 127.0.0.1:PORT */
  host: string;
  requests: RecordedRequest[];
  tokenRequests: RecordedTokenRequest[];
  /** Stores a blob without any checks and returns its sha256 digest. */
  putBlob(repo: string, bytes: Uint8Array): string;
  /**
   * Stores manifest bytes as given (no blob checks, so dangling references can be staged) and returns the
   * digest. The media type defaults to the body's `mediaType`; a subject makes it show up in the referrers API.
   */
  putManifest(repo: string, bytes: Uint8Array, opts?: { tag?: string; mediaType?: string }): string;
  /** Fault hook, called for every request after it is recorded; return true if it sent the response. */
  intercept(fn: Interceptor | undefined): void;
  setOptions(opts: Partial<FakeRegistryOptions>): void;
  close(): Promise<void>;
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const IMAGE_TYPES = new Set([OCI_MANIFEST, 'application/vnd.docker.distribution.manifest.v2+json']);
const INDEX_TYPES = new Set([OCI_INDEX, 'application/vnd.docker.distribution.manifest.list.v2+json']);
// spec.md "Pulling manifests": <name> and <reference> grammar.
const NAME_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST_RE = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
const MAX_MANIFEST_BYTES = 4 << 20; // distribution's maxManifestBodySize
const MAX_BODY_BYTES = 64 << 20;
const SERVICE = 'fake-registry';

type Json = Record<string, unknown>;
interface StoredManifest {
  bytes: Uint8Array;
  mediaType: string;
  json: Json | undefined;
}
interface Repo {
  blobs: Map<string, Uint8Array>;
  manifests: Map<string, StoredManifest>;
  tags: Map<string, string>;
}
interface Upload {
  name: string;
  chunks: Buffer[];
}
type RouteKind = 'manifests' | 'blobs' | 'uploads' | 'referrers';

// Checked in order: "blobs/uploads/" must win over "blobs/<digest>". <name> may contain slashes.
const ROUTES: Array<[RouteKind, RegExp]> = [
  ['uploads', /^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/],
  ['blobs', /^\/v2\/(.+)\/blobs\/([^/]+)$/],
  ['manifests', /^\/v2\/(.+)\/manifests\/([^/]+)$/],
  ['referrers', /^\/v2\/(.+)\/referrers\/([^/]+)$/],
];

const obj = (v: unknown): Json | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function parseJson(bytes: Uint8Array): Json | undefined {
  try {
    return obj(JSON.parse(Buffer.from(bytes).toString('utf8')));
  } catch {
    return undefined;
  }
}

function digestOf(bytes: Uint8Array, alg: 'sha256' | 'sha512' = 'sha256'): string {
  return `${alg}:${createHash(alg).update(bytes).digest('hex')}`;
}

/** Media types listed in Accept, parameters (q=…) dropped, the way distribution 2.8 parses them. */
function acceptList(header: string | undefined): string[] | undefined {
  return header
    ?.split(',')
    .map((s) => (s.split(';')[0] ?? '').trim())
    .filter(Boolean);
}

function basicCreds(header: string | undefined): [string, string] | undefined {
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : [decoded.slice(0, colon), decoded.slice(colon + 1)];
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string | Uint8Array = '') {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { ...headers, 'Content-Length': String(bytes.length) });
  res.end(res.req.method === 'HEAD' ? undefined : bytes);
}

// spec.md "Error Codes": {"errors":[{"code","message","detail"}]}.
function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}) {
  const body = JSON.stringify({ errors: [{ code, message, detail: null }] });
  send(res, status, { 'Content-Type': 'application/json', ...headers }, body);
}

// What gorilla mux answers for an unknown route (distribution 2.8 on /referrers/), or a proxy's 405/501.
function sendPlain(res: ServerResponse, status: 404 | 405 | 501) {
  const text = { 404: '404 page not found\n', 405: '405 method not allowed\n', 501: '501 not implemented\n' }[status];
  send(res, status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' }, text);
}

/** Starts the fake on 127.0.0.1, port 0. */
export async function startFakeRegistry(initial: FakeRegistryOptions = {}): Promise<FakeRegistry> {
  let opts: FakeRegistryOptions = { ...initial };
  let interceptor: Interceptor | undefined;
  const repos = new Map<string, Repo>();
  const uploads = new Map<string, Upload>();
  const tokens = new Map<string, { scopes: Set<string>; expiresAt: number }>();
  const requests: RecordedRequest[] = [];
  const tokenRequests: RecordedTokenRequest[] = [];
  let url = '';

  const repoOf = (name: string): Repo => {
    let repo = repos.get(name);
    if (!repo) repos.set(name, (repo = { blobs: new Map(), manifests: new Map(), tags: new Map() }));
    return repo;
  };

  const storeManifest = (name: string, bytes: Uint8Array, mediaType: string, tag?: string): string => {
    const digest = digestOf(bytes);
    const repo = repoOf(name);
    repo.manifests.set(digest, { bytes: Uint8Array.from(bytes), mediaType, json: parseJson(bytes) });
    if (tag !== undefined) repo.tags.set(tag, digest);
    return digest;
  };

  // Docker token auth: the challenge sent on a 401 for a bearer registry.
  const bearerChallenge = (scope: string | undefined, error: string | undefined): string =>
    `Bearer realm="${url}/token",service="${SERVICE}"` + (scope ? `,scope="${scope}"` : '') + (error ? `,error="${error}"` : '');

  /** Returns true if the request may proceed; otherwise it has already answered 401. */
  const authorize = (req: IncomingMessage, res: ServerResponse, name: string | undefined): boolean => {
    const auth = opts.auth;
    if (!auth) return true;
    const header = req.headers.authorization;
    if (auth.kind === 'challenge-less-401') {
      sendError(res, 401, 'UNAUTHORIZED', 'authentication required');
      return false;
    }
    if (auth.kind === 'basic') {
      const creds = basicCreds(header);
      if (creds?.[0] === auth.username && creds[1] === auth.password) return true;
      sendError(res, 401, 'UNAUTHORIZED', 'authentication required', { 'WWW-Authenticate': 'Basic realm="fake"' });
      return false;
    }
    const actions = req.method === 'GET' || req.method === 'HEAD' ? ['pull'] : ['pull', 'push'];
    const scope = name === undefined ? undefined : `repository:${name}:${actions.join(',')}`;
    const token = header?.startsWith('Bearer ') ? tokens.get(header.slice(7).trim()) : undefined;
    let error: string | undefined;
    if (!token || token.expiresAt <= Date.now()) {
      error = header?.startsWith('Bearer ') ? 'invalid_token' : undefined;
    } else if (name === undefined || actions.every((a) => token.scopes.has(`${name}:${a}`))) {
      return true;
    } else {
      error = 'insufficient_scope';
    }
    const message = error === 'insufficient_scope' ? 'insufficient scope' : 'authentication required';
    sendError(res, 401, 'UNAUTHORIZED', message, { 'WWW-Authenticate': bearerChallenge(scope, error) });
    return false;
  };

  // GET /token?service=…&scope=…: the token endpoint of Docker token auth.
  const issueToken = (req: IncomingMessage, res: ServerResponse, params: URLSearchParams) => {
    const auth = opts.auth;
    if (req.method !== 'GET' || auth?.kind !== 'bearer') return sendPlain(res, 404);
    const scope = params
      .getAll('scope')
      .flatMap((s) => s.split(' '))
      .filter(Boolean);
    const service = params.get('service') ?? '';
    const authorization = req.headers.authorization;
    tokenRequests.push({ scope, service, authorization });
    if (service !== SERVICE) return sendError(res, 400, 'UNSUPPORTED', `unknown service "${service}"`);
    let allowed = ['pull', 'push'];
    if (auth.username !== undefined) {
      const creds = basicCreds(authorization);
      if (creds && (creds[0] !== auth.username || creds[1] !== auth.password)) {
        return sendError(res, 401, 'UNAUTHORIZED', 'bad credentials');
      }
      if (!creds && !auth.anonymous) return sendError(res, 401, 'UNAUTHORIZED', 'credentials required');
      if (!creds) allowed = ['pull']; // anonymous tokens are pull-only, as on Docker Hub
    }
    const granted = new Set<string>();
    for (const s of scope) {
      // repository:<name>:<actions>; <name> has no colons.
      const [type, name, actions] = s.split(':');
      if (type !== 'repository' || !name || !actions) continue;
      for (const a of actions.split(',')) if (allowed.includes(a)) granted.add(`${name}:${a}`);
    }
    const ttl = auth.tokenTtlSeconds ?? 60;
    const token = randomBytes(24).toString('base64url');
    tokens.set(token, { scopes: granted, expiresAt: Date.now() + ttl * 1000 });
    const body = { token, expires_in: ttl, issued_at: new Date().toISOString() };
    send(res, 200, { 'Content-Type': 'application/json' }, JSON.stringify(body));
  };

  // spec.md "Pulling manifests": GET/HEAD /v2/<name>/manifests/<reference>, with Accept negotiation as in
  // distribution 2.8 (a stored type missing from Accept is answered 404 MANIFEST_UNKNOWN).
  const getManifest = (req: IncomingMessage, res: ServerResponse, name: string, ref: string) => {
    const repo = repos.get(name);
    if (!repo) return sendError(res, 404, 'NAME_UNKNOWN', `repository ${name} not known to registry`);
    const digest = DIGEST_RE.test(ref) ? ref : repo.tags.get(ref);
    const manifest = digest === undefined ? undefined : repo.manifests.get(digest);
    if (!manifest) return sendError(res, 404, 'MANIFEST_UNKNOWN', `manifest unknown: ${ref}`);
    const accept = acceptList(req.headers.accept);
    if (accept && accept.length > 0 && !accept.includes('*/*') && !accept.includes(manifest.mediaType)) {
      const msg = `${manifest.mediaType} found, but accept header does not support it`;
      return sendError(res, 404, 'MANIFEST_UNKNOWN', msg);
    }
    const headers = { 'Content-Type': manifest.mediaType, 'Docker-Content-Digest': digestOf(manifest.bytes) };
    send(res, 200, headers, manifest.bytes);
  };

  // spec.md "Pushing manifests": PUT /v2/<name>/manifests/<reference>; "Pushing Manifests with Subject".
  const putManifestHttp = async (req: IncomingMessage, res: ServerResponse, name: string, ref: string) => {
    const body = await readBody(req, MAX_MANIFEST_BYTES);
    if (!body) return sendError(res, 413, 'SIZE_INVALID', 'manifest too large', { Connection: 'close' });
    const json = parseJson(body);
    if (!json) return sendError(res, 400, 'MANIFEST_INVALID', 'manifest is not a JSON object');
    const contentType = acceptList(req.headers['content-type'])?.[0];
    const mediaType = contentType ?? str(json.mediaType);
    if (!mediaType) return sendError(res, 400, 'MANIFEST_INVALID', 'no media type');
    if (json.mediaType !== undefined && json.mediaType !== mediaType) {
      return sendError(res, 400, 'MANIFEST_INVALID', `Content-Type ${mediaType} differs from body mediaType`);
    }
    const digest = digestOf(body);
    if (ref.includes(':') && ref !== digest) return sendError(res, 400, 'DIGEST_INVALID', `body digest is ${digest}`);
    // distribution's verifyManifest: config and layers must exist as blobs, index entries as manifests.
    const repo = repos.get(name);
    const isIndex = INDEX_TYPES.has(mediaType);
    const refs = isIndex ? arr(json.manifests) : IMAGE_TYPES.has(mediaType) ? [json.config, ...arr(json.layers)] : [];
    for (const d of refs) {
      const dgst = str(obj(d)?.digest) ?? '';
      const found = isIndex ? repo?.manifests.has(dgst) : repo?.blobs.has(dgst) || repo?.manifests.has(dgst);
      if (!found) return sendError(res, 400, 'MANIFEST_BLOB_UNKNOWN', `blob unknown to registry: ${dgst}`);
    }
    storeManifest(name, body, mediaType, ref.includes(':') ? undefined : ref);
    const headers: Record<string, string> = { Location: `/v2/${name}/manifests/${digest}`, 'Docker-Content-Digest': digest };
    const subject = str(obj(json.subject)?.digest);
    const mode = opts.referrers ?? 'api';
    if (subject !== undefined && (mode === 'api' || mode === 'api-unfiltered')) {
      headers['OCI-Subject'] = subject;
    }
    send(res, 201, headers);
  };

  // spec.md "Pulling blobs": GET/HEAD /v2/<name>/blobs/<digest>.
  const getBlob = (res: ServerResponse, name: string, digest: string) => {
    const repo = repos.get(name);
    if (!repo) return sendError(res, 404, 'NAME_UNKNOWN', `repository ${name} not known to registry`);
    const blob = repo.blobs.get(digest);
    if (!blob) return sendError(res, 404, 'BLOB_UNKNOWN', `blob unknown to registry: ${digest}`);
    send(res, 200, { 'Content-Type': 'application/octet-stream', 'Docker-Content-Digest': digest }, blob);
  };

  /** Verifies the client-supplied digest against the bytes and stores the blob; answers 201 or 400. */
  const finishBlob = (res: ServerResponse, name: string, digest: string | null, bytes: Uint8Array) => {
    if (digest === null || !DIGEST_RE.test(digest)) {
      return sendError(res, 400, 'DIGEST_INVALID', 'missing or malformed digest');
    }
    const actual = digestOf(bytes, digest.startsWith('sha512:') ? 'sha512' : 'sha256');
    if (actual !== digest) return sendError(res, 400, 'DIGEST_INVALID', `digest did not match content (${actual})`);
    repoOf(name).blobs.set(digest, Uint8Array.from(bytes));
    send(res, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
  };

  // spec.md "Pushing blobs": POST (monolithic with ?digest=, cross-mount with ?mount=&from=, or open a session),
  // PATCH (chunk), PUT ?digest= (close), GET (status).
  const uploadsRoute = async (req: IncomingMessage, res: ServerResponse, name: string, id: string, params: URLSearchParams) => {
    const body = await readBody(req, MAX_BODY_BYTES);
    if (!body) return sendError(res, 413, 'SIZE_INVALID', 'blob too large', { Connection: 'close' });
    if (req.method === 'POST' && id === '') {
      if (params.has('digest')) return finishBlob(res, name, params.get('digest'), body);
      const mount = params.get('mount');
      const fromBlob = mount === null ? undefined : repos.get(params.get('from') ?? '')?.blobs.get(mount);
      if (mount !== null && fromBlob) {
        repoOf(name).blobs.set(mount, fromBlob);
        return send(res, 201, { Location: `/v2/${name}/blobs/${mount}`, 'Docker-Content-Digest': mount });
      }
      const uuid = randomUUID();
      uploads.set(uuid, { name, chunks: [] });
      // A query in Location (as distribution's _state) catches clients that append "?digest=" blindly.
      const location = `/v2/${name}/blobs/uploads/${uuid}?_state=${uuid}`;
      return send(res, 202, { Location: location, 'Docker-Upload-UUID': uuid, Range: '0-0' });
    }
    if (!['PATCH', 'PUT', 'GET'].includes(req.method ?? '')) return sendError(res, 405, 'UNSUPPORTED', 'method not allowed');
    const upload = uploads.get(id);
    if (!upload || upload.name !== name) return sendError(res, 404, 'BLOB_UPLOAD_UNKNOWN', 'blob upload unknown');
    upload.chunks.push(body);
    const size = upload.chunks.reduce((n, c) => n + c.length, 0);
    const location = `/v2/${name}/blobs/uploads/${id}?_state=${id}`;
    const status = { Location: location, 'Docker-Upload-UUID': id, Range: `0-${Math.max(size - 1, 0)}` };
    if (req.method === 'PATCH') return send(res, 202, status);
    if (req.method === 'GET') return send(res, 204, status);
    uploads.delete(id);
    finishBlob(res, name, params.get('digest'), Buffer.concat(upload.chunks));
  };

  // spec.md "Listing Referrers": GET /v2/<name>/referrers/<digest>[?artifactType=].
  const referrers = (res: ServerResponse, name: string, digest: string, params: URLSearchParams) => {
    if (!DIGEST_RE.test(digest)) return sendError(res, 400, 'DIGEST_INVALID', `invalid digest ${digest}`);
    const repo = repos.get(name);
    if (!repo) return sendError(res, 404, 'NAME_UNKNOWN', `repository ${name} not known to registry`);
    const mode = opts.referrers ?? 'api';
    const filter = params.get('artifactType');
    const filtered = mode === 'api' && filter !== null;
    let descriptors: Json[] = [];
    for (const [d, m] of repo.manifests) {
      if (str(obj(m.json?.subject)?.digest) !== digest) continue;
      // artifactType: the manifest's, else config.mediaType (never for an index); annotations copied.
      const artifactType = str(m.json?.artifactType) ?? (INDEX_TYPES.has(m.mediaType) ? undefined : str(obj(m.json?.config)?.mediaType));
      const annotations = obj(m.json?.annotations);
      descriptors.push({ mediaType: m.mediaType, digest: d, size: m.bytes.length, artifactType, annotations });
    }
    if (filtered) descriptors = descriptors.filter((d) => d.artifactType === filter);
    const headers: Record<string, string> = { 'Content-Type': mode === 'wrong-content-type' ? 'application/json' : OCI_INDEX };
    if (filtered) headers['OCI-Filters-Applied'] = 'artifactType';
    // Pagination: every page is a complete index; Link (RFC 8288) is relative and opaque to the client.
    const pageSize = opts.referrersPageSize ?? 0;
    const page = Math.max(0, Number.parseInt(params.get('page') ?? '0', 10) || 0);
    let next: number | undefined = opts.referrersLinkLoop ? 0 : undefined;
    if (pageSize > 0) {
      if (!opts.referrersLinkLoop && (page + 1) * pageSize < descriptors.length) next = page + 1;
      descriptors = descriptors.slice(page * pageSize, (page + 1) * pageSize);
    }
    if (next !== undefined) {
      const q = new URLSearchParams(params);
      q.delete('page');
      if (next > 0) q.set('page', String(next));
      const qs = q.toString();
      headers.Link = `</v2/${name}/referrers/${digest}${qs ? `?${qs}` : ''}>; rel="next"`;
    }
    send(res, 200, headers, JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: descriptors }));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const rawPath = q < 0 ? raw : raw.slice(0, q);
    const query = q < 0 ? '' : raw.slice(q + 1);
    requests.push({ method: req.method ?? '', path: rawPath, query, headers: { ...req.headers } });
    if (interceptor && (await interceptor(req, res))) return;

    let path: string;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      return sendError(res, 400, 'UNSUPPORTED', 'malformed URL escape');
    }
    const params = new URLSearchParams(query);
    if (path === '/token') return issueToken(req, res, params);

    // spec.md "Determining support": GET /v2/.
    if (path === '/v2/' || path === '/v2') {
      if (!authorize(req, res, undefined)) return;
      return send(res, 200, { 'Content-Type': 'application/json', 'Docker-Distribution-Api-Version': 'registry/2.0' }, '{}');
    }
    let kind: RouteKind | undefined;
    let name = '';
    let ref = '';
    for (const [k, re] of ROUTES) {
      const m = re.exec(path);
      if (!m) continue;
      if (NAME_RE.test(m[1] ?? '')) [kind, name, ref] = [k, m[1] ?? '', m[2] ?? ''];
      break;
    }
    // No route, or no referrers route in this mode: the router answers before any auth, like distribution 2.8.
    if (kind === undefined) return sendPlain(res, 404);
    const mode = opts.referrers ?? 'api';
    if (kind === 'referrers' && typeof mode === 'number') return sendPlain(res, mode);
    if (!authorize(req, res, name)) return;
    res.setHeader('Docker-Distribution-Api-Version', 'registry/2.0');

    const method = req.method ?? '';
    const read = method === 'GET' || method === 'HEAD';
    if (kind === 'uploads') return uploadsRoute(req, res, name, ref, params);
    const refOk = kind === 'manifests' ? TAG_RE.test(ref) || DIGEST_RE.test(ref) : DIGEST_RE.test(ref);
    if (!refOk) {
      return sendError(res, 400, kind === 'manifests' ? 'TAG_INVALID' : 'DIGEST_INVALID', `invalid reference ${ref}`);
    }
    if (kind === 'manifests' && read) return getManifest(req, res, name, ref);
    if (kind === 'manifests' && method === 'PUT') return putManifestHttp(req, res, name, ref);
    if (kind === 'blobs' && read) return getBlob(res, name, ref);
    if (kind === 'referrers' && read) return referrers(res, name, ref, params);
    sendError(res, 405, 'UNSUPPORTED', `${method} not supported on ${kind}`);
  };

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      // Never crash the test process: report a 500 if we still can, otherwise drop the connection.
      if (res.headersSent) res.destroy();
      else sendError(res, 500, 'UNKNOWN', err instanceof Error ? err.message : String(err));
    });
  };
  // Go's net/http (distribution, zot) accepts 1 MiB of headers; Node's default of 16 KiB would turn a
  // large bearer token into a 400 before the registry ever sees it.
  const serverOptions = { maxHeaderSize: 1024 * 1024 };
  const server = initial.tls
    ? createHttpsServer({ ...serverOptions, cert: initial.tls.cert, key: initial.tls.key }, listener)
    : createServer(serverOptions, listener);
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = `127.0.0.1:${port}`;
  url = `${initial.tls ? 'https' : 'http'}://${host}`;

  return {
    url,
    host,
    requests,
    tokenRequests,
    putBlob: (repo, bytes) => {
      const digest = digestOf(bytes);
      repoOf(repo).blobs.set(digest, Uint8Array.from(bytes));
      return digest;
    },
    putManifest: (repo, bytes, o) => {
      const mediaType = o?.mediaType ?? str(parseJson(bytes)?.mediaType);
      if (mediaType === undefined) throw new Error('putManifest: no mediaType in the body or the options');
      return storeManifest(repo, bytes, mediaType, o?.tag);
    },
    intercept: (fn) => {
      interceptor = fn;
    },
    setOptions: (o) => {
      opts = { ...opts, ...o };
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
