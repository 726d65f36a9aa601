// Certificate revocation for Notary Project chains: OCSP (RFC 6960,
// https://www.rfc-editor.org/rfc/rfc6960) first when the certificate names a responder, falling
// back to CRLs (RFC 5280 §5 and §6.3, https://www.rfc-editor.org/rfc/rfc5280#section-6.3, base +
// delta) on any inconclusive answer, as the Notary Project asks
// (https://github.com/notaryproject/specifications/blob/main/specs/trust-store-trust-policy.md#certificate-revocation-evaluation)
// and notation-core-go's revocation package does. Network trouble never throws: it is an
// 'unknown' status with a detail and typed failures the caller can log. The parts:
// revocation-ocsp.ts, revocation-crl.ts (parse, validate, verdict), revocation-crl-cache.ts,
// revocation-local-crls.ts, revocation-fetch.ts (the guarded HTTP transport and host rules).

import * as pkijs from 'pkijs';
import { VouchError, errorMessage } from '../core/index.js';
import { moduleLogger, type Logger } from '../log.js';
import { OID, type Certificate } from '../trust/index.js';
import {
  revocationFailure,
  revokedVerdict,
  serialKey,
  unique,
  type CertificateRevocation,
  type RevocationFailure,
} from './revocation-common.js';
import { checkDeltaForBase, crlVerdict, distributionPointUrls, validateCrl, type CrlEntry, type ParsedCrl } from './revocation-crl.js';
import { CrlCache } from './revocation-crl-cache.js';
import { RevocationFetcher, type RevocationTransport } from './revocation-fetch.js';
import { LocalCrls } from './revocation-local-crls.js';
import { OcspClient } from './revocation-ocsp.js';

export type { CertificateRevocation, RevocationFailure, RevocationStatus } from './revocation-common.js';
export type { RevocationTransport } from './revocation-fetch.js';

/** Revocation checking goes to the network (OCSP, CRL downloads) unless configured offline. */
export const DEFAULT_REVOCATION_OFFLINE = false;

export interface RevocationOptions {
  /** Per OCSP responder request, in ms (spec default 2 s). */
  ocspTimeoutMs?: number;
  /** Per CRL download, in ms (spec default 5 s). */
  crlTimeoutMs?: number;
  /** Never go to the network: only cached or local CRLs. */
  offline?: boolean;
  /** CRLs to use before (or, offline, instead of) the network: DER/PEM bytes, or a directory of such files. Matched by issuer. */
  localCrls?: Uint8Array[] | string;
  /** Downloaded CRLs kept in memory, by URL, until their nextUpdate (LRU beyond this). */
  crlCacheMaxEntries?: number;
  /** Estimated heap bytes of the cached CRLs at most (default 256 MiB; LRU beyond this). */
  crlCacheMaxBytes?: number;
  /** Largest CRL accepted, in bytes (notation-core-go: 32 MiB). */
  maxCrlBytes?: number;
  /** Largest OCSP response accepted, in bytes. */
  maxOcspResponseBytes?: number;
  /** The clock for CRL/OCSP freshness and responder validity. */
  now?: () => Date;
  /**
   * Sends OCSP and CRL requests: an oci HttpTransport built with the egress rules (redirect hosts,
   * exempt addresses). Default: one the checker creates on first use, allowing every host but
   * link-local and cloud metadata addresses; close() closes it.
   */
  transport?: RevocationTransport;
  /**
   * Whether an OCSP responder or CRL distribution point on `host` (URL.host form) may be contacted
   * at all; redirect hops are the transport's to check. A refused URL is an 'unknown' status
   * (reason DENIED). Default: every host.
   */
  isHostAllowed?: (host: string) => boolean;
  logger?: Logger;
}

export interface CheckChainOptions {
  signal?: AbortSignal;
  /**
   * notary.x509.signingAuthority: a revocation whose invalidity date (else revocation date) is
   * after this time does not count, the certificate was not revoked when it signed.
   */
  authenticSigningTime?: Date;
  /** Overrides the checker's `offline` for this call (e.g. a cache warmed online, read offline). */
  offline?: boolean;
}

