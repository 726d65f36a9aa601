// Verifies an artifact's Notary Project signatures the way `notation verify` does
// (signing-and-verification-workflow.md "Verification workflow"; notation-go notation.Verify):
// pick the trust policy statement for the repository, honour `skip`, list the signatures, verify
// them in listing order up to a cap, and stop at the first one that satisfies the policy.
// A signature its verification plugin could not decide (PLUGIN_ERROR) does not stop the others: it is
// reported as undecided, and only when no signature verifies is the artifact undecided (thrown).

import { CHECK_TYPES, VouchError, type AnswerCode, type Digest } from '../core/index.js';
import { findSignatures, type ContentSource, type Descriptor, type DiscoveredArtifact } from '../oci/index.js';
import { findApplicableStatement, type OciTrustPolicy, type TrustPolicyStatement } from '../trust/index.js';
import { ENVELOPE_MEDIA_TYPES } from './parse-envelope.js';
import type { NotationReason, NotationVerifier, SignatureVerification } from './verifier.js';

export interface NotationSignatureReport extends SignatureVerification {
  /** Digest of the signature manifest. */
  digest: Digest;
}

export interface NotationArtifactResult {
  verified: boolean;
  /** The statement that applied; absent when none did (NO_TRUST_POLICY). */
  trustPolicy?: string;
  /** True when the statement's level is `skip`: nothing was fetched or checked. */
  skippedByPolicy: boolean;
  signatures: NotationSignatureReport[];
  /** Why the artifact is not verified (empty when verified). */
  reasons: NotationReason[];
}

/** A subject whose manifest is still being fetched: its digest is known, its descriptor pending. */
export interface PendingSubject {
  digest: Digest;
  pending: Promise<Descriptor>;
}

export interface VerifyArtifactOptions {
  signal?: AbortSignal;
  /** notation's --max-signatures (default 100). */
  maxSignatures?: number;
  /**
   * Verify every signature (up to maxSignatures) instead of stopping at the first that satisfies
   * the policy: an environment decision policy may ask for more than one (two signers).
   */
  all?: boolean;
}

/**
 * Throws what could not be decided: registry trouble, the deadline, and PLUGIN_ERROR when no
 * signature verified and one was undecided (its verification plugin gave no usable answer).
 * @param repository `host[:port]/repo`, matched against registryScopes.
 * @param subject the resolved descriptor of the artifact (digest computed from its bytes).
 */
export async function verifyNotationArtifact(
  source: ContentSource,
  repository: string,
  target: Descriptor | PendingSubject,
  policy: OciTrustPolicy,
  verifier: NotationVerifier,
  options: VerifyArtifactOptions = {},
): Promise<NotationArtifactResult> {
  const pending = 'pending' in target ? target.pending : Promise.resolve(target);
  pending.catch(() => {
    // observed below; this only keeps an early throw from leaving the rejection unhandled
  });
  const statement = findApplicableStatement(policy, repository);
  if (statement === undefined || statement.level.name === 'skip') {
    // An artifact that does not exist is NOT_FOUND whatever the policy says: settle that first.
    await pending;
  }
  if (statement === undefined) {
    return {
      verified: false,
      skippedByPolicy: false,
      signatures: [],
      reasons: [
        {
          code: 'NO_TRUST_POLICY',
          message: `no trust policy statement applies to repository "${repository}"${policy.withdrawn !== undefined ? `: ${policy.withdrawn}` : ''}`,
        },
      ],
    };
  }
  if (statement.level.name === 'skip') {
    return { verified: true, trustPolicy: statement.name, skippedByPolicy: true, signatures: [], reasons: [] };
  }

  // Listing signatures needs only the digest: it runs while the subject manifest is fetched (one
  // round trip less on the admission path); the subject's descriptor is needed to check payloads.
  const [resolved, listed] = await Promise.allSettled([
    pending,
    findSignatures(source, target.digest, { kinds: ['notation'], ...(options.signal ? { signal: options.signal } : {}) }),
  ]);
  if (resolved.status === 'rejected') throw resolved.reason;
  if (listed.status === 'rejected') throw listed.reason;
  const subject = resolved.value;
  const discovery = listed.value;
  const candidates = discovery.artifacts.filter((a) => a.kind === 'notation');
  if (candidates.length === 0) {
    return {
      verified: false,
      trustPolicy: statement.name,
      skippedByPolicy: false,
      signatures: [],
      reasons: [{ code: 'NO_SIGNATURE', message: `no Notary Project signature refers to ${subject.digest}` }],
    };
  }
  const max = options.maxSignatures ?? 100;
  const signatures: NotationSignatureReport[] = [];
  for (const candidate of candidates.slice(0, max)) {
    const report = await verifyCandidate(source, candidate, subject, statement, verifier, options.signal);
    signatures.push(report);
    if (report.verified && options.all !== true)
      return { verified: true, trustPolicy: statement.name, skippedByPolicy: false, signatures, reasons: [] };
  }
  if (signatures.some((s) => s.verified))
    return { verified: true, trustPolicy: statement.name, skippedByPolicy: false, signatures, reasons: [] };
  // Not verified, but a signature that might have been was not decided: no verdict either (the
  // engine caches it only for undecidedTtlMs and Gatekeeper retries).
  const undecided = signatures.find((s) => s.undecided !== undefined);
  if (undecided?.undecided !== undefined) {
    const { code, reason, message } = undecided.undecided;
    throw new VouchError(code, `signature ${undecided.digest}: ${message}`, { reason });
  }
  const reasons = [mostRelevantFailure(signatures)];
  if (candidates.length > max) {
    reasons.push({ code: 'NO_SIGNATURE', message: `only the first ${max} of ${candidates.length} signatures were evaluated` });
  }
  return { verified: false, trustPolicy: statement.name, skippedByPolicy: false, signatures, reasons };
}

