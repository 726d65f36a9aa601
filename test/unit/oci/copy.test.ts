// copyImage (src/oci/copy.ts) against the in-process spec-following fake registry, for what the real
// registries cannot be made to do: list a cycle or a lying referrer, serve a blob with the wrong bytes,
// drop the connection in the middle of an upload. The plan phase must refuse before any write.

import test from 'ava';
import { computeDigest, VouchError } from '../../../src/core/index.js';
import { copyImage, cosignSignatureTag, RegistryClient, type RegistryRepository } from '../../../src/oci/index.js';
import { startFakeRegistry, type FakeRegistry } from '../../helpers/fake-registry.js';
import {
  blob,
  buildCosignLegacySignature,
  buildCosignSigManifest,
  simpleSigningPayload,
  buildImage,
  buildIndex,
  buildNotationSignature,
  buildSbomReferrer,
  type BuiltManifest,
} from '../../helpers/oci-fixtures.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

interface Setup {
  src: FakeRegistry;
  dst: FakeRegistry;
  client: RegistryClient;
  source: RegistryRepository;
  destination: RegistryRepository;
}

async function setup(
  dstAuth?: { username: string; password: string },
  clientCreds?: { username: string; password: string },
): Promise<Setup> {
  const [src, dst] = await Promise.all([startFakeRegistry(), startFakeRegistry(dstAuth ? { auth: { kind: 'basic', ...dstAuth } } : {})]);
  const client = new RegistryClient({
    hosts: { [src.host]: { plainHttp: true }, [dst.host]: { plainHttp: true, ...(clientCreds ?? {}) } },
    requestTimeoutMs: 5_000,
  });
  return { src, dst, client, source: client.repository(src.host, 'team/app'), destination: client.repository(dst.host, 'prod/app') };
}

async function teardown(s: Setup): Promise<void> {
  await s.client.close();
  await Promise.all([s.src.close(), s.dst.close()]);
}

function seed(fake: FakeRegistry, repo: string, manifest: BuiltManifest, tag?: string): void {
  for (const b of manifest.blobs) fake.putBlob(repo, b.bytes);
  fake.putManifest(repo, manifest.bytes, { mediaType: manifest.descriptor.mediaType, ...(tag ? { tag } : {}) });
}

const writes = (fake: FakeRegistry) => fake.requests.filter((r) => !['GET', 'HEAD'].includes(r.method));

/** Answers the referrers listing of `subject` with `descriptors` (what a lying or broken registry may list). */
function listReferrersAs(fake: FakeRegistry, subject: string, descriptors: unknown[]): void {
  fake.intercept((req, res) => {
    if (req.method !== 'GET' || !req.url?.includes(`/referrers/${subject}`)) return false;
    const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: descriptors });
    res.writeHead(200, { 'content-type': OCI_INDEX, 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
    return true;
  });
}

test('a listed referrer that is an ancestor is a cycle: REFERRER_CYCLE, nothing written', async (t) => {
  const s = await setup();
  try {
    const image = buildImage();
    const sbom = buildSbomReferrer(image.descriptor);
    seed(s.src, 'team/app', image, 'v1');
    seed(s.src, 'team/app', sbom);
    listReferrersAs(s.src, sbom.descriptor.digest, [image.descriptor]);
    const error = await t.throwsAsync(copyImage(s.source, s.destination, 'v1'), { instanceOf: VouchError });
    t.is(error?.reason, 'REFERRER_CYCLE');
    t.deepEqual(writes(s.dst), []);
  } finally {
    await teardown(s);
  }
});

test('past maxNodes or maxDepth: TOO_MANY_REFERRERS before anything is written', async (t) => {
  const s = await setup();
  try {
    const image = buildImage();
    const sbom = buildSbomReferrer(image.descriptor);
    const signature = buildNotationSignature(sbom.descriptor, { form: 'artifactType' });
    seed(s.src, 'team/app', image, 'v1');
    seed(s.src, 'team/app', sbom);
    seed(s.src, 'team/app', signature);

    const nodes = await t.throwsAsync(copyImage(s.source, s.destination, 'v1', { maxNodes: 5 }), { instanceOf: VouchError });
    t.is(nodes?.reason, 'TOO_MANY_REFERRERS');
    const depth = await t.throwsAsync(copyImage(s.source, s.destination, 'v1', { maxDepth: 1 }), { instanceOf: VouchError });
    t.is(depth?.reason, 'TOO_MANY_REFERRERS');
    t.deepEqual(writes(s.dst), []);

    const report = await copyImage(s.source, s.destination, 'v1', { maxDepth: 2 });
    t.is(report.objects.filter((o) => o.kind === 'referrer').length, 2);
  } finally {
    await teardown(s);
  }
});

