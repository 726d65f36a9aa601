// What the registry client needs from the configuration: per-host settings in the client's own
// shape and the allowedRegistries predicate.

import type { RegistryHostConfig } from '../oci/index.js';
import { registryAllowed } from './hosts.js';
import type { VouchConfig } from './schema.js';

/**
 * `registries:` as RegistryClientOptions.hosts (hosts served from an ociLayout are left out: they
 * are never dialled). A null-prototype record, so a host can never hit an Object.prototype member.
 */
export function registryHostConfigs(config: VouchConfig): Record<string, RegistryHostConfig> {
  const hosts = Object.create(null) as Record<string, RegistryHostConfig>;
  for (const [host, registry] of config.registries) {
    if (registry.ociLayout !== undefined) continue;
    hosts[host] = {
      ...(registry.plainHttp ? { plainHttp: true } : {}),
      ...(registry.username !== undefined ? { username: registry.username } : {}),
      ...(registry.password !== undefined ? { password: registry.password } : {}),
    };
  }
  return hosts;
}

/** `allowedRegistries` as RegistryClientOptions.isHostAllowed (every host when absent). */
export function hostAllowedPredicate(config: VouchConfig): (host: string) => boolean {
  const patterns = config.allowedRegistries;
  return (host) => registryAllowed(patterns, host);
}
