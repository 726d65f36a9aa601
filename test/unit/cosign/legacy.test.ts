// The legacy cosign form (simple signing payload in a `.sig` layer) on the real cosign vectors
// (test/fixtures/vectors/cosign/README.md), and on keys of every type cosign signs with, generated here.

import test from 'ava';
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDigest, type Digest } from '../../../src/core/index.js';
import { COSIGN_ANNOTATION, loadCosignPublicKey, verifyCosignCandidate, type CosignTrust } from '../../../src/cosign/index.js';
import type { CosignCandidate } from '../../../src/oci/index.js';
import { COSIGN_VECTORS } from '../../helpers/fixtures.js';

const read = (name: string): Buffer => readFileSync(join(COSIGN_VECTORS, name));
const text = (name: string): string => read(name).toString('utf8');

/** containers/image's on-disk signature: 0x00, `sigstore-json\n`, then {mimeType, payload, annotations}. */
function candidateFromSignatureFile(dir: string): Extract<CosignCandidate, { form: 'legacy' }> {
  const bytes = read(`${dir}/signature-1`);
  const prefix = Buffer.from('\x00sigstore-json\n', 'latin1');
  if (!bytes.subarray(0, prefix.length).equals(prefix)) throw new Error('unexpected signature file');
  const parsed = JSON.parse(bytes.subarray(prefix.length).toString('utf8')) as {
    mimeType: string;
    payload: string;
    annotations: Record<string, string>;
  };
  const payload = Buffer.from(parsed.payload, 'base64');
  return legacyCandidate(payload, parsed.annotations, parsed.mimeType);
}

function legacyCandidate(
  payload: Uint8Array,
  annotations: Record<string, string>,
  mediaType = 'application/vnd.dev.cosign.simplesigning.v1+json',
) {
  return {
    form: 'legacy' as const,
    manifestDigest: sha256(Buffer.from('signature manifest')),
    layer: { mediaType, digest: sha256(payload), size: payload.length, annotations },
    payload,
    annotations,
  };
}

function sha256(bytes: Uint8Array): Digest {
  return parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
}

const KEY_DIGEST = sha256(read('legacy-key/manifest.json'));
const KEYLESS_DIGEST = sha256(read('legacy-keyless/manifest.json'));
const TRUSTED_ROOT = JSON.parse(text('bundle-v03/trusted_root_pgi.json')) as unknown;
const KEYLESS_IDENTITY = { subject: 'mitr@redhat.com', issuer: 'https://github.com/login/oauth' };

function keyTrust(pems: string[], extra: Partial<CosignTrust> = {}): CosignTrust {
  return { keys: pems.map((pem) => loadCosignPublicKey(pem)), identities: [], requireTlog: false, ...extra };
}

function keylessTrust(identities: CosignTrust['identities']): CosignTrust {
  return { keys: [], trustedRoot: TRUSTED_ROOT, identities, requireTlog: true };
}

test('the vectors bind the manifests they say they do', (t) => {
  t.is<string, string>(KEY_DIGEST, 'sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00');
  t.is<string, string>(KEYLESS_DIGEST, 'sha256:0489474da8ea22426ece86ace6c1c0026ab2fd3cdfbbd62b7e94650266c37d9a');
  const candidate = candidateFromSignatureFile('legacy-key');
  t.deepEqual(Buffer.from(candidate.payload), read('legacy-key/payload.json'));
});

test('legacy key: verifies with cosign.pub, signer is the key fingerprint', async (t) => {
  const key = loadCosignPublicKey(text('legacy-key/cosign.pub'));
  const report = await verifyCosignCandidate(
    candidateFromSignatureFile('legacy-key'),
    KEY_DIGEST,
    keyTrust([text('legacy-key/cosign.pub')]),
  );
  t.deepEqual(report.reasons, []);
  t.true(report.verified);
  t.is(report.signer, `sha256:${key.fingerprint}`);
  t.is(report.type, 'cosign');
});

test('legacy key: any of several keys may verify it', async (t) => {
  const report = await verifyCosignCandidate(
    candidateFromSignatureFile('legacy-key'),
    KEY_DIGEST,
    keyTrust([text('legacy-key/cosign2.pub'), text('legacy-key/cosign.pub')]),
  );
  t.true(report.verified);
  t.is(report.signer, `sha256:${loadCosignPublicKey(text('legacy-key/cosign.pub')).fingerprint}`);
});

test('legacy key: cosign2.pub is UNTRUSTED_SIGNER', async (t) => {
  const report = await verifyCosignCandidate(
    candidateFromSignatureFile('legacy-key'),
    KEY_DIGEST,
    keyTrust([text('legacy-key/cosign2.pub')]),
  );
  t.false(report.verified);
  t.is(report.signer, undefined);
  t.deepEqual(
    report.reasons.map((r) => r.code),
    ['UNTRUSTED_SIGNER'],
  );
});

