// OCSP (RFC 6960, https://www.rfc-editor.org/rfc/rfc6960): builds the request for one certificate
// (§4.1, SHA-1 CertID as RFC 5019 §2.1.1 https://www.rfc-editor.org/rfc/rfc5019#section-2.1.1
// asks), posts it to each responder the certificate names (Appendix A.1), and verifies the answer
// (§3.2, https://www.rfc-editor.org/rfc/rfc6960#section-3.2): signed by the issuing CA or a responder
// it delegated to (§4.2.2.2), covering this certificate, current. Anything inconclusive is
// 'unknown' so the checker can fall back to CRLs, as the Notary Project asks:
// https://github.com/notaryproject/specifications/blob/main/specs/trust-store-trust-policy.md#certificate-revocation-evaluation

import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { createHash } from 'node:crypto';
import { errorMessage } from '../core/index.js';
import { Certificate, OID } from '../trust/index.js';
import {
  OID_INVALIDITY_DATE,
  asnDate,
  revocationFailure,
  revokedVerdict,
  serialKey,
  type CertificateRevocation,
  type RevocationFailure,
} from './revocation-common.js';
import type { RevocationFetcher } from './revocation-fetch.js';
import { HASH_BY_OID, HASH_OID, verifyPkixSignature, type HashName } from './timestamp.js';

const OID_OCSP_BASIC = '1.3.6.1.5.5.7.48.1.1';
const OCSP_RESPONSE_STATUS = ['successful', 'malformedRequest', 'internalError', 'tryLater', '(unused)', 'sigRequired', 'unauthorized'];
/** Tolerated clock difference for an OCSP thisUpdate slightly in the future. */
const CLOCK_SKEW_MS = 5 * 60_000;

export interface OcspClientOptions {
  fetcher: RevocationFetcher;
  timeoutMs: number;
  maxResponseBytes: number;
  now: () => Date;
}

export interface OcspQuery {
  cert: Certificate;
  certPk: pkijs.Certificate;
  issuer: Certificate;
  issuerPk: pkijs.Certificate;
  urls: string[];
  signal: AbortSignal | undefined;
  signingTime: Date | undefined;
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

export class OcspClient {
  readonly #options: OcspClientOptions;

  constructor(options: OcspClientOptions) {
    this.#options = options;
  }

  /** Tries the responders in order; good or revoked ends it, errors and "unknown" try the next. */
  async check(query: OcspQuery): Promise<CertificateRevocation> {
    const { cert, issuer } = query;
    const requestId = ocspCertId(query.certPk, issuer, query.issuerPk);
    const body = ocspRequestDer(requestId);
    const errors: string[] = [];
    const failures: RevocationFailure[] = [];
    const failed = (url: string, error: unknown): void => {
      errors.push(`${url}: ${errorMessage(error)}`);
      failures.push(revocationFailure('ocsp', url, error));
    };
    for (const url of query.urls) {
      let bytes: Uint8Array;
      try {
        bytes = await this.#options.fetcher.fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/ocsp-request', accept: 'application/ocsp-response' },
          body,
          timeoutMs: this.#options.timeoutMs,
          maxBytes: this.#options.maxResponseBytes,
          signal: query.signal,
          what: 'OCSP response',
        });
      } catch (error) {
        failed(url, error);
        continue;
      }
      let single: OcspAnswer;
      try {
        single = this.#evaluate(bytes, requestId, issuer);
      } catch (error) {
        failed(url, error);
        continue;
      }
      if (single.status === 'unknown') {
        failed(url, new Error('the responder does not know the certificate'));
        continue;
      }
      const notes = single.notes.length > 0 ? `; ${single.notes.join('; ')}` : '';
      const withFailures = failures.length > 0 ? { failures } : {};
      if (single.status === 'good') {
        return { certificate: cert, status: 'good', method: 'ocsp', detail: `OCSP ${url}: good${notes}`, ...withFailures };
      }
      const verdict = revokedVerdict(cert, 'ocsp', single.revokedAt, single.invalidityDate, query.signingTime, `OCSP ${url}`);
      return { ...verdict, detail: `${verdict.detail ?? ''}${notes}`, ...withFailures };
    }
    return { certificate: cert, status: 'unknown', method: 'ocsp', detail: errors.join('; '), failures };
  }

  /** Parses and verifies an OCSP response for the certificate `id` names (RFC 6960 §3.2). */
  #evaluate(bytes: Uint8Array, id: OcspCertId, issuer: Certificate): OcspAnswer {
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
