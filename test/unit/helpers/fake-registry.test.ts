// Tests of the fake registry itself (test/helpers/fake-registry.ts), over real HTTP with global fetch.
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import test from 'ava';
import { startFakeRegistry, type FakeRegistry, type FakeRegistryOptions } from '../../helpers/fake-registry.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const EMPTY = 'application/vnd.oci.empty.v1+json';
const SIG = 'application/vnd.cncf.notary.signature';
const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
const errorCode = async (r: Response) => ((await r.json()) as { errors: Array<{ code: string }> }).errors[0]?.code;

async function withRegistry(opts: FakeRegistryOptions, fn: (reg: FakeRegistry) => Promise<void>) {
  const reg = await startFakeRegistry(opts);
  try {
    await fn(reg);
  } finally {
    await reg.close();
  }
}

/** An image (config + layer blobs) and, per artifact type, a referrer manifest with that subject. */
function seed(reg: FakeRegistry, repo: string, referrerTypes: Array<string | { configType: string }> = []) {
  const config = reg.putBlob(repo, enc('{}'));
  const layer = reg.putBlob(repo, enc('layer'));
  const image = enc({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer, size: 5 }],
  });
  const imageDigest = reg.putManifest(repo, image, { tag: 'v1' });
  const subject = { mediaType: OCI_MANIFEST, digest: imageDigest, size: image.length };
  const referrers = referrerTypes.map((t, i) => {
    const m =
      typeof t === 'string'
        ? { artifactType: t, config: { mediaType: EMPTY, digest: config, size: 2 } }
        : { config: { mediaType: t.configType, digest: config, size: 2 } };
    const bytes = enc({ schemaVersion: 2, mediaType: OCI_MANIFEST, ...m, layers: [], subject, annotations: { n: String(i) } });
    return reg.putManifest(repo, bytes);
  });
  return { image, imageDigest, config, referrers };
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}
type Index = { mediaType: string; manifests: Descriptor[] };

test('base: GET /v2/ answers 200 {}', async (t) => {
  await withRegistry({}, async (reg) => {
    const r = await fetch(`${reg.url}/v2/`);
    t.is(r.status, 200);
    t.deepEqual(await r.json(), {});
    t.is(reg.host, new URL(reg.url).host);
  });
});

