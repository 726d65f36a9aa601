// KeyedSemaphore: permits per key, first come first served, aborts leave the queue, and keys with no
// holder and no waiter are not kept (hosts come from untrusted keys).

import test from 'ava';
import { setMaxListeners } from 'node:events';
import { VouchError } from '../../../src/core/index.js';
import { KeyedSemaphore } from '../../../src/verify/index.js';

test('semaphore: at most `permits` holders per key; waiters are served in order; release is idempotent', async (t) => {
  const semaphore = new KeyedSemaphore(2);
  const first = await semaphore.acquire('a');
  const second = await semaphore.acquire('a');
  const other = await semaphore.acquire('b');
  const order: number[] = [];
  const waiting = [1, 2, 3].map((n) => semaphore.acquire('a').then((release) => (order.push(n), release)));
  t.deepEqual(semaphore.usage('a'), { active: 2, waiting: 3 });
  first();
  first();
  const r1 = await waiting[0]!;
  t.deepEqual(semaphore.usage('a'), { active: 2, waiting: 2 });
  second();
  r1();
  const [r2, r3] = [await waiting[1]!, await waiting[2]!];
  t.deepEqual(order, [1, 2, 3]);
  r2();
  r3();
  other();
  t.deepEqual(semaphore.usage('a'), { active: 0, waiting: 0 });
});

test('semaphore: an aborted waiter leaves the queue with DEADLINE_EXCEEDED and idle keys are dropped', async (t) => {
  const semaphore = new KeyedSemaphore(1);
  const holders = await Promise.all(Array.from({ length: 100 }, (_, i) => semaphore.acquire(`host-${i}`)));
  t.is(semaphore.size, 100);
  const controller = new AbortController();
  setMaxListeners(1_000, controller.signal); // one signal shared by many waiters on purpose
  const waiters = Array.from({ length: 1_000 }, () => semaphore.acquire('host-0', controller.signal));
  t.deepEqual(semaphore.usage('host-0'), { active: 1, waiting: 1_000 });
  controller.abort(new Error('budget exhausted'));
  for (const result of await Promise.allSettled(waiters)) {
    t.is(result.status, 'rejected');
    const error = (result as PromiseRejectedResult).reason as VouchError;
    t.true(error instanceof VouchError);
    t.is(error.code, 'DEADLINE_EXCEEDED');
    t.is(error.reason, 'ABORTED');
  }
  t.deepEqual(semaphore.usage('host-0'), { active: 1, waiting: 0 });
  for (const release of holders) release();
  t.is(semaphore.size, 0);

  // A waiter aborted on a key whose holder left meanwhile does not keep the key either.
  const release = await semaphore.acquire('x');
  const late = new AbortController();
  const queued = semaphore.acquire('x', late.signal);
  late.abort();
  await t.throwsAsync(queued, { instanceOf: VouchError });
  release();
  t.is(semaphore.size, 0);
  await t.throwsAsync(semaphore.acquire('y', late.signal), { instanceOf: VouchError });
  t.is(semaphore.size, 0);
});

test('semaphore: permits must be a positive integer', (t) => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    const error = t.throws(() => new KeyedSemaphore(bad), { instanceOf: VouchError });
    t.is(error?.code, 'INVALID_CONFIG');
  }
});
