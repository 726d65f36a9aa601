// The verification engine end to end on the in-process fake registry, with images signed by vouch's
// own signer on a generated PKI: answers, errors, ordering, deadlines, de-duplication and caching.

import test from 'ava';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeDigest, type Digest } from '../../../src/core/index.js';
import { MEDIA_TYPE, OciLayoutSource, RegistryClient } from '../../../src/oci/index.js';
import { OciLayoutWriter } from '../../../src/oci/oci-layout-writer.js';
import { RevocationChecker } from '../../../src/notation/index.js';
import { VerificationEngine, type KeyResult, type VerificationObserver, type VerificationResult } from '../../../src/verify/index.js';
import { startFakeRegistry } from '../../helpers/fake-registry.js';
import { buildImage } from '../../helpers/oci-fixtures.js';
import {
  REPO,
  TestEnvironments,
  harness,
  later,
  pki,
  policyFor,
  signatureFor,
  sleep,
  trustStoreWith,
  until,
  type Harness,
} from './setup.js';

const MISSING = `sha256:${'0'.repeat(64)}` as Digest;

function valueOf(t: { fail: (m: string) => void }, result: KeyResult | undefined): VerificationResult {
  if (result === undefined || result.value === undefined) {
    t.fail(`expected a value, got ${JSON.stringify(result)}`);
    throw new Error('no value');
  }
  return result.value;
}

function errorCodeOf(result: KeyResult | undefined): string | undefined {
  return result?.error?.code;
}

