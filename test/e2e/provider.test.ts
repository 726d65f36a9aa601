// End to end: `vouch serve` as a separate process, with mTLS on HTTPS and gRPC, against two real
// registries (olareg with the Referrers API; CNCF distribution, Debian's docker-registry, without it
// and behind htpasswd), images signed with vouch's own signer for two environments (prod, staging),
// and an OCSP/CRL server for revocation. Covers every answer and error code of docs/api.md "Codes" but
// DEADLINE_EXCEEDED (deadline.test.ts), /v1/mutate, gRPC parity and health, bad input, trust
// material reload, metrics and the per-request log line.
//
// Tests are serial on purpose: they share one vouch process whose request counters, log lines and
// trust policy files the later tests check and change.

import { ANSWER_CODES } from '../../src/core/index.js';
import test from 'ava';
import { request } from 'undici';
import { KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { connect as connectTls } from 'node:tls';
import { RegistryClient } from '../../src/oci/index.js';
import type { Descriptor } from '../../src/oci/index.js';
import { freePort, startDistributionRegistry, startReferrersRegistry, type RunningRegistry } from '../helpers/registries.js';
import { startRevocationServer, type RevocationServer } from '../helpers/revocation-server.js';
import { createTlsMaterial, type TlsMaterial } from '../helpers/tls.js';
import {
  createWorkspace,
  flipSignatureBit,
  pushImage,
  signAndPush,
  SIGNERS,
  trustedIdentity,
  uniqueId,
  type PolicyStatement,
  type Workspace,
} from './support/fixtures.js';
import {
  codeOf,
  eventually,
  GrpcClient,
  grpcCodeOf,
  HttpsClient,
  startVouch,
  type ProviderItem,
  type VerificationResultJson,
  type VouchProcess,
} from './support/vouch-process.js';

const RUN = uniqueId();
const DIST_USER = 'alice';
const DIST_PASSWORD = `secret-${RUN}`;
const MAX_KEYS = 5000;
const MAX_REQUEST_BYTES = 1024 * 1024;

interface Case {
  key: string;
  expect: string;
}

let olareg: RunningRegistry;
let dist: RunningRegistry;
let distWrongPassword: RunningRegistry;
let revocation: RevocationServer;
let tls: TlsMaterial;
let ws: Workspace;
let vouch: VouchProcess;
let http: HttpsClient;
let rpc: GrpcClient;
let closedHost: string;
const forbiddenHost = 'forbidden.example.com';

/** Repositories, digests and the expected verdict per key, filled in by test.before. */
const cases: Case[] = [];
const digests = new Map<string, Descriptor>();
let stagingSignedKey = '';
let matrixAnswer: ProviderItem[] = [];

const repo = (name: string) => `e2e-${RUN}/${name}`;
const ref = (registry: RunningRegistry, name: string, tagOrDigest = ':v1') => `${registry.host}/${repo(name)}${tagOrDigest}`;

function prodStatements(): PolicyStatement[] {
  const scoped = ['signed', 'staging-signed', 'unsigned', 'tampered', 'expired'];
  return [
    {
      name: 'prod-images',
      registryScopes: [
        ...[olareg, dist].flatMap((r) => scoped.map((name) => `${r.host}/${repo(name)}`)),
        `${closedHost}/${repo('app')}`,
        `${distWrongPassword.host}/${repo('app')}`,
      ],
      trustStores: ['ca:prod'],
      trustedIdentities: [trustedIdentity(SIGNERS.prod)],
    },
    {
      name: 'prod-revocable',
      registryScopes: [`${olareg.host}/${repo('revoked')}`, `${olareg.host}/${repo('revocable-good')}`],
      trustStores: ['ca:revocation'],
      trustedIdentities: ['*'],
    },
  ];
}

const stagingStatements = (overrides: Partial<PolicyStatement> = {}): PolicyStatement[] => [
  {
    name: 'staging-all',
    registryScopes: ['*'],
    trustStores: ['ca:staging'],
    trustedIdentities: [trustedIdentity(SIGNERS.staging)],
    ...overrides,
  },
];

test.before(async () => {
  let revocationServer: RevocationServer | undefined;
  [olareg, dist, distWrongPassword, revocationServer, tls, ws, closedHost] = await Promise.all([
    startReferrersRegistry(),
    startDistributionRegistry({ auth: { kind: 'htpasswd', username: DIST_USER, password: DIST_PASSWORD } }),
    startDistributionRegistry({ auth: { kind: 'htpasswd', username: 'bob', password: 'the-right-one' } }),
    startRevocationServer(),
    createTlsMaterial(),
    createWorkspace(),
    freePort().then((port) => `127.0.0.1:${port}`),
  ]);
  revocation = revocationServer;

  // ---- images and signatures on both registries ----
  const pusher = new RegistryClient({
    hosts: {
      [olareg.host]: { plainHttp: true },
      [dist.host]: { plainHttp: true, username: DIST_USER, password: DIST_PASSWORD },
    },
  });
  try {
    const { prod, staging } = ws.identities;
    for (const registry of [olareg, dist]) {
      const at = (name: string) => pusher.repository(registry.host, repo(name));
      const image = async (name: string) => {
        const descriptor = await pushImage(at(name), 'v1');
        digests.set(`${registry.host}/${name}`, descriptor);
        return descriptor;
      };
      const signed = await image('signed');
      await signAndPush(at('signed'), signed, prod);
      await signAndPush(at('staging-signed'), await image('staging-signed'), staging, { format: 'cose' });
      await image('unsigned');
      await signAndPush(at('tampered'), await image('tampered'), prod, { tamper: flipSignatureBit });
      await signAndPush(at('expired'), await image('expired'), prod, { expired: true });
      await signAndPush(at('out-of-scope'), await image('out-of-scope'), prod);

      cases.push(
        { key: `[prod]${ref(registry, 'signed')}`, expect: 'verified' },
        { key: `[prod]${ref(registry, 'signed', `@${signed.digest}`)}`, expect: 'verified' },
        { key: ref(registry, 'signed'), expect: 'verified' }, // no prefix: defaultEnvironment prod
        { key: `[staging]${ref(registry, 'signed')}`, expect: 'UNTRUSTED_SIGNER' },
        { key: `[prod]${ref(registry, 'staging-signed')}`, expect: 'UNTRUSTED_SIGNER' },
        { key: `[staging]${ref(registry, 'staging-signed')}`, expect: 'verified' },
        { key: `[prod]${ref(registry, 'unsigned')}`, expect: 'NO_SIGNATURE' },
        { key: `[prod]${ref(registry, 'tampered')}`, expect: 'INVALID_SIGNATURE' },
        { key: `[prod]${ref(registry, 'expired')}`, expect: 'EXPIRED' },
        { key: `[prod]${ref(registry, 'out-of-scope')}`, expect: 'NO_TRUST_POLICY' },
        { key: `[prod]${ref(registry, 'signed', ':no-such-tag')}`, expect: 'NOT_FOUND' },
      );
    }
    stagingSignedKey = `[staging]${ref(olareg, 'staging-signed')}`;

    // A leaf of the revocation test PKI (OCSP and CRL online), revoked before vouch ever sees it,
    // and a sibling leaf of the same CA that is not revoked.
    revocation.revoke(revocation.leaf, { revokedAt: new Date(Date.now() - 60_000) });
    revocation.setOcsp(revocation.leaf, 'revoked');
    const revocable = (leaf: RevocationServer['leaf']) => ({
      privateKey: KeyObject.from(leaf.keys.privateKey),
      certificateChain: revocation.chain(leaf),
    });
    const at = (name: string) => pusher.repository(olareg.host, repo(name));
    await signAndPush(at('revoked'), await pushImage(at('revoked'), 'v1'), revocable(revocation.leaf));
    await signAndPush(at('revocable-good'), await pushImage(at('revocable-good'), 'v1'), revocable(revocation.leafCrlOnly));
    await ws.addCa('prod', 'revocation', [revocation.root.certificate]);
    cases.push(
      { key: `[prod]${ref(olareg, 'revoked')}`, expect: 'REVOKED' },
      { key: `[prod]${ref(olareg, 'revocable-good')}`, expect: 'verified' },
    );
  } finally {
    await pusher.close();
  }

  // Undecided keys: the error codes.
  cases.push(
    { key: '[prod]Not A Reference!', expect: 'INVALID_REFERENCE' },
    { key: `[qa]${ref(olareg, 'signed')}`, expect: 'UNKNOWN_ENVIRONMENT' },
    { key: `[prod]${closedHost}/${repo('app')}:v1`, expect: 'REGISTRY_UNAVAILABLE' },
    { key: `[prod]${distWrongPassword.host}/${repo('app')}:v1`, expect: 'REGISTRY_AUTH' },
    { key: `[prod]${forbiddenHost}/${repo('app')}:v1`, expect: 'REGISTRY_NOT_ALLOWED' },
  );

  // ---- trust policies and the configuration, written now ----
  await ws.writePolicy('prod', prodStatements());
  await ws.writePolicy('staging', stagingStatements());
  const configFile = await ws.writeConfig({
    server: {
      address: '127.0.0.1:0',
      grpcAddress: '127.0.0.1:0',
      healthAddress: '127.0.0.1:0',
      tls: tls.files,
      requestTimeoutMs: 5000,
      maxRequestBytes: MAX_REQUEST_BYTES,
      maxKeys: MAX_KEYS,
    },
    defaultEnvironment: 'prod',
    environments: {
      prod: { trustPolicy: 'trustpolicy.prod.json', trustStore: 'truststore-prod' },
      staging: { trustPolicy: 'trustpolicy.staging.json', trustStore: 'truststore-staging' },
    },
    registries: {
      [olareg.host]: { plainHttp: true },
      [dist.host]: { plainHttp: true, username: DIST_USER, passwordFromEnv: 'E2E_DIST_PASSWORD' },
      [distWrongPassword.host]: { plainHttp: true, username: 'bob', password: 'not-the-password' },
      [closedHost]: { plainHttp: true },
    },
    allowedRegistries: [olareg.host, dist.host, distWrongPassword.host, closedHost],
    // The OCSP responder and CRL server are not registries: with allowedRegistries set they must be listed.
    revocation: { offline: false, allowedHosts: [new URL(revocation.url).host] },
  });

  vouch = await startVouch({ configFile, tls, env: { E2E_DIST_PASSWORD: DIST_PASSWORD } });
  http = new HttpsClient(vouch.url, tls);
  rpc = new GrpcClient(vouch.grpcAddress, tls);
  // Warm up a cold process (module loading, first crypto, first OCSP/CRL fetch) so the code matrix
  // below is never cut by the request budget on a slow machine.
  await eventually(
    async () => (await http.verify([`[prod]${ref(olareg, 'revocable-good')}`, `[prod]${ref(dist, 'signed')}`])).items.map(codeOf),
    (codes) => codes.join() === 'verified,verified',
    30_000,
    'the warm-up images verified',
  );
});

test.after.always(async () => {
  rpc?.close();
  await http?.close();
  await vouch?.stop();
  await Promise.allSettled([
    olareg?.stop(),
    dist?.stop(),
    distWrongPassword?.stop(),
    revocation?.close(),
    ws?.remove(),
    tls && rm(tls.dir, { recursive: true, force: true }),
  ]);
});

test.serial('every answer and error code through /v1/verify, on both registries, one item per key in order', async (t) => {
  const keys = [...cases.map((c) => c.key), cases[0]!.key]; // a repeated key is answered twice
  const { items } = await http.verify(keys);
  matrixAnswer = items;
  t.is(items.length, keys.length);
  t.deepEqual(
    items.map((i) => i.key),
    keys,
    'one item per key, in request order, echoing the key',
  );
  const got = items.map((item) => ({ key: item.key, code: codeOf(item) }));
  t.deepEqual(
    got,
    [...cases, cases[0]!].map((c) => ({ key: c.key, code: c.expect })),
  );

  const answerCodes: string[] = ['verified', ...ANSWER_CODES];
  for (const item of items) {
    const code = codeOf(item);
    if (answerCodes.includes(code)) {
      t.truthy(item.value, `${item.key}: ${code} is an answer (value)`);
      t.is(item.error, undefined);
    } else {
      t.is(item.value, undefined, `${item.key}: ${code} is undecided (error)`);
      t.regex(item.error ?? '', new RegExp(`^${code}: .+`));
    }
  }
  // Every code of the table but DEADLINE_EXCEEDED (deadline.test.ts) and the environment policy's
  // codes (no environment here has a policy) appears.
  t.deepEqual(
    [...new Set(got.map((g) => g.code))].sort(),
    [
      ...answerCodes.filter((code) => code !== 'POLICY_DENIED'),
      'INVALID_REFERENCE',
      'UNKNOWN_ENVIRONMENT',
      'REGISTRY_UNAVAILABLE',
      'REGISTRY_AUTH',
      'REGISTRY_NOT_ALLOWED',
    ].sort(),
  );

  // The shape of a verified answer and of a negative one.
  for (const registry of [olareg, dist]) {
    const descriptor = digests.get(`${registry.host}/signed`)!;
    const item = items.find((i) => i.key === `[prod]${ref(registry, 'signed')}`)!;
    const value = item.value as VerificationResultJson;
    t.true(value.verified);
    t.is(value.environment, 'prod');
    t.is(value.reference, `${registry.host}/${repo('signed')}@${descriptor.digest}`);
    t.is(value.digest, descriptor.digest);
    t.deepEqual(value.reasons, []);
    t.is(value.signatures.length, 1);
    t.is(value.signatures[0]!.type, 'notation');
    t.true(value.signatures[0]!.verified);
    t.is(value.signatures[0]!.trustPolicy, 'prod-images');
    t.regex(value.signatures[0]!.signer ?? '', /CN=release/);
    t.regex(value.signatures[0]!.digest, /^sha256:[a-f0-9]{64}$/);

    const untrusted = items.find((i) => i.key === `[prod]${ref(registry, 'staging-signed')}`)!.value as VerificationResultJson;
    t.false(untrusted.verified);
    t.is(untrusted.signatures[0]?.reasons[0]?.code, 'UNTRUSTED_SIGNER');
    t.regex(untrusted.signatures[0]?.signer ?? '', /CN=ci-staging/);
    const notFound = items.find((i) => i.key === `[prod]${ref(registry, 'signed', ':no-such-tag')}`)!.value as VerificationResultJson;
    t.false(notFound.verified);
    t.is(notFound.reasons[0]?.code, 'NOT_FOUND');
  }
});

test.serial('a second request is answered the same (cached), and a repeated verified key stays verified', async (t) => {
  const { items } = await http.verify(cases.map((c) => c.key));
  t.deepEqual(
    items.map(codeOf),
    cases.map((c) => c.expect),
  );
});

test.serial('/v1/mutate pins tags to digests (tag dropped) with idempotent: true', async (t) => {
  const signedOlareg = digests.get(`${olareg.host}/signed`)!;
  const signedDist = digests.get(`${dist.host}/signed`)!;
  const unsigned = digests.get(`${olareg.host}/unsigned`)!;
  const keys = [
    ref(olareg, 'signed'),
    ref(dist, 'signed'),
    `[prod]${ref(olareg, 'unsigned')}`,
    ref(olareg, 'signed', `:v1@${signedOlareg.digest}`),
    ref(olareg, 'signed', ':no-such-tag'),
    'Not A Reference!',
    `${forbiddenHost}/app:1`,
  ];
  const { status, body } = await http.provider('/v1/mutate', keys);
  t.is(status, 200);
  t.is(body.apiVersion, 'externaldata.gatekeeper.sh/v1beta1');
  t.is(body.kind, 'ProviderResponse');
  t.true(body.response.idempotent);
  t.is(body.response.systemError, undefined);
  const items = body.response.items!;
  t.deepEqual(
    items.map((i) => i.key),
    keys,
  );
  t.is(items[0]!.value, `${olareg.host}/${repo('signed')}@${signedOlareg.digest}`);
  t.is(items[1]!.value, `${dist.host}/${repo('signed')}@${signedDist.digest}`);
  t.is(items[2]!.value, `${olareg.host}/${repo('unsigned')}@${unsigned.digest}`);
  t.is(items[3]!.value, `${olareg.host}/${repo('signed')}@${signedOlareg.digest}`);
  t.deepEqual(items.slice(4).map(codeOf), ['NOT_FOUND', 'INVALID_REFERENCE', 'REGISTRY_NOT_ALLOWED']);
  for (const item of items.slice(0, 4)) t.is(item.error, undefined);
});

test.serial('gRPC Verify gives the same verdicts and codes as HTTP; grpc.health.v1 reports SERVING', async (t) => {
  t.is(await rpc.health(''), 'SERVING');
  t.is(await rpc.health('vouch.v1.Verifier'), 'SERVING');

  // Group the HTTP keys by environment: gRPC takes the environment apart from the references.
  const groups = new Map<string, Array<{ key: string; reference: string }>>();
  for (const c of cases) {
    const match = /^\[([^\]:]+)\](.*)$/.exec(c.key);
    const environment = match ? match[1]! : '';
    const reference = match ? match[2]! : c.key;
    groups.set(environment, [...(groups.get(environment) ?? []), { key: c.key, reference }]);
  }
  t.true(groups.has('') && groups.has('qa') && groups.has('staging') && groups.has('prod'));
  const httpByKey = new Map(matrixAnswer.map((item) => [item.key, item]));
  let compared = 0;
  for (const [environment, entries] of groups) {
    const { results } = await rpc.verify(
      environment,
      entries.map((e) => e.reference),
    );
    t.is(results.length, entries.length);
    results.forEach((result, i) => {
      const item = httpByKey.get(entries[i]!.key)!;
      t.is(grpcCodeOf(result), codeOf(item), `${environment || '(default)'} ${entries[i]!.reference}`);
      if (item.value !== undefined) {
        const value = item.value as VerificationResultJson;
        t.is(result.verified, value.verified);
        t.is(result.environment, value.environment);
        t.is(result.reference, value.reference);
        t.is(result.digest, value.digest ?? '');
        t.is(result.error, null);
        t.deepEqual(
          result.reasons.map((r) => r.code),
          value.reasons.map((r) => r.code),
        );
        t.deepEqual(
          result.signatures.map((s) => [s['trustPolicy'], s['verified']]),
          value.signatures.map((s) => [s.trustPolicy, s.verified]),
        );
      } else {
        t.false(result.verified);
        t.truthy(result.error?.message);
      }
      compared++;
    });
  }
  t.is(compared, cases.length);
});

