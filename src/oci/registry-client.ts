// Registry client for the OCI distribution-spec v1.1 (https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md):
// manifests and blobs (every byte digest-verified), the Referrers API with the referrers tag schema
// as fallback, pushes (for signing and promotion), and Docker token / basic auth. One client per
// process holds the connection pools, the token cache and what it learnt about each registry.

import type { LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import {
  BoundedCache,
  DOCKER_HUB_HOST,
  RegistryError,
  VouchError,
  computeDigest,
  digestAlgorithm,
  digestHex,
  digestMatches,
  isDigest,
  isTag,
  type Digest,
  type DigestAlgorithm,
  type ErrorCode,
  type ImageReference,
} from '../core/index.js';
import { moduleLogger, type Logger } from '../log.js';
import {
  basicAuthorization,
  DEFAULT_TOKEN_LIFETIME_SECONDS,
  MAX_TOKEN_RESPONSE_BYTES,
  parseChallenges,
  pullScope,
  TokenCache,
  type Challenge,
  type Credentials,
  type TokenCacheLimits,
} from './auth.js';
import type { BlobFetchOptions, ContentSource, FetchOptions, ReferrerListing, ReferrerListOptions } from './content-source.js';
import type { EgressAgentOptions, EgressRules } from './egress.js';
import {
  HttpTransport,
  headerValue,
  headerValues,
  redact,
  type HttpMethod,
  type HttpRequest,
  type HttpResponse,
} from './http-transport.js';
import { resolveLimits, type OciLimits } from './limits.js';
import { nextPageUrl } from './link-header.js';
import { parseManifest, type Descriptor, type FetchedManifest } from './manifest.js';
import { MANIFEST_ACCEPT, MEDIA_TYPE, baseMediaType } from './media-types.js';
import { DEFAULT_REGISTRY_REQUEST_LIMITS, parseRetryAfter, RegistryThrottle, type RegistryRequestLimits } from './registry-throttle.js';

/** Per-registry settings (config file `registries:`, keyed by host[:port]). */
export interface RegistryHostConfig {
  /** Speak HTTP instead of HTTPS (development registries on loopback only). */
  plainHttp?: boolean;
  username?: string;
  password?: string;
}

/** What the client observed of a registry's Referrers API (oras-go keeps the same tri-state). */
export type ReferrersCapability = 'unknown' | 'supported' | 'unsupported';

/**
 * Called after every HTTP exchange made for a registry; the provider turns this into metrics.
 * `host` is always the registry host the request was made for, also for a token request to a realm
 * on another host (`kind: 'token'`), so hosts named by registries never become label values.
 */
export type RegistryRequestObserver = (event: {
  host: string;
  kind: 'registry' | 'token';
  method: HttpMethod;
  status: number | 'error';
  durationMs: number;
}) => void;

export interface RegistryClientOptions {
  hosts?: Record<string, RegistryHostConfig>;
  limits?: Partial<OciLimits>;
  /** Timeout for each HTTP request in ms (default 10 s). Callers add their own deadline via AbortSignal. */
  requestTimeoutMs?: number;
  userAgent?: string;
  dispatcher?: Dispatcher;
  /** Returns false for hosts vouch must not contact (REGISTRY_NOT_ALLOWED). Default: all allowed. */
  isHostAllowed?: (host: string) => boolean;
  /** Where redirects and token realms may lead, and which hosts may receive credentials (egress.ts). */
  egress?: EgressRules;
  /** Token cache bounds (defaults: DEFAULT_TOKEN_CACHE_LIMITS). */
  tokenCache?: Partial<TokenCacheLimits>;
  /** Registry hosts whose learnt state (auth scheme, referrers capability) is remembered (default 1000). */
  maxHosts?: number;
  /** Resolver of the connection pool the client creates (tests). Ignored with `dispatcher`. */
  lookup?: LookupFunction;
  /** TLS options of the connection pool the client creates (a private registry CA). Ignored with `dispatcher`. */
  tls?: EgressAgentOptions['tls'];
  onRequest?: RegistryRequestObserver;
  /** Per-host pacing and retries of throttled requests (defaults: DEFAULT_REGISTRY_REQUEST_LIMITS). */
  requestLimits?: Partial<RegistryRequestLimits>;
  /** Called for every throttling answer (429, or 503 with Retry-After): retried, or given up on. */
  onThrottled?: (event: { host: string; status: number; retryAfterMs: number | undefined; retried: boolean }) => void;
  /** Called when a host's adaptive limit of requests in flight changes. */
  onConcurrencyLimit?: (host: string, limit: number) => void;
  /** Clock in epoch ms for Retry-After dates and deadlines (default Date.now). */
  now?: () => number;
  /** Timer of the throttle's waits (tests inject one driven by their clock). */
  sleep?: (ms: number, signal: AbortSignal | undefined) => Promise<void>;
  logger?: Logger;
}

/**
 * One request to a registry, before its URL and authorization are settled: HttpRequest's own fields
 * (`bodyStream` for blob uploads, `streamResponse` for blob downloads), without the signal (FetchOptions).
 */
type RegistryRequest = Pick<HttpRequest, 'method' | 'headers' | 'body' | 'bodyStream' | 'streamResponse' | 'maxBytes' | 'what'>;

/** Registry hosts whose learnt state is remembered; hosts come from request keys when every registry is allowed. */
export const DEFAULT_MAX_HOSTS = 1000;

type HostAuthState = { scheme: 'bearer'; realm: string; service: string | undefined } | { scheme: 'basic' };

const NAME_PATTERN = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

export class RegistryClient {
  readonly limits: OciLimits;
  readonly #transport: HttpTransport;
  readonly #hosts: Record<string, RegistryHostConfig>;
  readonly #tokens: TokenCache;
  readonly #hostAuth: BoundedCache<HostAuthState>;
  readonly #capabilities: BoundedCache<ReferrersCapability>;
  readonly #isHostAllowed: (host: string) => boolean;
  readonly #isRealmAllowed: (host: string) => boolean;
  readonly #mayReceiveCredentials: (host: string) => boolean;
  readonly #onRequest: RegistryRequestObserver | undefined;
  readonly #throttle: RegistryThrottle;
  readonly #retry: { maxRetries: number; maxRetryWaitMs: number };
  readonly #onThrottled: RegistryClientOptions['onThrottled'];
  readonly #now: () => number;
  readonly log: Logger;

  constructor(options: RegistryClientOptions = {}) {
    this.limits = resolveLimits(options.limits);
    this.#hosts = options.hosts ?? {};
    this.#isHostAllowed = options.isHostAllowed ?? (() => true);
    const egress = options.egress ?? {};
    this.#isRealmAllowed = egress.isRealmAllowed ?? (() => true);
    this.#mayReceiveCredentials = egress.mayReceiveCredentials ?? (() => false);
    this.#onRequest = options.onRequest;
    this.log = options.logger ?? moduleLogger('oci.registry');
    this.#tokens = new TokenCache(options.tokenCache ?? {});
    const maxHosts = options.maxHosts ?? DEFAULT_MAX_HOSTS;
    // A realm is a registry-chosen string: size the map by it, not only by entries.
    this.#hostAuth = new BoundedCache<HostAuthState>({
      maxEntries: maxHosts,
      maxBytes: 4 * 1024 * 1024,
      sizeOf: (state, host) => host.length + (state.scheme === 'bearer' ? state.realm.length + (state.service?.length ?? 0) : 0) + 1,
    });
    this.#capabilities = new BoundedCache<ReferrersCapability>({ maxEntries: maxHosts });
    const requestLimits = { ...DEFAULT_REGISTRY_REQUEST_LIMITS, ...(options.requestLimits ?? {}) };
    this.#now = options.now ?? Date.now;
    this.#throttle = new RegistryThrottle({
      maxInFlight: requestLimits.maxInFlight,
      maxRetryAfterMs: requestLimits.maxRetryAfterMs,
      maxHosts,
      now: this.#now,
      ...(options.sleep ? { sleep: options.sleep } : {}),
      ...(options.onConcurrencyLimit ? { onLimitChange: options.onConcurrencyLimit } : {}),
    });
    this.#retry = { maxRetries: requestLimits.maxRetries, maxRetryWaitMs: requestLimits.maxRetryWaitMs };
    this.#onThrottled = options.onThrottled;
    this.#transport = new HttpTransport({
      timeoutMs: options.requestTimeoutMs ?? 10_000,
      maxRedirects: this.limits.maxRedirects,
      userAgent: options.userAgent ?? 'vouch/0.1',
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
      ...(egress.isRedirectAllowed ? { isRedirectAllowed: egress.isRedirectAllowed } : {}),
      ...(egress.isAddressExempt ? { isAddressExempt: egress.isAddressExempt } : {}),
      ...(options.lookup ? { lookup: options.lookup } : {}),
      ...(options.tls ? { tls: options.tls } : {}),
    });
  }

  /** The per-host pacing of this client (tests, diagnostics). */
  get throttle(): RegistryThrottle {
    return this.#throttle;
  }

  /** Sizes of what the client remembers (tests, diagnostics). */
  stats(): { tokens: { entries: number; bytes: number }; hosts: { auth: number; capabilities: number } } {
    return { tokens: this.#tokens.stats(), hosts: { auth: this.#hostAuth.size, capabilities: this.#capabilities.size } };
  }

  /** A content source for one repository. */
  repository(registry: string, repository: string): RegistryRepository {
    return new RegistryRepository(this, registry, repository);
  }

  /** The repository an image reference lives in. */
  repositoryFor(ref: ImageReference): RegistryRepository {
    return this.repository(ref.registry, ref.repository);
  }

  referrersCapability(host: string): ReferrersCapability {
    return this.#capabilities.get(host) ?? 'unknown';
  }

  /** @internal recorded by RegistryRepository.listReferrers */
  setReferrersCapability(host: string, capability: ReferrersCapability): void {
    if (this.#capabilities.get(host) !== capability) {
      this.log.debug({ host, capability }, 'referrers API capability learnt');
      this.#capabilities.set(host, capability);
    }
  }

  baseUrl(host: string): string {
    return `${this.#hosts[host]?.plainHttp ? 'http' : 'https'}://${host}`;
  }

  async close(): Promise<void> {
    await this.#transport.close();
  }

  /**
   * Sends one request to a registry with authentication: a cached token or basic credentials
   * up front when we know the registry's scheme, else the request goes out anonymously and a 401
   * challenge is answered once (Bearer: fetch a token for the scope; Basic: send credentials).
   */
  async send(
    host: string,
    repository: string,
    request: RegistryRequest & { path: string },
    options: FetchOptions & { push?: boolean; scope?: string } = {},
  ): Promise<HttpResponse> {
    if (!this.#isHostAllowed(host)) {
      throw new RegistryError('REGISTRY_NOT_ALLOWED', `${request.what}: registry host "${host}" is not allowed by configuration`, {
        reason: 'DENIED',
      });
    }
    const url = new URL(request.path, this.baseUrl(host));
    const scope = options.scope ?? (options.push ? `repository:${repository}:pull,push` : pullScope(repository));
    const credentials = this.#credentials(host);

    let authorization = await this.#knownAuthorization(host, scope, credentials, options.signal);
    let response = await this.#exchange(host, { ...request, url, authorization }, options);
    if (response.status !== 401) return this.#checkForbidden(response, request.what, url);

    const challenges = parseChallenges(headerValues(response.headers, 'www-authenticate').join(', '));
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (bearer !== undefined) {
      const realm = bearer.params['realm'];
      if (!realm) throw authError('NO_CHALLENGE', `${request.what}: ${host} sent a Bearer challenge without realm`, url);
      const tokenScope = bearer.params['scope'] ?? scope;
      // A token we just used was refused: forget it and fetch a fresh one once.
      this.#tokens.delete(tokenKey(host, realm, bearer.params['service'], tokenScope));
      const token = await this.#token(host, bearer, tokenScope, credentials, options.signal);
      // Remembered only once the realm has been accepted and answered.
      this.#hostAuth.set(host, { scheme: 'bearer', realm, service: bearer.params['service'] });
      authorization = `Bearer ${token}`;
    } else if (basic !== undefined) {
      if (credentials === undefined) {
        throw authError('DENIED', `${request.what}: ${host} requires credentials (Basic) and none are configured`, url);
      }
      if (authorization?.startsWith('Basic ')) {
        throw authError('DENIED', `${request.what}: ${host} refused the configured credentials`, url);
      }
      this.#assertSecureForCredentials(host, url);
      this.#hostAuth.set(host, { scheme: 'basic' });
      authorization = basicAuthorization(credentials);
    } else if (challenges.length === 0) {
      throw authError('NO_CHALLENGE', `${request.what}: ${host} answered 401 without a WWW-Authenticate challenge`, url);
    } else {
      throw authError(
        'UNSUPPORTED_CHALLENGE',
        `${request.what}: ${host} asks for unsupported authentication "${challenges.map((c) => c.scheme).join(', ')}"`,
        url,
      );
    }

    response = await this.#exchange(host, { ...request, url, authorization }, options);
    if (response.status === 401) {
      throw authError(
        'DENIED',
        `${request.what}: ${host} refused ${credentials ? 'the configured credentials' : 'anonymous access'} (401 after authenticating)`,
        url,
      );
    }
    return this.#checkForbidden(response, request.what, url);
  }

  #checkForbidden(response: HttpResponse, what: string, url: URL): HttpResponse {
    if (response.status === 403) {
      throw authError('DENIED', `${what}: ${url.host} denied access (403${registryErrorSuffix(response)})`, url);
    }
    return response;
  }

  async #exchange(
    host: string,
    request: RegistryRequest & { url: URL; authorization: string | undefined },
    options: FetchOptions,
    // A token request is paced per realm host (it is the realm that throttles), reported under the registry's host.
    kind: 'registry' | 'token' = 'registry',
    paceHost: string = host,
  ): Promise<HttpResponse> {
    const signal = options.signal;
    const headers: Record<string, string> = { ...(request.headers ?? {}) };
    if (request.authorization !== undefined) headers['authorization'] = request.authorization;
    const httpRequest: HttpRequest = {
      method: request.method,
      url: request.url,
      headers,
      ...(request.body ? { body: request.body } : {}),
      ...(request.bodyStream ? { bodyStream: request.bodyStream } : {}),
      ...(request.streamResponse ? { streamResponse: true } : {}),
      maxBytes: request.maxBytes,
      signal,
      what: request.what,
    };
    let waited = 0;
    const deadline = options.deadline;
    for (let attempt = 0; ; attempt++) {
      // A host held back by an earlier Retry-After is waited for only as long as this request may wait.
      const permit =
        this.#throttle.tryAcquire(paceHost) ??
        (await this.#throttle.acquire(
          paceHost,
          signal,
          Math.min(this.#retry.maxRetryWaitMs - waited, deadline === undefined ? Infinity : deadline - this.#now()),
        ));
      let response: HttpResponse;
      try {
        response = await this.#observed(host, kind, httpRequest);
      } catch (error) {
        permit.release({ kind: 'failed' });
        throw error;
      }
      // 429, and 503 with Retry-After, ask the client to come back later (RFC 6585 §4, RFC 9110
      // §15.6.4): an error to retry or report, never an answer about the content.
      const retryAfterHeader = headerValue(response.headers, 'retry-after');
      if (response.status !== 429 && !(response.status === 503 && retryAfterHeader !== undefined)) {
        permit.release({ kind: 'answered' });
        return response;
      }
      const retryAfterMs = parseRetryAfter(retryAfterHeader, this.#now());
      permit.release({ kind: 'throttled', retryAfterMs });
      // Without (a readable) Retry-After: exponential backoff with jitter, 0.5-1 × 500 ms × 2^attempt.
      const wait = this.#throttle.capRetryAfter(retryAfterMs ?? 500 * 2 ** attempt * (0.5 + Math.random() / 2));
      const retried =
        attempt < this.#retry.maxRetries &&
        waited + wait <= this.#retry.maxRetryWaitMs &&
        (deadline === undefined || this.#now() + wait < deadline) &&
        signal?.aborted !== true;
      this.#onThrottled?.({ host, status: response.status, retryAfterMs, retried });
      if (!retried) throw rateLimitedError(response, request.method, request.what, host, retryAfterMs, attempt);
      waited += wait;
      // With Retry-After the throttle holds every request to the host back until then.
      if (retryAfterMs === undefined) await this.#throttle.wait(wait, signal);
    }
  }

  /** Sends one HTTP request and reports it to the onRequest observer (metrics), success or not. */
  async #observed(host: string, kind: 'registry' | 'token', request: HttpRequest): Promise<HttpResponse> {
    const started = performance.now();
    try {
      const response = await this.#transport.send(request);
      this.#onRequest?.({ host, kind, method: request.method, status: response.status, durationMs: performance.now() - started });
      return response;
    } catch (error) {
      this.#onRequest?.({ host, kind, method: request.method, status: 'error', durationMs: performance.now() - started });
      throw error;
    }
  }

  #credentials(host: string): Credentials | undefined {
    const config = this.#hosts[host];
    if (config?.username === undefined) return undefined;
    return { username: config.username, password: config.password ?? '' };
  }

  /** Authorization to send before any challenge, from what we learnt about the host earlier. */
  async #knownAuthorization(
    host: string,
    scope: string,
    credentials: Credentials | undefined,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    const state = this.#hostAuth.get(host);
    if (state === undefined) return undefined;
    if (state.scheme === 'basic') return credentials ? basicAuthorization(credentials) : undefined;
    const token = await this.#token(
      host,
      { scheme: 'bearer', params: { realm: state.realm, ...(state.service ? { service: state.service } : {}) } },
      scope,
      credentials,
      signal,
    );
    return `Bearer ${token}`;
  }

  #assertSecureForCredentials(host: string, url: URL): void {
    if (url.protocol !== 'https:' && !this.#hosts[host]?.plainHttp) {
      throw authError('INSECURE_CREDENTIALS', `refusing to send credentials for ${host} over plain HTTP to ${url.host}`, url);
    }
  }

  /**
   * Docker token flow: GET realm?service=…&scope=…, Basic credentials when configured. The realm
   * is a URL the registry chose, so before anything is sent: it must be on the registry's own host
   * or a host the egress rules allow (REGISTRY_NOT_ALLOWED, REALM_NOT_ALLOWED), and credentials go
   * only to the registry's own host or a host configured to receive them (allowedTokenRealms), over
   * https unless that exact host is configured plainHttp. A refusal is an error, never a silent
   * anonymous retry.
   */
  async #token(
    host: string,
    challenge: Challenge,
    scope: string,
    credentials: Credentials | undefined,
    signal?: AbortSignal,
  ): Promise<string> {
    const realm = challenge.params['realm']!;
    const service = challenge.params['service'];
    return this.#tokens.getOrFetch(tokenKey(host, realm, service, scope), async () => {
      let realmUrl: URL;
      try {
        realmUrl = new URL(realm);
      } catch (error) {
        throw authError('TOKEN', `${host} named an invalid token realm "${realm.slice(0, 200)}"`, undefined, error);
      }
      if (realmUrl.protocol !== 'https:' && realmUrl.protocol !== 'http:') {
        throw authError('TOKEN', `${host} named a token realm with unsupported scheme ${realmUrl.protocol}`, realmUrl);
      }
      const realmHost = realmUrl.host;
      const ownHost = sameHostAndPort(realmUrl, new URL(this.baseUrl(host))) || isWellKnownRealm(host, realmUrl);
      if (!ownHost && !this.#isRealmAllowed(realmHost)) {
        throw new RegistryError(
          'REGISTRY_NOT_ALLOWED',
          `token for ${scope}: ${host} named the token realm ${realmUrl.protocol}//${realmHost}, a host not allowed by configuration (list "${realmHost}" in allowedTokenRealms to allow it)`,
          { reason: 'REALM_NOT_ALLOWED', url: redact(realmUrl) },
        );
      }
      if (credentials !== undefined) {
        if (!ownHost && !this.#mayReceiveCredentials(realmHost)) {
          throw authError(
            'REALM_NOT_ALLOWED',
            `token for ${scope}: refusing to send the credentials configured for ${host} to the token realm on ${realmHost} (list "${realmHost}" in allowedTokenRealms to allow it)`,
            realmUrl,
          );
        }
        const plainHttpHost = ownHost ? host : realmHost;
        if (realmUrl.protocol !== 'https:' && !(Object.hasOwn(this.#hosts, plainHttpHost) && this.#hosts[plainHttpHost]?.plainHttp)) {
          throw authError(
            'INSECURE_CREDENTIALS',
            `token for ${scope}: refusing to send the credentials configured for ${host} over plain HTTP to ${realmHost} (only hosts configured with plainHttp get credentials without TLS)`,
            realmUrl,
          );
        }
      }
      if (service !== undefined) realmUrl.searchParams.set('service', service);
      for (const item of scope.split(' ').filter(Boolean)) realmUrl.searchParams.append('scope', item);
      const headers: Record<string, string> = { accept: 'application/json' };
      if (credentials !== undefined) headers['authorization'] = basicAuthorization(credentials);
      const what = `token for ${scope} from ${realmHost}`;
      let response: HttpResponse;
      try {
        // Token services rate-limit too (Docker Hub's auth.docker.io): 429 is retried and paced like a registry's.
        response = await this.#exchange(
          host,
          { method: 'GET', url: realmUrl, headers, maxBytes: MAX_TOKEN_RESPONSE_BYTES, what, authorization: undefined },
          { ...(signal !== undefined ? { signal } : {}) },
          'token',
          realmHost,
        );
      } catch (error) {
        if (error instanceof RegistryError && error.reason === 'SIZE_LIMIT') {
          throw authError('SIZE_LIMIT', error.message, realmUrl, error);
        }
        throw error;
      }
      if (response.status === 401 || response.status === 403) {
        throw authError(
          'DENIED',
          `${what}: refused ${credentials ? 'the configured credentials' : 'anonymous access'} (${response.status})`,
          realmUrl,
        );
      }
      if (response.status !== 200) {
        throw new RegistryError('REGISTRY_UNAVAILABLE', `${what}: token service answered ${response.status}`, {
          reason: 'TOKEN',
          method: 'GET',
          url: redact(realmUrl),
          status: response.status,
        });
      }
      let body: unknown;
      try {
        body = JSON.parse(Buffer.from(response.body).toString('utf8'));
      } catch (error) {
        throw new RegistryError('REGISTRY_UNAVAILABLE', `${what}: token response is not JSON`, {
          reason: 'TOKEN',
          url: redact(realmUrl),
          cause: error,
        });
      }
      const record = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
      const token = typeof record['token'] === 'string' && record['token'] ? record['token'] : record['access_token'];
      if (typeof token !== 'string' || token.length === 0) {
        throw new RegistryError('REGISTRY_UNAVAILABLE', `${what}: token response has no token`, { reason: 'TOKEN', url: redact(realmUrl) });
      }
      const maxTokenBytes = this.#tokens.limits.maxTokenBytes;
      if (token.length > maxTokenBytes) {
        throw authError('SIZE_LIMIT', `${what}: the token is ${token.length} bytes, more than the limit of ${maxTokenBytes}`, realmUrl);
      }
      // It goes into an Authorization header: visible ASCII only (RFC 6750 §2.1 b64token is narrower still).
      if (!/^[\x21-\x7e]+$/.test(token)) {
        throw new RegistryError('REGISTRY_UNAVAILABLE', `${what}: the token contains characters not allowed in a header`, {
          reason: 'TOKEN',
          url: redact(realmUrl),
        });
      }
      const expiresIn = record['expires_in'];
      // Docker token spec: default lifetime 60 s when expires_in is absent; the cache caps it.
      const expiresInSeconds =
        typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : DEFAULT_TOKEN_LIFETIME_SECONDS;
      return { token, expiresInSeconds };
    });
  }
}

