// Referrer discovery against two real registries started for this file: olareg (OCI distribution
// 1.1 with the Referrers API) and Debian's docker-registry (CNCF distribution 2.8.2, no Referrers
// API: everything goes through the referrers tag schema).

import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Agent } from 'undici';
import { computeDigest, VouchError, type Digest } from '../../src/core/index.js';
import {
  cosignSignatureTag,
  discoverReferrers,
  findSignatures,
  MEDIA_TYPE,
  RegistryClient,
  walkReferrers,
  type RegistryHostConfig,
} from '../../src/oci/index.js';
import { startDistributionRegistry, startReferrersRegistry, type RunningRegistry } from '../helpers/registries.js';
import {
  buildCosignBundleReferrer,
  buildCosignLegacySignature,
  buildImage,
  buildIndex,
  buildNotationSignature,
  buildSbomReferrer,
  pushManifest,
  pushReferrer,
} from '../helpers/oci-fixtures.js';

interface Target {
  name: 'olareg' | 'distribution';
  registry?: RunningRegistry;
  expectedVia: 'referrers-api' | 'tag-schema';
}

const targets: Target[] = [
  { name: 'olareg', expectedVia: 'referrers-api' },
  { name: 'distribution', expectedVia: 'tag-schema' },
];

test.before(async () => {
  const [olareg, distribution] = await Promise.all([startReferrersRegistry(), startDistributionRegistry()]);
  targets[0]!.registry = olareg;
  targets[1]!.registry = distribution;
});

test.after.always(async () => {
  await Promise.all(targets.map((t) => t.registry?.stop()));
});

function clientFor(registry: RunningRegistry, config: RegistryHostConfig = {}, limits = {}): RegistryClient {
  // A token-auth registry's token server listens on its own port: a realm on another host, which
  // gets the registry's credentials only when configured to (allowedTokenRealms), and over plain
  // HTTP only when that host is configured plainHttp.
  const tokenHost = registry.tokenServer === undefined ? undefined : new URL(registry.tokenServer.url).host;
  return new RegistryClient({
    hosts: { [registry.host]: { plainHttp: true, ...config }, ...(tokenHost ? { [tokenHost]: { plainHttp: true } } : {}) },
    limits,
    ...(tokenHost ? { egress: { mayReceiveCredentials: (host: string) => host === tokenHost } } : {}),
  });
}

const uniqueRepo = (prefix: string) => `vouch/${prefix}-${randomBytes(4).toString('hex')}`;

