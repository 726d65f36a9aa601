// Starts real registries for integration tests on free loopback ports with temporary storage, and stops them again:
// olareg (OCI distribution-spec v1.1 with the Referrers API, via .tools/bin/olareg-serve) and CNCF distribution 2.8.2
// (Debian's `docker-registry`: no Referrers API, so clients take the tag-schema fallback), the latter optionally behind
// htpasswd or Docker token auth (https://distribution.github.io/distribution/spec/auth/token/) served by an in-process
// token server. Missing binaries are an error, never a silent skip: `bash scripts/tools.sh` installs them.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID, sign as cryptoSign, createPrivateKey, webcrypto, type KeyObject } from 'node:crypto';
import { accessSync, constants as fsConstants, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { stringify as toYaml } from 'yaml';

/** Repository root (this file is test/helpers/registries.ts). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Tools that scripts/tools.sh installs; all but docker-registry live in .tools/bin. */
export type ToolName =
  | 'olareg-serve'
  | 'notation'
  | 'oras'
  | 'opa'
  | 'regal'
  | 'cosign'
  | 'gator'
  | 'kustomize'
  | 'gatekeeper-harness'
  | 'docker-registry'
  | 'helm'
  | 'promtool'
  | 'notation-vouch-test';

export interface TokenRequestRecord {
  /** Every `scope` value of the request, split on spaces, in order. */
  scope: string[];
  service: string;
  /** Whether the request carried credentials (Basic header or password grant), valid or not. */
  authenticated: boolean;
  /** HTTP status the token server answered with (200 when a token was issued). */
  status: number;
}

export interface RunningRegistry {
  /** "127.0.0.1:PORT" */
  host: string;
  /** "http://127.0.0.1:PORT" */
  url: string;
  kind: 'olareg' | 'distribution';
  /** Present when the registry uses token auth: the token endpoint and every request made to it. */
  tokenServer?: { url: string; requests: TokenRequestRecord[] };
  /** Stops the process (SIGTERM, then SIGKILL after a grace period) and deletes its storage. Idempotent. */
  stop(): Promise<void>;
}

export interface ReferrersRegistryOptions {
  /** Max bytes of one referrers response page (olareg API.Referrer.Limit); small values force Link pagination. */
  referrersPageBytes?: number;
}

export type DistributionAuth =
  | { kind: 'htpasswd'; username: string; password: string }
  | {
      kind: 'token';
      username: string;
      password: string;
      /**
       * Lifetime of issued tokens (default 300). distribution accepts tokens up to 60 s past `exp` (clock-skew
       * leeway), so a short TTL makes clients refresh but does not make the registry reject a stale token at once.
       */
      tokenTtlSeconds?: number;
      /** Actions the user may be granted (default pull, push, delete, *); requested actions outside it are dropped. */
      allowedActions?: string[];
    };

export interface DistributionRegistryOptions {
  auth?: DistributionAuth;
}

const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;
const START_ATTEMPTS = 5;
const OUTPUT_TAIL_BYTES = 16 * 1024;
/** Response header distribution adds (http.headers) so the readiness probe knows it reached *this* process. */
const INSTANCE_HEADER = 'x-vouch-test-instance';
/** `service` of the token-auth distribution registry (the `aud` of its tokens). */
export const TOKEN_SERVICE = 'vouch-test-registry';
/** `iss` of the tokens the test token server issues. */
export const TOKEN_ISSUER = 'vouch-test-token-issuer';

/**
 * Path of an installed tool. Throws (never skips) when it is missing, naming the tool and the install command, so a
 * machine without the tools fails loudly instead of passing with fewer tests.
 */
export function toolPath(name: ToolName): string {
  if (name === 'docker-registry') {
    for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
      if (dir === '') continue;
      const candidate = join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
    throw new Error(
      `required tool "docker-registry" (CNCF distribution 2.8.2, Debian package docker-registry) is not on PATH; ` +
        '`bash scripts/tools.sh` installs it (as root: apt-get install -y docker-registry)',
    );
  }
  const path = join(REPO_ROOT, '.tools', 'bin', name);
  if (!isExecutable(path)) {
    throw new Error(`required tool "${name}" is missing at ${path}; \`bash scripts/tools.sh ${name}\` installs it`);
  }
  return path;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A port that was free a moment ago (listen on 0, read it, close). Callers must cope with losing a race for it. */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((ok) => server.close(() => ok()));
  return port;
}

// ---------------------------------------------------------------------------------------------------------------
// Child-process bookkeeping: every registry process is killed when the test process exits or is signalled.

const liveChildren = new Set<ChildProcess>();
const liveTempDirs = new Set<string>();
let cleanupInstalled = false;

function killAllNow(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  liveChildren.clear();
  for (const dir of liveTempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort at exit
    }
  }
  liveTempDirs.clear();
}

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAllNow();
      // Keep the default outcome (terminate) unless someone else handles this signal.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

