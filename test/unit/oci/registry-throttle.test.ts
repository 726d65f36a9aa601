// The per-registry-host pacer (src/oci/registry-throttle.ts) on an injected clock: the adaptive
// limit (halve on throttling, grow by one per window of successes), Retry-After holding a host
// back, its cap, waiting and aborting, and the bound on remembered hosts.

import test from 'ava';
import { VouchError } from '../../../src/core/index.js';
import { parseRetryAfter, RegistryThrottle, type ThrottlePermit } from '../../../src/oci/registry-throttle.js';

/** A clock whose sleeps resolve only when the test advances it past their end. */
class FakeClock {
  t = 1_000_000;
  readonly #sleepers: Array<{ until: number; resolve: () => void; reject: (e: unknown) => void }> = [];
  now = (): number => this.t;
  sleep = (ms: number, signal: AbortSignal | undefined): Promise<void> =>
    new Promise((resolve, reject) => {
      const sleeper = { until: this.t + ms, resolve, reject };
      this.#sleepers.push(sleeper);
      signal?.addEventListener('abort', () => reject(new VouchError('DEADLINE_EXCEEDED', 'aborted', { reason: 'ABORTED' })), {
        once: true,
      });
    });
  get sleeping(): number {
    return this.#sleepers.length;
  }
  async advance(ms: number): Promise<void> {
    this.t += ms;
    for (const s of this.#sleepers.filter((x) => x.until <= this.t)) {
      this.#sleepers.splice(this.#sleepers.indexOf(s), 1);
      s.resolve();
    }
    await settle();
  }
}

