// Which hosts certificate revocation may contact: OCSP responders and CRL distribution points are
// URLs chosen by whoever issued a certificate, as untrusted as a registry's Location header
// (docs/security.md "Egress"). The rule mirrors the registry client's: with allowedRegistries set,
// a revocation URL and each redirect hop must be on a host of allowedRegistries, allowedRedirects
// or revocation.allowedHosts; without it every host is allowed. Link-local and cloud metadata
// addresses are refused regardless unless one of those lists names that exact host.

import { canonicalRegistryHost, registryAllowed } from './hosts.js';
import type { VouchConfig } from './schema.js';

export interface RevocationEgressRules {
  /** Whether the first URL of an OCSP or CRL request may be on `host` (URL.host form). */
  isHostAllowed: (host: string) => boolean;
  /** Whether a redirect hop may lead to `host`. */
  isRedirectAllowed: (host: string) => boolean;
  /** Whether `host` is exempt from the link-local / cloud metadata refusal (listed exactly). */
  isAddressExempt: (host: string) => boolean;
}

export function revocationEgressRules(config: VouchConfig): RevocationEgressRules {
  const { allowedRegistries, allowedRedirects } = config;
  const allowedHosts = config.revocation.allowedHosts;
  const matches = (patterns: readonly string[] | undefined, host: string): boolean =>
    patterns !== undefined && registryAllowed(patterns, host);
  const isAllowed = (host: string): boolean =>
    allowedRegistries === undefined || matches(allowedRegistries, host) || matches(allowedRedirects, host) || matches(allowedHosts, host);
  const exact = new Set(
    [...(allowedRegistries ?? []), ...(allowedRedirects ?? []), ...(allowedHosts ?? [])].filter((p) => !p.startsWith('*')),
  );
  return {
    isHostAllowed: isAllowed,
    isRedirectAllowed: isAllowed,
    isAddressExempt: (host) => {
      const canonical = canonicalRegistryHost(host);
      return typeof canonical === 'string' && exact.has(canonical);
    },
  };
}
