// The engine owns all its caches (answers, tags, parsed keys, parsed certificates, chain verdicts,
// the revocation checker's CRLs): they are bounded, clearCache() forgets every one, and two engines
// share nothing.

import test from 'ava';
import { RevocationChecker, createChainVerdictCache } from '../../../src/notation/index.js';
import { createCertificateCache } from '../../../src/trust/index.js';
import { VerificationEngine, type KeyResult } from '../../../src/verify/index.js';
import { REPO, harness, later, type Harness } from './setup.js';

function cachedOf(result: KeyResult | undefined): boolean {
  return result?.value?.cached === true;
}

class CountingRevocationChecker extends RevocationChecker {
  cleared = 0;
  override clearCache(): void {
    this.cleared++;
    super.clearCache();
  }
}

async function withHarness(options: Parameters<typeof harness>[0], fn: (h: Harness) => Promise<void>): Promise<void> {
  const h = await harness(options);
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

test('engine caches: clearCache() forgets answers, tags, certificates, chain verdicts and CRLs', async (t) => {
  const caches = { certificates: createCertificateCache(), chainVerdicts: createChainVerdictCache() };
  const revocation = new CountingRevocationChecker({ offline: true });
  await withHarness({ engine: { caches, revocation } }, async (h) => {
    await h.image({ tag: 'v1' });
    const key = `[prod]${h.registry.host}/${REPO}:v1`;
    t.true((await h.engine.verify([key], later(h)))[0]?.value?.verified);
    t.true(cachedOf((await h.engine.verify([key], later(h)))[0]));
    t.is(h.engine.stats().entries, 1);
    t.is(h.engine.stats().tagEntries, 1);
    t.is(caches.certificates.size, 2); // leaf and root
    t.is(caches.chainVerdicts.size, 1);

    h.engine.clearCache();
    t.is(h.engine.stats().entries, 0);
    t.is(h.engine.stats().bytes, 0);
    t.is(h.engine.stats().tagEntries, 0);
    t.is(caches.certificates.size, 0);
    t.is(caches.chainVerdicts.size, 0);
    t.is(revocation.cleared, 1);

    const tagMisses = h.engine.stats().tagMisses;
    const again = (await h.engine.verify([key], later(h)))[0];
    t.true(again?.value?.verified);
    t.false(cachedOf(again));
    t.is(h.engine.stats().tagMisses, tagMisses + 1);
    t.is(caches.chainVerdicts.size, 1);
  });
});

test('engine caches: two engines do not share state', async (t) => {
  const cachesA = { certificates: createCertificateCache(), chainVerdicts: createChainVerdictCache() };
  const cachesB = { certificates: createCertificateCache(), chainVerdicts: createChainVerdictCache() };
  await withHarness({ engine: { caches: cachesA } }, async (h) => {
    const other = new VerificationEngine({
      environments: h.environments,
      client: h.client,
      revocation: new RevocationChecker({ offline: true }),
      now: () => h.clock.now,
      caches: cachesB,
    });
    try {
      const image = await h.image();
      t.true((await h.engine.verify([h.key(image.digest)], later(h)))[0]?.value?.verified);
      t.is(h.engine.stats().entries, 1);
      t.is(other.stats().entries, 0);
      t.is(cachesA.chainVerdicts.size, 1);
      t.is(cachesB.chainVerdicts.size, 0);
      t.is(cachesB.certificates.size, 0);

      const fromOther = (await other.verify([h.key(image.digest)], later(h)))[0];
      t.true(fromOther?.value?.verified);
      t.false(cachedOf(fromOther)); // computed, not served from the first engine's answers
      t.is(cachesB.chainVerdicts.size, 1);

      // Clearing one engine leaves the other's caches alone.
      h.engine.clearCache();
      t.is(cachesA.chainVerdicts.size, 0);
      t.is(cachesB.chainVerdicts.size, 1);
      t.true(cachedOf((await other.verify([h.key(image.digest)], later(h)))[0]));
    } finally {
      await other.close();
    }
  });
});

test('engine caches: the certificate and chain caches it is given stay within their bounds', async (t) => {
  const caches = { certificates: createCertificateCache({ maxEntries: 1 }), chainVerdicts: createChainVerdictCache({ maxBytes: 100 }) };
  await withHarness({ engine: { caches } }, async (h) => {
    const [a, b] = [await h.image(), await h.image()];
    const results = await h.engine.verify([h.key(a.digest), h.key(b.digest)], later(h));
    t.true(results.every((r) => r.value?.verified === true));
    t.is(caches.certificates.size, 1);
    t.is(caches.chainVerdicts.size, 0); // one verdict alone is over the byte budget: not stored, still verified
  });
});

test('engine caches: the trust stores a policy names seed the certificate cache, again after clearCache()', async (t) => {
  const caches = { certificates: createCertificateCache(), chainVerdicts: createChainVerdictCache() };
  await withHarness({ engine: { caches } }, async (h) => {
    const image = await h.image();
    const env = h.environments.get('prod')!;
    const [root] = await env.trustStore!.getCertificates('ca', 'test');
    // The chain's root is the trust store's own parsed certificate, not a second parse of it.
    t.true((await h.engine.verify([h.key(image.digest)], later(h)))[0]?.value?.verified);
    t.is(caches.certificates.get(root!.sha256Fingerprint), root);
    h.engine.clearCache();
    t.is(caches.certificates.size, 0);
    t.true((await h.engine.verify([h.key(image.digest)], later(h)))[0]?.value?.verified);
    t.is(caches.certificates.get(root!.sha256Fingerprint), root);
  });
});
