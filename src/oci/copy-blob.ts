// One blob from a source to a destination repository without holding it in memory: the source
// stream (a registry GET or a layout file) is hashed while it flows into a monolithic upload
// (distribution-spec v1.1.1 "POST then PUT",
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#post-then-put), or the
// blob is mounted from another repository of the same registry ("Mounting a blob from another
// repository", #mounting-a-blob-from-another-repository). An upload session that fails is cancelled
// ("Canceling an upload", #canceling-an-upload).

import { createHash, type Hash } from 'node:crypto';
import { PassThrough, Readable, Transform, pipeline } from 'node:stream';
import { RegistryError, VouchError, digestAlgorithm, digestHex } from '../core/index.js';
import type { ContentSource, FetchOptions } from './content-source.js';
import type { Descriptor } from './manifest.js';
import type { RegistryRepository } from './registry-client.js';

/** A source that can stream a blob (RegistryRepository, OciLayoutSource, LayoutRepository). */
export interface BlobStreamSource {
  openBlob(descriptor: Descriptor, options?: FetchOptions): Promise<Readable>;
}

export function canStreamBlobs(source: ContentSource): source is ContentSource & BlobStreamSource {
  return typeof (source as Partial<BlobStreamSource>).openBlob === 'function';
}

export interface TransferOptions extends FetchOptions {
  /** Mount from this repository of the destination's registry first (same-registry copies). */
  mountFrom?: string;
  /** Bytes of the blob as they pass (progress). */
  onBytes?: (count: number) => void;
}

/**
 * Copies one blob the destination lacks; returns whether it was uploaded or mounted. The digest is
 * checked while streaming and the last chunk is held back until it matches, so a source serving
 * wrong bytes never completes the upload (the registry would refuse it too; this fails closed
 * without relying on that).
 */
export async function transferBlob(
  source: ContentSource,
  destination: RegistryRepository,
  descriptor: Descriptor,
  options: TransferOptions = {},
): Promise<'copied' | 'mounted'> {
  const signal = options.signal;
  const fetchOptions: FetchOptions = signal ? { signal } : {};
  let upload: URL;
  if (options.mountFrom !== undefined) {
    const mount = await destination.mountBlob(descriptor.digest, options.mountFrom, fetchOptions);
    if (mount.mounted) return 'mounted';
    upload = mount.upload;
  } else {
    upload = await destination.startUpload(fetchOptions);
  }
  let sourceError: unknown;
  const open = (): Readable => {
    const out = new PassThrough();
    const verifier = verifyingStream(descriptor, source.location, options.onBytes);
    openSource(source, descriptor, fetchOptions).then(
      (stream) =>
        pipeline(stream, verifier, out, (error) => {
          if (error) sourceError ??= error;
        }),
      (error: unknown) => {
        sourceError ??= error;
        out.destroy(error as Error);
      },
    );
    return out;
  };
  try {
    await destination.finishUpload(upload, descriptor, open, fetchOptions);
    return 'copied';
  } catch (error) {
    // Not with the caller's signal: it may be what aborted the upload.
    await destination.cancelUpload(upload);
    // What broke on the reading side says more than the aborted request it caused.
    if (sourceError instanceof VouchError) throw sourceError;
    throw error;
  }
}

async function openSource(source: ContentSource, descriptor: Descriptor, options: FetchOptions): Promise<Readable> {
  if (canStreamBlobs(source)) return source.openBlob(descriptor, options);
  // A source without streaming: bounded by the client's blob limit, like every buffered read.
  const bytes = await source.fetchBlob(descriptor, options);
  // A view of the bytes, not a copy (Buffer.from(Uint8Array) copies).
  return Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
}

/**
 * Passes bytes through while hashing and counting them; refuses more bytes than the descriptor's
 * size, and holds the last chunk back until the digest and size are confirmed at the end.
 */
export function verifyingStream(descriptor: Descriptor, location: string, onBytes?: (count: number) => void): Transform {
  const algorithm = digestAlgorithm(descriptor.digest);
  const hash: Hash = createHash(algorithm);
  let total = 0;
  let held: Buffer | undefined;
  const fail = (reason: 'SIZE_MISMATCH' | 'DIGEST_MISMATCH', message: string) =>
    new RegistryError('REGISTRY_UNAVAILABLE', `blob ${descriptor.digest} from ${location} ${message}`, { reason });
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      total += chunk.length;
      if (total > descriptor.size) {
        callback(fail('SIZE_MISMATCH', `is longer than its descriptor's ${descriptor.size} bytes`));
        return;
      }
      hash.update(chunk);
      onBytes?.(chunk.length);
      const previous = held;
      held = chunk;
      callback(null, previous);
    },
    flush(callback) {
      if (total !== descriptor.size) {
        callback(fail('SIZE_MISMATCH', `is ${total} bytes, its descriptor says ${descriptor.size}`));
        return;
      }
      if (hash.digest('hex') !== digestHex(descriptor.digest)) {
        callback(fail('DIGEST_MISMATCH', 'does not match its digest'));
        return;
      }
      callback(null, held);
    },
  });
}
