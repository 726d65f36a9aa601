// HTTP for revocation data: OCSP requests (RFC 6960 Appendix A.1,
// https://www.rfc-editor.org/rfc/rfc6960#appendix-A.1) and CRL downloads from HTTP distribution
// points (RFC 5280 §4.2.1.13, https://www.rfc-editor.org/rfc/rfc5280#section-4.2.1.13), through the
// same guarded transport as the registry client (oci HttpTransport): bounded bodies, link-local and
// cloud metadata addresses refused, every redirect hop checked. A certificate's URLs are as
// untrusted as a registry's Location header: whoever issued it chose them. Notary Project rules:
// https://github.com/notaryproject/specifications/blob/main/specs/trust-store-trust-policy.md#certificate-revocation-evaluation

import { RegistryError, VouchError } from '../core/index.js';
import { HttpTransport, type HttpRequest, type HttpResponse } from '../oci/index.js';

/** What revocation needs of a transport: oci's HttpTransport, or anything that sends like it. */
export interface RevocationTransport {
  send(req: HttpRequest): Promise<HttpResponse>;
}

export interface RevocationFetch {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: Uint8Array;
  /** Deadline for the whole exchange (connect, redirects, body), in ms. */
  timeoutMs: number;
  maxBytes: number;
  signal: AbortSignal | undefined;
  /** For messages: "CRL", "OCSP response". */
  what: string;
}

/** Redirects followed for a CRL download (OCSP POSTs are never redirected). */
export const MAX_REVOCATION_REDIRECTS = 3;

/**
 * Fetches revocation data. Every failure is a VouchError with a stable reason: the transport's
 * (TIMEOUT, SIZE_LIMIT, CONNECTION, ADDRESS_NOT_ALLOWED, REDIRECT_NOT_ALLOWED, DOWNGRADE, REDIRECT),
 * DENIED for a first URL on a host the rules do not allow, HTTP_STATUS for any answer but 200,
 * ABORTED when the caller gave up.
 */
export class RevocationFetcher {
  readonly #transport: RevocationTransport | undefined;
  readonly #isHostAllowed: (host: string) => boolean;
  readonly #defaultTimeoutMs: number;
  #ownTransport: HttpTransport | undefined;

  constructor(options: {
    transport?: RevocationTransport | undefined;
    isHostAllowed?: ((host: string) => boolean) | undefined;
    timeoutMs: number;
  }) {
    this.#transport = options.transport;
    this.#isHostAllowed = options.isHostAllowed ?? (() => true);
    this.#defaultTimeoutMs = options.timeoutMs;
  }

  async fetch(url: string, req: RevocationFetch): Promise<Uint8Array> {
    let target: URL;
    try {
      target = new URL(url);
    } catch (error) {
      throw new RegistryError('REGISTRY_UNAVAILABLE', `${req.what}: invalid URL ${JSON.stringify(url)}`, {
        reason: 'UNSUPPORTED',
        cause: error,
      });
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      throw new RegistryError('REGISTRY_UNAVAILABLE', `${req.what}: unsupported URL scheme ${target.protocol}`, {
        reason: 'UNSUPPORTED',
        url,
      });
    }
    if (!this.#isHostAllowed(target.host)) {
      throw new RegistryError(
        'REGISTRY_NOT_ALLOWED',
        `${req.what}: ${target.host} is not allowed by configuration (list "${target.host}" in revocation.allowedHosts to allow it)`,
        { reason: 'DENIED', url },
      );
    }
    if (req.signal?.aborted) throw aborted(req);
    // One deadline for the whole exchange; its reason is the typed error the transport rethrows.
    const deadline = new AbortController();
    const timer = setTimeout(
      () =>
        deadline.abort(
          new RegistryError('REGISTRY_UNAVAILABLE', `${req.what}: ${target.host} timed out after ${req.timeoutMs} ms`, {
            reason: 'TIMEOUT',
            url,
          }),
        ),
      req.timeoutMs,
    );
    const signal = req.signal ? AbortSignal.any([req.signal, deadline.signal]) : deadline.signal;
    let response: HttpResponse;
    try {
      response = await this.#sender().send({
        method: req.method,
        url: target,
        headers: req.headers,
        ...(req.body ? { body: req.body } : {}),
        maxBytes: req.maxBytes,
        signal,
        what: req.what,
      });
    } catch (error) {
      if (req.signal?.aborted) throw aborted(req, error);
      if (deadline.signal.aborted && deadline.signal.reason instanceof VouchError) throw deadline.signal.reason;
      if (error instanceof VouchError) throw error;
      throw new RegistryError('REGISTRY_UNAVAILABLE', `${req.what}: request to ${target.host} failed`, {
        reason: 'CONNECTION',
        url,
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
    if (response.status !== 200) {
      throw new RegistryError('REGISTRY_UNAVAILABLE', `${req.what}: ${response.url.host} answered HTTP ${response.status}`, {
        reason: 'HTTP_STATUS',
        status: response.status,
        url,
      });
    }
    return response.body;
  }

  /** Closes the transport this fetcher created (an injected one belongs to its owner). */
  async close(): Promise<void> {
    const own = this.#ownTransport;
    this.#ownTransport = undefined;
    await own?.close();
  }

  // Created on first use: an offline checker never opens a connection pool.
  #sender(): RevocationTransport {
    if (this.#transport) return this.#transport;
    this.#ownTransport ??= new HttpTransport({ timeoutMs: this.#defaultTimeoutMs, maxRedirects: MAX_REVOCATION_REDIRECTS });
    return this.#ownTransport;
  }
}

function aborted(req: RevocationFetch, cause?: unknown): VouchError {
  const reason: unknown = req.signal?.reason;
  if (reason instanceof VouchError) return reason;
  return new VouchError('DEADLINE_EXCEEDED', `${req.what}: aborted by the caller`, { reason: 'ABORTED', cause: cause ?? reason });
}
