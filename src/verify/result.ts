// The per-key answer of the provider, VerificationResult (docs/api.md "VerificationResult"), built from a
// notation artifact verification. Field names are a public contract: the Rego library, the gRPC
// mapping and users match on them. Fields may be added, never removed.

import {
  DOCKER_HUB_HOST,
  formatReference,
  withDigest,
  type AnswerCode,
  type CheckType,
  type Digest,
  type ImageReference,
} from '../core/index.js';
import type { NotationArtifactResult, NotationSignatureReport } from '../notation/index.js';

export interface Reason {
  code: AnswerCode;
  /** Human-readable; for a top-level reason it names the environment, for a signature's it starts with the check. */
  message: string;
  /**
   * The Notary Project verification check that failed (integrity, authenticity, expiry,
   * authenticTimestamp, revocation), when a check failed. It tells causes under one code apart:
   * EXPIRED from `expiry` is the signature's own expiry (the signer's "best by" time; only signing
   * again helps), EXPIRED from `authenticTimestamp` is a certificate's validity (a new certificate,
   * or a timestamp from a trusted TSA, helps).
   */
  check?: CheckType;
  /** The failure itself, without the environment summary or the check prefix (for messages that say those once). */
  detail?: string;
}

/** One signature that refers to the image, as checked under the environment's trust policy. */
export interface SignatureResult {
  type: 'notation';
  /** Digest of the signature manifest. */
  digest: string;
  verified: boolean;
  /** The trust policy statement it was checked against. */
  trustPolicy: string;
  /** The statement's verification level (strict, permissive, audit). */
  level: string;
  /** Subject DN of the signing certificate; absent when the envelope could not be read. */
  signer?: string;
  /** RFC 3339 UTC, seconds precision unless the envelope had more; absent when unknown. */
  signingTime?: string;
  /** Enforced failures (empty when verified). */
  reasons: Reason[];
  /** Failures the level only logs (permissive, audit). */
  warnings: Reason[];
}

export interface VerificationResult {
  /** True when the environment's trust policy is satisfied. */
  verified: boolean;
  environment: string;
  /**
   * Canonical reference pinned to the digest (`host/repo@sha256:…`, tag dropped; Docker Hub images as
   * `docker.io/…`). For a tag that does not resolve (NOT_FOUND) it is the tag reference.
   */
  reference: string;
  /** The image manifest digest; absent only when a tag did not resolve (NOT_FOUND). */
  digest?: string;
  signatures: SignatureResult[];
  /** Why the image is not verified; empty when verified. The first reason is the decisive one. */
  reasons: Reason[];
  /** The trust policy statement that applied, when one did. */
  trustPolicy?: string;
  /**
   * Present (true) only when the applicable statement has level `skip`: notation's one way of
   * being verified without a signature check. `verified` is true and `signatures` is empty.
   */
  skipped?: true;
  /** Failures the level only logs, from the signature that satisfied the policy. */
  warnings: Reason[];
  /** Present (true) when the answer came from vouch's cache rather than a fresh verification. */
  cached?: true;
}

/**
 * The user-facing canonical reference: formatReference of the reference pinned to `digest` (tag
 * dropped), or of the reference as given when there is no digest. Docker Hub images are written
 * `docker.io/…`, the name container runtimes and registry mirrors are configured for.
 */
export function canonicalReference(ref: ImageReference, digest?: Digest): string {
  const text = formatReference(digest === undefined ? ref : withDigest(ref, digest));
  return ref.registry === DOCKER_HUB_HOST ? `docker.io${text.slice(DOCKER_HUB_HOST.length)}` : text;
}

/** RFC 3339 in UTC, without a fractional part when it is zero (notation truncates to seconds). */
export function formatTime(date: Date): string {
  const iso = date.toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso;
}

export function toSignatureResult(report: NotationSignatureReport): SignatureResult {
  return {
    type: 'notation',
    digest: report.digest,
    verified: report.verified,
    trustPolicy: report.trustPolicy,
    level: report.level,
    ...(report.signer !== undefined ? { signer: report.signer } : {}),
    ...(report.signingTime !== undefined ? { signingTime: formatTime(report.signingTime) } : {}),
    reasons: report.reasons.map(copyReason),
    warnings: report.warnings.map(copyReason),
  };
}

/** A VerificationResult from notation's verdict for `reference`@`digest` in `environment`. */
export function toVerificationResult(
  environment: string,
  ref: ImageReference,
  digest: Digest,
  artifact: NotationArtifactResult,
): VerificationResult {
  const signatures = artifact.signatures.map(toSignatureResult);
  const result: VerificationResult = {
    verified: artifact.verified,
    environment,
    reference: canonicalReference(ref, digest),
    digest,
    signatures,
    reasons: [],
    warnings: [],
  };
  if (artifact.trustPolicy !== undefined) result.trustPolicy = artifact.trustPolicy;
  if (artifact.verified) {
    if (artifact.skippedByPolicy) result.skipped = true;
    result.warnings = signatures.find((s) => s.verified)?.warnings ?? [];
    return result;
  }
  const [decisive, ...rest] = artifact.reasons;
  // Fail closed even if notation ever said "not verified" without saying why.
  const first = decisive ?? { code: 'INVALID_SIGNATURE' as const, message: 'no signature could be verified' };
  result.reasons = [
    {
      code: first.code,
      message: summarise(first, environment),
      ...(first.check !== undefined ? { check: first.check } : {}),
      detail: first.detail ?? first.message,
    },
    ...rest.map(copyReason),
  ];
  return result;
}

/** The NOT_FOUND answer: the reference does not resolve to a manifest. */
export function notFoundResult(environment: string, ref: ImageReference, message: string): VerificationResult {
  const digest = ref.digest;
  return {
    verified: false,
    environment,
    reference: digest !== undefined ? canonicalReference(ref, digest) : canonicalReference({ ...ref, tag: ref.tag ?? 'latest' }),
    ...(digest !== undefined ? { digest } : {}),
    signatures: [],
    reasons: [{ code: 'NOT_FOUND', message, detail: message }],
    warnings: [],
  };
}

/**
 * The top-level reason: what it means for the environment, then the detail of the most relevant
 * signature failure (chosen by notation's mostRelevantFailure), so a Rego message can quote it as is.
 */
function summarise(reason: Reason, environment: string): string {
  switch (reason.code) {
    case 'UNTRUSTED_SIGNER':
      return `no signature from a signer trusted for environment ${environment}: ${reason.message}`;
    case 'INVALID_SIGNATURE':
      return `no valid signature for environment ${environment}: ${reason.message}`;
    case 'EXPIRED':
      return `no unexpired signature from a signer trusted for environment ${environment}: ${reason.message}`;
    case 'REVOKED':
      return `no unrevoked signature from a signer trusted for environment ${environment}: ${reason.message}`;
    case 'NO_SIGNATURE':
    case 'NO_TRUST_POLICY':
    case 'NOT_FOUND':
    case 'POLICY_DENIED':
      return `${reason.message} (environment ${environment})`;
  }
}

function copyReason(reason: Reason): Reason {
  return {
    code: reason.code,
    message: reason.message,
    ...(reason.check !== undefined ? { check: reason.check } : {}),
    ...(reason.detail !== undefined ? { detail: reason.detail } : {}),
  };
}

/** Freezes a result and everything in it: cached results are shared between requests. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
