// Environments that trust cosign: the engine looks for cosign signatures (legacy `.sig` manifests) beside
// Notary Project ones, reports them with `type: "cosign"`, accepts either kind by default, names the
// most relevant failure across kinds, hands cosign reports to a decision policy, and never looks for
// cosign signatures in environments that do not trust cosign. Signatures are made as cosign makes
// key-based ones (ECDSA P-256 over the simple-signing payload, https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md),
// and the repository's legacy-key vector (a real cosign signature) is pushed as its `.sig` manifest.

import test from 'ava';
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { computeDigest, type Digest } from '../../../src/core/index.js';
import { loadCosignPublicKey, type CosignTrust } from '../../../src/cosign/index.js';
import { ANNOTATION, MEDIA_TYPE, cosignSignatureTag } from '../../../src/oci/index.js';
import { loadPolicyFile } from '../../../src/policy/index.js';
import { decisionPolicyOf, type EnvironmentTrust, type VerificationResult, type KeyResult } from '../../../src/verify/index.js';
import { COSIGN_VECTORS } from '../../helpers/fixtures.js';
import { blob, buildCosignSigManifest, pushManifest, simpleSigningPayload, type BuiltManifest } from '../../helpers/oci-fixtures.js';
import { REPO_ROOT, toolPath } from '../../helpers/registries.js';
import { harness, later, pki, REPO, type Harness } from './setup.js';

const encoder = new TextEncoder();

interface CosignKey {
  privateKey: KeyObject;
  trust: CosignTrust;
  /** `sha256:<hex of the SPKI DER>`, as cosign reports name a key. */
  signer: string;
}

function cosignKey(): CosignKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return {
    privateKey,
    trust: { keys: [loadCosignPublicKey(pem, 'test.pub')], identities: [], requireTlog: false },
    signer: `sha256:${createHash('sha256').update(der).digest('hex')}`,
  };
}

/** A `.sig` manifest of simple-signing layers, each with its signature annotation. */
function sigManifest(layers: Array<{ payload: Uint8Array; signature: string }>): BuiltManifest {
  return buildCosignSigManifest(
    layers.map((l) => ({
      blob: blob(l.payload, MEDIA_TYPE.cosignSimpleSigning),
      annotations: { [ANNOTATION.cosignSignature]: l.signature },
    })),
  );
}

const simpleSigning = (digest: Digest): Uint8Array => simpleSigningPayload(digest, 'registry.example/team/app');

/** Signs `digest` the way `cosign sign --key --tlog-upload=false` does and pushes the `.sig` manifest. */
async function cosignSign(
  h: Harness,
  digest: Digest,
  key: CosignKey,
  options: { payloadFor?: Digest; tamper?: boolean } = {},
): Promise<BuiltManifest> {
  const payload = simpleSigning(options.payloadFor ?? digest);
  const signature = sign('sha256', payload, key.privateKey).toString('base64');
  if (options.tamper) payload[payload.length - 2]! ^= 1;
  const manifest = sigManifest([{ payload, signature }]);
  await pushManifest(h.repo, manifest, cosignSignatureTag(digest));
  return manifest;
}

function valueOf(result: KeyResult | undefined): VerificationResult {
  if (result?.value === undefined) throw new Error(`no value: ${JSON.stringify(result?.error)}`);
  return result.value;
}

async function verifyIn(h: Harness, env: string, digest: Digest | string): Promise<VerificationResult> {
  return valueOf((await h.engine.verify([h.key(digest, env)], later(h)))[0]);
}

function cosignRequests(h: Harness): number {
  return h.registry.requests.filter((r) => r.path.includes('.sig')).length;
}

const trusted = cosignKey();
const other = cosignKey();

async function setUp(t: { teardown(fn: () => Promise<void>): void }): Promise<{ h: Harness; prod: EnvironmentTrust }> {
  const h = await harness();
  t.teardown(() => h.close());
  const prod = h.environments.get('prod')!;
  const add = (env: Omit<EnvironmentTrust, 'generation'>) => h.environments.map.set(env.name, { generation: 1, ...env });
  add({ name: 'cosign', cosign: trusted.trust });
  add({ name: 'cosign-other', cosign: other.trust });
  add({ name: 'both', policy: prod.policy, trustStore: prod.trustStore, cosign: trusted.trust });
  return { h, prod };
}

test('cosign-only environment: a signature by its key verifies, reported with type cosign and the key as signer', async (t) => {
  const { h } = await setUp(t);
  const image = await h.image({ signer: null });
  const sig = await cosignSign(h, image.digest, trusted);

  const value = await verifyIn(h, 'cosign', image.digest);
  t.true(value.verified);
  t.deepEqual(value.reasons, []);
  t.is(value.trustPolicy, undefined);
  t.is(value.skipped, undefined);
  t.deepEqual(value.signatures, [{ type: 'cosign', digest: sig.descriptor.digest, verified: true, signer: trusted.signer, reasons: [] }]);

  const untrusted = await verifyIn(h, 'cosign-other', image.digest);
  t.false(untrusted.verified);
  t.is(untrusted.reasons[0]?.code, 'UNTRUSTED_SIGNER');
  t.regex(untrusted.reasons[0]?.message ?? '', /environment cosign-other: cosign signature sha256:[0-9a-f]{64}: /);
  t.deepEqual(
    untrusted.signatures.map((s) => [s.type, s.verified, s.signer, s.reasons[0]?.code]),
    [['cosign', false, undefined, 'UNTRUSTED_SIGNER']],
  );
});

