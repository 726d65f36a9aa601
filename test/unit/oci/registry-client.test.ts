// Registry client against the in-process fake registry: the faults no real registry here can be
// made to produce (wrong digests, garbage, redirects, loops, timeouts, auth edge cases).

import test from 'ava';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { computeDigest, VouchError, type Digest } from '../../../src/core/index.js';
import { discoverReferrers, findSignatures } from '../../../src/oci/referrers.js';
import { cosignSignatureTag, referrersTag, RegistryClient, type RegistryClientOptions } from '../../../src/oci/registry-client.js';
import { MEDIA_TYPE } from '../../../src/oci/media-types.js';
import { startFakeRegistry, type FakeRegistry, type FakeRegistryOptions } from '../../helpers/fake-registry.js';
import {
  buildCosignBundleReferrer,
  buildCosignLegacySignature,
  buildImage,
  buildNotationSignature,
  buildSbomReferrer,
  pushManifest,
  pushReferrer,
  type BuiltManifest,
} from '../../helpers/oci-fixtures.js';

const REPO = 'team/app';

async function setup(
  options: FakeRegistryOptions = {},
  clientOptions: Omit<RegistryClientOptions, 'hosts'> & { username?: string; password?: string } = {},
) {
  const registry = await startFakeRegistry(options);
  const { username, password, ...rest } = clientOptions;
  const client = new RegistryClient({
    hosts: { [registry.host]: { plainHttp: true, ...(username !== undefined ? { username, password: password ?? '' } : {}) } },
    requestTimeoutMs: 2_000,
    ...rest,
  });
  return {
    registry,
    client,
    repo: client.repository(registry.host, REPO),
    close: async () => Promise.all([client.close(), registry.close()]),
  };
}

/** Stores a manifest and its blobs directly in the fake (no client involved). */
function store(registry: FakeRegistry, manifest: BuiltManifest, tag?: string): Digest {
  for (const b of manifest.blobs) registry.putBlob(REPO, b.bytes);
  return registry.putManifest(REPO, manifest.bytes, { mediaType: manifest.descriptor.mediaType, ...(tag ? { tag } : {}) }) as Digest;
}

function code(t: { fail: (m: string) => void }, error: unknown): { code: string; reason: string } {
  if (!(error instanceof VouchError)) {
    t.fail(`expected a VouchError, got ${String(error)}`);
    return { code: '', reason: '' };
  }
  return { code: error.code, reason: error.reason };
}

test('client: fetches a manifest by tag and by digest, computing the digest itself', async (t) => {
  const { registry, repo, close } = await setup();
  const image = buildImage();
  store(registry, image, 'v1');
  const byTag = await repo.fetchManifest('v1');
  t.is(byTag.descriptor.digest, image.descriptor.digest);
  t.is(byTag.descriptor.size, image.bytes.length);
  t.is(byTag.descriptor.mediaType, MEDIA_TYPE.ociManifest);
  const byDigest = await repo.fetchManifest(image.descriptor.digest);
  t.deepEqual(Buffer.from(byDigest.bytes), Buffer.from(image.bytes));
  // every manifest request lists all manifest types (distribution 2.8 answers 404 otherwise)
  const accept = registry.requests.filter((r) => r.path.includes('/manifests/')).map((r) => String(r.headers['accept']));
  for (const a of accept)
    for (const type of [MEDIA_TYPE.ociManifest, MEDIA_TYPE.ociIndex, MEDIA_TYPE.dockerManifest, MEDIA_TYPE.dockerManifestList])
      t.true(a.includes(type));
  await close();
});

test('client: Docker schema 2 manifests and indexes resolve too', async (t) => {
  const { registry, repo, close } = await setup();
  const docker = buildImage({ mediaType: 'docker' });
  store(registry, docker, 'docker');
  t.is((await repo.resolve('docker')).mediaType, MEDIA_TYPE.dockerManifest);
  await close();
});

test('client: NOT_FOUND for a missing tag or digest', async (t) => {
  const { repo, close } = await setup();
  t.is(code(t, await t.throwsAsync(repo.fetchManifest('nope'))).code, 'NOT_FOUND');
  t.is(code(t, await t.throwsAsync(repo.fetchManifest(computeDigest(new Uint8Array([1]))))).code, 'NOT_FOUND');
  await close();
});

test('client: content that does not hash to the requested digest is rejected', async (t) => {
  const { registry, repo, close } = await setup();
  const image = buildImage();
  const other = buildImage();
  store(registry, image);
  registry.intercept((req, res) => {
    if (req.url?.includes(`/manifests/${image.descriptor.digest}`)) {
      res.writeHead(200, { 'content-type': MEDIA_TYPE.ociManifest });
      res.end(other.bytes);
      return true;
    }
    return false;
  });
  t.deepEqual(code(t, await t.throwsAsync(repo.fetchManifest(image.descriptor.digest))), {
    code: 'REGISTRY_UNAVAILABLE',
    reason: 'DIGEST_MISMATCH',
  });
  await close();
});

