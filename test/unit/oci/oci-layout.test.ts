// OciLayoutSource over the OCI layouts the real notation CLI wrote (test/fixtures/vectors, read in
// place) and over small layouts generated here for the failure cases.

import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { VouchError, type Digest, type ErrorCode, type ErrorReason } from '../../../src/core/index.js';
import type { Descriptor } from '../../../src/oci/manifest.js';
import { MEDIA_TYPE } from '../../../src/oci/media-types.js';
import { OciLayoutSource } from '../../../src/oci/oci-layout.js';
import { NOTATION_VECTORS } from '../../helpers/fixtures.js';

const VECTORS = path.join(NOTATION_VECTORS, 'notation-cli-e2e/oci_layout');

const SUBJECT = 'sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9';
const TAG_SCHEMA = 'sha256-b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9';

interface VectorCase {
  layout: string;
  subject: string;
  subjectSize: number;
  /** signature manifest digest → envelope (layer) digest */
  signatures: Record<string, string>;
}

const CASES: VectorCase[] = [
  { layout: 'e2e', subject: SUBJECT, subjectSize: 517, signatures: {} },
  {
    layout: 'e2e-valid-signature',
    subject: SUBJECT,
    subjectSize: 517,
    signatures: {
      'sha256:90ceaff260d657d797c408ac73564a9c7bb9d86055877c2a811f0e63b8c6524f':
        'sha256:c9af07e038b2b1a463e648986ad7273157511ffeba0b689f33e5472bae471f50',
    },
  },
  {
    layout: 'e2e-valid-multiple-signatures',
    subject: SUBJECT,
    subjectSize: 517,
    signatures: {
      'sha256:90ceaff260d657d797c408ac73564a9c7bb9d86055877c2a811f0e63b8c6524f':
        'sha256:c9af07e038b2b1a463e648986ad7273157511ffeba0b689f33e5472bae471f50',
      'sha256:c3ebe4a20b6832328fc5078a7795ddc1114b896e13fca2add38109c3866b5fbf':
        'sha256:a54333638acfa773a6b25429ee409b558d39c6f3c45dd14f714d72452bc36481',
    },
  },
  {
    layout: 'e2e-expired-signature',
    subject: SUBJECT,
    subjectSize: 517,
    signatures: {
      'sha256:3829708badae8e4b14e1adbc2fac7182bc0c27c5b6f54153e8b68a12eab10a1e':
        'sha256:b5f927564088f65dad86c81bcdd0b55415a8b4c9a0a5391107210e0cdb305cc7',
    },
  },
  {
    layout: 'e2e-invalid-signature',
    subject: SUBJECT,
    subjectSize: 517,
    signatures: {
      'sha256:321fcc674d6771dd0e5bd21e599f2df3a482de99a400fd3a3fe371221b97a9c9':
        'sha256:9a8decdf3775708f4eed16859f19561d730cad40b1af0dcfc37ac1e5f879a934',
    },
  },
  {
    layout: 'e2e-with-expired-cert',
    subject: SUBJECT,
    subjectSize: 517,
    signatures: {
      'sha256:b06e392c2d88206b492dbaf5381800578611eb24f86587bc7717cd3b736e5da7':
        'sha256:8513a5ba473f32b78a87518b732700632c05cde0d59d179275c5c5a8096beeed',
    },
  },
  {
    layout: 'e2e-with-timestamped-signature',
    subject: 'sha256:53b0191218aed9a3c1f7c661736ac40cfc8eb928642348fd843ba3f0483c0c20',
    subjectSize: 582,
    signatures: {
      'sha256:6a5cd3a886707a317935dcaf13954fc80ef9aeb665262b6ae4fe469ad7ea3aea':
        'sha256:603ff134e97a79cd7a15560b76137c2c4a10451daab11327a7c6f86dac250fee',
    },
  },
  {
    layout: 'e2e-with-invalid-timestamped-signature',
    subject: 'sha256:f1da8cd70d6d851fa2313c8d6618f79508cf1e86877edf1c0bfe49a1b0a6467a',
    subjectSize: 582,
    signatures: {
      'sha256:eee3eec7d2947f77713484753bea67879ff62c08a73a49a41151ed18c4d1c000':
        'sha256:8d2e70ffc2af68b7f2df6f30dfefcb7bcda1db5f9ac2566fc8c6c2248c8d4c5f',
    },
  },
];

