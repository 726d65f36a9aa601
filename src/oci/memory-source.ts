// A content source held in memory: a few manifests and blobs that exist nowhere else yet. `vouch
// promote --sign-for` verifies the signature it is about to push against the target environment
// before writing anything, through the same engine admission uses, with the destination
// repository's name (so the trust policy scope is the destination's) but this source's content.
// Referrers are listed from the manifests' own `subject` fields (image-spec "subject",
// https://github.com/opencontainers/image-spec/blob/v1.1.1/manifest.md), the way a registry with the
// Referrers API would list them.

import { VouchError, computeDigest, isDigest, type Digest } from '../core/index.js';
import type { BlobFetchOptions, ContentSource, ReferrerListing } from './content-source.js';
import { parseManifest, referrerDescriptor, type Descriptor, type FetchedManifest } from './manifest.js';

export class MemorySource implements ContentSource {
  readonly location: string;
  readonly #manifests = new Map<string, FetchedManifest>();
  readonly #blobs = new Map<string, Uint8Array>();
  readonly #tags = new Map<string, Digest>();

  constructor(location: string) {
    this.location = location;
  }

  /** Adds a manifest (parsed here, digest computed from its bytes); returns its descriptor. */
  addManifest(bytes: Uint8Array, mediaType: string, tag?: string): Descriptor {
    const digest = computeDigest(bytes);
    const manifest = parseManifest(bytes, `manifest ${digest} in ${this.location}`, mediaType);
    const descriptor: Descriptor = { mediaType: manifest.mediaType, digest, size: bytes.length };
    this.#manifests.set(digest, { descriptor, bytes, manifest });
    if (tag !== undefined) this.#tags.set(tag, digest);
    return descriptor;
  }

  addBlob(bytes: Uint8Array): Digest {
    const digest = computeDigest(bytes);
    this.#blobs.set(digest, bytes);
    return digest;
  }

  async resolve(reference: string): Promise<Descriptor> {
    return (await this.fetchManifest(reference)).descriptor;
  }

  async fetchManifest(reference: string | Descriptor): Promise<FetchedManifest> {
    const key = typeof reference === 'string' ? reference : reference.digest;
    const digest = isDigest(key) ? key : this.#tags.get(key);
    const found = digest === undefined ? undefined : this.#manifests.get(digest);
    if (found === undefined) throw new VouchError('NOT_FOUND', `manifest ${key} not found in ${this.location}`, { reason: 'HTTP_STATUS' });
    return found;
  }

  async fetchBlob(descriptor: Descriptor, options: BlobFetchOptions = {}): Promise<Uint8Array> {
    const bytes = this.#blobs.get(descriptor.digest);
    if (bytes === undefined) {
      throw new VouchError('NOT_FOUND', `blob ${descriptor.digest} not found in ${this.location}`, { reason: 'HTTP_STATUS' });
    }
    if (bytes.length !== descriptor.size || (options.maxBytes !== undefined && bytes.length > options.maxBytes)) {
      throw new VouchError('REGISTRY_UNAVAILABLE', `blob ${descriptor.digest} in ${this.location} is ${bytes.length} bytes`, {
        reason: 'SIZE_MISMATCH',
      });
    }
    return bytes;
  }

  async listReferrers(subject: Digest): Promise<ReferrerListing> {
    const descriptors = [...this.#manifests.values()].filter((m) => m.manifest.subject?.digest === subject).map(referrerDescriptor);
    return { descriptors, via: 'referrers-api' };
  }
}