test('client: a Docker-Content-Digest that contradicts the bytes is rejected', async (t) => {
  const { registry, repo, close } = await setup();
  const image = buildImage();
  registry.intercept((req, res) => {
    if (req.url?.endsWith('/manifests/v1')) {
      res.writeHead(200, { 'content-type': MEDIA_TYPE.ociManifest, 'docker-content-digest': computeDigest(new Uint8Array([9])) });
      res.end(image.bytes);
      return true;
    }
    return false;
  });
  t.deepEqual(code(t, await t.throwsAsync(repo.fetchManifest('v1'))), { code: 'REGISTRY_UNAVAILABLE', reason: 'DIGEST_MISMATCH' });
  await close();
});

test('client: garbage JSON from the registry is a typed error', async (t) => {
  const { registry, repo, close } = await setup();
  registry.intercept((req, res) => {
    if (req.url?.includes('/manifests/')) {
      res.writeHead(200, { 'content-type': MEDIA_TYPE.ociManifest });
      res.end('{"schemaVersion": 2, "config": ');
      return true;
    }
    return false;
  });
  t.deepEqual(code(t, await t.throwsAsync(repo.fetchManifest('v1'))), { code: 'REGISTRY_UNAVAILABLE', reason: 'BAD_CONTENT' });
  await close();
});

test('client: manifests over the size limit are refused, announced or streamed', async (t) => {
  const { registry, repo, close } = await setup({}, { limits: { maxManifestBytes: 1024 } });
  const big = Buffer.alloc(4096, 0x20);
  registry.intercept((req, res) => {
    if (req.url?.endsWith('/manifests/announced')) {
      res.writeHead(200, { 'content-type': MEDIA_TYPE.ociManifest, 'content-length': String(big.length) });
      res.end(big);
      return true;
    }
    if (req.url?.endsWith('/manifests/streamed')) {
      res.writeHead(200, { 'content-type': MEDIA_TYPE.ociManifest }); // chunked: no Content-Length
      for (let i = 0; i < 4; i++) res.write(big.subarray(0, 1024));
      res.end();
      return true;
    }
    return false;
  });
  t.deepEqual(code(t, await t.throwsAsync(repo.fetchManifest('announced'))), { code: 'REGISTRY_UNAVAILABLE', reason: 'SIZE_LIMIT' });
  t.deepEqual(code(t, await t.throwsAsync(repo.fetchManifest('streamed'))), { code: 'REGISTRY_UNAVAILABLE', reason: 'SIZE_LIMIT' });
  await close();
});

test('client: a body shorter than its Content-Length is a connection error, not truncated content', async (t) => {
  const { registry, repo, close } = await setup();
  const image = buildImage();
  const digest = store(registry, image);
  registry.intercept((req, res) => {
    if (req.url?.includes('/manifests/')) {
      // Announces one byte more than it sends, then closes the connection.
      res.writeHead(200, { 'content-type': MEDIA_TYPE.ociManifest, 'content-length': String(image.bytes.length + 1) });
      res.write(image.bytes);
      res.socket?.destroy();
      return true;
    }
    return false;
  });
  t.deepEqual(code(t, await t.throwsAsync(repo.fetchManifest(digest))), { code: 'REGISTRY_UNAVAILABLE', reason: 'CONNECTION' });
  await close();
});

test('client: blobs are verified against digest and size, and embedded data saves the request', async (t) => {
  const { registry, repo, close } = await setup();
  const bytes = new TextEncoder().encode('hello blob');
  registry.putBlob(REPO, bytes);
  const descriptor = { mediaType: 'text/plain', digest: computeDigest(bytes), size: bytes.length };
  t.is(Buffer.from(await repo.fetchBlob(descriptor)).toString(), 'hello blob');
  t.deepEqual(code(t, await t.throwsAsync(repo.fetchBlob({ ...descriptor, size: bytes.length + 5 }))), {
    code: 'REGISTRY_UNAVAILABLE',
    reason: 'SIZE_MISMATCH',
  });
  t.deepEqual(code(t, await t.throwsAsync(repo.fetchBlob({ ...descriptor, size: bytes.length - 1 }))), {
    code: 'REGISTRY_UNAVAILABLE',
    reason: 'SIZE_LIMIT',
  });
  t.deepEqual(code(t, await t.throwsAsync(repo.fetchBlob(descriptor, { maxBytes: 4 }))), {
    code: 'REGISTRY_UNAVAILABLE',
    reason: 'SIZE_LIMIT',
  });
  const before = registry.requests.length;
  const embedded = await repo.fetchBlob({ ...descriptor, data: Buffer.from(bytes).toString('base64') });
  t.is(Buffer.from(embedded).toString(), 'hello blob');
  t.is(registry.requests.length, before);
  t.deepEqual(code(t, await t.throwsAsync(repo.fetchBlob({ ...descriptor, data: Buffer.from('hello blub').toString('base64') }))), {
    code: 'REGISTRY_UNAVAILABLE',
    reason: 'DIGEST_MISMATCH',
  });
  await close();
});

async function imageWithReferrers(registry: FakeRegistry) {
  const image = buildImage();
  const digest = store(registry, image, 'v1');
  const legacy = buildNotationSignature(image.descriptor, { form: 'legacy' });
  const modern = buildNotationSignature(image.descriptor, { form: 'artifactType', envelope: 'cose' });
  const bundle = buildCosignBundleReferrer(image.descriptor);
  const sbom = buildSbomReferrer(image.descriptor);
  for (const m of [legacy, modern, bundle, sbom]) store(registry, m);
  return { image, digest, legacy, modern, bundle, sbom };
}

