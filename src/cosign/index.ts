// Public face of cosign: verification of cosign signatures (the Sigstore bundle form here; trust
// material, identities and the legacy form beside it). verify imports from here only.

export { verifyCosignBundle, type CosignBundleOptions } from './bundle.js';
export {
  parseCosignPublicKey,
  type CosignIdentity,
  type CosignPublicKey,
  type CosignSignatureReport,
  type CosignTrust,
} from './trust-material.js';
