// The engine's byte estimate and the per-registry semaphore it is built on (the cache itself:
// test/unit/core/bounded-cache.test.ts).

import test from 'ava';
import { VouchError } from '../../../src/core/index.js';
import { KeyedSemaphore, estimateBytes } from '../../../src/verify/index.js';

test('estimateBytes follows the serialised size', (t) => {
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