test('referrers: the API with the registry filtering (OCI-Filters-Applied)', async (t) => {
  const { registry, repo, client, close } = await setup({ referrers: 'api' });
  const { digest, legacy, modern } = await imageWithReferrers(registry);
  const listing = await repo.listReferrers(digest, { artifactType: MEDIA_TYPE.notarySignature });
  t.is(listing.via, 'referrers-api');
  t.deepEqual(listing.descriptors.map((d) => d.digest).sort(), [legacy.descriptor.digest, modern.descriptor.digest].sort());
  t.is(client.referrersCapability(registry.host), 'supported');
  await close();
});

test('referrers: filters client-side when the registry ignores artifactType', async (t) => {
  const { registry, repo, close } = await setup({ referrers: 'api-unfiltered' });
  const { digest, legacy, modern } = await imageWithReferrers(registry);
  const listing = await repo.listReferrers(digest, { artifactType: MEDIA_TYPE.notarySignature });
  t.deepEqual(listing.descriptors.map((d) => d.digest).sort(), [legacy.descriptor.digest, modern.descriptor.digest].sort());
  t.is((await repo.listReferrers(digest)).descriptors.length, 4);
  await close();
});

test('referrers: follows Link pagination (relative URLs)', async (t) => {
  const { registry, repo, close } = await setup({ referrers: 'api', referrersPageSize: 1 });
  const { digest } = await imageWithReferrers(registry);
  const listing = await repo.listReferrers(digest);
  t.is(listing.descriptors.length, 4);
  t.is(registry.requests.filter((r) => r.path.includes('/referrers/')).length, 4);
  await close();
});

test('referrers: a Link loop and too many pages are errors, not endless walks', async (t) => {
  const looping = await setup({ referrers: 'api', referrersPageSize: 1, referrersLinkLoop: true });
  const a = await imageWithReferrers(looping.registry);
  t.deepEqual(code(t, await t.throwsAsync(looping.repo.listReferrers(a.digest))), {
    code: 'REGISTRY_UNAVAILABLE',
    reason: 'TOO_MANY_PAGES',
  });
  await looping.close();

  const paged = await setup({ referrers: 'api', referrersPageSize: 1 }, { limits: { maxReferrerPages: 2 } });
  const b = await imageWithReferrers(paged.registry);
  t.deepEqual(code(t, await t.throwsAsync(paged.repo.listReferrers(b.digest))), { code: 'REGISTRY_UNAVAILABLE', reason: 'TOO_MANY_PAGES' });
  await paged.close();
});

test('referrers: more referrers than the cap is an error', async (t) => {
  const { registry, repo, close } = await setup({ referrers: 'api' }, { limits: { maxReferrers: 3 } });
  const { digest } = await imageWithReferrers(registry);
  t.deepEqual(code(t, await t.throwsAsync(repo.listReferrers(digest))), { code: 'REGISTRY_UNAVAILABLE', reason: 'TOO_MANY_REFERRERS' });
  await close();
});

for (const mode of [404, 405, 501, 'wrong-content-type'] as const) {
  test(`referrers: falls back to the tag schema on ${mode} and remembers it per registry`, async (t) => {
    const { registry, repo, client, close } = await setup({ referrers: mode });
    const image = buildImage();
    await pushManifest(repo, image, 'v1');
    const signature = buildNotationSignature(image.descriptor);
    await pushReferrer(repo, signature); // no OCI-Subject: the pusher writes the sha256-<hex> index
    const listing = await repo.listReferrers(image.descriptor.digest);
    t.is(listing.via, 'tag-schema');
    t.deepEqual(
      listing.descriptors.map((d) => d.digest),
      [signature.descriptor.digest],
    );
    t.is(listing.descriptors[0]?.artifactType, MEDIA_TYPE.notarySignature);
    t.is(client.referrersCapability(registry.host), 'unsupported');
    // a second repository on the same registry goes straight to the tag schema
    const before = registry.requests.filter((r) => r.path.includes('/referrers/')).length;
    const other = client.repository(registry.host, 'team/other');
    t.deepEqual((await other.listReferrers(image.descriptor.digest)).descriptors, []);
    t.is(registry.requests.filter((r) => r.path.includes('/referrers/')).length, before);
    await close();
  });
}

test('referrers: a 404 NAME_UNKNOWN does not mark the registry as lacking the API', async (t) => {
  const { registry, client, close } = await setup({ referrers: 'api' });
  const missing = client.repository(registry.host, 'no/such/repo');
  const listing = await missing.listReferrers(computeDigest(new Uint8Array([7])));
  t.deepEqual(listing.descriptors, []);
  t.is(client.referrersCapability(registry.host), 'unknown');
  await close();
});

test('referrers: a tag schema tag that is not an index means no referrers', async (t) => {
  const { registry, repo, close } = await setup({ referrers: 404 });
  const image = buildImage();
  const digest = store(registry, image);
  store(registry, buildImage(), referrersTag(digest));
  t.deepEqual((await repo.listReferrers(digest)).descriptors, []);
  await close();
});

