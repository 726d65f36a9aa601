// Builds OCI image manifests as exact bytes (image-spec manifest.md), including referrer manifests
// with `subject` and `artifactType` as notation, cosign and oras write them. Used by the demo,
// signing and promotion; digests are computed over the bytes returned here.

import { computeDigest } from '../core/index.js';
import type { Descriptor } from './manifest.js';
import { EMPTY_JSON_DIGEST, MEDIA_TYPE } from './media-types.js';

export interface BuiltManifestBytes {
  descriptor: Descriptor;
  bytes: Uint8Array;
}

/** The empty descriptor (`{}`), the config of artifacts that have none. */
export const EMPTY_DESCRIPTOR: Descriptor = Object.freeze({
  mediaType: MEDIA_TYPE.ociEmpty,
  digest: EMPTY_JSON_DIGEST,
  size: 2,
}) as Descriptor;

export interface ImageManifestParts {
  config: Descriptor;
  layers: Descriptor[];
  artifactType?: string;
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** An OCI image manifest in the field order image-spec shows, serialised compactly. */
export function buildImageManifest(parts: ImageManifestParts): BuiltManifestBytes {
  const manifest: Record<string, unknown> = { schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest };
  if (parts.artifactType !== undefined) manifest['artifactType'] = parts.artifactType;
  manifest['config'] = descriptorJson(parts.config);
  manifest['layers'] = parts.layers.map(descriptorJson);
  if (parts.subject !== undefined)
    manifest['subject'] = { mediaType: parts.subject.mediaType, digest: parts.subject.digest, size: parts.subject.size };
  if (parts.annotations !== undefined) manifest['annotations'] = parts.annotations;
  const bytes = new TextEncoder().encode(JSON.stringify(manifest));
  return { descriptor: { mediaType: MEDIA_TYPE.ociManifest, digest: computeDigest(bytes), size: bytes.length }, bytes };
}

function descriptorJson(d: Descriptor): Record<string, unknown> {
  const out: Record<string, unknown> = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.artifactType !== undefined) out['artifactType'] = d.artifactType;
  if (d.annotations !== undefined) out['annotations'] = d.annotations;
  if (d.data !== undefined) out['data'] = d.data;
  return out;
}

export function blobDescriptor(bytes: Uint8Array, mediaType: string): Descriptor {
  return { mediaType, digest: computeDigest(bytes), size: bytes.length };
}
