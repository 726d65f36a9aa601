// ProviderRequest parsing (src/server/provider-protocol.ts): the cases fuzzing found. The wire format
// as a whole is tested through the servers (http.test.ts, grpc.test.ts).

import test from 'ava';
import { BadProviderRequest, parseProviderRequest } from '../../../src/server/provider-protocol.js';

const body = (text: string) => new TextEncoder().encode(text);

// found by fuzzing: the message quoted a wrong `kind` or `apiVersion` with JSON.stringify, which
// recurses: 10 000 nested arrays (a 20 KB body) threw a RangeError instead of a 400
test('parseProviderRequest: a deeply nested kind or apiVersion is a 400 naming its type', (t) => {
  for (const field of ['kind', 'apiVersion']) {
    const nested = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const error = t.throws(() => parseProviderRequest(body(`{"${field}":${nested},"request":{"keys":[]}}`), 10), {
      instanceOf: BadProviderRequest,
    });
    t.is(error?.status, 400);
    t.regex(error?.message ?? '', /got an array$/);
  }
});

test('parseProviderRequest: a wrong kind string is quoted and shortened', (t) => {
  const error = t.throws(() => parseProviderRequest(body(`{"kind":"${'x'.repeat(5000)}","request":{"keys":[]}}`), 10), {
    instanceOf: BadProviderRequest,
  });
  t.true((error?.message.length ?? 0) < 200);
});
