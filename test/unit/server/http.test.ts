// The provider HTTP layer with a scripted backend: wire format, limits, bad input, health,
// metrics, TLS 1.3 only, mTLS, certificate reload. The real engine is exercised end to end in
// test/e2e.

import test from 'ava';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { pino } from 'pino';
import { ProviderHttpServer } from '../../../src/server/http.js';
import { ProviderMetrics } from '../../../src/server/metrics.js';
import type { ErrorCode } from '../../../src/core/index.js';
import type { ProviderBackend } from '../../../src/server/provider-protocol.js';
import type { KeyResult, MutateResult, VerificationResult } from '../../../src/verify/index.js';
import { generateRoot } from '../../helpers/pki.js';
import { keyPemOf, pemOf, tlsCertificate } from '../../helpers/tls.js';

const silent = pino({ level: 'silent' });

/** A VerificationResult with no signatures (the server passes it through as it is). */
const verdict = (key: string, verified: boolean): VerificationResult => ({
  verified,
  environment: 'prod',
  reference: key,
  signatures: [],
  reasons: [],
  warnings: [],
});

const backend: ProviderBackend = {
  async verify(keys) {
    return keys.map((key): KeyResult =>
      key.startsWith('bad')
        ? { key, error: { code: 'INVALID_REFERENCE', message: 'nope' } }
        : { key, value: verdict(key, key.includes('good')) },
    );
  },
  async mutate(keys) {
    return keys.map((key) => ({ key, value: `${key}@sha256:${'a'.repeat(64)}` }));
  },
};

async function start(options: Partial<ConstructorParameters<typeof ProviderHttpServer>[0]> = {}) {
  const server = new ProviderHttpServer({
    backend,
    address: '127.0.0.1:0',
    requestTimeoutMs: 2000,
    maxRequestBytes: 64 * 1024,
    maxKeys: 100,
    logger: silent,
    metrics: new ProviderMetrics({ defaultMetrics: false }),
    readiness: () => ({ ready: true }),
    ...options,
  });
  const { url } = await server.listen();
  return { server, url };
}

const providerRequest = (keys: unknown) =>
  JSON.stringify({ apiVersion: 'externaldata.gatekeeper.sh/v1beta1', kind: 'ProviderRequest', request: { keys } });

test('http: /v1/verify answers one item per key, in order, errors as "CODE: message"', async (t) => {
  const { server, url } = await start();
  t.teardown(() => server.close());
  const response = await fetch(`${url}/v1/verify`, { method: 'POST', body: providerRequest(['good/a', 'bad/b', 'other/c', 'good/a']) });
  t.is(response.status, 200);
  const body = (await response.json()) as {
    apiVersion: string;
    kind: string;
    response: { idempotent: boolean; items: Array<{ key: string; value?: { verified: boolean }; error?: string }>; systemError?: string };
  };
  t.is(body.apiVersion, 'externaldata.gatekeeper.sh/v1beta1');
  t.is(body.kind, 'ProviderResponse');
  t.is(body.response.systemError, undefined);
  t.deepEqual(
    body.response.items.map((i) => i.key),
    ['good/a', 'bad/b', 'other/c', 'good/a'],
  );
  t.true(body.response.items[0]?.value?.verified);
  t.is(body.response.items[1]?.error, 'INVALID_REFERENCE: nope');
  t.false(body.response.items[2]?.value?.verified);
});

// What each code does on the wire (README "Undecided keys"): Gatekeeper caches every item, errors
// included, and never caches systemError (frameworks drivers/rego/builtin.go externalDataBuiltin).
const CODE_CASES: Array<[string, ErrorCode | 'verdict', 'item' | 'undecided']> = [
  ['k/verdict', 'verdict', 'item'],
  ['k/invalid', 'INVALID_REFERENCE', 'item'],
  ['k/unknown-env', 'UNKNOWN_ENVIRONMENT', 'item'],
  ['k/not-allowed', 'REGISTRY_NOT_ALLOWED', 'item'],
  ['k/deadline', 'DEADLINE_EXCEEDED', 'undecided'],
  ['k/unavailable', 'REGISTRY_UNAVAILABLE', 'undecided'],
  ['k/auth', 'REGISTRY_AUTH', 'undecided'],
  ['k/internal', 'INTERNAL', 'undecided'],
];

const codedBackend: ProviderBackend = {
  async verify(keys) {
    return keys.map((key): KeyResult => {
      const code = CODE_CASES.find(([k]) => k === key)![1];
      return code === 'verdict' ? { key, value: verdict(key, false) } : { key, error: { code, message: `m ${key}` } };
    });
  },
  async mutate(keys) {
    return keys.map((key): MutateResult => ({ key, error: { code: 'DEADLINE_EXCEEDED', message: 'late' } }));
  },
};