function sha256(bytes: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
}

function isCode(code: ErrorCode, reason?: ErrorReason) {
  return (error: unknown): boolean =>
    error instanceof VouchError && error.code === code && (reason === undefined || error.reason === reason);
}

async function rejectsWith(t: ExecutionContext, promise: Promise<unknown>, code: ErrorCode, reason?: ErrorReason): Promise<void> {
  const error = await t.throwsAsync(promise, { instanceOf: VouchError });
  t.is(error?.code, code, error?.message);
  if (reason !== undefined) t.is(error?.reason, reason, error?.message);
}

// ---------------------------------------------------------------------------------------------
// the notation CLI's layouts

for (const c of CASES) {
  test(`vectors ${c.layout}: resolves tag v1 to the subject and lists exactly its notation signatures`, async (t) => {
    const dir = path.join(VECTORS, c.layout);
    const source = await OciLayoutSource.open(dir);
    t.is(source.location, `oci-layout:${path.resolve(dir)}`);

    const subject = await source.resolve('v1');
    t.deepEqual(subject, { mediaType: MEDIA_TYPE.ociManifest, digest: c.subject as Digest, size: c.subjectSize });
    t.deepEqual(await source.resolve(c.subject), subject);

    const all = await source.listReferrers(c.subject as Digest);
    t.is(all.via, 'oci-layout');
    const listing = await source.listReferrers(c.subject as Digest, { artifactType: MEDIA_TYPE.notarySignature });
    t.deepEqual(listing.descriptors, all.descriptors, 'every referrer in these layouts is a notation signature');
    t.deepEqual(listing.descriptors.map((d) => d.digest).sort(), Object.keys(c.signatures).sort());

    for (const descriptor of listing.descriptors) {
      // Legacy notation form: no top-level artifactType, so it comes from config.mediaType.
      t.is(descriptor.artifactType, MEDIA_TYPE.notarySignature);
      t.is(descriptor.mediaType, MEDIA_TYPE.ociManifest);
      const onDisk = await readFile(path.join(dir, 'blobs', 'sha256', descriptor.digest.slice('sha256:'.length)));
      t.is(descriptor.size, onDisk.byteLength);
      t.truthy(descriptor.annotations?.['org.opencontainers.image.created']);

      const fetched = await source.fetchManifest(descriptor);
      t.is(fetched.descriptor.digest, descriptor.digest);
      t.is(sha256(fetched.bytes), descriptor.digest);
      if (fetched.manifest.kind !== 'manifest') return t.fail('signature is not an image manifest');
      t.is(fetched.manifest.subject?.digest, c.subject as Digest);
      t.is(fetched.manifest.layers.length, 1);
      const layer = fetched.manifest.layers[0]!;
      t.is(layer.digest, c.signatures[descriptor.digest] as Digest);
      const envelope = await source.fetchBlob(layer);
      t.is(envelope.byteLength, layer.size);
      t.is(sha256(envelope), layer.digest);
    }
  });
}

