// A ContentSource over an OCI image layout directory (image-spec image-layout.md): `oci-layout`,
// `index.json` and content-addressed `blobs/<alg>/<hex>`. This is what notation and oras write with
// --oci-layout and what cosign writes with `save`; vouch reads it for air-gapped verification.
// https://github.com/opencontainers/image-spec/blob/v1.1.1/image-layout.md

import { constants as fsConstants } from 'node:fs';
import { open, opendir, stat, type FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import {
  InvalidReferenceError,
  RegistryError,
  VouchError,
  digestMatches,
  errorMessage,
  isDigest,
  isTag,
  parseDigest,
  raceAbort,
  parseReference,
  throwIfAborted,
  tryParseDigest,
  type Digest,
  type ErrorCode,
  type ErrorReason,
  type ImageReference,
  type ParsedDigest,
} from '../core/index.js';
import type { BlobFetchOptions, ContentSource, FetchOptions, ReferrerListOptions, ReferrerListing } from './content-source.js';
import { resolveLimits, type OciLimits } from './limits.js';
import { parseManifest, referrerDescriptor, type Descriptor, type FetchedManifest, type ImageIndex, type Manifest } from './manifest.js';
import { ANNOTATION } from './media-types.js';

/** The only `imageLayoutVersion` image-spec defines. */
export const OCI_LAYOUT_VERSION = '1.0.0';

export interface OciLayoutOptions {
  /** Size and count caps; the same ones a registry source uses. */
  limits?: Partial<OciLimits>;
  /**
   * Most blobs one referrer graph build looks at: the files in `blobs/sha256/` and the manifests
   * walked from index.json, each. A layout with more fails listReferrers (REGISTRY_UNAVAILABLE,
   * reason TOO_MANY_PAGES) rather than silently missing signatures.
   */
  maxScannedBlobs?: number;
}

const DEFAULT_MAX_SCANNED_BLOBS = 10_000;
/** Nested indexes deeper than this are not descended into by the index.json walk. */
const MAX_INDEX_DEPTH = 8;
/**
 * index.json is the layout's own catalogue (one entry per tag and, from oras-go, per referrer), not
 * a manifest fetched for one image, so it gets its own, larger cap than maxManifestBytes.
 */
export const MAX_INDEX_JSON_BYTES = 16 * 1024 * 1024;
/** `oci-layout` is a one-line JSON file; anything bigger is not one. */
const MAX_OCI_LAYOUT_BYTES = 64 * 1024;
/** Bytes read before deciding whether a scanned blob can be a JSON manifest at all. */
const SCAN_HEAD_BYTES = 64;
const HEX_NAME = /^[a-f0-9]{64}$/;
const DIGEST_LIKE = /^sha(?:256|384|512):/i;
// O_NONBLOCK keeps open() from hanging on a FIFO planted in blobs/; fstat then rejects it.
const OPEN_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0);

/** What a reference string names in a layout. */
type LayoutReference =
  { kind: 'digest'; digest: Digest } | { kind: 'tag'; tag: string } | { kind: 'ref'; input: string; ref: ImageReference & { tag: string } };

interface LoadedIndex {
  stamp: string;
  index: ImageIndex;
}

interface ReferrerGraph {
  stamp: string;
  /** subject digest → referrer descriptors, in discovery order (index.json walk, then blob scan by digest). */
  bySubject: Map<string, Descriptor[]>;
}

type ReadFailure = 'missing' | 'not-file' | 'too-large' | 'size-mismatch' | 'changed' | 'rejected';
type ReadResult = { ok: true; bytes: Buffer } | { ok: false; failure: ReadFailure; size?: number };

interface BlobTarget {
  digest: Digest;
  parsed: ParsedDigest;
  /** Pinned by a descriptor; compared with the file size before reading. */
  expectedSize?: number;
  /** Embedded content (descriptor `data`), used instead of the file. */
  data?: string;
}