test('http: /v1/verify leaves keys undecided for now out of items and names them in systemError; decided keys stay items', async (t) => {
  const { server, url } = await start({ backend: codedBackend });
  t.teardown(() => server.close());
  const keys = CODE_CASES.map(([k]) => k);
  const response = await fetch(`${url}/v1/verify`, { method: 'POST', body: providerRequest(keys) });
  t.is(response.status, 200);
  const body = (await response.json()) as {
    response: { idempotent: boolean; items: Array<{ key: string; value?: unknown; error?: string }>; systemError?: string };
  };
  t.true(body.response.idempotent);
  t.deepEqual(
    body.response.items.map((i) => i.key),
    CODE_CASES.filter(([, , wire]) => wire === 'item').map(([k]) => k),
  );
  t.is(body.response.items[1]?.error, 'INVALID_REFERENCE: m k/invalid');
  const doc = JSON.parse(body.response.systemError!) as { message: string; undecided: Array<{ key: string; error: string }> };
  t.deepEqual(
    doc.undecided,
    CODE_CASES.filter(([, , wire]) => wire === 'undecided').map(([k, code]) => ({ key: k, error: `${code}: m ${k}` })),
  );
  // Every key decided: no systemError at all.
  const decided = (await (await fetch(`${url}/v1/verify`, { method: 'POST', body: providerRequest(['k/verdict']) })).json()) as {
    response: { systemError?: string };
  };
  t.is(decided.response.systemError, undefined);
});

test('http: /v1/mutate keeps undecided keys as items (the mutation system has no response cache; a systemError fails the batch)', async (t) => {
  const { server, url } = await start({ backend: codedBackend });
  t.teardown(() => server.close());
  const body = (await (await fetch(`${url}/v1/mutate`, { method: 'POST', body: providerRequest(['r/a:1']) })).json()) as {
    response: { items: Array<{ key: string; error?: string }>; systemError?: string };
  };
  t.deepEqual(body.response.items, [{ key: 'r/a:1', error: 'DEADLINE_EXCEEDED: late' }]);
  t.is(body.response.systemError, undefined);
});

test('http: /v1/mutate answers pinned references, idempotent', async (t) => {
  const { server, url } = await start();
  t.teardown(() => server.close());
  const body = (await (await fetch(`${url}/v1/mutate`, { method: 'POST', body: providerRequest(['r/a:1']) })).json()) as {
    response: { idempotent: boolean; items: Array<{ value: string }> };
  };
  t.true(body.response.idempotent);
  t.is(body.response.items[0]?.value, `r/a:1@sha256:${'a'.repeat(64)}`);
});

test('http: malformed, oversized and over-keyed requests get a systemError, and the server keeps serving', async (t) => {
  const { server, url } = await start({ maxRequestBytes: 2048, maxKeys: 10 });
  t.teardown(() => server.close());
  const cases: Array<[string | Uint8Array, number]> = [
    ['not json', 400],
    ['[]', 400],
    ['{"request":{}}', 400],
    ['{"request":{"keys":"x"}}', 400],
    [providerRequest([1, 2]), 400],
    ['{"kind":"Other","request":{"keys":[]}}', 400],
    [providerRequest(Array.from({ length: 11 }, (_, i) => `k${i}`)), 413],
    ['x'.repeat(4096), 413],
  ];
  for (const [body, status] of cases) {
    const response = await fetch(`${url}/v1/verify`, { method: 'POST', body });
    t.is(response.status, status, String(body).slice(0, 40));
    const json = (await response.json()) as { response: { systemError?: string } };
    t.truthy(json.response.systemError);
  }
  t.is((await fetch(`${url}/v1/verify`)).status, 405);
  t.is((await fetch(`${url}/nope`)).status, 404);
  t.is((await fetch(`${url}/v1/verify`, { method: 'POST', body: providerRequest(['good/x']) })).status, 200);
});

