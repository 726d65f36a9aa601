// src/server/provider-protocol.ts: the ProviderResponse written by hand (providerResponseJson) is
// exactly JSON.stringify of the response, whatever the keys, values, errors and systemError hold; and
// the ProviderRequest parsing cases fuzzing found. The wire format as a whole is tested through the
// servers (http.test.ts, grpc.test.ts).

import test from 'ava';
import fc from 'fast-check';
import type { ErrorCode } from '../../../src/core/index.js';
import {
  BadProviderRequest,
  parseProviderRequest,
  providerResponseJson,
  systemErrorResponse,
  toProviderResponse,
  toVerifyResponse,
} from '../../../src/server/provider-protocol.js';
import { CompactResults } from '../../../src/verify/compact-result.js';
import type { KeyResult, VerificationResult } from '../../../src/verify/index.js';

const DIGEST = `sha256:${'c'.repeat(64)}`;

const anyText = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 30 });

function result(reference: string, message: string): VerificationResult {
  return {
    verified: false,
    environment: 'prod',
    reference,
    digest: DIGEST,
    signatures: [],
    reasons: [{ code: 'NO_SIGNATURE', message, detail: message }],
    warnings: [],
  };
}

const CODES: ErrorCode[] = ['INVALID_REFERENCE', 'REGISTRY_UNAVAILABLE', 'DEADLINE_EXCEEDED', 'UNKNOWN_ENVIRONMENT'];

test('providerResponseJson: equals JSON.stringify for verify and mutate answers with any text', (t) => {
  const compact = new CompactResults();
  const outcome = fc.tuple(anyText, anyText, fc.integer({ min: 0, max: 5 })).map(([key, text, kind]): KeyResult => {
    const reference = `r.example/${text}@${DIGEST}`;
    if (kind === 0) return { key, error: { code: CODES[text.length % CODES.length]!, message: text } };
    if (kind === 1) return { key, value: result(reference, text) };
    // A cached (compact) value, as the engine serves it.
    return { key, value: compact.compact(`prod\n1\n${reference}`, result(reference, text)).value };
  });
  fc.assert(
    fc.property(fc.array(outcome, { maxLength: 8 }), (outcomes) => {
      const verify = toVerifyResponse(outcomes);
      const mutate = toProviderResponse(outcomes);
      return providerResponseJson(verify) === JSON.stringify(verify) && providerResponseJson(mutate) === JSON.stringify(mutate);
    }),
  );
  const error = systemErrorResponse('bad "request"\n');
  t.is(providerResponseJson(error), JSON.stringify(error));
});

const body = (text: string) => new TextEncoder().encode(text);

// found by fuzzing: the message quoted a wrong `kind` or `apiVersion` with JSON.stringify, which
// recurses: 10 000 nested arrays (a 20 KB body) threw a RangeError instead of a 400
test('parseProviderRequest: a wrong kind or apiVersion is a 400 naming its type', (t) => {
  for (const field of ['kind', 'apiVersion']) {
    const nested = `${'['.repeat(20)}${']'.repeat(20)}`;
    const error = t.throws(() => parseProviderRequest(body(`{"${field}":${nested},"request":{"keys":[]}}`), 10), {
      instanceOf: BadProviderRequest,
    });
    t.is(error?.status, 400);
    t.regex(error?.message ?? '', /got an array$/);
  }
});

// found by fuzzing: JSON.parse time grows faster than linearly with nesting (1 MiB of nested arrays
// took ~0.5 s of the event loop); such a body is refused by a linear scan before it is parsed
test('parseProviderRequest: a body nested deeper than 32 levels is a 400, found without parsing it', (t) => {
  const nested = (depth: number) => body(`{"kind":${'['.repeat(depth)}${']'.repeat(depth)},"request":{"keys":[]}}`);
  const input = nested(500_000);
  const started = process.cpuUsage();
  const error = t.throws(() => parseProviderRequest(input, 10), { instanceOf: BadProviderRequest });
  const cpuMs = process.cpuUsage(started).user / 1000; // CPU time: other work on the machine does not count
  t.true(cpuMs < 100, `${Math.round(cpuMs)} ms`);
  t.is(error?.status, 400);
  t.regex(error?.message ?? '', /deeper than 32 levels/);
  // brackets inside strings are not nesting
  t.deepEqual(parseProviderRequest(body(JSON.stringify({ request: { keys: ['['.repeat(100), '\\"{'.repeat(50)] } })), 10).length, 2);
  t.throws(() => parseProviderRequest(nested(31), 10), { message: /kind must be/ });
});

test('parseProviderRequest: a wrong kind string is quoted and shortened', (t) => {
  const error = t.throws(() => parseProviderRequest(body(`{"kind":"${'x'.repeat(5000)}","request":{"keys":[]}}`), 10), {
    instanceOf: BadProviderRequest,
  });
  t.true((error?.message.length ?? 0) < 200);
});
