// The per-key answer of the provider, VerificationResult (docs/api.md "VerificationResult"), built from a
// notation artifact verification and, for environments that trust cosign, the cosign signature reports. Field names are a public contract: the Rego library, the gRPC
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
import type { CosignSignatureReport } from '../cosign/index.js';
import type { NotationArtifactResult, NotationSignatureReport, PluginDecision, UndecidedSignature } from '../notation/index.js';

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

/** One signature that refers to the image: a Notary Project one or a cosign one. */
export type SignatureResult = NotationSignatureResult | CosignSignatureResult;

/** A Notary Project signature, as checked under the environment's trust policy. */
export interface NotationSignatureResult {
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
  /**
   * The Notary Project verification plugin the signature names (`io.cncf.notary.verificationPlugin`),
   * once found and checked: its name, version, and the checks it decided — `authenticity` (its
   * trusted-identity verdict; the trust store check stays vouch's) and `revocation`.
   */
  plugin?: PluginDecision;
  /**
   * Present when the signature could not be decided (its verification plugin gave no usable answer):
   * `verified` is false but it is no verdict. An image none of whose signatures verified, with one
   * undecided, is answered with this error instead of a VerificationResult.
   */
  undecided?: UndecidedSignature;
}

/** A cosign signature (legacy `.sig` layer or Sigstore bundle referrer), as checked under the environment's cosign trust. */
export interface CosignSignatureResult {
  type: 'cosign';
  /** Digest of the manifest the signature came from (the `.sig` manifest, or the bundle referrer). */
  digest: string;
  verified: boolean;
  /** Key-based: `sha256:<hex>` of the public key's SubjectPublicKeyInfo DER; keyless: `SAN (issuer)`. Absent when not verified. */
  signer?: string;
  /** Why it does not verify (empty when verified). */
  reasons: Reason[];
}

/** What the engine found of an image's cosign signatures, for an environment that trusts cosign. */
export interface CosignVerification {
  /** The reports of the signatures evaluated, in discovery order. */
  reports: CosignSignatureReport[];
  /** Signatures found (more than reports.length when capped). */
  found: number;
}

export interface VerificationResult {
  /**
   * True when the environment's trust is satisfied: a Notary Project signature satisfies its trust
   * policy, or a cosign signature verifies under its cosign trust (and its decision policy, if any, allows).
   */
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
   * being verified without a signature check. `verified` is true and no signature verified.
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

export function toSignatureResult(report: NotationSignatureReport): NotationSignatureResult {
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
    ...(report.plugin !== undefined ? { plugin: copyPluginDecision(report.plugin) } : {}),
    ...(report.undecided !== undefined
      ? { undecided: { code: report.undecided.code, reason: report.undecided.reason, message: report.undecided.message } }
      : {}),
  };
}

export function toCosignSignatureResult(report: CosignSignatureReport): CosignSignatureResult {
  return {
    type: 'cosign',
    digest: report.digest,
    verified: report.verified,
    ...(report.signer !== undefined ? { signer: report.signer } : {}),
    reasons: report.reasons.map((r) => ({ code: r.code, message: r.message, detail: r.message })),
  };
}

/**
 * A VerificationResult for `reference`@`digest` in `environment` from notation's verdict (absent for an
 * environment without a Notary part) and the cosign reports (absent for one without cosign). The
 * built-in rule: verified when either kind verifies; otherwise the most relevant failure of both.
 */
