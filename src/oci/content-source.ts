// The read interface every content source implements: a repository on a registry, or an OCI image
// layout directory standing in for one (air-gapped use, notation's --oci-layout output). The
// discovery and verification code above depends only on this, as notation-go depends on its
// registry.Repository interface and oras-go on small capability interfaces.

import type { Digest } from '../core/index.js';
import type { Descriptor, FetchedManifest } from './manifest.js';

export interface FetchOptions {
  /** Cancels the operation; callers use it to enforce a deadline. */
  signal?: AbortSignal;
  /**
   * Epoch ms the caller gives up at (the signal aborts then), when known: a registry's Retry-After
   * that ends later is not waited for (REGISTRY_UNAVAILABLE, reason RATE_LIMITED).
   */
  deadline?: number;
}

export interface BlobFetchOptions extends FetchOptions {
  /** Refuse blobs larger than this many bytes (before and while reading). */
  maxBytes?: number;
}

export interface ReferrerListOptions extends FetchOptions {
  /** Only descriptors of this artifactType (filtered client-side when the source did not). */
  artifactType?: string;
}

/** How a referrer list was obtained; reported so operators can see which path a registry takes. */
export type ReferrerSourceKind = 'referrers-api' | 'tag-schema' | 'oci-layout';

export interface ReferrerListing {
  /** Descriptors of manifests whose `subject` is (claimed to be) the digest asked for. Untrusted hints. */
  descriptors: Descriptor[];
  via: ReferrerSourceKind;
}

export interface ContentSource {
  /** Where content comes from, for messages and logs: `127.0.0.1:5000/team/app`, `oci-layout:/srv/layout`. */
  readonly location: string;

  /**
   * Resolves a tag or digest to the descriptor of the manifest it names (digest computed from the
   * bytes, never taken from a header alone). Throws NOT_FOUND when nothing is there.
   */
  resolve(reference: string, options?: FetchOptions): Promise<Descriptor>;

  /**
   * Fetches a manifest or index by tag or digest (or by descriptor, which also pins size and
   * media type), verifies its digest and size, and parses it. Throws NOT_FOUND when absent.
   */
  fetchManifest(reference: string | Descriptor, options?: FetchOptions): Promise<FetchedManifest>;

  /** Fetches a blob and verifies it against the descriptor's digest and size. */
  fetchBlob(descriptor: Descriptor, options?: BlobFetchOptions): Promise<Uint8Array>;

  /** Lists referrers of a manifest digest (bounded; throws past the configured caps). */
  listReferrers(subject: Digest, options?: ReferrerListOptions): Promise<ReferrerListing>;
}