interface SpawnedProcess {
  child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  hasExited(): boolean;
  output(): string;
}

let setprivPath: string | null | undefined;

/**
 * util-linux `setpriv --pdeathsig SIGKILL` makes the kernel kill the registry if the test process dies without running
 * its exit handlers (SIGKILL, crash). Used when available; otherwise only the exit/signal handlers protect us.
 */
function pdeathsigWrapper(): string | null {
  if (setprivPath === undefined) {
    setprivPath = null;
    for (const dir of ['/usr/bin', '/bin', ...(process.env['PATH'] ?? '').split(delimiter)]) {
      if (dir !== '' && process.platform === 'linux' && isExecutable(join(dir, 'setpriv'))) {
        setprivPath = join(dir, 'setpriv');
        break;
      }
    }
  }
  return setprivPath;
}

function spawnTracked(command: string, args: string[], cwd: string): SpawnedProcess {
  installCleanup();
  // A minimal environment: registries read REGISTRY_* variables as config overrides, so none leak in from outside.
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: cwd, TMPDIR: cwd };
  const setpriv = pdeathsigWrapper();
  const [file, argv] = setpriv ? [setpriv, ['--pdeathsig', 'SIGKILL', '--', command, ...args]] : [command, args];
  const child = spawn(file, argv, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  liveChildren.add(child);
  let out = '';
  const append = (chunk: Buffer): void => {
    out += chunk.toString('utf8');
    if (out.length > OUTPUT_TAIL_BYTES * 2) out = out.slice(-OUTPUT_TAIL_BYTES);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let done = false;
  const exited = new Promise<number | string>((ok) => {
    child.once('exit', (code, signal) => {
      done = true;
      liveChildren.delete(child);
      ok(code ?? signal ?? 'unknown');
    });
    child.once('error', (err) => {
      done = true;
      liveChildren.delete(child);
      append(Buffer.from(`spawn ${command} failed: ${err.message}\n`));
      ok('spawn-error');
    });
  });
  // Registries must not keep a finished test process alive (a forgotten stop()); the exit handler kills them.
  child.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
  return { child, exited, hasExited: () => done, output: () => out.slice(-OUTPUT_TAIL_BYTES) };
}

async function stopProcess(proc: SpawnedProcess): Promise<void> {
  if (proc.hasExited()) return;
  proc.child.kill('SIGTERM');
  const timedOut = await Promise.race([proc.exited.then(() => false), sleep(STOP_GRACE_MS).then(() => true)]);
  if (timedOut && !proc.hasExited()) {
    proc.child.kill('SIGKILL');
    await proc.exited;
  }
}

/** Decides whether a 200/401 answer on /v2/ came from the process just started (given its output so far). */
type ReadyCheck = (res: Response, output: string) => boolean;

/** Polls GET /v2/ until `isOurs` accepts a 200/401 answer, the process exits, or the deadline passes. */
async function waitReady(proc: SpawnedProcess, url: string, isOurs: ReadyCheck, what: string): Promise<'ready' | 'exited'> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (proc.hasExited()) return 'exited';
    try {
      const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if ((res.status === 200 || res.status === 401) && isOurs(res, proc.output())) {
        if (!proc.hasExited()) return 'ready';
      }
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  await stopProcess(proc);
  throw new Error(`${what} did not answer GET ${url}/v2/ within ${READY_TIMEOUT_MS / 1000}s; output:\n${proc.output()}`);
}

interface StartSpec {
  what: string;
  kind: RunningRegistry['kind'];
  /** Writes config files etc. for this port and returns the command line. */
  prepare(port: number): Promise<{ command: string; args: string[]; isOurs: ReadyCheck }>;
  /** Runs after the process is gone (temp dirs, token server). */
  cleanup(): Promise<void>;
  workDir: string;
}

function isBindFailure(output: string): boolean {
  return /address already in use|bind:/i.test(output);
}

async function startWithRetries(spec: StartSpec): Promise<RunningRegistry> {
  let lastOutput = '';
  try {
    for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
      const port = await freePort();
      const { command, args, isOurs } = await spec.prepare(port);
      const proc = spawnTracked(command, args, spec.workDir);
      const url = `http://127.0.0.1:${port}`;
      const state = await waitReady(proc, url, isOurs, spec.what);
      if (state === 'exited') {
        const code = await proc.exited;
        lastOutput = proc.output();
        // Another process took the port between freePort() and the bind: try again on a new port.
        if (isBindFailure(lastOutput)) continue;
        throw new Error(`${spec.what} exited (${String(code)}) before it was ready; output:\n${lastOutput}`);
      }
      let stopped: Promise<void> | undefined;
      return {
        host: `127.0.0.1:${port}`,
        url,
        kind: spec.kind,
        stop: () => {
          stopped ??= (async () => {
            try {
              await stopProcess(proc);
            } finally {
              await spec.cleanup();
            }
          })();
          return stopped;
        },
      };
    }
    throw new Error(`${spec.what} could not bind a free port in ${START_ATTEMPTS} attempts; last output:\n${lastOutput}`);
  } catch (err) {
    await spec.cleanup();
    throw err;
  }
}

