// The format-independent view of a Notary Project signature envelope
// (https://github.com/notaryproject/specifications/blob/main/specs/signature-specification.md).
// JWS (envelope-jws.ts) and COSE (envelope-cose.ts) parse into this; everything after parsing
// (chain rules, trust, time, revocation) works on it alone.

import { VouchError } from '../core/index.js';
import { MEDIA_TYPE, type Descriptor } from '../oci/index.js';

export const SIGNING_SCHEMES = ['notary.x509', 'notary.x509.signingAuthority'] as const;
export type SigningScheme = (typeof SIGNING_SCHEMES)[number];

export const SIGNATURE_ALGORITHMS = ['PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'] as const;
export type SignatureAlgorithm = (typeof SIGNATURE_ALGORITHMS)[number];

export const PAYLOAD_CONTENT_TYPE = MEDIA_TYPE.notaryPayload;

export interface SignatureEnvelope {
  format: 'jws' | 'cose';
  mediaType: string;
  /** `alg` from the protected header (must later equal the algorithm the leaf key implies). */
  algorithm: SignatureAlgorithm;
  /** The exact bytes the signature covers: JWS signing input, or the COSE Sig_structure. */
  signedBytes: Uint8Array;
  /** The raw primitive signature (RSASSA-PSS bytes, or ECDSA r||s). Also what a timestamp covers. */
  signature: Uint8Array;
  /** The payload bytes exactly as signed (never re-serialised). */
  payload: Uint8Array;
  /** `cty` / COSE label 3. */
  contentType: string;
  signingScheme: SigningScheme;
  /** notary.x509 only; the signer's own (unauthenticated) clock. */
  signingTime?: Date;
  /** notary.x509.signingAuthority only. */
  authenticSigningTime?: Date;
  expiry?: Date;
  /** The protected `crit` list, as strings (COSE integer labels rendered in decimal). */
  critical: string[];
  /** Protected headers beyond the ones this interface names (extended attributes). */
  extendedAttributes: Record<string, unknown>;
  verificationPlugin?: string;
  verificationPluginMinVersion?: string;
  /** DER certificates, leaf first, root last (x5c / COSE x5chain). */
  certificateChain: Uint8Array[];
  /** RFC 3161 TimeStampToken (CMS ContentInfo DER), when present. */
  timestampToken?: Uint8Array;
  /** Diagnostic only; must never influence a verdict. */
  signingAgent?: string;
}

/** The payload's `targetArtifact` (signature-specification.md "Payload"). */
export interface TargetArtifact extends Descriptor {}

/** Header names of the Notary attributes (identical in JWS and, as text labels, in COSE). */
export const NOTARY_HEADER = {
  signingScheme: 'io.cncf.notary.signingScheme',
  signingTime: 'io.cncf.notary.signingTime',
  authenticSigningTime: 'io.cncf.notary.authenticSigningTime',
  expiry: 'io.cncf.notary.expiry',
  verificationPlugin: 'io.cncf.notary.verificationPlugin',
  verificationPluginMinVersion: 'io.cncf.notary.verificationPluginMinVersion',
  signingAgent: 'io.cncf.notary.signingAgent',
  timestampSignature: 'io.cncf.notary.timestampSignature',
} as const;

/** At most this many certificates in x5c / x5chain; real chains have 1–4. Bounds work on hostile input. */
export const MAX_CERTIFICATE_CHAIN_LENGTH = 32;

/** Sets an own data property, so a header named `__proto__` stays an ordinary key. */
export function setAttribute(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * An integrity failure of an envelope (notation-go reports these in the integrity step, which is
 * always enforced): INVALID_SIGNATURE with reason BAD_CONTENT. Messages name the rule broken.
 */
export function envelopeError(message: string, cause?: unknown): VouchError {
  return new VouchError('INVALID_SIGNATURE', message, { reason: 'BAD_CONTENT', cause });
}

/** The format-independent attribute facts both parsers hand to {@link validateNotaryAttributes}. */
export interface NotaryAttributeFacts {
  format: 'jws' | 'cose';
  signingScheme: unknown;
  signingTime: Date | undefined;
  authenticSigningTime: Date | undefined;
  expiry: Date | undefined;
  /** The protected crit list, rendered as strings; undefined when the header is absent. */
  critical: string[] | undefined;
}

/**
 * The attribute rules shared by JWS and COSE (signature-specification.md "Signature Envelope",
 * notation-core-go validateProtectedHeaders/validateCritHeaders): a known signing scheme, the
 * time attributes that scheme requires and forbids, expiry after the signing time, and a crit
 * list naming every attribute that must be critical. Format-specific crit rules (registered
 * names, label ranges, presence) stay with each parser.
 */
export function validateNotaryAttributes(facts: NotaryAttributeFacts): SigningScheme {
  const where = facts.format === 'jws' ? 'JWS protected header' : 'COSE protected header';
  const scheme = facts.signingScheme;
  if (scheme === undefined) throw envelopeError(`${where}: missing "${NOTARY_HEADER.signingScheme}"`);
  if (typeof scheme !== 'string' || !(SIGNING_SCHEMES as readonly string[]).includes(scheme)) {
    throw envelopeError(`${where}: signing scheme ${JSON.stringify(scheme)} is not supported`);
  }
  const signingScheme = scheme as SigningScheme;
  let signedAt: Date | undefined;
  if (signingScheme === 'notary.x509') {
    if (facts.authenticSigningTime !== undefined) {
      throw envelopeError(`${where}: "${NOTARY_HEADER.authenticSigningTime}" must not be present for notary.x509`);
    }
    if (facts.signingTime === undefined) throw envelopeError(`${where}: "${NOTARY_HEADER.signingTime}" must be present for notary.x509`);
    signedAt = facts.signingTime;
  } else {
    if (facts.signingTime !== undefined) {
      throw envelopeError(`${where}: "${NOTARY_HEADER.signingTime}" must not be present for notary.x509.signingAuthority`);
    }
    if (facts.authenticSigningTime === undefined) {
      throw envelopeError(`${where}: "${NOTARY_HEADER.authenticSigningTime}" must be present for notary.x509.signingAuthority`);
    }
    signedAt = facts.authenticSigningTime;
  }
  if (facts.expiry !== undefined && facts.expiry.getTime() <= signedAt.getTime()) {
    throw envelopeError(`${where}: expiry cannot be equal or before the signing time`);
  }

  const critical = facts.critical;
  if (critical === undefined) throw envelopeError(`${where}: missing "crit" header`);
  if (critical.length === 0) throw envelopeError(`${where}: "crit" must not be empty`);
  if (new Set(critical).size !== critical.length) throw envelopeError(`${where}: "crit" lists a header more than once`);
  const required: string[] = [NOTARY_HEADER.signingScheme];
  if (signingScheme === 'notary.x509.signingAuthority') required.push(NOTARY_HEADER.authenticSigningTime);
  if (facts.expiry !== undefined) required.push(NOTARY_HEADER.expiry);
  const missing = required.filter((name) => !critical.includes(name));
  if (missing.length > 0) throw envelopeError(`${where}: these required headers are not marked as critical: [${missing.join(' ')}]`);
  return signingScheme;
}
