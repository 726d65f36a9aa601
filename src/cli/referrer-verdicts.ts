// Verdicts per environment for the signatures in a referrer tree (`vouch referrers --tree` with a
// config). Nothing is decided here: every artifact that has signatures among its referrers (the image,
// an SBOM, …) is verified as `repo@<its digest>` by the real engine, once per environment, and each
// signature node takes its outcome from that answer's `signatures[]` (matched by manifest digest).

import { formatReference, withDigest, type Digest, type ErrorCode, type ErrorReason, type ImageReference } from '../core/index.js';
import { SIGNATURE_KINDS, type ArtifactKind, type ReferrerNode, type ReferrerTree } from '../oci/index.js';
import type { KeyResult, RequestOptions, VerificationResult } from '../verify/index.js';

/**
 * - verified: the engine verified it (for a subject: the environment's trust is satisfied).
 * - not-verified: checked and failed, or the environment cannot accept it (`code` says why).
 * - not-evaluated: the engine did not look at this signature (another one already satisfied the
 *   policy, the level is `skip`, or the environment does not trust this kind of signature).
 * - undecided: the engine could not answer (registry down, deadline): `code`/`reason` of the error.
 */
export type VerdictStatus = 'verified' | 'not-verified' | 'not-evaluated' | 'undecided';

export interface EnvironmentVerdict {
  environment: string;
  status: VerdictStatus;
  /** Subject DN (notation) or key/identity (cosign) of the signature, when the engine reported one. */
  signer?: string;
  /** The AnswerCode of a negative answer, or the ErrorCode of an undecided one. */
  code?: ErrorCode;
  /** The ErrorReason of an undecided answer, when known. */
  reason?: ErrorReason;
  message?: string;
}

export interface ReferrerVerdicts {
  /** The environments asked, in order. */
  environments: string[];
  /** The engine's answer per environment for each artifact whose signatures were verified, by digest. */
  subjects: Record<string, EnvironmentVerdict[]>;
  /** Each signature's outcome per environment, by the signature manifest's digest. */
  signatures: Record<string, EnvironmentVerdict[]>;
}

/** The part of VerificationEngine used here (tests may pass a recording wrapper). */
export interface VerdictEngine {
  verify(keys: readonly string[], options: RequestOptions): Promise<KeyResult[]>;
}

export interface ReferrerVerdictOptions {
  engine: VerdictEngine;
  /** The image's reference: its registry and repository name the repository of every artifact. */
  reference: ImageReference;
  environments: readonly string[];
  /** Which kinds of signature an environment's trust covers (a Notary part, a cosign part). */
  trusts: (environment: string) => { notation: boolean; cosign: boolean };
  deadline: number;
}

export function isSignatureKind(kind: ArtifactKind): boolean {
  return (SIGNATURE_KINDS as readonly string[]).includes(kind);
}

/** Verifies the tree's signed artifacts in every environment with the engine and maps the answers onto its signatures. */
export async function referrerVerdicts(tree: ReferrerTree, options: ReferrerVerdictOptions): Promise<ReferrerVerdicts> {
  const { engine, reference, environments, trusts } = options;
  // The subjects: the image itself (always: its own verdict heads the tree) and every artifact with
  // signatures among its referrers. walkReferrers lists each artifact once, so digests are unique.
  const subjects: Array<{ digest: string; signatures: Array<{ digest: string; kind: ArtifactKind }> }> = [];
  const collect = (digest: string, referrers: readonly ReferrerNode[], always: boolean) => {
    const signatures = referrers
      .filter((n) => isSignatureKind(n.artifact.kind))
      .map((n) => ({ digest: n.artifact.descriptor.digest, kind: n.artifact.kind }));
    if (always || signatures.length > 0) subjects.push({ digest, signatures });
    for (const node of referrers) collect(node.artifact.descriptor.digest, node.referrers, false);
  };
  collect(tree.subject, tree.referrers, true);

  const keyOf = (environment: string, digest: string) => `[${environment}]${formatReference(withDigest(reference, digest as Digest))}`;
  const keys = subjects.flatMap((s) => environments.map((env) => keyOf(env, s.digest)));
  const results = await engine.verify(keys, { deadline: options.deadline });
  const byKey = new Map(results.map((r) => [r.key, r]));

  const out: ReferrerVerdicts = { environments: [...environments], subjects: {}, signatures: {} };
  for (const subject of subjects) {
    out.subjects[subject.digest] = [];
    for (const signature of subject.signatures) out.signatures[signature.digest] = [];
    for (const environment of environments) {
      const result = byKey.get(keyOf(environment, subject.digest));
      out.subjects[subject.digest]!.push(subjectVerdict(environment, result));
      for (const signature of subject.signatures) {
        out.signatures[signature.digest]!.push(signatureVerdict(environment, result, signature, trusts(environment)));
      }
    }
  }
  return out;
}

function undecided(environment: string, result: KeyResult | undefined): EnvironmentVerdict {
  const error = result?.error ?? { code: 'INTERNAL' as const, message: 'the engine returned no answer for this key' };
  return {
    environment,
    status: 'undecided',
    code: error.code,
    ...(error.reason !== undefined ? { reason: error.reason } : {}),
    message: error.message,
  };
}

function subjectVerdict(environment: string, result: KeyResult | undefined): EnvironmentVerdict {
  if (result?.value === undefined) return undecided(environment, result);
  const value = result.value;
  if (value.verified) {
    const signer = value.signatures.find((s) => s.verified)?.signer;
    return {
      environment,
      status: 'verified',
      ...(signer !== undefined ? { signer } : {}),
      ...(value.skipped ? { message: 'trust policy level skip: not checked' } : {}),
    };
  }
  const first = value.reasons[0];
  return {
    environment,
    status: 'not-verified',
    ...(first !== undefined ? { code: first.code, message: first.message } : {}),
  };
}

function signatureVerdict(
  environment: string,
  result: KeyResult | undefined,
  signature: { digest: string; kind: ArtifactKind },
  trust: { notation: boolean; cosign: boolean },
): EnvironmentVerdict {
  if (result?.value === undefined) return undecided(environment, result);
  const value: VerificationResult = result.value;
  const reported = value.signatures.find((s) => s.digest === signature.digest);
  if (reported !== undefined) {
    const signer = reported.signer !== undefined ? { signer: reported.signer } : {};
    if (reported.verified) return { environment, status: 'verified', ...signer };
    const first = reported.reasons[0] ?? value.reasons[0];
    return { environment, status: 'not-verified', ...signer, ...(first !== undefined ? { code: first.code, message: first.message } : {}) };
  }
  // Not in the answer: say why rather than guess at a verdict the engine did not give.
  const cosign = signature.kind !== 'notation';
  if (cosign ? !trust.cosign : !trust.notation) {
    return {
      environment,
      status: 'not-evaluated',
      message: `environment "${environment}" has no ${cosign ? 'cosign' : 'Notary Project'} trust`,
    };
  }
  if (value.skipped) return { environment, status: 'not-evaluated', message: 'trust policy level skip: not checked' };
  if (value.verified) return { environment, status: 'not-evaluated', message: 'another signature already satisfied the policy' };
  // A negative answer that never reached this signature (no trust policy statement for the
  // repository, past the signature cap): the answer's reason is the signature's too.
  const first = value.reasons[0];
  return { environment, status: 'not-verified', ...(first !== undefined ? { code: first.code, message: first.message } : {}) };
}
