// The one entry point from verification: a cosign signature candidate, in whichever form discovery
// found it, checked against the image digest and the cosign trust.

import type { Digest } from '../core/index.js';
import type { CosignCandidate } from '../oci/index.js';
import { verifyCosignBundle } from './bundle.js';
import { verifyCosignLegacy } from './legacy.js';
import type { CosignSignatureReport } from './report.js';
import type { CosignTrust } from './trust.js';

export async function verifyCosignCandidate(
  candidate: CosignCandidate,
  subjectDigest: Digest,
  trust: CosignTrust,
): Promise<CosignSignatureReport> {
  switch (candidate.form) {
    case 'legacy':
      return verifyCosignLegacy(candidate, subjectDigest, trust);
    case 'bundle':
      return verifyCosignBundle(candidate.bundle, subjectDigest, trust, { signatureDigest: candidate.manifestDigest });
  }
}
