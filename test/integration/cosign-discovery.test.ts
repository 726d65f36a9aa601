// cosign discovery against a real registry (olareg, Referrers API): the repository's cosign vectors
// pushed the way cosign stores them (legacy `.sig` tag, sigstore bundle v0.3 referrer), hostile
// entries beside them, and signatures made by the real cosign CLI (key-based, offline).

import { keySigner, loadCosignPublicKey, verifyCosignCandidate, type CosignTrust } from '../../src/cosign/index.js';
import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash, createPublicKey, randomBytes, verify as cryptoVerify } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { computeDigest, type Digest } from '../../src/core/index.js';
import {
  ANNOTATION,
  cosignSignatureTag,
  findCosignSignatures,
  MEDIA_TYPE,
  RegistryClient,
  type ContentSource,
  type CosignCandidate,
  type Descriptor,
  type RegistryRepository,
} from '../../src/oci/index.js';
import { COSIGN_VECTORS } from '../helpers/fixtures.js';
import {
  blob,
  buildCosignBundleReferrer,
  buildCosignSigManifest,
  buildImage,
  pushManifest,
  pushReferrer,
  type Blob,
} from '../helpers/oci-fixtures.js';
import { startReferrersRegistry, toolPath, type RunningRegistry } from '../helpers/registries.js';

const run = promisify(execFile);
const encoder = new TextEncoder();
let registry: RunningRegistry;
let client: RegistryClient;

test.before(async () => {
  registry = await startReferrersRegistry();
  client = new RegistryClient({ hosts: { [registry.host]: { plainHttp: true } } });
});

test.after.always(async () => {
  await client?.close();
  await registry?.stop();
});

function newRepository(): { repo: RegistryRepository; name: string } {
  const name = `cosign/${randomBytes(4).toString('hex')}`;
  return { repo: client.repository(registry.host, name), name };
}

/** containers/image's sigstore signature file: 0x00, `sigstore-json\n`, then {mimeType, payload, annotations}. */
async function readVectorSignature(dir: string): Promise<{ payload: Uint8Array; mimeType: string; annotations: Record<string, string> }> {
  const raw = await readFile(join(COSIGN_VECTORS, dir, 'signature-1'));
  const prefix = Buffer.from('\0sigstore-json\n');
  if (!raw.subarray(0, prefix.length).equals(prefix)) throw new Error(`${dir}/signature-1 is not a sigstore signature file`);
  const json = JSON.parse(raw.subarray(prefix.length).toString('utf8')) as {
    mimeType: string;
    payload: string;
    annotations: Record<string, string>;
  };
  return { payload: new Uint8Array(Buffer.from(json.payload, 'base64')), mimeType: json.mimeType, annotations: json.annotations };
}

function legacy(candidates: CosignCandidate[]): Array<Extract<CosignCandidate, { form: 'legacy' }>> {
  return candidates.filter((c): c is Extract<CosignCandidate, { form: 'legacy' }> => c.form === 'legacy');
}

function bundles(candidates: CosignCandidate[]): Array<Extract<CosignCandidate, { form: 'bundle' }>> {
  return candidates.filter((c): c is Extract<CosignCandidate, { form: 'bundle' }> => c.form === 'bundle');
}

/** Records every manifest reference fetched, to see which round trips discovery makes. */
function recording(source: ContentSource): { source: ContentSource; manifests: string[] } {
  const manifests: string[] = [];
  return {
    manifests,
    source: {
      location: source.location,
      resolve: (r, o) => source.resolve(r, o),
      fetchManifest: (r, o) => {
        manifests.push(typeof r === 'string' ? r : r.digest);
        return source.fetchManifest(r, o);
      },
      fetchBlob: (d, o) => source.fetchBlob(d, o),
      listReferrers: (s, o) => source.listReferrers(s, o),
    },
  };
}

