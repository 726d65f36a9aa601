// HTTP for the registry client: undici with keep-alive connection pools, manual redirects (so
// credentials never follow a redirect to another origin, and every hop is checked against the
// egress rules before anything is sent to it), bounded body reads, and a timeout per request
// combined with the caller's AbortSignal so callers can enforce their own deadline.

import type { LookupFunction } from 'node:net';
import { Transform, type Readable } from 'node:stream';
import { errors as undiciErrors, request, type Dispatcher } from 'undici';
import { BoundedCache, RegistryError, VouchError } from '../core/index.js';
import { createEgressAgent, specialAddressBlockList, specialHostReason, type EgressAgentOptions } from './egress.js';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpRequest {
  method: HttpMethod;
  url: URL;
  headers?: Record<string, string>;
  body?: Uint8Array;
  /**
   * A request body too large to buffer (a blob upload): called for each attempt (a retry needs a
   * fresh stream). The caller sets Content-Length. Never used with `body`.
   */
  bodyStream?: () => Readable;
  /**
   * Hand a 2xx response body to the caller as a stream (a blob download) instead of reading it:
   * still bounded by `maxBytes` (Content-Length checked first, then counted while streaming).
   */
  streamResponse?: boolean;
  /** Bodies longer than this are refused (Content-Length checked first, then counted while reading). */
  maxBytes: number;
  signal?: AbortSignal | undefined;
  /** What is being fetched, for error messages: "manifest sha256:…", "referrers of …". */
  what: string;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Uint8Array;
  /** The URL that finally answered, after redirects. */
  url: URL;
  /** The 2xx body as a bounded stream, when the request asked for `streamResponse` (then `body` is empty). */
  stream?: Readable;
}

export interface HttpTransportOptions {
  /** Per-request timeout (connect + headers + body), in ms. */
  timeoutMs?: number;
  maxRedirects?: number;
  /** Connections kept per origin. */
  connectionsPerOrigin?: number;
  userAgent?: string;
  /**
   * A custom undici dispatcher (tests, proxies). The transport closes only one it created. The
   * connect-time check of resolved addresses is part of the dispatcher the transport creates
   * (createEgressAgent); a custom one should be built with createEgressAgent too to keep it.
   */
  dispatcher?: Dispatcher;
  /** Whether a redirect hop may lead to this host (URL.host form). Default: every host. */
  isRedirectAllowed?: (host: string) => boolean;
  /** Hosts exempt from the link-local / cloud metadata refusal (URL.host form). Default: none. */
  isAddressExempt?: (host: string) => boolean;
  /** The resolver of the dispatcher the transport creates (tests). */
  lookup?: LookupFunction;
  /** TLS options of the dispatcher the transport creates (a private CA). */
  tls?: EgressAgentOptions['tls'];
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const ERROR_BODY_BYTES = 64 * 1024;
const DECIMAL = /^[0-9]{1,15}$/;
/** Host names whose literal-address verdict is remembered (names come from image references: bounded). */
const HOST_VERDICTS = 1024;

export class HttpTransport {
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #timeoutMs: number;
  readonly #maxRedirects: number;
  readonly #userAgent: string;
  readonly #isRedirectAllowed: (host: string) => boolean;
  readonly #isAddressExempt: (host: string) => boolean;
  readonly #specialAddresses = specialAddressBlockList();
  /**
   * specialHostReason per URL hostname ('' when not special). The verdict depends on the name alone,
   * and checking an IP literal builds a SocketAddress on every request otherwise (~4 µs warm).
   */
  readonly #hostVerdicts = new BoundedCache<string>({ maxEntries: HOST_VERDICTS });

