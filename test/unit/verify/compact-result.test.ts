// Cached answers in their compact form: the same value and the same JSON as the full result, parts
// shared only between equal fields, frozen; and the engine serving them (the real engine on the fake registry).

import test from 'ava';
import fc from 'fast-check';
import { CompactResults, verificationResultJson } from '../../../src/verify/compact-result.js';
import type { VerificationResult } from '../../../src/verify/index.js';
import { harness, later } from './setup.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const SIGNATURE = `sha256:${'b'.repeat(64)}`;

function verified(reference: string, signer = 'CN=release,O=Acme Rockets,ST=WA,C=US'): VerificationResult {
  return {
    verified: true,
    environment: 'prod',
    reference,
    digest: DIGEST,
    signatures: [
      {
        type: 'notation',
        digest: SIGNATURE,
        verified: true,
        trustPolicy: 'apps',
        level: 'strict',
        signer,
        signingTime: '2026-01-02T03:04:05Z',
        reasons: [],
        warnings: [],
      },
    ],
    reasons: [],
    warnings: [],
    trustPolicy: 'apps',
  };
}

const failed: VerificationResult = {
  verified: false,
  environment: 'prod',
  reference: `registry.example/app@${DIGEST}`,
  digest: DIGEST,
  signatures: [
    { type: 'cosign', digest: SIGNATURE, verified: false, reasons: [{ code: 'INVALID_SIGNATURE', message: 'bad "sig"', detail: 'bad' }] },
  ],
  reasons: [{ code: 'INVALID_SIGNATURE', message: 'no valid signature for environment prod', check: 'integrity', detail: 'd' }],
  warnings: [],
};

const skipped: VerificationResult = { ...verified(`registry.example/app@${DIGEST}`), signatures: [], skipped: true };

const keyOf = (reference: string) => `prod\n3\n${reference}`;

test('compact: the same value and JSON as the full result marked cached, frozen', (t) => {
  const compact = new CompactResults();
  for (const result of [verified(`registry.example/app@${DIGEST}`), failed, skipped]) {
    const { value } = compact.compact(keyOf(result.reference), result);
    t.deepEqual(value, { ...result, cached: true });
    t.is(JSON.stringify(value), JSON.stringify({ ...result, cached: true }));
    t.is(verificationResultJson(value), JSON.stringify(value));
    t.true(Object.isFrozen(value) && Object.isFrozen(value.signatures) && Object.isFrozen(value.signatures[0]));
    t.throws(() => ((value.signatures as unknown[]).length = 0));
  }
});

test('compact: a reference the key does not end with (Docker Hub spelling) is kept as its own copy', (t) => {
  const result = verified(`docker.io/library/app@${DIGEST}`);
  const { value } = new CompactResults().compact(`prod\n3\nregistry-1.docker.io/library/app@${DIGEST}`, result);
  t.is(value.reference, result.reference);
  t.is(verificationResultJson(value), JSON.stringify({ ...result, cached: true }));
});

test('compact: equal parts are shared between entries, unequal ones never', (t) => {
  const compact = new CompactResults();
  const a = compact.compact(keyOf(`registry.example/a@${DIGEST}`), verified(`registry.example/a@${DIGEST}`)).value;
  const b = compact.compact(keyOf(`registry.example/b@${DIGEST}`), verified(`registry.example/b@${DIGEST}`)).value;
  const c = compact.compact(keyOf(`registry.example/c@${DIGEST}`), verified(`registry.example/c@${DIGEST}`, 'CN=someone else')).value;
  t.is(a.signatures, b.signatures);
  t.is(a.reasons, a.warnings); // both []
  t.not(a.reference, b.reference);
  t.not(a.signatures, c.signatures);
  t.is(c.signatures[0]?.signer, 'CN=someone else');
  t.is(a.signatures[0]?.signer, 'CN=release,O=Acme Rockets,ST=WA,C=US');
  t.is(verificationResultJson(b), JSON.stringify({ ...verified(`registry.example/b@${DIGEST}`), cached: true }));
  t.is(verificationResultJson(c), JSON.stringify({ ...verified(`registry.example/c@${DIGEST}`, 'CN=someone else'), cached: true }));
  // After clear(), new entries get new parts; the old entries keep theirs intact.
  compact.clear();
  const d = compact.compact(keyOf(`registry.example/d@${DIGEST}`), verified(`registry.example/d@${DIGEST}`)).value;
  t.not(d.signatures, a.signatures);
  t.deepEqual(d.signatures, a.signatures);
});

test('compact: the estimate grows with the key and the shared parts, and bounds what an unshared entry holds', (t) => {
  const compact = new CompactResults();
  const small = compact.compact(keyOf(`r.example/a@${DIGEST}`), verified(`r.example/a@${DIGEST}`)).bytes;
  const longKey = compact.compact(keyOf(`r.example/${'x'.repeat(101)}@${DIGEST}`), verified(`r.example/${'x'.repeat(101)}@${DIGEST}`));
  t.is(longKey.bytes - small, 100);
  const bigSigner = compact.compact(keyOf(`r.example/b@${DIGEST}`), verified(`r.example/b@${DIGEST}`, 'x'.repeat(1000))).bytes;
  // 1000 characters of signer instead of 37, at 1.75 bytes a character
  t.true(bigSigner - small >= 1.75 * 960);
});

const anyText = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 40 });

test('compact: the kept JSON equals JSON.stringify for any text in any field (quotes, controls, lone surrogates)', (t) => {
  const compact = new CompactResults();
  fc.assert(
    fc.property(anyText, anyText, anyText, fc.boolean(), fc.boolean(), (environment, repository, signer, ok, keyEndsWithReference) => {
      const reference = `r.example/${repository}@${DIGEST}`;
      const result = { ...verified(reference, signer), environment, verified: ok };
      const { value } = compact.compact(keyEndsWithReference ? keyOf(reference) : `${environment}\n1\nother`, result);
      return verificationResultJson(value) === JSON.stringify({ ...result, cached: true }) && value.reference === reference;
    }),
  );
  t.pass();
});

test('engine: a cached answer is the fresh one marked cached, with the same JSON', async (t) => {
  const h = await harness({});
  try {
    const image = await h.image({ tag: 'v1' });
    const keys = [h.key(image.digest), `[prod]${h.registry.host}/team/app:v1`];
    const fresh = await h.engine.verify(keys, later(h));
    const cached = await h.engine.verify(keys, later(h));
    for (const [i, result] of cached.entries()) {
      const value = result.value!;
      t.true(value.cached);
      t.is(JSON.stringify(value), JSON.stringify({ ...fresh[i]!.value, cached: true }));
      t.is(verificationResultJson(value), JSON.stringify(value));
    }
    // The two keys name one image: one cache entry, one value.
    t.is(cached[0]!.value, cached[1]!.value);
    t.is(h.engine.stats().entries, 1);
  } finally {
    await h.close();
  }
});