export function toVerificationResult(
  environment: string,
  ref: ImageReference,
  digest: Digest,
  artifact: NotationArtifactResult | undefined,
  cosign?: CosignVerification,
): VerificationResult {
  const notationSignatures = artifact?.signatures.map(toSignatureResult) ?? [];
  const cosignSignatures = cosign?.reports.map(toCosignSignatureResult) ?? [];
  const cosignVerified = cosignSignatures.some((s) => s.verified);
  const result: VerificationResult = {
    verified: artifact?.verified === true || cosignVerified,
    environment,
    reference: canonicalReference(ref, digest),
    digest,
    signatures: [...notationSignatures, ...cosignSignatures],
    reasons: [],
    warnings: [],
  };
  if (artifact?.trustPolicy !== undefined) result.trustPolicy = artifact.trustPolicy;
  if (result.verified) {
    // `skipped` says nothing was checked: not so when a cosign signature verified.
    if (artifact?.verified === true && artifact.skippedByPolicy && !cosignVerified) result.skipped = true;
    result.warnings = notationSignatures.find((s) => s.verified)?.warnings ?? [];
    return result;
  }
  const notationReasons: Reason[] = artifact?.reasons.map(copyReason) ?? [];
  const cosignReasons = cosign === undefined ? [] : cosignFailures(cosignSignatures, cosign, digest);
  let reasons: Reason[];
  if (artifact === undefined) reasons = cosignReasons;
  else if (cosign === undefined) reasons = notationReasons;
  else if (notationReasons[0]?.code === 'NO_SIGNATURE' && cosignReasons[0]?.code === 'NO_SIGNATURE') {
    const message = `no Notary Project or cosign signature refers to ${digest}`;
    reasons = [{ code: 'NO_SIGNATURE', message, detail: message }, ...notationReasons.slice(1), ...cosignReasons.slice(1)];
  } else if (failureRank(cosignReasons[0]) > failureRank(notationReasons[0])) {
    reasons = [...cosignReasons, ...notationReasons];
  } else {
    reasons = [...notationReasons, ...cosignReasons];
  }
  const [decisive, ...rest] = reasons;
  // Fail closed even if notation ever said "not verified" without saying why.
  const first = decisive ?? { code: 'INVALID_SIGNATURE' as const, message: 'no signature could be verified' };
  result.reasons = [
    {
      code: first.code,
      message: summarise(first, environment),
      ...(first.check !== undefined ? { check: first.check } : {}),
      detail: first.detail ?? first.message,
    },
    ...rest,
  ];
  return result;
}

/**
 * Which failure says most, across kinds: a signature that got further (a trusted signer, then one
 * whose certificate expired or was revoked) over a bad one, and any signature over none. The same
 * order as notation's mostRelevantFailure (integrity, authenticity, then time and revocation checks).
 */
const FAILURE_RANK: Readonly<Partial<Record<AnswerCode, number>>> = {
  NO_SIGNATURE: 0,
  NO_TRUST_POLICY: 1,
  INVALID_SIGNATURE: 2,
  UNTRUSTED_SIGNER: 3,
  EXPIRED: 4,
  REVOKED: 5,
};

function failureRank(reason: Reason | undefined): number {
  return reason === undefined ? -1 : (FAILURE_RANK[reason.code] ?? 0);
}

/** The cosign side's reasons: the most relevant signature failure (or NO_SIGNATURE), then the cap if one applied. */
function cosignFailures(signatures: CosignSignatureResult[], cosign: CosignVerification, digest: Digest): Reason[] {
  let best: { reason: Reason; digest: string } | undefined;
  for (const signature of signatures) {
    const reason = signature.reasons[0];
    if (reason !== undefined && (best === undefined || failureRank(reason) > failureRank(best.reason))) {
      best = { reason, digest: signature.digest };
    }
  }
  const reasons: Reason[] = [];
  if (best === undefined) {
    const message = `no cosign signature refers to ${digest}`;
    reasons.push({ code: 'NO_SIGNATURE', message, detail: message });
  } else {
    const message = `cosign signature ${best.digest}: ${best.reason.message}`;
    reasons.push({ code: best.reason.code, message, detail: message });
  }
  if (cosign.found > signatures.length) {
    const message = `only the first ${signatures.length} of ${cosign.found} cosign signatures were evaluated`;
    reasons.push({ code: 'NO_SIGNATURE', message, detail: message });
  }
  return reasons;
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

/** A plugin decision as a result carries it: a copy, so that no report's array is shared. */
export function copyPluginDecision(plugin: PluginDecision): PluginDecision {
  return { name: plugin.name, version: plugin.version, checks: [...plugin.checks] };
}
