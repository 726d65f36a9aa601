// Media types and annotation keys used across vouch (image-spec v1.1 media-types.md, Docker
// manifest v2 schema 2, Notary Project signature-specification.md, cosign SIGNATURE_SPEC.md).

export const MEDIA_TYPE = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  ociImageConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  /** image-spec 1.1 RC only; removed before 1.1.0. Read-only legacy, never produced. */
  ociArtifactManifest: 'application/vnd.oci.artifact.manifest.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerImageConfig: 'application/vnd.docker.container.image.v1+json',

  notarySignature: 'application/vnd.cncf.notary.signature',
  notaryPayload: 'application/vnd.cncf.notary.payload.v1+json',
  jws: 'application/jose+json',
  cose: 'application/cose',

  cosignSimpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
  cosignExperimentalSignature: 'application/vnd.dev.cosign.artifact.sig.v1+json',
  sigstoreBundleV03: 'application/vnd.dev.sigstore.bundle.v0.3+json',
  sigstoreBundlePrefix: 'application/vnd.dev.sigstore.bundle',
  inToto: 'application/vnd.in-toto+json',
  dsseEnvelope: 'application/vnd.dsse.envelope.v1+json',
} as const;

/** The manifest kinds a registry may answer with; all are sent in every manifest Accept header. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MEDIA_TYPE.ociManifest,
  MEDIA_TYPE.ociIndex,
  MEDIA_TYPE.dockerManifest,
  MEDIA_TYPE.dockerManifestList,
];

export const INDEX_MEDIA_TYPES: readonly string[] = [MEDIA_TYPE.ociIndex, MEDIA_TYPE.dockerManifestList];

/**
 * Accept header for manifest GET/HEAD (distribution-spec "Pulling manifests"). distribution 2.8
 * answers 404 for an OCI manifest when Accept does not list its type, which would look exactly
 * like "no signatures", so every type is always listed.
 */
export const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');

export const ANNOTATION = {
  refName: 'org.opencontainers.image.ref.name',
  created: 'org.opencontainers.image.created',
  notaryThumbprint: 'io.cncf.notary.x509chain.thumbprint#S256',
  cosignSignature: 'dev.cosignproject.cosign/signature',
  cosignCertificate: 'dev.sigstore.cosign/certificate',
  cosignChain: 'dev.sigstore.cosign/chain',
  cosignBundle: 'dev.sigstore.cosign/bundle',
  cosignTimestamp: 'dev.sigstore.cosign/rfc3161timestamp',
  sigstoreBundleContent: 'dev.sigstore.bundle.content',
  sigstoreBundlePredicateType: 'dev.sigstore.bundle.predicateType',
} as const;

/** The two-byte empty JSON blob `{}` and its digest (image-spec "Guidance for an Empty Descriptor"). */
export const EMPTY_JSON = new Uint8Array([0x7b, 0x7d]);
export const EMPTY_JSON_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

/** Media type without parameters, lowercased (`application/json; charset=utf-8` → `application/json`). */
export function baseMediaType(value: string | null | undefined): string {
  if (!value) return '';
  return value.split(';')[0]!.trim().toLowerCase();
}

export function isIndexMediaType(mediaType: string): boolean {
  return INDEX_MEDIA_TYPES.includes(mediaType);
}