test('vectors: the legacy-key and legacy-keyless signatures under their .sig tags are found with exact payload and annotations', async (t) => {
  const { repo } = newRepository();
  for (const dir of ['legacy-key', 'legacy-keyless']) {
    const subjectDigest = computeDigest(await readFile(join(COSIGN_VECTORS, dir, 'manifest.json')));
    const vector = await readVectorSignature(dir);
    t.is(vector.mimeType, MEDIA_TYPE.cosignSimpleSigning);
    t.deepEqual(vector.payload, new Uint8Array(await readFile(join(COSIGN_VECTORS, dir, 'payload.json'))));
    const sig = buildCosignSigManifest([{ blob: blob(vector.payload, vector.mimeType), annotations: vector.annotations }]);
    await pushManifest(repo, sig, cosignSignatureTag(subjectDigest));

    const found = await findCosignSignatures(repo, subjectDigest);
    t.deepEqual(found.skipped, [], dir);
    t.is(found.candidates.length, 1, dir);
    const [candidate] = legacy(found.candidates);
    if (candidate === undefined) return t.fail(`${dir}: no legacy candidate`);
    t.is(candidate.manifestDigest, sig.descriptor.digest);
    t.is(candidate.layer.digest, computeDigest(vector.payload));
    t.deepEqual(candidate.payload, vector.payload);
    t.deepEqual(candidate.annotations, vector.annotations);
    t.is(candidate.annotations[ANNOTATION.cosignSignature], (await readFile(join(COSIGN_VECTORS, dir, 'signature.b64'), 'utf8')).trim());
  }
  // The keyless vector keeps all its material: certificate, chain and the Rekor SET bundle.
  const keyless = await findCosignSignatures(repo, computeDigest(await readFile(join(COSIGN_VECTORS, 'legacy-keyless', 'manifest.json'))));
  const annotations = legacy(keyless.candidates)[0]!.annotations;
  t.is(annotations[ANNOTATION.cosignCertificate], await readFile(join(COSIGN_VECTORS, 'legacy-keyless', 'cert.pem'), 'utf8'));
  t.is(annotations[ANNOTATION.cosignChain], await readFile(join(COSIGN_VECTORS, 'legacy-keyless', 'chain.pem'), 'utf8'));
  t.truthy(annotations[ANNOTATION.cosignBundle]);
});

test('vectors: the bundle-v03 vector as a referrer of its in-toto subject is found, parsed as it is on disk', async (t) => {
  const { repo } = newRepository();
  const bytes = await readFile(join(COSIGN_VECTORS, 'bundle-v03', 'oci-attestation.sigstore.json'));
  // The subject the vector's in-toto statement names. Its manifest is not in the repository; a
  // referrer may be pushed before its subject (distribution-spec "Pushing Manifests with Subject").
  const subject: Descriptor = {
    mediaType: MEDIA_TYPE.ociManifest,
    digest: 'sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4' as Digest,
    size: 1,
  };
  const referrer = buildCosignBundleReferrer(subject, { bundleBytes: new Uint8Array(bytes) });
  await pushReferrer(repo, referrer);

  const found = await findCosignSignatures(repo, subject.digest);
  t.deepEqual(found.skipped, []);
  t.is(found.candidates.length, 1);
  const [candidate] = bundles(found.candidates);
  t.is(candidate?.manifestDigest, referrer.descriptor.digest);
  t.deepEqual(candidate?.bundle, JSON.parse(bytes.toString('utf8')));
});

test('no .sig tag and no referrers: no candidates and nothing skipped', async (t) => {
  const { repo } = newRepository();
  const image = buildImage();
  await pushManifest(repo, image, 'v1');
  t.deepEqual(await findCosignSignatures(repo, image.descriptor.digest), { subject: image.descriptor.digest, candidates: [], skipped: [] });
});

