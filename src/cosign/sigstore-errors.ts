// One mapping from @sigstore/verify failures to vouch's answer codes, by the library's stable error
// `code` (@sigstore/verify error.ts: VerificationError / PolicyError), never by message text.

import { PolicyError, VerificationError } from '@sigstore/verify';
import type { AnswerCode } from '../core/index.js';
import type { CosignReason } from './report.js';

/**
 * The answer for a failure thrown by `Verifier.verify`. The library reports an untrusted chain and
 * a certificate outside its validity at the signing time alike (CERTIFICATE_ERROR), as
 * UNTRUSTED_SIGNER here; a caller that can tell expiry apart (from the certificate and the log
 * time) answers EXPIRED itself.
 */
export function sigstoreFailure(error: unknown): CosignReason {
  if (!(error instanceof VerificationError || error instanceof PolicyError)) {
    // bundleFromJSON / toSignedEntity reject malformed material with plain errors (ValidationError, parse errors).
    return { code: 'INVALID_SIGNATURE', message: `malformed signature material: ${describe(error)}` };
  }
  const message = `${error.code}: ${error.message}`;
  switch (error.code) {
    case 'UNTRUSTED_SIGNER_ERROR': // identity (SAN, issuer, OIDs) does not match the policy
    case 'PUBLIC_KEY_ERROR': // no configured key for the hint, or the key is outside its validity
      return { code: 'UNTRUSTED_SIGNER', message };
    case 'CERTIFICATE_ERROR': // no path to a trusted Fulcio CA, not valid at the signing time, or missing SCTs
      return { code: 'UNTRUSTED_SIGNER', message };
    case 'TLOG_ERROR': // fewer tlog entries than required
    case 'TIMESTAMP_ERROR': // fewer verified timestamps than required
      return { code: 'UNTRUSTED_SIGNER', message };
    case 'SIGNATURE_ERROR':
    case 'TLOG_BODY_ERROR': // the log entry is for another signature or payload
    case 'TLOG_INCLUSION_PROMISE_ERROR': // the SET does not verify under a trusted log key
    case 'TLOG_INCLUSION_PROOF_ERROR':
    case 'TLOG_MISSING_INCLUSION_ERROR':
      return { code: 'INVALID_SIGNATURE', message };
    default:
      return { code: 'INVALID_SIGNATURE', message };
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
