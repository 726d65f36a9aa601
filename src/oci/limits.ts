// Bounds on everything read from a registry or layout. Content is untrusted: without caps a
// hostile registry could make an admission request read forever or walk an endless graph.

export interface OciLimits {
  /** Manifests and indexes (distribution's maxManifestBodySize is 4 MiB; the spec says clients SHOULD handle 4 MB). */
  maxManifestBytes: number;
  /** Signature envelopes and other blobs vouch reads (notation-go caps envelopes at 32 MiB; real ones are a few KiB). */
  maxBlobBytes: number;
  /** Link pages followed for one referrers listing (oras-go has the same kind of cap). */
  maxReferrerPages: number;
  /** Referrer descriptors accepted for one subject (notation's --max-signatures defaults to 100). */
  maxReferrers: number;
  /** Redirects followed for one request. */
  maxRedirects: number;
  /**
   * Bytes of referrer manifests one discovery holds at most (their descriptors' sizes, reserved
   * before fetching). Without it a registry listing 256 referrers of 4 MiB each makes one
   * verification hold 1 GiB; real signature manifests are about 1 KiB each.
   */
  maxReferrerBytes: number;
}

export const DEFAULT_LIMITS: Readonly<OciLimits> = Object.freeze({
  maxManifestBytes: 4 * 1024 * 1024,
  maxBlobBytes: 4 * 1024 * 1024,
  maxReferrerPages: 20,
  maxReferrers: 256,
  maxRedirects: 5,
  maxReferrerBytes: 4 * 1024 * 1024,
});

export function resolveLimits(partial: Partial<OciLimits> | undefined): OciLimits {
  return { ...DEFAULT_LIMITS, ...(partial ?? {}) };
}