for (const target of targets) {
  test(`${target.name}: finds notation signatures in both manifest forms, cosign referrers, SBOMs and nested signatures`, async (t) => {
    const registry = target.registry!;
    const client = clientFor(registry);
    t.teardown(() => client.close());
    const repo = client.repository(registry.host, uniqueRepo('all'));
    const image = buildImage();
    await pushManifest(repo, image, 'v1');
    const legacy = buildNotationSignature(image.descriptor, { form: 'legacy' });
    const modern = buildNotationSignature(image.descriptor, { form: 'artifactType', envelope: 'cose' });
    const bundle = buildCosignBundleReferrer(image.descriptor);
    const sbom = buildSbomReferrer(image.descriptor);
    for (const m of [legacy, modern, bundle, sbom]) await pushReferrer(repo, m);
    const sbomSignature = buildNotationSignature(sbom.descriptor);
    await pushReferrer(repo, sbomSignature);
    const cosignLegacy = buildCosignLegacySignature(image.descriptor.digest);
    await pushManifest(repo, cosignLegacy, cosignSignatureTag(image.descriptor.digest));

    const subject = await repo.resolve('v1');
    t.is(subject.digest, image.descriptor.digest);

    const discovery = await discoverReferrers(repo, subject.digest);
    t.is(discovery.via, target.expectedVia);
    t.deepEqual(discovery.skipped, []);
    const kinds = Object.fromEntries(discovery.artifacts.map((a) => [a.descriptor.digest, a.kind]));
    t.deepEqual(kinds, {
      [legacy.descriptor.digest]: 'notation',
      [modern.descriptor.digest]: 'notation',
      [bundle.descriptor.digest]: 'cosign-bundle',
      [sbom.descriptor.digest]: 'other',
      [cosignLegacy.descriptor.digest]: 'cosign-legacy',
    });
    // artifactType is derived from the fetched manifest: config.mediaType for notation 1.x
    const legacyFound = discovery.artifacts.find((a) => a.descriptor.digest === legacy.descriptor.digest);
    t.is(legacyFound?.descriptor.artifactType, MEDIA_TYPE.notarySignature);

    const signatures = await findSignatures(repo, subject.digest);
    t.deepEqual(signatures.artifacts.map((a) => a.kind).sort(), ['cosign-bundle', 'cosign-legacy', 'notation', 'notation']);

    const tree = await walkReferrers(repo, subject.digest, { maxDepth: 2 });
    const sbomNode = tree.referrers.find((n) => n.artifact.descriptor.digest === sbom.descriptor.digest);
    t.deepEqual(
      sbomNode?.referrers.map((n) => [n.artifact.kind, n.artifact.descriptor.digest]),
      [['notation', sbomSignature.descriptor.digest]],
    );
    t.is(client.referrersCapability(registry.host), target.expectedVia === 'referrers-api' ? 'supported' : 'unsupported');
  });

  test(`${target.name}: findSignatures fetches only the signature kinds asked for`, async (t) => {
    const registry = target.registry!;
    const paths: string[] = [];
    const dispatcher = new Agent().compose((dispatch) => (options, handler) => {
      paths.push(String(options.path));
      return dispatch(options, handler);
    });
    const client = new RegistryClient({ hosts: { [registry.host]: { plainHttp: true } }, dispatcher });
    t.teardown(async () => {
      await client.close();
      await dispatcher.close();
    });
    const repo = client.repository(registry.host, uniqueRepo('kinds'));
    const image = buildImage();
    await pushManifest(repo, image);
    const notation = buildNotationSignature(image.descriptor);
    const bundle = buildCosignBundleReferrer(image.descriptor);
    for (const m of [notation, bundle]) await pushReferrer(repo, m);
    const cosignLegacy = buildCosignLegacySignature(image.descriptor.digest);
    await pushManifest(repo, cosignLegacy, cosignSignatureTag(image.descriptor.digest));

    paths.length = 0;
    const onlyNotation = await findSignatures(repo, image.descriptor.digest, { kinds: ['notation'] });
    t.deepEqual(
      onlyNotation.artifacts.map((a) => a.descriptor.digest),
      [notation.descriptor.digest],
    );
    // neither the cosign bundle's manifest nor the `.sig` tag is requested
    t.false(
      paths.some((p) => p.includes(bundle.descriptor.digest) || p.endsWith('.sig')),
      paths.join('\n'),
    );

    const onlyCosign = await findSignatures(repo, image.descriptor.digest, { kinds: ['cosign-bundle', 'cosign-legacy'] });
    t.deepEqual(onlyCosign.artifacts.map((a) => a.kind).sort(), ['cosign-bundle', 'cosign-legacy']);
  });

  test(`${target.name}: the artifactType filter, applied by the registry or by vouch`, async (t) => {
    const registry = target.registry!;
    const client = clientFor(registry);
    t.teardown(() => client.close());
    const repo = client.repository(registry.host, uniqueRepo('filter'));
    const image = buildImage();
    await pushManifest(repo, image);
    const signature = buildNotationSignature(image.descriptor, { form: 'artifactType' });
    await pushReferrer(repo, signature);
    await pushReferrer(repo, buildSbomReferrer(image.descriptor));
    const listing = await repo.listReferrers(image.descriptor.digest, { artifactType: MEDIA_TYPE.notarySignature });
    t.deepEqual(
      listing.descriptors.map((d) => d.digest),
      [signature.descriptor.digest],
    );
    t.is((await repo.listReferrers(image.descriptor.digest)).descriptors.length, 2);
  });

  test(`${target.name}: Docker schema 2 images and multi-platform indexes can be subjects`, async (t) => {
    const registry = target.registry!;
    const client = clientFor(registry);
    t.teardown(() => client.close());
    const repo = client.repository(registry.host, uniqueRepo('kinds'));
    const docker = buildImage({ mediaType: 'docker' });
    await pushManifest(repo, docker, 'docker');
    const amd = buildImage();
    await pushManifest(repo, amd);
    const index = buildIndex([amd]);
    await pushManifest(repo, index, 'multi');
    const onDocker = buildNotationSignature(docker.descriptor);
    const onIndex = buildNotationSignature(index.descriptor);
    await pushReferrer(repo, onDocker);
    await pushReferrer(repo, onIndex);

    t.is((await repo.resolve('docker')).mediaType, MEDIA_TYPE.dockerManifest);
    const resolvedIndex = await repo.resolve('multi');
    t.is(resolvedIndex.mediaType, MEDIA_TYPE.ociIndex);
    t.deepEqual(
      (await findSignatures(repo, docker.descriptor.digest)).artifacts.map((a) => a.descriptor.digest),
      [onDocker.descriptor.digest],
    );
    t.deepEqual(
      (await findSignatures(repo, resolvedIndex.digest)).artifacts.map((a) => a.descriptor.digest),
      [onIndex.descriptor.digest],
    );
    // the signature is on the index, not on its platform manifest
    t.deepEqual((await findSignatures(repo, amd.descriptor.digest)).artifacts, []);
  });

  test(`${target.name}: unsigned images have no signatures; unknown tags and digests are NOT_FOUND`, async (t) => {
    const registry = target.registry!;
    const client = clientFor(registry);
    t.teardown(() => client.close());
    const repo = client.repository(registry.host, uniqueRepo('none'));
    const image = buildImage();
    await pushManifest(repo, image, 'v1');
    const discovery = await findSignatures(repo, image.descriptor.digest);
    t.deepEqual(discovery.artifacts, []);
    t.deepEqual(discovery.skipped, []);
    await t.throwsAsync(repo.resolve('missing'), { instanceOf: VouchError, code: 'NOT_FOUND' });
    await t.throwsAsync(repo.resolve(computeDigest(randomBytes(8))), { instanceOf: VouchError, code: 'NOT_FOUND' });
    await t.throwsAsync(client.repository(registry.host, 'no/such/repository').resolve('v1'), {
      instanceOf: VouchError,
      code: 'NOT_FOUND',
    });
  });

  test(`${target.name}: blobs are fetched and digest-verified`, async (t) => {
    const registry = target.registry!;
    const client = clientFor(registry);
    t.teardown(() => client.close());
    const repo = client.repository(registry.host, uniqueRepo('blob'));
    const image = buildImage({ layerBytes: 4096 });
    await pushManifest(repo, image);
    const signature = buildNotationSignature(image.descriptor);
    await pushReferrer(repo, signature);
    const [found] = (await findSignatures(repo, image.descriptor.digest)).artifacts;
    t.truthy(found);
    if (found?.manifest.manifest.kind !== 'manifest') return t.fail('signature is not an image manifest');
    const envelopeDescriptor = found.manifest.manifest.layers[0]!;
    const envelope = await repo.fetchBlob(envelopeDescriptor);
    t.deepEqual(Buffer.from(envelope), Buffer.from(signature.blobs[1]!.bytes));
    // a descriptor that lies about the size is refused before anything is trusted
    await t.throwsAsync(repo.fetchBlob({ ...envelopeDescriptor, size: envelopeDescriptor.size - 1 }), {
      instanceOf: VouchError,
      code: 'REGISTRY_UNAVAILABLE',
    });
    const layer = image.blobs[1]!;
    t.is((await repo.fetchBlob(layer.descriptor)).length, 4096);
    await t.throwsAsync(repo.fetchBlob(layer.descriptor, { maxBytes: 1024 }), { instanceOf: VouchError, code: 'REGISTRY_UNAVAILABLE' });
  });

  test(`${target.name}: bounded: more referrers than the cap is a clear error`, async (t) => {
    const registry = target.registry!;
    const client = clientFor(registry, {}, { maxReferrers: 3 });
    t.teardown(() => client.close());
    const repo = client.repository(registry.host, uniqueRepo('cap'));
    const image = buildImage();
    await pushManifest(repo, image);
    for (let i = 0; i < 4; i++) await pushReferrer(repo, buildNotationSignature(image.descriptor));
    const error = await t.throwsAsync(findSignatures(repo, image.descriptor.digest), { instanceOf: VouchError });
    t.is(error?.code, 'REGISTRY_UNAVAILABLE');
    t.is(error?.reason, 'TOO_MANY_REFERRERS');
  });
}