test('discovery: verifies every listed referrer; stale, foreign and missing entries are skipped, not trusted', async (t) => {
  const { registry, repo, close } = await setup({ referrers: 404 });
  const image = buildImage();
  const digest = store(registry, image);
  const good = buildNotationSignature(image.descriptor);
  store(registry, good);
  // a signature of another image, listed under this digest by a malicious or buggy client
  const foreign = buildNotationSignature(buildImage().descriptor);
  store(registry, foreign);
  // an entry whose manifest is gone
  const gone = buildNotationSignature(image.descriptor);
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.ociIndex,
    manifests: [good, foreign, gone, good].map((m) => ({ ...m.descriptor, artifactType: MEDIA_TYPE.notarySignature })),
  };
  registry.putManifest(REPO, new TextEncoder().encode(JSON.stringify(index)), {
    tag: referrersTag(digest),
    mediaType: MEDIA_TYPE.ociIndex,
  });

  const discovery = await findSignatures(repo, digest);
  t.is(discovery.via, 'tag-schema');
  t.deepEqual(
    discovery.artifacts.map((a) => [a.kind, a.descriptor.digest]),
    [['notation', good.descriptor.digest]],
  );
  const skipped = Object.fromEntries(discovery.skipped.map((s) => [s.reference, s.code]));
  t.is(skipped[foreign.descriptor.digest], 'INVALID_INPUT');
  t.is(skipped[gone.descriptor.digest], 'NOT_FOUND');
  await close();
});

test('discovery: classifies every kind and finds cosign legacy .sig signatures', async (t) => {
  const { registry, repo, close } = await setup({ referrers: 'api' });
  const { digest, legacy, modern, bundle, sbom } = await imageWithReferrers(registry);
  const cosignLegacy = buildCosignLegacySignature(digest);
  store(registry, cosignLegacy, cosignSignatureTag(digest));
  const all = await discoverReferrers(repo, digest);
  const kinds = Object.fromEntries(all.artifacts.map((a) => [a.descriptor.digest, a.kind]));
  t.is(kinds[legacy.descriptor.digest], 'notation');
  t.is(kinds[modern.descriptor.digest], 'notation');
  t.is(kinds[bundle.descriptor.digest], 'cosign-bundle');
  t.is(kinds[sbom.descriptor.digest], 'other');
  t.is(kinds[cosignLegacy.descriptor.digest], 'cosign-legacy');
  const signatures = await findSignatures(repo, digest);
  t.deepEqual(signatures.artifacts.map((a) => a.kind).sort(), ['cosign-bundle', 'cosign-legacy', 'notation', 'notation']);
  // the SBOM is not even fetched when only signatures are wanted
  t.false(
    registry.requests.some(
      (r, i) =>
        i > 0 &&
        r.path.endsWith(`/manifests/${sbom.descriptor.digest}`) &&
        r.headers['accept'] !== undefined &&
        signatures.artifacts.length === 0,
    ),
  );
  await close();
});

test('auth: basic credentials are sent after the challenge, then up front', async (t) => {
  const { registry, repo, close } = await setup(
    { auth: { kind: 'basic', username: 'alice', password: 's3cret' } },
    { username: 'alice', password: 's3cret' },
  );
  const image = buildImage();
  store(registry, image, 'v1');
  await repo.fetchManifest('v1');
  await repo.fetchManifest(image.descriptor.digest);
  const statuses = registry.requests.map((r) => r.headers['authorization'] !== undefined);
  t.deepEqual(statuses, [false, true, true]);
  await close();
});

test('auth: wrong basic credentials and missing credentials are REGISTRY_AUTH', async (t) => {
  const wrong = await setup({ auth: { kind: 'basic', username: 'alice', password: 's3cret' } }, { username: 'alice', password: 'nope' });
  t.deepEqual(code(t, await t.throwsAsync(wrong.repo.fetchManifest('v1'))), { code: 'REGISTRY_AUTH', reason: 'DENIED' });
  await wrong.close();
  const none = await setup({ auth: { kind: 'basic', username: 'alice', password: 's3cret' } });
  t.deepEqual(code(t, await t.throwsAsync(none.repo.fetchManifest('v1'))), { code: 'REGISTRY_AUTH', reason: 'DENIED' });
  await none.close();
});

test('auth: one bearer token per scope is fetched and reused until it expires', async (t) => {
  const { registry, repo, client, close } = await setup(
    { auth: { kind: 'bearer', username: 'bob', password: 'pw', tokenTtlSeconds: 300 } },
    { username: 'bob', password: 'pw' },
  );
  const image = buildImage();
  store(registry, image, 'v1');
  await Promise.all([repo.fetchManifest('v1'), repo.fetchManifest('v1'), repo.fetchManifest('v1')]);
  for (let i = 0; i < 5; i++) await repo.fetchManifest(image.descriptor.digest);
  t.is(registry.tokenRequests.length, 1);
  t.deepEqual(registry.tokenRequests[0]?.scope, [`repository:${REPO}:pull`]);
  t.true(registry.tokenRequests[0]?.authorization?.startsWith('Basic '));
  // another repository on the same registry: token fetched up front, no 401 round trip
  const registryRequests = () => registry.requests.filter((r) => r.path.startsWith('/v2/')).length;
  const before = registryRequests();
  await t.throwsAsync(client.repository(registry.host, 'team/other').fetchManifest('v1'), { code: 'NOT_FOUND' });
  t.is(registry.tokenRequests.length, 2);
  t.is(registryRequests() - before, 1);
  await close();
});

