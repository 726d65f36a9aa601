// What the revocation files share: the per-certificate verdict, how a revocation entry counts
// against the authentic signing time, and the ASN.1 helpers both OCSP (RFC 6960,
// https://www.rfc-editor.org/rfc/rfc6960) and CRLs (RFC 5280 §5, https://www.rfc-editor.org/rfc/rfc5280#section-5)
// need. Verdict rules: https://github.com/notaryproject/specifications/blob/main/specs/trust-store-trust-policy.md#certificate-revocation-evaluation

import * as asn1js from 'asn1js';
import { RegistryError, VouchError, errorMessage } from '../core/index.js';
import type { Certificate } from '../trust/index.js';

export type RevocationStatus = 'good' | 'revoked' | 'unknown' | 'nonRevocable';

/** One OCSP responder or CRL distribution point that did not give an answer, and why. */
export interface RevocationFailure {
  method: 'ocsp' | 'crl';
  url: string;
  /** Stable code and reason: the transport's (TIMEOUT, SIZE_LIMIT, ADDRESS_NOT_ALLOWED, …), DENIED, HTTP_STATUS, BAD_CONTENT. */
  error: VouchError;
}

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
  /** Responders and distribution points that failed on the way to this status, in the order tried. */
  failures?: RevocationFailure[];
}

export const OID_INVALIDITY_DATE = '2.5.29.24';

/**
 * A failure as a VouchError: fetch errors already are one; anything else (a response or CRL that
 * does not parse, verify or apply) is content that cannot be used.
 */
export function revocationFailure(method: 'ocsp' | 'crl', url: string, error: unknown): RevocationFailure {
  const typed =
    error instanceof VouchError
      ? error
      : new RegistryError('REGISTRY_UNAVAILABLE', errorMessage(error), { reason: 'BAD_CONTENT', url, cause: error });
  return { method, url, error: typed };
}

/** A revocation entry, unless it took effect after the authentic signing time (then good). */
export function revokedVerdict(
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

/** Serial numbers as unsigned hex without leading zero bytes, so encodings compare equal. */
export function serialKey(serial: asn1js.Integer): string {
  return Buffer.from(serial.valueBlock.valueHexView)
    .toString('hex')
    .replace(/^(00)+(?=..)/, '');
}

export function asnDate(value: unknown): Date | undefined {
  if (value instanceof asn1js.GeneralizedTime || value instanceof asn1js.UTCTime) return value.toDate();
  return undefined;
}

export function unique(values: string[]): string[] {
  return [...new Set(values)];
}
