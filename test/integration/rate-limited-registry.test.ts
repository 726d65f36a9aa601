// Registries that throttle: the spec-following fake registry behind a front that answers 429 (or 503)
// with or without Retry-After (test/helpers/rate-limited-registry.ts). vouch's runtime waits as the
// registry asks and then gives the real verdict; a wait that does not fit is REGISTRY_UNAVAILABLE
// (reason RATE_LIMITED), never a verdict; requests in flight to the host drop when it throttles and
// recover when it stops; a garbage or huge Retry-After is capped.

import test from 'ava';
import { createRuntime, type Runtime } from '../../src/app/index.js';
import { loadConfig } from '../../src/config/index.js';
import { VouchError } from '../../src/core/index.js';
import { createLogger } from '../../src/log.js';
import { RegistryClient, type Descriptor } from '../../src/oci/index.js';
import { ProviderMetrics } from '../../src/server/index.js';
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.js';
import { buildImage, pushManifest } from '../helpers/oci-fixtures.js';
import {
  concurrencyAbove,
  firstRequests,
  startRateLimitedRegistry,
  type RateLimitedRegistry,
  type ThrottlePolicy,
} from '../helpers/rate-limited-registry.js';
import { createWorkspace, pushImage, signAndPush, SIGNERS, trustedIdentity, uniqueId, type Workspace } from '../e2e/support/fixtures.js';

const RUN = uniqueId();
const REPO = `throttle-${RUN}/app`;

let fake: FakeRegistry;
let ws: Workspace;
let signed: Descriptor;
let unsigned: Descriptor;

test.before(async () => {
  [fake, ws] = await Promise.all([startFakeRegistry(), createWorkspace()]);
  const pusher = new RegistryClient({ hosts: { [fake.host]: { plainHttp: true } } });
  try {
    const repo = pusher.repository(fake.host, REPO);
    signed = await pushImage(repo, 'signed');
    await signAndPush(repo, signed, ws.identities.prod);
    unsigned = await pushImage(repo, 'unsigned');
  } finally {
    await pusher.close();
  }
  await ws.writePolicy('prod', [
    { name: 'all', registryScopes: ['*'], trustStores: ['ca:prod'], trustedIdentities: [trustedIdentity(SIGNERS.prod)] },
  ]);
});

test.after.always(async () => {
  await fake?.close();
  await ws?.remove();
});

/** A front over the fake registry and a runtime (with metrics) whose only registry is the front. */
async function setup(t: import('ava').ExecutionContext, policy: ThrottlePolicy, registryRequests: Record<string, number> = {}) {
  const front = await startRateLimitedRegistry({ upstream: fake.host, policy });
  const metrics = new ProviderMetrics({ defaultMetrics: false });
  const file = await ws.writeConfig(
    {
      environments: { prod: { trustPolicy: ws.trustPolicy('prod'), trustStore: ws.trustStore('prod') } },
      registries: { [front.host]: { plainHttp: true } },
      revocation: { offline: true },
      limits: { registryRequests: { maxRetryAfterMs: 5_000, maxRetryWaitMs: 5_000, ...registryRequests } },
    },
    `vouch-${front.host.replace(/\W/g, '-')}.yaml`,
  );
  const runtime: Runtime = await createRuntime(await loadConfig(file), {
    logger: createLogger({ level: 'silent' }),
    watch: false,
    metrics,
  });
  t.teardown(async () => {
    await runtime.close();
    await front.close();
  });
  const key = (d: Descriptor) => `${front.host}/${REPO}@${d.digest}`;
  const verify = async (d: Descriptor, deadlineMs = 20_000) =>
    (await runtime.engine.verify([key(d)], { deadline: Date.now() + deadlineMs }))[0]!;
  return { front, runtime, metrics, verify };
}

/** `verified`, the code of the first reason, or `error:<code>`. */
function outcome(result: Awaited<ReturnType<Awaited<ReturnType<typeof setup>>['verify']>>): string {
  if (result.error !== undefined) return `error:${result.error.code}`;
  return result.value.verified ? 'verified' : result.value.reasons[0]!.code;
}

