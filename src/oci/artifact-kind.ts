// Which verifier a referrer belongs to, decided from the fetched manifest itself (never from the
// listing's descriptor, which is an untrusted hint). Rules: Notary Project signature-specification
// "Storage" (both manifest forms notation-go accepts), cosign SIGNATURE_SPEC.md and cosign v3's
// bundle referrers (README "How discovery works", step 6).

import { artifactTypeOf, type Manifest } from './manifest.js';
import { MEDIA_TYPE } from './media-types.js';

export type ArtifactKind =
  /** Notary Project signature (JWS or COSE envelope as the single layer). */
  | 'notation'
  /** Sigstore bundle v0.3 referrer (cosign v3 default). */
  | 'cosign-bundle'
  /** cosign ≤ v2 experimental OCI 1.1 signature referrer. */
  | 'cosign-experimental'
  /** cosign's legacy `sha256-<hex>.sig` tag manifest (no subject; binding is in the payload). */
  | 'cosign-legacy'
  /** in-toto attestation referrer (not a signature of the image by itself). */
  | 'in-toto'
  /** Anything else (SBOMs, scan reports, unknown types): never fails discovery (spec MUST). */
  | 'other';

/** The kinds that are signatures of their subject (a verifier exists or is planned for each). */
export type SignatureKind = Extract<ArtifactKind, 'notation' | 'cosign-bundle' | 'cosign-experimental' | 'cosign-legacy'>;

export const SIGNATURE_KINDS: readonly SignatureKind[] = ['notation', 'cosign-bundle', 'cosign-experimental', 'cosign-legacy'];

/**
 * Classifies a referrer manifest. Notation signatures come in two forms and both are accepted
 * (spec "OCI Signature Verification Forward and Backward Compatibility"): `artifactType` =
 * notary signature with the empty config (notation ≥ 2), or no `artifactType` and
 * `config.mediaType` = notary signature (every released notation 1.x). notation-go skips an
 * `artifactType` notary manifest whose config is anything but empty, and so do we.
 */
export function classifyReferrer(manifest: Manifest): ArtifactKind {
  if (manifest.kind === 'manifest') {
    if (manifest.mediaType === MEDIA_TYPE.ociManifest) {
      if (manifest.artifactType === MEDIA_TYPE.notarySignature) {
        return manifest.config.mediaType === MEDIA_TYPE.ociEmpty ? 'notation' : 'other';
      }
      if (manifest.artifactType === undefined && manifest.config.mediaType === MEDIA_TYPE.notarySignature) return 'notation';
    }
    const type = artifactTypeOf(manifest) ?? '';
    if (type.startsWith(MEDIA_TYPE.sigstoreBundlePrefix)) return 'cosign-bundle';
    if (type === MEDIA_TYPE.cosignExperimentalSignature) return 'cosign-experimental';
    if (type === MEDIA_TYPE.inToto) return 'in-toto';
    return 'other';
  }
  if (manifest.kind === 'artifact') {
    // The removed image-spec 1.1-rc artifact manifest: notation RCs wrote signatures this way and
    // notation-go still reads them; the notation verifier checks `blobs` itself.
    if (manifest.artifactType === MEDIA_TYPE.notarySignature) return 'notation';
    return 'other';
  }
  return 'other';
}

/** True when a cosign legacy `.sig` tag manifest looks like one: simple-signing layers. */
export function isCosignLegacySignature(manifest: Manifest): boolean {
  return (
    manifest.kind === 'manifest' &&
    manifest.layers.length > 0 &&
    manifest.layers.every((l) => l.mediaType === MEDIA_TYPE.cosignSimpleSigning)
  );
}
