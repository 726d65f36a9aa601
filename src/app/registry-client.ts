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