test('429 with Retry-After: vouch waits as asked, then answers the real verdict', async (t) => {
  const { front, verify, metrics } = await setup(t, firstRequests(3, '1'));
  const started = Date.now();
  t.is(outcome(await verify(signed)), 'verified');
  t.true(Date.now() - started >= 900, `answered after ${Date.now() - started} ms, before the registry's Retry-After`);
  t.is(front.throttled, 3);
  // A verdict of "not signed" after throttling is the registry's real answer, not a throttling artefact.
  t.is(outcome(await verify(unsigned)), 'NO_SIGNATURE');
  const text = (await metrics.render()).body;
  t.regex(text, new RegExp(`vouch_registry_throttled_total\\{host="${front.host}",outcome="retried"\\} 3`));
  t.regex(text, new RegExp(`vouch_registry_requests_total\\{host="${front.host}",method="GET",status="429"\\} 3`));
  t.regex(text, new RegExp(`vouch_registry_concurrency_limit\\{host="${front.host}"\\} \\d+`));
});

test('429 whose Retry-After does not fit the wait budget: REGISTRY_UNAVAILABLE at once, never a verdict, never cached', async (t) => {
  const { front, verify, metrics } = await setup(t, firstRequests(1, '3'), { maxRetryWaitMs: 1_000 });
  const started = Date.now();
  const result = await verify(signed);
  t.is(outcome(result), 'error:REGISTRY_UNAVAILABLE');
  t.true(Date.now() - started < 2_000, 'no wait for a Retry-After that cannot be honoured');
  t.is(front.throttled, 1);
  const seen = front.seen;
  t.regex((await metrics.render()).body, new RegExp(`vouch_registry_throttled_total\\{host="${front.host}",outcome="gave_up"\\} 1`));
  t.notRegex((await metrics.render()).body, /outcome="retried"/);
  // Until the registry's time has come the host is held back: other requests fail the same way
  // without being sent. The error is not remembered as an answer: afterwards, the real verdict.
  t.is(outcome(await verify(unsigned)), 'error:REGISTRY_UNAVAILABLE');
  t.is(front.seen, seen, 'nothing sent while held back');
  await new Promise((resolve) => setTimeout(resolve, 3_000 - (Date.now() - started)));
  t.is(outcome(await verify(signed)), 'verified');
  t.is(outcome(await verify(unsigned)), 'NO_SIGNATURE');
});

test('client: the reason is RATE_LIMITED; a caller deadline shorter than Retry-After fails at once; 503 with Retry-After is retried', async (t) => {
  const front = await startRateLimitedRegistry({ upstream: fake.host, policy: firstRequests(1, '2') });
  const client = new RegistryClient({ hosts: { [front.host]: { plainHttp: true } }, requestLimits: { maxRetryWaitMs: 5_000 } });
  t.teardown(async () => {
    await client.close();
    await front.close();
  });
  const repo = client.repository(front.host, REPO);
  const started = Date.now();
  const error = await t.throwsAsync(repo.fetchManifest(signed.digest, { deadline: Date.now() + 500 }), { instanceOf: VouchError });
  t.like(error, { code: 'REGISTRY_UNAVAILABLE', reason: 'RATE_LIMITED', status: 429 });
  t.true(Date.now() - started < 1_500, 'not the 2 s of Retry-After');
  // The host is held back until the Retry-After time even for a new request with a longer deadline.
  t.true(client.throttle.state(front.host).notBefore > Date.now());
  t.is((await repo.fetchManifest(signed.digest, { deadline: Date.now() + 10_000 })).descriptor.digest, signed.digest);
  t.true(Date.now() - started >= 1_900);

  let n = 0;
  front.setPolicy(() => {
    n++;
    if (n === 1) return { status: 503, retryAfter: '0' };
    return n === 3 ? { status: 503 } : undefined;
  });
  t.is((await repo.fetchManifest(signed.digest)).descriptor.digest, signed.digest, '503 with Retry-After: retried');
  // 503 without Retry-After is a plain server error, as before.
  t.like(await t.throwsAsync(repo.fetchManifest(signed.digest), { instanceOf: VouchError }), {
    code: 'REGISTRY_UNAVAILABLE',
    reason: 'HTTP_STATUS',
  });
});