test.serial('mTLS: a client without a certificate is refused on HTTPS and gRPC', async (t) => {
  const anonymous = new HttpsClient(vouch.url, tls, { clientCertificate: false });
  t.teardown(() => anonymous.close());
  await t.throwsAsync(anonymous.get('/healthz'));
  const anonymousRpc = new GrpcClient(vouch.grpcAddress, tls, { clientCertificate: false });
  t.teardown(() => anonymousRpc.close());
  await t.throwsAsync(anonymousRpc.health('', 3000));
  t.is((await http.get('/healthz')).status, 200);
});

test.serial('health listener: probes and scrapers without a client certificate reach /healthz, /readyz and /metrics only', async (t) => {
  t.regex(vouch.healthUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  const get = async (path: string, method = 'GET') => {
    const response = await request(`${vouch.healthUrl}${path}`, { method, body: method === 'POST' ? '{"request":{"keys":[]}}' : null });
    return { status: response.statusCode, text: await response.body.text() };
  };
  t.is((await get('/healthz')).status, 200);
  const ready = await get('/readyz');
  t.is(ready.status, 200);
  t.true((JSON.parse(ready.text) as { ready: boolean }).ready);
  const metrics = await get('/metrics');
  t.is(metrics.status, 200);
  t.regex(metrics.text, /vouch_/);
  // the provider endpoints are never served without TLS and the client certificate
  t.is((await get('/v1/verify', 'POST')).status, 404);
  t.is((await get('/v1/mutate', 'POST')).status, 404);
});

test.serial('bad input gets a clear answer and the server stays healthy', async (t) => {
  const systemError = (text: string): string | undefined =>
    (JSON.parse(text) as { kind?: string; response?: { systemError?: string; items?: unknown } }).response?.systemError;

  const malformed = await http.send('POST', '/v1/verify', '{"apiVersion": "externaldata.gatekeeper.sh/v1beta1", "request": {"keys": [');
  t.is(malformed.status, 400);
  t.regex(systemError(malformed.text) ?? '', /JSON/);

  const notAnObject = await http.send('POST', '/v1/verify', '["a"]');
  t.is(notAnObject.status, 400);
  t.truthy(systemError(notAnObject.text));

  const noKeys = await http.send('POST', '/v1/verify', '{"request": {}}');
  t.is(noKeys.status, 400);
  t.regex(systemError(noKeys.text) ?? '', /keys/);

  const wrongKind = await http.send('POST', '/v1/verify', '{"kind": "AdmissionReview", "request": {"keys": []}}');
  t.is(wrongKind.status, 400);
  t.regex(systemError(wrongKind.text) ?? '', /kind/);

  const nonStringKey = await http.send('POST', '/v1/mutate', '{"request": {"keys": ["a", 7]}}');
  t.is(nonStringKey.status, 400);
  t.regex(systemError(nonStringKey.text) ?? '', /keys\[1\]/);

  // Over maxRequestBytes, announced by Content-Length.
  const huge = JSON.stringify({ request: { keys: ['x'.repeat(2 * MAX_REQUEST_BYTES)] } });
  const tooBig = await http.send('POST', '/v1/verify', huge);
  t.is(tooBig.status, 413);
  t.regex(systemError(tooBig.text) ?? '', /limit/);
  // Over maxRequestBytes without a Content-Length (chunked), on a connection of its own: see the
  // failing test below for what happens to that connection afterwards.
  const streaming = new HttpsClient(vouch.url, tls);
  try {
    const tooBigChunked = await streaming.send('POST', '/v1/verify', oversizedChunkedBody());
    t.is(tooBigChunked.status, 413);
    t.regex(systemError(tooBigChunked.text) ?? '', /limit/);
  } finally {
    await streaming.close();
  }

  // More keys than maxKeys: systemError, no items.
  const manyKeys = Array.from({ length: 10_000 }, (_, i) => `${olareg.host}/${repo('many')}:t${i}`);
  const tooMany = await http.provider('/v1/verify', manyKeys);
  t.is(tooMany.status, 413);
  t.regex(tooMany.body.response.systemError ?? '', /10000 keys.*5000/);
  t.is(tooMany.body.response.items, undefined);
  await t.throwsAsync(rpc.verify('prod', manyKeys), { message: /RESOURCE_EXHAUSTED|more than the limit/ });

  // Wrong method and unknown routes.
  const get = await http.get('/v1/verify');
  t.is(get.status, 405);
  t.is(get.headers['allow'], 'POST');
  t.truthy(systemError(get.text));
  const put = await http.send('PUT', '/v1/mutate', '{}');
  t.is(put.status, 405);
  t.is((await http.get('/v2/nothing-here')).status, 404);

  // Still healthy, still answering.
  t.false(vouch.hasExited());
  t.is((await http.get('/healthz')).status, 200);
  t.is((await http.get('/readyz')).status, 200);
  const { items } = await http.verify([`[prod]${ref(olareg, 'signed')}`, `[prod]${ref(dist, 'unsigned')}`]);
  t.deepEqual(items.map(codeOf), ['verified', 'NO_SIGNATURE']);
  t.is(grpcCodeOf((await rpc.verify('prod', [ref(dist, 'signed')])).results[0]!), 'verified');
});

// A chunked body over maxRequestBytes cannot be read to its end, so the connection cannot carry
// another request: the 413 says `Connection: close` and the server closes the connection, and the
// next request on a new connection is answered. (Raw HTTP/1.1 over TLS, to be deterministic.)
test.serial('a chunked body over maxRequestBytes gets a 413 with Connection: close, and the server keeps serving', async (t) => {
  const { hostname, port } = new URL(vouch.url);
  const socket = connectTls({ host: hostname, port: Number(port), ...tls.clientOptions, servername: 'localhost' });
  t.teardown(() => socket.destroy());
  await once(socket, 'secureConnect');
  let received = '';
  let closed = false;
  socket.setEncoding('utf8');
  socket.on('data', (text: string) => (received += text));
  socket.on('error', () => {});
  socket.on('close', () => (closed = true));
  const responses = () => received.match(/^HTTP\/1\.1 \d{3}/gm) ?? [];

  socket.write('POST /v1/verify HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
  for await (const chunk of oversizedChunkedBody()) {
    if (closed) break;
    socket.write(`${chunk.length.toString(16)}\r\n${Buffer.from(chunk).toString()}\r\n`);
  }
  if (!closed) socket.write('0\r\n\r\n');
  await eventually(
    async () => responses(),
    (r) => r.length === 1,
    5_000,
    'the 413',
  );
  t.regex(received, /^HTTP\/1\.1 413 /);
  t.regex(received, /connection: close/i);
  await eventually(
    async () => closed,
    (c) => c,
    5_000,
    'the server closing the connection',
  );
  t.is((await http.get('/healthz')).status, 200);
});

test.serial('trust material reload: a changed trust policy file changes the next answer, without a restart', async (t) => {
  const pid = vouch.pid;
  const answer = async () => codeOf((await http.verify([stagingSignedKey])).items[0]!);
  const generation = async () => {
    const ready = (await http.get('/readyz')).json as { detail: Array<{ name: string; generation: number }> };
    return ready.detail.find((e) => e.name === 'staging')!.generation;
  };
  t.is(await answer(), 'verified');
  const before = await generation();

  // The repository falls out of the environment's scopes.
  await ws.writePolicy('staging', stagingStatements({ registryScopes: [`${olareg.host}/${repo('something-else')}`] }));
  await eventually(answer, (code) => code === 'NO_TRUST_POLICY', 10_000, 'NO_TRUST_POLICY after narrowing the scopes');
  t.true((await generation()) > before);
  const viaGrpc = (await rpc.verify('staging', [stagingSignedKey.replace('[staging]', '')])).results[0]!;
  t.is(grpcCodeOf(viaGrpc), 'NO_TRUST_POLICY');

  // The trusted identity switches to prod's signer (the chain is still anchored in ca:staging).
  await ws.writePolicy('staging', stagingStatements({ trustedIdentities: [trustedIdentity(SIGNERS.prod)] }));
  await eventually(answer, (code) => code === 'UNTRUSTED_SIGNER', 10_000, 'UNTRUSTED_SIGNER after switching the identity');

  // Back to the original policy.
  await ws.writePolicy('staging', stagingStatements());
  await eventually(answer, (code) => code === 'verified', 10_000, 'verified after restoring the policy');

  t.is(vouch.pid, pid);
  t.false(vouch.hasExited());
  t.truthy(vouch.logs().find((l) => l.msg === 'trust material reloaded' && JSON.stringify(l).includes('staging')));
  // prod was not touched by any of this.
  t.is(codeOf((await http.verify([`[prod]${ref(olareg, 'signed')}`])).items[0]!), 'verified');
});

test.serial('/metrics counts requests, outcomes and registry requests; one JSON log line per request', async (t) => {
  // ---- log lines: one "provider request" line per answered /v1/verify request ----
  const requestLines = () => vouch.logs().filter((l) => l.msg === 'provider request' && l['route'] === '/v1/verify');
  await eventually(
    async () => requestLines().length,
    (n) => n === HttpsClient.verifyRequests,
    5_000,
    `${HttpsClient.verifyRequests} request log lines`,
  );
  t.is(requestLines().length, HttpsClient.verifyRequests);
  // The line of the code-matrix request: key count, duration and outcomes by code.
  const expected: Record<string, number> = {};
  for (const item of matrixAnswer) expected[codeOf(item)] = (expected[codeOf(item)] ?? 0) + 1;
  const line = requestLines().find((l) => l['keys'] === matrixAnswer.length);
  t.truthy(line, 'a log line for the code-matrix request');
  t.is(typeof line?.['durationMs'], 'number');
  t.true((line?.['durationMs'] as number) >= 0);
  t.deepEqual(line?.['outcomes'], expected);
  t.true(vouch.logs().some((l) => l.msg === 'provider request' && l['route'] === 'grpc:Verify'));
  t.true(vouch.logs().some((l) => l.msg === 'bad provider request'));

  // ---- metrics ----
  const metrics = await http.get('/metrics');
  t.is(metrics.status, 200);
  t.regex(String(metrics.headers['content-type']), /^text\/plain/);
  const samples = parsePrometheus(metrics.text);
  const value = (name: string, labels: Record<string, string>): number =>
    samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((sum, s) => sum + s.value, 0);

  t.is(value('vouch_request_duration_seconds_count', { route: '/v1/verify', status: '200' }), HttpsClient.verifyRequests);
  t.true(value('vouch_request_duration_seconds_count', { route: '/v1/verify', status: '413' }) >= 3);
  t.true(value('vouch_request_duration_seconds_count', { route: '/v1/verify', status: '400' }) >= 1);
  t.true(value('vouch_request_duration_seconds_count', { route: '/v1/mutate', status: '200' }) >= 1);
  t.true(value('vouch_request_duration_seconds_count', { route: 'grpc:Verify', status: 'OK' }) >= 1);
  for (const code of Object.keys(expected)) {
    t.true(value('vouch_key_outcomes_total', { route: '/v1/verify', outcome: code }) >= expected[code]!, `outcome ${code}`);
  }
  t.true(value('vouch_key_outcomes_total', { route: 'grpc:Verify', outcome: 'verified' }) >= 1);
  t.true(value('vouch_key_outcomes_total', { route: '/v1/mutate', outcome: 'pinned' }) >= 4);
  t.true(value('vouch_registry_requests_total', { host: olareg.host, status: '200' }) >= 1);
  t.true(value('vouch_registry_requests_total', { host: dist.host, status: '200' }) >= 1);
  t.true(value('vouch_registry_requests_total', { host: distWrongPassword.host, status: '401' }) >= 1);
  t.true(value('vouch_registry_requests_total', { host: closedHost, status: 'error' }) >= 1);
  t.true(value('vouch_cache_lookups_total', { result: 'hit' }) >= 1);
  t.is(value('vouch_registry_requests_total', { host: forbiddenHost }), 0, 'a registry that is not allowed is never contacted');
});

/** A ProviderRequest body of about 2.5 MiB, streamed (chunked, no Content-Length). */
async function* oversizedChunkedBody(): AsyncGenerator<Uint8Array> {
  const encoder = new TextEncoder();
  const chunk = encoder.encode('x'.repeat(64 * 1024));
  yield encoder.encode('{"request": {"keys": ["');
  for (let i = 0; i < 40; i++) yield chunk;
  yield encoder.encode('"]}}');
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (enough of the format for these checks). */
function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const l of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}
