// Public face of oci: registry client, OCI layouts, referrer discovery. Everything above (verify,
// server, cli) imports from here only.

export { MEDIA_TYPE, ANNOTATION, MANIFEST_ACCEPT, EMPTY_JSON, EMPTY_JSON_DIGEST, baseMediaType } from './media-types.js';
export { DEFAULT_LIMITS, resolveLimits, type OciLimits } from './limits.js';
export {
  parseManifest,
  parseDescriptor,
  artifactTypeOf,
  referrerDescriptor,
  type Descriptor,
  type Manifest,
  type ImageManifest,
  type ImageIndex,
  type ArtifactManifest,
  type FetchedManifest,
} from './manifest.js';
export type {
  ContentSource,
  FetchOptions,
  BlobFetchOptions,
  ReferrerListOptions,
  ReferrerListing,
  ReferrerSourceKind,
} from './content-source.js';
export {
  RegistryClient,
  RegistryRepository,
  referrersTag,
  cosignSignatureTag,
  type RegistryClientOptions,
  type RegistryHostConfig,
  type ReferrersCapability,
  type RegistryRequestObserver,
  DEFAULT_MAX_HOSTS,
} from './registry-client.js';
export {
  RegistryThrottle,
  parseRetryAfter,
  DEFAULT_REGISTRY_REQUEST_LIMITS,
  type RegistryRequestLimits,
  type RegistryThrottleLimits,
  type RegistryThrottleOptions,
  type ThrottleOutcome,
  type ThrottlePermit,
  type ThrottleHostState,
} from './registry-throttle.js';
export { createEgressAgent, type EgressRules, type EgressAgentOptions } from './egress.js';
export { HttpTransport, type HttpTransportOptions, type HttpRequest, type HttpResponse, type HttpMethod } from './http-transport.js';
export { OciLayoutSource, type OciLayoutOptions } from './oci-layout.js';
export { LayoutRepository } from './layout-repository.js';
export { MemorySource } from './memory-source.js';
export { OciLayoutWriter } from './oci-layout-writer.js';
export { buildImageManifest, blobDescriptor, EMPTY_DESCRIPTOR, type BuiltManifestBytes, type ImageManifestParts } from './build.js';
export { classifyReferrer, isCosignLegacySignature, SIGNATURE_KINDS, type ArtifactKind, type SignatureKind } from './artifact-kind.js';
export {
  discoverReferrers,
  findSignatures,
  walkReferrers,
  attachReferrer,
  SIGNATURE_ARTIFACT_TYPES,
  type DiscoveredArtifact,
  type SkippedReferrer,
  type ReferrerDiscovery,
  type DiscoverOptions,
  type FindSignaturesOptions,
  type ReferrerNode,
  type ReferrerTree,
} from './referrers.js';
export {
  findCosignSignatures,
  COSIGN_DISCOVERY_DEFAULTS,
  type CosignCandidate,
  type CosignForm,
  type CosignDiscovery,
  type CosignDiscoveryOptions,
} from './cosign-discovery.js';
export {
  parseChallenges,
  DEFAULT_TOKEN_CACHE_LIMITS,
  MAX_TOKEN_RESPONSE_BYTES,
  type Challenge,
  type Credentials,
  type TokenCacheLimits,
} from './auth.js';
export {
  copyImage,
  type CopyOptions,
  type CopyReport,
  type CopyObject,
  type CopyObjectKind,
  type CopyAction,
  type CopyProgress,
} from './copy.js';
