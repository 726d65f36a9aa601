// Replicas sharing results through a real redis-server (test/helpers/redis.ts): two engines (two
// "replicas") over one registry, each with its own local cache, the Redis store of src/app between
// them. The registry counts requests, so "answered from the shared cache" means "no registry request".

import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRedisSharedCache, type RedisSharedCache } from '../../src/app/shared-cache-redis.js';
import { DEFAULT_SHARED_CACHE, VerificationEngine, type EnvironmentTrust, type KeyResult } from '../../src/verify/index.js';
import { RevocationChecker } from '../../src/notation/index.js';
import { bulkString, startRedis, type RunningRedis } from '../helpers/redis.js';
import { createTlsMaterial } from '../helpers/tls.js';
import { harness, later, type Harness } from '../unit/verify/setup.js';

const RESULT_TTL_MS = 60_000;

interface Replicas {
  h: Harness;
  redis: RunningRedis;
  /** The harness's engine is replica A; B is built over the same registry client and clock. */
  a: VerificationEngine;
  b: VerificationEngine;
  sharedA: RedisSharedCache;
  sharedB: RedisSharedCache;
  prefix: string;
  /** Registry GET requests so far. */
  gets(): number;
  /** The shared cache's keys in Redis. */
  keys(): Promise<string[]>;
}

let redis: RunningRedis | undefined;
let keyDir: string | undefined;

test.before(async () => {
  redis = await startRedis();
  keyDir = await mkdtemp(join(tmpdir(), 'vouch-shared-key-'));
  await writeFile(join(keyDir, 'key'), randomBytes(32));
});

test.after.always(async () => {
  await redis?.stop();
  if (keyDir) await rm(keyDir, { recursive: true, force: true });
});

let prefixes = 0;

async function sharedCache(h: Harness, prefix: string, overrides: { coolDownMs?: number } = {}): Promise<RedisSharedCache> {
  return createRedisSharedCache(
    {
      url: redis!.url,
      keyFile: join(keyDir!, 'key'),
      keyPrefix: prefix,
      commandTimeoutMs: 200,
      maxPending: DEFAULT_SHARED_CACHE.maxPending,
      failureThreshold: 2,
      coolDownMs: overrides.coolDownMs ?? 1_000,
    },
    { now: () => h.clock.now, logger: silentLogger() },
  );
}

function silentLogger() {
  const noop = () => undefined;
  const logger = { debug: noop, info: noop, warn: noop, error: noop, child: () => logger };
  return logger as never;
}

/** Replicas A and B; environment `prod` has fingerprint `f1` in both unless `fingerprintB` says otherwise. */
async function replicas(options: { fingerprintB?: string } = {}): Promise<Replicas> {
  const prefix = `test${++prefixes}:`;
  const h0 = await harness({ engine: { cache: { resultTtlMs: RESULT_TTL_MS } } });
  // Replica A is rebuilt with its shared cache (the harness's engine has none).
  await h0.engine.close();
  const sharedA = await sharedCache(h0, prefix);
  const sharedB = await sharedCache(h0, prefix);
  const withFingerprint = (fingerprint: string) => ({
    get: (name: string): EnvironmentTrust | undefined => {
      const env = h0.environments.get(name);
      return env === undefined ? undefined : { ...env, fingerprint };
    },
    names: () => h0.environments.names(),
    defaultEnvironment: 'prod',
  });
  const engine = (fingerprint: string, shared: RedisSharedCache) =>
    new VerificationEngine({
      environments: withFingerprint(fingerprint),
      client: h0.client,
      revocation: new RevocationChecker({ offline: true }),
      now: () => h0.clock.now,
      cache: { resultTtlMs: RESULT_TTL_MS },
      sharedCache: shared.cache,
    });
  const a = engine('f1', sharedA);
  const b = engine(options.fingerprintB ?? 'f1', sharedB);
  const h: Harness = { ...h0, engine: a };
  await waitConnected(sharedA, sharedB);
  return {
    h,
    redis: redis!,
    a,
    b,
    sharedA,
    sharedB,
    prefix,
    gets: () => h.registry.requests.filter((r) => r.method === 'GET').length,
    keys: async () => parseKeys(await redis!.command('KEYS', `${prefix}*`)),
  };
}