test('vectors: the second signature of e2e-valid-multiple-signatures is only in index.json, not in the tag-schema index', async (t) => {
  const source = new OciLayoutSource(path.join(VECTORS, 'e2e-valid-multiple-signatures'));
  // The fallback index notation wrote lists only 90ceaff2; vouch does not rely on it.
  const fallback = await source.fetchManifest(TAG_SCHEMA);
  if (fallback.manifest.kind !== 'index') return t.fail('tag-schema entry is not an index');
  t.deepEqual(
    fallback.manifest.manifests.map((d) => d.digest),
    ['sha256:90ceaff260d657d797c408ac73564a9c7bb9d86055877c2a811f0e63b8c6524f'],
  );
  const listing = await source.listReferrers(SUBJECT as Digest);
  // Walk order: the fallback index (2nd entry) reaches 90ceaff2 before the 4th entry c3ebe4a2.
  t.deepEqual(
    listing.descriptors.map((d) => d.digest),
    [
      'sha256:90ceaff260d657d797c408ac73564a9c7bb9d86055877c2a811f0e63b8c6524f',
      'sha256:c3ebe4a20b6832328fc5078a7795ddc1114b896e13fca2add38109c3866b5fbf',
    ],
  );
});

test('vectors: a full reference ending in :v1 resolves a plain v1 ref.name', async (t) => {
  const source = new OciLayoutSource(path.join(VECTORS, 'e2e-valid-signature'));
  t.is((await source.resolve('localhost:5000/e2e:v1')).digest, SUBJECT as Digest);
  t.is((await source.resolve(`localhost:5000/e2e@${SUBJECT}`)).digest, SUBJECT as Digest);
});

test('vectors: embedded descriptor data (the timestamped subject config) is verified without a file', async (t) => {
  const source = new OciLayoutSource(path.join(VECTORS, 'e2e-with-timestamped-signature'));
  const fetched = await source.fetchManifest('v1');
  if (fetched.manifest.kind !== 'manifest') return t.fail('not a manifest');
  t.is(fetched.manifest.config.data, 'e30=');
  t.deepEqual(Buffer.from(await source.fetchBlob(fetched.manifest.config)).toString(), '{}');
  t.is(fetched.manifest.artifactType, 'application/vnd.unknown.artifact.v1');
});

test('vectors: the tag-schema index is not itself a referrer and an unsigned subject has none', async (t) => {
  const source = new OciLayoutSource(path.join(VECTORS, 'e2e'));
  t.deepEqual((await source.listReferrers(SUBJECT as Digest)).descriptors, []);
  const signed = new OciLayoutSource(path.join(VECTORS, 'e2e-valid-signature'));
  const referrersOfSignature = await signed.listReferrers(
    'sha256:90ceaff260d657d797c408ac73564a9c7bb9d86055877c2a811f0e63b8c6524f' as Digest,
  );
  t.deepEqual(referrersOfSignature.descriptors, []);
});

// ---------------------------------------------------------------------------------------------
// generated layouts

interface Layout {
  dir: string;
  /** Writes a blob under its sha256 name; returns its descriptor. */
  blob(bytes: Uint8Array | string, mediaType?: string): Promise<Descriptor>;
  /** Writes a manifest blob; returns its descriptor. */
  manifest(json: Record<string, unknown>): Promise<Descriptor>;
  index(entries: Array<Descriptor & { tag?: string }>): Promise<void>;
}