async function verifyCandidate(
  source: ContentSource,
  candidate: DiscoveredArtifact,
  subject: Descriptor,
  statement: TrustPolicyStatement,
  verifier: NotationVerifier,
  signal: AbortSignal | undefined,
): Promise<NotationSignatureReport> {
  const digest = candidate.descriptor.digest;
  const invalid = (message: string): NotationSignatureReport => ({
    digest,
    verified: false,
    trustPolicy: statement.name,
    level: statement.level.name,
    checks: [{ type: 'integrity', outcome: 'fail', action: 'enforce', code: 'INVALID_SIGNATURE', message }],
    reasons: [{ code: 'INVALID_SIGNATURE', message: `integrity: ${message}`, check: 'integrity', detail: message }],
    warnings: [],
  });
  // signature-specification.md "Storage": one layer, the envelope, of a supported media type.
  const manifest = candidate.manifest.manifest;
  const layers = manifest.kind === 'manifest' ? manifest.layers : manifest.kind === 'artifact' ? manifest.blobs : [];
  if (layers.length !== 1) return invalid(`signature manifest requires exactly one signature envelope blob, got ${layers.length}`);
  const layer = layers[0]!;
  if (!ENVELOPE_MEDIA_TYPES.includes(layer.mediaType)) {
    return invalid(`signature envelope format with media type "${layer.mediaType}" is not supported`);
  }
  let bytes: Uint8Array;
  try {
    bytes = await source.fetchBlob(layer, signal ? { signal } : {});
  } catch (error) {
    // Envelope bytes that are missing, oversized or do not match their digest are not a
    // signature we can check; an unreachable registry is not a verdict (rethrown).
    if (
      error instanceof VouchError &&
      (error.code === 'NOT_FOUND' || (error.code === 'REGISTRY_UNAVAILABLE' && isContentFault(error.reason)))
    ) {
      return invalid(`envelope ${layer.digest}: ${error.message}`);
    }
    throw error;
  }
  const report = await verifier.verify({ mediaType: layer.mediaType, bytes, subject }, statement, signal ? { signal } : {});
  return { digest, ...report };
}

function isContentFault(reason: string): boolean {
  return ['DIGEST_MISMATCH', 'SIZE_MISMATCH', 'SIZE_LIMIT', 'BAD_CONTENT', 'MEDIA_TYPE'].includes(reason);
}

/**
 * The failure of the signature that got furthest through the checks: an expired signature by a
 * trusted signer says more than an unrelated signature with bad bytes.
 */
export function mostRelevantFailure(signatures: SignatureVerification[]): NotationReason {
  let best: { rank: number; reason: NotationReason } | undefined;
  for (const signature of signatures) {
    const failed = signature.checks.find((c) => c.outcome === 'fail' && c.action === 'enforce');
    const reason = signature.reasons[0];
    if (failed === undefined || reason === undefined) continue;
    const rank = CHECK_TYPES.indexOf(failed.type);
    if (best === undefined || rank > best.rank) best = { rank, reason };
  }
  return best?.reason ?? { code: 'INVALID_SIGNATURE', message: 'no signature could be verified' };
}
