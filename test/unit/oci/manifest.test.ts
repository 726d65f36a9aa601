import test from 'ava';
import { classifyReferrer, isCosignLegacySignature } from '../../../src/oci/artifact-kind.js';
import { artifactTypeOf, parseManifest } from '../../../src/oci/manifest.js';
import { EMPTY_JSON_DIGEST, MEDIA_TYPE } from '../../../src/oci/media-types.js';

const enc = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const emptyConfig = { mediaType: MEDIA_TYPE.ociEmpty, digest: EMPTY_JSON_DIGEST, size: 2 };
const subject = { mediaType: MEDIA_TYPE.ociManifest, digest: D2, size: 10 };

function manifest(extra: Record<string, unknown>) {
  return {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.ociManifest,
    config: emptyConfig,
    layers: [{ mediaType: MEDIA_TYPE.jws, digest: D1, size: 5 }],
    ...extra,
  };
}

test('manifest: parses an OCI image manifest with subject and annotations', (t) => {
  const parsed = parseManifest(enc(manifest({ subject, artifactType: MEDIA_TYPE.notarySignature, annotations: { a: 'b' } })), 'm');
  t.is(parsed.kind, 'manifest');
  if (parsed.kind !== 'manifest') return;
  t.is(parsed.subject?.digest as string | undefined, D2);
  t.is(parsed.layers.length, 1);
  t.deepEqual(parsed.annotations, { a: 'b' });
  t.is(artifactTypeOf(parsed), MEDIA_TYPE.notarySignature);
});

test('manifest: artifactType falls back to config.mediaType', (t) => {
  const parsed = parseManifest(enc(manifest({ config: { ...emptyConfig, mediaType: MEDIA_TYPE.notarySignature } })), 'm');
  t.is(artifactTypeOf(parsed), MEDIA_TYPE.notarySignature);
});

test('manifest: parses an index, and infers the type when mediaType is absent', (t) => {
  const index = parseManifest(
    enc({ schemaVersion: 2, manifests: [{ mediaType: MEDIA_TYPE.ociManifest, digest: D1, size: 3, artifactType: 'x/y' }] }),
    'i',
  );
  t.is(index.kind, 'index');
  t.is(index.mediaType, MEDIA_TYPE.ociIndex);
  const docker = parseManifest(enc({ schemaVersion: 2, mediaType: MEDIA_TYPE.dockerManifestList, manifests: [] }), 'd');
  t.is(docker.kind, 'index');
});

test('manifest: an empty referrers answer may omit manifests or send null (Go registries do)', (t) => {
  for (const manifests of [undefined, null]) {
    const body = enc({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests });
    const parsed = parseManifest(body, 'r', MEDIA_TYPE.ociIndex, { emptyIndexMayOmitManifests: true });
    t.deepEqual(parsed.kind === 'index' ? parsed.manifests : undefined, []);
    t.throws(() => parseManifest(body, 'r', MEDIA_TYPE.ociIndex));
  }
});

test('manifest: the Content-Type decides when the body has no mediaType', (t) => {
  const parsed = parseManifest(
    enc({ schemaVersion: 2, config: emptyConfig, layers: [] }),
    'm',
    `${MEDIA_TYPE.dockerManifest}; charset=utf-8`,
  );
  t.is(parsed.mediaType, MEDIA_TYPE.dockerManifest);
});

const rejects: Array<[string, unknown, string?]> = [
  ['garbage bytes', 'not json{'],
  ['a JSON array', [1, 2]],
  ['schemaVersion 1', { ...manifest({}), schemaVersion: 1 }],
  ['a bad digest in a layer', manifest({ layers: [{ mediaType: 'x', digest: 'sha256:xyz', size: 1 }] })],
  ['a negative size', manifest({ layers: [{ mediaType: 'x', digest: D1, size: -1 }] })],
  ['a fractional size', manifest({ layers: [{ mediaType: 'x', digest: D1, size: 1.5 }] })],
  ['a missing config', { schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest, layers: [] }],
  ['an index with layers', { schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests: [], layers: [] }],
  ['an index without manifests', { schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex }],
  ['a non-string annotation', manifest({ annotations: { a: 1 } })],
  ['a subject that is not a descriptor', manifest({ subject: 'sha256:abc' })],
  ['an unknown manifest media type', { ...manifest({}), mediaType: 'application/vnd.example+json' }],
  ['a body mediaType that contradicts Content-Type', manifest({}), MEDIA_TYPE.ociIndex],
  ['non-base64 data', manifest({ config: { ...emptyConfig, data: 'e30=!' } })],
];
for (const [what, body, contentType] of rejects) {
  test(`manifest: rejects ${what}`, (t) => {
    const error = t.throws(() => parseManifest(enc(body), 'm', contentType));
    t.is((error as { code?: string }).code, 'INVALID_INPUT');
  });
}