test('bad entries are skipped with their reason and never hide the good ones', async (t) => {
  const { repo } = newRepository();
  const image = buildImage();
  await pushManifest(repo, image, 'v1');
  const subject = image.descriptor.digest;
  const payload = (n: number, padding = ''): Blob =>
    blob(
      encoder.encode(
        JSON.stringify({
          critical: {
            identity: { 'docker-reference': 'x' },
            image: { 'docker-manifest-digest': subject },
            type: 'cosign container image signature',
          },
          optional: { n, padding },
        }),
      ),
      MEDIA_TYPE.cosignSimpleSigning,
    );
  const good = payload(1);
  const unsigned = payload(2);
  const large = payload(3, 'x'.repeat(64));
  const sig = buildCosignSigManifest([
    { blob: good, annotations: { [ANNOTATION.cosignSignature]: 'MEUCIQ==' } },
    { blob: unsigned, annotations: { other: 'x' } },
    { blob: large, annotations: { [ANNOTATION.cosignSignature]: 'MEUCIQ==' } },
  ]);
  await pushManifest(repo, sig, cosignSignatureTag(subject));
  const goodBundle = buildCosignBundleReferrer(image.descriptor, {
    bundleBytes: encoder.encode(JSON.stringify({ mediaType: MEDIA_TYPE.sigstoreBundleV03, n: 1 })),
  });
  const notJson = buildCosignBundleReferrer(image.descriptor, {
    bundleBytes: encoder.encode('{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"'),
  });
  const notBundle = buildCosignBundleReferrer(image.descriptor, {
    bundleBytes: encoder.encode(JSON.stringify({ mediaType: 'text/plain' })),
  });
  const wrongLayerType = buildCosignBundleReferrer(image.descriptor, {
    bundleBytes: encoder.encode('{}'),
    layerMediaType: 'application/octet-stream',
  });
  for (const r of [goodBundle, notJson, notBundle, wrongLayerType]) await pushReferrer(repo, r);

  // `large` is over the payload limit; the others are under it.
  const found = await findCosignSignatures(repo, subject, { maxPayloadBytes: large.bytes.length - 1 });
  t.deepEqual(
    found.candidates.map((c) => (c.form === 'legacy' ? c.layer.digest : c.manifestDigest)).sort(),
    [good.descriptor.digest, goodBundle.descriptor.digest].sort(),
  );
  t.deepEqual(legacy(found.candidates)[0]?.payload, good.bytes);
  t.deepEqual(
    found.skipped.map((s) => [s.reference, s.reason]).sort(),
    [
      [unsigned.descriptor.digest, 'BAD_CONTENT'],
      [large.descriptor.digest, 'SIZE_LIMIT'],
      [notJson.blobs[1]!.descriptor.digest, 'BAD_CONTENT'],
      [notBundle.blobs[1]!.descriptor.digest, 'BAD_CONTENT'],
      [wrongLayerType.descriptor.digest, 'MEDIA_TYPE'],
    ].sort(),
  );
});

test('bounds: layers past maxLegacyLayers and payloads past maxTotalBytes are skipped, not read', async (t) => {
  const { repo } = newRepository();
  const image = buildImage();
  await pushManifest(repo, image, 'v1');
  const layers = [1, 2, 3, 4].map((n) => blob(encoder.encode(`{"n":${n}}`), MEDIA_TYPE.cosignSimpleSigning));
  const sig = buildCosignSigManifest(layers.map((b) => ({ blob: b, annotations: { [ANNOTATION.cosignSignature]: 'MA==' } })));
  await pushManifest(repo, sig, cosignSignatureTag(image.descriptor.digest));

  const capped = await findCosignSignatures(repo, image.descriptor.digest, {
    maxLegacyLayers: 3,
    maxTotalBytes: 2 * layers[0]!.bytes.length,
  });
  t.deepEqual(
    legacy(capped.candidates).map((c) => c.layer.digest),
    layers.slice(0, 2).map((b) => b.descriptor.digest),
  );
  t.deepEqual(
    capped.skipped.map((s) => [s.reference, s.reason]),
    [
      [sig.descriptor.digest, 'TOO_MANY_REFERRERS'],
      [layers[2]!.descriptor.digest, 'SIZE_LIMIT'],
    ],
  );
});

test('a payload that does not match its descriptor is skipped (SIZE_MISMATCH), the others kept', async (t) => {
  const { repo } = newRepository();
  const image = buildImage();
  await pushManifest(repo, image, 'v1');
  const good = blob(encoder.encode('{"n":1}'), MEDIA_TYPE.cosignSimpleSigning);
  const lying = blob(encoder.encode('{"n":2}'), MEDIA_TYPE.cosignSimpleSigning);
  const sig = buildCosignSigManifest([
    { blob: good, annotations: { [ANNOTATION.cosignSignature]: 'MA==' } },
    { blob: lying, annotations: { [ANNOTATION.cosignSignature]: 'MA==' }, descriptor: { size: lying.bytes.length + 5 } },
  ]);
  await pushManifest(repo, sig, cosignSignatureTag(image.descriptor.digest));
  const found = await findCosignSignatures(repo, image.descriptor.digest);
  t.deepEqual(
    legacy(found.candidates).map((c) => c.payload),
    [good.bytes],
  );
  t.deepEqual(
    found.skipped.map((s) => [s.reference, s.reason]),
    [[lying.descriptor.digest, 'SIZE_MISMATCH']],
  );
});

