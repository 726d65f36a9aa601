// Liveness checks for the real-registry harness (test/helpers/registries.ts) with raw fetch: olareg answers the
// Referrers API (https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#listing-referrers) and
// distribution 2.8.2 does not; htpasswd and Docker token auth (https://distribution.github.io/distribution/spec/auth/token/)
// work end to end; stop() leaves no process or storage behind.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import test from 'ava';
import { startDistributionRegistry, startReferrersRegistry, toolPath, TOKEN_SERVICE, type RunningRegistry } from '../helpers/registries.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const EMPTY_JSON = Buffer.from('{}');
const EMPTY_DESCRIPTOR = {
  mediaType: 'application/vnd.oci.empty.v1+json',
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
};

const sha256 = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

interface Pushed {
  digest: string;
  size: number;
  putStatus: number;
  ociSubject: string | null;
}

/** Monolithic blob upload (POST + PUT ?digest=), which both olareg and distribution support. */
async function pushBlob(reg: RunningRegistry, repo: string, bytes: Uint8Array, headers: Record<string, string> = {}): Promise<string> {
  const digest = sha256(bytes);
  const start = await fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
  await start.arrayBuffer();
  if (start.status !== 202) throw new Error(`blob upload POST: ${start.status}`);
  const location = new URL(start.headers.get('location') ?? '', reg.url);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, {
    method: 'PUT',
    headers: { ...headers, 'Content-Type': 'application/octet-stream' },
    body: bytes,
  });
  await put.arrayBuffer();
  if (put.status !== 201) throw new Error(`blob upload PUT: ${put.status}`);
  return digest;
}

async function putManifest(
  reg: RunningRegistry,
  repo: string,
  manifest: unknown,
  ref?: string,
  headers: Record<string, string> = {},
): Promise<Pushed> {
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = sha256(bytes);
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${ref ?? digest}`, {
    method: 'PUT',
    headers: { ...headers, 'Content-Type': OCI_MANIFEST },
    body: bytes,
  });
  await res.arrayBuffer();
  return { digest, size: bytes.length, putStatus: res.status, ociSubject: res.headers.get('oci-subject') };
}

/** Pushes an (empty-config) image and `count` referrers to it; returns the subject digest. */
async function pushSubjectWithReferrers(
  reg: RunningRegistry,
  repo: string,
  count: number,
  headers: Record<string, string> = {},
): Promise<{ subject: Pushed; referrers: Pushed[] }> {
  await pushBlob(reg, repo, EMPTY_JSON, headers);
  const subject = await putManifest(
    reg,
    repo,
    { schemaVersion: 2, mediaType: OCI_MANIFEST, config: EMPTY_DESCRIPTOR, layers: [] },
    'v1',
    headers,
  );
  const referrers: Pushed[] = [];
  for (let i = 0; i < count; i++) {
    referrers.push(
      await putManifest(
        reg,
        repo,
        {
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType: i % 2 === 0 ? 'application/vnd.example.sig' : 'application/vnd.example.sbom',
          config: EMPTY_DESCRIPTOR,
          layers: [EMPTY_DESCRIPTOR],
          subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.size },
          annotations: { 'org.example.n': String(i) },
        },
        undefined,
        headers,
      ),
    );
  }
  return { subject, referrers };
}

async function fetchToken(reg: RunningRegistry, scope: string, authorization?: string): Promise<Response> {
  const url = new URL(`${reg.tokenServer!.url}/token`);
  url.searchParams.set('service', TOKEN_SERVICE);
  url.searchParams.append('scope', scope);
  return fetch(url, { headers: authorization ? { Authorization: authorization } : {} });
}

/** Parses `Bearer realm="…",service="…"` into its parameters. */
function challengeParams(header: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of (header ?? '').matchAll(/(\w+)="([^"]*)"/g)) out[m[1]!] = m[2]!;
  return out;
}

async function isListening(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

test('registries: toolPath names the missing tool and the install script', (t) => {
  const saved = process.env['PATH'];
  process.env['PATH'] = '/nonexistent';
  try {
    const err = t.throws(() => toolPath('docker-registry'));
    t.regex(err?.message ?? '', /docker-registry.*scripts\/tools\.sh/);
  } finally {
    process.env['PATH'] = saved;
  }
  t.true(existsSync(toolPath('olareg-serve')));
});

test('registries: olareg answers the referrers API with an image index, with filtering and Link pagination', async (t) => {
  const reg = await startReferrersRegistry({ referrersPageBytes: 700 });
  t.teardown(() => reg.stop());
  t.is(reg.kind, 'olareg');
  t.is(reg.url, `http://${reg.host}`);
  const ping = await fetch(`${reg.url}/v2/`);
  t.is(ping.status, 200);

  const { subject, referrers } = await pushSubjectWithReferrers(reg, 'app/one', 4);
  t.is(subject.putStatus, 201);
  for (const r of referrers) {
    t.is(r.putStatus, 201);
    t.is(r.ociSubject, subject.digest);
  }

  // Follow Link pages until there is none; each page is a complete image index.
  const seen: string[] = [];
  let pages = 0;
  let next: URL | undefined = new URL(`${reg.url}/v2/app/one/referrers/${subject.digest}`);
  while (next && pages < 10) {
    const res = await fetch(next, { headers: { Accept: OCI_INDEX } });
    t.is(res.status, 200);
    t.is(res.headers.get('content-type'), OCI_INDEX);
    const index = (await res.json()) as { mediaType: string; manifests: Array<{ digest: string; artifactType: string }> };
    t.is(index.mediaType, OCI_INDEX);
    seen.push(...index.manifests.map((d) => d.digest));
    pages++;
    const link = res.headers.get('link');
    const target = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link)?.[1] : undefined;
    next = target ? new URL(target, next) : undefined;
  }
  t.true(pages > 1, 'a 700-byte page limit splits four referrers over several pages');
  t.deepEqual([...seen].sort(), referrers.map((r) => r.digest).sort());

  const filtered = await fetch(
    `${reg.url}/v2/app/one/referrers/${subject.digest}?artifactType=${encodeURIComponent('application/vnd.example.sbom')}`,
  );
  t.is(filtered.headers.get('oci-filters-applied'), 'artifactType');
  const fIndex = (await filtered.json()) as { manifests: Array<{ artifactType: string }> };
  t.true(fIndex.manifests.length > 0);
  t.true(fIndex.manifests.every((d) => d.artifactType === 'application/vnd.example.sbom'));
});