/** The clients connect in the background. */
async function waitConnected(...caches: RedisSharedCache[]): Promise<void> {
  await until(() => caches.every((shared) => shared.isReady()));
}

function parseKeys(reply: string): string[] {
  // *N\r\n$len\r\nkey\r\n...
  const lines = reply.split('\r\n');
  const keys: string[] = [];
  for (let i = 1; i < lines.length; i++) if (lines[i]!.startsWith('$')) keys.push(lines[++i]!);
  return keys;
}

async function close(r: Replicas): Promise<void> {
  await Promise.allSettled([r.a.close(), r.b.close()]);
  await Promise.allSettled([r.sharedA.close(), r.sharedB.close()]);
  await r.h.close();
}

async function until(predicate: () => Promise<boolean> | boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function verifiedOf(result: KeyResult | undefined): boolean | undefined {
  return result?.value?.verified;
}

test.serial('shared cache: replica B gets replica A’s answers without a registry request', async (t) => {
  const r = await replicas();
  try {
    const signed = await r.h.image();
    const unsigned = await r.h.image({ signer: null });
    const keys = [r.h.key(signed.digest), r.h.key(unsigned.digest)];
    const fromA = await r.a.verify(keys, later(r.h));
    t.deepEqual(fromA.map(verifiedOf), [true, false]);
    await until(async () => (await r.keys()).length === 2);
    const before = r.gets();
    const fromB = await r.b.verify(keys, later(r.h));
    t.deepEqual(fromB.map(verifiedOf), [true, false]);
    t.is(r.gets(), before, 'B asked the registry nothing');
    t.true(fromB.every((result) => result.value?.cached === true));
    t.deepEqual(
      fromB.map((x) => x.value?.reasons),
      fromA.map((x) => x.value?.reasons),
    );
    // B keeps the answers locally: a second request does not reach Redis either.
    await r.redis.command('FLUSHALL');
    t.deepEqual((await r.b.verify(keys, later(r.h))).map(verifiedOf), [true, false]);
    t.is(r.gets(), before);
  } finally {
    await close(r);
  }
});

test.serial('shared cache: a replica with other trust (another fingerprint) shares nothing', async (t) => {
  const r = await replicas({ fingerprintB: 'f2' });
  try {
    const signed = await r.h.image();
    const key = r.h.key(signed.digest);
    t.true(verifiedOf((await r.a.verify([key], later(r.h)))[0]));
    await until(async () => (await r.keys()).length === 1);
    const before = r.gets();
    const fromB = (await r.b.verify([key], later(r.h)))[0];
    t.true(verifiedOf(fromB));
    t.false(fromB?.value?.cached === true);
    t.true(r.gets() > before, 'B verified for itself');
    await until(async () => (await r.keys()).length === 2);
  } finally {
    await close(r);
  }
});

/** A writes the entry for `digest`; `tamper` rewrites it in Redis; B must verify for real. */
async function tampered(
  t: import('ava').ExecutionContext,
  tamper: (r: Replicas, entries: { key: string; value: string }[]) => Promise<void>,
  options: { sign?: boolean } = {},
): Promise<void> {
  const r = await replicas();
  try {
    const image = await r.h.image(options.sign === false ? { signer: null } : {});
    const key = r.h.key(image.digest);
    const answer = (await r.a.verify([key], later(r.h)))[0];
    await until(async () => (await r.keys()).length === 1);
    const entries = await Promise.all((await r.keys()).map(async (k) => ({ key: k, value: bulkString(await r.redis.command('GET', k))! })));
    await tamper(r, entries);
    const before = r.gets();
    const fromB = (await r.b.verify([key], later(r.h)))[0];
    t.is(verifiedOf(fromB), verifiedOf(answer), 'the real verdict');
    t.false(fromB?.value?.cached === true, 'not served from the shared cache');
    t.true(r.gets() > before, 'B verified the image for real');
  } finally {
    await close(r);
  }
}

test.serial('shared cache: an entry whose verdict was altered in Redis is rejected', (t) =>
  tampered(
    t,
    async (r, [entry]) => {
      t.true(entry!.value.includes('"verified":false'));
      await r.redis.command('SET', entry!.key, entry!.value.replace('"verified":false', '"verified":true'));
    },
    { sign: false },
  ),
);

test.serial('shared cache: an entry with a wrong MAC is rejected', (t) =>
  tampered(t, async (r, [entry]) => {
    const fields = entry!.value.split('\n');
    fields[3] = randomBytes(32).toString('base64url');
    await r.redis.command('SET', entry!.key, fields.join('\n'));
  }),
);

test.serial('shared cache: an entry with an altered expiry is rejected', (t) =>
  tampered(t, async (r, [entry]) => {
    const fields = entry!.value.split('\n');
    fields[2] = String(Number(fields[2]) + 3_600_000);
    await r.redis.command('SET', entry!.key, fields.join('\n'));
  }),
);

test.serial('shared cache: a valid entry copied under another image’s key is rejected', async (t) => {
  const r = await replicas();
  try {
    const signed = await r.h.image();
    const unsigned = await r.h.image({ signer: null });
    t.true(verifiedOf((await r.a.verify([r.h.key(signed.digest)], later(r.h)))[0]));
    await until(async () => (await r.keys()).length === 1);
    const [signedKey] = await r.keys();
    const value = bulkString(await r.redis.command('GET', signedKey!))!;
    t.false(verifiedOf((await r.a.verify([r.h.key(unsigned.digest)], later(r.h)))[0]));
    await until(async () => (await r.keys()).length === 2);
    const unsignedKey = (await r.keys()).find((k) => k !== signedKey)!;
    await r.redis.command('SET', unsignedKey, value);
    const before = r.gets();
    const fromB = (await r.b.verify([r.h.key(unsigned.digest)], later(r.h)))[0];
    t.false(verifiedOf(fromB), 'the signed image’s verdict is not served for the unsigned one');
    t.true(r.gets() > before);
  } finally {
    await close(r);
  }
});

test.serial('shared cache: an entry of another version is rejected', (t) =>
  tampered(t, async (r, [entry]) => {
    await r.redis.command('SET', entry!.key, entry!.value.replace(/^vouch-result-v1/, 'vouch-result-v9'));
  }),
);

test.serial('shared cache: an expired entry is not served', async (t) => {
  const r = await replicas();
  try {
    const signed = await r.h.image();
    const key = r.h.key(signed.digest);
    t.true(verifiedOf((await r.a.verify([key], later(r.h)))[0]));
    await until(async () => (await r.keys()).length === 1);
    // Past the entry's expiry by the injected clock; Redis still holds it (its own TTL is real time).
    r.h.clock.now += RESULT_TTL_MS + 1;
    t.is((await r.keys()).length, 1);
    const before = r.gets();
    const fromB = (await r.b.verify([key], later(r.h)))[0];
    t.true(verifiedOf(fromB));
    t.false(fromB?.value?.cached === true);
    t.true(r.gets() > before);
  } finally {
    await close(r);
  }
});

test.serial('shared cache: Redis killed → answers stay right and quick; Redis back → used again', async (t) => {
  const r = await replicas();
  try {
    const first = await r.h.image();
    t.true(verifiedOf((await r.a.verify([r.h.key(first.digest)], later(r.h)))[0]));
    await r.redis.kill();
    // Answers from the local cache and from verification while Redis is down, none slowed past the timeout.
    const cached = await timed(() => r.a.verify([r.h.key(first.digest)], later(r.h)));
    t.true(verifiedOf(cached.value[0]));
    const signed = await r.h.image();
    const unsigned = await r.h.image({ signer: null });
    for (const engine of [r.a, r.b, r.b]) {
      const answers = await timed(() => engine.verify([r.h.key(signed.digest), r.h.key(unsigned.digest)], later(r.h)));
      t.deepEqual(answers.value.map(verifiedOf), [true, false]);
      t.true(answers.ms < 2_000, `${answers.ms} ms`);
    }
    t.is(r.sharedB.cache.state, 'open', 'B stopped calling Redis');
    await r.redis.restart();
    await until(() => r.sharedA.isReady() && r.sharedB.isReady(), 10_000);
    // After the cool-down the next call probes, succeeds, and Redis is used again.
    r.h.clock.now += 1_000;
    const third = await r.h.image();
    t.true(verifiedOf((await r.a.verify([r.h.key(third.digest)], later(r.h)))[0]));
    await until(async () => (await r.keys()).length === 1);
    const before = r.gets();
    t.true(verifiedOf((await r.b.verify([r.h.key(third.digest)], later(r.h)))[0]));
    t.is(r.gets(), before, 'B answered from Redis again');
    t.is(r.sharedB.cache.state, 'closed');
  } finally {
    await close(r);
  }
});

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - started };
}

