// KeyedSemaphore: permits per key, first come first served, aborts leave the queue, and keys with no
// holder and no waiter are not kept (hosts come from untrusted keys).

import test from 'ava';
import { setMaxListeners } from 'node:events';
import { VouchError } from '../../../src/core/index.js';
import { KeyedSemaphore } from '../../../src/core/index.js';

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

// ---- the total cap and round-robin between keys -----------------------------------------------------

/** Lets granted waiters' continuations run (a grant resolves a promise). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Queues a waiter on `key` that records `label` in `order` when granted and keeps its release in `held`. */
function waiter(
  semaphore: KeyedSemaphore,
  key: string,
  label: string,
  order: string[],
  held: Map<string, () => void>,
  signal?: AbortSignal,
) {
  return semaphore.acquire(key, signal).then((release) => {
    order.push(label);
    held.set(label, release);
    return release;
  });
}

test('semaphore: at most `total` permits over all keys; a freed one goes to a key waiting for the total; release is idempotent', async (t) => {
  const semaphore = new KeyedSemaphore(2, { total: 3 });
  t.is(semaphore.total, 3);
  const a1 = await semaphore.acquire('a');
  const a2 = await semaphore.acquire('a');
  const b1 = await semaphore.acquire('b');
  const order: string[] = [];
  const held = new Map<string, () => void>();
  void waiter(semaphore, 'b', 'b2', order, held);
  void waiter(semaphore, 'c', 'c1', order, held);
  await settle();
  t.deepEqual(order, [], 'both wait although b and c are under their own limit');
  t.deepEqual(semaphore.totals(), { active: 3, waiting: 2 });
  t.deepEqual(semaphore.usage('b'), { active: 1, waiting: 1 });
  a1();
  a1(); // idempotent: frees one permit, not two
  await settle();
  t.deepEqual(order, ['b2']);
  t.deepEqual(semaphore.totals(), { active: 3, waiting: 1 });
  a2();
  await settle();
  t.deepEqual(order, ['b2', 'c1']);
  t.deepEqual(semaphore.totals(), { active: 3, waiting: 0 });
  for (const release of [b1, ...held.values()]) release();
  t.deepEqual(semaphore.totals(), { active: 0, waiting: 0 });
  t.is(semaphore.size, 0);
});

test('semaphore: a freed permit goes round-robin to the keys waiting, not to the longest queue', async (t) => {
  // Host a queued 10 jobs before b and c queued one each; a holds both permits of the total cap.
  const semaphore = new KeyedSemaphore(8, { total: 2 });
  const order: string[] = [];
  const held = new Map<string, () => void>();
  held.set('a-running-1', await semaphore.acquire('a'));
  held.set('a-running-2', await semaphore.acquire('a'));
  for (let i = 1; i <= 10; i++) void waiter(semaphore, 'a', `a${i}`, order, held);
  void waiter(semaphore, 'b', 'b1', order, held);
  void waiter(semaphore, 'c', 'c1', order, held);
  t.deepEqual(semaphore.totals(), { active: 2, waiting: 12 });
  // Whoever finishes first frees a permit: the oldest holder each time.
  const releaseOldest = async (): Promise<void> => {
    const [label, release] = held.entries().next().value!;
    held.delete(label);
    release();
    await settle();
  };
  await releaseOldest();
  t.deepEqual(order, ['b1'], 'b (or c) before a second job of a');
  await releaseOldest();
  t.deepEqual(order, ['b1', 'c1']);
  while (held.size > 0) {
    t.true(semaphore.totals().active <= 2);
    await releaseOldest();
  }
  t.deepEqual(order, ['b1', 'c1', ...Array.from({ length: 10 }, (_, i) => `a${i + 1}`)], 'FIFO within a key');
  t.deepEqual(semaphore.totals(), { active: 0, waiting: 0 });
  t.is(semaphore.size, 0);
});

test('semaphore: keys waiting for the total take turns, one grant each per round', async (t) => {
  const semaphore = new KeyedSemaphore(8, { total: 3 });
  const order: string[] = [];
  const held = new Map<string, () => void>();
  for (let i = 1; i <= 3; i++) held.set(`x${i}`, await semaphore.acquire('x'));
  for (let i = 1; i <= 4; i++) void waiter(semaphore, 'a', `a${i}`, order, held);
  for (let i = 1; i <= 2; i++) void waiter(semaphore, 'b', `b${i}`, order, held);
  for (let i = 1; i <= 2; i++) void waiter(semaphore, 'c', `c${i}`, order, held);
  while (held.size > 0) {
    const [label, release] = held.entries().next().value!;
    held.delete(label);
    release();
    await settle();
    t.true(semaphore.totals().active <= 3);
  }
  // x finishes: a, b, c in the order they first queued; then a key whose job finished goes last.
  t.deepEqual(order, ['a1', 'b1', 'c1', 'b2', 'c2', 'a2', 'a3', 'a4']);
  t.is(semaphore.size, 0);
});

test('semaphore: a key at its own limit does not take a permit of the total; others get it', async (t) => {
  const semaphore = new KeyedSemaphore(1, { total: 2 });
  const order: string[] = [];
  const held = new Map<string, () => void>();
  const a = await semaphore.acquire('a');
  const b = await semaphore.acquire('b');
  void waiter(semaphore, 'a', 'a2', order, held);
  void waiter(semaphore, 'c', 'c1', order, held);
  b();
  await settle();
  t.deepEqual(order, ['c1'], 'a waits for its own permit');
  t.deepEqual(semaphore.totals(), { active: 2, waiting: 1 });
  a();
  await settle();
  t.deepEqual(order, ['c1', 'a2']);
  for (const release of held.values()) release();
  t.deepEqual(semaphore.totals(), { active: 0, waiting: 0 });
  t.is(semaphore.size, 0);
});

test('semaphore: waiters for the total that abort leave the round-robin; the next key gets the permit', async (t) => {
  const semaphore = new KeyedSemaphore(4, { total: 1 });
  const order: string[] = [];
  const held = new Map<string, () => void>();
  const holder = await semaphore.acquire('x');
  const controller = new AbortController();
  setMaxListeners(1_000, controller.signal);
  const doomed = Array.from({ length: 500 }, (_, i) => waiter(semaphore, `host-${i % 250}`, `h${i}`, order, held, controller.signal));
  void waiter(semaphore, 'good', 'good', order, held);
  t.deepEqual(semaphore.totals(), { active: 1, waiting: 501 });
  t.is(semaphore.size, 252);
  controller.abort(new Error('budget exhausted'));
  for (const result of await Promise.allSettled(doomed)) {
    t.is(result.status, 'rejected');
    const error = (result as PromiseRejectedResult).reason as VouchError;
    t.is(error.code, 'DEADLINE_EXCEEDED');
    t.is(error.reason, 'ABORTED');
  }
  t.deepEqual(semaphore.totals(), { active: 1, waiting: 1 });
  t.is(semaphore.size, 2, 'the aborted hosts are dropped');
  holder();
  await settle();
  t.deepEqual(order, ['good']);
  held.get('good')!();
  t.deepEqual(semaphore.totals(), { active: 0, waiting: 0 });
  t.is(semaphore.size, 0);
});

test('semaphore: the total must be a positive integer', (t) => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    const error = t.throws(() => new KeyedSemaphore(1, { total: bad }), { instanceOf: VouchError });
    t.is(error?.code, 'INVALID_CONFIG');
  }
  t.is(new KeyedSemaphore(1).total, Number.POSITIVE_INFINITY);
});
