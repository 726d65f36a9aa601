// Public face of verify: the verification engine behind the provider (docs/api.md "VerificationResult", "Codes"), its key
// grammar and result shape. The server and the CLI import from here only.

export {
  VerificationEngine,
  DEFAULT_VERIFICATION_CACHE,
  DEFAULT_BACKGROUND_LIMITS,
  type VerificationEngineOptions,
  type EnginePlugins,
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
} from './engine.js';
export {
  parseKey,
  splitKey,
  isValidEnvironmentName,
  MAX_KEY_LENGTH,
  ENVIRONMENT_NAME_PATTERN,
  type ParsedKey,
  type SplitKey,
} from './key.js';
export {
  canonicalReference,
  formatTime,
  type VerificationResult,
  type SignatureResult,
  type NotationSignatureResult,
  type CosignSignatureResult,
  type Reason,
} from './result.js';
export { estimateBytes } from './cache.js';
export { verificationResultJson } from './compact-result.js';
export {
  DECISION_ENTRYPOINT,
  OPTIONAL_INPUTS,
  MAX_POLICY_REASONS,
  MAX_POLICY_REFERRERS,
  decisionPolicyOf,
  evaluateDecision,
  parseDecision,
  applyDecision,
  type DecisionPolicy,
  type PolicyDecision,
  type PolicyInput,
  type PolicySignature,
  type PolicyNotationSignature,
  type PolicyCosignSignature,
  type PolicyReferrer,
  type OptionalInput,
} from './decision-policy.js';
export { KeyedSemaphore } from '../core/index.js';
export {
  SharedResultCache,
  DEFAULT_SHARED_CACHE,
  MIN_SHARED_KEY_BYTES,
  type SharedResultStore,
  type SharedResultCacheOptions,
  type SharedCacheObserver,
  type SharedCircuitState,
  type SharedRejection,
  type SharedEntry,
} from './shared-cache.js';