test('forms: only the requested storage is read (no .sig probe for bundles only, no referrer fetch for legacy only)', async (t) => {
  const { repo } = newRepository();
  const image = buildImage();
  await pushManifest(repo, image, 'v1');
  const subject = image.descriptor.digest;
  const payload = blob(encoder.encode('{"n":1}'), MEDIA_TYPE.cosignSimpleSigning);
  await pushManifest(
    repo,
    buildCosignSigManifest([{ blob: payload, annotations: { [ANNOTATION.cosignSignature]: 'MA==' } }]),
    cosignSignatureTag(subject),
  );
  const referrer = buildCosignBundleReferrer(image.descriptor, {
    bundleBytes: encoder.encode(JSON.stringify({ mediaType: MEDIA_TYPE.sigstoreBundleV03 })),
  });
  await pushReferrer(repo, referrer);

  const bundleOnly = recording(repo);
  const b = await findCosignSignatures(bundleOnly.source, subject, { forms: ['bundle'] });
  t.deepEqual(
    b.candidates.map((c) => c.form),
    ['bundle'],
  );
  t.deepEqual(bundleOnly.manifests, [referrer.descriptor.digest]);

  const legacyOnly = recording(repo);
  const l = await findCosignSignatures(legacyOnly.source, subject, { forms: ['legacy'] });
  t.deepEqual(
    l.candidates.map((c) => c.form),
    ['legacy'],
  );
  t.deepEqual(legacyOnly.manifests, [cosignSignatureTag(subject)]);
});

test('a bundle referrer listed under the empty config media type (cosign 2.x referrers tag schema index) is still found', async (t) => {
  const { repo } = newRepository();
  const image = buildImage();
  await pushManifest(repo, image, 'v1');
  const referrer = buildCosignBundleReferrer(image.descriptor, {
    bundleBytes: encoder.encode(JSON.stringify({ mediaType: MEDIA_TYPE.sigstoreBundleV03 })),
  });
  await pushReferrer(repo, referrer);
  // The listing as cosign writes it into a registry without the Referrers API: the config's media type.
  const mislisted: ContentSource = {
    location: repo.location,
    resolve: (r, o) => repo.resolve(r, o),
    fetchManifest: (r, o) => repo.fetchManifest(r, o),
    fetchBlob: (d, o) => repo.fetchBlob(d, o),
    listReferrers: async (s, o) => {
      const listing = await repo.listReferrers(s, o);
      return { ...listing, descriptors: listing.descriptors.map((d) => ({ ...d, artifactType: MEDIA_TYPE.ociEmpty })) };
    },
  };
  const found = await findCosignSignatures(mislisted, image.descriptor.digest, { forms: ['bundle'] });
  t.deepEqual(
    found.candidates.map((c) => c.manifestDigest),
    [referrer.descriptor.digest],
  );
});

// ---- the real cosign CLI -------------------------------------------------------------------------

/** Runs cosign with an isolated HOME/TMPDIR, no password, and nothing from the outer environment. */
async function cosign(dir: string, args: string[], extraEnv: Record<string, string> = {}): Promise<string> {
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, TMPDIR: dir, COSIGN_PASSWORD: '', ...extraEnv };
  const { stdout } = await run(toolPath('cosign'), args, { cwd: dir, env, timeout: 60_000 });
  return stdout;
}