const temporary: string[] = [];
test.after.always(async () => {
  await Promise.all(temporary.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function makeLayout(options: { version?: string; ociLayout?: string | null } = {}): Promise<Layout> {
  const dir = await mkdtemp(path.join(tmpdir(), 'vouch-oci-layout-'));
  temporary.push(dir);
  await mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  if (options.ociLayout !== null) {
    await writeFile(path.join(dir, 'oci-layout'), options.ociLayout ?? JSON.stringify({ imageLayoutVersion: options.version ?? '1.0.0' }));
  }
  const layout: Layout = {
    dir,
    async blob(bytes, mediaType = 'application/octet-stream') {
      const buffer = typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes);
      const digest = sha256(buffer);
      await writeFile(path.join(dir, 'blobs', 'sha256', digest.slice(7)), buffer);
      return { mediaType, digest, size: buffer.byteLength };
    },
    async manifest(json) {
      const body = { schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest, ...json };
      return layout.blob(JSON.stringify(body), body.mediaType as string);
    },
    async index(entries) {
      const manifests = entries.map(({ tag, ...d }) =>
        tag === undefined ? d : { ...d, annotations: { ...d.annotations, 'org.opencontainers.image.ref.name': tag } },
      );
      await writeFile(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));
    },
  };
  return layout;
}

const EMPTY = { mediaType: MEDIA_TYPE.ociEmpty, digest: sha256('{}'), size: 2 };

/** A layout with an image tagged v1 and nothing else in index.json. */
async function imageLayout(options?: Parameters<typeof makeLayout>[0]) {
  const layout = await makeLayout(options);
  const layer = await layout.blob('hello\n', MEDIA_TYPE.ociLayerTar);
  await layout.blob('{}');
  const image = await layout.manifest({ config: { ...EMPTY, mediaType: 'application/vnd.example.config' }, layers: [layer] });
  await layout.index([{ ...image, tag: 'v1' }]);
  return { layout, image, layer };
}

function referrer(layout: Layout, subject: Descriptor, artifactType: string, note: string) {
  return layout.manifest({
    artifactType,
    config: EMPTY,
    layers: [EMPTY],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: { note },
  });
}

test('layout: missing oci-layout is refused when opened and on first use', async (t) => {
  const { layout } = await imageLayout({ ociLayout: null });
  await rejectsWith(t, OciLayoutSource.open(layout.dir), 'REGISTRY_UNAVAILABLE', 'BAD_CONTENT');
  await rejectsWith(t, new OciLayoutSource(layout.dir).resolve('v1'), 'REGISTRY_UNAVAILABLE', 'BAD_CONTENT');
});

test('layout: a missing directory is refused', async (t) => {
  await rejectsWith(t, OciLayoutSource.open(path.join(tmpdir(), 'vouch-no-such-layout-dir')), 'REGISTRY_UNAVAILABLE', 'BAD_CONTENT');
});

test('layout: an unknown imageLayoutVersion is unsupported; a garbled oci-layout is bad content', async (t) => {
  const { layout } = await imageLayout({ version: '2.0.0' });
  await rejectsWith(t, OciLayoutSource.open(layout.dir), 'REGISTRY_UNAVAILABLE', 'UNSUPPORTED');
  const garbled = await imageLayout({ ociLayout: 'imageLayoutVersion=1.0.0' });
  await rejectsWith(t, OciLayoutSource.open(garbled.layout.dir), 'REGISTRY_UNAVAILABLE', 'BAD_CONTENT');
});

test('layout: garbage, missing or non-index index.json is bad content', async (t) => {
  const { layout } = await imageLayout();
  await writeFile(path.join(layout.dir, 'index.json'), '{"schemaVersion": 2, "manifests": [');
  await rejectsWith(t, OciLayoutSource.open(layout.dir), 'REGISTRY_UNAVAILABLE', 'BAD_CONTENT');
  await writeFile(path.join(layout.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, config: EMPTY, layers: [] }));
  await rejectsWith(t, OciLayoutSource.open(layout.dir), 'REGISTRY_UNAVAILABLE', 'BAD_CONTENT');
  await rm(path.join(layout.dir, 'index.json'));
  await rejectsWith(t, OciLayoutSource.open(layout.dir), 'REGISTRY_UNAVAILABLE', 'BAD_CONTENT');
});

test('layout: a blob whose content does not hash to its name is a digest mismatch', async (t) => {
  const { layout, image, layer } = await imageLayout();
  const source = await OciLayoutSource.open(layout.dir);
  await writeFile(path.join(layout.dir, 'blobs', 'sha256', layer.digest.slice(7)), 'HELLO\n');
  await rejectsWith(t, source.fetchBlob(layer), 'REGISTRY_UNAVAILABLE', 'DIGEST_MISMATCH');
  const forged = JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest, config: EMPTY, layers: [] });
  await writeFile(path.join(layout.dir, 'blobs', 'sha256', image.digest.slice(7)), forged.padEnd(image.size, ' '));
  await rejectsWith(t, source.fetchManifest(image.digest), 'REGISTRY_UNAVAILABLE', 'DIGEST_MISMATCH');
  await rejectsWith(t, source.resolve('v1'), 'REGISTRY_UNAVAILABLE', 'DIGEST_MISMATCH');
});