test('artifact kind: notation in both manifest forms', (t) => {
  t.is(classifyReferrer(parseManifest(enc(manifest({ subject, artifactType: MEDIA_TYPE.notarySignature })), 'm')), 'notation');
  t.is(
    classifyReferrer(parseManifest(enc(manifest({ subject, config: { ...emptyConfig, mediaType: MEDIA_TYPE.notarySignature } })), 'm')),
    'notation',
  );
  // artifactType notary with a non-empty config is skipped by notation-go; so do we.
  t.is(
    classifyReferrer(
      parseManifest(
        enc(
          manifest({ subject, artifactType: MEDIA_TYPE.notarySignature, config: { ...emptyConfig, mediaType: MEDIA_TYPE.ociImageConfig } }),
        ),
        'm',
      ),
    ),
    'other',
  );
  // a Docker schema 2 manifest is never a notation signature
  t.is(
    classifyReferrer(
      parseManifest(
        enc({
          ...manifest({ subject, config: { ...emptyConfig, mediaType: MEDIA_TYPE.notarySignature } }),
          mediaType: MEDIA_TYPE.dockerManifest,
        }),
        'm',
      ),
    ),
    'other',
  );
});

test('artifact kind: cosign bundle, experimental, in-toto, others', (t) => {
  t.is(classifyReferrer(parseManifest(enc(manifest({ subject, artifactType: MEDIA_TYPE.sigstoreBundleV03 })), 'm')), 'cosign-bundle');
  t.is(
    classifyReferrer(parseManifest(enc(manifest({ subject, artifactType: 'application/vnd.dev.sigstore.bundle+json;version=0.3' })), 'm')),
    'cosign-bundle',
  );
  t.is(
    classifyReferrer(
      parseManifest(enc(manifest({ subject, config: { ...emptyConfig, mediaType: MEDIA_TYPE.cosignExperimentalSignature } })), 'm'),
    ),
    'cosign-experimental',
  );
  t.is(classifyReferrer(parseManifest(enc(manifest({ subject, artifactType: MEDIA_TYPE.inToto })), 'm')), 'in-toto');
  t.is(classifyReferrer(parseManifest(enc(manifest({ subject, artifactType: 'application/spdx+json' })), 'm')), 'other');
  t.is(classifyReferrer(parseManifest(enc({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests: [] }), 'i')), 'other');
  t.is(
    classifyReferrer(
      parseManifest(enc({ mediaType: MEDIA_TYPE.ociArtifactManifest, artifactType: MEDIA_TYPE.notarySignature, blobs: [] }), 'a'),
    ),
    'notation',
  );
});

test('artifact kind: cosign legacy signature manifests have simple-signing layers', (t) => {
  const legacy = parseManifest(
    enc(
      manifest({
        config: { ...emptyConfig, mediaType: MEDIA_TYPE.ociImageConfig },
        layers: [{ mediaType: MEDIA_TYPE.cosignSimpleSigning, digest: D1, size: 3 }],
      }),
    ),
    'm',
  );
  t.true(isCosignLegacySignature(legacy));
  t.false(isCosignLegacySignature(parseManifest(enc(manifest({})), 'm')));
});

// found by fuzzing: annotations were copied by assignment, and `out["__proto__"] = "v"` sets no
// property, so an annotation named __proto__ vanished from the parsed manifest
test('manifest: an annotation named __proto__ is kept as an annotation', (t) => {
  const text = JSON.stringify(manifest({ annotations: { a: 'b' } })).replace('"annotations":{', '"annotations":{"__proto__":"p",');
  const parsed = parseManifest(enc(text), 'm');
  t.deepEqual(Object.keys(parsed.annotations ?? {}).sort(), ['__proto__', 'a']);
  t.is(Object.getOwnPropertyDescriptor(parsed.annotations, '__proto__')?.value, 'p');
  t.is(Object.getPrototypeOf(parsed.annotations), Object.prototype);
});
