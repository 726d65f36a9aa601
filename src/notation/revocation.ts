// Certificate revocation for Notary Project chains: OCSP (RFC 6960) first when the certificate
// names a responder, falling back to CRLs (RFC 5280, base + delta) on any inconclusive answer, as
// trust-store-trust-policy.md "Revocation" and notation-core-go's revocation package do. Network
// trouble never throws: it is an 'unknown' status with a detail the caller can log.

import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request, type Dispatcher } from 'undici';
import { BoundedCache, VouchError, errorMessage } from '../core/index.js';
import { moduleLogger } from '../log.js';
import { Certificate, KEY_USAGE, OID } from '../trust/index.js';
import { HASH_BY_OID, HASH_OID, verifyPkixSignature, type HashName } from './timestamp.js';

export type RevocationStatus = 'good' | 'revoked' | 'unknown' | 'nonRevocable';

/** The revocation verdict for one certificate of a chain. */
export interface CertificateRevocation {
  certificate: Certificate;
  status: RevocationStatus;
  /** The method that produced the status (absent for nonRevocable). */
  method?: 'ocsp' | 'crl';
  /** Set whenever a revocation entry was found, also when it postdates the authentic signing time. */
  revokedAt?: Date;
  invalidityDate?: Date;
  /** Why the status is what it is: fallbacks taken, errors met, the rule applied. */
  detail?: string;
}

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
  /** undici dispatcher for OCSP/CRL requests (tests, proxies); the global one by default. */
  dispatcher?: Dispatcher;
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
const OID_OCSP_BASIC = '1.3.6.1.5.5.7.48.1.1';
const OID_CRL_NUMBER = '2.5.29.20';
const OID_CRL_REASON = '2.5.29.21';
const OID_INVALIDITY_DATE = '2.5.29.24';
const OID_DELTA_CRL_INDICATOR = '2.5.29.27';
const OID_ISSUING_DISTRIBUTION_POINT = '2.5.29.28';
const OID_CERTIFICATE_ISSUER = '2.5.29.29';
const OID_AUTHORITY_KEY_IDENTIFIER = '2.5.29.35';
const REASON_CERTIFICATE_HOLD = 6;
const REASON_REMOVE_FROM_CRL = 8;
const OCSP_RESPONSE_STATUS = ['successful', 'malformedRequest', 'internalError', 'tryLater', '(unused)', 'sigRequired', 'unauthorized'];
/** Tolerated clock difference for an OCSP thisUpdate slightly in the future. */
const CLOCK_SKEW_MS = 5 * 60_000;
const MAX_REDIRECTS = 3;

/**
 * Checks the revocation status of every non-root certificate of a chain. One instance keeps the
 * CRL cache; share it across verifications.
 */
/**
 * pkijs parses of certificates, shared by every checker: Certificate instances are immutable and
 * reused through the engine's certificate cache (Certificate.fromDer), and a parse costs ~0.3 ms.
 * Weak maps: a memo lives exactly as long as its certificate, so they need no bound or clearing.
 */
const pkijsParses = new WeakMap<Certificate, pkijs.Certificate>();
/** OCSP URLs and CRL distribution points per certificate, read once. */
const revocationPointsOf = new WeakMap<Certificate, RevocationPoints>();

export class RevocationChecker {
  readonly #options: Required<Omit<RevocationOptions, 'dispatcher' | 'localCrls'>> & Pick<RevocationOptions, 'dispatcher'>;
  readonly #localSource: Uint8Array[] | string | undefined;
  #local: Promise<ParsedCrl[]> | undefined;
  readonly #cache: BoundedCache<CachedCrl>;
  readonly #inflight = new Map<string, Promise<ParsedCrl>>();
  readonly #log = moduleLogger('notation.revocation');

