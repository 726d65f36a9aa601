// One repository of a registry host served from an OCI image layout (`registries.<host>.ociLayout`
// in vouch.yaml): the layout stands in for the whole host, and each repository is a view of it.
// Tags are looked up as the full reference (`host/repo:tag`, the layout's
// `org.opencontainers.image.ref.name` annotation; OCI image-layout spec, "index.json",
// https://github.com/opencontainers/image-spec/blob/v1.1.1/image-layout.md#indexjson-file), digests directly.

import { isDigest } from '../core/index.js';
import type { ContentSource, FetchOptions } from './content-source.js';
import type { Descriptor } from './manifest.js';
import type { OciLayoutSource } from './oci-layout.js';

export class LayoutRepository implements ContentSource {
  readonly location: string;

  /** `name` is the repository's full name, `host/repository`. */
  constructor(
    private readonly layout: OciLayoutSource,
    private readonly name: string,
  ) {
    this.location = `${layout.location} (${name})`;
  }

  #ref(reference: string): string {
    return isDigest(reference) ? reference : `${this.name}:${reference}`;
  }

  resolve(reference: string, options?: FetchOptions) {
    return this.layout.resolve(this.#ref(reference), options);
  }

  fetchManifest(reference: string | Descriptor, options?: FetchOptions) {
    return this.layout.fetchManifest(typeof reference === 'string' ? this.#ref(reference) : reference, options);
  }

  fetchBlob(...args: Parameters<OciLayoutSource['fetchBlob']>) {
    return this.layout.fetchBlob(...args);
  }

  openBlob(...args: Parameters<OciLayoutSource['openBlob']>) {
    return this.layout.openBlob(...args);
  }

  listReferrers(...args: Parameters<OciLayoutSource['listReferrers']>) {
    return this.layout.listReferrers(...args);
  }
}
