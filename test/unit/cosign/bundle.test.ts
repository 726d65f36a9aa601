// verifyCosignBundle over the real cosign bundle v0.3 vector (keyless, DSSE, public-good Sigstore;
// expected outcomes in test/fixtures/vectors/cosign/README.md) and over a key-based bundle that the
// real cosign CLI writes to a real registry (olareg, OCI 1.1 referrers) with no network beyond loopback.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { keySigner, loadCosignPublicKey, verifyCosignBundle, type CosignIdentity, type CosignTrust } from '../../../src/cosign/index.js';
import { parseDigest, type Digest } from '../../../src/core/index.js';
import { RegistryClient } from '../../../src/oci/index.js';
import { COSIGN_VECTORS } from '../../helpers/fixtures.js';
import { buildImage, pushManifest } from '../../helpers/oci-fixtures.js';
import { startReferrersRegistry, toolPath } from '../../helpers/registries.js';

const VECTOR = join(COSIGN_VECTORS, 'bundle-v03');
const SUBJECT = parseDigest('sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4');
const OTHER = parseDigest(`sha256:${'ab'.repeat(32)}`);
const SIGNATURE = parseDigest(`sha256:${'cd'.repeat(32)}`);
const ISSUER = 'https://github.com/login/oauth';

const bundleJson = async (): Promise<Record<string, unknown>> =>
  JSON.parse(await readFile(join(VECTOR, 'oci-attestation.sigstore.json'), 'utf8')) as Record<string, unknown>;
const trustedRoot = async (): Promise<unknown> => JSON.parse(await readFile(join(VECTOR, 'trusted_root_pgi.json'), 'utf8'));

async function keylessTrust(identities: CosignIdentity[], requireTlog = false): Promise<CosignTrust> {
  return { keys: [], trustedRoot: await trustedRoot(), identities, requireTlog };
}

const codes = (report: { reasons: Array<{ code: string }> }) => report.reasons.map((r) => r.code);

test('keyless DSSE bundle: the exact SAN and issuer verify offline; the signer is "SAN (issuer)"', async (t) => {
  for (const requireTlog of [false, true]) {
    const report = await verifyCosignBundle(
      await bundleJson(),
      SUBJECT,
      await keylessTrust([{ subject: 'cody@soyland.com', issuer: ISSUER }], requireTlog),
      { signatureDigest: SIGNATURE },
    );
    t.deepEqual(report, {
      type: 'cosign',
      digest: SIGNATURE,
      verified: true,
      signer: `cody@soyland.com (${ISSUER})`,
      reasons: [],
    });
  }
});

test('keyless: an anchored regexp matches, and the second identity is tried when the first does not', async (t) => {
  const report = await verifyCosignBundle(
    await bundleJson(),
    SUBJECT,
    await keylessTrust([
      { subject: 'someone@else.example', issuer: ISSUER },
      { subjectRegExp: '[a-z]+@soyland\\.com', issuer: ISSUER },
    ]),
    { signatureDigest: SIGNATURE },
  );
  t.true(report.verified);
});

test('keyless: a wrong SAN, a wrong issuer, or no identity at all is UNTRUSTED_SIGNER', async (t) => {
  const cases: CosignIdentity[][] = [
    [{ subject: 'mallory@soyland.com', issuer: ISSUER }],
    [{ subject: 'cody@soyland.com', issuer: 'https://accounts.google.com' }],
    [],
  ];
  for (const identities of cases) {
    const report = await verifyCosignBundle(await bundleJson(), SUBJECT, await keylessTrust(identities), { signatureDigest: SIGNATURE });
    t.false(report.verified, JSON.stringify(identities));
    t.deepEqual(codes(report), ['UNTRUSTED_SIGNER'], JSON.stringify(identities));
    t.is(report.signer, undefined);
  }
});

test('keyless: the patterns the library accepts unanchored (dy@soyland, c.dy@soyland.com) are UNTRUSTED_SIGNER', async (t) => {
  for (const identity of [
    { subjectRegExp: 'dy@soyland', issuer: ISSUER },
    { subjectRegExp: 'c.dy@soyland', issuer: ISSUER },
    { subject: 'dy@soyland', issuer: ISSUER },
    { subject: 'c.dy@soyland.com', issuer: ISSUER },
  ]) {
    const report = await verifyCosignBundle(await bundleJson(), SUBJECT, await keylessTrust([identity]), { signatureDigest: SIGNATURE });
    t.deepEqual(codes(report), ['UNTRUSTED_SIGNER'], JSON.stringify(identity));
  }
  // the regexp is still a regexp inside the anchors: `c.dy@soyland\.com` matches cody@…
  const dot = await verifyCosignBundle(
    await bundleJson(),
    SUBJECT,
    await keylessTrust([{ subjectRegExp: 'c.dy@soyland\\.com', issuer: ISSUER }]),
    { signatureDigest: SIGNATURE },
  );
  t.true(dot.verified);
});