test('cosign-only environment: NO_SIGNATURE without cosign signatures (a notation one does not count), NOT_FOUND for a missing image', async (t) => {
  const { h } = await setUp(t);
  const image = await h.image(); // signed by notation only
  const value = await verifyIn(h, 'cosign', image.digest);
  t.false(value.verified);
  t.is(value.reasons[0]?.code, 'NO_SIGNATURE');
  t.is(value.reasons[0]?.detail, `no cosign signature refers to ${image.digest}`);
  t.deepEqual(value.signatures, []);

  const missing = await verifyIn(h, 'cosign', `sha256:${'0'.repeat(64)}`);
  t.is(missing.reasons[0]?.code, 'NOT_FOUND');
});

test('cosign-only environment: a tampered payload, a payload for another image and a layer without signature are INVALID_SIGNATURE', async (t) => {
  const { h } = await setUp(t);
  const unsigned = await h.image({ signer: null });
  const sig = sigManifest([{ payload: simpleSigning(unsigned.digest), signature: '' }]);
  await pushManifest(h.repo, sig, cosignSignatureTag(unsigned.digest));
  const malformed = await verifyIn(h, 'cosign', unsigned.digest);
  t.false(malformed.verified);
  t.is(malformed.reasons[0]?.code, 'INVALID_SIGNATURE');
  t.deepEqual(
    malformed.signatures.map((s) => [s.type, s.digest, s.reasons[0]?.code]),
    [['cosign', sig.blobs[1]!.descriptor.digest, 'INVALID_SIGNATURE']],
  );

  const tampered = await h.image({ signer: null });
  await cosignSign(h, tampered.digest, trusted, { tamper: true });
  const elsewhere = await h.image({ signer: null });
  await cosignSign(h, elsewhere.digest, trusted, { payloadFor: tampered.digest });
  for (const image of [tampered, elsewhere]) {
    const value = await verifyIn(h, 'cosign', image.digest);
    t.false(value.verified);
    t.is(value.reasons[0]?.code, 'INVALID_SIGNATURE');
    t.is(value.signatures[0]?.type, 'cosign');
  }
});

test('both kinds configured: either kind verifies; NO_SIGNATURE naming both when neither is there', async (t) => {
  const { h } = await setUp(t);
  const notationOnly = await h.image();
  const cosignOnly = await h.image({ signer: null });
  await cosignSign(h, cosignOnly.digest, trusted);
  const unsigned = await h.image({ signer: null });

  const byNotation = await verifyIn(h, 'both', notationOnly.digest);
  t.true(byNotation.verified);
  t.deepEqual(
    byNotation.signatures.map((s) => s.type),
    ['notation'],
  );

  const byCosign = await verifyIn(h, 'both', cosignOnly.digest);
  t.true(byCosign.verified);
  t.is(byCosign.trustPolicy, 'prod-images');
  t.deepEqual(byCosign.warnings, []);
  t.deepEqual(
    byCosign.signatures.map((s) => [s.type, s.verified, s.signer]),
    [['cosign', true, trusted.signer]],
  );

  const none = await verifyIn(h, 'both', unsigned.digest);
  t.false(none.verified);
  t.is(none.reasons.length, 1);
  t.is(none.reasons[0]?.code, 'NO_SIGNATURE');
  t.is(none.reasons[0]?.detail, `no Notary Project or cosign signature refers to ${unsigned.digest}`);
});

test('both kinds configured: the most relevant failure of either kind decides, the other kind follows', async (t) => {
  const { h } = await setUp(t);
  const { stranger } = await pki();
  // No notation signature, a cosign one by an untrusted key: the cosign failure says more.
  const cosignUntrusted = await h.image({ signer: null });
  await cosignSign(h, cosignUntrusted.digest, other);
  const a = await verifyIn(h, 'both', cosignUntrusted.digest);
  t.deepEqual(
    a.reasons.map((r) => r.code),
    ['UNTRUSTED_SIGNER', 'NO_SIGNATURE'],
  );
  t.regex(a.reasons[0]!.detail!, /^cosign signature sha256:/);

  // A notation signature by an untrusted signer and a tampered cosign one: untrusted beats invalid.
  const mixed = await h.image({ signer: stranger });
  await cosignSign(h, mixed.digest, trusted, { tamper: true });
  const b = await verifyIn(h, 'both', mixed.digest);
  t.deepEqual(
    b.reasons.map((r) => r.code),
    ['UNTRUSTED_SIGNER', 'INVALID_SIGNATURE'],
  );
  t.is(b.reasons[0]?.check, 'authenticity');
  t.deepEqual(
    b.signatures.map((s) => [s.type, s.verified]),
    [
      ['notation', false],
      ['cosign', false],
    ],
  );

  // A tampered cosign signature and no notation one: the cosign failure decides.
  const tampered = await h.image({ signer: null });
  await cosignSign(h, tampered.digest, trusted, { tamper: true });
  t.deepEqual(
    (await verifyIn(h, 'both', tampered.digest)).reasons.map((r) => r.code),
    ['INVALID_SIGNATURE', 'NO_SIGNATURE'],
  );
});

