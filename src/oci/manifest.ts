// Descriptors, manifests and indexes parsed from untrusted bytes (image-spec v1.1: descriptor.md,
// manifest.md, image-index.md; Docker manifest v2 schema 2). Parsing validates every field we read
// and keeps the raw bytes: digests are always computed over the bytes as served, never over a
// re-serialisation.

import { VouchError, isDigest, type Digest } from '../core/index.js';
import { MEDIA_TYPE, baseMediaType, isIndexMediaType } from './media-types.js';

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  /** Embedded content, base64 (image-spec "data"); must still hash to `digest`. */
  data?: string;
  urls?: string[];
  platform?: Record<string, unknown>;
}

export interface ImageManifest {
  kind: 'manifest';
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  kind: 'index';
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** The removed image-spec 1.1-rc artifact manifest, still stored by some registries. Read-only. */
export interface ArtifactManifest {
  kind: 'artifact';
  mediaType: string;
  artifactType?: string;
  blobs: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export type Manifest = ImageManifest | ImageIndex | ArtifactManifest;

/** A manifest together with the bytes it was parsed from and its computed descriptor. */
export interface FetchedManifest {
  descriptor: Descriptor;
  bytes: Uint8Array;
  manifest: Manifest;
}

function bad(what: string, rule: string): VouchError {
  return new VouchError('INVALID_INPUT', `${what}: ${rule}`, { reason: 'BAD_CONTENT' });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(obj: Record<string, unknown>, key: string, what: string): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw bad(what, `"${key}" must be a string`);
  return value;
}

function parseAnnotations(value: unknown, what: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) throw bad(what, '"annotations" must be an object of strings');
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') throw bad(what, `annotation "${key}" must be a string`);
  }
  // fromEntries defines own properties: an annotation named "__proto__" stays an annotation, where
  // assigning it set the prototype and dropped it (found by fuzzing)
  return Object.fromEntries(Object.entries(value)) as Record<string, string>;
}

/** Validates one descriptor object. `what` names it in errors, e.g. `manifest sha256:… layers[0]`. */
export function parseDescriptor(value: unknown, what: string): Descriptor {
  if (!isPlainObject(value)) throw bad(what, 'descriptor must be an object');
  const mediaType = value['mediaType'];
  if (typeof mediaType !== 'string' || mediaType.length === 0) throw bad(what, '"mediaType" must be a non-empty string');
  const digest = value['digest'];
  if (typeof digest !== 'string' || !isDigest(digest)) {
    throw bad(what, `"digest" ${JSON.stringify(digest)} is not a sha256 or sha512 digest`);
  }
  const size = value['size'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw bad(what, '"size" must be a non-negative integer');
  }
  const descriptor: Descriptor = { mediaType, digest, size };
  const artifactType = optionalString(value, 'artifactType', what);
  if (artifactType !== undefined) descriptor.artifactType = artifactType;
  const annotations = parseAnnotations(value['annotations'], what);
  if (annotations !== undefined) descriptor.annotations = annotations;
  const data = optionalString(value, 'data', what);
  if (data !== undefined) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0) throw bad(what, '"data" must be standard base64');
    descriptor.data = data;
  }
  const urls = value['urls'];
  if (urls !== undefined && urls !== null) {
    if (!Array.isArray(urls) || !urls.every((u) => typeof u === 'string')) throw bad(what, '"urls" must be an array of strings');
    descriptor.urls = urls as string[];
  }
  const platform = value['platform'];
  if (platform !== undefined && platform !== null) {
    if (!isPlainObject(platform)) throw bad(what, '"platform" must be an object');
    descriptor.platform = platform;
  }
  return descriptor;
}

function parseDescriptorList(value: unknown, key: string, what: string): Descriptor[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw bad(what, `"${key}" must be an array`);
  return value.map((item, i) => parseDescriptor(item, `${what} ${key}[${i}]`));
}

export interface ParseManifestOptions {
  /**
   * Accept an index whose `manifests` is absent or null as empty. Go registries (olareg) send an
   * empty referrers list that way (a nil slice); image-spec requires the field.
   */
  emptyIndexMayOmitManifests?: boolean;
}

/**
 * Parses manifest or index bytes. `contentType` is the Content-Type the server sent (if any):
 * when both it and the body's `mediaType` are present they must agree (distribution-spec
 * "Pulling manifests": the body's mediaType SHOULD match), which stops a server from passing an
 * index off as an image manifest. `what` names the manifest for error messages.
 */