const OID_OCSP = '1.3.6.1.5.5.7.48.1';

interface CheckContext {
  signal: AbortSignal | undefined;
  signingTime: Date | undefined;
  offline: boolean;
}

interface RevocationPoints {
  ocsp: string[];
  hasCdp: boolean;
  crl: string[];
  freshest: string[];
}

type Found<T> = ({ failures: RevocationFailure[] } & T) | { error: string; failures: RevocationFailure[] };

/**
 * pkijs parses of certificates, shared by every checker: Certificate instances are immutable and
 * reused through the engine's certificate cache (Certificate.fromDer), and a parse costs ~0.3 ms.
 * Weak maps: a memo lives exactly as long as its certificate, so they need no bound or clearing.
 */
const pkijsParses = new WeakMap<Certificate, pkijs.Certificate>();
/** OCSP URLs and CRL distribution points per certificate, read once. */
const revocationPointsOf = new WeakMap<Certificate, RevocationPoints>();

/**
 * Checks the revocation status of every non-root certificate of a chain. One instance keeps the
 * CRL cache; share it across verifications.
 */
export class RevocationChecker {
  readonly #offline: boolean;
  readonly #crlTimeoutMs: number;
  readonly #maxCrlBytes: number;
  readonly #now: () => Date;
  readonly #fetcher: RevocationFetcher;
  readonly #ocsp: OcspClient;
  readonly #cache: CrlCache;
  readonly #local: LocalCrls;
  readonly #log: Logger;