/** Same host and same effective port (URL.host drops default ports, which differ between http and https). */
function sameHostAndPort(a: URL, b: URL): boolean {
  const port = (u: URL) => u.port || (u.protocol === 'https:' ? '443' : '80');
  return a.hostname === b.hostname && port(a) === port(b);
}

/**
 * Docker Hub's token service lives on its own host, https://auth.docker.io/token, for the
 * registry registry-1.docker.io: the one pairing every Docker client builds in. It counts as the
 * registry's own host (realm allowed, credentials may go there, over HTTPS only), so Docker Hub
 * works without allowedTokenRealms; any other realm host must be configured.
 */
function isWellKnownRealm(registryHost: string, realm: URL): boolean {
  return registryHost === DOCKER_HUB_HOST && realm.protocol === 'https:' && realm.host === 'auth.docker.io';
}

function tokenKey(host: string, realm: string, service: string | undefined, scope: string): string {
  return `${host}\n${realm}\n${service ?? ''}\n${scope}`;
}

function authError(
  reason: 'NO_CHALLENGE' | 'UNSUPPORTED_CHALLENGE' | 'TOKEN' | 'DENIED' | 'INSECURE_CREDENTIALS' | 'REALM_NOT_ALLOWED' | 'SIZE_LIMIT',
  message: string,
  url?: URL,
  cause?: unknown,
): RegistryError {
  return new RegistryError('REGISTRY_AUTH', message, {
    reason,
    ...(url ? { url: redact(url) } : {}),
    ...(cause !== undefined ? { cause } : {}),
  });
}