  constructor(options: HttpTransportOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#maxRedirects = options.maxRedirects ?? 5;
    this.#userAgent = options.userAgent ?? 'vouch';
    this.#isRedirectAllowed = options.isRedirectAllowed ?? (() => true);
    this.#isAddressExempt = options.isAddressExempt ?? (() => false);
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher =
      options.dispatcher ??
      createEgressAgent({
        connections: options.connectionsPerOrigin ?? 16,
        connectTimeoutMs: Math.min(this.#timeoutMs, 5_000),
        isAddressExempt: this.#isAddressExempt,
        ...(options.lookup ? { lookup: options.lookup } : {}),
        ...(options.tls ? { tls: options.tls } : {}),
      });
  }

  /**
   * Sends a request, following redirects for GET/HEAD. The Authorization header is kept only
   * while the redirect stays on the original origin: blob downloads are commonly redirected to
   * object storage, which must never see registry credentials.
   */
  async send(req: HttpRequest): Promise<HttpResponse> {
    if (req.signal?.aborted) throw abortedError(req, req.signal.reason);
    // undici's own per-phase timeouts instead of an AbortSignal.timeout + AbortSignal.any per
    // request: those cost ~0.03 ms each on the admission path and keep timers alive.
    const signal = req.signal;
    const origin = req.url.origin;
    const visited = new Set<string>();
    let url = req.url;
    let method = req.method;
    let body = req.body;
    let headers: Record<string, string> = { 'user-agent': this.#userAgent, ...(req.headers ?? {}) };
    this.#checkAddress(req, url, undefined);

    for (let hop = 0; ; hop++) {
      visited.add(url.href);
      let response: Dispatcher.ResponseData;
      try {
        response = await request(url, {
          method,
          headers,
          body:
            req.bodyStream !== undefined && method === req.method
              ? req.bodyStream()
              : body === undefined
                ? null
                : Buffer.from(body.buffer, body.byteOffset, body.byteLength),
          dispatcher: this.#dispatcher,
          headersTimeout: this.#timeoutMs,
          bodyTimeout: this.#timeoutMs,
          ...(signal ? { signal } : {}),
        });
      } catch (error) {
        throw this.#transportError(req, url, error);
      }

      if (REDIRECT_STATUSES.has(response.statusCode) && (method === 'GET' || method === 'HEAD')) {
        await discard(response);
        const location = headerValue(response.headers, 'location');
        if (!location) {
          throw new RegistryError(
            'REGISTRY_UNAVAILABLE',
            `${req.what}: redirect ${response.statusCode} without Location from ${redact(url)}`,
            {
              reason: 'REDIRECT',
              method,
              url: redact(url),
              status: response.statusCode,
            },
          );
        }
        let next: URL;
        try {
          next = new URL(location, url);
        } catch (error) {
          throw new RegistryError('REGISTRY_UNAVAILABLE', `${req.what}: redirect to an invalid Location "${location}"`, {
            reason: 'REDIRECT',
            method,
            url: redact(url),
            cause: error,
          });
        }
        if (next.protocol !== 'https:' && next.protocol !== 'http:') {
          throw new RegistryError('REGISTRY_UNAVAILABLE', `${req.what}: redirect to unsupported scheme ${next.protocol}`, {
            reason: 'REDIRECT',
            method,
            url: redact(url),
          });
        }
        if (visited.has(next.href)) {
          throw new RegistryError('REGISTRY_UNAVAILABLE', `${req.what}: redirect loop at ${redact(next)}`, {
            reason: 'REDIRECT',
            method,
            url: redact(url),
          });
        }
        if (hop + 1 > this.#maxRedirects) {
          throw new RegistryError('REGISTRY_UNAVAILABLE', `${req.what}: more than ${this.#maxRedirects} redirects`, {
            reason: 'REDIRECT',
            method,
            url: redact(url),
          });
        }
        this.#checkRedirect(req, url, next);
        if (next.origin !== origin) {
          headers = Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'authorization'));
        }
        if (response.statusCode === 303) {
          method = 'GET';
          body = undefined;
        }
        url = next;
        continue;
      }

      // Error bodies only feed messages: read a bounded prefix whatever the caller's limit is.
      const success = response.statusCode >= 200 && response.statusCode < 300;
      if (success && req.streamResponse === true && method !== 'HEAD') {
        return {
          status: response.statusCode,
          headers: response.headers,
          body: new Uint8Array(0),
          url,
          stream: this.#boundedStream(response, req, url),
        };
      }
      // A HEAD body is empty but must still be consumed: undici keeps its listener on the caller's
      // AbortSignal until the body ends, one per request (a copy of many blobs passes the warning limit).
      if (method === 'HEAD') await discard(response);
      const bytes =
        method === 'HEAD'
          ? new Uint8Array(0)
          : await this.#readBody(response, req, url, success ? req.maxBytes : ERROR_BODY_BYTES, success);
      return { status: response.statusCode, headers: response.headers, body: bytes, url };
    }
  }

