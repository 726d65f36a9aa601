// The shared result cache's envelope and its guard against a failing store (src/verify/shared-cache.ts),
// over small in-memory stores. The engine over a real redis-server: test/integration/shared-cache.test.ts.

import test from 'ava';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { VouchError } from '../../../src/core/index.js';
import { SharedResultCache, type SharedResultStore, type SharedCacheObserver } from '../../../src/verify/index.js';

const KEY = randomBytes(32);
const OTHER_KEY = randomBytes(32);

class MemoryStore implements SharedResultStore {
  readonly map = new Map<string, string>();
  calls = 0;
  fail = false;
  hang = false;
  async get(key: string, maxBytes: number): Promise<string | undefined> {
    return this.#call(() => this.map.get(key)?.slice(0, maxBytes + 1));
  }
  async set(key: string, value: string): Promise<void> {
    return this.#call(() => void this.map.set(key, value));
  }
  #call<T>(fn: () => T): Promise<T> {
    this.calls++;
    if (this.hang) return new Promise<T>(() => undefined);
    if (this.fail) return Promise.reject(new Error('connection refused'));
    return Promise.resolve(fn());
  }
}

function cacheWith(
  store: SharedResultStore,
  clock: { now: number },
  options: Partial<ConstructorParameters<typeof SharedResultCache>[0]> = {},
) {
  const events: string[] = [];
  const observer: SharedCacheObserver = {
    lookup: (e) => events.push(e.reason === undefined ? e.result : `${e.result}:${e.reason}`),
    write: (e) => events.push(`write:${e.result}`),
    circuit: (e) => events.push(`circuit:${e.state}`),
  };
  const cache = new SharedResultCache({ store, keys: [KEY], now: () => clock.now, observer, commandTimeoutMs: 50, ...options });
  return { cache, events };
}

const verdict = { value: { verified: false, reasons: [{ code: 'NO_SIGNATURE', message: 'none' }] } };