async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `vouch-${prefix}-`));
  liveTempDirs.add(dir);
  return dir;
}

async function removeTempDir(dir: string): Promise<void> {
  liveTempDirs.delete(dir);
  await rm(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------------------------
// olareg: the registry with the Referrers API.

/**
 * Starts olareg (via .tools/bin/olareg-serve) with push, delete and the Referrers API enabled and GC disabled.
 * Note olareg's own quirks: a subject with no referrers gives `"manifests": null`; an `artifactType`-filtered answer
 * served from its page cache (a repeated query) lacks `OCI-Filters-Applied`; its Link values are relative and unquoted
 * (`<…>; rel=next`).
 */
export async function startReferrersRegistry(opts: ReferrersRegistryOptions = {}): Promise<RunningRegistry> {
  const binary = toolPath('olareg-serve');
  const pageBytes = opts.referrersPageBytes;
  if (pageBytes !== undefined && (!Number.isInteger(pageBytes) || pageBytes <= 0)) {
    throw new Error(`referrersPageBytes must be a positive integer, got ${pageBytes}`);
  }
  const workDir = await makeTempDir('olareg');
  return startWithRetries({
    what: 'olareg-serve',
    kind: 'olareg',
    workDir,
    async prepare(port) {
      const storeDir = join(workDir, `store-${port}`);
      const args = ['--addr', `127.0.0.1:${port}`, '--dir', storeDir, '--log-level', 'warn'];
      if (pageBytes !== undefined) args.push('--referrers-page-bytes', String(pageBytes));
      // olareg-serve prints this only after its own bind succeeded, so the answer on the port is ours.
      const announced = `olareg-serve: listening on 127.0.0.1:${port}`;
      return { command: binary, args, isOurs: (_res, output) => output.includes(announced) };
    },
    cleanup: () => removeTempDir(workDir),
  });
}

// ---------------------------------------------------------------------------------------------------------------
// distribution 2.8.2 (Debian docker-registry): no Referrers API; optional htpasswd or token auth.

/**
 * Starts Debian's docker-registry (CNCF distribution 2.8.2) with filesystem storage in a temp dir, deletes enabled,
 * and optionally htpasswd or token auth. It has no Referrers API: GET /v2/<name>/referrers/<digest> is a plain-text
 * 404, and manifest PUTs with a subject get no OCI-Subject header.
 */
export async function startDistributionRegistry(opts: DistributionRegistryOptions = {}): Promise<RunningRegistry> {
  const binary = toolPath('docker-registry');
  const workDir = await makeTempDir('distribution');
  const instance = randomUUID();
  const auth = opts.auth;
  let tokenServer: TokenServer | undefined;
  try {
    const authConfig: Record<string, unknown> = {};
    if (auth?.kind === 'htpasswd') {
      const htpasswd = join(workDir, 'htpasswd');
      // distribution uses golang.org/x/crypto/bcrypt, which accepts the $2a$/$2b$/$2y$ variants.
      await writeFile(htpasswd, `${auth.username}:${bcrypt.hashSync(auth.password, 10)}\n`, { mode: 0o600 });
      authConfig['htpasswd'] = { realm: 'vouch-test', path: htpasswd };
    } else if (auth?.kind === 'token') {
      tokenServer = await startTokenServer(auth);
      const bundle = join(workDir, 'token-root.pem');
      await writeFile(bundle, tokenServer.certPem);
      authConfig['token'] = {
        realm: `${tokenServer.url}/token`,
        service: TOKEN_SERVICE,
        issuer: TOKEN_ISSUER,
        rootcertbundle: bundle,
      };
    }
    const token = tokenServer;
    const registry = await startWithRetries({
      what: 'docker-registry',
      kind: 'distribution',
      workDir,
      async prepare(port) {
        const config: Record<string, unknown> = {
          version: '0.1',
          log: { level: 'warn', formatter: 'text', accesslog: { disabled: true } },
          storage: {
            filesystem: { rootdirectory: join(workDir, `storage-${port}`) },
            delete: { enabled: true },
            maintenance: { uploadpurging: { enabled: false } },
          },
          http: {
            addr: `127.0.0.1:${port}`,
            secret: randomUUID(),
            headers: { 'X-Vouch-Test-Instance': [instance] },
          },
          health: { storagedriver: { enabled: false } },
        };
        if (Object.keys(authConfig).length > 0) config['auth'] = authConfig;
        const configPath = join(workDir, 'config.yml');
        await writeFile(configPath, toYaml(config));
        return {
          command: binary,
          args: ['serve', configPath],
          isOurs: (res) => res.headers.get(INSTANCE_HEADER) === instance,
        };
      },
      async cleanup() {
        await token?.close();
        await removeTempDir(workDir);
      },
    });
    if (token) registry.tokenServer = { url: token.url, requests: token.requests };
    return registry;
  } catch (err) {
    await tokenServer?.close();
    await removeTempDir(workDir);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Docker token server: GET (and OAuth2 password-grant POST) /token, ES256 JWTs with an x5c self-signed certificate.
// What distribution 2.8.2 checks (registry/auth/token/token.go): iss == issuer, aud (a single string) == service,
// exp/nbf with 60 s leeway, a non-empty signature; the signing key comes from x5c[0], whose chain must verify against
// rootcertbundle (a self-signed leaf that is itself in the bundle does); the ES256 signature is raw r||s (libtrust);
// `access` entries grant actions per {type, name}.

interface TokenServer {
  url: string;
  certPem: string;
  requests: TokenRequestRecord[];
  close(): Promise<void>;
}

interface SigningMaterial {
  key: KeyObject;
  certDerBase64: string;
  certPem: string;
}

let signingMaterial: Promise<SigningMaterial> | undefined;

/** One ES256 key + self-signed certificate per test process (generation is the slow part). */
function getSigningMaterial(): Promise<SigningMaterial> {
  signingMaterial ??= (async () => {
    // @peculiar/x509 depends on tsyringe, which needs the reflect-metadata polyfill loaded first.
    await import('reflect-metadata');
    const x509 = await import('@peculiar/x509');
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const now = Date.now();
    // A positive, non-zero serial (Go's x509 parser rejects negative ones).
    const serial = randomBytes(8);
    serial[0] = (serial[0]! & 0x7f) | 0x01;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial.toString('hex'),
      name: 'CN=vouch test token issuer',
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + 7 * 86400_000),
      signingAlgorithm: alg,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign, true),
      ],
    });
    const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
    return {
      key: createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' }),
      certDerBase64: Buffer.from(cert.rawData).toString('base64'),
      certPem: cert.toString('pem') + '\n',
    };
  })();
  return signingMaterial;
}