export function parseManifest(bytes: Uint8Array, what: string, contentType?: string, options: ParseManifestOptions = {}): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (error) {
    throw new VouchError('INVALID_INPUT', `${what}: not valid JSON (${(error as Error).message})`, {
      reason: 'BAD_CONTENT',
      cause: error,
    });
  }
  if (!isPlainObject(json)) throw bad(what, 'manifest must be a JSON object');

  const bodyType = optionalString(json, 'mediaType', what);
  const headerType = baseMediaType(contentType);
  if (bodyType !== undefined && headerType !== '' && isKnownManifestType(headerType) && bodyType !== headerType) {
    throw new VouchError('INVALID_INPUT', `${what}: body mediaType "${bodyType}" differs from Content-Type "${headerType}"`, {
      reason: 'MEDIA_TYPE',
    });
  }
  const mediaType = bodyType ?? (isKnownManifestType(headerType) ? headerType : inferMediaType(json));
  const artifactType = optionalString(json, 'artifactType', what);
  const annotations = parseAnnotations(json['annotations'], what);
  const subject =
    json['subject'] === undefined || json['subject'] === null ? undefined : parseDescriptor(json['subject'], `${what} subject`);

  if (mediaType === MEDIA_TYPE.ociArtifactManifest) {
    return compact({
      kind: 'artifact',
      mediaType,
      artifactType,
      blobs: parseDescriptorList(json['blobs'], 'blobs', what),
      subject,
      annotations,
    }) as ArtifactManifest;
  }

  if (json['schemaVersion'] !== 2) throw bad(what, `"schemaVersion" must be 2, got ${JSON.stringify(json['schemaVersion'])}`);

  if (isIndexMediaType(mediaType)) {
    if ('config' in json || 'layers' in json) throw bad(what, 'an index must not have "config" or "layers"');
    if (
      !Array.isArray(json['manifests']) &&
      !(options.emptyIndexMayOmitManifests && (json['manifests'] === undefined || json['manifests'] === null))
    ) {
      throw bad(what, 'an index must have a "manifests" array');
    }
    return compact({
      kind: 'index',
      schemaVersion: 2,
      mediaType,
      artifactType,
      manifests: parseDescriptorList(json['manifests'], 'manifests', what),
      subject,
      annotations,
    }) as ImageIndex;
  }
  if (mediaType === MEDIA_TYPE.ociManifest || mediaType === MEDIA_TYPE.dockerManifest) {
    if ('manifests' in json) throw bad(what, 'an image manifest must not have "manifests"');
    return compact({
      kind: 'manifest',
      schemaVersion: 2,
      mediaType,
      artifactType,
      config: parseDescriptor(json['config'], `${what} config`),
      layers: parseDescriptorList(json['layers'], 'layers', what),
      subject,
      annotations,
    }) as ImageManifest;
  }
  throw new VouchError('INVALID_INPUT', `${what}: unsupported manifest media type "${mediaType}"`, { reason: 'MEDIA_TYPE' });
}

function isKnownManifestType(mediaType: string): boolean {
  return (
    mediaType === MEDIA_TYPE.ociManifest ||
    mediaType === MEDIA_TYPE.ociIndex ||
    mediaType === MEDIA_TYPE.dockerManifest ||
    mediaType === MEDIA_TYPE.dockerManifestList ||
    mediaType === MEDIA_TYPE.ociArtifactManifest
  );
}

// image-spec allows mediaType to be absent (it is only SHOULD); infer from the shape.
function inferMediaType(json: Record<string, unknown>): string {
  if ('manifests' in json) return MEDIA_TYPE.ociIndex;
  if ('blobs' in json && !('layers' in json)) return MEDIA_TYPE.ociArtifactManifest;
  return MEDIA_TYPE.ociManifest;
}

function compact<T extends Record<string, unknown>>(obj: T): T {
  for (const key of Object.keys(obj)) if (obj[key] === undefined) delete obj[key];
  return obj;
}

/**
 * The artifact type of a manifest as the Referrers API reports it: `artifactType`, else (image
 * manifests) `config.mediaType` (distribution-spec "Listing Referrers").
 */
export function artifactTypeOf(manifest: Manifest): string | undefined {
  if (manifest.artifactType !== undefined) return manifest.artifactType;
  if (manifest.kind === 'manifest') return manifest.config.mediaType;
  return undefined;
}

/** A descriptor of `manifest` as a referrers index lists it: with artifactType and annotations. */
export function referrerDescriptor(fetched: FetchedManifest): Descriptor {
  const descriptor: Descriptor = {
    mediaType: fetched.descriptor.mediaType,
    digest: fetched.descriptor.digest,
    size: fetched.descriptor.size,
  };
  const artifactType = artifactTypeOf(fetched.manifest);
  if (artifactType !== undefined) descriptor.artifactType = artifactType;
  if (fetched.manifest.annotations !== undefined) descriptor.annotations = fetched.manifest.annotations;
  return descriptor;
}