/** The first error of a distribution-spec error body (`{"errors":[{code,message}]}`), if any. */
function registryErrorOf(response: HttpResponse): { code: string; message: string } | undefined {
  try {
    const body = JSON.parse(Buffer.from(response.body).toString('utf8')) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const first = body.errors?.[0];
    if (first && typeof first.code === 'string') {
      return { code: first.code, message: typeof first.message === 'string' ? first.message.slice(0, 200) : '' };
    }
  } catch {
    // not a spec error body (e.g. gorilla mux's plain-text 404)
  }
  return undefined;
}

function registryErrorCode(response: HttpResponse): string | undefined {
  return registryErrorOf(response)?.code;
}

/** `, MANIFEST_UNKNOWN: …` for messages, when the registry sent a spec error body. */
function registryErrorSuffix(response: HttpResponse): string {
  const error = registryErrorOf(response);
  return error === undefined ? '' : `, ${error.code}${error.message ? `: ${error.message}` : ''}`;
}

/** The error for a non-success status: NOT_FOUND for 404, REGISTRY_UNAVAILABLE otherwise. */
function statusError(response: HttpResponse, method: HttpMethod, what: string, location: string): RegistryError {
  const suffix = registryErrorSuffix(response);
  let code: ErrorCode = 'REGISTRY_UNAVAILABLE';
  let text: string;
  if (response.status === 404) {
    code = 'NOT_FOUND';
    text = `${what} not found in ${location} (404${suffix})`;
  } else if (response.status >= 500) {
    text = `${what}: ${location} answered with a server error (${response.status}${suffix})`;
  } else {
    text = `${what}: ${location} answered ${response.status}${suffix}`;
  }
  return new RegistryError(code, text, { reason: 'HTTP_STATUS', method, url: redact(response.url), status: response.status });
}

