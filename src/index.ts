// vouch as a library (package "vouch"): the names a user needs, listed one by one so that nothing
// internal (Go-quoting helpers, parsers' building blocks) becomes API by accident. Signing with key
// files and promotion (what `vouch sign` and `vouch promote` do) are here; the building blocks of
// signatures, raw pushes and writing OCI layouts, for tests and demos, are in "vouch/testing" (src/testing.ts).
// README "Using it as a library" shows them together; test/unit/public-api.test.ts keeps that true.

// ---- core: references, digests, errors, checks ------------------------------------------------
export {
  parseReference,
  formatReference,
  manifestReference,
  withDigest,
  repositoryName,
  DOCKER_HUB_HOST,
  type ImageReference,
  parseDigest,
  isDigest,
  computeDigest,
  type Digest,
  type DigestAlgorithm,
  VouchError,
  InvalidReferenceError,
  RegistryError,
  isVouchError,
  isUndecidedCode,
  ANSWER_CODES,
  UNDECIDED_CODES,
  INTERNAL_CODES,
  type ErrorCode,
  type AnswerCode,
  type UndecidedCode,
  type InternalCode,
  type ErrorReason,
  type VouchErrorOptions,
  CHECK_TYPES,
  type CheckType,
  type CheckAction,
  type CheckOutcome,
  type CheckResult,
  type LevelName,
  type VerificationLevel,
} from './core/index.js';

// ---- oci: registries, OCI layouts, discovery of signatures ------------------------------------
export {
  RegistryClient,
  type RegistryRepository,
  type RegistryClientOptions,
  type RegistryHostConfig,
  OciLayoutSource,
  type OciLayoutOptions,
  type ContentSource,
  type FetchOptions,
  type BlobFetchOptions,
  MEDIA_TYPE,
  type Descriptor,
  type Manifest,
  type ImageManifest,
  type ImageIndex,
  type ArtifactManifest,
  type FetchedManifest,
  findSignatures,
  discoverReferrers,
  walkReferrers,
  type FindSignaturesOptions,
  type DiscoverOptions,
  type DiscoveredArtifact,
  type SkippedReferrer,
  type ReferrerDiscovery,
  type ReferrerSourceKind,
  type ReferrerTree,
  type ReferrerNode,
  type ArtifactKind,
  type SignatureKind,
} from './oci/index.js';

// ---- trust: Notary Project trust policies and trust stores ------------------------------------
export {
  readOciTrustPolicyFile,
  parseOciTrustPolicy,
  findApplicableStatement,
  type OciTrustPolicy,
  type TrustPolicyStatement,
  type TrustStoreRef,
  type TrustStoreType,
  type VerifyTimestamp,
  FileTrustStore,
  type FileTrustStoreOptions,
  type TrustStore,
  type TrustStoreOptions,
  type Certificate,
} from './trust/index.js';

// ---- notation: verifying Notary Project signatures --------------------------------------------
export {
  NotationVerifier,
  verifyNotationArtifact,
  RevocationChecker,
  type RevocationOptions,
  type NotationVerifierOptions,
  type SignatureVerification,
  type NotationReason,
  type NotationArtifactResult,
  type NotationSignatureReport,
  type VerifyArtifactOptions,
  type VerifiedTimestamp,
  // Notary Project plugins (docs/plugins.md): the process host, for verification and for signing
  PluginHost,
  pluginEnvironment,
  type PluginHostOptions,
  type PluginObserver,
  type PluginConfig,
  type PluginMetadata,
  type VerificationPlugins,
} from './notation/index.js';

// ---- policy: OPA WebAssembly policies in a worker thread (the shared decision, environment policies)
export { loadPolicyFile, loadPolicyBytes, WasmPolicy, type LoadPolicyOptions, type PolicyLimits } from './policy/index.js';

// ---- verify: the engine behind the provider, its keys and results -----------------------------
export {
  VerificationEngine,
  parseKey,
  type ParsedKey,
  type VerificationEngineOptions,
  type VerificationCacheOptions,
  type VerificationObserver,
  type EnvironmentTrust,
  type EnvironmentCatalog,
  type ContentSourceFactory,
  type RepositoryProvider,
  type RequestOptions,
  type KeyResult,
  type KeyError,
  type KeyOutcome,
  type MutateResult,
  type EngineStats,
  type VerificationResult,
  type SignatureResult,
  type NotationSignatureResult,
  type CosignSignatureResult,
  type Reason,
} from './verify/index.js';

// ---- config: vouch.yaml -----------------------------------------------------------------------
export {
  loadConfig,
  parseConfig,
  configPathFrom,
  CONFIG_ENV_VAR,
  type LoadConfigOptions,
  type ParseConfigOptions,
  type VouchConfig,
  type ServerConfig,
  type ServerTlsConfig,
  type EnvironmentConfig,
  type RegistryConfig,
  type CacheConfig,
  type LimitsConfig,
  type RevocationConfig,
} from './config/index.js';

// ---- app: the runtime built from a configuration, and the provider serving it -----------------
export {
  startProvider,
  createVerificationStack,
  type RunningProvider,
  type StartProviderOptions,
  type VerificationStack,
  // promotion (docs/promotion.md): copy with the referrer graph, optionally stamped for an environment
  promoteImage,
  checkSignatureForEnvironment,
  createRegistryClient,
  type PromoteOptions,
  type PromoteResult,
  type PromoteStamp,
  type PromoteStampResult,
  type SignatureCheck,
  type SignatureCheckOptions,
} from './app/index.js';

// ---- signing with key files or a plugin (vouch sign), and the copy engine under promotion ---------
export {
  signImage,
  prepareSignature,
  pushSignature,
  loadSigningIdentity,
  pluginSigningKey,
  type PluginSigningKey,
  type SignImageOptions,
  type SignedImage,
  type PreparedSignature,
  type TimestampOptions,
} from './notation/index.js';
export { copyImage, type CopyOptions, type CopyReport, type CopyObject, type CopyProgress } from './oci/index.js';
