// Public face of config: the configuration file (docs/configuration.md) and the per-environment trust
// material it names, loaded, validated and kept up to date.

export { parseConfig, formatConfigPath, ConfigError, type ConfigIssue, type ConfigIssueCode, type ParseConfigOptions } from './parse.js';
export {
  vouchConfigSchema,
  configJsonSchema,
  formatAddress,
  ENVIRONMENT_NAME,
  DEFAULT_SERVER_ADDRESS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  MAX_REQUEST_TIMEOUT_MS,
  DEFAULT_MAX_REQUEST_BYTES,
  DEFAULT_MAX_KEYS,
  DEFAULT_CACHE,
  DEFAULT_LIMITS,
  DEFAULT_REVOCATION,
  DEFAULT_PLUGINS,
  defaultPluginTimeoutMs,
  redactPluginConfig,
  type PluginsConfig,
  type VouchConfig,
  type VouchConfigFile,
  type ServerConfig,
  type ServerTlsConfig,
  type ListenAddress,
  type EnvironmentConfig,
  type CosignConfig,
  type RegistryConfig,
  type CacheConfig,
  type SharedCacheConfig,
  type LimitsConfig,
  type RevocationConfig,
} from './schema.js';
export { loadConfig, configPathFrom, checkConfigPaths, CONFIG_ENV_VAR, type LoadConfigOptions } from './load.js';
export { registryAllowed, canonicalRegistryHost, canonicalRegistryPattern, parseListenAddress } from './hosts.js';
export {
  registryHostConfigs,
  hostAllowedPredicate,
  egressRules,
  registryMetricLabel,
  OTHER_REGISTRY_LABEL,
  MAX_REGISTRY_LABELS,
} from './registries.js';
export { revocationEgressRules, type RevocationEgressRules } from './revocation-egress.js';
export {
  EnvironmentSet,
  type LoadedEnvironment,
  type EnvironmentStatus,
  type EnvironmentSetStatus,
  type EnvironmentSetOptions,
} from './environments.js';