  constructor(options: RevocationOptions = {}) {
    const ocspTimeoutMs = options.ocspTimeoutMs ?? 2_000;
    this.#crlTimeoutMs = options.crlTimeoutMs ?? 5_000;
    this.#offline = options.offline ?? DEFAULT_REVOCATION_OFFLINE;
    this.#maxCrlBytes = options.maxCrlBytes ?? 32 * 1024 * 1024;
    this.#now = options.now ?? (() => new Date());
    this.#log = options.logger ?? moduleLogger('notation.revocation');
    this.#fetcher = new RevocationFetcher({
      transport: options.transport,
      isHostAllowed: options.isHostAllowed,
      timeoutMs: Math.max(ocspTimeoutMs, this.#crlTimeoutMs),
    });
    this.#ocsp = new OcspClient({
      fetcher: this.#fetcher,
      timeoutMs: ocspTimeoutMs,
      maxResponseBytes: options.maxOcspResponseBytes ?? 64 * 1024,
      now: this.#now,
    });
    this.#cache = new CrlCache({
      maxEntries: options.crlCacheMaxEntries ?? 256,
      maxBytes: options.crlCacheMaxBytes ?? 256 * 1024 * 1024,
      now: this.#now,
    });
    this.#local = new LocalCrls(options.localCrls, this.#log);
  }

  /**
   * Returns one result per certificate, in chain order. The last certificate (the root) is not
   * checked and is reported nonRevocable. `chain` must already be a valid chain (leaf → root);
   * a certificate not issued by its successor is a programming error (INVALID_INPUT).
   */
  async checkChain(chain: Certificate[], options: CheckChainOptions = {}): Promise<CertificateRevocation[]> {
    if (chain.length === 0) throw new VouchError('INVALID_INPUT', 'revocation: empty certificate chain', { reason: 'BAD_CONTENT' });
    for (let i = 0; i + 1 < chain.length; i++) {
      const cert = chain[i]!;
      const issuer = chain[i + 1]!;
      if (!cert.isIssuedBy(issuer)) {
        throw new VouchError('INVALID_INPUT', `revocation: certificate "${cert.subject}" is not issued by "${issuer.subject}"`, {
          reason: 'BAD_CONTENT',
        });
      }
    }
    const context: CheckContext = {
      signal: options.signal,
      signingTime: options.authenticSigningTime,
      offline: options.offline ?? this.#offline,
    };
    return Promise.all(
      chain.map((cert, i) => {
        const issuer = chain[i + 1];
        if (issuer === undefined)
          return { certificate: cert, status: 'nonRevocable', detail: 'root certificate: not checked' } as CertificateRevocation;
        return this.#checkCertificate(cert, issuer, context);
      }),
    );
  }

  /** Forgets every downloaded CRL (local CRLs are configuration and stay). */
  clearCache(): void {
    this.#cache.clear();
  }

  /** Closes the transport the checker created (an injected one belongs to its owner). */
  async close(): Promise<void> {
    await this.#fetcher.close();
  }

  // Whatever a parser throws on odd certificates or answers is an inconclusive check, not a crash.
  async #checkCertificate(cert: Certificate, issuer: Certificate, context: CheckContext): Promise<CertificateRevocation> {
    try {
      return await this.#checkRevocable(cert, issuer, context);
    } catch (error) {
      this.#log.error({ subject: cert.subject, err: errorMessage(error) }, 'revocation check failed unexpectedly');
      return { certificate: cert, status: 'unknown', detail: `revocation check failed: ${errorMessage(error)}` };
    }
  }

  // One certificate: OCSP, then CRL on anything inconclusive, else non-revocable.
  async #checkRevocable(cert: Certificate, issuer: Certificate, context: CheckContext): Promise<CertificateRevocation> {
    let points = revocationPointsOf.get(cert);
    if (points === undefined) {
      try {
        points = namesRevocationPoints(cert) ? revocationPoints(pkijsOf(cert)) : { ocsp: [], hasCdp: false, crl: [], freshest: [] };
      } catch (error) {
        return { certificate: cert, status: 'unknown', detail: errorMessage(error) };
      }
      revocationPointsOf.set(cert, points);
    }
    if (points.ocsp.length === 0 && !points.hasCdp) {
      return { certificate: cert, status: 'nonRevocable', detail: 'no OCSP responder and no CRL distribution point' };
    }

    const notes: string[] = [];
    const failures: RevocationFailure[] = [];
    if (points.ocsp.length > 0) {
      if (context.offline) {
        notes.push('OCSP not attempted (offline)');
      } else {
        const ocsp = await this.#ocsp.check({
          cert,
          certPk: pkijsOf(cert),
          issuer,
          issuerPk: pkijsOf(issuer),
          urls: points.ocsp,
          signal: context.signal,
          signingTime: context.signingTime,
        });
        if (ocsp.status !== 'unknown') return ocsp;
        notes.push(`OCSP check failed: ${ocsp.detail ?? 'unknown status'}`);
        failures.push(...(ocsp.failures ?? []));
        if (points.hasCdp) this.#log.debug({ subject: cert.subject }, 'OCSP check failed with unknown error and fallback to CRL check');
      }
      if (!points.hasCdp) return withFailures({ certificate: cert, status: 'unknown', method: 'ocsp', detail: notes.join('; ') }, failures);
    }
    const crl = await this.#checkCrl(cert, issuer, points, context);
    failures.push(...(crl.failures ?? []));
    const detail = [...notes, crl.detail].filter((d) => d !== undefined && d !== '').join('; ');
    return withFailures(detail === '' ? crl : { ...crl, detail }, failures);
  }

  // -------------------------------------------------------------------------------------------
  // CRL: a base CRL (cached, local, downloaded), a delta when one is named, then the verdict

  async #checkCrl(cert: Certificate, issuer: Certificate, points: RevocationPoints, context: CheckContext): Promise<CertificateRevocation> {
    const failures: RevocationFailure[] = [];
    const unknown = (detail: string): CertificateRevocation =>
      withFailures({ certificate: cert, status: 'unknown', method: 'crl', detail }, failures);
    const base = await this.#baseCrl(issuer, points.crl, context);
    failures.push(...base.failures);
    if ('error' in base) return unknown(base.error);

    // Delta CRLs (FreshestCRL, 2.5.29.46) named by the certificate or by the base CRL
    const deltaUrls = unique([...points.freshest, ...base.crl.freshestUrls]);
    let delta: ParsedCrl | undefined;
    if (deltaUrls.length > 0) {
      const found = await this.#deltaCrl(issuer, base.crl, deltaUrls, context);
      failures.push(...found.failures);
      if ('error' in found) return unknown(`delta CRL: ${found.error}`);
      delta = found.crl;
    }

    let verdict: { entry?: CrlEntry; skipped?: CrlEntry };
    try {
      verdict = crlVerdict(serialKey(pkijsOf(cert).serialNumber), base.crl, delta, context.signingTime);
    } catch (error) {
      return unknown(`${base.source}: ${errorMessage(error)}`);
    }
    const source = delta ? `${base.source} with delta CRL` : base.source;
    if (verdict.entry) {
      const { revocationDate, invalidityDate } = verdict.entry;
      return withFailures(revokedVerdict(cert, 'crl', revocationDate, invalidityDate, undefined, `CRL ${source}`), failures);
    }
    if (verdict.skipped) {
      const { revocationDate, invalidityDate } = verdict.skipped;
      return withFailures(revokedVerdict(cert, 'crl', revocationDate, invalidityDate, context.signingTime, `CRL ${source}`), failures);
    }
    return withFailures({ certificate: cert, status: 'good', method: 'crl', detail: `CRL ${source}: not revoked` }, failures);
  }

  // Cached by URL, then local CRLs of the issuer, then (online) the distribution points in order.
  async #baseCrl(issuer: Certificate, urls: string[], context: CheckContext): Promise<Found<{ crl: ParsedCrl; source: string }>> {
    const problems: string[] = [];
    const failures: RevocationFailure[] = [];
    for (const url of urls) {
      const cached = this.#cache.get(url, issuer);
      if (cached && !cached.isDelta) return { crl: cached, source: `${url} (cached)`, failures };
    }
    const local = await this.#local.freshest(issuer, false, this.#now(), problems);
    if (local) return { crl: local, source: 'local CRL', failures };

    const httpUrls = urls.filter((u) => u.startsWith('http://'));
    if (context.offline) return { error: ['offline: no cached or local CRL for the issuer', ...problems].join('; '), failures };
    if (httpUrls.length === 0) return { error: ['no HTTP CRL distribution point', ...problems].join('; '), failures };
    for (const url of httpUrls) {
      try {
        const crl = await this.#download(url, issuer, context);
        if (crl.isDelta) throw new Error('the distribution point serves a delta CRL');
        return { crl, source: url, failures };
      } catch (error) {
        problems.push(`failed to download CRL from ${url}: ${errorMessage(error)}`);
        failures.push(revocationFailure('crl', url, error));
      }
    }
    return { error: problems.join('; '), failures };
  }

  async #deltaCrl(issuer: Certificate, base: ParsedCrl, urls: string[], context: CheckContext): Promise<Found<{ crl: ParsedCrl }>> {
    const problems: string[] = [];
    const failures: RevocationFailure[] = [];
    for (const url of urls) {
      const cached = this.#cache.get(url, issuer);
      if (cached) {
        try {
          checkDeltaForBase(cached, base);
          return { crl: cached, failures };
        } catch (error) {
          problems.push(`${url} (cached): ${errorMessage(error)}`);
        }
      }
    }
    for (const candidate of await this.#local.candidates(issuer, true)) {
      try {
        validateCrl(candidate, issuer, this.#now());
        checkDeltaForBase(candidate, base);
        return { crl: candidate, failures };
      } catch (error) {
        problems.push(`local delta CRL: ${errorMessage(error)}`);
      }
    }
    if (context.offline) return { error: ['offline: no cached or local delta CRL for the issuer', ...problems].join('; '), failures };
    const httpUrls = urls.filter((u) => u.startsWith('http://'));
    if (httpUrls.length === 0) problems.push('no HTTP delta CRL distribution point');
    for (const url of httpUrls) {
      try {
        const crl = await this.#download(url, issuer, context);
        checkDeltaForBase(crl, base);
        return { crl, failures };
      } catch (error) {
        problems.push(`failed to download delta CRL from ${url}: ${errorMessage(error)}`);
        failures.push(revocationFailure('crl', url, error));
      }
    }
    return { error: problems.join('; '), failures };
  }

  #download(url: string, issuer: Certificate, context: CheckContext): Promise<ParsedCrl> {
    return this.#cache.download(url, issuer, () =>
      this.#fetcher.fetch(url, {
        method: 'GET',
        headers: { accept: 'application/pkix-crl, application/x-pkcs7-crl, */*' },
        timeoutMs: this.#crlTimeoutMs,
        maxBytes: this.#maxCrlBytes,
        signal: context.signal,
        what: 'CRL',
      }),
    );
  }
}