test('notation-only environments never look for cosign signatures; cosign environments do', async (t) => {
  const { h } = await setUp(t);
  const image = await h.image({ signer: null });
  await cosignSign(h, image.digest, trusted);
  const before = cosignRequests(h);
  const value = await verifyIn(h, 'prod', image.digest);
  t.false(value.verified);
  t.is(value.reasons[0]?.code, 'NO_SIGNATURE');
  t.deepEqual(value.signatures, []);
  t.is(cosignRequests(h), before);
  t.true((await verifyIn(h, 'both', image.digest)).verified);
  t.true(cosignRequests(h) > before);
});

test('vector: the legacy-key cosign signature pushed as its .sig manifest verifies under cosign.pub, UNTRUSTED_SIGNER under cosign2.pub', async (t) => {
  const { h } = await setUp(t);
  const manifestBytes = new Uint8Array(await readFile(join(COSIGN_VECTORS, 'legacy-key', 'manifest.json')));
  const digest = computeDigest(manifestBytes);
  // Its config and layers are not part of the vector: stored as is (verification never reads them).
  t.is(h.registry.putManifest(REPO, manifestBytes), digest);
  const payload = new Uint8Array(await readFile(join(COSIGN_VECTORS, 'legacy-key', 'payload.json')));
  const signature = (await readFile(join(COSIGN_VECTORS, 'legacy-key', 'signature.b64'), 'utf8')).trim();
  await pushManifest(h.repo, sigManifest([{ payload, signature }]), cosignSignatureTag(digest));

  const keyTrust = async (file: string): Promise<CosignTrust> => ({
    keys: [loadCosignPublicKey(await readFile(join(COSIGN_VECTORS, 'legacy-key', file), 'utf8'), file)],
    identities: [],
    requireTlog: false,
  });
  h.environments.map.set('vector', { name: 'vector', generation: 1, cosign: await keyTrust('cosign.pub') });
  h.environments.map.set('vector-other', { name: 'vector-other', generation: 1, cosign: await keyTrust('cosign2.pub') });

  const good = await verifyIn(h, 'vector', digest);
  t.true(good.verified);
  const spki = loadCosignPublicKey(await readFile(join(COSIGN_VECTORS, 'legacy-key', 'cosign.pub'), 'utf8'));
  t.is(good.signatures[0]?.signer, `sha256:${spki.fingerprint}`);
  const bad = await verifyIn(h, 'vector-other', digest);
  t.false(bad.verified);
  t.is(bad.reasons[0]?.code, 'UNTRUSTED_SIGNER');
});

test('decision policy notation_and_cosign: both kinds verify → verified; one missing → POLICY_DENIED naming it; the input carries typed cosign reports', async (t) => {
  const { h, prod } = await setUp(t);
  const file = join(REPO_ROOT, 'examples', 'environment-policies', 'notation_and_cosign.rego');
  const wasm = await loadPolicyFile(file, { opaPath: toolPath('opa') });
  t.teardown(() => wasm.close());
  h.environments.map.set('strict', {
    name: 'strict',
    generation: 1,
    policy: prod.policy,
    trustStore: prod.trustStore,
    cosign: trusted.trust,
    decisionPolicy: decisionPolicyOf(wasm, file),
  });

  const signedByBoth = await h.image();
  await cosignSign(h, signedByBoth.digest, trusted);
  const both = await verifyIn(h, 'strict', signedByBoth.digest);
  t.true(both.verified, JSON.stringify(both.reasons));
  t.deepEqual(
    both.signatures.map((s) => [s.type, s.verified]),
    [
      ['notation', true],
      ['cosign', true],
    ],
  );

  const notationOnly = await h.image();
  const denied = await verifyIn(h, 'strict', notationOnly.digest);
  t.false(denied.verified);
  t.is(denied.reasons[0]?.code, 'POLICY_DENIED');
  t.is(
    denied.reasons[0]?.message,
    'no verified signature of kind cosign (required: one of each kind cosign, notation) (environment strict)',
  );

  const cosignOnly = await h.image({ signer: null });
  await cosignSign(h, cosignOnly.digest, trusted);
  const deniedToo = await verifyIn(h, 'strict', cosignOnly.digest);
  t.false(deniedToo.verified);
  t.regex(deniedToo.reasons[0]?.message ?? '', /^no verified signature of kind notation /);

  // The same environment without the policy accepts either.
  h.environments.map.set('strict', { ...h.environments.get('strict')!, decisionPolicy: undefined, generation: 2 });
  t.true((await verifyIn(h, 'strict', notationOnly.digest)).verified);
});
