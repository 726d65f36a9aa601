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
  const details = publicKey.asymmetricKeyDetails ?? {};
  if (publicKey.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    const alg = RSA_ALGORITHM[bits];
    if (alg !== undefined) return alg;
    throw unsupportedKey(`rsa key size ${bits} bits is not supported (weak or forbidden algorithm)`);
  }
  if (publicKey.asymmetricKeyType === 'ec') {
    const curve = details.namedCurve ?? 'unknown';
    const alg = EC_ALGORITHM[curve];
    if (alg !== undefined) return alg;
    throw unsupportedKey(`ecdsa curve ${curve} is not supported (weak or forbidden algorithm)`);
  }
  throw unsupportedKey(`public key type ${publicKey.asymmetricKeyType ?? 'unknown'} is not supported (weak or forbidden algorithm)`);
}

function unsupportedKey(message: string): VouchError {
  return new VouchError('UNTRUSTED_SIGNER', message, { reason: 'UNSUPPORTED' });
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
    // The key must be one that signs with exactly this algorithm (no substitution, no odd sizes).
    if (signatureAlgorithmForKey(publicKey) !== alg) return false;
    if (alg.startsWith('PS')) {
      if (publicKey.asymmetricKeyType !== 'rsa') return false;
      const modulusBytes = Math.ceil((publicKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
      if (signature.length !== modulusBytes) return false;
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
    if (publicKey.asymmetricKeyType !== 'ec') return false;
    if (signature.length !== ECDSA_SIGNATURE_LENGTH[alg]) return false;
    return cryptoVerify(hash, signedBytes, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}