test('legacy key: no key configured is UNTRUSTED_SIGNER', async (t) => {
  const report = await verifyCosignCandidate(candidateFromSignatureFile('legacy-key'), KEY_DIGEST, keyTrust([]));
  t.false(report.verified);
  t.is(report.reasons[0]?.code, 'UNTRUSTED_SIGNER');
});

test('legacy key: a flipped payload byte in the signed digest is INVALID_SIGNATURE', async (t) => {
  const candidate = candidateFromSignatureFile('legacy-key');
  const payload = Buffer.from(candidate.payload);
  const at = payload.indexOf('634a8f35');
  payload[at] = 'f'.charCodeAt(0);
  const report = await verifyCosignCandidate({ ...candidate, payload }, KEY_DIGEST, keyTrust([text('legacy-key/cosign.pub')]));
  t.false(report.verified);
  t.deepEqual(
    report.reasons.map((r) => r.code),
    ['INVALID_SIGNATURE'],
  );
});

test('legacy key: a flipped payload byte elsewhere no longer verifies under the key', async (t) => {
  // Without a log entry, bytes the key did not sign and a key that did not sign them are the same
  // observation: the report says no configured key verifies the signature.
  const candidate = candidateFromSignatureFile('legacy-key');
  const payload = Buffer.from(candidate.payload);
  const at = payload.indexOf('cosign-signed-single-sample');
  payload[at] = 'C'.charCodeAt(0);
  const report = await verifyCosignCandidate({ ...candidate, payload }, KEY_DIGEST, keyTrust([text('legacy-key/cosign.pub')]));
  t.false(report.verified);
  t.deepEqual(
    report.reasons.map((r) => r.code),
    ['UNTRUSTED_SIGNER'],
  );
});

test('legacy key: a payload for another image digest is INVALID_SIGNATURE', async (t) => {
  const report = await verifyCosignCandidate(
    candidateFromSignatureFile('legacy-key'),
    KEYLESS_DIGEST,
    keyTrust([text('legacy-key/cosign.pub')]),
  );
  t.false(report.verified);
  t.deepEqual(
    report.reasons.map((r) => r.code),
    ['INVALID_SIGNATURE'],
  );
});

test('legacy key: a payload of another type, or not JSON, or without a signature is INVALID_SIGNATURE', async (t) => {
  const candidate = candidateFromSignatureFile('legacy-key');
  const trust = keyTrust([text('legacy-key/cosign.pub')]);
  const otherType = Buffer.from(
    Buffer.from(candidate.payload).toString('utf8').replace('cosign container image signature', 'atomic container signature'),
  );
  const cases: CosignCandidate[] = [
    { ...candidate, payload: otherType },
    { ...candidate, payload: Buffer.from('not json') },
    { ...candidate, annotations: {} },
    { ...candidate, annotations: { [COSIGN_ANNOTATION.signature]: '%%%' } },
  ];
  for (const c of cases) {
    const report = await verifyCosignCandidate(c, KEY_DIGEST, trust);
    t.false(report.verified);
    t.is(report.reasons[0]?.code, 'INVALID_SIGNATURE');
  }
});

test('legacy key: requireTlog without a log entry fails, saying so', async (t) => {
  const report = await verifyCosignCandidate(
    candidateFromSignatureFile('legacy-key'),
    KEY_DIGEST,
    keyTrust([text('legacy-key/cosign.pub')], { requireTlog: true, trustedRoot: TRUSTED_ROOT }),
  );
  t.false(report.verified);
  t.is(report.reasons[0]?.code, 'UNTRUSTED_SIGNER');
  t.regex(report.reasons[0]!.message, /requireTlog/);
});

// cosign signs the simple signing payload with the key's own scheme (sigstore pkg/signature):
// ECDSA and RSA PKCS#1 v1.5 over its sha256, Ed25519 pure over the payload itself.
const GENERATED: Array<{
  name: string;
  pair: () => { publicKey: KeyObject; privateKey: KeyObject };
  hash: string | null;
  keyType: string;
}> = [
  { name: 'ECDSA P-256', pair: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }), hash: 'sha256', keyType: 'ecdsa-p256' },
  { name: 'ECDSA P-384', pair: () => generateKeyPairSync('ec', { namedCurve: 'P-384' }), hash: 'sha256', keyType: 'ecdsa-p384' },
  { name: 'RSA 2048', pair: () => generateKeyPairSync('rsa', { modulusLength: 2048 }), hash: 'sha256', keyType: 'rsa' },
  { name: 'Ed25519', pair: () => generateKeyPairSync('ed25519'), hash: null, keyType: 'ed25519' },
];