test('registries: distribution without auth answers /v2/ and has no referrers API', async (t) => {
  const reg = await startDistributionRegistry();
  t.teardown(() => reg.stop());
  t.is(reg.kind, 'distribution');
  t.is(reg.tokenServer, undefined);
  const ping = await fetch(`${reg.url}/v2/`);
  t.is(ping.status, 200);

  const { subject, referrers } = await pushSubjectWithReferrers(reg, 'app/two', 1);
  t.is(subject.putStatus, 201);
  t.is(referrers[0]!.putStatus, 201);
  t.is(referrers[0]!.ociSubject, null, 'distribution 2.8.2 does not index subjects');
  const res = await fetch(`${reg.url}/v2/app/two/referrers/${subject.digest}`, { headers: { Accept: OCI_INDEX } });
  await res.arrayBuffer();
  t.is(res.status, 404);
});

test('registries: distribution with htpasswd auth challenges with Basic and accepts the right password only', async (t) => {
  const reg = await startDistributionRegistry({ auth: { kind: 'htpasswd', username: 'alice', password: 's3cret!' } });
  t.teardown(() => reg.stop());
  const anonymous = await fetch(`${reg.url}/v2/`);
  t.is(anonymous.status, 401);
  t.regex(anonymous.headers.get('www-authenticate') ?? '', /^Basic realm="vouch-test"/);
  const wrong = await fetch(`${reg.url}/v2/`, { headers: { Authorization: basic('alice', 'nope') } });
  t.is(wrong.status, 401);
  const right = await fetch(`${reg.url}/v2/`, { headers: { Authorization: basic('alice', 's3cret!') } });
  t.is(right.status, 200);
});