/**
 * Reads an OCI image layout as if it were a registry repository. Tags are the index.json entries'
 * `org.opencontainers.image.ref.name` annotations; referrers are found by walking the manifest
 * graph (there is no referrers index in a layout), including manifests cosign writes to blobs/
 * without listing them in index.json. The graph is cached until index.json or the blobs
 * directory changes, so an admission request does not rescan a static layout.
 *
 * Errors use the codes a registry source uses (NOT_FOUND, REGISTRY_UNAVAILABLE with reasons
 * DIGEST_MISMATCH, SIZE_MISMATCH, SIZE_LIMIT, TOO_MANY_REFERRERS, …) so callers need no
 * layout-specific branches. A layout that is not a valid layout at all is REGISTRY_UNAVAILABLE
 * with reason BAD_CONTENT (missing/garbled oci-layout or index.json) or UNSUPPORTED (another
 * imageLayoutVersion): vouch could not decide, exactly as with a registry it cannot use.
 */
export class OciLayoutSource implements ContentSource {
  readonly location: string;
  /** Absolute path of the layout directory. */
  readonly dir: string;
  private readonly limits: OciLimits;
  private readonly maxScannedBlobs: number;
  private indexCache: LoadedIndex | undefined;
  private indexLoading: { stamp: string; promise: Promise<LoadedIndex> } | undefined;
  private graphCache: ReferrerGraph | undefined;
  private graphLoading: { stamp: string; promise: Promise<ReferrerGraph> } | undefined;

  constructor(dir: string, options: OciLayoutOptions = {}) {
    this.dir = path.resolve(dir);
    this.location = `oci-layout:${this.dir}`;
    this.limits = resolveLimits(options.limits);
    this.maxScannedBlobs = options.maxScannedBlobs ?? DEFAULT_MAX_SCANNED_BLOBS;
  }

  /** Opens a layout and validates `oci-layout` and `index.json` up front, so a bad path fails at startup. */
  static async open(dir: string, options: OciLayoutOptions = {}): Promise<OciLayoutSource> {
    const source = new OciLayoutSource(dir, options);
    await source.validate();
    return source;
  }

  /** Checks `oci-layout` (imageLayoutVersion 1.0.0) and parses `index.json`; throws naming the file. */
  async validate(options: FetchOptions = {}): Promise<void> {
    await this.loadIndex(options.signal);
  }

  async resolve(reference: string, options: FetchOptions = {}): Promise<Descriptor> {
    const fetched = await this.fetchManifest(reference, options);
    return { ...fetched.descriptor };
  }

  async fetchManifest(reference: string | Descriptor, options: FetchOptions = {}): Promise<FetchedManifest> {
    const signal = options.signal;
    if (typeof reference !== 'string') {
      // Validate the descriptor before touching the filesystem.
      const target = this.blobTarget(reference, 'manifest descriptor');
      this.checkDeclaredSize(target, this.limits.maxManifestBytes, 'manifest');
      await this.loadIndex(signal);
      return this.readManifest(target, reference.mediaType, signal);
    }

    const parsed = parseLayoutReference(reference, this.location);
    const { index } = await this.loadIndex(signal);
    if (parsed.kind === 'digest') {
      const target: BlobTarget = { digest: parsed.digest, parsed: tryParseDigest(parsed.digest)! };
      // index.json's entry (if any) says what media type to expect, as Content-Type would.
      const entry = index.manifests.find((d) => d.digest === parsed.digest);
      return this.readManifest(target, entry?.mediaType, signal);
    }
    const entry = this.findTagged(index, parsed);
    const target = this.blobTarget(entry, `index.json entry for "${reference}"`);
    this.checkDeclaredSize(target, this.limits.maxManifestBytes, 'manifest');
    return this.readManifest(target, entry.mediaType, signal);
  }

  async fetchBlob(descriptor: Descriptor, options: BlobFetchOptions = {}): Promise<Uint8Array> {
    const limit = options.maxBytes ?? this.limits.maxBlobBytes;
    const target = this.blobTarget(descriptor, 'blob descriptor');
    this.checkDeclaredSize(target, limit, 'blob');
    if (target.data === undefined) await this.loadIndex(options.signal);
    return this.readBlob(target, limit, 'blob', options.signal);
  }