test.serial('shared cache: a Redis that stops answering (CLIENT PAUSE) costs at most the command timeout', async (t) => {
  const r = await replicas();
  try {
    const signed = await r.h.image();
    const key = r.h.key(signed.digest);
    t.true(verifiedOf((await r.a.verify([key], later(r.h)))[0]));
    await until(async () => (await r.keys()).length === 1);
    // Connected, but no command is answered for 3 s.
    await r.redis.command('CLIENT', 'PAUSE', '3000', 'ALL');
    const fromB = await timed(() => r.b.verify([key], later(r.h)));
    t.true(verifiedOf(fromB.value[0]), 'verified for real instead');
    t.false(fromB.value[0]?.value?.cached === true);
    // commandTimeoutMs is 200 here; the rest is the verification itself.
    t.true(fromB.ms < 1_500, `${fromB.ms} ms`);
  } finally {
    await r.redis.command('CLIENT', 'UNPAUSE').catch(() => undefined);
    await close(r);
  }
});

test.serial('shared cache: identical concurrent work makes one Redis look-up and at most one verification', async (t) => {
  const r = await replicas();
  try {
    const signed = await r.h.image();
    const key = r.h.key(signed.digest);
    const gets = async () => Number(/total_commands_processed:(\d+)/.exec(await r.redis.command('INFO', 'stats'))![1]);
    const [first, second] = await Promise.all([r.a.verify([key], later(r.h)), r.a.verify([key], later(r.h))]);
    t.true(verifiedOf(first[0]) && verifiedOf(second[0]));
    t.is(r.a.stats().deduplicated, 1);
    await until(async () => (await r.keys()).length === 1);
    // B: three concurrent requests for the same key, one look-up (INFO and KEYS are counted too).
    const before = await gets();
    const answers = await Promise.all([1, 2, 3].map(() => r.b.verify([key], later(r.h))));
    t.true(answers.every((a) => verifiedOf(a[0]) && a[0]?.value?.cached === true));
    t.is((await gets()) - before, 2, 'the INFO command before and one GETRANGE');
    t.is(r.b.stats().deduplicated, 2);
  } finally {
    await close(r);
  }
});