/** A throttling answer not retried (no retries left, or the wait does not fit): undecided, never a verdict. */
function rateLimitedError(
  response: HttpResponse,
  method: HttpMethod,
  what: string,
  host: string,
  retryAfterMs: number | undefined,
  retries: number,
): RegistryError {
  const after = retryAfterMs === undefined ? '' : `, Retry-After ${Math.ceil(retryAfterMs / 1000)} s`;
  return new RegistryError(
    'REGISTRY_UNAVAILABLE',
    `${what}: ${host} is rate limiting requests (${response.status}${after}${registryErrorSuffix(response)}; ${retries} ${retries === 1 ? 'retry' : 'retries'})`,
    { reason: 'RATE_LIMITED', method, url: redact(response.url), status: response.status },
  );
}

/**
 * Thrown internally when the Referrers API did not answer; triggers the tag-schema fallback.
 * `conclusive` is false for a 404 NAME_UNKNOWN: that says the repository is unknown, not that
 * the registry lacks the API, so it must not be remembered for the whole registry.
 */
class ReferrersApiUnsupported extends Error {
  constructor(readonly conclusive: boolean) {
    super('referrers API unsupported');
  }
}

/**
 * One repository on a registry, as a ContentSource. Stateless apart from the shared client, so
 * creating one per request is cheap.
 */