test('cosign sign --key (legacy .sig and --new-bundle-format referrer): discovery finds exactly what cosign signed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-cosign-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cosign(dir, ['generate-key-pair']);
  const publicKey = createPublicKey(await readFile(join(dir, 'cosign.pub')));

  const { repo, name } = newRepository();
  const image = buildImage();
  await pushManifest(repo, image, 'v1');
  const subject = image.descriptor.digest;
  const reference = `${registry.host}/${name}@${subject}`;
  // Offline: no Rekor upload; key-based signing needs no Fulcio and no TUF root.
  const common = ['sign', '--key', 'cosign.key', '--tlog-upload=false', '--allow-insecure-registry', '--yes'];
  await cosign(dir, [...common, '--output-payload', 'payload.json', '--output-signature', 'payload.sig', reference]);
  // oci-1-1 referrers mode is gated behind COSIGN_EXPERIMENTAL in cosign 2.x.
  await cosign(dir, [...common, '--new-bundle-format', '--registry-referrers-mode=oci-1-1', reference], { COSIGN_EXPERIMENTAL: '1' });

  const found = await findCosignSignatures(repo, subject);
  t.deepEqual(found.skipped, []);
  t.deepEqual(found.candidates.map((c) => c.form).sort(), ['bundle', 'legacy']);

  const [signed] = legacy(found.candidates);
  if (signed === undefined) return t.fail('no legacy candidate');
  t.deepEqual(signed.payload, new Uint8Array(await readFile(join(dir, 'payload.json'))));
  const signature = signed.annotations[ANNOTATION.cosignSignature]!;
  t.is(signature, (await readFile(join(dir, 'payload.sig'), 'utf8')).trim());
  t.true(cryptoVerify('sha256', signed.payload, publicKey, Buffer.from(signature, 'base64')));
  const simpleSigning = JSON.parse(Buffer.from(signed.payload).toString('utf8')) as { critical: { image: Record<string, string> } };
  t.is(simpleSigning.critical.image['docker-manifest-digest'], subject);

  const [bundled] = bundles(found.candidates);
  const bundle = bundled?.bundle as {
    mediaType: string;
    verificationMaterial: { publicKey: { hint: string } };
    dsseEnvelope: { payload: string; payloadType: string; signatures: Array<{ sig: string }> };
  };
  t.is(bundle.mediaType, MEDIA_TYPE.sigstoreBundleV03);
  // cosign's key hint is base64(sha256(SPKI DER)).
  t.is(
    bundle.verificationMaterial.publicKey.hint,
    createHash('sha256')
      .update(publicKey.export({ type: 'spki', format: 'der' }))
      .digest('base64'),
  );
  const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8')) as {
    subject: Array<{ digest: { sha256: string } }>;
  };
  t.deepEqual(
    statement.subject.map((s) => `sha256:${s.digest.sha256}`),
    [subject],
  );
});

test('found and verified: both forms cosign wrote verify with its key and are UNTRUSTED_SIGNER under another', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-cosign-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cosign(dir, ['generate-key-pair']);
  await mkdir(join(dir, 'other'));
  await cosign(join(dir, 'other'), ['generate-key-pair']);
  const { repo, name } = newRepository();
  const image = buildImage();
  await pushManifest(repo, image, 'v1');
  const reference = `${registry.host}/${name}@${image.descriptor.digest}`;
  const common = ['sign', '--key', 'cosign.key', '--tlog-upload=false', '--allow-insecure-registry', '--yes'];
  await cosign(dir, [...common, reference]);
  await cosign(dir, [...common, '--new-bundle-format', '--registry-referrers-mode=oci-1-1', reference], { COSIGN_EXPERIMENTAL: '1' });

  const trustFor = async (keyFile: string): Promise<CosignTrust> => ({
    keys: [loadCosignPublicKey(await readFile(keyFile, 'utf8'), keyFile)],
    identities: [],
    requireTlog: false,
  });
  const found = await findCosignSignatures(repo, image.descriptor.digest);
  t.is(found.candidates.length, 2);
  const trusted = await trustFor(join(dir, 'cosign.pub'));
  const stranger = await trustFor(join(dir, 'other', 'cosign.pub'));
  for (const candidate of found.candidates) {
    const good = await verifyCosignCandidate(candidate, image.descriptor.digest, trusted);
    t.true(good.verified, `${candidate.form}: ${JSON.stringify(good.reasons)}`);
    t.is(good.signer, keySigner(trusted.keys[0]!), candidate.form);
    const bad = await verifyCosignCandidate(candidate, image.descriptor.digest, stranger);
    t.false(bad.verified, candidate.form);
    t.is(bad.reasons[0]?.code, 'UNTRUSTED_SIGNER', candidate.form);
  }
});