test('layout: embedded data that does not match its descriptor is refused', async (t) => {
  const { layout } = await imageLayout();
  const source = await OciLayoutSource.open(layout.dir);
  const data = Buffer.from('{}').toString('base64');
  await rejectsWith(t, source.fetchBlob({ ...EMPTY, digest: sha256('[]'), data }), 'REGISTRY_UNAVAILABLE', 'DIGEST_MISMATCH');
  await rejectsWith(t, source.fetchBlob({ ...EMPTY, size: 3, data }), 'REGISTRY_UNAVAILABLE', 'SIZE_MISMATCH');
});

test('layout: size limits are checked before reading, and sizes against descriptors', async (t) => {
  const { layout, image, layer } = await imageLayout();
  const small = new OciLayoutSource(layout.dir, { limits: { maxManifestBytes: 100, maxBlobBytes: 4 } });
  await rejectsWith(t, small.fetchManifest(image.digest), 'REGISTRY_UNAVAILABLE', 'SIZE_LIMIT');
  await rejectsWith(t, small.fetchManifest(image), 'REGISTRY_UNAVAILABLE', 'SIZE_LIMIT');
  await rejectsWith(t, small.resolve('v1'), 'REGISTRY_UNAVAILABLE', 'SIZE_LIMIT');
  await rejectsWith(t, small.fetchBlob(layer), 'REGISTRY_UNAVAILABLE', 'SIZE_LIMIT');
  // A descriptor understating the size cannot get a file past the cap: the file's size is checked too.
  await rejectsWith(t, small.fetchBlob({ ...layer, size: 3 }), 'REGISTRY_UNAVAILABLE', 'SIZE_LIMIT');

  const source = new OciLayoutSource(layout.dir);
  t.is((await source.fetchBlob(layer, { maxBytes: layer.size })).byteLength, layer.size);
  await rejectsWith(t, source.fetchBlob(layer, { maxBytes: layer.size - 1 }), 'REGISTRY_UNAVAILABLE', 'SIZE_LIMIT');
  await rejectsWith(t, source.fetchManifest({ ...image, size: image.size + 1 }), 'REGISTRY_UNAVAILABLE', 'SIZE_MISMATCH');
  await rejectsWith(t, source.fetchBlob({ ...layer, size: layer.size - 1 }), 'REGISTRY_UNAVAILABLE', 'SIZE_MISMATCH');
});

test('layout: an unknown tag or absent blob is NOT_FOUND', async (t) => {
  const { layout } = await imageLayout();
  const source = await OciLayoutSource.open(layout.dir);
  await rejectsWith(t, source.resolve('v2'), 'NOT_FOUND');
  await rejectsWith(t, source.fetchManifest('example.com/app:v2'), 'NOT_FOUND');
  const absent = sha256('absent');
  await rejectsWith(t, source.resolve(absent), 'NOT_FOUND');
  await rejectsWith(t, source.fetchBlob({ mediaType: 'x', digest: absent, size: 6 }), 'NOT_FOUND');
});

test('layout: a manifest the index.json entry calls an index is refused (media type pinned)', async (t) => {
  const { layout, image } = await imageLayout();
  await layout.index([{ ...image, mediaType: MEDIA_TYPE.ociIndex, tag: 'v1' }]);
  await rejectsWith(t, new OciLayoutSource(layout.dir).resolve('v1'), 'INVALID_INPUT', 'MEDIA_TYPE');
});

