// Public face of app: one runtime built from a configuration (clock, logger, metrics, registry
// client, trust material, verification engine), and the provider that serves it. The layer between
// the CLI (and the benchmarks) and the servers: cli → app → server → verify (docs/architecture.md).

export { createRuntime, createVerificationStack, type Runtime, type RuntimeOptions, type VerificationStack } from './runtime.js';
export { startProvider, type RunningProvider, type StartProviderOptions } from './provider.js';
export {
  createRegistryClient,
  createHostsRegistryClient,
  registryCredentialsFromEnv,
  type CreateRegistryClientOptions,
} from './registry-client.js';
export { promoteImage, type PromoteOptions, type PromoteResult, type PromoteStamp, type PromoteStampResult } from './promote.js';
export { checkSignatureForEnvironment, type SignatureCheck, type SignatureCheckOptions } from './signature-check.js';