test('olareg: Link pagination across real referrers pages', async (t) => {
  const registry = await startReferrersRegistry({ referrersPageBytes: 1500 });
  t.teardown(() => registry.stop());
  const client = clientFor(registry);
  t.teardown(() => client.close());
  const repo = client.repository(registry.host, uniqueRepo('pages'));
  const image = buildImage();
  await pushManifest(repo, image);
  const pushed: Digest[] = [];
  for (let i = 0; i < 12; i++)
    pushed.push((await pushReferrer(repo, buildNotationSignature(image.descriptor, { form: 'artifactType' }))).digest);
  const listing = await repo.listReferrers(image.descriptor.digest);
  t.is(listing.via, 'referrers-api');
  t.deepEqual(listing.descriptors.map((d) => d.digest).sort(), [...pushed].sort());
  const pagesClient = clientFor(registry, {}, { maxReferrerPages: 2 });
  t.teardown(() => pagesClient.close());
  const error = await t.throwsAsync(pagesClient.repository(registry.host, repo.name).listReferrers(image.descriptor.digest), {
    instanceOf: VouchError,
  });
  t.is(error?.reason, 'TOO_MANY_PAGES');
});

test('distribution: a stale or foreign entry in the tag schema index is skipped, never trusted', async (t) => {
  const registry = targets[1]!.registry!;
  const client = clientFor(registry);
  t.teardown(() => client.close());
  const repo = client.repository(registry.host, uniqueRepo('stale'));
  const image = buildImage();
  await pushManifest(repo, image);
  const other = buildImage();
  await pushManifest(repo, other);
  const good = buildNotationSignature(image.descriptor);
  await pushReferrer(repo, good);
  // a signature for another image, then a tag-schema index under *this* digest listing it
  const foreign = buildNotationSignature(other.descriptor);
  for (const b of foreign.blobs) await repo.pushBlob(b.bytes, b.descriptor.mediaType);
  await repo.pushManifest(foreign.bytes, foreign.descriptor.mediaType);
  const tagIndex = await repo.fetchManifest(`sha256-${image.descriptor.digest.slice(7)}`);
  if (tagIndex.manifest.kind !== 'index') return t.fail('expected an index');
  const poisoned = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.ociIndex,
    manifests: [...tagIndex.manifest.manifests, { ...foreign.descriptor, artifactType: MEDIA_TYPE.notarySignature }],
  };
  await repo.pushManifest(new TextEncoder().encode(JSON.stringify(poisoned)), MEDIA_TYPE.ociIndex, {
    tag: `sha256-${image.descriptor.digest.slice(7)}`,
  });

  const discovery = await findSignatures(repo, image.descriptor.digest);
  t.deepEqual(
    discovery.artifacts.map((a) => a.descriptor.digest),
    [good.descriptor.digest],
  );
  t.deepEqual(
    discovery.skipped.map((s) => [s.reference, s.code]),
    [[foreign.descriptor.digest, 'INVALID_INPUT']],
  );
});

