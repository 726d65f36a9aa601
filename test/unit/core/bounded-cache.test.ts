// The one bounded cache (src/core/bounded-cache.ts): entry and byte bounds, per-entry expiry on an
// injected clock, in-flight de-duplication.

import test from 'ava';
import { BoundedCache } from '../../../src/core/index.js';

test('evicts the least recently used entry past maxEntries', (t) => {
  const cache = new BoundedCache<string>({ maxEntries: 2 });
  cache.set('a', 'A');
  cache.set('b', 'B');
  t.is(cache.get('a'), 'A'); // a is now the most recent
  cache.set('c', 'C');
  t.is(cache.size, 2);
  t.is(cache.get('b'), undefined);
  t.is(cache.get('a'), 'A');
  t.is(cache.get('c'), 'C');
});

test('evicts until the byte budget holds, and refuses an entry larger than the budget', (t) => {
  const cache = new BoundedCache<string>({ maxEntries: 100, maxBytes: 100 });
  cache.set('a', 'A', { bytes: 40 });
  cache.set('b', 'B', { bytes: 40 });
  cache.set('c', 'C', { bytes: 40 });
  t.is(cache.size, 2);
  t.is(cache.bytes, 80);
  t.is(cache.get('a'), undefined);
  t.false(cache.set('huge', 'H', { bytes: 101 }));
  t.is(cache.size, 2);
  // Replacing an entry accounts for its old size.
  cache.set('b', 'B2', { bytes: 10 });
  t.is(cache.bytes, 50);
  // An entry too large for the budget also forgets the key's older value.
  t.false(cache.set('b', 'B3', { bytes: 500 }));
  t.is(cache.get('b'), undefined);
  t.is(cache.bytes, 40);
});

test('sizeOf estimates entries that set is not told the size of', (t) => {
  const cache = new BoundedCache<string>({ maxEntries: 100, maxBytes: 10, sizeOf: (value) => value.length });
  cache.set('a', 'xxxx');
  cache.set('b', 'yyyy');
  cache.set('c', 'zzzz');
  t.is(cache.bytes, 8);
  t.deepEqual([cache.get('a'), cache.get('b'), cache.get('c')], [undefined, 'yyyy', 'zzzz']);
});

test('entries expire on the injected clock', (t) => {
  let now = 1000;
  const cache = new BoundedCache<string>({ maxEntries: 10, maxBytes: 1000, now: () => now });
  cache.set('a', 'A', { bytes: 10, ttlMs: 100 });
  cache.set('forever', 'F', { bytes: 10 });
  now = 1099;
  t.is(cache.get('a'), 'A');
  now = 1100;
  t.is(cache.get('a'), undefined);
  t.is(cache.size, 1);
  t.is(cache.bytes, 10);
  now = Number.MAX_SAFE_INTEGER;
  t.is(cache.get('forever'), 'F');
  t.false(cache.set('zero', 'Z', { ttlMs: 0 }));
  t.is(cache.get('zero'), undefined);
});

test('maxEntries 0 or maxBytes 0 stores nothing', (t) => {
  for (const cache of [new BoundedCache<string>({ maxEntries: 0 }), new BoundedCache<string>({ maxEntries: 5, maxBytes: 0 })]) {
    t.false(cache.set('a', 'A'));
    t.is(cache.get('a'), undefined);
    t.is(cache.size, 0);
    cache.clear();
  }
});

test('a count bound too large to preallocate is still enforced', (t) => {
  const cache = new BoundedCache<number>({ maxEntries: 2 ** 21, maxBytes: 10 });
  for (let i = 0; i < 20; i++) cache.set(`k${i}`, i, { bytes: 1 });
  t.is(cache.size, 10);
  t.is(cache.get('k19'), 19);
  t.is(cache.get('k0'), undefined);
});

test('a count bound above the preallocated size keeps LRU order and the bound', (t) => {
  const cache = new BoundedCache<number>({ maxEntries: 5000 });
  for (let i = 0; i < 5000; i++) cache.set(`k${i}`, i);
  t.is(cache.get('k0'), 0); // k0 is now the most recent, k1 the least
  cache.set('k5000', 5000);
  t.is(cache.size, 5000);
  t.is(cache.get('k1'), undefined);
  t.is(cache.get('k0'), 0);
  t.is(cache.get('k5000'), 5000);
  cache.clear();
  t.is(cache.size, 0);
  cache.set('again', 1);
  t.is(cache.get('again'), 1);
});

test('clear forgets every entry', (t) => {
  const cache = new BoundedCache<string>({ maxEntries: 10, maxBytes: 100 });
  cache.set('a', 'A', { bytes: 5 });
  cache.set('b', 'B', { bytes: 5 });
  cache.clear();
  t.is(cache.size, 0);
  t.is(cache.bytes, 0);
  t.is(cache.get('a'), undefined);
});

test('getOrCompute: concurrent callers share one computation, then the value is cached', async (t) => {
  const cache = new BoundedCache<string>({ maxEntries: 10 });
  let calls = 0;
  let release!: (value: string) => void;
  const compute = () => {
    calls++;
    return new Promise<string>((resolve) => (release = resolve));
  };
  const first = cache.getOrCompute('k', compute);
  const second = cache.getOrCompute('k', compute);
  release('V');
  t.deepEqual(await Promise.all([first, second]), ['V', 'V']);
  t.is(await cache.getOrCompute('k', compute), 'V');
  t.is(calls, 1);
});

test('getOrCompute: a failure is not cached, and options may refuse to store a value', async (t) => {
  const cache = new BoundedCache<string>({ maxEntries: 10 });
  let calls = 0;
  await t.throwsAsync(
    cache.getOrCompute('k', async () => {
      calls++;
      throw new Error('boom');
    }),
  );
  t.is(await cache.getOrCompute('k', async () => (calls++, 'V')), 'V');
  t.is(calls, 2);
  t.is(
    await cache.getOrCompute(
      'no',
      async () => 'N',
      () => undefined,
    ),
    'N',
  );
  t.is(cache.get('no'), undefined);
});

test('purgeExpired drops expired entries without anyone reading them', (t) => {
  let now = 0;
  const cache = new BoundedCache<string>({ maxEntries: 10, now: () => now });
  cache.set('short', 'S', { ttlMs: 10, bytes: 3 });
  cache.set('long', 'L', { ttlMs: 100, bytes: 4 });
  now = 10;
  t.is(cache.size, 2);
  cache.purgeExpired();
  t.is(cache.size, 1);
  t.is(cache.bytes, 4);
  t.is(cache.get('long'), 'L');
});