  /**
   * Link-local and cloud metadata targets are refused for every request, whoever named them (a
   * reference, a realm, a Location), unless configuration lists that exact host. Names are checked
   * again at connect time against what they resolve to (createEgressAgent).
   */
  #checkAddress(req: HttpRequest, url: URL, from: URL | undefined): void {
    let reason = this.#hostVerdicts.get(url.hostname);
    if (reason === undefined) {
      reason = specialHostReason(this.#specialAddresses, url.hostname) ?? '';
      this.#hostVerdicts.set(url.hostname, reason);
    }
    if (reason === '' || this.#isAddressExempt(url.host)) return;
    const via = from === undefined ? '' : ` (redirected from ${from.host})`;
    throw new RegistryError(
      'REGISTRY_NOT_ALLOWED',
      `${req.what}: refusing to contact ${url.host}${via}: ${reason} (list exactly "${url.host}" in allowedRegistries, allowedRedirects or allowedTokenRealms to allow it)`,
      { reason: 'ADDRESS_NOT_ALLOWED', method: req.method, url: redact(from ?? url) },
    );
  }

  /**
   * A redirect hop must not downgrade https to http (the rest of the exchange, and whatever the
   * Location carries, would travel in clear text and unauthenticated; curl's --proto-redir and
   * browsers' mixed-content rules refuse the same), must not reach a special address, and must
   * lead to the host the request was sent to or to a host the rules allow. Nothing is sent to a
   * refused target.
   */
  #checkRedirect(req: HttpRequest, from: URL, next: URL): void {
    const target = `${next.protocol}//${next.host}`;
    if (from.protocol === 'https:' && next.protocol === 'http:') {
      throw new RegistryError(
        'REGISTRY_NOT_ALLOWED',
        `${req.what}: ${from.host} redirected from https to plain http (${target}); downgrades are never followed`,
        { reason: 'DOWNGRADE', method: req.method, url: redact(from) },
      );
    }
    this.#checkAddress(req, next, from);
    if (next.host === req.url.host || this.#isRedirectAllowed(next.host)) return;
    throw new RegistryError(
      'REGISTRY_NOT_ALLOWED',
      `${req.what}: ${from.host} redirected to ${target}, a host not allowed by configuration (list "${next.host}" in allowedRedirects to allow it)`,
      { reason: 'REDIRECT_NOT_ALLOWED', method: req.method, url: redact(from) },
    );
  }

  async #readBody(response: Dispatcher.ResponseData, req: HttpRequest, url: URL, limit: number, strict: boolean): Promise<Uint8Array> {
    const declared = headerValue(response.headers, 'content-length');
    if (strict && declared !== undefined && Number(declared) > limit) {
      abandon(response);
      throw new RegistryError(
        'REGISTRY_UNAVAILABLE',
        `${req.what}: ${redact(url)} announces ${declared} bytes, more than the limit of ${limit}`,
        { reason: 'SIZE_LIMIT', method: req.method, url: redact(url), status: response.statusCode },
      );
    }
    if (strict && declared !== undefined && DECIMAL.test(declared)) {
      // A declared length within the limit: undici reads exactly that many bytes and fails the body
      // otherwise (ResponseContentLengthMismatchError), so no count is needed; reading it whole skips
      // the async iterator's per-chunk promises.
      try {
        return await response.body.bytes();
      } catch (error) {
        throw this.#transportError(req, url, error);
      }
    }
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const chunk of response.body) {
        const buffer = chunk as Buffer;
        if (total + buffer.length > limit) {
          abandon(response);
          if (!strict) {
            chunks.push(buffer.subarray(0, limit - total));
            total = limit;
            break;
          }
          throw new RegistryError('REGISTRY_UNAVAILABLE', `${req.what}: ${redact(url)} sent more than the limit of ${limit} bytes`, {
            reason: 'SIZE_LIMIT',
            method: req.method,
            url: redact(url),
            status: response.statusCode,
          });
        }
        total += buffer.length;
        chunks.push(buffer);
      }
    } catch (error) {
      throw this.#transportError(req, url, error);
    }
    const joined = Buffer.concat(chunks, total);
    return new Uint8Array(joined.buffer, joined.byteOffset, joined.byteLength);
  }

  /**
   * The body as a stream that fails (SIZE_LIMIT) once it passes `maxBytes`, checked against the
   * declared Content-Length first. Transport failures while streaming surface as the same
   * RegistryErrors `send` throws (CONNECTION, TIMEOUT, ABORTED).
   */
  #boundedStream(response: Dispatcher.ResponseData, req: HttpRequest, url: URL): Readable {
    const limit = req.maxBytes;
    const declared = headerValue(response.headers, 'content-length');
    if (declared !== undefined && Number(declared) > limit) {
      abandon(response);
      throw new RegistryError(
        'REGISTRY_UNAVAILABLE',
        `${req.what}: ${redact(url)} announces ${declared} bytes, more than the limit of ${limit}`,
        {
          reason: 'SIZE_LIMIT',
          method: req.method,
          url: redact(url),
          status: response.statusCode,
        },
      );
    }
    let total = 0;
    const bounded = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        total += chunk.length;
        if (total > limit) {
          callback(
            new RegistryError('REGISTRY_UNAVAILABLE', `${req.what}: ${redact(url)} sent more than the limit of ${limit} bytes`, {
              reason: 'SIZE_LIMIT',
              method: req.method,
              url: redact(url),
              status: response.statusCode,
            }),
          );
          return;
        }
        callback(null, chunk);
      },
    });
    response.body.on('error', (error: unknown) => bounded.destroy(this.#transportError(req, url, error)));
    bounded.on('close', () => {
      if (!response.body.readableEnded) abandon(response);
    });
    response.body.pipe(bounded);
    return bounded;
  }

  /** Closes pooled connections (only those of a dispatcher the transport created). */
  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }

  #transportError(req: HttpRequest, url: URL, error: unknown): VouchError {
    if (error instanceof VouchError && error.reason === 'ADDRESS_NOT_ALLOWED') {
      // refused at connect time (createEgressAgent): say what was being fetched
      return new RegistryError(error.code, `${req.what}: ${error.message}`, {
        reason: error.reason,
        method: req.method,
        url: redact(url),
        cause: error,
      });
    }
    if (error instanceof VouchError) return error;
    if (req.signal?.aborted) return abortedError(req, req.signal.reason, url);
    if (
      error instanceof undiciErrors.HeadersTimeoutError ||
      error instanceof undiciErrors.BodyTimeoutError ||
      error instanceof undiciErrors.ConnectTimeoutError
    ) {
      return new RegistryError('REGISTRY_UNAVAILABLE', `${req.what}: ${redact(url)} timed out (${(error as Error).message})`, {
        reason: 'TIMEOUT',
        method: req.method,
        url: redact(url),
        cause: error,
      });
    }
    const detail = (error as { code?: string }).code ?? (error as Error).message;
    const hint = url.protocol === 'https:' && isPlainHttpAnswer(error) ? plainHttpHint(url) : '';
    return new RegistryError('REGISTRY_UNAVAILABLE', `${req.what}: cannot reach ${redact(url)} (${detail})${hint}`, {
      reason: 'CONNECTION',
      method: req.method,
      url: redact(url),
      cause: error,
    });
  }
}