test('manifests: GET by tag and digest, HEAD without body, nested repository names', async (t) => {
  await withRegistry({}, async (reg) => {
    const { image, imageDigest } = seed(reg, 'org/team/app');
    for (const ref of ['v1', imageDigest]) {
      const r = await fetch(`${reg.url}/v2/org/team/app/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
      t.is(r.status, 200);
      t.is(r.headers.get('content-type'), OCI_MANIFEST);
      t.is(r.headers.get('docker-content-digest'), imageDigest);
      t.is(r.headers.get('content-length'), String(image.length));
      t.deepEqual(new Uint8Array(await r.arrayBuffer()), image);
    }
    const head = await fetch(`${reg.url}/v2/org/team/app/manifests/v1`, { method: 'HEAD' });
    t.is(head.status, 200);
    t.is(head.headers.get('content-length'), String(image.length));
    t.is(head.headers.get('docker-content-digest'), imageDigest);
    t.is((await head.arrayBuffer()).byteLength, 0);
  });
});

test('manifests: Accept without the stored type gives 404 MANIFEST_UNKNOWN, as distribution 2.8 does', async (t) => {
  await withRegistry({}, async (reg) => {
    seed(reg, 'app');
    const get = (accept?: string) => fetch(`${reg.url}/v2/app/manifests/v1`, { headers: accept === undefined ? {} : { Accept: accept } });
    const miss = await get(`${OCI_INDEX}, application/vnd.docker.distribution.manifest.v2+json`);
    t.is(miss.status, 404);
    t.is(await errorCode(miss), 'MANIFEST_UNKNOWN');
    t.is((await get(`${OCI_INDEX};q=0.9, ${OCI_MANIFEST};q=0.5`)).status, 200);
    t.is((await get('*/*')).status, 200);
    t.is((await get()).status, 200);
  });
});

test('manifests: unknown manifest, unknown repository, invalid reference', async (t) => {
  await withRegistry({}, async (reg) => {
    seed(reg, 'app');
    const unknown = await fetch(`${reg.url}/v2/app/manifests/nope`);
    t.is(unknown.status, 404);
    t.is(await errorCode(unknown), 'MANIFEST_UNKNOWN');
    const noRepo = await fetch(`${reg.url}/v2/other/manifests/v1`);
    t.is(noRepo.status, 404);
    t.is(await errorCode(noRepo), 'NAME_UNKNOWN');
    t.is((await fetch(`${reg.url}/v2/app/manifests/-bad`)).status, 400);
    const route = await fetch(`${reg.url}/v2/UPPER/manifests/v1`);
    t.is(route.status, 404);
    t.is(await route.text(), '404 page not found\n');
  });
});

test('blobs: GET and HEAD, unknown gives 404 BLOB_UNKNOWN', async (t) => {
  await withRegistry({}, async (reg) => {
    const { config } = seed(reg, 'app');
    const r = await fetch(`${reg.url}/v2/app/blobs/${config}`);
    t.is(r.status, 200);
    t.is(r.headers.get('content-type'), 'application/octet-stream');
    t.is(r.headers.get('docker-content-digest'), config);
    t.is(await r.text(), '{}');
    const head = await fetch(`${reg.url}/v2/app/blobs/${config}`, { method: 'HEAD' });
    t.is(head.headers.get('content-length'), '2');
    const miss = await fetch(`${reg.url}/v2/app/blobs/${sha256(enc('x'))}`);
    t.is(miss.status, 404);
    t.is(await errorCode(miss), 'BLOB_UNKNOWN');
  });
});

test('referrers: api lists descriptors with artifactType (else config.mediaType) and annotations', async (t) => {
  await withRegistry({}, async (reg) => {
    const { imageDigest, referrers } = seed(reg, 'app', [SIG, { configType: BUNDLE }]);
    const r = await fetch(`${reg.url}/v2/app/referrers/${imageDigest}`);
    t.is(r.status, 200);
    t.is(r.headers.get('content-type'), OCI_INDEX);
    t.is(r.headers.get('oci-filters-applied'), null);
    const index = (await r.json()) as Index;
    t.is(index.mediaType, OCI_INDEX);
    t.deepEqual(
      index.manifests.map((d) => [d.digest, d.artifactType, d.annotations?.n, d.mediaType]),
      [
        [referrers[0], SIG, '0', OCI_MANIFEST],
        [referrers[1], BUNDLE, '1', OCI_MANIFEST],
      ],
    );
    const none = (await (await fetch(`${reg.url}/v2/app/referrers/${referrers[0]}`)).json()) as Index;
    t.deepEqual(none.manifests, []);
    t.is((await fetch(`${reg.url}/v2/app/referrers/sha256:nothex`)).status, 400);
    t.is(await errorCode(await fetch(`${reg.url}/v2/nope/referrers/${imageDigest}`)), 'NAME_UNKNOWN');
  });
});

test('referrers: api filters by artifactType and says so; api-unfiltered does neither', async (t) => {
  await withRegistry({}, async (reg) => {
    const { imageDigest } = seed(reg, 'app', [SIG, BUNDLE]);
    const url = `${reg.url}/v2/app/referrers/${imageDigest}?artifactType=${encodeURIComponent(BUNDLE)}`;
    const r = await fetch(url);
    t.is(r.headers.get('oci-filters-applied'), 'artifactType');
    t.deepEqual(
      ((await r.json()) as Index).manifests.map((d) => d.artifactType),
      [BUNDLE],
    );
    reg.setOptions({ referrers: 'api-unfiltered' });
    const u = await fetch(url);
    t.is(u.headers.get('oci-filters-applied'), null);
    t.is(((await u.json()) as Index).manifests.length, 2);
  });
});

test('referrers: 404/405/501 modes answer plain text; wrong-content-type answers application/json', async (t) => {
  await withRegistry({}, async (reg) => {
    const { imageDigest } = seed(reg, 'app', [SIG]);
    for (const status of [404, 405, 501] as const) {
      reg.setOptions({ referrers: status });
      const r = await fetch(`${reg.url}/v2/app/referrers/${imageDigest}`);
      t.is(r.status, status);
      t.regex(r.headers.get('content-type') ?? '', /^text\/plain/);
      t.true((await r.text()).startsWith(String(status)));
    }
    reg.setOptions({ referrers: 'wrong-content-type' });
    const r = await fetch(`${reg.url}/v2/app/referrers/${imageDigest}`);
    t.is(r.status, 200);
    t.is(r.headers.get('content-type'), 'application/json');
  });
});

test('referrers: pagination with relative Link keeps the query; every page is a complete index', async (t) => {
  await withRegistry({ referrersPageSize: 2 }, async (reg) => {
    const { imageDigest, referrers } = seed(reg, 'app', [SIG, SIG, SIG, SIG, SIG, BUNDLE]);
    let next: string | undefined = `/v2/app/referrers/${imageDigest}?artifactType=${encodeURIComponent(SIG)}`;
    const seen: string[] = [];
    let pages = 0;
    while (next !== undefined) {
      const r = await fetch(new URL(next, reg.url));
      const index = (await r.json()) as Index;
      t.is(index.mediaType, OCI_INDEX);
      t.true(index.manifests.length <= 2);
      seen.push(...index.manifests.map((d) => d.digest));
      pages++;
      const link = r.headers.get('link');
      t.true(link === null || /^<\/v2\/app\/referrers\/[^>]*artifactType=[^>]*>; rel="next"$/.test(link));
      next = link?.match(/^<([^>]+)>/)?.[1];
    }
    t.is(pages, 3);
    t.deepEqual(seen, referrers.slice(0, 5));
  });
});

test('referrers: link loop points every page back at the first page', async (t) => {
  await withRegistry({ referrersPageSize: 1, referrersLinkLoop: true }, async (reg) => {
    const { imageDigest } = seed(reg, 'app', [SIG, SIG]);
    const first = `/v2/app/referrers/${imageDigest}`;
    const r = await fetch(`${reg.url}${first}`);
    t.is(r.headers.get('link'), `<${first}>; rel="next"`);
    const r2 = await fetch(`${reg.url}${first}?page=1`);
    t.is(r2.headers.get('link'), `<${first}>; rel="next"`);
  });
});

test('push: chunked and monolithic blob uploads verify the digest', async (t) => {
  await withRegistry({}, async (reg) => {
    const bytes = enc('hello blob');
    const digest = sha256(bytes);
    const start = await fetch(`${reg.url}/v2/a/b/blobs/uploads/`, { method: 'POST' });
    t.is(start.status, 202);
    const location = new URL(start.headers.get('location') ?? '', reg.url);
    const patch = await fetch(location, { method: 'PATCH', body: bytes.slice(0, 5) });
    t.is(patch.status, 202);
    const put = new URL(patch.headers.get('location') ?? '', reg.url);
    put.searchParams.set('digest', digest);
    const done = await fetch(put, { method: 'PUT', body: bytes.slice(5) });
    t.is(done.status, 201);
    t.is(done.headers.get('docker-content-digest'), digest);
    t.is(await (await fetch(`${reg.url}/v2/a/b/blobs/${digest}`)).text(), 'hello blob');

    const again = await fetch(`${reg.url}/v2/a/b/blobs/uploads/`, { method: 'POST' });
    const bad = new URL(again.headers.get('location') ?? '', reg.url);
    bad.searchParams.set('digest', sha256(enc('other')));
    const mismatch = await fetch(bad, { method: 'PUT', body: bytes });
    t.is(mismatch.status, 400);
    t.is(await errorCode(mismatch), 'DIGEST_INVALID');

    const singleUrl = `${reg.url}/v2/a/b/blobs/uploads/?digest=${sha256(enc('one'))}`;
    const single = await fetch(singleUrl, { method: 'POST', body: enc('one') });
    t.is(single.status, 201);
    t.is((await fetch(`${reg.url}/v2/a/b/blobs/uploads/nope?digest=${digest}`, { method: 'PUT' })).status, 404);
  });
});

test('push: manifest PUT checks blobs, answers digest and Location, and OCI-Subject only with the API', async (t) => {
  await withRegistry({}, async (reg) => {
    const { imageDigest, image, config } = seed(reg, 'app');
    const sig = enc({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: SIG,
      config: { mediaType: EMPTY, digest: config, size: 2 },
      layers: [],
      subject: { mediaType: OCI_MANIFEST, digest: imageDigest, size: image.length },
    });
    const put = (ref: string, body: Uint8Array, contentType = OCI_MANIFEST) =>
      fetch(`${reg.url}/v2/app/manifests/${ref}`, { method: 'PUT', body, headers: { 'Content-Type': contentType } });
    const r = await put('sig', sig);
    t.is(r.status, 201);
    t.is(r.headers.get('docker-content-digest'), sha256(sig));
    t.is(r.headers.get('location'), `/v2/app/manifests/${sha256(sig)}`);
    t.is(r.headers.get('oci-subject'), imageDigest);
    const listed = (await (await fetch(`${reg.url}/v2/app/referrers/${imageDigest}`)).json()) as Index;
    t.deepEqual(
      listed.manifests.map((d) => d.digest),
      [sha256(sig)],
    );

    reg.setOptions({ referrers: 404 });
    const noApi = await put(sha256(sig), sig);
    t.is(noApi.status, 201);
    t.is(noApi.headers.get('oci-subject'), null);

    const danglingConfig = { mediaType: EMPTY, digest: sha256(enc('?')), size: 1 };
    const dangling = enc({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: danglingConfig, layers: [] });
    const missing = await put('x', dangling);
    t.is(missing.status, 400);
    t.is(await errorCode(missing), 'MANIFEST_BLOB_UNKNOWN');
    t.is(await errorCode(await put(sha256(enc('nope')), sig)), 'DIGEST_INVALID');
    t.is(await errorCode(await put('y', sig, OCI_INDEX)), 'MANIFEST_INVALID');
    t.is(await errorCode(await put('z', enc('not json'))), 'MANIFEST_INVALID');
  });
});

test('auth basic: 401 with a Basic challenge unless the credentials are right', async (t) => {
  await withRegistry({ auth: { kind: 'basic', username: 'u', password: 'p' } }, async (reg) => {
    const anon = await fetch(`${reg.url}/v2/`);
    t.is(anon.status, 401);
    t.is(anon.headers.get('www-authenticate'), 'Basic realm="fake"');
    t.is((await fetch(`${reg.url}/v2/`, { headers: { Authorization: basic('u', 'wrong') } })).status, 401);
    t.is((await fetch(`${reg.url}/v2/`, { headers: { Authorization: basic('u', 'p') } })).status, 200);
    t.is(reg.requests[0]?.headers.authorization, undefined);
    t.is(reg.requests[2]?.headers.authorization, basic('u', 'p'));
  });
});

test('auth bearer: challenge, token endpoint, scoped tokens, insufficient_scope on push', async (t) => {
  await withRegistry({ auth: { kind: 'bearer', username: 'u', password: 'p' } }, async (reg) => {
    seed(reg, 'org/app');
    t.is((await fetch(`${reg.url}/v2/`)).headers.get('www-authenticate'), `Bearer realm="${reg.url}/token",service="fake-registry"`);
    const manifestUrl = `${reg.url}/v2/org/app/manifests/v1`;
    const challenge = (await fetch(manifestUrl)).headers.get('www-authenticate');
    t.is(challenge, `Bearer realm="${reg.url}/token",service="fake-registry",scope="repository:org/app:pull"`);

    t.is((await fetch(`${reg.url}/token?service=fake-registry&scope=repository:org/app:pull`)).status, 401);
    const tokenUrl = `${reg.url}/token?service=fake-registry&scope=repository:org/app:pull&scope=repository:other:pull`;
    const tr = await fetch(tokenUrl, { headers: { Authorization: basic('u', 'p') } });
    t.is(tr.status, 200);
    const body = (await tr.json()) as { token: string; expires_in: number; issued_at: string };
    t.is(body.expires_in, 60);
    t.truthy(Date.parse(body.issued_at));
    t.deepEqual(reg.tokenRequests[1], {
      scope: ['repository:org/app:pull', 'repository:other:pull'],
      service: 'fake-registry',
      authorization: basic('u', 'p'),
    });

    const bearer = { Authorization: `Bearer ${body.token}` };
    t.is((await fetch(manifestUrl, { headers: bearer })).status, 200);
    t.is((await fetch(`${reg.url}/v2/`, { headers: bearer })).status, 200);
    const push = await fetch(`${reg.url}/v2/org/app/blobs/uploads/`, { method: 'POST', headers: bearer });
    t.is(push.status, 401);
    t.is(
      push.headers.get('www-authenticate'),
      `Bearer realm="${reg.url}/token",service="fake-registry",scope="repository:org/app:pull,push",error="insufficient_scope"`,
    );
    const wrongRepo = await fetch(`${reg.url}/v2/third/manifests/v1`, { headers: bearer });
    t.regex(wrongRepo.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
    const badService = `${reg.url}/token?service=other&scope=repository:org/app:pull`;
    t.is((await fetch(badService, { headers: { Authorization: basic('u', 'p') } })).status, 400);
  });
});

test('auth bearer: anonymous tokens are pull-only; expired tokens are challenged again', async (t) => {
  await withRegistry({ auth: { kind: 'bearer', username: 'u', password: 'p', anonymous: true } }, async (reg) => {
    seed(reg, 'app');
    const getToken = async () => {
      const tr = await fetch(`${reg.url}/token?service=fake-registry&scope=repository:app:pull,push`);
      return { Authorization: `Bearer ${((await tr.json()) as { token: string }).token}` };
    };
    const headers = await getToken();
    t.is(reg.tokenRequests[0]?.authorization, undefined);
    t.is((await fetch(`${reg.url}/v2/app/manifests/v1`, { headers })).status, 200);
    t.is((await fetch(`${reg.url}/v2/app/blobs/uploads/`, { method: 'POST', headers })).status, 401);
    reg.setOptions({ auth: { kind: 'bearer', anonymous: true, tokenTtlSeconds: 0 } });
    const expired = await fetch(`${reg.url}/v2/app/manifests/v1`, { headers: await getToken() });
    t.is(expired.status, 401);
    t.regex(expired.headers.get('www-authenticate') ?? '', /^Bearer realm=.*error="invalid_token"$/);
  });
});

test('auth challenge-less-401: 401 without WWW-Authenticate everywhere', async (t) => {
  await withRegistry({ auth: { kind: 'challenge-less-401' } }, async (reg) => {
    seed(reg, 'app');
    for (const path of ['/v2/', '/v2/app/manifests/v1']) {
      const r = await fetch(`${reg.url}${path}`);
      t.is(r.status, 401);
      t.is(r.headers.get('www-authenticate'), null);
    }
  });
});

test('requests are recorded; intercept handles a request first and can be removed', async (t) => {
  await withRegistry({}, async (reg) => {
    seed(reg, 'app');
    reg.intercept((req, res) => {
      if (!req.url?.includes('/manifests/')) return false;
      res.writeHead(503).end();
      return true;
    });
    t.is((await fetch(`${reg.url}/v2/app/manifests/v1?x=1`, { headers: { Accept: OCI_MANIFEST } })).status, 503);
    t.is((await fetch(`${reg.url}/v2/`)).status, 200);
    reg.intercept(undefined);
    t.is((await fetch(`${reg.url}/v2/app/manifests/v1`)).status, 200);
    t.like(reg.requests[0], { method: 'GET', path: '/v2/app/manifests/v1', query: 'x=1', headers: { accept: OCI_MANIFEST } });
    t.is(reg.requests.length, 3);
  });
});

test('robustness: bad requests and a throwing interceptor do not crash it; close() ends keep-alive sockets', async (t) => {
  const reg = await startFakeRegistry();
  const raw = await new Promise<string>((resolve) => {
    const socket = connect(Number(new URL(reg.url).port), '127.0.0.1', () => socket.write('garbage\r\n\r\n'));
    let data = '';
    socket.on('data', (d) => (data += d.toString()));
    socket.on('close', () => resolve(data));
  });
  t.regex(raw, /^HTTP\/1\.1 400/);
  t.is((await fetch(`${reg.url}/v2/app/manifests/%zz`)).status, 400);
  t.is((await fetch(`${reg.url}/v2/app/nothing`)).status, 404);
  t.is((await fetch(`${reg.url}/v2/app/manifests/v1`, { method: 'DELETE' })).status, 405);
  reg.intercept(() => {
    throw new Error('boom');
  });
  t.is((await fetch(`${reg.url}/v2/`)).status, 500);
  reg.intercept(undefined);
  t.is((await fetch(`${reg.url}/v2/`)).status, 200); // leaves a keep-alive socket open
  await reg.close();
  await t.throwsAsync(fetch(`${reg.url}/v2/`));
});