test('auth: an expired token is replaced', async (t) => {
  const { registry, repo, close } = await setup({ auth: { kind: 'bearer', anonymous: true, tokenTtlSeconds: 1 } });
  const image = buildImage();
  store(registry, image, 'v1');
  await repo.fetchManifest('v1');
  await repo.fetchManifest('v1');
  t.is(registry.tokenRequests.length, 1);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await repo.fetchManifest('v1');
  t.is(registry.tokenRequests.length, 2);
  t.true(registry.tokenRequests.every((r) => r.authorization === undefined));
  await close();
});

test('auth: refused token credentials, and a 401 without challenge, are REGISTRY_AUTH', async (t) => {
  const bad = await setup({ auth: { kind: 'bearer', username: 'bob', password: 'pw' } }, { username: 'bob', password: 'wrong' });
  t.deepEqual(code(t, await t.throwsAsync(bad.repo.fetchManifest('v1'))), { code: 'REGISTRY_AUTH', reason: 'DENIED' });
  await bad.close();
  const bare = await setup({ auth: { kind: 'challenge-less-401' } });
  t.deepEqual(code(t, await t.throwsAsync(bare.repo.fetchManifest('v1'))), { code: 'REGISTRY_AUTH', reason: 'NO_CHALLENGE' });
  await bare.close();
});

test('auth: 403 is REGISTRY_AUTH', async (t) => {
  const { registry, repo, close } = await setup();
  registry.intercept((_req, res) => {
    res.writeHead(403, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code: 'DENIED', message: 'no' }] }));
    return true;
  });
  t.deepEqual(code(t, await t.throwsAsync(repo.fetchManifest('v1'))), { code: 'REGISTRY_AUTH', reason: 'DENIED' });
  await close();
});

async function otherOrigin(
  handler: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void,
): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, 'localhost', resolve));
  return { server, url: `http://localhost:${(server.address() as AddressInfo).port}` };
}

test('redirects: Authorization is dropped on a redirect to another origin, kept on the same origin', async (t) => {
  const { registry, repo, close } = await setup(
    { auth: { kind: 'basic', username: 'alice', password: 'pw' } },
    { username: 'alice', password: 'pw' },
  );
  const bytes = new TextEncoder().encode('blob behind a CDN');
  const digest = computeDigest(bytes);
  const seen: Array<string | undefined> = [];
  const cdn = await otherOrigin((req, res) => {
    seen.push(req.headers.authorization);
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(bytes);
  });
  t.teardown(() => {
    cdn.server.closeAllConnections();
    cdn.server.close();
  });
  registry.intercept((req, res) => {
    if (req.url === `/v2/${REPO}/blobs/${digest}` && req.headers.authorization) {
      res.writeHead(307, { location: `/v2/${REPO}/blobs/${digest}?redirected=1` });
      res.end();
      return true;
    }
    if (req.url === `/v2/${REPO}/blobs/${digest}?redirected=1`) {
      t.truthy(req.headers.authorization, 'same-origin redirect keeps credentials');
      res.writeHead(302, { location: `${cdn.url}/storage/${digest.slice(7)}` });
      res.end();
      return true;
    }
    return false;
  });
  const fetched = await repo.fetchBlob({ mediaType: 'application/octet-stream', digest, size: bytes.length });
  t.is(Buffer.from(fetched).toString(), 'blob behind a CDN');
  t.deepEqual(seen, [undefined]);
  await close();
});

test('redirects: loops and long chains are errors', async (t) => {
  const { registry, repo, close } = await setup();
  registry.intercept((req, res) => {
    const n = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('n') ?? '0');
    if (req.url?.startsWith('/v2/team/app/manifests/loop')) {
      res.writeHead(302, { location: '/v2/team/app/manifests/loop' });
      res.end();
      return true;
    }
    if (req.url?.startsWith('/v2/team/app/manifests/chain')) {
      res.writeHead(302, { location: `/v2/team/app/manifests/chain?n=${n + 1}` });
      res.end();
      return true;
    }
    return false;
  });
  t.deepEqual(code(t, await t.throwsAsync(repo.fetchManifest('loop'))), { code: 'REGISTRY_UNAVAILABLE', reason: 'REDIRECT' });
  t.deepEqual(code(t, await t.throwsAsync(repo.fetchManifest('chain'))), { code: 'REGISTRY_UNAVAILABLE', reason: 'REDIRECT' });
  await close();
});

test('transport: connection refused, server errors and rate limits are REGISTRY_UNAVAILABLE', async (t) => {
  const { registry, repo, close } = await setup();
  registry.intercept((req, res) => {
    res.writeHead(req.url?.includes('limited') ? 429 : 503);
    res.end();
    return true;
  });
  t.deepEqual(code(t, await t.throwsAsync(repo.fetchManifest('v1'))), { code: 'REGISTRY_UNAVAILABLE', reason: 'HTTP_STATUS' });
  // 429 without Retry-After: retried with backoff, then given up on (test/integration/rate-limited-registry.test.ts).
  t.deepEqual(code(t, await t.throwsAsync(repo.fetchManifest('limited'))), { code: 'REGISTRY_UNAVAILABLE', reason: 'RATE_LIMITED' });
  const host = registry.host;
  await close();
  const client = new RegistryClient({ hosts: { [host]: { plainHttp: true } } });
  t.deepEqual(code(t, await t.throwsAsync(client.repository(host, REPO).fetchManifest('v1'))), {
    code: 'REGISTRY_UNAVAILABLE',
    reason: 'CONNECTION',
  });
  await client.close();
});