test('a listing of 200 referrers is fetched a window ahead, not all at once, before the byte cap can see them', async (t) => {
  const s = await setup();
  try {
    const image = buildImage();
    seed(s.src, 'team/app', image, 'v1');
    const sboms = Array.from({ length: 200 }, () => buildSbomReferrer(image.descriptor));
    for (const sbom of sboms) seed(s.src, 'team/app', sbom);
    listReferrersAs(
      s.src,
      image.descriptor.digest,
      sboms.map((m) => m.descriptor),
    );
    const error = await t.throwsAsync(
      copyImage(s.source, s.destination, 'v1', { maxManifestBytes: 8 * sboms[0]!.bytes.length, concurrency: 4 }),
      {
        instanceOf: VouchError,
      },
    );
    t.is(error?.reason, 'SIZE_LIMIT');
    // The subject, the referrers visited before the byte cap, and at most a
    // window of 4 (+1 for the one in use) beyond: far from the 200 listed. Nothing goes on fetching
    // after copyImage failed either (its own signal is aborted when it settles).
    await new Promise((resolve) => setTimeout(resolve, 300));
    const fetched = s.src.requests.filter((r) => r.method === 'GET' && decodeURIComponent(r.path).includes('/manifests/sha256:')).length;
    t.true(fetched <= 20, `${fetched} manifests fetched`);
    t.deepEqual(writes(s.dst), []);
  } finally {
    await teardown(s);
  }
});

test('a listed referrer whose manifest names another subject is skipped with the reason; a diamond is copied once', async (t) => {
  const s = await setup();
  try {
    const a = buildImage();
    const b = buildImage();
    const index = buildIndex([a, b]);
    const sbomOfA = buildSbomReferrer(a.descriptor);
    const stranger = buildSbomReferrer(buildImage().descriptor);
    seed(s.src, 'team/app', a);
    seed(s.src, 'team/app', b);
    seed(s.src, 'team/app', index, 'v1');
    seed(s.src, 'team/app', sbomOfA);
    seed(s.src, 'team/app', stranger);
    // The index's listing lies: it lists A's SBOM (already planned under A: a diamond) and a stranger.
    listReferrersAs(s.src, index.descriptor.digest, [
      { ...sbomOfA.descriptor, artifactType: 'application/spdx+json' },
      { ...stranger.descriptor, artifactType: 'application/spdx+json' },
    ]);
    const report = await copyImage(s.source, s.destination, 'v1');
    const referrers = report.objects.filter((o) => o.kind === 'referrer');
    t.deepEqual(
      referrers.map((o) => [o.descriptor.digest, o.parent]),
      [[sbomOfA.descriptor.digest, a.descriptor.digest]],
    );
    t.deepEqual(
      report.skipped.map((x) => [x.reference, x.reason]),
      [[stranger.descriptor.digest, 'BAD_CONTENT']],
    );
    t.false(await s.destination.hasManifest(stranger.descriptor.digest));
    t.is(s.dst.requests.filter((r) => r.method === 'PUT' && r.path.endsWith(sbomOfA.descriptor.digest)).length, 1);
  } finally {
    await teardown(s);
  }
});

test('a dropped connection during an upload cancels the session, pushes no manifest, and a re-run completes', async (t) => {
  const s = await setup();
  try {
    const image = buildImage({ layerBytes: 256 * 1024 });
    seed(s.src, 'team/app', image, 'v1');
    let dropped = 0;
    s.dst.intercept((req) => {
      if (req.method === 'PUT' && req.url?.includes('/blobs/uploads/') && dropped === 0) {
        dropped++;
        req.socket.destroy();
        return true;
      }
      return false;
    });
    const error = await t.throwsAsync(copyImage(s.source, s.destination, 'v1', { concurrency: 1 }), { instanceOf: VouchError });
    t.is(error?.code, 'REGISTRY_UNAVAILABLE');
    t.is(error?.reason, 'CONNECTION');
    t.true(s.dst.requests.some((r) => r.method === 'DELETE' && r.path.includes('/blobs/uploads/')));
    t.false(s.dst.requests.some((r) => r.method === 'PUT' && r.path.includes('/manifests/')));

    s.dst.intercept(undefined);
    const report = await copyImage(s.source, s.destination, 'v1');
    t.is(report.subject.digest, image.descriptor.digest);
    t.true(await s.destination.hasManifest(image.descriptor.digest));
    t.is((await s.destination.resolve('v1')).digest, image.descriptor.digest);
  } finally {
    await teardown(s);
  }
});