/** Lets resolved promises run their continuations. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

function throttle(clock: FakeClock, options: { maxInFlight?: number; maxRetryAfterMs?: number; maxHosts?: number } = {}) {
  const changes: Array<[string, number]> = [];
  const instance = new RegistryThrottle({
    now: clock.now,
    sleep: clock.sleep,
    onLimitChange: (host, limit) => changes.push([host, limit]),
    ...options,
  });
  return { throttle: instance, changes };
}

const H = 'registry.example:5000';

test('limit: starts at the maximum; requests beyond it wait for a slot and get it first come first served', async (t) => {
  const clock = new FakeClock();
  const { throttle: th } = throttle(clock, { maxInFlight: 2 });
  const a = await th.acquire(H);
  const b = await th.acquire(H);
  const order: string[] = [];
  const c = th.acquire(H).then((p) => (order.push('c'), p));
  const d = th.acquire(H).then((p) => (order.push('d'), p));
  await settle();
  t.deepEqual(order, []);
  t.like(th.state(H), { limit: 2, inFlight: 2, waiting: 2 });
  a.release({ kind: 'answered' });
  await settle();
  t.deepEqual(order, ['c']);
  b.release({ kind: 'answered' });
  await settle();
  t.deepEqual(order, ['c', 'd']);
  (await c).release({ kind: 'answered' });
  (await d).release({ kind: 'answered' });
  t.like(th.state(H), { inFlight: 0, waiting: 0 });
  // Other hosts are not held back by this one.
  const other = await th.acquire('other.example');
  other.release({ kind: 'answered' });
});

test('tryAcquire: a permit at once only when the host is free, not held back and nobody waits', async (t) => {
  const clock = new FakeClock();
  const { throttle: th } = throttle(clock, { maxInFlight: 1 });
  const first = th.tryAcquire(H);
  t.truthy(first);
  t.is(th.tryAcquire(H), undefined, 'at the limit');
  const queued = th.acquire(H);
  first!.release({ kind: 'answered' });
  t.is(th.tryAcquire(H), undefined, 'a waiter is woken first: no jumping the queue');
  (await queued).release({ kind: 'throttled', retryAfterMs: 1_000 });
  t.is(th.tryAcquire(H), undefined, 'held back');
  await clock.advance(1_000);
  const later = th.tryAcquire(H);
  t.truthy(later);
  later!.release({ kind: 'answered' });
  t.like(th.state(H), { inFlight: 0, waiting: 0 });
});

test('AIMD: a throttling answer halves the limit down to 1 and additive increase brings it back', async (t) => {
  const clock = new FakeClock();
  const { throttle: th, changes } = throttle(clock, { maxInFlight: 8 });
  for (const expected of [4, 2, 1, 1]) {
    (await th.acquire(H)).release({ kind: 'throttled', retryAfterMs: undefined });
    t.is(th.state(H).limit, expected);
  }
  // One more slot per window of `limit` successes: 1 → 2 after 1, → 3 after 2 more, …
  let successes = 0;
  while (th.state(H).limit < 8) {
    (await th.acquire(H)).release({ kind: 'answered' });
    successes++;
  }
  t.is(successes, 1 + 2 + 3 + 4 + 5 + 6 + 7);
  (await th.acquire(H)).release({ kind: 'answered' });
  t.is(th.state(H).limit, 8, 'never above the maximum');
  t.deepEqual(
    changes.map(([, l]) => l),
    [4, 2, 1, 2, 3, 4, 5, 6, 7, 8],
  );
  // A failure without an answer (connection, timeout) says nothing about throttling.
  (await th.acquire(H)).release({ kind: 'failed' });
  t.is(th.state(H).limit, 8);
});

test('AIMD: answers to requests sent before a decrease do not halve again (one decrease per round)', async (t) => {
  const clock = new FakeClock();
  const { throttle: th } = throttle(clock, { maxInFlight: 16 });
  const permits: ThrottlePermit[] = [];
  for (let i = 0; i < 8; i++) permits.push(await th.acquire(H));
  for (const p of permits) p.release({ kind: 'throttled', retryAfterMs: undefined });
  t.is(th.state(H).limit, 8);
  // A request sent after the decrease that is throttled again halves once more.
  (await th.acquire(H)).release({ kind: 'throttled', retryAfterMs: undefined });
  t.is(th.state(H).limit, 4);
});

test('Retry-After: requests to the host wait until then, others do not; the wait is capped', async (t) => {
  const clock = new FakeClock();
  const { throttle: th } = throttle(clock, { maxInFlight: 4, maxRetryAfterMs: 30_000 });
  (await th.acquire(H)).release({ kind: 'throttled', retryAfterMs: 5_000 });
  t.is(th.state(H).notBefore, clock.t + 5_000);
  let sent = false;
  const next = th.acquire(H).then((p) => {
    sent = true;
    return p;
  });
  await settle();
  t.false(sent);
  (await th.acquire('elsewhere.example')).release({ kind: 'answered' });
  await clock.advance(4_999);
  t.false(sent);
  await clock.advance(1);
  t.true(sent);
  (await next).release({ kind: 'answered' });

  // A day-long Retry-After holds the host back for maxRetryAfterMs only.
  (await th.acquire(H)).release({ kind: 'throttled', retryAfterMs: 86_400_000 });
  t.is(th.state(H).notBefore, clock.t + 30_000);
  t.is(th.capRetryAfter(86_400_000), 30_000);
  t.is(th.capRetryAfter(-5), 0);
});

test('Retry-After: a caller that cannot wait as long as the host is held back fails at once with RATE_LIMITED', async (t) => {
  const clock = new FakeClock();
  const { throttle: th } = throttle(clock);
  (await th.acquire(H)).release({ kind: 'throttled', retryAfterMs: 5_000 });
  const error = await t.throwsAsync(th.acquire(H, undefined, 4_999), { instanceOf: VouchError });
  t.like(error, { code: 'REGISTRY_UNAVAILABLE', reason: 'RATE_LIMITED' });
  t.is(clock.sleeping, 0, 'no wait started');
  t.like(th.state(H), { inFlight: 0, waiting: 0 });
  const fits = th.acquire(H, undefined, 5_000);
  await clock.advance(5_000);
  (await fits).release({ kind: 'answered' });
});

test('waiting: an abort while held back or queued rejects with DEADLINE_EXCEEDED and frees the place', async (t) => {
  const clock = new FakeClock();
  const { throttle: th } = throttle(clock, { maxInFlight: 1 });
  const held = await th.acquire(H);
  const controller = new AbortController();
  const queued = th.acquire(H, controller.signal);
  await settle();
  t.is(th.state(H).waiting, 1);
  controller.abort();
  const error = await t.throwsAsync(queued);
  t.like(error, { code: 'DEADLINE_EXCEEDED' });
  t.is(th.state(H).waiting, 0);
  held.release({ kind: 'throttled', retryAfterMs: 10_000 });

  const controller2 = new AbortController();
  const sleeping = th.acquire(H, controller2.signal);
  await settle();
  t.is(clock.sleeping, 1);
  controller2.abort();
  t.like(await t.throwsAsync(sleeping), { code: 'DEADLINE_EXCEEDED' });
  t.like(th.state(H), { inFlight: 0, waiting: 0 });
  // An already aborted signal never takes a slot.
  await t.throwsAsync(th.acquire('x.example', AbortSignal.abort()));
  t.like(th.state('x.example'), { inFlight: 0, waiting: 0 });
});

test('hosts: learnt state is remembered for a bounded number of idle hosts; fresh ones take no memory', async (t) => {
  const clock = new FakeClock();
  const { throttle: th } = throttle(clock, { maxInFlight: 4, maxHosts: 3 });
  for (let i = 0; i < 10; i++) (await th.acquire(`h${i}.example`)).release({ kind: 'throttled', retryAfterMs: undefined });
  // The three most recent keep their halved limit; older ones were forgotten (back to the maximum).
  t.deepEqual(
    Array.from({ length: 10 }, (_, i) => th.state(`h${i}.example`).limit),
    [4, 4, 4, 4, 4, 4, 4, 2, 2, 2],
  );
  // A host in use is never forgotten while it has requests in flight, however many others come.
  const busy = await th.acquire('busy.example');
  busy.release({ kind: 'throttled', retryAfterMs: undefined });
  const inFlight = await th.acquire('busy.example');
  for (let i = 10; i < 20; i++) (await th.acquire(`h${i}.example`)).release({ kind: 'throttled', retryAfterMs: undefined });
  t.like(th.state('busy.example'), { limit: 2, inFlight: 1 });
  inFlight.release({ kind: 'answered' });
});

test('parseRetryAfter: delay-seconds and HTTP-date (RFC 9110 §10.2.3); garbage is ignored', (t) => {
  const now = Date.parse('2026-12-02T12:00:00Z');
  t.is(parseRetryAfter('120', now), 120_000);
  t.is(parseRetryAfter(' 0 ', now), 0);
  t.is(parseRetryAfter('Wed, 02 Dec 2026 12:00:30 GMT', now), 30_000);
  t.is(parseRetryAfter('Wednesday, 02-Dec-26 12:00:30 GMT', now), 30_000);
  t.is(parseRetryAfter('Wed Dec  2 12:00:30 2026', now) !== undefined, true);
  t.is(parseRetryAfter('Tue, 01 Dec 2026 12:00:00 GMT', now), 0, 'a date in the past: no wait');
  t.is(parseRetryAfter('99999999999999999999999', now), Number.MAX_SAFE_INTEGER, 'absurd but numeric: capped by the caller');
  for (const garbage of [undefined, '', 'soon', '-5', '1.5', '0x10', '12 s', 'Wed, 99 Foo 2026', 'x'.repeat(100)]) {
    t.is(parseRetryAfter(garbage, now), undefined, String(garbage));
  }
});
