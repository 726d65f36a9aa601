// Public face of cosign: trust material (keys, trusted root, identities) and verification of cosign
// signatures (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md,
// https://github.com/sigstore/cosign/blob/main/specs/BUNDLE_SPEC.md) through @sigstore/verify.
export type { CosignReason, CosignSignatureReport } from './report.js';
export { verifyCosignBundle, type CosignBundleOptions } from './bundle.js';
export {
  buildTrustMaterial,
  identityPolicy,
  identitySanPattern,
  keySigner,
  loadCosignPublicKey,
  parseTrustedRoot,
  type CosignIdentity,
  type CosignKeyType,
  type CosignPublicKey,
  type CosignTrust,
} from './trust.js';
export { COSIGN_ANNOTATION, SIMPLE_SIGNING_TYPE, checkSimpleSigningPayload, verifyCosignLegacy } from './legacy.js';
export { sigstoreFailure } from './sigstore-errors.js';
export { verifyCosignCandidate } from './verify-candidate.js';