test('a source serving a blob with the wrong bytes: DIGEST_MISMATCH and the upload never completes', async (t) => {
  const s = await setup();
  try {
    const image = buildImage({ layerBytes: 200 * 1024 });
    seed(s.src, 'team/app', image, 'v1');
    const layer = image.blobs[1]!.descriptor;
    s.src.intercept((req, res) => {
      if (req.method !== 'GET' || !req.url?.endsWith(`/blobs/${layer.digest}`)) return false;
      const wrong = Buffer.alloc(layer.size, 7);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(wrong.length) });
      res.end(wrong);
      return true;
    });
    const error = await t.throwsAsync(copyImage(s.source, s.destination, 'v1', { concurrency: 1 }), { instanceOf: VouchError });
    t.is(error?.reason, 'DIGEST_MISMATCH');
    t.false(await s.destination.hasBlob(layer.digest));
    t.false(await s.destination.hasBlob(computeDigest(Buffer.alloc(layer.size, 7))));
    t.false(s.dst.requests.some((r) => r.method === 'PUT' && r.path.includes('/manifests/')));
  } finally {
    await teardown(s);
  }
});

test('a destination that refuses the credentials: REGISTRY_AUTH naming the destination', async (t) => {
  const s = await setup({ username: 'ci', password: 'right' }, { username: 'ci', password: 'wrong' });
  try {
    seed(s.src, 'team/app', buildImage(), 'v1');
    const error = await t.throwsAsync(copyImage(s.source, s.destination, 'v1'), { instanceOf: VouchError });
    t.is(error?.code, 'REGISTRY_AUTH');
    t.is(error?.reason, 'DENIED');
    t.true(error!.message.includes(s.dst.host));
  } finally {
    await teardown(s);
  }
});

test("cosign's legacy .sig tag is copied under the same tag, and a different one at the destination is never overwritten", async (t) => {
  const s = await setup();
  try {
    const image = buildImage();
    const signature = buildCosignLegacySignature(image.descriptor.digest);
    seed(s.src, 'team/app', image, 'v1');
    seed(s.src, 'team/app', signature, cosignSignatureTag(image.descriptor.digest));
    const report = await copyImage(s.source, s.destination, 'v1');
    const copied = report.objects.find((o) => o.descriptor.digest === signature.descriptor.digest);
    t.is(copied?.tag, cosignSignatureTag(image.descriptor.digest));
    t.is(copied?.parent, image.descriptor.digest);
    t.is((await s.destination.resolve(cosignSignatureTag(image.descriptor.digest))).digest, signature.descriptor.digest);

    // The destination's .sig holds another signature (made there): a copy leaves it alone.
    const other = client2(s);
    const theirs = buildCosignSigManifest([
      {
        blob: blob(simpleSigningPayload(image.descriptor.digest), 'application/vnd.dev.cosign.simplesigning.v1+json'),
        annotations: { 'dev.cosignproject.cosign/signature': 'MEQCIAdestination==' },
      },
    ]);
    t.not(theirs.descriptor.digest, signature.descriptor.digest);
    seed(s.dst, 'prod/other', image, 'v1');
    seed(s.dst, 'prod/other', theirs, cosignSignatureTag(image.descriptor.digest));
    const again = await copyImage(s.source, other, 'v1');
    t.deepEqual(
      again.skipped.map((x) => x.reference),
      [cosignSignatureTag(image.descriptor.digest)],
    );
    t.is((await other.resolve(cosignSignatureTag(image.descriptor.digest))).digest, theirs.descriptor.digest);
  } finally {
    await teardown(s);
  }
});

function client2(s: Setup): RegistryRepository {
  return s.client.repository(s.dst.host, 'prod/other');
}
