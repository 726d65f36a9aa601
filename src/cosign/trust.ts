// Cosign trust material: public keys, a Sigstore trusted root, and keyless identities, turned into
// what @sigstore/verify checks against (its TrustMaterial and VerificationPolicy).

import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial, VerificationError, type TrustMaterial, type VerificationPolicy } from '@sigstore/verify';
import { VouchError } from '../core/index.js';

export type CosignKeyType = 'ecdsa-p256' | 'ecdsa-p384' | 'rsa' | 'ed25519';

/** A public key that cosign signatures may be verified with (`cosign verify --key`). */
export interface CosignPublicKey {
  /** Where the key came from (a file name, a configuration entry), for messages. */
  name?: string;
  keyType: CosignKeyType;
  key: KeyObject;
  /** Lower-case hex sha256 of the SubjectPublicKeyInfo DER; the signer is reported as `sha256:<fingerprint>`. */
  fingerprint: string;
}

/**
 * A keyless signer we trust: the Fulcio certificate's SAN (exactly `subject`, or all of it matching
 * `subjectRegExp`), its OIDC issuer (exact), and optionally further certificate extensions
 * (dotted OID → exact value).
 */
export interface CosignIdentity {
  subject?: string;
  subjectRegExp?: string;
  issuer: string;
  extensions?: Record<string, string>;
}

/** Immutable once built (trust material is memoised per object; a reload builds a new one). */
export interface CosignTrust {
  readonly keys: readonly CosignPublicKey[];
  /** Parsed trusted_root.json (Fulcio CAs, Rekor keys, CT logs, TSAs); needed for keyless and for tlog entries. */
  readonly trustedRoot?: unknown;
  readonly identities: readonly CosignIdentity[];
  /** Key-based signatures must carry a verified transparency log entry. Keyless always needs one. */
  readonly requireTlog: boolean;
}

/** Reads a PEM SubjectPublicKeyInfo (ECDSA P-256/P-384, RSA, Ed25519). Throws INVALID_CONFIG otherwise. */
export function loadCosignPublicKey(pem: string, name?: string): CosignPublicKey {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw new VouchError('INVALID_CONFIG', `${name ?? 'cosign public key'}: not a PEM public key`, { cause: error });
  }
  const keyType = cosignKeyType(key);
  if (keyType === undefined) {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    throw new VouchError(
      'INVALID_CONFIG',
      `${name ?? 'cosign public key'}: unsupported key type ${key.asymmetricKeyType ?? '?'}${curve === undefined ? '' : ` (${curve})`}; ` +
        'cosign keys are ECDSA P-256/P-384, RSA or Ed25519',
      { reason: 'UNSUPPORTED' },
    );
  }
  const der = key.export({ type: 'spki', format: 'der' });
  return { ...(name === undefined ? {} : { name }), keyType, key, fingerprint: createHash('sha256').update(der).digest('hex') };
}

function cosignKeyType(key: KeyObject): CosignKeyType | undefined {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'rsa';
    case 'ed25519':
      return 'ed25519';
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      return curve === 'prime256v1' ? 'ecdsa-p256' : curve === 'secp384r1' ? 'ecdsa-p384' : undefined;
    }
    default:
      return undefined;
  }
}

/** The signer name of a key-based signature. */
export function keySigner(key: CosignPublicKey): string {
  return `sha256:${key.fingerprint}`;
}

/**
 * Parses a trusted_root.json document (https://github.com/sigstore/protobuf-specs,
 * sigstore_trustroot.proto) given as text or already-parsed JSON. Throws INVALID_CONFIG.
 */