test('transport: a registry that never answers times out; a caller deadline cancels', async (t) => {
  const { registry, repo, close } = await setup({}, { requestTimeoutMs: 200 });
  const hanging: Array<import('node:http').ServerResponse> = [];
  registry.intercept((_req, res) => {
    hanging.push(res);
    return true; // never answers
  });
  t.deepEqual(code(t, await t.throwsAsync(repo.fetchManifest('v1'))), { code: 'REGISTRY_UNAVAILABLE', reason: 'TIMEOUT' });
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  const started = Date.now();
  t.deepEqual(code(t, await t.throwsAsync(repo.fetchManifest('v1', { signal: controller.signal }))), {
    code: 'DEADLINE_EXCEEDED',
    reason: 'ABORTED',
  });
  t.true(Date.now() - started < 190);
  for (const res of hanging) res.destroy();
  await close();
});

test('transport: connections are kept alive and reused', async (t) => {
  const { registry, repo, close } = await setup();
  const image = buildImage();
  store(registry, image, 'v1');
  const sockets = new Set<Socket>();
  registry.intercept((req) => {
    sockets.add(req.socket);
    return false;
  });
  for (let i = 0; i < 10; i++) await repo.fetchManifest('v1');
  // undici may open a second connection while the first is being released; never one per request
  t.true(sockets.size <= 2, `${sockets.size} connections for 10 requests`);
  await close();
});

test('policy: hosts not allowed by configuration are never contacted', async (t) => {
  const { registry, repo, close } = await setup({}, { isHostAllowed: () => false });
  t.is(code(t, await t.throwsAsync(repo.fetchManifest('v1'))).code, 'REGISTRY_NOT_ALLOWED');
  t.is(registry.requests.length, 0);
  await close();
});

test('policy: a redirect back to the host asked is always followed; another host only when the rules allow it', async (t) => {
  const { registry, repo, close } = await setup({}, { egress: { isRedirectAllowed: () => false } });
  const image = buildImage();
  const digest = store(registry, image, 'v1');
  const other = await otherOrigin((_req, res) => {
    res.writeHead(500);
    res.end();
  });
  t.teardown(() => {
    other.server.closeAllConnections();
    other.server.close();
  });
  registry.intercept((req, res) => {
    if (req.url === `/v2/${REPO}/manifests/moved`) {
      res.writeHead(301, { location: `/v2/${REPO}/manifests/${digest}` });
      res.end();
      return true;
    }
    if (req.url === `/v2/${REPO}/manifests/away`) {
      res.writeHead(302, { location: `${other.url}/v2/${REPO}/manifests/${digest}` });
      res.end();
      return true;
    }
    return false;
  });
  t.is((await repo.fetchManifest('moved')).descriptor.digest, digest);
  t.deepEqual(code(t, await t.throwsAsync(repo.fetchManifest('away'))), { code: 'REGISTRY_NOT_ALLOWED', reason: 'REDIRECT_NOT_ALLOWED' });
  await close();
});

test('policy: a token request is reported under the registry host, marked as a token request', async (t) => {
  const events: Array<{ host: string; kind: string; status: number | string }> = [];
  const { registry, repo, close } = await setup(
    { auth: { kind: 'bearer', anonymous: true } },
    { onRequest: (e) => events.push({ host: e.host, kind: e.kind, status: e.status }) },
  );
  store(registry, buildImage(), 'v1');
  await repo.fetchManifest('v1');
  t.deepEqual(events, [
    { host: registry.host, kind: 'registry', status: 401 },
    { host: registry.host, kind: 'token', status: 200 },
    { host: registry.host, kind: 'registry', status: 200 },
  ]);
  await close();
});

test('policy: what the client learns per registry host is bounded', (t) => {
  const client = new RegistryClient({ maxHosts: 10 });
  for (let i = 0; i < 50; i++) client.setReferrersCapability(`registry-${i}.example.com`, 'supported');
  t.is(client.stats().hosts.capabilities, 10);
  t.is(client.referrersCapability('registry-49.example.com'), 'supported');
  t.is(client.referrersCapability('registry-0.example.com'), 'unknown');
  // the default bound
  const defaults = new RegistryClient();
  for (let i = 0; i < 1500; i++) defaults.setReferrersCapability(`registry-${i}.example.com`, 'unsupported');
  t.is(defaults.stats().hosts.capabilities, 1000);
});

test('push: blobs and manifests round-trip byte for byte; OCI-Subject avoids the tag schema', async (t) => {
  const { registry, repo, close } = await setup({ referrers: 'api' });
  const image = buildImage();
  await pushManifest(repo, image, 'v1');
  t.deepEqual(Buffer.from((await repo.fetchManifest('v1')).bytes), Buffer.from(image.bytes));
  const signature = buildNotationSignature(image.descriptor);
  await pushReferrer(repo, signature);
  t.false(registry.requests.some((r) => r.method === 'PUT' && r.path.endsWith(`/manifests/${referrersTag(image.descriptor.digest)}`)));
  t.is((await repo.listReferrers(image.descriptor.digest)).descriptors.length, 1);
  // pushing a blob that exists is skipped
  const puts = registry.requests.filter((r) => r.method === 'PUT').length;
  await repo.pushBlob(image.blobs[0]!.bytes, image.blobs[0]!.descriptor.mediaType);
  t.is(registry.requests.filter((r) => r.method === 'PUT').length, puts);
  await close();
});