test('layout: digest strings with path traversal are rejected before any file is touched', async (t) => {
  // The directory does not exist: any filesystem access would fail as REGISTRY_UNAVAILABLE instead.
  const source = new OciLayoutSource(path.join(tmpdir(), 'vouch-no-such-layout-dir'));
  const evil = 'sha256:../../etc/passwd';
  await rejectsWith(t, source.resolve(evil), 'INVALID_REFERENCE');
  await rejectsWith(t, source.fetchManifest(evil), 'INVALID_REFERENCE');
  await rejectsWith(t, source.fetchManifest(`example.com/app@${evil}`), 'INVALID_REFERENCE');
  await rejectsWith(
    t,
    source.fetchManifest({ mediaType: MEDIA_TYPE.ociManifest, digest: evil as Digest, size: 1 }),
    'INVALID_INPUT',
    'BAD_CONTENT',
  );
  await rejectsWith(t, source.fetchBlob({ mediaType: 'x', digest: evil as Digest, size: 1 }), 'INVALID_INPUT', 'BAD_CONTENT');
  await rejectsWith(
    t,
    source.fetchBlob({ mediaType: 'x', digest: `sha256:${'a'.repeat(61)}/..` as Digest, size: 1 }),
    'INVALID_INPUT',
    'BAD_CONTENT',
  );
  await rejectsWith(t, source.listReferrers(evil as Digest), 'INVALID_INPUT', 'BAD_CONTENT');
  await rejectsWith(t, source.resolve(''), 'INVALID_REFERENCE');
});

test('layout: tags match plain and full-reference ref.names; ambiguous tags are refused', async (t) => {
  const layout = await makeLayout();
  await layout.blob('{}');
  const a = await layout.manifest({ config: EMPTY, layers: [], annotations: { n: 'a' } });
  const b = await layout.manifest({ config: EMPTY, layers: [], annotations: { n: 'b' } });
  const c = await layout.manifest({ config: EMPTY, layers: [], annotations: { n: 'c' } });
  await layout.index([
    { ...a, tag: 'localhost:5000/app:v2' },
    { ...b, tag: 'docker.io/library/alpine:3' },
    { ...c, tag: 'registry.example/other:v2' },
    { ...c, tag: 'latest' },
  ]);
  const source = await OciLayoutSource.open(layout.dir);
  t.is((await source.resolve('localhost:5000/app:v2')).digest, a.digest);
  t.is((await source.resolve('alpine:3')).digest, b.digest, 'normalised reference equality');
  t.is((await source.resolve('3')).digest, b.digest, 'plain tag against a full-reference ref.name');
  t.is((await source.resolve('example.com/any:latest')).digest, c.digest, 'full reference against a plain ref.name');
  await rejectsWith(t, source.resolve('v2'), 'INVALID_REFERENCE');
  await rejectsWith(t, source.resolve('example.com/app:3'), 'NOT_FOUND');
});

test('layout: a referrer present only in blobs/ (as cosign writes them) is found by the scan', async (t) => {
  const { layout, image } = await imageLayout();
  const bundle = await referrer(layout, image, MEDIA_TYPE.sigstoreBundleV03, 'scan-only');
  const source = await OciLayoutSource.open(layout.dir);
  const listing = await source.listReferrers(image.digest);
  t.deepEqual(listing, {
    via: 'oci-layout',
    descriptors: [{ ...bundle, artifactType: MEDIA_TYPE.sigstoreBundleV03, annotations: { note: 'scan-only' } }],
  });
  // Non-JSON blobs, JSON that is not a manifest, and oversize files are skipped silently.
  await layout.blob(Buffer.from([0x1f, 0x8b, 0x08, 0x00]));
  await layout.blob('{"architecture":"amd64","os":"linux"}');
  await layout.blob(`{"pad":"${'x'.repeat(300)}"}`);
  const small = new OciLayoutSource(layout.dir, { limits: { maxManifestBytes: 1000 } });
  t.deepEqual(
    (await small.listReferrers(image.digest)).descriptors.map((d) => d.digest),
    [bundle.digest],
  );
});

