// Writes OCI image layouts (image-spec image-layout.md) the way oras-go's content/oci store does:
// every manifest is listed in index.json (tagged ones with org.opencontainers.image.ref.name), so
// readers that only walk index.json find referrers too. Used by the demo, air-gapped exports and
// (later) promotion.

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { computeDigest, digestAlgorithm, digestHex, VouchError } from '../core/index.js';
import { parseManifest, type Descriptor } from './manifest.js';
import { ANNOTATION, MEDIA_TYPE } from './media-types.js';
import { OCI_LAYOUT_VERSION } from './oci-layout.js';

interface IndexJson {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
}

export class OciLayoutWriter {
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  /** Creates the layout (or opens an existing one) at `dir`. */
  static async create(dir: string): Promise<OciLayoutWriter> {
    const writer = new OciLayoutWriter(dir);
    await mkdir(path.join(writer.dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(path.join(writer.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION }));
    try {
      await readFile(path.join(writer.dir, 'index.json'));
    } catch {
      await writer.#writeIndex({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests: [] });
    }
    return writer;
  }

  async writeBlob(bytes: Uint8Array, mediaType: string): Promise<Descriptor> {
    const digest = computeDigest(bytes);
    const file = path.join(this.dir, 'blobs', digestAlgorithm(digest), digestHex(digest));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, bytes);
    return { mediaType, digest, size: bytes.length };
  }

  /** Writes a manifest blob and lists it in index.json, under `tag` when given. */
  async writeManifest(bytes: Uint8Array, mediaType: string, options: { tag?: string } = {}): Promise<Descriptor> {
    const manifest = parseManifest(bytes, 'manifest to write', mediaType);
    if (manifest.mediaType !== mediaType) {
      throw new VouchError('INVALID_INPUT', `manifest media type "${manifest.mediaType}" differs from "${mediaType}"`, {
        reason: 'MEDIA_TYPE',
      });
    }
    const descriptor = await this.writeBlob(bytes, mediaType);
    const index = JSON.parse(await readFile(path.join(this.dir, 'index.json'), 'utf8')) as IndexJson;
    const entry: Descriptor = { ...descriptor };
    if (manifest.artifactType !== undefined) entry.artifactType = manifest.artifactType;
    const tagOf = (d: Descriptor) => d.annotations?.[ANNOTATION.refName];
    if (options.tag === undefined) {
      if (!index.manifests.some((d) => d.digest === descriptor.digest)) index.manifests.push(entry);
    } else {
      // A tag names one manifest: drop the tag's old entry and any untagged entry of this digest.
      index.manifests = index.manifests.filter(
        (d) => tagOf(d) !== options.tag && !(d.digest === descriptor.digest && tagOf(d) === undefined),
      );
      index.manifests.push({ ...entry, annotations: { [ANNOTATION.refName]: options.tag } });
    }
    await this.#writeIndex(index);
    return descriptor;
  }

  async #writeIndex(index: IndexJson): Promise<void> {
    // write-then-rename: a reader never sees a half-written index.json
    const target = path.join(this.dir, 'index.json');
    const temporary = `${target}.${process.pid}.tmp`;
    await writeFile(temporary, JSON.stringify(index));
    await rename(temporary, target);
  }
}
