// Builds small OCI images and referrer manifests (notation signatures in both forms, cosign
// bundle referrers, SBOMs) as exact bytes, and pushes them with vouch's own push code. Signature
// envelopes here are placeholders: discovery never looks inside them (verification is #3).

import { randomBytes } from 'node:crypto';
import { computeDigest, type Digest } from '../../src/core/index.js';
import { buildSignatureManifest, signEnvelope } from '../../src/notation/index.js';
import type { OciLayoutWriter } from '../../src/oci/oci-layout-writer.js';
import { attachReferrer } from '../../src/oci/referrers.js';
import type { RegistryRepository } from '../../src/oci/registry-client.js';
import type { Descriptor } from '../../src/oci/manifest.js';
import { EMPTY_JSON, EMPTY_JSON_DIGEST, MEDIA_TYPE } from '../../src/oci/media-types.js';

export interface Blob {
  descriptor: Descriptor;
  bytes: Uint8Array;
}

export interface BuiltManifest {
  descriptor: Descriptor;
  bytes: Uint8Array;
  blobs: Blob[];
}

const encoder = new TextEncoder();

export function blob(bytes: Uint8Array, mediaType: string): Blob {
  return { descriptor: { mediaType, digest: computeDigest(bytes), size: bytes.length }, bytes };
}

function built(manifest: Record<string, unknown>, blobs: Blob[], mediaType = MEDIA_TYPE.ociManifest as string): BuiltManifest {
  const bytes = encoder.encode(JSON.stringify(manifest));
  return { descriptor: { mediaType, digest: computeDigest(bytes), size: bytes.length }, bytes, blobs };
}

/** A tiny runnable-looking image: a config and one random layer. */
export function buildImage(options: { mediaType?: 'oci' | 'docker'; layerBytes?: number } = {}): BuiltManifest {
  const docker = options.mediaType === 'docker';
  const config = blob(
    encoder.encode(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [] },
        nonce: randomBytes(8).toString('hex'),
      }),
    ),
    docker ? MEDIA_TYPE.dockerImageConfig : MEDIA_TYPE.ociImageConfig,
  );
  const layer = blob(
    randomBytes(options.layerBytes ?? 64),
    docker ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : 'application/vnd.oci.image.layer.v1.tar+gzip',
  );
  const mediaType = docker ? MEDIA_TYPE.dockerManifest : MEDIA_TYPE.ociManifest;
  return built({ schemaVersion: 2, mediaType, config: config.descriptor, layers: [layer.descriptor] }, [config, layer], mediaType);
}

/** A multi-platform index over the given manifests. */
export function buildIndex(manifests: BuiltManifest[]): BuiltManifest {
  return built(
    {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociIndex,
      manifests: manifests.map((m) => ({ ...m.descriptor, platform: { architecture: 'amd64', os: 'linux' } })),
    },
    [],
    MEDIA_TYPE.ociIndex,
  );
}

const emptyConfig = blob(EMPTY_JSON, MEDIA_TYPE.ociEmpty);

/**
 * A notation signature manifest. `form: 'legacy'` is what released notation 1.x writes (no
 * artifactType, config.mediaType = notary signature); `'artifactType'` is the notation 2 form.
 */
export function buildNotationSignature(
  subject: Descriptor,
  options: { form?: 'legacy' | 'artifactType'; envelope?: 'jws' | 'cose' } = {},
): BuiltManifest {
  const envelope = blob(
    encoder.encode(JSON.stringify({ payload: randomBytes(16).toString('base64url'), protected: 'e30', header: {}, signature: 'AA' })),
    options.envelope === 'cose' ? MEDIA_TYPE.cose : MEDIA_TYPE.jws,
  );
  const legacy = (options.form ?? 'legacy') === 'legacy';
  const config = legacy ? blob(EMPTY_JSON, MEDIA_TYPE.notarySignature) : emptyConfig;
  const manifest: Record<string, unknown> = { schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest };
  if (!legacy) manifest['artifactType'] = MEDIA_TYPE.notarySignature;
  Object.assign(manifest, {
    config: config.descriptor,
    layers: [envelope.descriptor],
    subject: pick(subject),
    annotations: { 'io.cncf.notary.x509chain.thumbprint#S256': '["00"]', 'org.opencontainers.image.created': new Date(0).toISOString() },
  });
  return built(manifest, [config, envelope]);
}

/**
 * A cosign v3 bundle referrer (artifactType sigstore bundle v0.3, empty config, the bundle as its one
 * layer). Without `bundleBytes` the layer is a placeholder bundle document (discovery tests).
 */