  /**
   * Opens a blob as a stream of at most its descriptor's size, for copies of layers too large to
   * hold in memory. Only the size is checked here (fstat, before any read); the reader hashes the
   * bytes while streaming and refuses a digest mismatch (the copy engine, src/oci/copy-blob.ts).
   */
  async openBlob(descriptor: Descriptor, options: FetchOptions = {}): Promise<Readable> {
    const target = this.blobTarget(descriptor, 'blob descriptor');
    throwIfAborted(options.signal, this.location);
    if (target.data !== undefined) return Readable.from([Buffer.from(target.data, 'base64')]);
    await this.loadIndex(options.signal);
    const file = this.blobPath(target.parsed);
    const label = `blob ${target.digest} (${this.relative(file)})`;
    let handle;
    try {
      handle = await open(file, OPEN_FLAGS);
    } catch (error) {
      if (isMissingError(error)) throw this.readFailureError({ ok: false, failure: 'missing' }, label, Infinity, undefined, file);
      throw this.ioError(label, error);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw this.readFailureError({ ok: false, failure: 'not-file' }, label, Infinity, undefined, file);
      if (st.size !== descriptor.size) {
        throw this.readFailureError({ ok: false, failure: 'size-mismatch', size: st.size }, label, Infinity, descriptor.size, file);
      }
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
    // end is inclusive; a file that grew after fstat is read only up to the descriptor's size.
    return fileStream(handle, descriptor.size);
  }

  async listReferrers(subject: Digest, options: ReferrerListOptions = {}): Promise<ReferrerListing> {
    const subjectDigest = parseDigest(subject, `${this.location}: referrers subject`);
    throwIfAborted(options.signal, this.location);
    const graph = await raceAbort(this.referrerGraph(options.signal), options.signal, this.location);
    let descriptors = graph.bySubject.get(subjectDigest) ?? [];
    // A layout has no server-side filter: always filter here.
    if (options.artifactType !== undefined) {
      descriptors = descriptors.filter((d) => d.artifactType === options.artifactType);
    }
    if (descriptors.length > this.limits.maxReferrers) {
      throw this.error(
        'REGISTRY_UNAVAILABLE',
        `${descriptors.length} referrers of ${subjectDigest}, more than the limit of ${this.limits.maxReferrers}`,
        'TOO_MANY_REFERRERS',
      );
    }
    return { descriptors: descriptors.map(copyDescriptor), via: 'oci-layout' };
  }

  // ---------------------------------------------------------------------------------------------
  // index.json and oci-layout

  private async loadIndex(signal: AbortSignal | undefined): Promise<LoadedIndex> {
    throwIfAborted(signal, this.location);
    const stamp = await this.indexStamp();
    if (this.indexCache?.stamp === stamp) return this.indexCache;
    if (this.indexLoading?.stamp !== stamp) {
      const promise = this.readIndex(stamp).finally(() => {
        if (this.indexLoading?.promise === promise) this.indexLoading = undefined;
      });
      this.indexLoading = { stamp, promise };
    }
    const loaded = await raceAbort(this.indexLoading.promise, signal, this.location);
    this.indexCache = loaded;
    return loaded;
  }

  private async indexStamp(): Promise<string> {
    return (await this.statStamp('index.json')) ?? 'missing';
  }

  private async readIndex(stamp: string): Promise<LoadedIndex> {
    await this.checkOciLayoutFile();
    const file = this.file('index.json');
    const result = await this.readFile(file, 'index.json', MAX_INDEX_JSON_BYTES);
    if (!result.ok) {
      if (result.failure === 'too-large') {
        throw this.error(
          'REGISTRY_UNAVAILABLE',
          `index.json is ${result.size} bytes, more than the limit of ${MAX_INDEX_JSON_BYTES}`,
          'SIZE_LIMIT',
          { file },
        );
      }
      throw this.error('REGISTRY_UNAVAILABLE', `not an OCI image layout: index.json ${describeFailure(result.failure)}`, 'BAD_CONTENT', {
        file,
      });
    }
    let manifest: Manifest;
    try {
      manifest = parseManifest(result.bytes, `${this.location}: index.json`);
    } catch (error) {
      throw this.error('REGISTRY_UNAVAILABLE', `index.json is not a valid image index: ${errorMessage(error)}`, 'BAD_CONTENT', {
        file,
        cause: error,
      });
    }
    if (manifest.kind !== 'index') {
      throw this.error(
        'REGISTRY_UNAVAILABLE',
        `index.json is not an image index (it has media type "${manifest.mediaType}")`,
        'BAD_CONTENT',
        {
          file,
        },
      );
    }
    return { stamp, index: manifest };
  }

  private async checkOciLayoutFile(): Promise<void> {
    const file = this.file('oci-layout');
    const result = await this.readFile(file, 'oci-layout', MAX_OCI_LAYOUT_BYTES);
    if (!result.ok) {
      throw this.error('REGISTRY_UNAVAILABLE', `not an OCI image layout: oci-layout ${describeFailure(result.failure)}`, 'BAD_CONTENT', {
        file,
      });
    }
    let json: unknown;
    try {
      json = JSON.parse(result.bytes.toString('utf8'));
    } catch (error) {
      throw this.error('REGISTRY_UNAVAILABLE', 'oci-layout is not valid JSON', 'BAD_CONTENT', { file, cause: error });
    }
    const version =
      typeof json === 'object' && json !== null && !Array.isArray(json)
        ? (json as Record<string, unknown>)['imageLayoutVersion']
        : undefined;
    if (typeof version !== 'string') {
      throw this.error('REGISTRY_UNAVAILABLE', 'oci-layout has no string "imageLayoutVersion"', 'BAD_CONTENT', { file });
    }
    if (version !== OCI_LAYOUT_VERSION) {
      throw this.error(
        'REGISTRY_UNAVAILABLE',
        `oci-layout has imageLayoutVersion ${JSON.stringify(version)}; only "${OCI_LAYOUT_VERSION}" is supported`,
        'UNSUPPORTED',
        { file },
      );
    }
  }

  /**
   * Finds the index.json entry a tag names. An exact `ref.name` match wins; otherwise a plain tag
   * also matches full references written as ref.name (`example.com/repo:v1`), and a full reference
   * also matches a plain-tag ref.name or the same normalised reference. Two different digests at
   * the same precedence are refused rather than guessed between.
   */
  private findTagged(index: ImageIndex, query: Exclude<LayoutReference, { kind: 'digest' }>): Descriptor {
    const exact: Descriptor[] = [];
    const loose: Descriptor[] = [];
    for (const entry of index.manifests) {
      const refName = entry.annotations?.[ANNOTATION.refName];
      if (refName === undefined) continue;
      const match = matchRefName(refName, query);
      if (match === 'exact') exact.push(entry);
      else if (match === 'loose') loose.push(entry);
    }
    const input = query.kind === 'tag' ? query.tag : query.input;
    for (const group of [exact, loose]) {
      if (group.length === 0) continue;
      const digests = new Set(group.map((d) => d.digest));
      if (digests.size > 1) {
        throw new InvalidReferenceError(
          `${this.location}: tag "${input}" is ambiguous in index.json (it names ${[...digests].join(', ')})`,
        );
      }
      return group[0]!;
    }
    throw this.error('NOT_FOUND', `no index.json entry has ${ANNOTATION.refName} "${input}"`, 'OTHER', { file: this.file('index.json') });
  }

  // ---------------------------------------------------------------------------------------------
  // blobs

  private async readManifest(
    target: BlobTarget,
    mediaTypeHint: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<FetchedManifest> {
    const bytes = await this.readBlob(target, this.limits.maxManifestBytes, 'manifest', signal);
    const manifest = parseManifest(bytes, `${this.location}: manifest ${target.digest}`, mediaTypeHint);
    return {
      descriptor: { mediaType: manifest.mediaType, digest: target.digest, size: bytes.byteLength },
      bytes,
      manifest,
    };
  }

  /** Reads a blob (or decodes its embedded data), enforcing limit, size and digest. */
  private async readBlob(target: BlobTarget, limit: number, what: string, signal: AbortSignal | undefined): Promise<Uint8Array> {
    throwIfAborted(signal, this.location);
    let bytes: Buffer;
    let file: string | undefined;
    if (target.data !== undefined) {
      bytes = Buffer.from(target.data, 'base64');
      if (bytes.byteLength > limit) {
        throw this.error(
          'REGISTRY_UNAVAILABLE',
          `${what} ${target.digest}: embedded data is ${bytes.byteLength} bytes, more than the limit of ${limit}`,
          'SIZE_LIMIT',
        );
      }
      if (target.expectedSize !== undefined && bytes.byteLength !== target.expectedSize) {
        throw this.error(
          'REGISTRY_UNAVAILABLE',
          `${what} ${target.digest}: embedded data is ${bytes.byteLength} bytes, the descriptor says ${target.expectedSize}`,
          'SIZE_MISMATCH',
        );
      }
    } else {
      file = this.blobPath(target.parsed);
      const label = `${what} ${target.digest} (${this.relative(file)})`;
      const result = await this.readFile(file, label, limit, target.expectedSize);
      if (!result.ok) throw this.readFailureError(result, label, limit, target.expectedSize, file);
      bytes = result.bytes;
    }
    if (!digestMatches(bytes, target.digest)) {
      throw this.error('REGISTRY_UNAVAILABLE', `${what} ${target.digest}: content does not hash to its digest`, 'DIGEST_MISMATCH', {
        ...(file === undefined ? {} : { file }),
      });
    }
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private readFailureError(
    result: { ok: false; failure: ReadFailure; size?: number },
    label: string,
    limit: number,
    expectedSize: number | undefined,
    file: string,
  ): RegistryError {
    switch (result.failure) {
      case 'missing':
        return this.error('NOT_FOUND', `${label} does not exist`, 'OTHER', { file });
      case 'too-large':
        return this.error('REGISTRY_UNAVAILABLE', `${label} is ${result.size} bytes, more than the limit of ${limit}`, 'SIZE_LIMIT', {
          file,
        });
      case 'size-mismatch':
        return this.error(
          'REGISTRY_UNAVAILABLE',
          `${label} is ${result.size} bytes, the descriptor says ${expectedSize}`,
          'SIZE_MISMATCH',
          { file },
        );
      case 'changed':
        return this.error('REGISTRY_UNAVAILABLE', `${label} changed size while being read`, 'SIZE_MISMATCH', { file });
      case 'not-file':
      case 'rejected':
        return this.error('REGISTRY_UNAVAILABLE', `${label} is not a regular file`, 'BAD_CONTENT', { file });
    }
  }

  /**
   * Validates a descriptor's digest and size before anything is read. Blob paths are built only
   * from the algorithm and hex this returns, never from the raw string.
   */
  private blobTarget(descriptor: Descriptor, what: string): BlobTarget {
    if (typeof descriptor !== 'object' || descriptor === null) {
      throw new VouchError('INVALID_INPUT', `${this.location}: ${what} must be a descriptor object`, { reason: 'BAD_CONTENT' });
    }
    const digestText: unknown = descriptor.digest;
    const parsed = typeof digestText === 'string' ? tryParseDigest(digestText) : undefined;
    if (parsed === undefined) {
      throw new VouchError(
        'INVALID_INPUT',
        `${this.location}: ${what} digest ${JSON.stringify(digestText)} is not a sha256 or sha512 digest`,
        {
          reason: 'BAD_CONTENT',
        },
      );
    }
    const size: unknown = descriptor.size;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw new VouchError('INVALID_INPUT', `${this.location}: ${what} ${digestText as string} has no valid "size"`, {
        reason: 'BAD_CONTENT',
      });
    }
    const target: BlobTarget = { digest: digestText as Digest, parsed, expectedSize: size };
    const data: unknown = descriptor.data;
    if (data !== undefined && data !== null) {
      if (typeof data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0) {
        throw new VouchError('INVALID_INPUT', `${this.location}: ${what} ${digestText as string} has "data" that is not standard base64`, {
          reason: 'BAD_CONTENT',
        });
      }
      target.data = data;
    }
    return target;
  }

  private checkDeclaredSize(target: BlobTarget, limit: number, what: string): void {
    if (target.expectedSize !== undefined && target.expectedSize > limit) {
      throw this.error(
        'REGISTRY_UNAVAILABLE',
        `${what} ${target.digest} is declared as ${target.expectedSize} bytes, more than the limit of ${limit}`,
        'SIZE_LIMIT',
      );
    }
  }

  private blobPath(parsed: ParsedDigest): string {
    return path.join(this.dir, 'blobs', parsed.algorithm, parsed.hex);
  }

  // ---------------------------------------------------------------------------------------------
  // referrer graph

  private async referrerGraph(signal: AbortSignal | undefined): Promise<ReferrerGraph> {
    const loaded = await this.loadIndex(signal);
    const [blobs, sha256] = await Promise.all([this.statStamp('blobs'), this.statStamp('blobs/sha256')]);
    const stamp = `${loaded.stamp}|${blobs ?? '-'}|${sha256 ?? '-'}`;
    if (this.graphCache?.stamp === stamp) return this.graphCache;
    // One shared build per layout state: it runs to completion even if the caller that started it
    // gives up (each caller races its own signal), so the next admission finds it cached.
    if (this.graphLoading?.stamp !== stamp) {
      const promise = this.buildGraph(stamp, loaded.index).then((graph) => {
        this.graphCache = graph;
        return graph;
      });
      const clear = (): void => {
        if (this.graphLoading?.promise === promise) this.graphLoading = undefined;
      };
      promise.then(clear, clear);
      this.graphLoading = { stamp, promise };
    }
    return this.graphLoading.promise;
  }

  private async buildGraph(stamp: string, index: ImageIndex): Promise<ReferrerGraph> {
    const bySubject = new Map<string, Descriptor[]>();
    const seen = new Set<string>();
    let reads = 0;
    const tooMany = (what: string): RegistryError =>
      this.error(
        'REGISTRY_UNAVAILABLE',
        `${what}: more than ${this.maxScannedBlobs} blobs to examine for referrers (raise maxScannedBlobs)`,
        'TOO_MANY_PAGES',
      );
    const add = (fetched: FetchedManifest): void => {
      const subject = fetched.manifest.subject;
      if (subject === undefined) return;
      const list = bySubject.get(subject.digest) ?? [];
      if (!list.some((d) => d.digest === fetched.descriptor.digest)) list.push(referrerDescriptor(fetched));
      bySubject.set(subject.digest, list);
    };

    // 1. Walk every manifest reachable from index.json, depth first in index order (oras-go's
    //    content/oci.Store indexes the same graph; notation writes its signatures into index.json).
    const walk = async (descriptors: Descriptor[], depth: number): Promise<void> => {
      for (const descriptor of descriptors) {
        if (seen.has(descriptor.digest)) continue;
        seen.add(descriptor.digest);
        if (++reads > this.maxScannedBlobs) throw tooMany('index.json walk');
        const fetched = await this.tryReadManifest(descriptor);
        if (fetched === undefined) continue;
        add(fetched);
        if (fetched.manifest.kind === 'index' && depth < MAX_INDEX_DEPTH) await walk(fetched.manifest.manifests, depth + 1);
      }
    };
    await walk(index.manifests, 0);

    // 2. Scan blobs/sha256 for manifests nobody lists: cosign writes bundle referrers there without
    //    an index.json entry (pkg/oci/layout GetLocalBundles does the same scan).
    const names = await this.listBlobNames('sha256');
    if (names === 'too-many') throw tooMany('blobs/sha256');
    for (const hex of names) {
      const digest = `sha256:${hex}` as Digest;
      if (seen.has(digest)) continue;
      seen.add(digest);
      const fetched = await this.tryScanManifest({ digest, parsed: { algorithm: 'sha256', hex } });
      if (fetched !== undefined) add(fetched);
    }
    return { stamp, bySubject };
  }

  /** A manifest from the index.json walk, or undefined when it is missing or unusable (layouts may omit blobs). */
  private async tryReadManifest(descriptor: Descriptor): Promise<FetchedManifest | undefined> {
    let target: BlobTarget;
    try {
      target = this.blobTarget(descriptor, 'descriptor');
      this.checkDeclaredSize(target, this.limits.maxManifestBytes, 'manifest');
      return await this.readManifest(target, descriptor.mediaType, undefined);
    } catch (error) {
      if (isSkippable(error)) return undefined;
      throw error;
    }
  }

  /**
   * A manifest with a subject from the blob scan, or undefined. Non-JSON and oversize files are
   * skipped before being read in full; the digest is checked only for candidates with a subject.
   */
  private async tryScanManifest(target: BlobTarget): Promise<FetchedManifest | undefined> {
    const file = this.blobPath(target.parsed);
    let result: ReadResult;
    try {
      result = await this.readFile(file, this.relative(file), this.limits.maxManifestBytes, undefined, looksLikeJsonObject);
    } catch {
      // An unreadable file in a heuristic scan is skipped, not fatal (fail-closed: no referrer).
      return undefined;
    }
    if (!result.ok) return undefined;
    let manifest: Manifest;
    try {
      manifest = parseManifest(result.bytes, `${this.location}: manifest ${target.digest}`);
    } catch {
      return undefined;
    }
    if (manifest.subject === undefined || !digestMatches(result.bytes, target.digest)) return undefined;
    const bytes = new Uint8Array(result.bytes.buffer, result.bytes.byteOffset, result.bytes.byteLength);
    return { descriptor: { mediaType: manifest.mediaType, digest: target.digest, size: bytes.byteLength }, bytes, manifest };
  }

  /** Sorted hex names in blobs/<alg>, or 'too-many' past maxScannedBlobs. Missing directory = none. */
  private async listBlobNames(algorithm: 'sha256'): Promise<string[] | 'too-many'> {
    const names: string[] = [];
    let dir;
    try {
      dir = await opendir(path.join(this.dir, 'blobs', algorithm));
    } catch (error) {
      if (isMissingError(error)) return names;
      throw this.ioError(`blobs/${algorithm}`, error);
    }
    try {
      for await (const entry of dir) {
        if (!HEX_NAME.test(entry.name)) continue;
        if (names.length >= this.maxScannedBlobs) return 'too-many';
        names.push(entry.name);
      }
    } catch (error) {
      throw this.ioError(`blobs/${algorithm}`, error);
    }
    return names.sort();
  }

  // ---------------------------------------------------------------------------------------------
  // filesystem helpers

  private file(name: string): string {
    return path.join(this.dir, name);
  }

  private relative(file: string): string {
    return path.relative(this.dir, file).split(path.sep).join('/');
  }

  /**
   * A change stamp for a path inside the layout (ns mtime and inode; size too for files, not for
   * directories, whose st_size is filesystem-specific), or undefined when it does not exist.
   */
  private async statStamp(relativePath: string): Promise<string | undefined> {
    try {
      const st = await stat(path.join(this.dir, relativePath), { bigint: true });
      return st.isDirectory() ? `${st.mtimeNs}:${st.ino}` : `${st.mtimeNs}:${st.size}:${st.ino}`;
    } catch (error) {
      if (isMissingError(error)) return undefined;
      throw this.ioError(relativePath, error);
    }
  }

  /**
   * Reads a regular file of at most `limit` bytes, checking its size before reading (and, when
   * given, against `expectedSize`). `head` may reject the file from its first bytes.
   */
  private async readFile(
    file: string,
    label: string,
    limit: number,
    expectedSize?: number,
    head?: (bytes: Buffer) => boolean,
  ): Promise<ReadResult> {
    let handle;
    try {
      handle = await open(file, OPEN_FLAGS);
    } catch (error) {
      if (isMissingError(error)) return { ok: false, failure: 'missing' };
      if (errnoCode(error) === 'EISDIR') return { ok: false, failure: 'not-file' };
      throw this.ioError(label, error);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) return { ok: false, failure: 'not-file' };
      if (st.size > limit) return { ok: false, failure: 'too-large', size: st.size };
      if (expectedSize !== undefined && st.size !== expectedSize) return { ok: false, failure: 'size-mismatch', size: st.size };
      // One spare byte detects a file that grew after fstat.
      const buffer = Buffer.alloc(st.size + 1);
      let total = 0;
      if (head !== undefined) {
        total = await readInto(handle, buffer, 0, Math.min(SCAN_HEAD_BYTES, st.size));
        if (!head(buffer.subarray(0, total))) return { ok: false, failure: 'rejected' };
      }
      total = await readInto(handle, buffer, total, buffer.length);
      if (total !== st.size) return { ok: false, failure: 'changed', size: total };
      return { ok: true, bytes: buffer.subarray(0, total) };
    } catch (error) {
      throw this.ioError(label, error);
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  private ioError(label: string, error: unknown): RegistryError {
    return this.error('REGISTRY_UNAVAILABLE', `cannot read ${label}: ${errorMessage(error)}`, 'OTHER', { cause: error });
  }

  private error(code: ErrorCode, message: string, reason: ErrorReason, extra: { file?: string; cause?: unknown } = {}): RegistryError {
    return new RegistryError(code, `${this.location}: ${message}`, {
      reason,
      ...(extra.file === undefined ? {} : { url: pathToFileURL(extra.file).href }),
      ...(extra.cause === undefined ? {} : { cause: extra.cause }),
    });
  }
}

/**
 * Classifies a reference given to a layout: a digest (alone or after `@`), a plain tag, or a full
 * image reference with a tag. Anything else (including digest-like text that is not a valid
 * digest, such as `sha256:../../x`) is refused before any file is touched.
 */
function parseLayoutReference(reference: string, location: string): LayoutReference {
  if (typeof reference !== 'string' || reference.length === 0) {
    throw new InvalidReferenceError(`${location}: reference is empty`);
  }
  if (isDigest(reference)) return { kind: 'digest', digest: reference };
  // Digest-looking text that is not a valid digest (`sha256:../../etc/passwd`) is never a tag.
  if (DIGEST_LIKE.test(reference)) {
    throw new InvalidReferenceError(`${location}: reference ${JSON.stringify(reference)} is not a valid sha256 or sha512 digest`);
  }
  if (isTag(reference)) return { kind: 'tag', tag: reference };
  let ref: ImageReference;
  try {
    ref = parseReference(reference);
  } catch (error) {
    throw new InvalidReferenceError(`${location}: ${errorMessage(error)}`, { cause: error });
  }
  if (ref.digest !== undefined) return { kind: 'digest', digest: ref.digest };
  if (ref.tag === undefined) {
    throw new InvalidReferenceError(`${location}: reference "${reference}" names neither a tag nor a digest`);
  }
  return { kind: 'ref', input: reference, ref: { ...ref, tag: ref.tag } };
}

function matchRefName(refName: string, query: Exclude<LayoutReference, { kind: 'digest' }>): 'exact' | 'loose' | undefined {
  if (query.kind === 'tag') {
    if (refName === query.tag) return 'exact';
    const named = tryParseTaggedReference(refName);
    return named?.tag === query.tag ? 'loose' : undefined;
  }
  if (refName === query.input) return 'exact';
  const named = tryParseTaggedReference(refName);
  if (named !== undefined) {
    const same = named.registry === query.ref.registry && named.repository === query.ref.repository && named.tag === query.ref.tag;
    return same ? 'exact' : undefined;
  }
  return refName === query.ref.tag ? 'loose' : undefined;
}

/** A ref.name that is a full reference with a tag (`example.com/repo:v1`), or undefined for plain tags and junk. */
function tryParseTaggedReference(refName: string): ImageReference | undefined {
  if (isTag(refName)) return undefined;
  try {
    const ref = parseReference(refName);
    return ref.tag === undefined ? undefined : ref;
  } catch {
    return undefined;
  }
}

function looksLikeJsonObject(head: Buffer): boolean {
  for (const byte of head) {
    if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d) continue;
    return byte === 0x7b; // '{'
  }
  return false;
}

async function readInto(handle: FileHandle, buffer: Buffer, from: number, until: number): Promise<number> {
  let total = from;
  while (total < until) {
    const { bytesRead } = await handle.read(buffer, total, until - total, total);
    if (bytesRead === 0) break;
    total += bytesRead;
  }
  return total;
}

function describeFailure(failure: ReadFailure): string {
  switch (failure) {
    case 'missing':
      return 'does not exist';
    case 'not-file':
    case 'rejected':
      return 'is not a regular file';
    case 'too-large':
      return 'is too large';
    case 'size-mismatch':
    case 'changed':
      return 'changed while being read';
  }
}

/** Errors that make one manifest of the graph unusable without making the layout unusable. */
function isSkippable(error: unknown): boolean {
  if (!(error instanceof VouchError)) return false;
  if (error.code === 'NOT_FOUND' || error.code === 'INVALID_INPUT') return true;
  return (
    error.code === 'REGISTRY_UNAVAILABLE' &&
    (error.reason === 'DIGEST_MISMATCH' ||
      error.reason === 'SIZE_MISMATCH' ||
      error.reason === 'SIZE_LIMIT' ||
      error.reason === 'BAD_CONTENT')
  );
}

function copyDescriptor(descriptor: Descriptor): Descriptor {
  const copy: Descriptor = { ...descriptor };
  if (descriptor.annotations !== undefined) copy.annotations = { ...descriptor.annotations };
  return copy;
}

function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function isMissingError(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** A stream of the first `size` bytes of an open file; the handle closes with the stream. */
function fileStream(handle: FileHandle, size: number): Readable {
  if (size === 0) {
    void handle.close().catch(() => undefined);
    return Readable.from([]);
  }
  return handle.createReadStream({ start: 0, end: size - 1, autoClose: true });
}