/**
 * A TLS client that gets a plain-HTTP answer to its ClientHello reads "HTTP/1.1 400" as a TLS record
 * header with a bogus version: OpenSSL's SSL_R_WRONG_VERSION_NUMBER (Node: ERR_SSL_WRONG_VERSION_NUMBER,
 * EPROTO on older OpenSSL). For a registry that is almost always a development registry on plain HTTP.
 */
function isPlainHttpAnswer(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const { code, reason } = e as { code?: unknown; reason?: unknown };
    if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || reason === 'wrong version number' || /wrong version number/i.test(e.message)) {
      return true;
    }
  }
  return false;
}

function plainHttpHint(url: URL): string {
  return `: ${url.host} seems to speak plain HTTP, not HTTPS; if that is intended (a development registry), set "plainHttp: true" for it under "registries:" in the config`;
}

/** Stops reading a body we refuse; the connection is dropped rather than drained. */
function abandon(response: Dispatcher.ResponseData): void {
  response.body.on('error', () => {
    // destroying an undici body emits an AbortError; it is expected here
  });
  response.body.destroy();
}

async function discard(response: Dispatcher.ResponseData): Promise<void> {
  try {
    await response.body.dump({ limit: 64 * 1024 });
  } catch {
    // a broken body on a redirect is irrelevant; the connection is simply not reused
  }
}

function abortedError(req: HttpRequest, reason: unknown, url: URL = req.url): VouchError {
  if (reason instanceof VouchError) return reason;
  return new RegistryError('DEADLINE_EXCEEDED', `${req.what}: cancelled before ${redact(url)} answered`, {
    reason: 'ABORTED',
    method: req.method,
    url: redact(url),
    cause: reason,
  });
}

/** A header as one string (first value when repeated). */
export function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** All values of a header, whether sent repeated or comma-joined by the client library. */
export function headerValues(headers: Record<string, string | string[] | undefined>, name: string): string[] {
  const value = headers[name.toLowerCase()];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** The URL without userinfo (credentials), fit for logs and messages. The query is kept as is. */
export function redact(url: URL): string {
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}
