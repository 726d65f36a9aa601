// Public face of notation: Notary Project envelopes (JWS, COSE), their algorithms and certificate
// chain rules, and the signer. Everything above (verify, cli) imports from here only.

export * from './envelope.js';
export { parseEnvelope, parsePayload, MAX_ENVELOPE_BYTES, ENVELOPE_MEDIA_TYPES, type NotaryPayload } from './parse-envelope.js';
export { parseJwsEnvelope, parseRfc3339 } from './envelope-jws.js';
export { parseCoseEnvelope, coseSign1ToBeSigned, COSE_LABEL, COSE_SIGN1_TAG } from './envelope-cose.js';
export {
  signatureAlgorithmForKey,
  hashForAlgorithm,
  verifySignatureBytes,
  isSignatureAlgorithm,
  signatureAlgorithmFromCose,
  COSE_ALGORITHM,
  type HashAlgorithm,
} from './algorithms.js';
export {
  createChainVerdictCache,
  validateSigningChain,
  validateTimestampingChain,
  type ChainOptions,
  type ChainVerdict,
  type ChainVerdictCache,
  type ChainVerdictCacheLimits,
  type SigningChainCaches,
} from './chain.js';
export {
  signEnvelope,
  signEnvelopeWith,
  attachTimestampToken,
  buildSignatureManifest,
  type SignEnvelopeOptions,
  type EnvelopeContentOptions,
  type RawSigner,
  type RawSignature,
  type SignTarget,
  type SignedEnvelope,
  type SignatureManifestOptions,
  type SignatureManifest,
  type BlobBytes,
} from './sign.js';
export { verifyTimestampToken, parseTimestampToken, type VerifiedTimestamp, type TimestampTokenInfo } from './timestamp.js';
export {
  RevocationChecker,
  DEFAULT_REVOCATION_OFFLINE,
  type RevocationOptions,
  type RevocationStatus,
  type CertificateRevocation,
  type CheckChainOptions,
  type RevocationFailure,
  type RevocationTransport,
} from './revocation.js';
export {
  NotationVerifier,
  DEFAULT_TIMESTAMP_REVOCATION,
  type NotationVerifierOptions,
  type SignatureVerification,
  type EnvelopeInput,
  type NotationReason,
  type UndecidedSignature,
} from './verifier.js';
export { type VerificationPlugins, type PluginDecision } from './plugin-verification.js';
export {
  verifyNotationArtifact,
  mostRelevantFailure,
  type NotationArtifactResult,
  type NotationSignatureReport,
  type VerifyArtifactOptions,
  type PendingSubject,
} from './verify-artifact.js';
export { generateSigningIdentity, type SigningIdentity, type SigningIdentityOptions } from './identity-generation.js';
export { loadSigningIdentity, checkSigningIdentity, readPemFile, type LoadSigningIdentityOptions } from './signing-key.js';
export {
  pluginSigningKey,
  signWithPlugin,
  pluginSigningMode,
  type PluginRunner,
  type PluginSigningKey,
  type PluginSignRequest,
  type PluginSignature,
} from './plugin-signer.js';
export {
  signImage,
  prepareSignature,
  pushSignature,
  type PreparedSignature,
  type SignImageOptions,
  type SignedImage,
} from './sign-image.js';
export { requestTimestamp, buildTimestampRequest, type TimestampOptions, type ObtainedTimestamp } from './timestamp-request.js';
export * from './plugin-protocol.js';
export {
  PluginHost,
  pluginEnvironment,
  pluginVersionAtLeast,
  sanitizePluginText,
  DEFAULT_PLUGIN_TIMEOUT_MS,
  DEFAULT_PLUGIN_MAX_OUTPUT_BYTES,
  DEFAULT_PLUGIN_MAX_CONCURRENT,
  DEFAULT_PLUGIN_METADATA_TTL_MS,
  PLUGIN_PATH,
  type PluginHostOptions,
  type PluginRunOptions,
  type PluginObserver,
} from './plugin-host.js';