test('http: health, readiness and Prometheus metrics', async (t) => {
  let ready = false;
  /** The `caller` of each backend call: the route, which the engine's observer counts outcomes by. */
  const callers: Array<string | undefined> = [];
  const recording: ProviderBackend = {
    verify: (keys, options) => (callers.push(options.caller), backend.verify(keys, options)),
    mutate: (keys, options) => (callers.push(options.caller), backend.mutate(keys, options)),
  };
  const { server, url } = await start({ backend: recording, readiness: () => ({ ready, detail: { environments: ['prod'] } }) });
  t.teardown(() => server.close());
  t.is((await fetch(`${url}/healthz`)).status, 200);
  t.is((await fetch(`${url}/readyz`)).status, 503);
  ready = true;
  t.is((await fetch(`${url}/readyz`)).status, 200);
  await fetch(`${url}/v1/verify`, { method: 'POST', body: providerRequest(['good/a', 'bad/b']) });
  await fetch(`${url}/v1/mutate`, { method: 'POST', body: providerRequest(['good/a']) });
  const metrics = await (await fetch(`${url}/metrics`)).text();
  t.regex(metrics, /vouch_request_duration_seconds_bucket\{[^}]*route="\/v1\/verify"/);
  // Key outcomes are counted once, by the engine's observer (src/app), from the route the server
  // names as the caller; the server itself never counts them (no double count, same for gRPC).
  t.deepEqual(callers, ['/v1/verify', '/v1/mutate']);
  t.notRegex(metrics, /vouch_key_outcomes_total\{/);
});

test('http: /readyz on the health listener shows states only; the main listener the full detail', async (t) => {
  const readiness = () => ({
    ready: true,
    status: 'degraded',
    detail: [{ name: 'prod', state: 'degraded', withdrawn: [{ store: 'ca:acme', directory: '/etc/vouch/truststore/x509/ca/acme' }] }],
    publicDetail: [{ name: 'prod', state: 'degraded' }],
  });
  const main = await start({ readiness });
  t.teardown(() => main.server.close());
  const health = await start({ readiness, routes: 'health' });
  t.teardown(() => health.server.close());

  const full = await fetch(`${main.url}/readyz`);
  t.is(full.status, 200);
  t.deepEqual(await full.json(), { ready: true, status: 'degraded', detail: readiness().detail });
  const public_ = await fetch(`${health.url}/readyz`);
  t.is(public_.status, 200);
  const text = await public_.text();
  t.deepEqual(JSON.parse(text), { ready: true, status: 'degraded', detail: [{ name: 'prod', state: 'degraded' }] });
  t.false(text.includes('/etc/vouch'));

  // Without a publicDetail, the health listener shows no detail at all.
  const bare = await start({ readiness: () => ({ ready: false, detail: { secret: '/etc/vouch' } }), routes: 'health' });
  t.teardown(() => bare.server.close());
  const notReady = await fetch(`${bare.url}/readyz`);
  t.is(notReady.status, 503);
  t.deepEqual(await notReady.json(), { ready: false });
});

function httpsGet(url: string, options: { ca: string; cert?: string; key?: string }): Promise<{ status: number; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${url}/healthz`, { ...options, agent: false }, (res) => {
      const fingerprint = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, fingerprint }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('https: TLS 1.3 only, mTLS when a client CA is set, certificates reloaded without restart', async (t) => {
  const ca = await generateRoot({ key: 'ec-p256', subject: 'CN=vouch test CA' });
  const first = await tlsCertificate(ca, 'first');
  const dir = await mkdtemp(join(tmpdir(), 'vouch-tls-'));
  const files = { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), clientCAFile: join(dir, 'ca.crt') };
  await writeFile(files.certFile, pemOf(first));
  await writeFile(files.keyFile, keyPemOf(first));
  await writeFile(files.clientCAFile, pemOf(ca));
  const { server, url } = await start({ tls: files, tlsReloadIntervalMs: 100 });
  t.teardown(() => server.close());
  const client = await tlsCertificate(ca, 'gatekeeper');

  const ok = await httpsGet(url, { ca: pemOf(ca), cert: pemOf(client), key: keyPemOf(client) });
  t.is(ok.status, 200);
  // no client certificate: refused by mTLS
  await t.throwsAsync(httpsGet(url, { ca: pemOf(ca) }));
  // TLS 1.2 is refused
  const port = Number(new URL(url).port);
  await t.throwsAsync(
    new Promise((resolve, reject) => {
      const socket = connect(
        { host: '127.0.0.1', port, maxVersion: 'TLSv1.2', ca: pemOf(ca), cert: pemOf(client), key: keyPemOf(client) },
        () => resolve(socket.getProtocol()),
      );
      socket.on('error', reject);
    }),
  );
  // rotate the serving certificate
  const second = await tlsCertificate(ca, 'second');
  await writeFile(files.keyFile, keyPemOf(second));
  await writeFile(files.certFile, pemOf(second));
  const deadline = Date.now() + 5000;
  let seen = ok.fingerprint;
  while (seen === ok.fingerprint && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    seen = (await httpsGet(url, { ca: pemOf(ca), cert: pemOf(client), key: keyPemOf(client) }).catch(() => ({ fingerprint: seen })))
      .fingerprint;
  }
  t.not(seen, ok.fingerprint);
});

test('http: /v1/verify has requestTimeoutMs, /v1/mutate mutateTimeoutMs (default: the same)', async (t) => {
  const budgets: Record<string, number> = {};
  const recording: ProviderBackend = {
    async verify(keys, options) {
      budgets['verify'] = options.deadline - Date.now();
      return backend.verify(keys, options);
    },
    async mutate(keys, options) {
      budgets['mutate'] = options.deadline - Date.now();
      return backend.mutate(keys, options);
    },
  };
  for (const [mutateTimeoutMs, expected] of [
    [undefined, 2000],
    [700, 700],
  ] as const) {
    const { server, url } = await start({ backend: recording, ...(mutateTimeoutMs ? { mutateTimeoutMs } : {}) });
    for (const route of ['verify', 'mutate']) {
      t.is((await fetch(`${url}/v1/${route}`, { method: 'POST', body: providerRequest(['good/a']) })).status, 200);
    }
    await server.close();
    t.true(budgets['verify']! > 1900 && budgets['verify']! <= 2000, `verify budget ${budgets['verify']}`);
    t.true(budgets['mutate']! > expected - 100 && budgets['mutate']! <= expected, `mutate budget ${budgets['mutate']} vs ${expected}`);
  }
});