test('push: the tag schema index gains each referrer once', async (t) => {
  const { repo, close } = await setup({ referrers: 404 });
  const image = buildImage();
  await pushManifest(repo, image, 'v1');
  const one = buildNotationSignature(image.descriptor);
  const two = buildSbomReferrer(image.descriptor);
  await pushReferrer(repo, one);
  await pushReferrer(repo, two);
  await pushReferrer(repo, one);
  const index = await repo.fetchManifest(referrersTag(image.descriptor.digest));
  t.is(index.manifest.kind, 'index');
  if (index.manifest.kind === 'index') {
    t.deepEqual(
      index.manifest.manifests.map((d) => [d.digest, d.artifactType]),
      [
        [one.descriptor.digest, MEDIA_TYPE.notarySignature],
        [two.descriptor.digest, 'application/spdx+json'],
      ],
    );
  }
  await close();
});

// Docker Hub cannot be reached from the tests: undici's MockAgent stands in for the two hosts, with
// the challenge and token exchange Docker Hub documents (https://docs.docker.com/registry/spec/auth/token/).
test('realm: a token service answering 429 is retried after its Retry-After, and when it keeps throttling the key is RATE_LIMITED', async (t) => {
  const { MockAgent } = await import('undici');
  const agent = new MockAgent();
  agent.disableNetConnect();
  t.teardown(() => agent.close());
  const image = buildImage();
  const manifestPath = `/v2/library/app/manifests/${image.descriptor.digest}`;
  const challenge = {
    headers: {
      'www-authenticate': 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/app:pull"',
    },
  };
  const hub = agent.get('https://registry-1.docker.io');
  const auth = agent.get('https://auth.docker.io');
  let tokenRequests = 0;
  const tokenPath = (p: string) => p.startsWith('/token?');
  const counted =
    <T>(data: T) =>
    () => (tokenRequests++, data);
  hub.intercept({ path: manifestPath, method: 'GET' }).reply(401, '', challenge);
  auth.intercept({ path: tokenPath, method: 'GET' }).reply(429, counted(''), { headers: { 'retry-after': '0' } });
  auth.intercept({ path: tokenPath, method: 'GET' }).reply(200, counted({ token: 'hub-token', expires_in: 300 }));
  hub
    .intercept({ path: manifestPath, method: 'GET', headers: { authorization: 'Bearer hub-token' } })
    .reply(200, Buffer.from(image.bytes), { headers: { 'content-type': image.descriptor.mediaType } });
  const throttled: Array<{ host: string; retried: boolean }> = [];
  const client = new RegistryClient({ dispatcher: agent, onThrottled: ({ host, retried }) => throttled.push({ host, retried }) });
  t.teardown(() => client.close());
  const fetched = await client.repository('registry-1.docker.io', 'library/app').fetchManifest(image.descriptor.digest);
  t.is(fetched.descriptor.digest, image.descriptor.digest);
  t.is(tokenRequests, 2);
  // Reported under the registry's host (metric labels never name a host a registry chose).
  t.deepEqual(throttled, [{ host: 'registry-1.docker.io', retried: true }]);

  // A realm that keeps throttling: retried maxRetries times, then undecided (never a verdict, never TOKEN).
  const other = buildImage();
  const otherPath = `/v2/library/app/manifests/${other.descriptor.digest}`;
  const challenge2 = {
    headers: {
      'www-authenticate': 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/other:pull"',
    },
  };
  hub.intercept({ path: otherPath.replace('/app/', '/other/'), method: 'GET' }).reply(401, '', challenge2);
  auth
    .intercept({ path: tokenPath, method: 'GET' })
    .reply(429, '', { headers: { 'retry-after': '0' } })
    .times(4);
  const limitedEvents: Array<{ retried: boolean }> = [];
  const limited = new RegistryClient({ dispatcher: agent, requestLimits: { maxRetries: 3 }, onThrottled: (e) => limitedEvents.push(e) });
  t.teardown(() => limited.close());
  const error = await t.throwsAsync(limited.repository('registry-1.docker.io', 'library/other').fetchManifest(other.descriptor.digest));
  t.deepEqual(code(t, error), { code: 'REGISTRY_UNAVAILABLE', reason: 'RATE_LIMITED' });
  t.deepEqual(
    limitedEvents.map((e) => e.retried),
    [true, true, true, false],
  );
});

