// Referrers API pagination: the `Link: <url>; rel="next"` header (RFC 8288 §3; distribution-spec
// v1.1.1 "Listing Referrers", https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#listing-referrers).
// The header comes from the registry and is untrusted: an unparsable one ends pagination like a
// missing one (as oras-go does), a target that is not a URL or leaves the page's origin is refused.

import LinkHeader from 'http-link-header';
import { RegistryError } from '../core/index.js';

/**
 * The `rel="next"` target of a page's Link header values, resolved against the page URL, or
 * undefined when there is none. Throws RegistryError REGISTRY_UNAVAILABLE (reason BAD_CONTENT) when
 * the target is not a URL or is on another origin. `what` names the listing in messages.
 */
export function nextPageUrl(values: readonly string[], pageUrl: URL, what: string): URL | undefined {
  let next: string | undefined;
  for (const value of values) {
    try {
      next = LinkHeader.parse(value).rel('next')[0]?.uri;
    } catch {
      // an unparsable Link header ends pagination, like a missing one
    }
    if (next !== undefined) break;
  }
  if (next === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(next, pageUrl);
  } catch (error) {
    // found by fuzzing: `<http://[>; rel="next"` made `new URL` throw a TypeError out of the client
    throw new RegistryError('REGISTRY_UNAVAILABLE', `${what}: Link target ${JSON.stringify(next.slice(0, 200))} is not a URL`, {
      reason: 'BAD_CONTENT',
      cause: error,
    });
  }
  if (url.origin !== pageUrl.origin) {
    throw new RegistryError('REGISTRY_UNAVAILABLE', `${what}: Link points to another origin (${url.origin})`, { reason: 'BAD_CONTENT' });
  }
  return url;
}