/** How long the DELETE of an abandoned upload session may take. */
const CANCEL_UPLOAD_TIMEOUT_MS = 5_000;

export class RegistryRepository implements ContentSource {
  readonly client: RegistryClient;
  readonly host: string;
  readonly name: string;
  readonly location: string;

  constructor(client: RegistryClient, host: string, name: string) {
    if (!NAME_PATTERN.test(name)) {
      throw new VouchError('INVALID_REFERENCE', `"${name}" is not a valid repository name`, { reason: 'BAD_CONTENT' });
    }
    this.client = client;
    this.host = host;
    this.name = name;
    this.location = `${host}/${name}`;
  }

  /**
   * GET, also for a digest: undici closes the connection after every HEAD (client-h1 sets reset on
   * HEAD, to survive servers that send a body anyway), so a HEAD costs a new TCP connection and,
   * measured against olareg, twice the time of a GET that reuses one.
   */
  async resolve(reference: string, options: FetchOptions = {}): Promise<Descriptor> {
    return (await this.fetchManifest(reference, options)).descriptor;
  }

  async fetchManifest(reference: string | Descriptor, options: FetchOptions = {}): Promise<FetchedManifest> {
    const expected = typeof reference === 'string' ? undefined : reference;
    const ref = typeof reference === 'string' ? reference : reference.digest;
    const digest = isDigest(ref) ? ref : undefined;
    if (digest === undefined && !isTag(ref)) {
      throw new VouchError('INVALID_REFERENCE', `"${ref}" is neither a tag nor a digest (in ${this.location})`, { reason: 'BAD_CONTENT' });
    }
    const limit = this.client.limits.maxManifestBytes;
    if (expected !== undefined && expected.size > limit) {
      throw this.#contentError('SIZE_LIMIT', `manifest ${ref} is ${expected.size} bytes, more than the limit of ${limit}`);
    }
    const what = `manifest ${ref}`;
    const response = await this.client.send(
      this.host,
      this.name,
      // By descriptor, never read more than it promises: a longer body is wrong whatever it holds.
      {
        method: 'GET',
        path: `/v2/${this.name}/manifests/${ref}`,
        headers: { accept: MANIFEST_ACCEPT },
        maxBytes: expected?.size ?? limit,
        what,
      },
      options,
    );
    if (response.status !== 200) throw statusError(response, 'GET', what, this.location);
    return this.#verifyManifest(response, ref, digest, expected);
  }