test('realm: Docker Hub credentials go to https://auth.docker.io without allowedTokenRealms, and nowhere else', async (t) => {
  const { MockAgent } = await import('undici');
  const agent = new MockAgent();
  agent.disableNetConnect();
  t.teardown(() => agent.close());
  const image = buildImage();
  const challenge = (realm: string) => ({
    headers: { 'www-authenticate': `Bearer realm="${realm}",service="registry.docker.io",scope="repository:library/app:pull"` },
  });
  const hub = agent.get('https://registry-1.docker.io');
  hub
    .intercept({ path: `/v2/library/app/manifests/${image.descriptor.digest}`, method: 'GET' })
    .reply(401, '', challenge('https://auth.docker.io/token'));
  const tokenRequests: Array<string | undefined> = [];
  agent
    .get('https://auth.docker.io')
    .intercept({ path: (p) => p.startsWith('/token?'), method: 'GET' })
    .reply(200, (opts) => {
      tokenRequests.push((opts.headers as Record<string, string>)['authorization']);
      return { token: 'hub-token', expires_in: 300 };
    });
  hub
    .intercept({
      path: `/v2/library/app/manifests/${image.descriptor.digest}`,
      method: 'GET',
      headers: { authorization: 'Bearer hub-token' },
    })
    .reply(200, Buffer.from(image.bytes), { headers: { 'content-type': image.descriptor.mediaType } });
  const client = new RegistryClient({ dispatcher: agent, hosts: { 'registry-1.docker.io': { username: 'alice', password: 's3cret' } } });
  t.teardown(() => client.close());
  const fetched = await client.repository('registry-1.docker.io', 'library/app').fetchManifest(image.descriptor.digest);
  t.is(fetched.descriptor.digest, image.descriptor.digest);
  t.deepEqual(tokenRequests, [`Basic ${Buffer.from('alice:s3cret').toString('base64')}`]);

  // The pairing is exact: another realm host named by Docker Hub, or auth.docker.io over http, gets nothing.
  for (const realm of ['https://auth.docker.io.evil.example/token', 'http://auth.docker.io/token']) {
    const other = new RegistryClient({ dispatcher: agent, hosts: { 'registry-1.docker.io': { username: 'alice', password: 's3cret' } } });
    hub.intercept({ path: `/v2/library/app/manifests/${image.descriptor.digest}`, method: 'GET' }).reply(401, '', challenge(realm));
    const error = await t.throwsAsync(other.repository('registry-1.docker.io', 'library/app').fetchManifest(image.descriptor.digest));
    t.is((error as VouchError).code, 'REGISTRY_AUTH', realm);
    await other.close();
  }
  t.is(tokenRequests.length, 1);
});

// A registry can list referrers whose manifests are as large as any manifest may be (4 MiB): 256 of
// them held by one verification is 1 GiB. The listed sizes are reserved before anything is fetched.
test('discovery: referrer manifests past the byte budget are refused before any is fetched', async (t) => {
  const { registry, repo, close } = await setup();
  t.teardown(close);
  const image = buildImage();
  store(registry, image);
  const huge = Array.from({ length: 8 }, (_, i) => ({
    mediaType: MEDIA_TYPE.ociManifest,
    artifactType: MEDIA_TYPE.notarySignature,
    digest: `sha256:${String(i).repeat(64).slice(0, 64)}`,
    size: 3 * 1024 * 1024,
  }));
  registry.intercept((req, res) => {
    if (req.url?.includes('/referrers/')) {
      res.writeHead(200, { 'content-type': MEDIA_TYPE.ociIndex });
      res.end(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests: huge }));
      return true;
    }
    return false;
  });
  t.deepEqual(code(t, await t.throwsAsync(findSignatures(repo, image.descriptor.digest, { kinds: ['notation'] }))), {
    code: 'REGISTRY_UNAVAILABLE',
    reason: 'SIZE_LIMIT',
  });
  t.is(registry.requests.filter((r) => r.path.includes('/manifests/sha256:') && !r.path.includes(image.descriptor.digest)).length, 0);
  // Within the budget the same listing is fetched (and each entry judged on its own).
  const small = await discoverReferrers(repo, image.descriptor.digest, { maxReferrerBytes: 64 * 1024 * 1024 });
  t.is(small.artifacts.length, 0);
  t.is(small.skipped.length, huge.length);
});

test('client: a manifest body longer than its descriptor is cut off at the descriptor size', async (t) => {
  const { registry, repo, close } = await setup();
  t.teardown(close);
  const image = buildImage();
  const padded = new Uint8Array(image.bytes.length + 1024 * 1024);
  padded.set(image.bytes);
  registry.intercept((req, res) => {
    if (req.url?.includes(`/manifests/${image.descriptor.digest}`)) {
      res.writeHead(200, { 'content-type': MEDIA_TYPE.ociManifest });
      res.end(padded);
      return true;
    }
    return false;
  });
  t.deepEqual(code(t, await t.throwsAsync(repo.fetchManifest(image.descriptor))), { code: 'REGISTRY_UNAVAILABLE', reason: 'SIZE_LIMIT' });
});

// found by fuzzing (test/unit/oci/referrers.fuzz.test.ts): a Link target that is not a URL made
// `new URL` throw a TypeError out of the client instead of a typed registry error.
test('referrers: a Link header whose next target is not a URL is REGISTRY_UNAVAILABLE / BAD_CONTENT', async (t) => {
  const subject = computeDigest(new TextEncoder().encode('subject'));
  const index = JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests: [] });
  const server = createServer((req, res) => {
    if (req.url?.startsWith(`/v2/${REPO}/referrers/`)) {
      res.writeHead(200, { 'content-type': MEDIA_TYPE.ociIndex, link: '<http://[>; rel="next"' });
      res.end(index);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new RegistryClient({ hosts: { [host]: { plainHttp: true } }, requestTimeoutMs: 2_000 });
  t.teardown(async () => {
    await client.close();
    await new Promise((resolve) => server.close(resolve));
  });
  const error = await t.throwsAsync(client.repository(host, REPO).listReferrers(subject));
  t.deepEqual(code(t, error), { code: 'REGISTRY_UNAVAILABLE', reason: 'BAD_CONTENT' });
});