export function buildCosignBundleReferrer(
  subject: Descriptor,
  options: { bundleBytes?: Uint8Array; layerMediaType?: string } = {},
): BuiltManifest {
  const bundle = blob(
    options.bundleBytes ??
      encoder.encode(JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', nonce: randomBytes(8).toString('hex') })),
    options.layerMediaType ?? MEDIA_TYPE.sigstoreBundleV03,
  );
  return built(
    {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociManifest,
      artifactType: MEDIA_TYPE.sigstoreBundleV03,
      config: emptyConfig.descriptor,
      layers: [bundle.descriptor],
      subject: pick(subject),
      annotations: {
        'dev.sigstore.bundle.content': 'dsse-envelope',
        'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1',
      },
    },
    [emptyConfig, bundle],
  );
}

/** An SBOM attached with oras (artifactType SPDX, one layer). */
export function buildSbomReferrer(subject: Descriptor): BuiltManifest {
  const sbom = blob(
    encoder.encode(JSON.stringify({ spdxVersion: 'SPDX-2.3', nonce: randomBytes(8).toString('hex') })),
    'application/spdx+json',
  );
  return built(
    {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociManifest,
      artifactType: 'application/spdx+json',
      config: emptyConfig.descriptor,
      layers: [sbom.descriptor],
      subject: pick(subject),
    },
    [emptyConfig, sbom],
  );
}

/** The simple-signing payload cosign signs for an image (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md). */
export function simpleSigningPayload(subjectDigest: Digest, dockerReference = 'example/app'): Uint8Array {
  return encoder.encode(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': dockerReference },
        image: { 'docker-manifest-digest': subjectDigest },
        type: 'cosign container image signature',
      },
      optional: null,
    }),
  );
}

/** One layer of a `.sig` manifest: its blob, its annotations (the signature and friends), descriptor overrides. */
export interface CosignSigLayer {
  blob: Blob;
  annotations?: Record<string, string>;
  descriptor?: Partial<Descriptor>;
}

const cosignSigConfig = blob(
  encoder.encode('{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]}}'),
  MEDIA_TYPE.ociImageConfig,
);

/** A `.sig` manifest as cosign writes it: an OCI manifest with one simple-signing layer per signature. */
export function buildCosignSigManifest(layers: CosignSigLayer[]): BuiltManifest {
  return built(
    {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociManifest,
      config: cosignSigConfig.descriptor,
      layers: layers.map((l) => ({ ...l.blob.descriptor, ...(l.annotations ? { annotations: l.annotations } : {}), ...l.descriptor })),
    },
    [cosignSigConfig, ...layers.map((l) => l.blob)],
  );
}

/** cosign's legacy `.sig` manifest for `subjectDigest`, with a placeholder signature (discovery tests). */
export function buildCosignLegacySignature(subjectDigest: Digest): BuiltManifest {
  const payload = blob(simpleSigningPayload(subjectDigest), MEDIA_TYPE.cosignSimpleSigning);
  return buildCosignSigManifest([{ blob: payload, annotations: { 'dev.cosignproject.cosign/signature': 'MEUCIQ==' } }]);
}

function pick(d: Descriptor): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

/** Pushes blobs then the manifest (by tag when given); returns its descriptor. */
export async function pushManifest(repo: RegistryRepository, manifest: BuiltManifest, tag?: string): Promise<Descriptor> {
  for (const b of manifest.blobs) await repo.pushBlob(b.bytes, b.descriptor.mediaType);
  const { descriptor } = await repo.pushManifest(manifest.bytes, manifest.descriptor.mediaType, tag === undefined ? {} : { tag });
  return descriptor;
}

/** Pushes a referrer and keeps the referrers tag schema index up to date when the registry needs it. */
export async function pushReferrer(repo: RegistryRepository, manifest: BuiltManifest): Promise<Descriptor> {
  for (const b of manifest.blobs) await repo.pushBlob(b.bytes, b.descriptor.mediaType);
  return (await attachReferrer(repo, manifest.bytes, manifest.descriptor.mediaType)).descriptor;
}

/**
 * Writes a new image and a notation signature over it (JWS, the legacy manifest form every notation
 * 1.x writes, signed a minute ago) into an OCI layout; returns the image's digest.
 */
export async function writeSignedImage(
  layout: OciLayoutWriter,
  signer: { leaf: { privateKey: import('node:crypto').KeyObject }; certificates: Parameters<typeof signEnvelope>[0]['certificateChain'] },
): Promise<Digest> {
  const image = buildImage();
  for (const b of image.blobs) await layout.writeBlob(b.bytes, b.descriptor.mediaType);
  await layout.writeManifest(image.bytes, image.descriptor.mediaType);
  const envelope = signEnvelope({
    format: 'jws',
    privateKey: signer.leaf.privateKey,
    certificateChain: signer.certificates,
    payload: { targetArtifact: image.descriptor },
    signingTime: new Date(Date.now() - 60_000),
  });
  const signature = buildSignatureManifest(envelope, image.descriptor, { form: 'legacy' });
  for (const b of signature.blobs) await layout.writeBlob(b.bytes, b.descriptor.mediaType);
  await layout.writeManifest(signature.bytes, MEDIA_TYPE.ociManifest);
  return image.descriptor.digest;
}

export { EMPTY_JSON_DIGEST };
