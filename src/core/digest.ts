// Content digests (image-spec descriptor.md "Digests"). Only sha256 and sha512 are accepted: their
// encoded forms are fixed-length lowercase hex, which keeps them safe to put into URLs and paths.

import { createHash, timingSafeEqual } from 'node:crypto';
import { VouchError } from './errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const DIGEST_PATTERN = /^(sha256|sha512):([a-f0-9]+)$/;

/** A validated digest string such as `sha256:<64 hex>`. */
export type Digest = string & { readonly __brand: 'Digest' };

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/** Splits and validates a digest; returns undefined for anything that is not one we accept. */
export function tryParseDigest(value: string): ParsedDigest | undefined {
  const match = DIGEST_PATTERN.exec(value);
  if (!match) return undefined;
  const algorithm = match[1] as DigestAlgorithm;
  const hex = match[2]!;
  if (hex.length !== HEX_LENGTH[algorithm]) return undefined;
  return { algorithm, hex };
}

export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && tryParseDigest(value) !== undefined;
}

/**
 * Validates untrusted text as a digest. `what` names where it came from, so the error says so
 * (e.g. "subject.digest of manifest sha256:…").
 */
export function parseDigest(value: unknown, what = 'digest'): Digest {
  if (typeof value !== 'string' || !isDigest(value)) {
    throw new VouchError('INVALID_INPUT', `${what}: ${JSON.stringify(value)} is not a sha256 or sha512 digest`, {
      reason: 'BAD_CONTENT',
    });
  }
  return value;
}

export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return tryParseDigest(digest)!.algorithm;
}

export function digestHex(digest: Digest): string {
  return tryParseDigest(digest)!.hex;
}

/** Digest of bytes with the given algorithm (sha256 unless told otherwise). */
export function computeDigest(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}` as Digest;
}

/** True when `bytes` hash to `expected`, using the algorithm the expected digest names. */
export function digestMatches(bytes: Uint8Array, expected: Digest): boolean {
  const actual = computeDigest(bytes, digestAlgorithm(expected));
  const a = Buffer.from(actual);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