  #verifyManifest(response: HttpResponse, ref: string, digest: Digest | undefined, expected: Descriptor | undefined): FetchedManifest {
    const bytes = response.body;
    const headerDigest = headerValue(response.headers, 'docker-content-digest');
    let actual: Digest;
    if (digest !== undefined) {
      // By digest: the bytes must hash to what we asked for (distribution-spec "Pulling manifests").
      if (!digestMatches(bytes, digest)) {
        throw this.#contentError(
          'DIGEST_MISMATCH',
          `manifest ${digest} served by ${this.location} does not match its digest (got ${computeDigest(bytes, digestAlgorithm(digest))})`,
        );
      }
      actual = digest;
    } else {
      // By tag: the digest is what we compute; Docker-Content-Digest is only a hint that must agree.
      const algorithm: DigestAlgorithm = headerDigest !== undefined && isDigest(headerDigest) ? digestAlgorithm(headerDigest) : 'sha256';
      actual = computeDigest(bytes, algorithm);
    }
    if (
      headerDigest !== undefined &&
      isDigest(headerDigest) &&
      digestAlgorithm(headerDigest) === digestAlgorithm(actual) &&
      headerDigest !== actual
    ) {
      throw this.#contentError(
        'DIGEST_MISMATCH',
        `manifest ${ref} from ${this.location}: Docker-Content-Digest ${headerDigest} does not match the content (${actual})`,
      );
    }
    if (expected !== undefined && expected.size !== bytes.length) {
      throw this.#contentError(
        'SIZE_MISMATCH',
        `manifest ${ref} from ${this.location} is ${bytes.length} bytes, its descriptor says ${expected.size}`,
      );
    }
    const contentType = headerValue(response.headers, 'content-type');
    let manifest;
    try {
      manifest = parseManifest(bytes, `manifest ${actual} from ${this.location}`, contentType);
    } catch (error) {
      if (error instanceof VouchError) throw this.#contentError(error.reason, error.message, error);
      throw error;
    }
    return { descriptor: { mediaType: manifest.mediaType, digest: actual, size: bytes.length }, bytes, manifest };
  }

  async fetchBlob(descriptor: Descriptor, options: BlobFetchOptions = {}): Promise<Uint8Array> {
    const limit = options.maxBytes ?? this.client.limits.maxBlobBytes;
    if (descriptor.size > limit) {
      throw this.#contentError('SIZE_LIMIT', `blob ${descriptor.digest} is ${descriptor.size} bytes, more than the limit of ${limit}`);
    }
    let bytes: Uint8Array;
    if (descriptor.data !== undefined) {
      // Embedded data (image-spec descriptor "data") saves a round trip but must still hash right.
      bytes = new Uint8Array(Buffer.from(descriptor.data, 'base64'));
    } else {
      const what = `blob ${descriptor.digest}`;
      const response = await this.client.send(
        this.host,
        this.name,
        // Never read more than the descriptor promises: a longer body is wrong whatever it holds.
        { method: 'GET', path: `/v2/${this.name}/blobs/${descriptor.digest}`, maxBytes: descriptor.size, what },
        options,
      );
      if (response.status !== 200) throw statusError(response, 'GET', what, this.location);
      bytes = response.body;
    }
    if (bytes.length !== descriptor.size) {
      throw this.#contentError(
        'SIZE_MISMATCH',
        `blob ${descriptor.digest} from ${this.location} is ${bytes.length} bytes, its descriptor says ${descriptor.size}`,
      );
    }
    if (!digestMatches(bytes, descriptor.digest)) {
      throw this.#contentError('DIGEST_MISMATCH', `blob ${descriptor.digest} from ${this.location} does not match its digest`);
    }
    return bytes;
  }

  /**
   * Referrers of `subject`: the Referrers API when the registry has it, else the referrers tag
   * schema (distribution-spec "Unavailable Referrers API"). What the registry supports is learnt
   * from the first answer and remembered per registry host, as oras-go does.
   */
  async listReferrers(subject: Digest, options: ReferrerListOptions = {}): Promise<ReferrerListing> {
    const capability = this.client.referrersCapability(this.host);
    if (capability !== 'unsupported') {
      try {
        const descriptors = await this.#referrersByApi(subject, options);
        this.client.setReferrersCapability(this.host, 'supported');
        return { descriptors, via: 'referrers-api' };
      } catch (error) {
        if (!(error instanceof ReferrersApiUnsupported)) throw error;
        // A registry that answered the API before keeps that status: a 404 for one repository
        // (olareg answers 404 for repositories without referrer tracking) must not flip it.
        if (capability === 'unknown' && error.conclusive) this.client.setReferrersCapability(this.host, 'unsupported');
      }
    }
    return { descriptors: await this.#referrersByTagSchema(subject, options), via: 'tag-schema' };
  }

  async #referrersByApi(subject: Digest, options: ReferrerListOptions): Promise<Descriptor[]> {
    const what = `referrers of ${subject}`;
    let path = `/v2/${this.name}/referrers/${subject}`;
    if (options.artifactType !== undefined) path += `?artifactType=${encodeURIComponent(options.artifactType)}`;
    const descriptors: Descriptor[] = [];
    const visited = new Set<string>();
    const { maxReferrerPages, maxManifestBytes } = this.client.limits;
    for (let page = 0; ; page++) {
      if (page >= maxReferrerPages) {
        throw this.#contentError('TOO_MANY_PAGES', `${what} in ${this.location}: more than ${maxReferrerPages} pages`);
      }
      visited.add(path);
      const response = await this.client.send(
        this.host,
        this.name,
        { method: 'GET', path, headers: { accept: MEDIA_TYPE.ociIndex }, maxBytes: maxManifestBytes, what },
        options,
      );
      const contentType = baseMediaType(headerValue(response.headers, 'content-type'));
      if (page === 0 && (response.status === 404 || response.status === 405 || response.status === 501)) {
        throw new ReferrersApiUnsupported(registryErrorCode(response) !== 'NAME_UNKNOWN');
      }
      if (response.status !== 200) throw statusError(response, 'GET', what, this.location);
      if (contentType !== MEDIA_TYPE.ociIndex) {
        // oras-go: a 200 that is not an image index means the route is something else.
        if (page === 0) throw new ReferrersApiUnsupported(true);
        throw this.#contentError('MEDIA_TYPE', `${what} in ${this.location}: page ${page + 1} has Content-Type "${contentType}"`);
      }
      let manifest;
      try {
        manifest = parseManifest(response.body, `${what} in ${this.location}`, contentType, { emptyIndexMayOmitManifests: true });
      } catch (error) {
        if (error instanceof VouchError) throw this.#contentError(error.reason, error.message, error);
        throw error;
      }
      if (manifest.kind !== 'index')
        throw this.#contentError('BAD_CONTENT', `${what} in ${this.location}: the answer is not an image index`);
      const filtered = headerValues(response.headers, 'oci-filters-applied')
        .flatMap((v) => v.split(','))
        .map((v) => v.trim())
        .includes('artifactType');
      for (const descriptor of manifest.manifests) {
        // Registries SHOULD filter; when they do not say they did, filter here (spec "Listing Referrers").
        if (options.artifactType !== undefined && !filtered && descriptor.artifactType !== options.artifactType) continue;
        descriptors.push(descriptor);
      }
      this.#checkReferrerCount(descriptors.length, what);

      const nextUrl = nextPageUrl(headerValues(response.headers, 'link'), response.url, `${what} in ${this.location}`);
      if (nextUrl === undefined) return descriptors;
      path = nextUrl.pathname + nextUrl.search;
      if (visited.has(path)) {
        throw this.#contentError('TOO_MANY_PAGES', `${what} in ${this.location}: Link pagination loops back to an earlier page`);
      }
    }
  }

  async #referrersByTagSchema(subject: Digest, options: ReferrerListOptions): Promise<Descriptor[]> {
    const tag = referrersTag(subject);
    let fetched: FetchedManifest;
    try {
      fetched = await this.fetchManifest(tag, options);
    } catch (error) {
      // No tag means no referrers; so does a tag that is not a valid index (spec: treat as none).
      if (error instanceof VouchError && (error.code === 'NOT_FOUND' || ['BAD_CONTENT', 'MEDIA_TYPE'].includes(error.reason))) {
        if (error.code !== 'NOT_FOUND')
          this.client.log.warn(
            { repository: this.location, tag, err: error.message },
            'referrers tag is not a valid index; treating as no referrers',
          );
        return [];
      }
      throw error;
    }
    if (fetched.manifest.kind !== 'index') {
      this.client.log.warn({ repository: this.location, tag }, 'referrers tag is not an image index; treating as no referrers');
      return [];
    }
    const descriptors = fetched.manifest.manifests.filter(
      (d) => options.artifactType === undefined || d.artifactType === options.artifactType,
    );
    this.#checkReferrerCount(descriptors.length, `referrers of ${subject}`);
    return descriptors;
  }

  #checkReferrerCount(count: number, what: string): void {
    const max = this.client.limits.maxReferrers;
    if (count > max) {
      throw this.#contentError('TOO_MANY_REFERRERS', `${what} in ${this.location}: more than ${max} referrers`);
    }
  }

  // ---- push (signing, promotion, test fixtures) ------------------------------------------------

  /** True when the registry already has the blob (HEAD). */
  async hasBlob(digest: Digest, options: FetchOptions = {}): Promise<boolean> {
    const what = `blob ${digest}`;
    const response = await this.client.send(
      this.host,
      this.name,
      { method: 'HEAD', path: `/v2/${this.name}/blobs/${digest}`, maxBytes: 0, what },
      { ...options, push: true },
    );
    if (response.status === 200) return true;
    if (response.status === 404) return false;
    throw statusError(response, 'HEAD', what, this.location);
  }

  /**
   * Uploads a blob with a monolithic upload (POST then PUT ?digest=, distribution-spec
   * "Pushing a blob monolithically"), skipping it when the registry already has it.
   */
  async pushBlob(bytes: Uint8Array, mediaType: string, options: FetchOptions = {}): Promise<Descriptor> {
    const digest = computeDigest(bytes);
    const descriptor: Descriptor = { mediaType, digest, size: bytes.length };
    if (await this.hasBlob(digest, options)) return descriptor;
    const upload = await this.startUpload(options);
    const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    await this.finishUpload(upload, descriptor, () => Readable.from([body]), options);
    return descriptor;
  }

  /** True when the registry has the manifest `digest` (HEAD, distribution-spec "Checking if content exists"). */
  async hasManifest(digest: Digest, options: FetchOptions = {}): Promise<boolean> {
    const what = `manifest ${digest}`;
    const response = await this.client.send(
      this.host,
      this.name,
      { method: 'HEAD', path: `/v2/${this.name}/manifests/${digest}`, headers: { accept: MANIFEST_ACCEPT }, maxBytes: 0, what },
      { ...options, push: true },
    );
    if (response.status === 200) return true;
    if (response.status === 404) return false;
    throw statusError(response, 'HEAD', what, this.location);
  }

  /**
   * Opens a blob as a stream bounded by the descriptor's size (a layer too large to buffer). The
   * caller verifies the digest while reading (copy-blob.ts); redirects, egress rules and credential
   * handling are those of every GET.
   */
  async openBlob(descriptor: Descriptor, options: FetchOptions = {}): Promise<Readable> {
    const what = `blob ${descriptor.digest}`;
    const response = await this.client.send(
      this.host,
      this.name,
      { method: 'GET', path: `/v2/${this.name}/blobs/${descriptor.digest}`, maxBytes: descriptor.size, streamResponse: true, what },
      options,
    );
    if (response.status !== 200 || response.stream === undefined) throw statusError(response, 'GET', what, this.location);
    return response.stream;
  }

  /**
   * Mounts a blob from another repository of the same registry (distribution-spec "Mounting a blob
   * from another repository"): 201 means mounted; 202 means the registry opened an upload session
   * instead, returned for the caller to upload into (or cancel).
   */
  async mountBlob(digest: Digest, from: string, options: FetchOptions = {}): Promise<{ mounted: true } | { mounted: false; upload: URL }> {
    const what = `mount of blob ${digest} from ${from}`;
    const response = await this.client.send(
      this.host,
      this.name,
      {
        method: 'POST',
        path: `/v2/${this.name}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
        maxBytes: 64 * 1024,
        what,
      },
      // Docker token auth: a mount needs pull on the source repository too.
      { ...options, push: true, scope: `repository:${this.name}:pull,push repository:${from}:pull` },
    );
    if (response.status === 201) return { mounted: true };
    if (response.status === 202) return { mounted: false, upload: this.#uploadLocation(response, what) };
    throw statusError(response, 'POST', what, this.location);
  }

  /** Opens an upload session (POST, distribution-spec "Pushing blobs"); returns its Location. */
  async startUpload(options: FetchOptions = {}): Promise<URL> {
    const what = 'upload session';
    const response = await this.client.send(
      this.host,
      this.name,
      { method: 'POST', path: `/v2/${this.name}/blobs/uploads/`, maxBytes: 64 * 1024, what },
      { ...options, push: true },
    );
    if (response.status !== 202) throw statusError(response, 'POST', what, this.location);
    return this.#uploadLocation(response, what);
  }

  /**
   * Completes an upload session with the whole blob in one PUT ?digest= (distribution-spec "POST then
   * PUT"), its body streamed from `open` with the descriptor's size as Content-Length. The registry
   * checks the digest too; `open` is called again if the request must be repeated (auth, 429).
   */
  async finishUpload(upload: URL, descriptor: Descriptor, open: () => Readable, options: FetchOptions = {}): Promise<void> {
    const what = `upload of blob ${descriptor.digest}`;
    const url = new URL(upload.href);
    url.searchParams.set('digest', descriptor.digest);
    const response = await this.client.send(
      this.host,
      this.name,
      {
        method: 'PUT',
        path: url.pathname + url.search,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(descriptor.size) },
        bodyStream: open,
        maxBytes: 64 * 1024,
        what,
      },
      { ...options, push: true },
    );
    if (response.status !== 201) throw statusError(response, 'PUT', what, this.location);
  }

  /**
   * Cancels an upload session (DELETE, distribution-spec "Canceling an upload") so an interrupted
   * copy leaves no session open. Best effort: registries may not support it; failures are ignored.
   */
  async cancelUpload(upload: URL): Promise<void> {
    try {
      await this.client.send(
        this.host,
        this.name,
        { method: 'DELETE', path: upload.pathname + upload.search, maxBytes: 64 * 1024, what: 'cancel of an upload session' },
        // Best effort, after a failure or an interruption: a destination that hangs must not hold the exit.
        { push: true, signal: AbortSignal.timeout(CANCEL_UPLOAD_TIMEOUT_MS) },
      );
    } catch (error) {
      this.client.log.debug({ repository: this.location, err: (error as Error).message }, 'upload session not cancelled');
    }
  }

  #uploadLocation(response: HttpResponse, what: string): URL {
    const location = headerValue(response.headers, 'location');
    if (!location) throw this.#contentError('BAD_CONTENT', `${what}: ${this.location} sent no upload Location`);
    const uploadUrl = new URL(location, response.url);
    if (uploadUrl.origin !== response.url.origin) {
      throw this.#contentError('BAD_CONTENT', `${what}: upload Location points to another origin (${uploadUrl.origin})`);
    }
    return uploadUrl;
  }

  /**
   * Pushes manifest bytes (as given: digests are over exact bytes) under a tag or its digest.
   * `subjectIndexed` reports the OCI-Subject header: false means the registry will not list it
   * through the Referrers API and the pusher must maintain the referrers tag (spec "Pushing
   * Manifests with Subject").
   */
  async pushManifest(
    bytes: Uint8Array,
    mediaType: string,
    options: FetchOptions & { tag?: string } = {},
  ): Promise<{ descriptor: Descriptor; subjectIndexed: boolean }> {
    const digest = computeDigest(bytes);
    const ref = options.tag ?? digest;
    if (options.tag !== undefined && !isTag(options.tag)) {
      throw new VouchError('INVALID_REFERENCE', `"${options.tag}" is not a valid tag`, { reason: 'BAD_CONTENT' });
    }
    const what = `push of manifest ${ref}`;
    const response = await this.client.send(
      this.host,
      this.name,
      {
        method: 'PUT',
        path: `/v2/${this.name}/manifests/${ref}`,
        headers: { 'content-type': mediaType },
        body: bytes,
        maxBytes: 64 * 1024,
        what,
      },
      { ...options, push: true },
    );
    if (response.status !== 201) throw statusError(response, 'PUT', what, this.location);
    const returned = headerValue(response.headers, 'docker-content-digest');
    if (returned !== undefined && isDigest(returned) && digestAlgorithm(returned) === 'sha256' && returned !== digest) {
      throw this.#contentError('DIGEST_MISMATCH', `${what}: ${this.location} stored it as ${returned}, expected ${digest}`);
    }
    return {
      descriptor: { mediaType, digest, size: bytes.length },
      subjectIndexed: headerValue(response.headers, 'oci-subject') !== undefined,
    };
  }

  #contentError(reason: VouchError['reason'], message: string, cause?: unknown): RegistryError {
    return new RegistryError('REGISTRY_UNAVAILABLE', message, { reason, ...(cause !== undefined ? { cause } : {}) });
  }
}

/**
 * The referrers tag schema tag for a digest: `<alg>-<ref>`, algorithm truncated to 32 and the
 * encoded part to 64 characters (distribution-spec "Referrers Tag Schema").
 */
export function referrersTag(digest: Digest): string {
  return `${digestAlgorithm(digest).slice(0, 32)}-${digestHex(digest).slice(0, 64)}`;
}

/** cosign's legacy signature tag for a digest: `sha256-<hex>.sig` (cosign SIGNATURE_SPEC.md). */
export function cosignSignatureTag(digest: Digest): string {
  return `${digestAlgorithm(digest)}-${digestHex(digest)}.sig`;
}
