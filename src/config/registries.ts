// What the registry client needs from the configuration: per-host settings in the client's own
// shape, the allowedRegistries predicate and the egress rules (allowedTokenRealms,
// allowedRedirects, exact listings that exempt a link-local or metadata host); and the registry
// host label of metrics.

import type { EgressRules, RegistryHostConfig } from '../oci/index.js';
import { canonicalRegistryHost, registryAllowed } from './hosts.js';
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

/**
 * The egress rules of RegistryClientOptions.egress (docs/security.md "Egress"):
 * - a redirect hop may lead to a host of allowedRegistries or allowedRedirects (any host when
 *   allowedRegistries is absent);
 * - a token realm may be on a host of allowedRegistries or allowedTokenRealms (any host when
 *   allowedRegistries is absent); the registry's own host is always allowed by the client;
 * - credentials go only to realms on hosts of allowedTokenRealms (or the registry's own host);
 * - a link-local or metadata host is exempt only when one of the three lists names it exactly,
 *   never through a wildcard.
 * Hosts arrive as URL.host spells them and are compared in the canonical form of the config.
 */
export function egressRules(config: VouchConfig): Required<EgressRules> {
  const { allowedRegistries, allowedTokenRealms, allowedRedirects } = config;
  const matches = (patterns: readonly string[] | undefined, host: string): boolean =>
    patterns !== undefined && registryAllowed(patterns, host);
  const exact = new Set(
    [...(allowedRegistries ?? []), ...(allowedTokenRealms ?? []), ...(allowedRedirects ?? [])].filter((p) => !p.startsWith('*')),
  );
  return {
    isRedirectAllowed: (host) => allowedRegistries === undefined || matches(allowedRegistries, host) || matches(allowedRedirects, host),
    isRealmAllowed: (host) => allowedRegistries === undefined || matches(allowedRegistries, host) || matches(allowedTokenRealms, host),
    mayReceiveCredentials: (host) => matches(allowedTokenRealms, host),
    isAddressExempt: (host) => {
      const canonical = canonicalRegistryHost(host);
      return typeof canonical === 'string' && exact.has(canonical);
    },
  };
}

/**
 * The label value of hosts that get none of their own. It can never be a registry host: image
 * references only name hosts that contain "." or ":" or are "localhost".
 */
export const OTHER_REGISTRY_LABEL = 'other';
/** Distinct host label values at most from allowedRegistries patterns (`*`, `*.example.com`, …). */
export const MAX_REGISTRY_LABELS = 100;

/**
 * The `host` label of registry metrics, from the configuration. Hosts come from keys and (for token
 * requests) from registries' challenges, so a label per host would let whoever sends keys or runs a
 * registry create series without bound. A host keeps its name when it is configured under
 * `registries:` or matches an explicit `allowedRegistries` list, the latter for the first `maxHosts`
 * distinct hosts only (a `*` pattern must not reopen the hole); every other host is `other`.
 */
export function registryMetricLabel(config: VouchConfig, maxHosts = MAX_REGISTRY_LABELS): (host: string) => string {
  const configured = new Set(config.registries.keys());
  const patterns = config.allowedRegistries;
  const named = new Set<string>();
  return (host) => {
    if (configured.has(host) || named.has(host)) return host;
    const canonical = canonicalRegistryHost(host);
    if (typeof canonical !== 'string') return OTHER_REGISTRY_LABEL;
    if (configured.has(canonical) || named.has(canonical)) return canonical;
    if (patterns === undefined || named.size >= maxHosts || !registryAllowed(patterns, canonical)) return OTHER_REGISTRY_LABEL;
    named.add(canonical);
    return canonical;
  };
}