test('registries: distribution with token auth works end to end through the token server', async (t) => {
  const reg = await startDistributionRegistry({ auth: { kind: 'token', username: 'bob', password: 'hunter2', tokenTtlSeconds: 120 } });
  t.teardown(() => reg.stop());
  t.truthy(reg.tokenServer);

  // The challenge points at our token server.
  const anonymous = await fetch(`${reg.url}/v2/`);
  await anonymous.arrayBuffer();
  t.is(anonymous.status, 401);
  const challenge = anonymous.headers.get('www-authenticate');
  t.regex(challenge ?? '', /^Bearer /);
  t.deepEqual(challengeParams(challenge), { realm: `${reg.tokenServer!.url}/token`, service: TOKEN_SERVICE });

  // Wrong password and no credentials are refused by the token server.
  const wrong = await fetchToken(reg, 'repository:app/three:pull', basic('bob', 'wrong'));
  t.is(wrong.status, 401);
  const noCreds = await fetchToken(reg, 'repository:app/three:pull');
  t.is(noCreds.status, 401);

  // A pull+push token: /v2/ accepts it, and a push with it succeeds.
  const res = await fetchToken(reg, 'repository:app/three:pull,push', basic('bob', 'hunter2'));
  t.is(res.status, 200);
  const body = (await res.json()) as { token: string; access_token: string; expires_in: number; issued_at: string };
  t.is(body.access_token, body.token);
  t.is(body.expires_in, 120);
  t.false(Number.isNaN(Date.parse(body.issued_at)));
  const bearer = { Authorization: `Bearer ${body.token}` };
  const ping = await fetch(`${reg.url}/v2/`, { headers: bearer });
  await ping.arrayBuffer();
  t.is(ping.status, 200);
  const { subject } = await pushSubjectWithReferrers(reg, 'app/three', 0, bearer);
  t.is(subject.putStatus, 201);

  // The registry enforces the token's access claims: a pull-only token cannot push, and is scoped to its repo.
  const pullOnly = (await (await fetchToken(reg, 'repository:app/three:pull', basic('bob', 'hunter2'))).json()) as {
    token: string;
  };
  const get = await fetch(`${reg.url}/v2/app/three/manifests/v1`, {
    headers: { Authorization: `Bearer ${pullOnly.token}`, Accept: OCI_MANIFEST },
  });
  await get.arrayBuffer();
  t.is(get.status, 200);
  const denied = await fetch(`${reg.url}/v2/app/three/blobs/uploads/`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${pullOnly.token}` },
  });
  await denied.arrayBuffer();
  t.is(denied.status, 401);
  t.regex(denied.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
  const otherRepo = await fetch(`${reg.url}/v2/app/other/manifests/v1`, {
    headers: { Authorization: `Bearer ${pullOnly.token}`, Accept: OCI_MANIFEST },
  });
  await otherRepo.arrayBuffer();
  t.is(otherRepo.status, 401);

  // Every token request was recorded.
  t.deepEqual(
    reg.tokenServer!.requests.map((r) => [r.scope, r.service, r.authenticated, r.status]),
    [
      [['repository:app/three:pull'], TOKEN_SERVICE, true, 401],
      [['repository:app/three:pull'], TOKEN_SERVICE, false, 401],
      [['repository:app/three:pull,push'], TOKEN_SERVICE, true, 200],
      [['repository:app/three:pull'], TOKEN_SERVICE, true, 200],
    ],
  );
});

test('registries: stop() ends the process, deletes storage and is idempotent', async (t) => {
  const olareg = await startReferrersRegistry();
  const distribution = await startDistributionRegistry({ auth: { kind: 'token', username: 'u', password: 'p' } });
  t.true(await isListening(olareg.url));
  t.true(await isListening(distribution.url));
  const tokenUrl = distribution.tokenServer!.url;
  await Promise.all([olareg.stop(), distribution.stop()]);
  await olareg.stop();
  t.false(await isListening(olareg.url));
  t.false(await isListening(distribution.url));
  await t.throwsAsync(fetch(`${tokenUrl}/token`));
});