export function parseTrustedRoot(document: unknown): TrustedRoot {
  try {
    const json = typeof document === 'string' ? (JSON.parse(document) as unknown) : document;
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('not a JSON object');
    const root = TrustedRoot.fromJSON(json);
    // Building the trust material parses every certificate and key, so a broken root fails here, at load.
    toTrustMaterial(root);
    return root;
  } catch (error) {
    throw new VouchError('INVALID_CONFIG', `trusted root: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

const EMPTY_ROOT: TrustedRoot = TrustedRoot.fromJSON({
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
});

/**
 * The @sigstore/verify trust material for `trust`: the trusted root's authorities (none without
 * one), and a key finder that answers a bundle's public-key hint with the configured key of that
 * fingerprint (the legacy form is converted with hint = fingerprint). Keys carry no validity
 * window: cosign key files have none.
 */
export function buildTrustMaterial(trust: CosignTrust): TrustMaterial {
  let material = materials.get(trust);
  if (material === undefined) {
    material = trustMaterialOf(trust);
    materials.set(trust, material);
  }
  return material;
}

/**
 * Trust material per CosignTrust: an environment's trust is one object per trust generation (a reload
 * makes a new one), and building the material re-parses the trusted root (≈1.6 ms, bench/cosign.ts),
 * which every verification would otherwise pay. A weak map: an entry lives exactly as long as its
 * trust, so it needs no bound or clearing (the pattern of notation/revocation.ts's pkijs parses).
 */
const materials = new WeakMap<CosignTrust, TrustMaterial>();

function trustMaterialOf(trust: CosignTrust): TrustMaterial {
  const root = trust.trustedRoot === undefined ? EMPTY_ROOT : parseTrustedRoot(trust.trustedRoot);
  const byFingerprint = new Map(trust.keys.map((key) => [key.fingerprint, key]));
  return toTrustMaterial(root, (hint) => {
    const key = byFingerprint.get(hint);
    if (key === undefined) throw new VerificationError({ code: 'PUBLIC_KEY_ERROR', message: `key not found: ${hint}` });
    return { publicKey: key.key, validFor: () => true };
  });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/**
 * The @sigstore/verify policy for one identity. The library matches the SAN as an UNANCHORED
 * JavaScript regular expression (@sigstore/verify policy.ts verifySubjectAlternativeName), so an
 * exact subject is escaped and anchored, and a regular expression is anchored around the whole of
 * it, as cosign's --certificate-identity-regexp is matched against the whole SAN (Go regexp
 * MatchString over an anchored pattern is what users expect; we never accept a partial match).
 * The issuer is compared exactly by the library; further extensions become OID policies.
 */
export function identityPolicy(identity: CosignIdentity): VerificationPolicy {
  const san = identitySanPattern(identity);
  const oids = Object.entries(identity.extensions ?? {}).map(([oid, value]) => ({
    oid: { id: parseOid(oid) },
    value: extensionValueBytes(oid, value),
  }));
  return {
    subjectAlternativeName: san,
    extensions: { issuer: identity.issuer },
    ...(oids.length === 0 ? {} : { oids }),
  };
}

/** Validates an identity (one of subject / subjectRegExp, a valid pattern, an issuer); INVALID_CONFIG otherwise. */
export function identitySanPattern(identity: CosignIdentity): string {
  const hasSubject = identity.subject !== undefined;
  const hasRegExp = identity.subjectRegExp !== undefined;
  if (hasSubject === hasRegExp) {
    throw new VouchError('INVALID_CONFIG', 'cosign identity: give exactly one of subject and subjectRegExp');
  }
  if (typeof identity.issuer !== 'string' || identity.issuer === '') {
    throw new VouchError('INVALID_CONFIG', 'cosign identity: issuer is required');
  }
  const pattern = hasSubject ? `^${escapeRegExp(identity.subject!)}$` : `^(?:${identity.subjectRegExp!})$`;
  try {
    new RegExp(pattern);
  } catch (error) {
    throw new VouchError('INVALID_CONFIG', `cosign identity: subjectRegExp is not a valid regular expression`, { cause: error });
  }
  return pattern;
}

function parseOid(oid: string): number[] {
  if (!/^[0-9]+(\.[0-9]+)+$/.test(oid)) throw new VouchError('INVALID_CONFIG', `cosign identity: extension ${oid} is not a dotted OID`);
  return oid.split('.').map(Number);
}

// Fulcio's extensions 1.3.6.1.4.1.57264.1.1–.6 hold the raw string as the extension value; .8 and
// later hold a DER UTF8String (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md).
// @sigstore/verify compares the raw extension value bytes.
const FULCIO_V1_OID = /^1\.3\.6\.1\.4\.1\.57264\.1\.[1-6]$/;

function extensionValueBytes(oid: string, value: string): Buffer {
  const text = Buffer.from(value, 'utf8');
  if (FULCIO_V1_OID.test(oid)) return text;
  const length =
    text.length < 0x80
      ? Buffer.from([text.length])
      : (() => {
          const bytes: number[] = [];
          for (let n = text.length; n > 0; n >>= 8) bytes.unshift(n & 0xff);
          return Buffer.from([0x80 | bytes.length, ...bytes]);
        })();
  return Buffer.concat([Buffer.from([0x0c]), length, text]);
}
