// Minimal cosign trust material for the bundle form, written against the #13 contract while the full
// version (keys, trusted roots, identity policy) is being built beside it; it is replaced by that one.

import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial, type TrustMaterial } from '@sigstore/verify';
import { VouchError, type AnswerCode } from '../core/index.js';

/** A trusted public key: cosign's `--key`. */
export interface CosignPublicKey {
  key: KeyObject;
  /** `sha256:<hex>` of the SPKI DER: how a report names a key-based signer. */
  fingerprint: string;
}

/** A trusted keyless identity; the subject is matched whole (exact, or a regexp anchored by us). */
export interface CosignIdentity {
  subject?: string;
  subjectRegExp?: string;
  issuer: string;
  /** Fulcio certificate extensions by dotted OID (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md). */
  extensions?: Record<string, string>;
}

export interface CosignTrust {
  keys: CosignPublicKey[];
  /** Parsed trusted_root.json (https://github.com/sigstore/protobuf-specs/blob/main/protos/sigstore_trustroot.proto). */
  trustedRoot?: unknown;
  identities: CosignIdentity[];
  requireTlog: boolean;
}

export interface CosignSignatureReport {
  type: 'cosign';
  /** Digest of the signature manifest. */
  digest: string;
  verified: boolean;
  /** `sha256:<key fingerprint>` or `SAN (issuer)`. */
  signer?: string;
  reasons: Array<{ code: AnswerCode; message: string }>;
}

/** Parses a PEM SPKI public key (ECDSA, RSA, Ed25519). */
export function parseCosignPublicKey(pem: string): CosignPublicKey {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (cause) {
    throw new VouchError('INVALID_CONFIG', 'cosign public key is not a PEM public key', { reason: 'BAD_CONTENT', cause });
  }
  const der = key.export({ type: 'spki', format: 'der' });
  return { key, fingerprint: `sha256:${createHash('sha256').update(der).digest('hex')}` };
}

/** The trusted root as @sigstore/verify trust material; keys are looked up by the caller's key finder. */
export function toSigstoreTrustMaterial(trustedRoot: unknown, keyFinder: TrustMaterial['publicKey']): TrustMaterial {
  const root = TrustedRoot.fromJSON(trustedRoot ?? {});
  return toTrustMaterial(root, keyFinder);
}

/** The identity's subject as a whole-string pattern: @sigstore/verify matches the SAN unanchored. */
export function anchoredSubjectPattern(identity: CosignIdentity): string {
  if (identity.subject !== undefined) return `^${identity.subject.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')}$`;
  return `^(?:${identity.subjectRegExp ?? ''})$`;
}