const base64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

interface ResourceScope {
  type: string;
  name: string;
  actions: string[];
}

/** Parses `type[(class)]:name:action[,action]` (the name itself may contain ':', e.g. a host:port prefix). */
function parseScope(scope: string): ResourceScope | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  return {
    type: scope.slice(0, first).replace(/\(.*\)$/, ''),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter((a) => a !== ''),
  };
}

async function startTokenServer(auth: Extract<DistributionAuth, { kind: 'token' }>): Promise<TokenServer> {
  const material = await getSigningMaterial();
  const ttl = auth.tokenTtlSeconds ?? 300;
  const allowed = new Set(auth.allowedActions ?? ['pull', 'push', 'delete', '*']);
  const requests: TokenRequestRecord[] = [];

  const issue = (username: string, scopes: string[]): Record<string, unknown> => {
    const now = Math.floor(Date.now() / 1000);
    const access = scopes
      .map(parseScope)
      .filter((s): s is ResourceScope => s !== undefined)
      .map((s) => ({ type: s.type, name: s.name, actions: s.actions.filter((a) => allowed.has(a)) }));
    const header = { typ: 'JWT', alg: 'ES256', x5c: [material.certDerBase64] };
    const claims = {
      iss: TOKEN_ISSUER,
      sub: username,
      aud: TOKEN_SERVICE,
      exp: now + ttl,
      nbf: now,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = cryptoSign('sha256', Buffer.from(signingInput), { key: material.key, dsaEncoding: 'ieee-p1363' });
    const token = `${signingInput}.${base64url(signature)}`;
    return { token, access_token: token, expires_in: ttl, issued_at: new Date(now * 1000).toISOString() };
  };

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    const bytes = Buffer.from(JSON.stringify(body));
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(bytes.length), ...headers });
    res.end(bytes);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    if (url.pathname !== '/token') return send(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'no such endpoint' }] });
    let params = url.searchParams;
    let username: string | undefined;
    let password: string | undefined;
    if (req.method === 'POST') {
      // OAuth2 password grant (https://distribution.github.io/distribution/spec/auth/oauth/), form-encoded.
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      if (params.get('grant_type') === 'password') {
        username = params.get('username') ?? undefined;
        password = params.get('password') ?? undefined;
      }
    } else if (req.method !== 'GET') {
      return send(res, 405, { errors: [{ code: 'UNSUPPORTED', message: 'method not allowed' }] });
    }
    const authz = req.headers.authorization ?? '';
    if (username === undefined && /^basic /i.test(authz)) {
      const decoded = Buffer.from(authz.slice(6).trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      username = colon < 0 ? decoded : decoded.slice(0, colon);
      password = colon < 0 ? '' : decoded.slice(colon + 1);
    }
    const scope = params
      .getAll('scope')
      .flatMap((s) => s.split(' '))
      .filter((s) => s !== '');
    const service = params.get('service') ?? '';
    const record: TokenRequestRecord = { scope, service, authenticated: username !== undefined, status: 0 };
    requests.push(record);
    const reply = (status: number, body: unknown, headers?: Record<string, string>): void => {
      record.status = status;
      send(res, status, body, headers);
    };
    if (username === undefined) {
      return reply(
        401,
        { errors: [{ code: 'UNAUTHORIZED', message: 'credentials required' }] },
        {
          'WWW-Authenticate': 'Basic realm="vouch-test-token"',
        },
      );
    }
    if (username !== auth.username || password !== auth.password) {
      return reply(
        401,
        { errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] },
        {
          'WWW-Authenticate': 'Basic realm="vouch-test-token"',
        },
      );
    }
    if (service !== TOKEN_SERVICE) {
      return reply(400, { errors: [{ code: 'DENIED', message: `unknown service "${service}"` }] });
    }
    reply(200, issue(username, scope));
  };

  const server: Server = createHttpServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { errors: [{ code: 'UNKNOWN', message: String(err) }] });
      else res.destroy();
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  server.unref();
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    certPem: material.certPem,
    requests,
    close: () => {
      closed ??= new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