test('layout: referrers are ordered by index.json, then by digest; sha512 manifests are reached by the walk', async (t) => {
  const { layout, image } = await imageLayout();
  const made = await Promise.all(['one', 'two', 'three', 'four'].map((note) => referrer(layout, image, MEDIA_TYPE.notarySignature, note)));
  const sorted = [...made].sort((x, y) => (x.digest < y.digest ? -1 : 1));
  const [listedLast, listedFirst, scanned1, scanned2] = [sorted[0]!, sorted[3]!, sorted[1]!, sorted[2]!];

  // A sha512-addressed referrer inside a nested index: only the index.json walk can find it.
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.ociManifest,
    artifactType: 'application/vnd.example.sha512',
    config: EMPTY,
    layers: [EMPTY],
    subject: image,
  });
  const hex512 = createHash('sha512').update(body).digest('hex');
  await mkdir(path.join(layout.dir, 'blobs', 'sha512'));
  await writeFile(path.join(layout.dir, 'blobs', 'sha512', hex512), body);
  const sha512Ref: Descriptor = { mediaType: MEDIA_TYPE.ociManifest, digest: `sha512:${hex512}` as Digest, size: body.length };
  const nested = await layout.blob(
    JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests: [sha512Ref] }),
    MEDIA_TYPE.ociIndex,
  );
  await layout.index([{ ...image, tag: 'v1' }, listedFirst, nested, listedLast]);

  const source = await OciLayoutSource.open(layout.dir);
  const listing = await source.listReferrers(image.digest);
  t.deepEqual(
    listing.descriptors.map((d) => d.digest),
    [listedFirst.digest, sha512Ref.digest, listedLast.digest, scanned1.digest, scanned2.digest],
  );
  const fetched = await source.fetchManifest(listing.descriptors[1]!);
  t.is(fetched.manifest.artifactType, 'application/vnd.example.sha512');
});

test('layout: artifactType filtering is done client-side', async (t) => {
  const { layout, image } = await imageLayout();
  const notary = await referrer(layout, image, MEDIA_TYPE.notarySignature, 'n');
  const sbom = await referrer(layout, image, 'application/spdx+json', 's');
  // An old-style referrer with no artifactType: its config.mediaType stands in.
  const legacy = await layout.manifest({
    config: { ...EMPTY, mediaType: MEDIA_TYPE.notarySignature },
    layers: [EMPTY],
    subject: image,
  });
  await layout.index([{ ...image, tag: 'v1' }, notary, sbom, legacy]);
  const source = await OciLayoutSource.open(layout.dir);
  t.deepEqual(
    (await source.listReferrers(image.digest, { artifactType: MEDIA_TYPE.notarySignature })).descriptors.map((d) => d.digest),
    [notary.digest, legacy.digest],
  );
  t.deepEqual(
    (await source.listReferrers(image.digest, { artifactType: 'application/spdx+json' })).descriptors.map((d) => d.digest),
    [sbom.digest],
  );
  t.deepEqual((await source.listReferrers(image.digest, { artifactType: 'application/none' })).descriptors, []);
  t.is((await source.listReferrers(image.digest)).descriptors.length, 3);
});

test('layout: more referrers than maxReferrers is TOO_MANY_REFERRERS', async (t) => {
  const { layout, image } = await imageLayout();
  await referrer(layout, image, MEDIA_TYPE.notarySignature, '1');
  await referrer(layout, image, MEDIA_TYPE.notarySignature, '2');
  await referrer(layout, image, 'application/spdx+json', '3');
  const source = new OciLayoutSource(layout.dir, { limits: { maxReferrers: 2 } });
  await rejectsWith(t, source.listReferrers(image.digest), 'REGISTRY_UNAVAILABLE', 'TOO_MANY_REFERRERS');
  // The cap applies to what is accepted after filtering.
  t.is((await source.listReferrers(image.digest, { artifactType: MEDIA_TYPE.notarySignature })).descriptors.length, 2);
});