test.serial('shared cache: Redis with AUTH: passwordFile is used; without it nothing is shared and answers stay right', async (t) => {
  const secured = await startRedis({ args: ['--requirepass', 'hunter2-hunter2'] });
  const h = await harness({ engine: { cache: { resultTtlMs: RESULT_TTL_MS } } });
  const passwordFile = join(keyDir!, 'redis-password');
  await writeFile(passwordFile, 'hunter2-hunter2\n');
  const base = {
    url: secured.url,
    keyFile: join(keyDir!, 'key'),
    keyPrefix: 'auth:',
    commandTimeoutMs: 200,
    maxPending: 16,
    failureThreshold: 2,
    coolDownMs: 1_000,
  };
  const withPassword = await createRedisSharedCache({ ...base, passwordFile }, { now: () => h.clock.now, logger: silentLogger() });
  const without = await createRedisSharedCache(base, { now: () => h.clock.now, logger: silentLogger() });
  const environments = {
    get: (name: string) => {
      const env = h.environments.get(name);
      return env === undefined ? undefined : { ...env, fingerprint: 'f1' };
    },
    names: () => h.environments.names(),
    defaultEnvironment: 'prod',
  };
  const engineWith = (shared: RedisSharedCache) =>
    new VerificationEngine({
      environments,
      client: h.client,
      revocation: new RevocationChecker({ offline: true }),
      now: () => h.clock.now,
      cache: { resultTtlMs: RESULT_TTL_MS },
      sharedCache: shared.cache,
    });
  const a = engineWith(withPassword);
  const b = engineWith(without);
  try {
    await until(() => withPassword.isReady());
    const signed = await h.image();
    t.true(verifiedOf((await a.verify([h.key(signed.digest)], later(h)))[0]));
    await until(async () => (await secured.command('DBSIZE')) === ':1\r\n');
    t.false(without.isReady(), 'no connection without the password');
    const fromB = (await b.verify([h.key(signed.digest)], later(h)))[0];
    t.true(verifiedOf(fromB));
    t.false(fromB?.value?.cached === true);
  } finally {
    await Promise.allSettled([a.close(), b.close()]);
    await Promise.allSettled([withPassword.close(), without.close()]);
    await h.close();
    await secured.stop();
  }
});