function withFailures(result: CertificateRevocation, failures: RevocationFailure[]): CertificateRevocation {
  return failures.length === 0 ? result : { ...result, failures };
}

function pkijsOf(cert: Certificate): pkijs.Certificate {
  let parsed = pkijsParses.get(cert);
  if (parsed === undefined) {
    parsed = pkijs.Certificate.fromBER(cert.der);
    pkijsParses.set(cert, parsed);
  }
  return parsed;
}

/**
 * False when the certificate has none of the extensions revocationPoints reads (AIA, CDP,
 * FreshestCRL), judged from the extension list the chain rules already parsed: such a certificate
 * is non-revocable without a third ASN.1 parse (pkijs), the larger part of a first-seen chain's cost.
 * True when the list cannot be read, leaving the verdict to revocationPoints.
 */
function namesRevocationPoints(cert: Certificate): boolean {
  try {
    return cert.parsed.extensions.some(
      (ext) => ext.type === OID.authorityInfoAccess || ext.type === OID.crlDistributionPoints || ext.type === OID.freshestCrl,
    );
  } catch {
    return true;
  }
}

/** AIA OCSP URLs, CDP URLs and FreshestCRL URLs of a certificate (pkijs parses the extensions). */
function revocationPoints(cert: pkijs.Certificate): RevocationPoints {
  const out: RevocationPoints = { ocsp: [], hasCdp: false, crl: [], freshest: [] };
  for (const ext of cert.extensions ?? []) {
    if (ext.extnID === OID.authorityInfoAccess) {
      const value = ext.parsedValue as (pkijs.InfoAccess & { parsingError?: string }) | undefined;
      if (!(value instanceof pkijs.InfoAccess) || value.parsingError) throw new Error('malformed authority information access extension');
      for (const d of value.accessDescriptions) {
        if (d.accessMethod === OID_OCSP && d.accessLocation.type === 6 && /^https?:\/\//i.test(String(d.accessLocation.value))) {
          out.ocsp.push(String(d.accessLocation.value));
        }
      }
    } else if (ext.extnID === OID.crlDistributionPoints || ext.extnID === OID.freshestCrl) {
      const value = ext.parsedValue as (pkijs.CRLDistributionPoints & { parsingError?: string }) | undefined;
      const which = ext.extnID === OID.crlDistributionPoints ? 'CRL distribution points' : 'freshest CRL';
      if (!(value instanceof pkijs.CRLDistributionPoints) || value.parsingError) throw new Error(`malformed ${which} extension`);
      const urls = distributionPointUrls(value);
      if (ext.extnID === OID.crlDistributionPoints) {
        out.hasCdp = true;
        out.crl.push(...urls);
      } else {
        out.freshest.push(...urls.filter((u) => u.startsWith('http://')));
      }
    }
  }
  out.ocsp = unique(out.ocsp);
  out.crl = unique(out.crl);
  out.freshest = unique(out.freshest);
  return out;
}
