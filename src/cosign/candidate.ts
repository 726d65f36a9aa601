// What referrer discovery hands to cosign verification (issue #13 contract). Placeholder until the
// discovery side lands it in src/oci; the two are reconciled on merge.

import type { Digest } from '../core/index.js';
import type { Descriptor } from '../oci/index.js';

/**
 * One cosign signature found for an image: the legacy "simple signing" layer of a `.sig` manifest
 * (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md), or a Sigstore bundle
 * v0.3 layer (https://github.com/sigstore/cosign/blob/main/specs/BUNDLE_SPEC.md).
 */
export type CosignCandidate =
  | {
      form: 'legacy';
      /** Digest of the signature manifest that carried the layer. */
      manifestDigest: Digest;
      layer: Descriptor;
      /** The layer blob: the simple signing payload, exactly as served. */
      payload: Uint8Array;
      /** The layer's annotations (signature, certificate, chain, Rekor bundle). */
      annotations: Record<string, string>;
    }
  | { form: 'bundle'; manifestDigest: Digest; bundle: unknown /* parsed JSON of the v0.3 bundle layer */ };
