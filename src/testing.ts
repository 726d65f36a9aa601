// vouch's test helpers (package "vouch/testing"): signing Notary Project signatures with generated
// identities, pushing images and referrers, and writing OCI image layouts. vouch's own tests and
// `vouch demo` build their fixtures with these; they are not needed to verify anything, so the main
// entry point (src/index.ts) leaves them out.

export {
  generateSigningIdentity,
  signEnvelope,
  buildSignatureManifest,
  type SigningIdentity,
  type SigningIdentityOptions,
  type SignEnvelopeOptions,
  type SignTarget,
  type SignedEnvelope,
  type SignatureManifestOptions,
  type SignatureManifest,
  type BlobBytes,
} from './notation/index.js';
export {
  attachReferrer,
  buildImageManifest,
  blobDescriptor,
  EMPTY_DESCRIPTOR,
  OciLayoutWriter,
  type BuiltManifestBytes,
  type ImageManifestParts,
} from './oci/index.js';