test.serial('shared cache: rediss:// with caFile shares over TLS', async (t) => {
  const material = await createTlsMaterial();
  const secured = await startRedis({
    tls: { certFile: material.files.certFile, keyFile: material.files.keyFile, caFile: material.files.clientCAFile },
  });
  const clock = { now: Date.now() };
  const config = {
    url: secured.url,
    keyFile: join(keyDir!, 'key'),
    keyPrefix: 'tls:',
    commandTimeoutMs: 500,
    maxPending: 16,
    failureThreshold: 2,
    coolDownMs: 1_000,
  };
  const trusting = await createRedisSharedCache(
    { ...config, caFile: material.files.clientCAFile },
    { now: () => clock.now, logger: silentLogger() },
  );
  // Without caFile the system CAs do not know the test CA: no connection.
  const systemCas = await createRedisSharedCache(config, { now: () => clock.now, logger: silentLogger() });
  try {
    t.is(secured.url.slice(0, 9), 'rediss://');
    await until(() => trusting.isReady());
    const entry = trusting.cache.entryKey(['prod', 'f1', 'opts', 'r.example/app', 'sha256:aa']);
    trusting.cache.put(entry, { value: { verified: true, reasons: [] } }, clock.now, clock.now + 60_000);
    await until(async () => (await secured.command('DBSIZE')) === ':1\r\n');
    t.truthy(await trusting.cache.get(entry));
    t.false(systemCas.isReady());
    t.is(await systemCas.cache.get(entry), undefined);
  } finally {
    await Promise.allSettled([trusting.close(), systemCas.close()]);
    await secured.stop();
    await rm(material.dir, { recursive: true, force: true });
  }
});

test.serial('shared cache: created while Redis is down, it connects once Redis is up', async (t) => {
  const late = await startRedis();
  await late.kill();
  const clock = { now: Date.now() };
  const shared = await createRedisSharedCache(
    {
      url: late.url,
      keyFile: join(keyDir!, 'key'),
      keyPrefix: 'late:',
      commandTimeoutMs: 200,
      maxPending: 16,
      failureThreshold: 2,
      coolDownMs: 1_000,
    },
    { now: () => clock.now, logger: silentLogger() },
  );
  try {
    const entry = shared.cache.entryKey(['prod', 'f1', 'opts', 'r.example/app', 'sha256:aa']);
    t.is(await shared.cache.get(entry), undefined, 'a miss while Redis is down');
    await late.restart();
    await until(() => shared.isReady(), 10_000);
    clock.now += 1_000;
    shared.cache.put(entry, { value: { verified: true, reasons: [] } }, clock.now, clock.now + 60_000);
    await until(async () => (await late.command('DBSIZE')) === ':1\r\n');
    t.truthy(await shared.cache.get(entry));
  } finally {
    await shared.close();
    await late.stop();
  }
});
