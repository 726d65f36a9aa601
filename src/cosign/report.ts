// The outcome of one cosign signature, as the engine will report it next to Notary Project ones.

import type { AnswerCode } from '../core/index.js';

/** One reason a cosign signature does not verify, with a public answer code (docs/api.md "Codes"). */
export interface CosignReason {
  code: AnswerCode;
  message: string;
}

export interface CosignSignatureReport {
  type: 'cosign';
  /** Digest of the signature manifest the signature came from (a `.sig` manifest, or the referrer carrying a bundle). */
  digest: string;
  verified: boolean;
  /** Key-based: `sha256:<SPKI fingerprint>`; keyless: `SAN (issuer)`. Absent when not verified. */
  signer?: string;
  reasons: CosignReason[];
}
