// Downloaded CRLs, by distribution point URL, kept until their nextUpdate (RFC 5280 §5.1.2.5,
// https://www.rfc-editor.org/rfc/rfc5280#section-5.1.2.5) in the one bounded cache of core (LRU
// by entries and estimated heap bytes). A CRL's signature is verified once per issuer that asks.
// Concurrent checks needing the same URL share one download. Notary Project rules:
// https://github.com/notaryproject/specifications/blob/main/specs/trust-store-trust-policy.md#certificate-revocation-evaluation

import { BoundedCache } from '../core/index.js';
import type { Certificate } from '../trust/index.js';
import { estimateCrlBytes, parseCrl, validateCrl, type ParsedCrl } from './revocation-crl.js';

interface CachedCrl {
  crl: ParsedCrl;
  /** SHA-256 fingerprints of issuers the CRL signature was verified against. */
  verifiedFor: Set<string>;
}

export interface CrlCacheOptions {
  maxEntries: number;
  maxBytes: number;
  now: () => Date;
}

export class CrlCache {
  readonly #cache: BoundedCache<CachedCrl>;
  readonly #inflight = new Map<string, Promise<ParsedCrl>>();
  readonly #now: () => Date;

  constructor(options: CrlCacheOptions) {
    this.#now = options.now;
    this.#cache = new BoundedCache<CachedCrl>({
      maxEntries: options.maxEntries,
      maxBytes: options.maxBytes,
      sizeOf: (entry) => estimateCrlBytes(entry.crl),
      now: () => options.now().getTime(),
    });
  }

  /** A cached CRL for `url`, still current and verified against `issuer` (verified once per issuer). */
  get(url: string, issuer: Certificate): ParsedCrl | undefined {
    const entry = this.#cache.get(url);
    if (entry === undefined) return undefined;
    const now = this.#now();
    if (entry.crl.nextUpdate === undefined || now > entry.crl.nextUpdate) {
      this.#cache.delete(url);
      return undefined;
    }
    const key = issuer.sha256Fingerprint;
    if (!entry.verifiedFor.has(key)) {
      try {
        validateCrl(entry.crl, issuer, now);
      } catch {
        return undefined;
      }
      entry.verifiedFor.add(key);
    }
    return entry.crl;
  }

  /**
   * Downloads (`fetch`), parses and validates the CRL at `url` for `issuer`, and keeps it.
   * Concurrent calls for one URL share the download and parse; each validates for its issuer.
   */
  async download(url: string, issuer: Certificate, fetch: () => Promise<Uint8Array>): Promise<ParsedCrl> {
    let pending = this.#inflight.get(url);
    if (pending === undefined) {
      pending = fetch()
        .then((bytes) => parseCrl(bytes))
        .finally(() => this.#inflight.delete(url));
      this.#inflight.set(url, pending);
    }
    const crl = await pending;
    validateCrl(crl, issuer, this.#now());
    this.#cache.set(url, { crl, verifiedFor: new Set([issuer.sha256Fingerprint]) });
    return crl;
  }

  /** Forgets every downloaded CRL. */
  clear(): void {
    this.#cache.clear();
  }
}