async function withHarness(options: Parameters<typeof harness>[0], fn: (h: Harness) => Promise<void>): Promise<void> {
  const h = await harness(options);
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

test('engine: a signed image is verified, with the result shape of docs/api.md', async (t) => {
  await withHarness({}, async (h) => {
    const image = await h.image({ tag: 'v1' });
    const [byDigest, byTag] = await h.engine.verify([h.key(image.digest), `[prod]${h.registry.host}/${REPO}:v1`], later(h));
    const value = valueOf(t, byDigest);
    t.is(byDigest?.key, h.key(image.digest));
    t.true(value.verified);
    t.is(value.environment, 'prod');
    t.is(value.reference, `${h.registry.host}/${REPO}@${image.digest}`);
    t.is(value.digest, image.digest);
    t.deepEqual(value.reasons, []);
    t.is(value.trustPolicy, 'prod-images');
    t.is(value.skipped, undefined);
    t.is(value.signatures.length, 1);
    const signature = value.signatures[0]!;
    if (signature.type !== 'notation') return t.fail(`a ${signature.type} signature`);
    t.true(signature.verified);
    t.is(signature.trustPolicy, 'prod-images');
    t.regex(signature.signer ?? '', /CN=release/);
    t.regex(signature.signingTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    t.regex(signature.digest, /^sha256:[a-f0-9]{64}$/);
    t.deepEqual(signature.reasons, []);

    // The tag key answers for the same digest, the reference pinned with the tag dropped.
    const tagged = valueOf(t, byTag);
    t.true(tagged.verified);
    t.is(tagged.reference, `${h.registry.host}/${REPO}@${image.digest}`);
    t.is(tagged.digest, image.digest);
  });
});

test('engine: an unsigned image is a NO_SIGNATURE answer', async (t) => {
  await withHarness({}, async (h) => {
    const image = await h.image({ signer: null });
    const value = valueOf(t, (await h.engine.verify([h.key(image.digest)], later(h)))[0]);
    t.false(value.verified);
    t.deepEqual(value.signatures, []);
    t.is(value.reasons[0]?.code, 'NO_SIGNATURE');
    t.regex(value.reasons[0]?.message ?? '', /environment prod/);
  });
});

test('engine: a signature by an untrusted signer is an UNTRUSTED_SIGNER answer', async (t) => {
  const { stranger } = await pki();
  await withHarness({}, async (h) => {
    const image = await h.image({ signer: stranger });
    const value = valueOf(t, (await h.engine.verify([h.key(image.digest)], later(h)))[0]);
    t.false(value.verified);
    t.is(value.reasons[0]?.code, 'UNTRUSTED_SIGNER');
    t.regex(value.reasons[0]?.message ?? '', /^no signature from a signer trusted for environment prod/);
    // check and detail: the failure without the environment summary, for messages that name it once
    t.is(value.reasons[0]?.check, 'authenticity');
    t.is(value.reasons[0]?.detail, value.signatures[0]!.reasons[0]?.detail);
    t.false((value.reasons[0]?.detail ?? 'environment').includes('environment'));
    t.is(value.signatures.length, 1);
    t.false(value.signatures[0]!.verified);
    t.is(value.signatures[0]!.reasons[0]?.code, 'UNTRUSTED_SIGNER');
    t.regex(value.signatures[0]!.signer ?? '', /CN=stranger/);
  });
});

test('engine: NO_TRUST_POLICY when no statement of the environment applies', async (t) => {
  await withHarness({}, async (h) => {
    const image = await h.image();
    const value = valueOf(t, (await h.engine.verify([h.key(image.digest, 'staging')], later(h)))[0]);
    t.false(value.verified);
    t.is(value.environment, 'staging');
    t.is(value.reasons[0]?.code, 'NO_TRUST_POLICY');
  });
});

test('engine: a `skip` statement is verified without a signature check, and says so', async (t) => {
  await withHarness({}, async (h) => {
    const { trusted } = await pki();
    h.environments.set(
      'prod',
      policyFor([{ name: 'skip-all', scopes: ['*'], level: 'skip' }]),
      await trustStoreWith([trusted.root.certificate]),
    );
    const image = await h.image({ signer: null });
    const value = valueOf(t, (await h.engine.verify([h.key(image.digest)], later(h)))[0]);
    t.true(value.verified);
    t.true(value.skipped);
    t.is(value.trustPolicy, 'skip-all');
    t.deepEqual(value.signatures, []);
    t.deepEqual(value.reasons, []);
    t.is(h.count('/referrers/'), 0);
  });
});

test('engine: unknown environment and malformed keys are errors, not answers', async (t) => {
  await withHarness({}, async (h) => {
    const results = await h.engine.verify(
      [`[dev]${h.registry.host}/${REPO}:v1`, 'Not A Reference', `[prod]${h.registry.host}/${REPO}@sha256:12`],
      later(h),
    );
    t.deepEqual(
      results.map((r) => r.error?.code),
      ['UNKNOWN_ENVIRONMENT', 'INVALID_REFERENCE', 'INVALID_REFERENCE'],
    );
    t.true(results.every((r) => r.value === undefined));
    h.environments.defaultEnvironment = undefined;
    t.is(errorCodeOf((await h.engine.verify([`${h.registry.host}/${REPO}:v1`], later(h)))[0]), 'UNKNOWN_ENVIRONMENT');
    t.is(h.registry.requests.length, 0);
  });
});

test('engine: a missing image is a NOT_FOUND answer (by digest and by tag), never cached', async (t) => {
  await withHarness({}, async (h) => {
    await h.image({ tag: 'v1' }); // the repository exists
    const [byDigest, byTag] = await h.engine.verify([h.key(MISSING), `${h.registry.host}/${REPO}:nope`], later(h));
    const digestValue = valueOf(t, byDigest);
    t.false(digestValue.verified);
    t.is(digestValue.reasons[0]?.code, 'NOT_FOUND');
    t.is(digestValue.digest, MISSING);
    const tagValue = valueOf(t, byTag);
    t.is(tagValue.reasons[0]?.code, 'NOT_FOUND');
    t.is(tagValue.digest, undefined);
    t.is(tagValue.reference, `${h.registry.host}/${REPO}:nope`);
    t.is(h.engine.stats().entries, 0);
  });
});

test('engine: an unreachable registry is REGISTRY_UNAVAILABLE, a 5xx too', async (t) => {
  await withHarness({}, async (h) => {
    const image = await h.image();
    h.registry.intercept((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('down for maintenance');
      return true;
    });
    t.is(errorCodeOf((await h.engine.verify([h.key(image.digest)], later(h)))[0]), 'REGISTRY_UNAVAILABLE');
  });
  const dead = await startFakeRegistry();
  const host = dead.host;
  await dead.close();
  const { trusted } = await pki();
  const environments = new TestEnvironments();
  environments.set('prod', policyFor([{ name: 'all', scopes: ['*'] }]), await trustStoreWith([trusted.root.certificate]));
  const client = new RegistryClient({ hosts: { [host]: { plainHttp: true } }, requestTimeoutMs: 2_000 });
  const engine = new VerificationEngine({ environments, client, revocation: new RevocationChecker({ offline: true }) });
  const [result] = await engine.verify([`${host}/${REPO}@${MISSING}`], { deadline: Date.now() + 5_000 });
  t.is(errorCodeOf(result), 'REGISTRY_UNAVAILABLE');
  t.regex(result?.error?.message ?? '', new RegExp(host.replace(/\./g, '\\.')));
  await engine.close();
  await client.close();
});

test('engine: refused credentials are REGISTRY_AUTH', async (t) => {
  await withHarness({}, async (h) => {
    const image = await h.image();
    h.registry.setOptions({ auth: { kind: 'basic', username: 'alice', password: 'secret' } });
    t.is(errorCodeOf((await h.engine.verify([h.key(image.digest)], later(h)))[0]), 'REGISTRY_AUTH');
  });
});

test('engine: a host that is not allowed is REGISTRY_NOT_ALLOWED, without any request', async (t) => {
  await withHarness({ engine: { isRegistryAllowed: (host) => host !== '127.0.0.1:1' } }, async (h) => {
    const [verified, mutated] = [
      await h.engine.verify([`127.0.0.1:1/${REPO}@${MISSING}`], later(h)),
      await h.engine.mutate([`127.0.0.1:1/${REPO}:v1`], later(h)),
    ];
    t.is(errorCodeOf(verified[0]), 'REGISTRY_NOT_ALLOWED');
    t.is(mutated[0]?.error?.code, 'REGISTRY_NOT_ALLOWED');
  });
});

test('engine: one result per key in request order; duplicates computed once', async (t) => {
  await withHarness({}, async (h) => {
    const a = await h.image();
    const b = await h.image({ signer: null });
    const keys = [h.key(a.digest), 'bad key', h.key(a.digest), h.key(b.digest), h.key(a.digest, 'prod')];
    const results = await h.engine.verify(keys, later(h));
    t.deepEqual(
      results.map((r) => r.key),
      keys,
    );
    t.deepEqual(
      results.map((r) => (r.value ? r.value.verified : r.error.code)),
      [true, 'INVALID_REFERENCE', true, false, true],
    );
    // `…@a` and `[prod]…@a` are different keys for the same work: one verification of a in all.
    t.is(h.count(`/referrers/${a.digest}`), 1);
    t.is(h.count(`/manifests/${a.digest}`), 1);
  });
});

test('engine: the deadline is kept; the work finishes in the background and the retry is a cache hit', async (t) => {
  const decided: string[] = [];
  const observer: VerificationObserver = { keyDecided: (e) => decided.push(`${e.environment ?? '-'} ${e.outcome}`) };
  await withHarness({ engine: { observer } }, async (h) => {
    const image = await h.image();
    h.registry.intercept(async (req) => {
      if (req.url?.includes('/referrers/')) await sleep(400);
      return false;
    });
    const started = Date.now();
    const [first] = await h.engine.verify([h.key(image.digest)], { deadline: h.clock.now + 100 });
    const elapsed = Date.now() - started;
    t.is(errorCodeOf(first), 'DEADLINE_EXCEEDED');
    t.true(elapsed < 300, `returned after ${elapsed} ms`);
    t.is(h.engine.stats().inFlight, 1);

    await until(() => h.engine.stats().inFlight === 0);
    t.is(h.engine.stats().entries, 1);
    // The late verdict is not reported as a second answer to the first request.
    t.deepEqual(decided, ['prod DEADLINE_EXCEEDED']);
    const hitsBefore = h.engine.stats().hits;
    const [second] = await h.engine.verify([h.key(image.digest)], { deadline: h.clock.now + 100 });
    const value = valueOf(t, second);
    t.true(value.verified);
    t.true(value.cached);
    t.is(h.engine.stats().hits, hitsBefore + 1);
    t.is(h.count('/referrers/'), 1);
  });
});

test('engine: a deadline already past still answers from the cache', async (t) => {
  await withHarness({}, async (h) => {
    const image = await h.image();
    await h.engine.verify([h.key(image.digest)], later(h));
    const [result] = await h.engine.verify([h.key(image.digest)], { deadline: h.clock.now - 1 });
    t.true(valueOf(t, result).verified);
  });
});

test('engine: work past backgroundTimeoutMs is abandoned as DEADLINE_EXCEEDED', async (t) => {
  await withHarness({ engine: { backgroundTimeoutMs: 150 } }, async (h) => {
    const image = await h.image();
    h.registry.intercept(async (req) => {
      if (req.url?.includes('/referrers/')) await sleep(1_000);
      return false;
    });
    const [result] = await h.engine.verify([h.key(image.digest)], later(h, 3_000));
    t.is(errorCodeOf(result), 'DEADLINE_EXCEEDED');
    t.regex(result?.error?.message ?? '', /150 ms/);
    t.is(h.engine.stats().entries, 0);
  });
});

test('engine: identical work in concurrent requests is done once', async (t) => {
  await withHarness({}, async (h) => {
    const image = await h.image({ tag: 'v1' });
    h.registry.intercept(async (req) => {
      if (req.url?.includes('/referrers/') || req.url?.includes('/manifests/v1')) await sleep(100);
      return false;
    });
    const tagKey = `${h.registry.host}/${REPO}:v1`;
    const [one, two, three] = await Promise.all([
      h.engine.verify([h.key(image.digest)], later(h)),
      h.engine.verify([h.key(image.digest)], later(h)),
      h.engine.verify([tagKey], later(h)),
    ]);
    for (const results of [one, two, three]) t.true(valueOf(t, results[0]).verified);
    t.is(h.count('/referrers/'), 1);
    t.is(h.count('/manifests/v1'), 1);
    t.is(h.engine.stats().deduplicated, 2);
  });
});

test('engine: the cache is keyed by the trust generation; a new generation takes effect at once', async (t) => {
  const { stranger } = await pki();
  await withHarness({}, async (h) => {
    const image = await h.image();
    const key = h.key(image.digest);
    t.true(valueOf(t, (await h.engine.verify([key], later(h)))[0]).verified);
    t.true(valueOf(t, (await h.engine.verify([key], later(h)))[0]).cached);

    // The store now trusts only another root: same generation → the old answer; bumped → recomputed.
    const prod = h.environments.get('prod')!;
    const strangerStore = await trustStoreWith([stranger.root.certificate]);
    h.environments.set('prod', prod.policy!, strangerStore, prod.generation);
    t.true(valueOf(t, (await h.engine.verify([key], later(h)))[0]).verified);
    h.environments.set('prod', prod.policy!, strangerStore, prod.generation + 1);
    const value = valueOf(t, (await h.engine.verify([key], later(h)))[0]);
    t.false(value.verified);
    t.is(value.cached, undefined);
    t.is(value.reasons[0]?.code, 'UNTRUSTED_SIGNER');
    t.is(h.count('/referrers/'), 2);
  });
});

test('engine: the answer cache is bounded by entries (LRU)', async (t) => {
  await withHarness({ engine: { cache: { maxEntries: 2 } } }, async (h) => {
    const [a, b, c] = [await h.image(), await h.image(), await h.image()];
    await h.engine.verify([h.key(a.digest)], later(h));
    await h.engine.verify([h.key(b.digest)], later(h));
    await h.engine.verify([h.key(a.digest)], later(h)); // a is now more recent than b
    await h.engine.verify([h.key(c.digest)], later(h)); // evicts b
    t.is(h.engine.stats().entries, 2);
    const misses = h.engine.stats().misses;
    t.true(valueOf(t, (await h.engine.verify([h.key(a.digest)], later(h)))[0]).cached);
    t.is(valueOf(t, (await h.engine.verify([h.key(b.digest)], later(h)))[0]).cached, undefined);
    t.is(h.engine.stats().misses, misses + 1);
  });
});

test('engine: the answer cache is bounded by estimated bytes', async (t) => {
  let oneEntry = 0;
  await withHarness({}, async (h) => {
    const a = await h.image();
    await h.engine.verify([h.key(a.digest)], later(h));
    oneEntry = h.engine.stats().bytes;
  });
  t.true(oneEntry > 500, `one entry is ${oneEntry} bytes`);
  await withHarness({ engine: { cache: { maxBytes: Math.floor(oneEntry * 1.5) } } }, async (h) => {
    const [a, b] = [await h.image(), await h.image()];
    await h.engine.verify([h.key(a.digest)], later(h));
    await h.engine.verify([h.key(b.digest)], later(h));
    const stats = h.engine.stats();
    t.is(stats.entries, 1);
    t.true(stats.bytes <= oneEntry * 1.5);
  });
  await withHarness({ engine: { cache: { maxBytes: 100 } } }, async (h) => {
    const a = await h.image();
    t.true(valueOf(t, (await h.engine.verify([h.key(a.digest)], later(h)))[0]).verified);
    t.is(h.engine.stats().entries, 0);
  });
});

test('engine: answers expire after resultTtlMs', async (t) => {
  await withHarness({ engine: { cache: { resultTtlMs: 1_000 } } }, async (h) => {
    const a = await h.image();
    await h.engine.verify([h.key(a.digest)], later(h));
    h.clock.now += 999;
    t.true(valueOf(t, (await h.engine.verify([h.key(a.digest)], later(h)))[0]).cached);
    h.clock.now += 1;
    t.is(valueOf(t, (await h.engine.verify([h.key(a.digest)], later(h)))[0]).cached, undefined);
  });
});

test('engine: tag resolutions are cached for tagTtlMs', async (t) => {
  await withHarness({ engine: { cache: { tagTtlMs: 1_000 } } }, async (h) => {
    const first = await h.image({ tag: 'v1' });
    const key = `${h.registry.host}/${REPO}:v1`;
    t.is(valueOf(t, (await h.engine.verify([key], later(h)))[0]).digest, first.digest);
    t.is(valueOf(t, (await h.engine.verify([key], later(h)))[0]).digest, first.digest);
    t.is(h.count('/manifests/v1'), 1);

    // The tag moves; the old resolution is used until it expires.
    const second = await h.image({ tag: 'v1' });
    h.clock.now += 500;
    t.is(valueOf(t, (await h.engine.verify([key], later(h)))[0]).digest, first.digest);
    h.clock.now += 500;
    t.is(valueOf(t, (await h.engine.verify([key], later(h)))[0]).digest, second.digest);
    t.is(h.count('/manifests/v1'), 2);
    t.is(h.engine.stats().tagHits, 2);
  });
});

test('engine: undecided outcomes are not cached by default, and for undecidedTtlMs when set', async (t) => {
  const failing = (h: Harness) =>
    h.registry.intercept((req, res) => {
      if (!req.url?.includes('/referrers/')) return false;
      res.writeHead(500).end();
      return true;
    });
  await withHarness({}, async (h) => {
    const a = await h.image();
    failing(h);
    await h.engine.verify([h.key(a.digest)], later(h));
    await h.engine.verify([h.key(a.digest)], later(h));
    t.is(h.count('/referrers/'), 2);
  });
  await withHarness({ engine: { cache: { undecidedTtlMs: 1_000 } } }, async (h) => {
    const a = await h.image();
    failing(h);
    t.is(errorCodeOf((await h.engine.verify([h.key(a.digest)], later(h)))[0]), 'REGISTRY_UNAVAILABLE');
    t.is(errorCodeOf((await h.engine.verify([h.key(a.digest)], later(h)))[0]), 'REGISTRY_UNAVAILABLE');
    t.is(h.count('/referrers/'), 1);
    h.clock.now += 1_000;
    h.registry.intercept(undefined);
    t.true(valueOf(t, (await h.engine.verify([h.key(a.digest)], later(h)))[0]).verified);
  });
});

test('engine: verifications against one registry are bounded by concurrencyPerRegistry', async (t) => {
  await withHarness({ engine: { concurrencyPerRegistry: 1 } }, async (h) => {
    const images = [await h.image(), await h.image(), await h.image()];
    let active = 0;
    let peak = 0;
    h.registry.intercept(async (req) => {
      if (!req.url?.includes('/referrers/')) return false;
      active++;
      peak = Math.max(peak, active);
      await sleep(40);
      active--;
      return false;
    });
    const results = await h.engine.verify(
      images.map((i) => h.key(i.digest)),
      later(h),
    );
    t.true(results.every((r) => r.value?.verified === true));
    t.is(peak, 1);
  });
});

test('engine: mutate pins references to their digest', async (t) => {
  await withHarness({}, async (h) => {
    const image = await h.image({ tag: 'v1' });
    const keys = [
      `${h.registry.host}/${REPO}:v1`,
      `[prod]${h.registry.host}/${REPO}:v1`,
      `${h.registry.host}/${REPO}:v1@${MISSING}`,
      `alpine:3.20@${MISSING}`,
      `${h.registry.host}/${REPO}:nope`,
      'Bad Reference',
    ];
    const results = await h.engine.mutate(keys, later(h));
    t.deepEqual(
      results.map((r) => r.key),
      keys,
    );
    t.deepEqual(
      results.map((r) => r.value ?? r.error.code),
      [
        `${h.registry.host}/${REPO}@${image.digest}`,
        `${h.registry.host}/${REPO}@${image.digest}`,
        `${h.registry.host}/${REPO}@${MISSING}`,
        `docker.io/library/alpine@${MISSING}`,
        'NOT_FOUND',
        'INVALID_REFERENCE',
      ],
    );
    t.is(h.count('/manifests/v1'), 1);
    t.is(h.count(`/manifests/${MISSING}`), 0);
  });
});

test('engine: a mutate error names the image as sent (environment prefix dropped), after its code', async (t) => {
  await withHarness({}, async (h) => {
    const keys = [`[prod]${h.registry.host}/${REPO}:nope`, '127.0.0.1:1/app:v1', 'Bad Reference'];
    const results = await h.engine.mutate(keys, later(h));
    t.deepEqual(
      results.map((r) => r.error?.code),
      ['NOT_FOUND', 'REGISTRY_UNAVAILABLE', 'INVALID_REFERENCE'],
    );
    // Gatekeeper's mutation system drops the key from the error it reports: the message must carry it.
    const images = [`${h.registry.host}/${REPO}:nope`, '127.0.0.1:1/app:v1', 'Bad Reference'];
    results.forEach((r, i) => t.true(r.error?.message.startsWith(`${JSON.stringify(images[i])}: `), r.error?.message));
  });
});

test('engine: a registry host can be served from an OCI layout (sourceFor), Docker Hub scopes as docker.io/…', async (t) => {
  const { trusted } = await pki();
  const dir = await mkdtemp(join(tmpdir(), 'vouch-verify-layout-'));
  const layout = await OciLayoutWriter.create(dir);
  const image = buildImage();
  for (const blob of image.blobs) await layout.writeBlob(blob.bytes, blob.descriptor.mediaType);
  await layout.writeManifest(image.bytes, image.descriptor.mediaType, { tag: 'v1' });
  const signature = signatureFor(image, trusted, 'legacy');
  for (const blob of signature.blobs) await layout.writeBlob(blob.bytes, blob.descriptor.mediaType);
  await layout.writeManifest(signature.bytes, MEDIA_TYPE.ociManifest);
  const source = await OciLayoutSource.open(dir);

  const environments = new TestEnvironments();
  environments.set(
    'prod',
    policyFor([
      { name: 'airgap', scopes: ['registry.airgap.example/team/app'] },
      { name: 'hub', scopes: ['docker.io/library/app'] },
    ]),
    await trustStoreWith([trusted.root.certificate]),
  );
  const client = new RegistryClient({ isHostAllowed: () => false }); // nothing may go to the network
  const engine = new VerificationEngine({
    environments,
    client,
    revocation: new RevocationChecker({ offline: true }),
    sourceFor: (host) => (host === 'registry.airgap.example' || host === 'registry-1.docker.io' ? () => source : undefined),
  });
  const deadline = Date.now() + 10_000;
  const results = await engine.verify(
    ['registry.airgap.example/team/app:v1', `registry.airgap.example/team/app@${image.descriptor.digest}`, 'app:v1', 'other.example/x:v1'],
    { deadline },
  );
  const [airgapTag, airgapDigest, hub, elsewhere] = results;
  t.true(valueOf(t, airgapTag).verified);
  t.is(valueOf(t, airgapTag).trustPolicy, 'airgap');
  t.is(valueOf(t, airgapTag).digest, image.descriptor.digest);
  t.true(valueOf(t, airgapDigest).verified);
  t.true(valueOf(t, hub).verified);
  t.is(valueOf(t, hub).trustPolicy, 'hub');
  t.is(valueOf(t, hub).reference, `docker.io/library/app@${image.descriptor.digest}`);
  t.is(errorCodeOf(elsewhere), 'REGISTRY_NOT_ALLOWED'); // went to the (disallowed) registry client
  const mutated = await engine.mutate(['app:v1'], { deadline });
  t.is(mutated[0]?.value, `docker.io/library/app@${image.descriptor.digest}`);
  await engine.close();
  await client.close();
});

test('engine: observer hooks see cache lookups, outcomes and verifications; a throwing hook is harmless', async (t) => {
  const events: string[] = [];
  const observer: VerificationObserver = {
    cacheLookup: (e) => events.push(`lookup ${e.environment} ${e.hit ? 'hit' : 'miss'}`),
    keyDecided: (e) => events.push(`decided ${e.operation} ${e.environment ?? '-'} ${e.outcome}${e.cached ? ' cached' : ''}`),
    verificationFinished: (e) => {
      events.push(`finished ${e.environment} ${e.outcome}`);
      throw new Error('metrics are broken');
    },
  };
  await withHarness({ engine: { observer } }, async (h) => {
    const a = await h.image();
    const u = await h.image({ signer: null });
    t.true(valueOf(t, (await h.engine.verify([h.key(a.digest)], later(h)))[0]).verified);
    await h.engine.verify([h.key(a.digest), h.key(u.digest), '[dev]x'], later(h));
    await h.engine.mutate([h.key(a.digest)], later(h));
    // The first request is sequential; the second decides its keys concurrently.
    t.deepEqual(events.slice(0, 3), ['lookup prod miss', 'finished prod VERIFIED', 'decided verify prod VERIFIED']);
    t.deepEqual(
      events.slice(3, -1).sort(),
      [
        'decided verify - UNKNOWN_ENVIRONMENT',
        'lookup prod hit',
        'decided verify prod VERIFIED cached',
        'lookup prod miss',
        'finished prod NO_SIGNATURE',
        'decided verify prod NO_SIGNATURE',
      ].sort(),
    );
    t.is(events.at(-1), 'decided mutate - PINNED');
  });
});

test('engine: close() cancels background work', async (t) => {
  const h = await harness();
  const image = await h.image();
  h.registry.intercept(async (req) => {
    if (req.url?.includes('/referrers/')) await sleep(2_000);
    return false;
  });
  const pending = h.engine.verify([h.key(image.digest)], later(h));
  await sleep(50);
  const started = Date.now();
  await h.engine.close();
  t.true(Date.now() - started < 1_000);
  t.is(errorCodeOf((await pending)[0]), 'DEADLINE_EXCEEDED');
  await h.client.close();
  await h.registry.close();
});

test('engine: the same digest is decided per repository', async (t) => {
  await withHarness({}, async (h) => {
    // Signed in team/app; the same manifest pushed to team/other has no signature there.
    const image = buildImage();
    const app = h.repo;
    const other = h.client.repository(h.registry.host, 'team/other');
    for (const repo of [app, other]) {
      for (const blob of image.blobs) await repo.pushBlob(blob.bytes, blob.descriptor.mediaType);
      await repo.pushManifest(image.bytes, image.descriptor.mediaType);
    }
    const { trusted } = await pki();
    const signature = signatureFor(image, trusted);
    for (const blob of signature.blobs) await app.pushBlob(blob.bytes, blob.descriptor.mediaType);
    await app.pushManifest(signature.bytes, signature.descriptor.mediaType);
    h.environments.set('prod', policyFor([{ name: 'all', scopes: ['*'] }]), await trustStoreWith([trusted.root.certificate]), 2);
    const digest = computeDigest(image.bytes);
    const [inApp, inOther] = await h.engine.verify([h.key(digest), `${h.registry.host}/team/other@${digest}`], later(h));
    t.true(valueOf(t, inApp).verified);
    t.is(valueOf(t, inOther).reasons[0]?.code, 'NO_SIGNATURE');
  });
});

test('engine: verify never throws: faults in injected parts are INTERNAL errors for their keys', async (t) => {
  await withHarness(
    {
      engine: {
        sourceFor: (host) => {
          if (host === 'broken.example') throw new TypeError('sourceFor is broken');
          return undefined;
        },
      },
    },
    async (h) => {
      const image = await h.image();
      const results = await h.engine.verify([`broken.example/team/app@${MISSING}`, h.key(image.digest)], later(h));
      t.is(errorCodeOf(results[0]), 'INTERNAL');
      t.regex(results[0]?.error?.message ?? '', /sourceFor is broken/);
      t.true(valueOf(t, results[1]).verified);

      const get = h.environments.get.bind(h.environments);
      h.environments.get = (name) => {
        if (name === 'staging') throw new Error('catalog is broken');
        return get(name);
      };
      const [broken] = await h.engine.verify([h.key(image.digest, 'staging')], later(h));
      t.is(errorCodeOf(broken), 'INTERNAL');
    },
  );
});