test('layout: more blobs than maxScannedBlobs fails rather than missing referrers', async (t) => {
  const { layout, image } = await imageLayout();
  const source = new OciLayoutSource(layout.dir, { maxScannedBlobs: 2 });
  await rejectsWith(t, source.listReferrers(image.digest), 'REGISTRY_UNAVAILABLE', 'TOO_MANY_PAGES');
});

test('layout: the referrer graph is cached until index.json or the blobs directory changes', async (t) => {
  const { layout, image } = await imageLayout();
  const blobsDir = path.join(layout.dir, 'blobs', 'sha256');
  const fixed = new Date('2020-01-01T00:00:00Z');
  await utimes(blobsDir, fixed, fixed);
  const source = await OciLayoutSource.open(layout.dir);
  t.deepEqual((await source.listReferrers(image.digest)).descriptors, []);

  // A new blob with the directory's mtime put back: the cached graph is still used.
  const first = await referrer(layout, image, MEDIA_TYPE.notarySignature, 'first');
  await utimes(blobsDir, fixed, fixed);
  t.deepEqual((await source.listReferrers(image.digest)).descriptors, []);

  // The directory changes: rescanned.
  const later = new Date('2021-01-01T00:00:00Z');
  await utimes(blobsDir, later, later);
  t.deepEqual(
    (await source.listReferrers(image.digest)).descriptors.map((d) => d.digest),
    [first.digest],
  );

  // index.json changes (a new tag): rescanned, and the new tag resolves.
  const second = await referrer(layout, image, MEDIA_TYPE.notarySignature, 'second');
  await utimes(blobsDir, later, later);
  await layout.index([
    { ...image, tag: 'v1' },
    { ...second, tag: 'sig' },
  ]);
  const digests = (await source.listReferrers(image.digest)).descriptors.map((d) => d.digest);
  t.deepEqual(digests, [second.digest, first.digest]);
  t.is((await source.resolve('sig')).digest, second.digest);
});

test('layout: an aborted signal stops operations with DEADLINE_EXCEEDED', async (t) => {
  const { layout, image, layer } = await imageLayout();
  const source = await OciLayoutSource.open(layout.dir);
  const signal = AbortSignal.abort();
  await rejectsWith(t, source.resolve('v1', { signal }), 'DEADLINE_EXCEEDED', 'ABORTED');
  await rejectsWith(t, source.fetchBlob(layer, { signal }), 'DEADLINE_EXCEEDED', 'ABORTED');
  await rejectsWith(t, source.listReferrers(image.digest, { signal }), 'DEADLINE_EXCEEDED', 'ABORTED');
});

test('layout: a corrupt or missing manifest listed in index.json does not hide other referrers', async (t) => {
  const { layout, image } = await imageLayout();
  const good = await referrer(layout, image, MEDIA_TYPE.notarySignature, 'good');
  const missing: Descriptor = { mediaType: MEDIA_TYPE.ociManifest, digest: sha256('gone'), size: 4 };
  const corrupt = await referrer(layout, image, MEDIA_TYPE.notarySignature, 'corrupt');
  await writeFile(path.join(layout.dir, 'blobs', 'sha256', corrupt.digest.slice(7)), Buffer.alloc(corrupt.size, 0x20));
  await layout.index([{ ...image, tag: 'v1' }, missing, corrupt, good]);
  const source = await OciLayoutSource.open(layout.dir);
  t.deepEqual(
    (await source.listReferrers(image.digest)).descriptors.map((d) => d.digest),
    [good.digest],
  );
  t.true(isCode('NOT_FOUND')(await t.throwsAsync(source.fetchManifest(missing))));
});
