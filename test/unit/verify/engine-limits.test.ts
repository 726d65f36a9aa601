// The engine's bounds on background work under a flood of undecided keys (docs/security.md, attack
// item 7): a registry that accepts connections and never answers, named by many distinct keys. Work
// beyond maxPendingPerRegistry / maxPending is refused at once (DEADLINE_EXCEEDED, reason OVERLOADED)
// instead of being queued until the background budget runs out.

import test from 'ava';
import { RegistryClient } from '../../../src/oci/index.js';
import { VerificationEngine, type KeyResult, type VerificationEngineOptions } from '../../../src/verify/index.js';
import { startHungServer, type HungServer } from '../../helpers/hung-server.js';
import { REPO, harness, later, until, type Harness } from './setup.js';

const hex = (i: number): string => i.toString(16).padStart(64, '0');
/** `count` distinct digest keys on `host`, numbered from `from`. */
const digestKeys = (host: string, count: number, from = 0): string[] =>
  Array.from({ length: count }, (_, i) => `${host}/${REPO}@sha256:${hex(from + i)}`);

const overloaded = (results: Array<{ error?: { code: string; reason?: string } | undefined }>): number =>
  results.filter((r) => r.error?.code === 'DEADLINE_EXCEEDED' && r.error.reason === 'OVERLOADED').length;

interface Flood {
  h: Harness;
  hung: HungServer[];
}

/**
 * The harness (a working fake registry) plus `hungCount` hung registries its client may reach; the
 * client gives up on a request after `requestTimeoutMs` (default: never within a test).
 */
async function withFlood(
  hungCount: number,
  engine: Partial<VerificationEngineOptions>,
  fn: (f: Flood) => Promise<void>,
  requestTimeoutMs = 60_000,
): Promise<void> {
  const hung = await Promise.all(Array.from({ length: hungCount }, () => startHungServer()));
  try {
    const h = await harness({ engine, client: { plainHttpHosts: hung.map((s) => s.host), requestTimeoutMs } });
    try {
      await fn({ h, hung });
    } finally {
      await h.close();
    }
  } finally {
    await Promise.all(hung.map((s) => s.close()));
  }
}

test('engine limits: a flood of undecided keys holds at most maxPendingPerRegistry jobs; the rest are OVERLOADED at once', async (t) => {
  await withFlood(1, { maxPendingPerRegistry: 20, maxPending: 100, concurrencyPerRegistry: 4 }, async ({ h, hung }) => {
    const [slow] = hung;
    const first = await h.engine.verify(digestKeys(slow!.host, 500), { deadline: h.clock.now + 300 });
    t.true(
      first.every((r) => r.error?.code === 'DEADLINE_EXCEEDED'),
      'every key is undecided',
    );
    const stats = h.engine.stats();
    t.true(stats.inFlight <= 20, `${stats.inFlight} verifications in flight`);
    t.is(stats.pending, 20);
    t.is(overloaded(first), 480);
    t.is(stats.overloaded, 480);
    // The admitted keys ran out of request time; they were not refused.
    t.is(first.filter((r) => r.error?.reason === undefined).length, 20);
    t.true(slow!.connections <= 4, `${slow!.connections} connections to the hung registry`);

    // More new keys for the full registry: refused at once, long before the request's deadline.
    const started = Date.now();
    const second = await h.engine.verify(digestKeys(slow!.host, 100, 1_000), { deadline: h.clock.now + 8_000 });
    const elapsed = Date.now() - started;
    t.true(elapsed < 1_000, `answered after ${elapsed} ms`);
    t.is(overloaded(second), 100);
    t.is(h.engine.stats().pending, 20);
    // Nothing refused was cached: the retry is refused again (not a cache hit), never queued.
    t.is(h.engine.stats().entries, 0);
  });
});

test('engine limits: another registry is unaffected by a full one; joining running work is never refused', async (t) => {
  await withFlood(1, { maxPendingPerRegistry: 10, maxPending: 100 }, async ({ h, hung }) => {
    const [slow] = hung;
    const flood = digestKeys(slow!.host, 50);
    t.is(overloaded(await h.engine.verify(flood, { deadline: h.clock.now + 100 })), 40);

    // A working registry still verifies.
    const image = await h.image();
    const [good] = await h.engine.verify([h.key(image.digest)], later(h));
    t.true(good?.value?.verified);

    // A key whose verification is already running joins it: DEADLINE_EXCEEDED at the deadline, not OVERLOADED.
    const admitted = (await h.engine.verify(flood, { deadline: h.clock.now + 50 })).filter((r) => r.error?.reason === undefined);
    t.is(admitted.length, 10);
    const before = h.engine.stats().deduplicated;
    const joined = await h.engine.verify([admitted[0]!.key, `[prod]${admitted[1]!.key}`], { deadline: h.clock.now + 100 });
    t.deepEqual(
      joined.map((r) => [r.error?.code, r.error?.reason]),
      [
        ['DEADLINE_EXCEEDED', undefined],
        ['DEADLINE_EXCEEDED', undefined],
      ],
    );
    t.is(h.engine.stats().deduplicated, before + 2);

    // Tag resolutions are background jobs too (verify and mutate).
    const tags = Array.from({ length: 5 }, (_, i) => `${slow!.host}/${REPO}:v${i}`);
    t.is(overloaded(await h.engine.verify(tags, { deadline: h.clock.now + 100 })), 5);
    t.is(overloaded(await h.engine.mutate(tags, { deadline: h.clock.now + 100 })), 5);
    t.is(h.engine.stats().pending, 10);
  });
});

