// The engine's keyDecided event carries what the provider's metrics are counted from (src/app): the
// request's caller (the server route) and how often the request named the key.

import test from 'ava';
import type { VerificationObserver } from '../../../src/verify/index.js';
import { harness, later } from './setup.js';

test('engine: keyDecided hands back the caller and counts a repeated key once with its count', async (t) => {
  const events: string[] = [];
  const observer: VerificationObserver = {
    keyDecided: (e) => events.push(`${e.caller ?? '-'} ${e.operation} ${e.outcome} x${e.count}`),
  };
  const h = await harness({ engine: { observer } });
  t.teardown(() => h.close());
  const image = await h.image();
  const key = h.key(image.digest);
  const results = await h.engine.verify([key, '[prod]not a reference', key, key], { ...later(h), caller: '/v1/verify' });
  t.is(results.length, 4);
  await h.engine.mutate([key], { ...later(h), caller: '/v1/mutate' });
  await h.engine.verify([key], later(h));
  t.deepEqual(events.sort(), [
    '- verify VERIFIED x1',
    '/v1/mutate mutate PINNED x1',
    '/v1/verify verify INVALID_REFERENCE x1',
    '/v1/verify verify VERIFIED x3',
  ]);
});