for (const { name, pair, hash, keyType } of GENERATED) {
  test(`generated ${name} key: a simple signing signature verifies, and not under another key of its type`, async (t) => {
    const { publicKey, privateKey } = pair();
    const other = pair().publicKey;
    const payload = read('legacy-key/payload.json');
    const signature = sign(hash, payload, privateKey).toString('base64');
    const candidate = legacyCandidate(payload, { [COSIGN_ANNOTATION.signature]: signature });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const key = loadCosignPublicKey(pem);
    t.is<string, string>(key.keyType, keyType);
    t.is(
      key.fingerprint,
      createHash('sha256')
        .update(publicKey.export({ type: 'spki', format: 'der' }))
        .digest('hex'),
    );

    const ok = await verifyCosignCandidate(candidate, KEY_DIGEST, keyTrust([pem]));
    t.deepEqual(ok.reasons, []);
    t.true(ok.verified);
    t.is(ok.signer, `sha256:${key.fingerprint}`);

    const wrong = await verifyCosignCandidate(candidate, KEY_DIGEST, keyTrust([other.export({ type: 'spki', format: 'pem' }).toString()]));
    t.false(wrong.verified);
    t.is(wrong.reasons[0]?.code, 'UNTRUSTED_SIGNER');
  });
}

test('legacy keyless: verifies at the integrated time with the anchored identity', async (t) => {
  const report = await verifyCosignCandidate(
    candidateFromSignatureFile('legacy-keyless'),
    KEYLESS_DIGEST,
    keylessTrust([KEYLESS_IDENTITY]),
  );
  t.deepEqual(report.reasons, []);
  t.true(report.verified);
  t.is(report.signer, 'mitr@redhat.com (https://github.com/login/oauth)');
});

test('legacy keyless: an identity regular expression matching the whole SAN verifies', async (t) => {
  const report = await verifyCosignCandidate(
    candidateFromSignatureFile('legacy-keyless'),
    KEYLESS_DIGEST,
    keylessTrust([{ subjectRegExp: '.*@redhat\\.com', issuer: KEYLESS_IDENTITY.issuer }]),
  );
  t.true(report.verified);
});

test('legacy keyless: identities matching only part of the SAN are UNTRUSTED_SIGNER', async (t) => {
  // @sigstore/verify alone would accept every one of these (its SAN match is unanchored).
  for (const identity of [
    { subjectRegExp: 'itr@redhat', issuer: KEYLESS_IDENTITY.issuer },
    { subjectRegExp: 'mitr@redhat', issuer: KEYLESS_IDENTITY.issuer },
    { subject: 'itr@redhat.com', issuer: KEYLESS_IDENTITY.issuer },
    { subject: 'mitr@redhat', issuer: KEYLESS_IDENTITY.issuer },
    { subjectRegExp: 'mitr@redhat.com|nobody', issuer: KEYLESS_IDENTITY.issuer, extensions: { '1.3.6.1.4.1.57264.1.1': 'x' } },
  ]) {
    const report = await verifyCosignCandidate(candidateFromSignatureFile('legacy-keyless'), KEYLESS_DIGEST, keylessTrust([identity]));
    t.false(report.verified, JSON.stringify(identity));
    t.is(report.reasons[0]?.code, 'UNTRUSTED_SIGNER', JSON.stringify(identity));
  }
});

test('legacy keyless: an exact subject is not a regular expression', async (t) => {
  const report = await verifyCosignCandidate(
    candidateFromSignatureFile('legacy-keyless'),
    KEYLESS_DIGEST,
    keylessTrust([{ subject: 'mitr@redhat.co.', issuer: KEYLESS_IDENTITY.issuer }]),
  );
  t.is(report.reasons[0]?.code, 'UNTRUSTED_SIGNER');
});

test('legacy keyless: another issuer is UNTRUSTED_SIGNER; a later matching identity still verifies', async (t) => {
  const candidate = candidateFromSignatureFile('legacy-keyless');
  const wrong = { subject: KEYLESS_IDENTITY.subject, issuer: 'https://accounts.google.com' };
  const rejected = await verifyCosignCandidate(candidate, KEYLESS_DIGEST, keylessTrust([wrong]));
  t.is(rejected.reasons[0]?.code, 'UNTRUSTED_SIGNER');
  const accepted = await verifyCosignCandidate(candidate, KEYLESS_DIGEST, keylessTrust([wrong, KEYLESS_IDENTITY]));
  t.true(accepted.verified);
});

