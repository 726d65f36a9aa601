// The format-independent view of a Notary Project signature envelope
// (https://github.com/notaryproject/specifications/blob/main/specs/signature-specification.md).
// JWS (envelope-jws.ts) and COSE (envelope-cose.ts) parse into this; everything after parsing
// (chain rules, trust, time, revocation) works on it alone.

import type { Descriptor } from '../oci/index.js';

export const SIGNING_SCHEMES = ['notary.x509', 'notary.x509.signingAuthority'] as const;
export type SigningScheme = (typeof SIGNING_SCHEMES)[number];

export const SIGNATURE_ALGORITHMS = ['PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'] as const;
export type SignatureAlgorithm = (typeof SIGNATURE_ALGORITHMS)[number];

export const PAYLOAD_CONTENT_TYPE = 'application/vnd.cncf.notary.payload.v1+json';

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
