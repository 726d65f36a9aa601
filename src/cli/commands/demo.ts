// `vouch demo`: runs offline on generated content. It writes a small OCI image layout (an image,
// notation signatures in both manifest forms, a cosign bundle referrer, an SBOM with its own
// signature) and shows what vouch's referrer discovery finds in it. Issue #4 extends this into the
// full signed-and-verified demo; until Notary verification (#3) lands, the signature envelopes
// here are placeholders and nothing is reported as verified.

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import {
  EMPTY_DESCRIPTOR,
  EMPTY_JSON,
  MEDIA_TYPE,
  OciLayoutSource,
  OciLayoutWriter,
  buildImageManifest,
  walkReferrers,
  type Descriptor,
} from '../../oci/index.js';
import { renderReferrersTable } from '../render.js';
import type { CommandIo } from '../io.js';

export const demoUsage = `usage: vouch demo [--dir DIR]

Writes a sample OCI image layout (to DIR, default a new temporary directory) holding an image
with signatures and an SBOM, then lists what refers to the image, as \`vouch referrers\` would.`;

export async function demoCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { dir: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } } });
  if (values.help) {
    io.out(demoUsage);
    return 0;
  }
  const dir = values.dir ?? (await mkdtemp(path.join(tmpdir(), 'vouch-demo-')));
  const layout = await OciLayoutWriter.create(dir);
  const text = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  const put = async (bytes: Uint8Array, mediaType: string) => layout.writeBlob(bytes, mediaType);

  // The image: a config and one layer.
  const config = await put(
    text({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
    MEDIA_TYPE.ociImageConfig,
  );
  const layer = await put(randomBytes(256), 'application/vnd.oci.image.layer.v1.tar+gzip');
  const image = buildImageManifest({ config, layers: [layer], annotations: { 'org.opencontainers.image.title': 'vouch demo app' } });
  await layout.writeManifest(image.bytes, image.descriptor.mediaType, { tag: '1.0' });

  await put(EMPTY_JSON, MEDIA_TYPE.ociEmpty);
  const envelope = async (mediaType: string) => put(randomBytes(64), mediaType); // placeholder bytes (see header)
  const attach = async (subject: Descriptor, parts: { artifactType?: string; config?: Descriptor; layers: Descriptor[] }) => {
    const built = buildImageManifest({
      config: parts.config ?? EMPTY_DESCRIPTOR,
      layers: parts.layers,
      subject,
      ...(parts.artifactType ? { artifactType: parts.artifactType } : {}),
    });
    await layout.writeManifest(built.bytes, built.descriptor.mediaType);
    return built.descriptor;
  };

  // notation 1.x form (config.mediaType), notation 2 form (artifactType), a cosign v3 bundle.
  const notaryConfig = await put(EMPTY_JSON, MEDIA_TYPE.notarySignature);
  await attach(image.descriptor, { config: notaryConfig, layers: [await envelope(MEDIA_TYPE.jws)] });
  await attach(image.descriptor, { artifactType: MEDIA_TYPE.notarySignature, layers: [await envelope(MEDIA_TYPE.cose)] });
  await attach(image.descriptor, { artifactType: MEDIA_TYPE.sigstoreBundleV03, layers: [await envelope(MEDIA_TYPE.sigstoreBundleV03)] });
  // An SBOM, and a notation signature on the SBOM (a nested referrer).
  const sbomBlob = await put(text({ spdxVersion: 'SPDX-2.3', name: 'vouch demo app' }), 'application/spdx+json');
  const sbom = await attach(image.descriptor, { artifactType: 'application/spdx+json', layers: [sbomBlob] });
  await attach(sbom, { config: notaryConfig, layers: [await envelope(MEDIA_TYPE.jws)] });

  const source = await OciLayoutSource.open(dir);
  const subject = await source.resolve('1.0');
  const tree = await walkReferrers(source, subject.digest, { maxDepth: 2 });
  io.out(`Sample OCI layout written to ${dir}\n`);
  io.out(renderReferrersTable({ reference: 'demo/app:1.0', source: source.location, subject, tree }));
  io.out(`\nTry: vouch referrers --layout ${dir} 1.0 --output json`);
  io.out(
    'These signature envelopes are placeholders: discovery only. Notary Project verification (issue #3) decides whether a signature is trusted.',
  );
  return 0;
}
