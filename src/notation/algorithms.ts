// Signature algorithms of the Notary Project (signature-specification.md "Algorithm Selection"):
// the exact key-size table, the hash each algorithm implies, and the primitive signature check
// with node:crypto. Nothing here knows about envelopes beyond their algorithm names.

import { constants, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { VouchError } from '../core/index.js';
import type { SignatureAlgorithm } from './envelope.js';

export type HashAlgorithm = 'sha256' | 'sha384' | 'sha512';

const HASH: Readonly<Record<SignatureAlgorithm, HashAlgorithm>> = {
  PS256: 'sha256',
  PS384: 'sha384',
  PS512: 'sha512',
  ES256: 'sha256',
  ES384: 'sha384',
  ES512: 'sha512',
};

/** Byte length of a raw ECDSA r||s signature per algorithm (RFC 7518 §3.4; RFC 9053 §2.1). */
const ECDSA_SIGNATURE_LENGTH: Readonly<Partial<Record<SignatureAlgorithm, number>>> = { ES256: 64, ES384: 96, ES512: 132 };

const RSA_ALGORITHM: Readonly<Record<number, SignatureAlgorithm>> = { 2048: 'PS256', 3072: 'PS384', 4096: 'PS512' };
const EC_ALGORITHM: Readonly<Record<string, SignatureAlgorithm>> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };

/** COSE algorithm identifiers (RFC 9053 / RFC 8230) of the Notary algorithms. */
export const COSE_ALGORITHM: Readonly<Record<SignatureAlgorithm, number>> = {
  PS256: -37,
  PS384: -38,
  PS512: -39,
  ES256: -7,
  ES384: -35,
  ES512: -36,
};

export function isSignatureAlgorithm(value: unknown): value is SignatureAlgorithm {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(HASH, value);
}

/** The JWS name for a COSE algorithm identifier, or undefined when Notary does not allow it. */
export function signatureAlgorithmFromCose(value: unknown): SignatureAlgorithm | undefined {
  for (const [name, id] of Object.entries(COSE_ALGORITHM)) if (id === value) return name as SignatureAlgorithm;
  return undefined;
}

/**
 * The only algorithm a key may sign with. The table is exact (RSA 2048/3072/4096, P-256/384/521):
 * notation-core-go rejects every other size and curve, and so do we, so that `alg` can never be
 * chosen independently of the certified key (algorithm substitution).
 */
export function signatureAlgorithmForKey(publicKey: KeyObject): SignatureAlgorithm {
  const facts = keyFacts(publicKey);
  if ('unsupported' in facts) throw new VouchError('UNTRUSTED_SIGNER', facts.unsupported, { reason: 'UNSUPPORTED' });
  return facts.algorithm;
}

/** What the checks need of a key: its one algorithm and signature length, or why it has none. */
type KeyFacts = { algorithm: SignatureAlgorithm; signatureBytes: number } | { unsupported: string };

/**
 * Key facts per KeyObject, read once: `asymmetricKeyDetails` builds a new object (for RSA with a
 * BigInt exponent) on every access, which cost a third of an RSA-PSS verification. A KeyObject
 * is immutable, and a weak map keeps each memo exactly as long as its key.
 */
const keyFactsOf = new WeakMap<KeyObject, KeyFacts>();

function keyFacts(publicKey: KeyObject): KeyFacts {
  let facts = keyFactsOf.get(publicKey);
  if (facts === undefined) {
    facts = readKeyFacts(publicKey);
    keyFactsOf.set(publicKey, facts);
  }
  return facts;
}

function readKeyFacts(publicKey: KeyObject): KeyFacts {
  const details = publicKey.asymmetricKeyDetails ?? {};
  if (publicKey.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    const algorithm = RSA_ALGORITHM[bits];
    // RSA signatures are exactly the modulus length.
    if (algorithm !== undefined) return { algorithm, signatureBytes: Math.ceil(bits / 8) };
    return { unsupported: `rsa key size ${bits} bits is not supported (weak or forbidden algorithm)` };
  }
  if (publicKey.asymmetricKeyType === 'ec') {
    const curve = details.namedCurve ?? 'unknown';
    const algorithm = EC_ALGORITHM[curve];
    if (algorithm !== undefined) return { algorithm, signatureBytes: ECDSA_SIGNATURE_LENGTH[algorithm]! };
    return { unsupported: `ecdsa curve ${curve} is not supported (weak or forbidden algorithm)` };
  }
  return {
    unsupported: `public key type ${publicKey.asymmetricKeyType ?? 'unknown'} is not supported (weak or forbidden algorithm)`,
  };
}

/** The hash an algorithm signs with; also the payload digest and timestamp imprint hash for its key. */
export function hashForAlgorithm(alg: SignatureAlgorithm): HashAlgorithm {
  return HASH[alg];
}

/**
 * Checks a primitive signature over `signedBytes`. Never throws for a bad signature or malformed
 * signature bytes, or for a key that does not imply `alg` (§"Algorithm Selection"): it answers
 * false. RSA signatures must be exactly the modulus length and ECDSA
 * signatures exactly 2×field bytes (raw r||s), as Go's verifiers require.
 *
 * `format` picks the RSASSA-PSS salt rule of notation's verifier for that envelope type: `jws`
 * accepts any salt length (golang-jwt PSSSaltLengthAuto), `cose` requires salt = hash length
 * (go-cose). Signers always use hash length. Default `cose`, the strict rule.
 */
export function verifySignatureBytes(
  alg: SignatureAlgorithm,
  publicKey: KeyObject,
  signedBytes: Uint8Array,
  signature: Uint8Array,
  format: 'jws' | 'cose' = 'cose',
): boolean {
  const hash = HASH[alg];
  if (hash === undefined) return false;
  try {
    // The key must be one that signs with exactly this algorithm (no substitution, no odd sizes),
    // and the signature exactly as long as that algorithm's (RSA: the modulus; ECDSA: r||s).
    const facts = keyFacts(publicKey);
    if ('unsupported' in facts || facts.algorithm !== alg || signature.length !== facts.signatureBytes) return false;
    if (alg.startsWith('PS')) {
      return cryptoVerify(
        hash,
        signedBytes,
        {
          key: publicKey,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: format === 'jws' ? constants.RSA_PSS_SALTLEN_AUTO : constants.RSA_PSS_SALTLEN_DIGEST,
        },
        signature,
      );
    }
    return cryptoVerify(hash, signedBytes, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}