test('distribution with htpasswd: basic credentials work; wrong or missing ones are REGISTRY_AUTH', async (t) => {
  const registry = await startDistributionRegistry({ auth: { kind: 'htpasswd', username: 'alice', password: 'wonderland' } });
  t.teardown(() => registry.stop());
  const good = clientFor(registry, { username: 'alice', password: 'wonderland' });
  t.teardown(() => good.close());
  const repo = good.repository(registry.host, uniqueRepo('basic'));
  const image = buildImage();
  await pushManifest(repo, image, 'v1');
  await pushReferrer(repo, buildNotationSignature(image.descriptor));
  t.is((await findSignatures(repo, (await repo.resolve('v1')).digest)).artifacts.length, 1);

  for (const config of [{ username: 'alice', password: 'nope' }, {}]) {
    const bad = clientFor(registry, config);
    t.teardown(() => bad.close());
    const error = await t.throwsAsync(bad.repository(registry.host, repo.name).resolve('v1'), { instanceOf: VouchError });
    t.is(error?.code, 'REGISTRY_AUTH');
  }
});

test('distribution with token auth: one token per scope, reused across requests; bad credentials are REGISTRY_AUTH', async (t) => {
  const registry = await startDistributionRegistry({ auth: { kind: 'token', username: 'bob', password: 'builder' } });
  t.teardown(() => registry.stop());
  const client = clientFor(registry, { username: 'bob', password: 'builder' });
  t.teardown(() => client.close());
  const name = uniqueRepo('token');
  const repo = client.repository(registry.host, name);
  const image = buildImage();
  await pushManifest(repo, image, 'v1');
  await pushReferrer(repo, buildNotationSignature(image.descriptor));
  const pushTokens = registry.tokenServer!.requests.length;

  // a fresh client (as the verifier would be) reads with a pull-scoped token
  const reader = clientFor(registry, { username: 'bob', password: 'builder' });
  t.teardown(() => reader.close());
  const readRepo = reader.repository(registry.host, name);
  for (let i = 0; i < 3; i++) {
    const subject = await readRepo.resolve('v1');
    t.is((await findSignatures(readRepo, subject.digest)).artifacts.length, 1);
  }
  const readTokens = registry.tokenServer!.requests.slice(pushTokens);
  t.is(readTokens.length, 1, 'one token for all reads of one repository');
  t.deepEqual(readTokens[0]?.scope, [`repository:${name}:pull`]);
  t.true(readTokens[0]?.authenticated);

  const wrong = clientFor(registry, { username: 'bob', password: 'wrong' });
  t.teardown(() => wrong.close());
  const error = await t.throwsAsync(wrong.repository(registry.host, name).resolve('v1'), { instanceOf: VouchError });
  t.is(error?.code, 'REGISTRY_AUTH');
});

test('unreachable registry: connection refused is REGISTRY_UNAVAILABLE', async (t) => {
  const registry = await startReferrersRegistry();
  const host = registry.host;
  await registry.stop();
  const client = new RegistryClient({ hosts: { [host]: { plainHttp: true } }, requestTimeoutMs: 2000 });
  t.teardown(() => client.close());
  const error = await t.throwsAsync(client.repository(host, 'a/b').resolve('v1'), { instanceOf: VouchError });
  t.is(error?.code, 'REGISTRY_UNAVAILABLE');
  t.is(error?.reason, 'CONNECTION');
});
