// The one entry point from verification: a cosign signature candidate, in whichever form discovery
// found it, checked against the image digest and the cosign trust.

import type { Digest } from '../core/index.js';
import type { CosignCandidate } from './candidate.js';
import { verifyCosignLegacy, type CosignSignatureReport } from './legacy.js';
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
      // The Sigstore bundle form is verified by its own module (issue #13, bundle part).
      return {
        type: 'cosign',
        digest: candidate.manifestDigest,
        verified: false,
        reasons: [{ code: 'INVALID_SIGNATURE', message: 'the Sigstore bundle form is not supported yet' }],
      };
  }
}
