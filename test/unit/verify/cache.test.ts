// The bounded LRU cache and the per-registry semaphore the engine is built on.

import test from 'ava';
import { VouchError } from '../../../src/core/index.js';
import { KeyedSemaphore, LruCache, estimateBytes } from '../../../src/verify/index.js';

test('lru: evicts the least recently used entry past maxEntries', (t) => {
  const cache = new LruCache<string>({ maxEntries: 2, maxBytes: 1000 });
  cache.set('a', 'A', { bytes: 1, expiresAt: Infinity });
  cache.set('b', 'B', { bytes: 1, expiresAt: Infinity });
  t.is(cache.get('a', 0), 'A'); // a is now the most recent
  cache.set('c', 'C', { bytes: 1, expiresAt: Infinity });
  t.is(cache.size, 2);
  t.is(cache.get('b', 0), undefined);
  t.is(cache.get('a', 0), 'A');
  t.is(cache.get('c', 0), 'C');
});

test('lru: evicts until the byte budget holds, and refuses an entry larger than the budget', (t) => {
  const cache = new LruCache<string>({ maxEntries: 100, maxBytes: 100 });
  cache.set('a', 'A', { bytes: 40, expiresAt: Infinity });
  cache.set('b', 'B', { bytes: 40, expiresAt: Infinity });
  cache.set('c', 'C', { bytes: 40, expiresAt: Infinity });
  t.is(cache.size, 2);
  t.is(cache.bytes, 80);
  t.is(cache.get('a', 0), undefined);
  t.false(cache.set('huge', 'H', { bytes: 101, expiresAt: Infinity }));
  t.is(cache.size, 2);
  // Replacing an entry accounts for its old size.
  cache.set('b', 'B2', { bytes: 10, expiresAt: Infinity });
  t.is(cache.bytes, 50);
});

test('lru: entries expire', (t) => {
  const cache = new LruCache<string>({ maxEntries: 10, maxBytes: 1000 });
  cache.set('a', 'A', { bytes: 10, expiresAt: 100 });
  t.is(cache.get('a', 99), 'A');
  t.is(cache.get('a', 100), undefined);
  t.is(cache.size, 0);
  t.is(cache.bytes, 0);
});

test('lru: estimateBytes follows the serialised size', (t) => {
  const small = estimateBytes('k', { text: 'x' });
  t.true(small > 160 && small < 250);
  // grows with the serialised value and with the key
  t.true(estimateBytes('k', { text: 'x'.repeat(1000) }) - small >= 1700);
  t.is(estimateBytes('k'.repeat(101), { text: 'x' }) - small, 200);
});

test('semaphore: at most `permits` holders per key, FIFO, keys independent', async (t) => {
  const semaphore = new KeyedSemaphore(2);
  const r1 = await semaphore.acquire('a');
  const r2 = await semaphore.acquire('a');
  const other = await semaphore.acquire('b');
  const order: number[] = [];
  const w3 = semaphore.acquire('a').then((release) => (order.push(3), release));
  const w4 = semaphore.acquire('a').then((release) => (order.push(4), release));
  t.deepEqual(semaphore.usage('a'), { active: 2, waiting: 2 });
  r1();
  r1(); // idempotent
  const r3 = await w3;
  t.deepEqual(semaphore.usage('a'), { active: 2, waiting: 1 });
  r2();
  const r4 = await w4;
  t.deepEqual(order, [3, 4]);
  r3();
  r4();
  other();
  t.deepEqual(semaphore.usage('a'), { active: 0, waiting: 0 });
});

test('semaphore: an aborted waiter leaves the queue with DEADLINE_EXCEEDED', async (t) => {
  const semaphore = new KeyedSemaphore(1);
  const release = await semaphore.acquire('a');
  const controller = new AbortController();
  const waiting = semaphore.acquire('a', controller.signal);
  controller.abort();
  const error = await t.throwsAsync(waiting, { instanceOf: VouchError });
  t.is(error?.code, 'DEADLINE_EXCEEDED');
  t.deepEqual(semaphore.usage('a'), { active: 1, waiting: 0 });
  release();
  t.deepEqual(semaphore.usage('a'), { active: 0, waiting: 0 });
  await t.throwsAsync(semaphore.acquire('a', controller.signal), { instanceOf: VouchError });
});

test('semaphore: rejects a non-positive permit count', (t) => {
  t.throws(() => new KeyedSemaphore(0), { instanceOf: VouchError });
});
