// The registry client a configuration describes: per-host credentials and plain HTTP, the
// registry allowlist, egress rules for redirects and token realms, and the per-host request limits
// (docs/configuration.md "registries"). One place, so the provider, `vouch sign` and promotion
// talk to registries under the same rules.

import { egressRules, hostAllowedPredicate, registryHostConfigs, type VouchConfig } from '../config/index.js';
import { RegistryClient, type RegistryClientOptions } from '../oci/index.js';

/** What a caller adds to the configuration's settings: its logger, clock and observers. */
export type CreateRegistryClientOptions = Pick<
  RegistryClientOptions,
  'logger' | 'now' | 'onRequest' | 'onThrottled' | 'onConcurrencyLimit' | 'requestTimeoutMs'
>;

/** A RegistryClient configured from `config.registries` and `config.limits.registryRequests`. */
export function createRegistryClient(config: VouchConfig, options: CreateRegistryClientOptions = {}): RegistryClient {
  return new RegistryClient({
    hosts: registryHostConfigs(config),
    isHostAllowed: hostAllowedPredicate(config),
    egress: egressRules(config),
    requestLimits: config.limits.registryRequests,
    ...options,
  });
}

/** Registry credentials of the CLI without a configuration file: VOUCH_REGISTRY_USERNAME and VOUCH_REGISTRY_PASSWORD. */
export function registryCredentialsFromEnv(env: NodeJS.ProcessEnv = process.env): { username: string; password: string } | undefined {
  const username = env['VOUCH_REGISTRY_USERNAME'];
  return username ? { username, password: env['VOUCH_REGISTRY_PASSWORD'] ?? '' } : undefined;
}

/**
 * A RegistryClient without a configuration file (`vouch sign`, `promote`, `referrers` given no
 * --config): the named hosts, plain HTTP or not, with the same credentials for each.
 */
export function createHostsRegistryClient(
  hosts: readonly string[],
  options: { plainHttp: boolean; credentials?: { username: string; password: string } | undefined } & CreateRegistryClientOptions,
): RegistryClient {
  const { plainHttp, credentials, ...rest } = options;
  const hostConfig = { plainHttp, ...(credentials ?? {}) };
  return new RegistryClient({ hosts: Object.fromEntries(hosts.map((h) => [h, hostConfig])), ...rest });
}