  constructor(options: RevocationOptions = {}) {
    this.#options = {
      ocspTimeoutMs: options.ocspTimeoutMs ?? 2_000,
      crlTimeoutMs: options.crlTimeoutMs ?? 5_000,
      offline: options.offline ?? DEFAULT_REVOCATION_OFFLINE,
      crlCacheMaxEntries: options.crlCacheMaxEntries ?? 256,
      crlCacheMaxBytes: options.crlCacheMaxBytes ?? 256 * 1024 * 1024,
      maxCrlBytes: options.maxCrlBytes ?? 32 * 1024 * 1024,
      maxOcspResponseBytes: options.maxOcspResponseBytes ?? 64 * 1024,
      now: options.now ?? (() => new Date()),
      dispatcher: options.dispatcher,
    };
    this.#cache = new BoundedCache<CachedCrl>({
      maxEntries: this.#options.crlCacheMaxEntries,
      maxBytes: this.#options.crlCacheMaxBytes,
      sizeOf: (entry) => estimateCrlBytes(entry.crl),
      now: () => this.#options.now().getTime(),
    });
    this.#localSource = options.localCrls;
    // Bytes handed in directly are configuration: fail now rather than at the first check
    if (Array.isArray(options.localCrls)) {
      const parsed = options.localCrls.flatMap((bytes, i) => {
        try {
          return splitCrls(bytes).map((der) => parseCrl(der));
        } catch (error) {
          throw new VouchError('INVALID_CONFIG', `local CRL ${i}: ${errorMessage(error)}`, { reason: 'BAD_CONTENT', cause: error });
        }
      });
      this.#local = Promise.resolve(parsed);
    }
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
      offline: options.offline ?? this.#options.offline,
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
        points = revocationPoints(this.#pk(cert));
      } catch (error) {
        return { certificate: cert, status: 'unknown', detail: errorMessage(error) };
      }
      revocationPointsOf.set(cert, points);
    }
    if (points.ocsp.length === 0 && !points.hasCdp) {
      return { certificate: cert, status: 'nonRevocable', detail: 'no OCSP responder and no CRL distribution point' };
    }

    const notes: string[] = [];
    if (points.ocsp.length > 0) {
      if (context.offline) {
        notes.push('OCSP not attempted (offline)');
      } else {
        const ocsp = await this.#checkOcsp(cert, issuer, points.ocsp, context);
        if (ocsp.status !== 'unknown') return ocsp;
        notes.push(`OCSP check failed: ${ocsp.detail ?? 'unknown status'}`);
        if (points.hasCdp) this.#log.debug({ subject: cert.subject }, 'OCSP check failed with unknown error and fallback to CRL check');
      }
      if (!points.hasCdp) return { certificate: cert, status: 'unknown', method: 'ocsp', detail: notes.join('; ') };
    }
    const crl = await this.#checkCrl(cert, issuer, points, context);
    const detail = [...notes, crl.detail].filter((d) => d !== undefined && d !== '').join('; ');
    return detail === '' ? crl : { ...crl, detail };
  }

  #pk(cert: Certificate): pkijs.Certificate {
    let parsed = pkijsParses.get(cert);
    if (parsed === undefined) {
      parsed = pkijs.Certificate.fromBER(cert.der);
      pkijsParses.set(cert, parsed);
    }
    return parsed;
  }

  // -------------------------------------------------------------------------------------------
  // OCSP

  // Try the responders in order; good or revoked ends it, errors and "unknown" try the next.
  async #checkOcsp(cert: Certificate, issuer: Certificate, urls: string[], context: CheckContext): Promise<CertificateRevocation> {
    const requestId = ocspCertId(this.#pk(cert), issuer, this.#pk(issuer));
    const body = ocspRequestDer(requestId);
    const errors: string[] = [];
    for (const url of urls) {
      let bytes: Uint8Array;
      try {
        bytes = await this.#fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/ocsp-request', accept: 'application/ocsp-response' },
          body,
          timeoutMs: this.#options.ocspTimeoutMs,
          maxBytes: this.#options.maxOcspResponseBytes,
          signal: context.signal,
          followRedirects: false,
        });
      } catch (error) {
        errors.push(`${url}: ${errorMessage(error)}`);
        continue;
      }
      let single: OcspAnswer;
      try {
        single = this.#evaluateOcspResponse(bytes, requestId, issuer);
      } catch (error) {
        errors.push(`${url}: ${errorMessage(error)}`);
        continue;
      }
      if (single.status === 'unknown') {
        errors.push(`${url}: the responder does not know the certificate`);
        continue;
      }
      const notes = single.notes.length > 0 ? `; ${single.notes.join('; ')}` : '';
      if (single.status === 'good') return { certificate: cert, status: 'good', method: 'ocsp', detail: `OCSP ${url}: good${notes}` };
      const verdict = revokedVerdict(cert, 'ocsp', single.revokedAt, single.invalidityDate, context.signingTime, `OCSP ${url}`);
      return { ...verdict, detail: `${verdict.detail ?? ''}${notes}` };
    }
    return { certificate: cert, status: 'unknown', method: 'ocsp', detail: errors.join('; ') };
  }

  /** Parses and verifies an OCSP response for the certificate `id` names (RFC 6960 §3.2). */
  #evaluateOcspResponse(bytes: Uint8Array, id: OcspCertId, issuer: Certificate): OcspAnswer {
    const now = this.#options.now();
    const decoded = asn1js.fromBER(new Uint8Array(bytes).buffer);
    if (decoded.offset === -1) throw new Error('malformed OCSP response');
    let response: pkijs.OCSPResponse;
    try {
      response = new pkijs.OCSPResponse({ schema: decoded.result });
    } catch {
      throw new Error('malformed OCSP response');
    }
    const status = response.responseStatus.valueBlock.valueDec;
    if (status !== 0) throw new Error(`OCSP responder answered ${OCSP_RESPONSE_STATUS[status] ?? `status ${status}`}`);
    if (response.responseBytes === undefined || response.responseBytes.responseType !== OID_OCSP_BASIC) {
      throw new Error('OCSP response is not a basic OCSP response');
    }
    let basic: pkijs.BasicOCSPResponse;
    try {
      const inner = asn1js.fromBER(new Uint8Array(response.responseBytes.response.valueBlock.valueHexView).buffer);
      if (inner.offset === -1) throw new Error(inner.result.error);
      basic = new pkijs.BasicOCSPResponse({ schema: inner.result });
    } catch {
      throw new Error('malformed basic OCSP response');
    }

    // The signer: the issuing CA itself, or a responder it delegated to (EKU OCSPSigning)
    const notes: string[] = [];
    const tbs = new Uint8Array(basic.tbsResponseData.tbsView);
    const signature = new Uint8Array(basic.signature.valueBlock.valueHexView);
    const signedBy = (key: Certificate): boolean => {
      try {
        return verifyPkixSignature(basic.signatureAlgorithm, tbs, signature, key.publicKey);
      } catch {
        return false;
      }
    };
    if (!signedBy(issuer)) {
      const refusals: string[] = [];
      let delegated: Certificate | undefined;
      for (const [i, item] of (basic.certs ?? []).entries()) {
        let candidate: Certificate;
        try {
          candidate = Certificate.fromDer(new Uint8Array(item.toSchema().toBER(false)), `OCSP responder certificate ${i}`);
        } catch {
          continue;
        }
        if (!signedBy(candidate)) continue;
        if (!candidate.isIssuedBy(issuer)) {
          refusals.push(`responder "${candidate.subject}" is not issued by "${issuer.subject}"`);
          continue;
        }
        if (!(candidate.extendedKeyUsage?.usages.map(String) ?? []).includes(OID.ocspSigning)) {
          refusals.push(`responder "${candidate.subject}" lacks the id-kp-OCSPSigning extended key usage`);
          continue;
        }
        if (now < candidate.notBefore || now > candidate.notAfter) {
          refusals.push(`responder "${candidate.subject}" is not valid at ${now.toISOString()}`);
          continue;
        }
        delegated = candidate;
        break;
      }
      if (delegated === undefined) {
        throw new Error(
          `OCSP response is not signed by the issuing CA or an authorized responder${refusals.length ? ` (${refusals.join('; ')})` : ''}`,
        );
      }
      if (!delegated.parsed.extensions.some((e) => e.type === OID.ocspNoCheck)) {
        // notation checks such a responder through CRL; we accept it as RFC 6960 §4.2.2.2.1 allows
        notes.push(`delegated responder "${delegated.subject}" lacks id-pkix-ocsp-nocheck; its own revocation status was not checked`);
      }
    }
    for (const ext of basic.tbsResponseData.responseExtensions ?? []) {
      if (ext.critical) throw new Error(`unsupported critical extension ${ext.extnID} in OCSP response`);
    }

    // The single response for our certificate
    const single = basic.tbsResponseData.responses.find((r) => certIdMatches(r.certID, id));
    if (single === undefined) throw new Error('OCSP response does not cover the certificate');
    if (single.thisUpdate.getTime() > now.getTime() + CLOCK_SKEW_MS) {
      throw new Error(`OCSP response is not yet valid (thisUpdate ${single.thisUpdate.toISOString()})`);
    }
    if (single.nextUpdate !== undefined && now > single.nextUpdate) {
      throw new Error(`expired OCSP response. Current time ${now.toISOString()} is after NextUpdate ${single.nextUpdate.toISOString()}`);
    }
    let invalidityDate: Date | undefined;
    for (const ext of single.singleExtensions ?? []) {
      if (ext.extnID === OID_INVALIDITY_DATE) invalidityDate = asnDate(ext.parsedValue);
      else if (ext.critical) throw new Error(`unsupported critical extension ${ext.extnID} in OCSP single response`);
    }
    const certStatus = single.certStatus as asn1js.BaseBlock;
    switch (certStatus.idBlock.tagClass === 3 ? certStatus.idBlock.tagNumber : -1) {
      case 0:
        return { status: 'good', notes };
      case 1: {
        const revokedAt = asnDate((certStatus as asn1js.Constructed).valueBlock.value[0]);
        if (revokedAt === undefined) throw new Error('malformed revoked status in OCSP response');
        return { status: 'revoked', revokedAt, ...(invalidityDate ? { invalidityDate } : {}), notes };
      }
      case 2:
        return { status: 'unknown', notes };
      default:
        throw new Error('malformed certificate status in OCSP response');
    }
  }

  // -------------------------------------------------------------------------------------------
  // CRL

  async #checkCrl(cert: Certificate, issuer: Certificate, points: RevocationPoints, context: CheckContext): Promise<CertificateRevocation> {
    const unknown = (detail: string): CertificateRevocation => ({ certificate: cert, status: 'unknown', method: 'crl', detail });
    const base = await this.#baseCrl(issuer, points.crl, context);
    if ('error' in base) return unknown(base.error);

    // Delta CRLs (FreshestCRL, 2.5.29.46) named by the certificate or by the base CRL
    const deltaUrls = unique([...points.freshest, ...base.crl.freshestUrls]);
    let delta: ParsedCrl | undefined;
    if (deltaUrls.length > 0) {
      const found = await this.#deltaCrl(issuer, base.crl, deltaUrls, context);
      if ('error' in found) return unknown(`delta CRL: ${found.error}`);
      delta = found.crl;
    }

    let verdict: { entry?: CrlEntry; skipped?: CrlEntry };
    try {
      verdict = crlVerdict(serialKey(this.#pk(cert).serialNumber), base.crl, delta, context.signingTime);
    } catch (error) {
      return unknown(`${base.source}: ${errorMessage(error)}`);
    }
    const source = delta ? `${base.source} with delta CRL` : base.source;
    if (verdict.entry)
      return revokedVerdict(cert, 'crl', verdict.entry.revocationDate, verdict.entry.invalidityDate, undefined, `CRL ${source}`);
    if (verdict.skipped) {
      return revokedVerdict(
        cert,
        'crl',
        verdict.skipped.revocationDate,
        verdict.skipped.invalidityDate,
        context.signingTime,
        `CRL ${source}`,
      );
    }
    return { certificate: cert, status: 'good', method: 'crl', detail: `CRL ${source}: not revoked` };
  }

  // Cached by URL, then local CRLs of the issuer, then (online) the distribution points in order.
  async #baseCrl(
    issuer: Certificate,
    urls: string[],
    context: CheckContext,
  ): Promise<{ crl: ParsedCrl; source: string } | { error: string }> {
    const problems: string[] = [];
    for (const url of urls) {
      const cached = this.#cached(url, issuer);
      if (cached && !cached.isDelta) return { crl: cached, source: `${url} (cached)` };
    }
    const local = await this.#localFor(issuer, false, problems);
    if (local) return { crl: local, source: 'local CRL' };

    const httpUrls = urls.filter((u) => u.startsWith('http://'));
    if (context.offline) {
      return { error: ['offline: no cached or local CRL for the issuer', ...problems].join('; ') };
    }
    if (httpUrls.length === 0) return { error: ['no HTTP CRL distribution point', ...problems].join('; ') };
    for (const url of httpUrls) {
      try {
        const crl = await this.#download(url, issuer, context);
        if (crl.isDelta) throw new Error('the distribution point serves a delta CRL');
        return { crl, source: url };
      } catch (error) {
        problems.push(`failed to download CRL from ${url}: ${errorMessage(error)}`);
      }
    }
    return { error: problems.join('; ') };
  }

  async #deltaCrl(
    issuer: Certificate,
    base: ParsedCrl,
    urls: string[],
    context: CheckContext,
  ): Promise<{ crl: ParsedCrl } | { error: string }> {
    const problems: string[] = [];
    const accept = (delta: ParsedCrl): void => {
      if (!delta.isDelta) throw new Error('not a delta CRL (no Delta CRL Indicator)');
      if (base.crlNumber === undefined) throw new Error('the base CRL has no CRL number');
      if (delta.crlNumber === undefined || delta.crlNumber <= base.crlNumber) {
        throw new Error(`delta CRL number ${delta.crlNumber ?? 'absent'} is not greater than the base CRL number ${base.crlNumber}`);
      }
      if (delta.baseCrlNumber! > base.crlNumber) {
        throw new Error(`delta CRL indicator ${delta.baseCrlNumber} is greater than the base CRL number ${base.crlNumber}`);
      }
    };
    for (const url of urls) {
      const cached = this.#cached(url, issuer);
      if (cached) {
        try {
          accept(cached);
          return { crl: cached };
        } catch (error) {
          problems.push(`${url} (cached): ${errorMessage(error)}`);
        }
      }
    }
    const localDeltas = (await this.#localCrls()).filter((c) => c.isDelta && c.issuerName.equals(Buffer.from(issuer.rawSubject)));
    for (const candidate of localDeltas.sort((a, b) => Number((b.crlNumber ?? 0n) - (a.crlNumber ?? 0n)))) {
      try {
        validateCrl(candidate, issuer, this.#options.now());
        accept(candidate);
        return { crl: candidate };
      } catch (error) {
        problems.push(`local delta CRL: ${errorMessage(error)}`);
      }
    }
    if (context.offline) return { error: ['offline: no cached or local delta CRL for the issuer', ...problems].join('; ') };
    const httpUrls = urls.filter((u) => u.startsWith('http://'));
    if (httpUrls.length === 0) problems.push('no HTTP delta CRL distribution point');
    for (const url of httpUrls) {
      try {
        const crl = await this.#download(url, issuer, context);
        accept(crl);
        return { crl };
      } catch (error) {
        problems.push(`failed to download delta CRL from ${url}: ${errorMessage(error)}`);
      }
    }
    return { error: problems.join('; ') };
  }

  /** Forgets every downloaded CRL (local CRLs are configuration and stay). */
  clearCache(): void {
    this.#cache.clear();
  }

  /** A cached CRL for `url`, still current and verified against `issuer` (verified once per issuer). */
  #cached(url: string, issuer: Certificate): ParsedCrl | undefined {
    const entry = this.#cache.get(url);
    if (entry === undefined) return undefined;
    const now = this.#options.now();
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

  // Downloads, parses and validates a CRL; concurrent requests for one URL share the download.
  async #download(url: string, issuer: Certificate, context: CheckContext): Promise<ParsedCrl> {
    let pending = this.#inflight.get(url);
    if (pending === undefined) {
      pending = (async () => {
        const bytes = await this.#fetch(url, {
          method: 'GET',
          headers: { accept: 'application/pkix-crl, application/x-pkcs7-crl, */*' },
          timeoutMs: this.#options.crlTimeoutMs,
          maxBytes: this.#options.maxCrlBytes,
          signal: context.signal,
          followRedirects: true,
        });
        return parseCrl(bytes);
      })().finally(() => this.#inflight.delete(url));
      this.#inflight.set(url, pending);
    }
    const crl = await pending;
    validateCrl(crl, issuer, this.#options.now());
    this.#remember(url, crl, issuer);
    return crl;
  }

  #remember(url: string, crl: ParsedCrl, issuer: Certificate): void {
    this.#cache.set(url, { crl, verifiedFor: new Set([issuer.sha256Fingerprint]) });
  }

  /** The freshest current local CRL of `issuer` that verifies (base or delta as asked). */
  async #localFor(issuer: Certificate, delta: boolean, problems: string[]): Promise<ParsedCrl | undefined> {
    const now = this.#options.now();
    const name = Buffer.from(issuer.rawSubject);
    const candidates = (await this.#localCrls())
      .filter((c) => c.isDelta === delta && c.issuerName.equals(name))
      .sort((a, b) => b.thisUpdate.getTime() - a.thisUpdate.getTime());
    for (const candidate of candidates) {
      try {
        validateCrl(candidate, issuer, now);
        return candidate;
      } catch (error) {
        problems.push(`local CRL: ${errorMessage(error)}`);
      }
    }
    return undefined;
  }

  #localCrls(): Promise<ParsedCrl[]> {
    this.#local ??= this.#loadLocalDirectory();
    return this.#local;
  }

  async #loadLocalDirectory(): Promise<ParsedCrl[]> {
    const dir = this.#localSource;
    if (typeof dir !== 'string') return [];
    let names: string[];
    try {
      names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
    } catch (error) {
      this.#log.error({ dir, err: errorMessage(error) }, 'cannot read the local CRL directory');
      return [];
    }
    const out: ParsedCrl[] = [];
    for (const name of names.sort()) {
      try {
        out.push(...splitCrls(await readFile(join(dir, name))).map((der) => parseCrl(der)));
      } catch (error) {
        this.#log.warn({ file: join(dir, name), err: errorMessage(error) }, 'skipping a local CRL file that is not a CRL');
      }
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // HTTP

  async #fetch(
    url: string,
    req: {
      method: 'GET' | 'POST';
      headers: Record<string, string>;
      body?: Uint8Array;
      timeoutMs: number;
      maxBytes: number;
      signal: AbortSignal | undefined;
      followRedirects: boolean;
    },
  ): Promise<Uint8Array> {
    const timeout = AbortSignal.timeout(req.timeoutMs);
    const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
    let target = new URL(url);
    for (let hop = 0; ; hop++) {
      if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error(`unsupported URL scheme ${target.protocol}`);
      let response: Dispatcher.ResponseData;
      try {
        response = await request(target, {
          method: req.method,
          headers: { 'user-agent': 'vouch', ...req.headers },
          body: req.body === undefined ? null : Buffer.from(req.body),
          signal,
          ...(this.#options.dispatcher ? { dispatcher: this.#options.dispatcher } : {}),
        });
      } catch (error) {
        throw transportError(error, signal, timeout, req.timeoutMs);
      }
      const statusCode = response.statusCode;
      if ([301, 302, 303, 307, 308].includes(statusCode) && req.followRedirects && hop < MAX_REDIRECTS) {
        abandon(response);
        const location = header(response.headers, 'location');
        if (location === undefined) throw new Error(`redirect ${statusCode} without Location`);
        target = new URL(location, target);
        continue;
      }
      if (statusCode !== 200) {
        abandon(response);
        throw new Error(`failed to download with status code: ${statusCode}`);
      }
      const declared = Number(header(response.headers, 'content-length') ?? NaN);
      if (declared > req.maxBytes) {
        abandon(response);
        throw new Error(`response of ${declared} bytes exceeds the limit of ${req.maxBytes} bytes`);
      }
      const chunks: Buffer[] = [];
      let total = 0;
      try {
        for await (const chunk of response.body) {
          const buffer = chunk as Buffer;
          total += buffer.length;
          if (total > req.maxBytes) {
            abandon(response);
            throw new Error(`response exceeds the limit of ${req.maxBytes} bytes`);
          }
          chunks.push(buffer);
        }
      } catch (error) {
        if (error instanceof Error && error.message.startsWith('response exceeds')) throw error;
        throw transportError(error, signal, timeout, req.timeoutMs);
      }
      return new Uint8Array(Buffer.concat(chunks, total));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

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

interface OcspCertId {
  nameHashes: Map<HashName, Buffer>;
  keyHashes: Map<HashName, Buffer>;
  serial: string;
  certId: pkijs.CertID;
}

type OcspAnswer =
  | { status: 'good'; notes: string[] }
  | { status: 'unknown'; notes: string[] }
  | { status: 'revoked'; revokedAt: Date; invalidityDate?: Date; notes: string[] };

interface CrlEntry {
  revocationDate: Date;
  reason?: number;
  invalidityDate?: Date;
  /** A critical entry extension we do not understand: the entry (and so the CRL) cannot be used for this serial. */
  unsupported?: string;
}

interface ParsedCrl {
  crl: pkijs.CertificateRevocationList;
  /** Size of the DER the CRL was parsed from. */
  derBytes: number;
  issuerName: Buffer;
  thisUpdate: Date;
  nextUpdate?: Date;
  crlNumber?: bigint;
  isDelta: boolean;
  /** For a delta CRL: the Delta CRL Indicator (the minimum base CRL number). */
  baseCrlNumber?: bigint;
  freshestUrls: string[];
  /** A critical CRL extension we do not support (the CRL cannot be used). */
  unsupported?: string;
  entries: Map<string, CrlEntry>;
}

interface CachedCrl {
  crl: ParsedCrl;
  /** SHA-256 fingerprints of issuers the CRL signature was verified against. */
  verifiedFor: Set<string>;
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

function distributionPointUrls(value: pkijs.CRLDistributionPoints): string[] {
  const urls: string[] = [];
  for (const point of value.distributionPoints) {
    const names = point.distributionPoint;
    if (!Array.isArray(names)) continue;
    for (const name of names) if (name.type === 6) urls.push(String(name.value));
  }
  return urls;
}

function sha(hash: HashName, data: Uint8Array): Buffer {
  return createHash(hash).update(data).digest();
}

function ocspCertId(cert: pkijs.Certificate, issuer: Certificate, issuerPk: pkijs.Certificate): OcspCertId {
  const key = issuerPk.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView;
  const hashes: HashName[] = ['sha1', 'sha256', 'sha384', 'sha512'];
  const nameHashes = new Map(hashes.map((h) => [h, sha(h, issuer.rawSubject)] as const));
  const keyHashes = new Map(hashes.map((h) => [h, sha(h, key)] as const));
  // SHA-1 CertIDs are what every responder understands (RFC 5019 §2.1.1)
  const certId = new pkijs.CertID({
    hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: HASH_OID.sha1, algorithmParams: new asn1js.Null() }),
    issuerNameHash: new asn1js.OctetString({ valueHex: nameHashes.get('sha1')! }),
    issuerKeyHash: new asn1js.OctetString({ valueHex: keyHashes.get('sha1')! }),
    serialNumber: new asn1js.Integer({ valueHex: cert.serialNumber.valueBlock.valueHexView }),
  });
  return { nameHashes, keyHashes, serial: serialKey(cert.serialNumber), certId };
}

function ocspRequestDer(id: OcspCertId): Uint8Array {
  const req = new pkijs.OCSPRequest();
  req.tbsRequest.requestList = [new pkijs.Request({ reqCert: id.certId })];
  return new Uint8Array(req.toSchema(true).toBER(false));
}

function certIdMatches(candidate: pkijs.CertID, id: OcspCertId): boolean {
  const hash = HASH_BY_OID[candidate.hashAlgorithm.algorithmId];
  if (hash === undefined) return false;
  return (
    serialKey(candidate.serialNumber) === id.serial &&
    Buffer.from(candidate.issuerNameHash.valueBlock.valueHexView).equals(id.nameHashes.get(hash)!) &&
    Buffer.from(candidate.issuerKeyHash.valueBlock.valueHexView).equals(id.keyHashes.get(hash)!)
  );
}

/** Serial numbers as unsigned hex without leading zero bytes, so encodings compare equal. */
function serialKey(serial: asn1js.Integer): string {
  return Buffer.from(serial.valueBlock.valueHexView)
    .toString('hex')
    .replace(/^(00)+(?=..)/, '');
}

function asnDate(value: unknown): Date | undefined {
  if (value instanceof asn1js.GeneralizedTime || value instanceof asn1js.UTCTime) return value.toDate();
  return undefined;
}

function asnInteger(value: unknown): bigint | undefined {
  if (value instanceof asn1js.Integer) return value.toBigInt();
  return undefined;
}

/** DER, or one or more PEM "X509 CRL" blocks. */
function splitCrls(bytes: Uint8Array): Uint8Array[] {
  const text = Buffer.from(bytes).toString('latin1');
  if (!text.includes('-----BEGIN')) return [bytes];
  const blocks = [...text.matchAll(/-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/g)];
  if (blocks.length === 0) throw new Error('PEM without an X509 CRL block');
  return blocks.map((b) => new Uint8Array(Buffer.from(b[1]!.replace(/\s+/g, ''), 'base64')));
}

/**
 * Heap bytes of a parsed CRL, estimated: pkijs keeps the BER and an object tree several times its
 * size, and every entry is indexed again by serial number.
 */
function estimateCrlBytes(crl: ParsedCrl): number {
  return 4 * crl.derBytes + 256 * crl.entries.size + 4096;
}

function parseCrl(der: Uint8Array): ParsedCrl {
  const decoded = asn1js.fromBER(new Uint8Array(der).buffer);
  if (decoded.offset === -1) throw new Error(`malformed CRL: ${decoded.result.error}`);
  let crl: pkijs.CertificateRevocationList;
  try {
    crl = new pkijs.CertificateRevocationList({ schema: decoded.result });
  } catch (error) {
    throw new Error(`malformed CRL: ${errorMessage(error)}`);
  }
  const parsed: ParsedCrl = {
    crl,
    derBytes: der.byteLength,
    issuerName: Buffer.from(crl.issuer.valueBeforeDecode),
    thisUpdate: crl.thisUpdate.value,
    isDelta: false,
    freshestUrls: [],
    entries: new Map(),
  };
  if (crl.nextUpdate) parsed.nextUpdate = crl.nextUpdate.value;
  for (const ext of crl.crlExtensions?.extensions ?? []) {
    switch (ext.extnID) {
      case OID_CRL_NUMBER: {
        const n = asnInteger(ext.parsedValue);
        if (n !== undefined) parsed.crlNumber = n;
        break;
      }
      case OID_DELTA_CRL_INDICATOR: {
        const n = asnInteger(ext.parsedValue);
        if (n === undefined) throw new Error('malformed Delta CRL Indicator');
        parsed.isDelta = true;
        parsed.baseCrlNumber = n;
        break;
      }
      case OID.freshestCrl: {
        const value = ext.parsedValue as (pkijs.CRLDistributionPoints & { parsingError?: string }) | undefined;
        if (value instanceof pkijs.CRLDistributionPoints && !value.parsingError) {
          parsed.freshestUrls = distributionPointUrls(value).filter((u) => u.startsWith('http://'));
        } else if (ext.critical) {
          parsed.unsupported = 'malformed critical Freshest CRL extension';
        }
        break;
      }
      // the scope of the CRL: every distribution point of the certificate is consulted anyway (notation-core-go)
      case OID_ISSUING_DISTRIBUTION_POINT:
      case OID_AUTHORITY_KEY_IDENTIFIER:
        break;
      default:
        if (ext.critical) parsed.unsupported = `unsupported critical extension found in CRL: ${ext.extnID}`;
    }
  }
  for (const revoked of crl.revokedCertificates ?? []) {
    const entry: CrlEntry = { revocationDate: revoked.revocationDate.value };
    for (const ext of revoked.crlEntryExtensions?.extensions ?? []) {
      if (ext.extnID === OID_CRL_REASON) {
        const reason = ext.parsedValue;
        if (reason instanceof asn1js.Enumerated) entry.reason = reason.valueBlock.valueDec;
      } else if (ext.extnID === OID_INVALIDITY_DATE) {
        const date = asnDate(ext.parsedValue);
        if (date) entry.invalidityDate = date;
      } else if (ext.critical) {
        // certificateIssuer (indirect CRLs) included: the entry may not even be about our issuer
        entry.unsupported = `unsupported critical extension ${ext.extnID}${ext.extnID === OID_CERTIFICATE_ISSUER ? ' (indirect CRL)' : ''} in CRL entry`;
      }
    }
    parsed.entries.set(serialKey(revoked.userCertificate), entry);
  }
  return parsed;
}

/** Signature by the issuer (which must be allowed to sign CRLs), freshness, supported extensions. */
function validateCrl(crl: ParsedCrl, issuer: Certificate, now: Date): void {
  if (!crl.issuerName.equals(Buffer.from(issuer.rawSubject))) throw new Error(`CRL is not issued by "${issuer.subject}"`);
  const ku = issuer.keyUsage;
  if (ku !== undefined && (ku.usages & KEY_USAGE.cRLSign) === 0) throw new Error(`issuer "${issuer.subject}" is not allowed to sign CRLs`);
  let signed: boolean;
  try {
    signed = verifyPkixSignature(
      crl.crl.signatureAlgorithm,
      crl.crl.tbsView,
      crl.crl.signatureValue.valueBlock.valueHexView,
      issuer.publicKey,
    );
  } catch (error) {
    throw new Error(`CRL is not signed by CA "${issuer.subject}": ${errorMessage(error)}`);
  }
  if (!signed) throw new Error(`CRL is not signed by CA "${issuer.subject}"`);
  if (crl.nextUpdate === undefined) throw new Error('CRL NextUpdate is not set');
  if (now > crl.nextUpdate)
    throw new Error(`expired CRL. Current time ${now.toISOString()} is after CRL NextUpdate ${crl.nextUpdate.toISOString()}`);
  if (crl.unsupported) throw new Error(crl.unsupported);
}

/**
 * Base then delta entries for a serial (RFC 5280 §5.3.1): certificateHold revokes until a later
 * removeFromCRL; any other reason revokes. Entries whose invalidity (else revocation) date is
 * after `signingTime` are skipped and reported as `skipped`.
 */
function crlVerdict(
  serial: string,
  base: ParsedCrl,
  delta: ParsedCrl | undefined,
  signingTime: Date | undefined,
): { entry?: CrlEntry; skipped?: CrlEntry } {
  let current: CrlEntry | undefined;
  let skipped: CrlEntry | undefined;
  for (const crl of delta ? [base, delta] : [base]) {
    const entry = crl.entries.get(serial);
    if (entry === undefined) continue;
    if (entry.unsupported) throw new Error(entry.unsupported);
    if (entry.reason === REASON_REMOVE_FROM_CRL) {
      current = undefined;
      continue;
    }
    if (signingTime !== undefined && signingTime < (entry.invalidityDate ?? entry.revocationDate)) {
      skipped = entry;
      continue;
    }
    if (entry.reason === REASON_CERTIFICATE_HOLD) {
      current = entry;
      continue;
    }
    return { entry };
  }
  return current ? { entry: current } : skipped ? { skipped } : {};
}

/** A revocation entry, unless it took effect after the authentic signing time (then good). */
function revokedVerdict(
  cert: Certificate,
  method: 'ocsp' | 'crl',
  revokedAt: Date,
  invalidityDate: Date | undefined,
  signingTime: Date | undefined,
  source: string,
): CertificateRevocation {
  const effective = invalidityDate ?? revokedAt;
  const base = { certificate: cert, method, revokedAt, ...(invalidityDate ? { invalidityDate } : {}) };
  if (signingTime !== undefined && signingTime < effective) {
    return {
      ...base,
      status: 'good',
      detail: `${source}: revoked as of ${effective.toISOString()}, after the authentic signing time ${signingTime.toISOString()}`,
    };
  }
  return { ...base, status: 'revoked', detail: `${source}: revoked at ${revokedAt.toISOString()}` };
}

function transportError(error: unknown, signal: AbortSignal, timeout: AbortSignal, timeoutMs: number): Error {
  if (timeout.aborted) return new Error(`timed out after ${timeoutMs} ms`);
  if (signal.aborted) return new Error('aborted by the caller');
  const code = (error as { code?: unknown }).code;
  return new Error(`request failed: ${errorMessage(error)}${typeof code === 'string' ? ` (${code})` : ''}`);
}

/** Drops a response body; undici reports the destruction as an AbortError, expected here. */
function abandon(response: Dispatcher.ResponseData): void {
  response.body.on('error', () => {});
  response.body.destroy();
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
