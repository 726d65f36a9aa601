// ProviderRequest parsing (src/server/provider-protocol.ts): the cases fuzzing found. The wire format
// as a whole is tested through the servers (http.test.ts, grpc.test.ts).

import test from 'ava';
import { BadProviderRequest, parseProviderRequest } from '../../../src/server/provider-protocol.js';

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