test('keyless: certificate extensions by OID (.1.8 DER, .1.1 raw) must match', async (t) => {
  const ok = await verifyCosignBundle(
    await bundleJson(),
    SUBJECT,
    await keylessTrust([
      {
        subject: 'cody@soyland.com',
        issuer: ISSUER,
        extensions: { '1.3.6.1.4.1.57264.1.8': ISSUER, '1.3.6.1.4.1.57264.1.1': ISSUER },
      },
    ]),
    { signatureDigest: SIGNATURE },
  );
  t.true(ok.verified);
  const wrongExtensions: Array<Record<string, string>> = [
    { '1.3.6.1.4.1.57264.1.8': 'https://accounts.google.com' },
    { '1.3.6.1.4.1.57264.1.9': 'https://github.com/x/y' },
  ];
  for (const extensions of wrongExtensions) {
    const report = await verifyCosignBundle(
      await bundleJson(),
      SUBJECT,
      await keylessTrust([{ subject: 'cody@soyland.com', issuer: ISSUER, extensions }]),
      { signatureDigest: SIGNATURE },
    );
    t.deepEqual(codes(report), ['UNTRUSTED_SIGNER'], JSON.stringify(extensions));
  }
});

test('keyless: one flipped byte in the DSSE payload (the subject still names the image) is INVALID_SIGNATURE', async (t) => {
  const bundle = await bundleJson();
  const envelope = bundle['dsseEnvelope'] as { payload: string };
  const statement = Buffer.from(envelope.payload, 'base64').toString('utf8');
  const at = statement.indexOf('attestation/v1');
  t.true(at > 0);
  // 'v1' → 'v2' inside predicateType: still JSON, still the same subject, no longer what was signed and logged.
  const tampered = `${statement.slice(0, at + 'attestation/v'.length)}2${statement.slice(at + 'attestation/v1'.length)}`;
  envelope.payload = Buffer.from(tampered, 'utf8').toString('base64');
  const report = await verifyCosignBundle(bundle, SUBJECT, await keylessTrust([{ subject: 'cody@soyland.com', issuer: ISSUER }]), {
    signatureDigest: SIGNATURE,
  });
  t.deepEqual(codes(report), ['INVALID_SIGNATURE']);
});

test('keyless: an image digest that is not an in-toto subject is INVALID_SIGNATURE', async (t) => {
  const report = await verifyCosignBundle(
    await bundleJson(),
    OTHER,
    await keylessTrust([{ subject: 'cody@soyland.com', issuer: ISSUER }]),
    { signatureDigest: SIGNATURE },
  );
  t.deepEqual(codes(report), ['INVALID_SIGNATURE']);
});

test('keyless: without a trusted root, or with a root whose CAs did not issue the leaf, it is UNTRUSTED_SIGNER', async (t) => {
  const identities = [{ subject: 'cody@soyland.com', issuer: ISSUER }];
  const noRoot = await verifyCosignBundle(
    await bundleJson(),
    SUBJECT,
    { keys: [], identities, requireTlog: false },
    { signatureDigest: SIGNATURE },
  );
  t.deepEqual(codes(noRoot), ['UNTRUSTED_SIGNER']);
  const root = (await trustedRoot()) as { certificateAuthorities: unknown[] };
  root.certificateAuthorities = [];
  const noCa = await verifyCosignBundle(
    await bundleJson(),
    SUBJECT,
    { keys: [], trustedRoot: root, identities, requireTlog: false },
    { signatureDigest: SIGNATURE },
  );
  t.deepEqual(codes(noCa), ['UNTRUSTED_SIGNER']);
});

test('keyless: a leaf checked at a time outside its ten-minute validity is EXPIRED', async (t) => {
  // The library checks the chain at the log's integrated time before it checks the log's promise,
  // so an entry dated an hour later reaches the certificate check first.
  const bundle = await bundleJson();
  const material = bundle['verificationMaterial'] as { tlogEntries: Array<{ integratedTime: string }> };
  material.tlogEntries[0]!.integratedTime = String(Number(material.tlogEntries[0]!.integratedTime) + 3600);
  const report = await verifyCosignBundle(bundle, SUBJECT, await keylessTrust([{ subject: 'cody@soyland.com', issuer: ISSUER }]), {
    signatureDigest: SIGNATURE,
  });
  t.deepEqual(codes(report), ['EXPIRED']);
});