test('concurrency: requests in flight to a throttling host drop, and recover once it stops', async (t) => {
  // A registry allowing 4 requests at once per client, slow enough for concurrency to build up.
  const front = await startRateLimitedRegistry({ upstream: fake.host, policy: concurrencyAbove(4, '0'), delayMs: 20 });
  const limits: number[] = [];
  const client = new RegistryClient({
    hosts: { [front.host]: { plainHttp: true } },
    requestLimits: { maxInFlight: 16, maxRetries: 10, maxRetryWaitMs: 60_000 },
    onConcurrencyLimit: (_host, limit) => limits.push(limit),
  });
  t.teardown(async () => {
    await client.close();
    await front.close();
  });
  const repo = client.repository(front.host, REPO);
  const image = await pushManifest(repo, buildImage(), 'many');
  const burst = (n: number) => Promise.all(Array.from({ length: n }, () => repo.fetchManifest(image)));

  // First burst: 32 at once; the host throttles what goes beyond 4, every request still succeeds.
  front.resetCounts();
  await burst(32);
  t.true(front.throttled > 0);
  const firstThrottled = front.throttled;
  // AIMD settles into a sawtooth around the registry's limit: halved past it, one more per window.
  t.true(Math.min(...limits) <= 4, `adaptive limits ${limits.join(',')}`);
  t.true(client.throttle.state(front.host).limit < 16);
  // Second burst under the reduced limit: far fewer in flight at the registry, far less throttled.
  front.resetCounts();
  await burst(32);
  const secondThrottled = front.throttled - firstThrottled;
  t.true(front.maxInFlight <= 8, `at most ${front.maxInFlight} in flight at the registry`);
  t.true(secondThrottled < firstThrottled, `${secondThrottled} throttled in the second burst, ${firstThrottled} in the first`);

  // The registry stops throttling: the limit climbs back to the maximum, and so does concurrency.
  front.setPolicy(undefined);
  for (let i = 0; i < 12 && client.throttle.state(front.host).limit < 16; i++) await burst(32);
  t.is(client.throttle.state(front.host).limit, 16);
  front.resetCounts();
  await burst(32);
  t.true(front.maxInFlight > 4, `${front.maxInFlight} in flight once recovered`);
  t.true(front.maxInFlight <= 16);
  t.true(Math.min(...limits) <= 4 && limits.at(-1) === 16, limits.join(','));
});

test('Retry-After: garbage falls back to backoff; a huge value is capped (maxRetryAfterMs)', async (t) => {
  let n = 0;
  const answers = [
    { status: 429 as const, retryAfter: 'soon, maybe' },
    { status: 429 as const, retryAfter: '999999999999' },
  ];
  const front = await startRateLimitedRegistry({ upstream: fake.host, policy: () => answers[n++] });
  const client = new RegistryClient({
    hosts: { [front.host]: { plainHttp: true } },
    requestLimits: { maxRetryAfterMs: 1_000, maxRetryWaitMs: 5_000 },
  });
  t.teardown(async () => {
    await client.close();
    await front.close();
  });
  const started = Date.now();
  t.is((await client.repository(front.host, REPO).fetchManifest(signed.digest)).descriptor.digest, signed.digest);
  const elapsed = Date.now() - started;
  // backoff 250-500 ms for the garbage value, then the 31-year Retry-After cut to 1 s.
  t.true(elapsed >= 1_200 && elapsed < 4_000, `${elapsed} ms`);
  t.is(front.throttled, 2);
});