test('engine limits: maxPending bounds the jobs over all registries', async (t) => {
  const events: string[] = [];
  const observer = { overloaded: (e: { limit: string }) => events.push(e.limit) };
  await withFlood(2, { maxPendingPerRegistry: 20, maxPending: 30, observer }, async ({ h, hung }) => {
    const [a, c] = hung;
    t.is(overloaded(await h.engine.verify(digestKeys(a!.host, 50), { deadline: h.clock.now + 100 })), 30);
    t.is(overloaded(await h.engine.verify(digestKeys(c!.host, 50), { deadline: h.clock.now + 100 })), 40);
    t.is(h.engine.stats().pending, 30);
    // Now every registry is refused new work, the working one too (its work would pass the total).
    const image = await h.image();
    const [refused] = await h.engine.verify([h.key(image.digest)], later(h));
    t.is(refused?.error?.code, 'DEADLINE_EXCEEDED');
    t.is(refused?.error?.reason, 'OVERLOADED');
    t.is(events.filter((e) => e === 'registry').length, 30);
    t.is(events.filter((e) => e === 'total').length, 41);
  });
});

test('engine limits: once the background jobs end, new work is accepted again', async (t) => {
  await withFlood(1, { maxPendingPerRegistry: 10, maxPending: 100, backgroundTimeoutMs: 300 }, async ({ h, hung }) => {
    const [slow] = hung;
    const first: KeyResult[] = await h.engine.verify(digestKeys(slow!.host, 30), { deadline: h.clock.now + 50 });
    t.is(overloaded(first), 20);
    // The hung jobs are abandoned when their background budget runs out; the counts drop to zero.
    await until(() => h.engine.stats().pending === 0 && h.engine.stats().inFlight === 0);
    const second = await h.engine.verify(digestKeys(slow!.host, 10, 100), { deadline: h.clock.now + 50 });
    t.is(overloaded(second), 0);
    t.is(h.engine.stats().pending, 10);
    // And a working registry verifies as before.
    await until(() => h.engine.stats().pending === 0);
    const image = await h.image();
    t.true((await h.engine.verify([h.key(image.digest)], later(h)))[0]?.value?.verified);
  });
});

test('engine limits: maxConcurrent bounds the running jobs over many hosts; a good registry still gets a slot in turn', async (t) => {
  // 42 hung registries with 10 jobs each (no allowedRegistries: keys may name any host), 16 slots in
  // total. Each hung request gives up after 250 ms, so a hung job ends after about a second and
  // slots free steadily. Served first come, first served, the good registry's job would queue
  // behind ~400 hung ones (~25 s); round-robin between hosts gives it a slot after at most one
  // grant per other waiting host (42 grants: ~3 s).
  const maxConcurrent = 16;
  const jobsPerHost = 10;
  await withFlood(
    42,
    { maxConcurrent, concurrencyPerRegistry: 4 },
    async ({ h, hung }) => {
      const image = await h.image();
      let peakRunning = 0;
      let peakSockets = 0;
      const sample = (): void => {
        peakRunning = Math.max(peakRunning, h.engine.stats().running);
        peakSockets = Math.max(
          peakSockets,
          hung.reduce((sum, s) => sum + s.open, 0),
        );
      };
      const sampler = setInterval(sample, 5);
      try {
        const flood = hung.flatMap((s, i) => digestKeys(s.host, jobsPerHost, i * jobsPerHost));
        const first = await h.engine.verify(flood, { deadline: h.clock.now + 100 });
        t.true(first.every((r) => r.error?.code === 'DEADLINE_EXCEEDED' && r.error.reason === undefined));
        sample();
        t.is(h.engine.stats().pending, flood.length, 'every job admitted (the pending limits are not what binds)');
        t.is(h.engine.stats().running, maxConcurrent);

        const started = Date.now();
        const [good] = await h.engine.verify([h.key(image.digest)], { deadline: h.clock.now + 8_000 });
        const elapsed = Date.now() - started;
        t.true(good?.value?.verified, `good registry: ${JSON.stringify(good?.error)} after ${elapsed} ms`);
        t.log(`good registry verified after ${elapsed} ms; ${h.engine.stats().pending} hung jobs still pending`);
        t.true(h.engine.stats().pending > 10 * maxConcurrent, 'the hung hosts still hold queued work');
        sample();
      } finally {
        clearInterval(sampler);
      }
      t.log(`peak: ${peakRunning} jobs running, ${peakSockets} sockets open to the hung registries`);
      t.true(peakRunning <= maxConcurrent, `${peakRunning} jobs running at once`);
      t.true(peakRunning >= maxConcurrent - 1);
      // A running job holds at most two connections (the subject's manifest and the referrers).
      t.true(peakSockets <= 2 * maxConcurrent, `${peakSockets} sockets open to the hung registries at once`);
    },
    250,
  );
});

test('engine limits: limits must be positive integers', (t) => {
  const client = new RegistryClient();
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    for (const option of ['maxPendingPerRegistry', 'maxPending', 'concurrencyPerRegistry', 'maxConcurrent'] as const) {
      const error = t.throws(
        () =>
          new VerificationEngine({
            environments: { get: () => undefined, names: () => [] },
            client,
            [option]: bad,
          }),
        undefined,
        `${option}: ${bad}`,
      );
      t.is((error as { code?: string } | undefined)?.code, 'INVALID_CONFIG');
    }
  }
});
