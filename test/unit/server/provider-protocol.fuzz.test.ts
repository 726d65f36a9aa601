// Property tests of ProviderRequest bodies (src/server/provider-protocol.ts and the HTTP server that
// reads them; docs/reliability.md "Fuzzing"): any body gives keys or a BadProviderRequest (400/413) —
// the one typed refusal of this module, which the servers turn into a systemError — never another throw;
// over HTTP every body gets a JSON ProviderResponse and the server keeps serving.

import test from 'ava';
import { pino } from 'pino';
import { VouchError } from '../../../src/core/index.js';
import { ProviderHttpServer } from '../../../src/server/http.js';
import { ProviderMetrics } from '../../../src/server/metrics.js';
import { BadProviderRequest, parseProviderRequest, type ProviderBackend } from '../../../src/server/provider-protocol.js';
import { parseKey, type KeyResult } from '../../../src/verify/index.js';
import {
  assertRoughlyLinear,
  checkAsyncProperty,
  checkProperty,
  deeplyNested,
  fc,
  hostileJsonValue,
  hostileText,
  HANG_BOUND_MS,
  withProtoMember,
} from '../../helpers/fuzz.js';

const encoder = new TextEncoder();
const MAX_KEYS = 50;

function parseOutcome(bytes: Uint8Array): string[] | BadProviderRequest {
  const started = performance.now();
  try {
    return parseProviderRequest(bytes, MAX_KEYS);
  } catch (error) {
    if (!(error instanceof BadProviderRequest)) throw new Error(`untyped throw: ${String(error)}`);
    if (error.status !== 400 && error.status !== 413) throw new Error(`status ${error.status}`);
    if (error.message.length > 1000) throw new Error(`message of ${error.message.length} characters echoes the input`);
    return error;
  } finally {
    if (performance.now() - started > HANG_BOUND_MS) throw new Error('hang');
  }
}

const key = fc.oneof(
  hostileText,
  fc.constantFrom('registry.example/app:1', '[prod]registry.example/app:1', '[::1]:5000/app', 'alpine', `a@sha256:${'a'.repeat(64)}`),
);
/** Bodies near the wire format: the real shape with fields retyped, repeated, nested, or `__proto__`. */
const body = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  hostileJsonValue.map((v) => encoder.encode(JSON.stringify(v) ?? '')),
  fc
    .record(
      {
        apiVersion: fc.oneof(fc.constant('externaldata.gatekeeper.sh/v1beta1'), hostileJsonValue),
        kind: fc.oneof(fc.constant('ProviderRequest'), hostileJsonValue),
        request: fc.oneof(fc.record({ keys: fc.oneof(fc.array(key, { maxLength: MAX_KEYS + 5 }), hostileJsonValue) }), hostileJsonValue),
      },
      { requiredKeys: [] },
    )
    .chain((record) =>
      fc.constantFrom(
        JSON.stringify(record),
        withProtoMember(JSON.stringify(record), '{"keys":["x"]}'),
        JSON.stringify(record).replace(/^\{/, '{"request":{"keys":[1]},'),
        JSON.stringify(record).replace(/^\{/, `{"kind":${deeplyNested(20_000)},`),
      ),
    )
    .map((text) => encoder.encode(text)),
);

test('parseProviderRequest: any body gives keys or a 400/413 BadProviderRequest', (t) => {
  checkProperty(t, [body], (bytes) => {
    const outcome = parseOutcome(bytes);
    if (Array.isArray(outcome) && (outcome.length > MAX_KEYS || !outcome.every((k) => typeof k === 'string'))) {
      throw new Error(`accepted ${outcome.length} keys`);
    }
  });
});

test('parseProviderRequest: time grows linearly with the body', (t) => {
  assertRoughlyLinear(
    t,
    'keys',
    (n) => encoder.encode(JSON.stringify({ request: { keys: Array.from({ length: n / 10 }, (_, i) => `k${i}`) } })),
    (b: Uint8Array) => {
      try {
        parseProviderRequest(b, 1e9);
      } catch {}
    },
  );
  assertRoughlyLinear(
    t,
    'nesting',
    (n) => encoder.encode(`{"kind":${deeplyNested(n / 2)}}`),
    (b: Uint8Array) => parseOutcome(b),
  );
});

// ---- over HTTP, with the real key parser behind it ----

const backend: ProviderBackend = {
  async verify(keys) {
    return keys.map((k): KeyResult => {
      try {
        parseKey(k, 'prod', (name) => name === 'prod');
        return { key: k, error: { code: 'NOT_FOUND', message: 'no such image here' } };
      } catch (error) {
        if (!(error instanceof VouchError)) throw error;
        return { key: k, error: { code: error.code, message: error.message } };
      }
    });
  },
  async mutate(keys) {
    return keys.map((k) => ({ key: k, error: { code: 'NOT_FOUND' as const, message: 'no such image here' } }));
  },
};

test('http: every body gets a JSON ProviderResponse, and the server keeps serving', async (t) => {
  const server = new ProviderHttpServer({
    backend,
    address: '127.0.0.1:0',
    requestTimeoutMs: 2000,
    maxRequestBytes: 64 * 1024,
    maxKeys: MAX_KEYS,
    logger: pino({ level: 'silent' }),
    metrics: new ProviderMetrics({ defaultMetrics: false }),
    readiness: () => ({ ready: true }),
  });
  const { url } = await server.listen();
  t.teardown(() => server.close());
  await checkAsyncProperty(
    t,
    [body, fc.constantFrom('/v1/verify', '/v1/mutate')],
    async (bytes, route) => {
      const response = await fetch(`${url}${route}`, { method: 'POST', body: bytes });
      if (![200, 400, 413].includes(response.status)) throw new Error(`status ${response.status}`);
      const json = (await response.json()) as { kind?: string; response?: { items?: unknown[]; systemError?: string } };
      if (json.kind !== 'ProviderResponse') throw new Error(`answer ${JSON.stringify(json).slice(0, 200)}`);
      if (response.status !== 200 && typeof json.response?.systemError !== 'string') throw new Error('refusal without systemError');
    },
    0.2,
  );
  // A body far over the limit is refused by its size, before it is read.
  const big = new Uint8Array(10 * 1024 * 1024).fill(0x20);
  const started = performance.now();
  const response = await fetch(`${url}/v1/verify`, { method: 'POST', body: big });
  t.is(response.status, 413);
  t.true(performance.now() - started < HANG_BOUND_MS);
  // A header far over Node's limit is refused by the HTTP parser (431), and the server still answers.
  const headerResponse = await fetch(`${url}/v1/verify`, {
    method: 'POST',
    body: '{}',
    headers: { 'x-big': 'a'.repeat(1024 * 1024) },
  }).catch((error: unknown) => error);
  t.true(headerResponse instanceof Error || (headerResponse as Response).status === 431);
  t.is((await fetch(`${url}/healthz`)).status, 200);
});