async function settle(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

test('shared cache: an entry written is read back with its times, under the same key only', async (t) => {
  const store = new MemoryStore();
  const clock = { now: 1_000_000 };
  const { cache, events } = cacheWith(store, clock);
  const key = cache.entryKey(['prod', 'f1', 'opts', 'r.example/app', 'sha256:aa']);
  cache.put(key, verdict, clock.now, clock.now + 60_000);
  await settle();
  t.deepEqual(await cache.get(key), { payload: verdict, createdAt: 1_000_000, expiresAt: 1_060_000 });
  t.is(await cache.get(cache.entryKey(['prod', 'f2', 'opts', 'r.example/app', 'sha256:aa'])), undefined);
  t.deepEqual(events, ['write:stored', 'hit', 'miss']);
  // Store keys are a prefix and a digest: no request text in the store.
  t.true([...store.map.keys()].every((k) => /^vouch:result:[0-9a-f]{64}$/.test(k)));
});

test('shared cache: an altered, re-dated, moved, foreign-keyed, other-version, oversized or expired entry is a miss', (t) => {
  const clock = { now: 1_000_000 };
  const { cache } = cacheWith(new MemoryStore(), clock, { maxValueBytes: 4096 });
  const key = cache.entryKey(['prod', 'f1', 'opts', 'r.example/app', 'sha256:aa']);
  const sealed = cache.seal(key, verdict, clock.now, clock.now + 60_000);
  t.true('payload' in cache.open(key, sealed));
  const rejected = (raw: string, entryKey = key) => {
    const opened = cache.open(entryKey, raw);
    return 'rejected' in opened ? opened.rejected : 'accepted';
  };
  t.is(rejected(sealed.replace('"verified":false', '"verified":true')), 'mac');
  t.is(rejected(sealed.replace('\n1060000\n', '\n9060000\n')), 'mac');
  t.is(rejected(sealed.replace('\n1000000\n', '\n1000001\n')), 'mac');
  t.is(rejected(sealed, cache.entryKey(['prod', 'f1', 'opts', 'r.example/app', 'sha256:bb'])), 'mac');
  const { cache: foreign } = cacheWith(new MemoryStore(), clock, { keys: [OTHER_KEY] });
  t.is(rejected(foreign.seal(key, verdict, clock.now, clock.now + 60_000)), 'mac');
  t.is(rejected(sealed.replace('vouch-result-v1', 'vouch-result-v0')), 'version');
  t.is(rejected('{"value":{"verified":true,"reasons":[]}}'), 'version');
  t.is(rejected(sealed.replace(/\n[A-Za-z0-9_-]{43}\n/, '\nAAAA\n')), 'malformed');
  t.is(rejected(sealed.replace('\n1060000\n', '\n-1\n')), 'malformed');
  t.is(rejected(cache.seal(key, { big: 'x'.repeat(5000) }, clock.now, clock.now + 60_000)), 'too-large');
  clock.now += 60_000;
  t.is(rejected(sealed), 'expired');
});

test('shared cache: key rotation: entries of a previous key still verify, new ones are signed with the first', (t) => {
  const clock = { now: 1_000_000 };
  const { cache: old } = cacheWith(new MemoryStore(), clock, { keys: [OTHER_KEY] });
  const { cache: rotated } = cacheWith(new MemoryStore(), clock, { keys: [KEY, OTHER_KEY] });
  const { cache: renewed } = cacheWith(new MemoryStore(), clock, { keys: [KEY] });
  const key = old.entryKey(['prod', 'f1', 'opts', 'r.example/app', 'sha256:aa']);
  const byOld = old.seal(key, verdict, clock.now, clock.now + 60_000);
  t.true('payload' in rotated.open(key, byOld));
  t.deepEqual(renewed.open(key, byOld), { rejected: 'mac' });
  t.true('payload' in renewed.open(key, rotated.seal(key, verdict, clock.now, clock.now + 60_000)));
});

test('shared cache: keys shorter than 32 bytes, or none, are refused', (t) => {
  const store = new MemoryStore();
  for (const keys of [[randomBytes(31)], [], [KEY, randomBytes(16)]]) {
    const error = t.throws(() => new SharedResultCache({ store, keys }));
    t.true(error instanceof VouchError);
    t.is((error as VouchError).code, 'INVALID_CONFIG');
  }
});

test('shared cache: the context separates deployments', async (t) => {
  const store = new MemoryStore();
  const clock = { now: 1_000_000 };
  const { cache: a } = cacheWith(store, clock, { context: 'revocation=online' });
  const { cache: b } = cacheWith(store, clock, { context: 'revocation=offline' });
  const parts = ['prod', 'f1', 'opts', 'r.example/app', 'sha256:aa'];
  a.put(a.entryKey(parts), verdict, clock.now, clock.now + 60_000);
  await settle();
  t.truthy(await a.get(a.entryKey(parts)));
  t.is(await b.get(b.entryKey(parts)), undefined);
});

test('shared cache: a failing store opens the circuit, which skips it for the cool-down, then probes once', async (t) => {
  const store = new MemoryStore();
  const clock = { now: 1_000_000 };
  const { cache, events } = cacheWith(store, clock, { failureThreshold: 3, coolDownMs: 5_000 });
  const key = cache.entryKey(['prod', 'f1', 'opts', 'r.example/app', 'sha256:aa']);
  store.fail = true;
  for (let i = 0; i < 3; i++) t.is(await cache.get(key), undefined);
  t.is(cache.state, 'open');
  t.is(store.calls, 3);
  t.is(await cache.get(key), undefined);
  cache.put(key, verdict, clock.now, clock.now + 60_000);
  t.is(store.calls, 3, 'an open circuit makes no call');
  clock.now += 5_000;
  t.is(await cache.get(key), undefined, 'the probe fails');
  t.is(store.calls, 4);
  t.is(cache.state, 'open');
  t.is(await cache.get(key), undefined);
  t.is(store.calls, 4, 'a failed probe starts a new cool-down');
  store.fail = false;
  clock.now += 5_000;
  t.is(await cache.get(key), undefined, 'the probe succeeds: a miss');
  t.is(cache.state, 'closed');
  cache.put(key, verdict, clock.now, clock.now + 60_000);
  await settle();
  t.truthy(await cache.get(key));
  t.deepEqual(events, [
    'error',
    'error',
    'circuit:open',
    'error',
    'skipped',
    'write:skipped',
    'circuit:half-open',
    'circuit:open',
    'error',
    'skipped',
    'circuit:half-open',
    'circuit:closed',
    'miss',
    'write:stored',
    'hit',
  ]);
});

test('shared cache: a hung store answers a miss after the command timeout, and calls in flight are bounded', async (t) => {
  const store = new MemoryStore();
  store.hang = true;
  const { cache, events } = cacheWith(store, { now: Date.now() }, { commandTimeoutMs: 50, maxPending: 2, failureThreshold: 100 });
  const key = cache.entryKey(['prod', 'f1', 'opts', 'r.example/app', 'sha256:aa']);
  const started = performance.now();
  const reads = [cache.get(key), cache.get(key), cache.get(key)];
  t.deepEqual(await Promise.all(reads), [undefined, undefined, undefined]);
  const elapsed = performance.now() - started;
  t.true(elapsed >= 45 && elapsed < 1_000, `${elapsed} ms`);
  t.is(store.calls, 2, 'the third call was not made');
  t.deepEqual(events.sort(), ['error', 'error', 'skipped']);
});

test('shared cache: any one-character change of an envelope is refused (property)', (t) => {
  const clock = { now: 1_700_000_000_000 };
  const { cache } = cacheWith(new MemoryStore(), clock);
  const key = cache.entryKey(['prod', 'f1', 'opts', 'r.example/app', 'sha256:aa']);
  const payload = fc.record({
    value: fc.record({ verified: fc.boolean(), reasons: fc.array(fc.record({ code: fc.string(), message: fc.string() })) }),
  });
  fc.assert(
    fc.property(payload, fc.nat(), fc.integer({ min: 0, max: 0x10ffff }), (value, at, codePoint) => {
      const sealed = cache.seal(key, value, clock.now, clock.now + 60_000);
      const position = at % sealed.length;
      const replacement = String.fromCodePoint(codePoint);
      if (sealed[position] === replacement) return true;
      return 'rejected' in cache.open(key, sealed.slice(0, position) + replacement + sealed.slice(position + 1));
    }),
    { numRuns: 2_000 },
  );
  t.pass();
});