test('legacy keyless: the v1 issuer extension can be required exactly', async (t) => {
  const candidate = candidateFromSignatureFile('legacy-keyless');
  const ok = await verifyCosignCandidate(
    candidate,
    KEYLESS_DIGEST,
    keylessTrust([{ ...KEYLESS_IDENTITY, extensions: { '1.3.6.1.4.1.57264.1.1': 'https://github.com/login/oauth' } }]),
  );
  t.true(ok.verified);
});

test('legacy keyless: a Rekor SET for another payload fails', async (t) => {
  const candidate = candidateFromSignatureFile('legacy-keyless');
  // A real public-good entry with a valid SET, for another signature (the bundle-v03 attestation).
  const bundle = JSON.parse(text('bundle-v03/oci-attestation.sigstore.json')) as {
    verificationMaterial: {
      tlogEntries: Array<{
        logIndex: string;
        logId: { keyId: string };
        integratedTime: string;
        inclusionPromise: { signedEntryTimestamp: string };
        canonicalizedBody: string;
      }>;
    };
  };
  const entry = bundle.verificationMaterial.tlogEntries[0]!;
  const foreign = JSON.stringify({
    SignedEntryTimestamp: entry.inclusionPromise.signedEntryTimestamp,
    Payload: {
      body: entry.canonicalizedBody,
      integratedTime: Number(entry.integratedTime),
      logIndex: Number(entry.logIndex),
      logID: Buffer.from(entry.logId.keyId, 'base64').toString('hex'),
    },
  });
  const report = await verifyCosignCandidate(
    { ...candidate, annotations: { ...candidate.annotations, [COSIGN_ANNOTATION.bundle]: foreign } },
    KEYLESS_DIGEST,
    keylessTrust([KEYLESS_IDENTITY]),
  );
  t.false(report.verified);
  t.is(report.reasons[0]?.code, 'INVALID_SIGNATURE');

  // The SET of this entry over an altered entry no longer verifies either.
  const own = JSON.parse(candidate.annotations[COSIGN_ANNOTATION.bundle]!) as { Payload: { logIndex: number } };
  own.Payload.logIndex += 1;
  const altered = await verifyCosignCandidate(
    { ...candidate, annotations: { ...candidate.annotations, [COSIGN_ANNOTATION.bundle]: JSON.stringify(own) } },
    KEYLESS_DIGEST,
    keylessTrust([KEYLESS_IDENTITY]),
  );
  t.false(altered.verified);
  t.is(altered.reasons[0]?.code, 'INVALID_SIGNATURE');
});

test('legacy keyless: a flipped payload byte is INVALID_SIGNATURE (the log entry binds the payload)', async (t) => {
  const candidate = candidateFromSignatureFile('legacy-keyless');
  const payload = Buffer.from(candidate.payload);
  payload[payload.indexOf('cosign-signed')] = 'C'.charCodeAt(0);
  const report = await verifyCosignCandidate({ ...candidate, payload }, KEYLESS_DIGEST, keylessTrust([KEYLESS_IDENTITY]));
  t.false(report.verified);
  t.is(report.reasons[0]?.code, 'INVALID_SIGNATURE');
});

test('legacy keyless: without the Rekor bundle, or without a trusted root, it is not trusted', async (t) => {
  const candidate = candidateFromSignatureFile('legacy-keyless');
  const { [COSIGN_ANNOTATION.bundle]: _dropped, ...withoutBundle } = candidate.annotations;
  const noEntry = await verifyCosignCandidate(
    { ...candidate, annotations: withoutBundle },
    KEYLESS_DIGEST,
    keylessTrust([KEYLESS_IDENTITY]),
  );
  t.is(noEntry.reasons[0]?.code, 'UNTRUSTED_SIGNER');
  const noRoot = await verifyCosignCandidate(candidate, KEYLESS_DIGEST, { keys: [], identities: [KEYLESS_IDENTITY], requireTlog: true });
  t.is(noRoot.reasons[0]?.code, 'UNTRUSTED_SIGNER');
});

test('legacy keyless: a trusted root without the signing CA is UNTRUSTED_SIGNER', async (t) => {
  const root = JSON.parse(text('bundle-v03/trusted_root_pgi.json')) as { certificateAuthorities: unknown[] };
  const report = await verifyCosignCandidate(candidateFromSignatureFile('legacy-keyless'), KEYLESS_DIGEST, {
    ...keylessTrust([KEYLESS_IDENTITY]),
    trustedRoot: { ...root, certificateAuthorities: [] },
  });
  t.false(report.verified);
  t.is(report.reasons[0]?.code, 'UNTRUSTED_SIGNER');
});
