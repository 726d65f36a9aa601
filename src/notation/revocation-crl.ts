// CRLs (RFC 5280 §5, https://www.rfc-editor.org/rfc/rfc5280#section-5): parsing a base or delta
// CRL (§5.2.4 delta CRL indicator, https://www.rfc-editor.org/rfc/rfc5280#section-5.2.4),
// validating it against the issuing CA (signature by a key allowed to sign CRLs, nextUpdate,
// no unsupported critical extension), matching a delta to its base (§5.2.4), and the verdict for
// one serial number (§5.3.1 reason codes: certificateHold until removeFromCRL,
// https://www.rfc-editor.org/rfc/rfc5280#section-5.3.1). Pure: no I/O, no cache.
// https://github.com/notaryproject/specifications/blob/main/specs/trust-store-trust-policy.md#certificate-revocation-evaluation

import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { errorMessage } from '../core/index.js';
import { KEY_USAGE, OID, type Certificate } from '../trust/index.js';
import { OID_INVALIDITY_DATE, asnDate, serialKey } from './revocation-common.js';
import { verifyPkixSignature } from './timestamp.js';

const OID_CRL_NUMBER = '2.5.29.20';
const OID_CRL_REASON = '2.5.29.21';
const OID_DELTA_CRL_INDICATOR = '2.5.29.27';
const OID_ISSUING_DISTRIBUTION_POINT = '2.5.29.28';
const OID_CERTIFICATE_ISSUER = '2.5.29.29';
const OID_AUTHORITY_KEY_IDENTIFIER = '2.5.29.35';
const REASON_CERTIFICATE_HOLD = 6;
const REASON_REMOVE_FROM_CRL = 8;

export interface CrlEntry {
  revocationDate: Date;
  reason?: number;
  invalidityDate?: Date;
  /** A critical entry extension we do not understand: the entry (and so the CRL) cannot be used for this serial. */
  unsupported?: string;
}

export interface ParsedCrl {
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

export function distributionPointUrls(value: pkijs.CRLDistributionPoints): string[] {
  const urls: string[] = [];
  for (const point of value.distributionPoints) {
    const names = point.distributionPoint;
    if (!Array.isArray(names)) continue;
    for (const name of names) if (name.type === 6) urls.push(String(name.value));
  }
  return urls;
}

function asnInteger(value: unknown): bigint | undefined {
  if (value instanceof asn1js.Integer) return value.toBigInt();
  return undefined;
}

/** DER, or one or more PEM "X509 CRL" blocks. */
export function splitCrls(bytes: Uint8Array): Uint8Array[] {
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
export function estimateCrlBytes(crl: ParsedCrl): number {
  return 4 * crl.derBytes + 256 * crl.entries.size + 4096;
}

export function parseCrl(der: Uint8Array): ParsedCrl {
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
export function validateCrl(crl: ParsedCrl, issuer: Certificate, now: Date): void {
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
export function crlVerdict(
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

/** Whether `delta` may be combined with `base` (RFC 5280 §5.2.4); throws saying why not. */
export function checkDeltaForBase(delta: ParsedCrl, base: ParsedCrl): void {
  if (!delta.isDelta) throw new Error('not a delta CRL (no Delta CRL Indicator)');
  if (base.crlNumber === undefined) throw new Error('the base CRL has no CRL number');
  if (delta.crlNumber === undefined || delta.crlNumber <= base.crlNumber) {
    throw new Error(`delta CRL number ${delta.crlNumber ?? 'absent'} is not greater than the base CRL number ${base.crlNumber}`);
  }
  if (delta.baseCrlNumber! > base.crlNumber) {
    throw new Error(`delta CRL indicator ${delta.baseCrlNumber} is greater than the base CRL number ${base.crlNumber}`);
  }
}