test('malformed bundles are INVALID_SIGNATURE', async (t) => {
  const trust = await keylessTrust([{ subject: 'cody@soyland.com', issuer: ISSUER }]);
  const broken = await bundleJson();
  delete broken['verificationMaterial'];
  for (const json of [null, 'bundle', { mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json' }, broken]) {
    const report = await verifyCosignBundle(json, SUBJECT, trust, { signatureDigest: SIGNATURE });
    t.deepEqual(codes(report), ['INVALID_SIGNATURE'], JSON.stringify(json));
  }
});

// ---------------------------------------------------------------------------------------------------
// Key-based: `cosign sign --key … --new-bundle-format --tlog-upload=false` against olareg.

const run = promisify(execFile);

interface CosignSigned {
  bundle: unknown;
  subject: Digest;
  publicKeyPem: string;
}

async function cosignSignedImage(): Promise<CosignSigned> {
  const work = await mkdtemp(join(tmpdir(), 'vouch-cosign-'));
  const registry = await startReferrersRegistry();
  const client = new RegistryClient({ hosts: { [registry.host]: { plainHttp: true } } });
  try {
    const env = { ...process.env, COSIGN_PASSWORD: '', HOME: work, TUF_ROOT: join(work, 'tuf') };
    const cosign = toolPath('cosign');
    await run(cosign, ['generate-key-pair', '--output-key-prefix', join(work, 'k')], { env, cwd: work });
    const repo = client.repository(registry.host, 'vouch/cosign-key');
    const image = buildImage();
    await pushManifest(repo, image, 'v1');
    const reference = `${registry.host}/vouch/cosign-key@${image.descriptor.digest}`;
    await run(
      cosign,
      ['sign', '--key', join(work, 'k.key'), '--new-bundle-format', '--tlog-upload=false', '--allow-http-registry', '--yes', reference],
      { env, cwd: work, timeout: 60_000 },
    );
    // Read the referrer back over the distribution API (BUNDLE_SPEC.md "Retrieval").
    const index = (await (await fetch(`${registry.url}/v2/vouch/cosign-key/referrers/${image.descriptor.digest}`)).json()) as {
      manifests: Array<{ digest: string; artifactType?: string }>;
    };
    const referrers = index.manifests.filter((m) => m.artifactType === 'application/vnd.dev.sigstore.bundle.v0.3+json');
    if (referrers.length !== 1) throw new Error(`expected one bundle referrer, got ${JSON.stringify(index)}`);
    const manifest = (await (
      await fetch(`${registry.url}/v2/vouch/cosign-key/manifests/${referrers[0]!.digest}`, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      })
    ).json()) as { layers: Array<{ digest: string }> };
    const bundle: unknown = await (await fetch(`${registry.url}/v2/vouch/cosign-key/blobs/${manifest.layers[0]!.digest}`)).json();
    return { bundle, subject: image.descriptor.digest, publicKeyPem: await readFile(join(work, 'k.pub'), 'utf8') };
  } finally {
    await client.close();
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
}

let signed: Promise<CosignSigned> | undefined;
const cosignSigned = () => (signed ??= cosignSignedImage());

test('key-based bundle from the cosign CLI verifies with its key; the signer is the key fingerprint (= the bundle hint)', async (t) => {
  const { bundle, subject, publicKeyPem } = await cosignSigned();
  const key = loadCosignPublicKey(publicKeyPem);
  const report = await verifyCosignBundle(
    bundle,
    subject,
    { keys: [key], identities: [], requireTlog: false },
    { signatureDigest: SIGNATURE },
  );
  t.deepEqual(report, { type: 'cosign', digest: SIGNATURE, verified: true, signer: `sha256:${key.fingerprint}`, reasons: [] });
  const hint = (bundle as { verificationMaterial: { publicKey: { hint: string } } }).verificationMaterial.publicKey.hint;
  t.is(key.fingerprint, Buffer.from(hint, 'base64').toString('hex'));
  // cosign v3's image signature: an in-toto statement over the manifest digest in a DSSE envelope
  t.is((bundle as { dsseEnvelope: { payloadType: string } }).dsseEnvelope.payloadType, 'application/vnd.in-toto+json');
});

test('key-based bundle: another key is UNTRUSTED_SIGNER, also when listed before the right one it is skipped', async (t) => {
  const { bundle, subject, publicKeyPem } = await cosignSigned();
  const other = loadCosignPublicKey(await readFile(join(COSIGN_VECTORS, 'legacy-key', 'cosign2.pub'), 'utf8'));
  const wrong = await verifyCosignBundle(
    bundle,
    subject,
    { keys: [other], identities: [], requireTlog: false },
    { signatureDigest: SIGNATURE },
  );
  t.deepEqual(codes(wrong), ['UNTRUSTED_SIGNER']);
  const right = loadCosignPublicKey(publicKeyPem);
  const both = await verifyCosignBundle(
    bundle,
    subject,
    { keys: [other, right], identities: [], requireTlog: false },
    { signatureDigest: SIGNATURE },
  );
  t.is(both.signer, keySigner(right));
  const none = await verifyCosignBundle(bundle, subject, { keys: [], identities: [], requireTlog: false }, { signatureDigest: SIGNATURE });
  t.deepEqual(codes(none), ['UNTRUSTED_SIGNER']);
});

test('key-based bundle: another image digest is INVALID_SIGNATURE; a required tlog it lacks is UNTRUSTED_SIGNER', async (t) => {
  const { bundle, subject, publicKeyPem } = await cosignSigned();
  const key = loadCosignPublicKey(publicKeyPem);
  const otherImage = await verifyCosignBundle(
    bundle,
    OTHER,
    { keys: [key], identities: [], requireTlog: false },
    { signatureDigest: SIGNATURE },
  );
  t.deepEqual(codes(otherImage), ['INVALID_SIGNATURE']);
  const tlog = await verifyCosignBundle(
    bundle,
    subject,
    { keys: [key], identities: [], requireTlog: true },
    { signatureDigest: SIGNATURE },
  );
  t.deepEqual(codes(tlog), ['UNTRUSTED_SIGNER']);
});
