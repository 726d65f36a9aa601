// The verifier on generated PKI: every allowed algorithm (the conformance vectors in test/fixtures are all RSA), and
// every failure code, each provoked on purpose.

import test from 'ava';
import { constants, KeyObject, sign } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AnswerCode } from '../../../src/core/index.js';
import { MEDIA_TYPE, OciLayoutSource, type Descriptor } from '../../../src/oci/index.js';
import { OciLayoutWriter } from '../../../src/oci/oci-layout-writer.js';
import { RevocationChecker } from '../../../src/notation/revocation.js';
import { buildSignatureManifest, signEnvelope, type SignEnvelopeOptions } from '../../../src/notation/sign.js';
import { NotationVerifier, type SignatureVerification } from '../../../src/notation/verifier.js';
import { verifyNotationArtifact } from '../../../src/notation/verify-artifact.js';
import {
  FileTrustStore,
  KEY_USAGE,
  parseOciTrustPolicy,
  TrustStoreSnapshot,
  type Certificate,
  type TrustPolicyStatement,
  type TrustStore,
} from '../../../src/trust/index.js';
import { VouchError } from '../../../src/core/index.js';
import { pino, type Logger } from 'pino';
import { buildImage } from '../../helpers/oci-fixtures.js';
import { generateChain, generateLeaf, NOTARY_KEY_SPECS, type GeneratedChain } from '../../helpers/pki.js';
import { startRevocationServer } from '../../helpers/revocation-server.js';

const subject: Descriptor = buildImage().descriptor;

async function storeWith(certs: Record<string, Certificate[]>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'vouch-verifier-store-'));
  for (const [ref, list] of Object.entries(certs)) {
    const [type, name] = ref.split(':') as [string, string];
    await mkdir(join(root, 'x509', type, name), { recursive: true });
    for (const [i, cert] of list.entries()) await writeFile(join(root, 'x509', type, name, `${i}.pem`), cert.toPem());
  }
  return root;
}

function statementOf(extra: Record<string, unknown> = {}): TrustPolicyStatement {
  const doc = {
    version: '1.0',
    trustPolicies: [
      {
        name: 'generated',
        registryScopes: ['*'],
        signatureVerification: { level: 'strict' },
        trustStores: ['ca:test'],
        trustedIdentities: ['*'],
        ...extra,
      },
    ],
  };
  return parseOciTrustPolicy(JSON.stringify(doc), 'generated policy').statements[0]!;
}

async function verifyWith(
  pki: GeneratedChain,
  sign: Partial<SignEnvelopeOptions> & { format?: 'jws' | 'cose' },
  options: {
    store?: Record<string, Certificate[]>;
    statement?: TrustPolicyStatement;
    now?: Date;
    revocation?: RevocationChecker;
    subject?: Descriptor;
    tamper?: (bytes: Uint8Array) => Uint8Array;
    trustStore?: TrustStore;
    logger?: Logger;
  } = {},
): Promise<SignatureVerification> {
  let { bytes, mediaType } = signEnvelope({
    format: sign.format ?? 'jws',
    privateKey: pki.leaf.privateKey,
    certificateChain: pki.certificates,
    payload: { targetArtifact: subject },
    ...sign,
  });
  if (options.tamper) bytes = options.tamper(bytes);
  const verifier = new NotationVerifier({
    trustStore: options.trustStore ?? new FileTrustStore(await storeWith(options.store ?? { 'ca:test': [pki.root.certificate] })),
    revocation: options.revocation ?? new RevocationChecker({ offline: true }),
    ...(options.now ? { now: () => options.now! } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  return verifier.verify({ mediaType, bytes, subject: options.subject ?? subject }, options.statement ?? statementOf());
}

function failedWith(t: { is: (a: unknown, b: unknown, m?: string) => void }, result: SignatureVerification, code: AnswerCode) {
  t.is(result.verified, false, 'expected a failure');
  t.is(result.reasons[0]?.code, code, JSON.stringify(result.reasons));
}

for (const key of NOTARY_KEY_SPECS) {
  for (const format of ['jws', 'cose'] as const) {
    test(`verifier: ${key} ${format} signature verifies, with signer and signing time`, async (t) => {
      const pki = await generateChain({ length: 3, leafKey: key, leaf: { subject: 'CN=release,O=Acme Rockets,ST=WA,C=US' } });
      const result = await verifyWith(pki, { format, signingTime: new Date('2026-01-01T00:00:00Z') });
      t.true(result.verified, JSON.stringify(result.reasons));
      t.deepEqual(result.reasons, []);
      t.regex(result.signer ?? '', /CN=release/);
      t.is(result.signingTime?.toISOString(), '2026-01-01T00:00:00.000Z');
      t.deepEqual(
        result.checks.map((c) => [c.type, c.outcome]),
        [
          ['integrity', 'pass'],
          ['authenticity', 'pass'],
          ['expiry', 'pass'],
          ['authenticTimestamp', 'pass'],
          ['revocation', 'pass'],
        ],
      );
    });
  }
}

test('INVALID_SIGNATURE: flipped signature bytes', async (t) => {
  const pki = await generateChain({ length: 2, leafKey: 'ec-p256' });
  const result = await verifyWith(
    pki,
    {},
    {
      tamper: (bytes) => {
        const jws = JSON.parse(Buffer.from(bytes).toString()) as { signature: string };
        const sig = Buffer.from(jws.signature, 'base64url');
        sig.writeUInt8(sig.readUInt8(0) ^ 0xff, 0);
        jws.signature = sig.toString('base64url');
        return new TextEncoder().encode(JSON.stringify(jws));
      },
    },
  );
  failedWith(t, result, 'INVALID_SIGNATURE');
});

test('INVALID_SIGNATURE: the payload names another artifact', async (t) => {
  const pki = await generateChain({ length: 2, leafKey: 'ec-p256' });
  failedWith(t, await verifyWith(pki, {}, { subject: buildImage().descriptor }), 'INVALID_SIGNATURE');
  failedWith(t, await verifyWith(pki, {}, { subject: { ...subject, size: subject.size + 1 } }), 'INVALID_SIGNATURE');
  failedWith(t, await verifyWith(pki, {}, { subject: { ...subject, mediaType: MEDIA_TYPE.dockerManifest } }), 'INVALID_SIGNATURE');
});

test('INVALID_SIGNATURE: alg claims another algorithm than the key implies', async (t) => {
  const pki = await generateChain({ length: 2, leafKey: 'ec-p256' });
  failedWith(t, await verifyWith(pki, { algorithm: 'ES384' }), 'INVALID_SIGNATURE');
});

test('INVALID_SIGNATURE: unknown critical header; a required verification plugin without plugins is undecided', async (t) => {
  const pki = await generateChain({ length: 2, leafKey: 'ec-p256' });
  failedWith(
    t,
    await verifyWith(pki, { extraProtectedHeaders: { 'com.example.policy': 'x' }, extraCritical: ['com.example.policy'] }),
    'INVALID_SIGNATURE',
  );
  // Plugins themselves: test/unit/notation/verifier-plugin.test.ts.
  const result = await verifyWith(pki, {
    extraProtectedHeaders: { 'io.cncf.notary.verificationPlugin': 'com.example.plugin' },
    extraCritical: ['io.cncf.notary.verificationPlugin'],
  });
  t.false(result.verified);
  t.deepEqual(result.reasons, []);
  t.is(result.undecided?.code, 'PLUGIN_ERROR');
  t.is(result.undecided?.reason, 'PLUGIN_NOT_FOUND');
});

test('INVALID_SIGNATURE: a leaf that may sign certificates breaks the chain rules', async (t) => {
  const pki = await generateChain({
    length: 2,
    leafKey: 'ec-p256',
    leaf: { keyUsage: { usages: KEY_USAGE.digitalSignature | KEY_USAGE.keyCertSign, critical: true } },
  });
  failedWith(t, await verifyWith(pki, {}), 'INVALID_SIGNATURE');
});

test('UNTRUSTED_SIGNER: chain not anchored in the store, identity not trusted, wrong store type', async (t) => {
  const pki = await generateChain({ length: 2, leafKey: 'ec-p256', leaf: { subject: 'CN=dev,O=Acme Rockets,ST=WA,C=US' } });
  const stranger = await generateLeaf({ subject: 'CN=stranger,O=Elsewhere,ST=WA,C=US' });
  failedWith(t, await verifyWith(pki, {}, { store: { 'ca:test': [stranger.certificate] } }), 'UNTRUSTED_SIGNER');
  failedWith(
    t,
    await verifyWith(pki, {}, { statement: statementOf({ trustedIdentities: ['x509.subject: C=US, ST=WA, O=Acme Rockets, CN=release'] }) }),
    'UNTRUSTED_SIGNER',
  );
  t.true(
    (await verifyWith(pki, {}, { statement: statementOf({ trustedIdentities: ['x509.subject: C=US, ST=WA, O=Acme Rockets'] }) })).verified,
  );
  // a notary.x509 signature gains nothing from a signingAuthority store
  failedWith(
    t,
    await verifyWith(
      pki,
      {},
      { store: { 'signingAuthority:test': [pki.root.certificate] }, statement: statementOf({ trustStores: ['signingAuthority:test'] }) },
    ),
    'UNTRUSTED_SIGNER',
  );
});

test('UNTRUSTED_SIGNER: weak keys and SHA-1 certificate signatures (forbidden algorithms)', async (t) => {
  // vouch's signer refuses weak keys, so this envelope is assembled by hand as another tool might.
  const weak = await generateChain({ length: 1, leafKey: 'rsa-1024' });
  const protectedHeader = Buffer.from(
    JSON.stringify({
      alg: 'PS256',
      crit: ['io.cncf.notary.signingScheme'],
      cty: 'application/vnd.cncf.notary.payload.v1+json',
      'io.cncf.notary.signingScheme': 'notary.x509',
      'io.cncf.notary.signingTime': new Date().toISOString(),
    }),
  ).toString('base64url');
  const payload = Buffer.from(JSON.stringify({ targetArtifact: subject })).toString('base64url');
  const signature = sign('sha256', Buffer.from(`${protectedHeader}.${payload}`), {
    key: weak.leaf.privateKey,
    padding: constants.RSA_PKCS1_PSS_PADDING,
    saltLength: 32,
  }).toString('base64url');
  const bytes = new TextEncoder().encode(
    JSON.stringify({ payload, protected: protectedHeader, header: { x5c: [Buffer.from(weak.leaf.der).toString('base64')] }, signature }),
  );
  const verifier = new NotationVerifier({
    trustStore: new FileTrustStore(await storeWith({ 'ca:test': [weak.leaf.certificate] })),
    revocation: new RevocationChecker({ offline: true }),
  });
  failedWith(t, await verifier.verify({ mediaType: MEDIA_TYPE.jws, bytes, subject }, statementOf()), 'UNTRUSTED_SIGNER');

  const sha1 = await generateChain({ length: 2, leafKey: 'ec-p256', leaf: { signatureHash: 'SHA-1' } });
  failedWith(t, await verifyWith(sha1, {}), 'UNTRUSTED_SIGNER');
});

test('audit level: an untrusted signer is only logged', async (t) => {
  const pki = await generateChain({ length: 2, leafKey: 'ec-p256' });
  const stranger = await generateLeaf();
  const result = await verifyWith(
    pki,
    {},
    { store: { 'ca:test': [stranger.certificate] }, statement: statementOf({ signatureVerification: { level: 'audit' } }) },
  );
  t.true(result.verified);
  t.is(result.warnings[0]?.code, 'UNTRUSTED_SIGNER');
});

// ---- trust withdrawal (security issue, item 2) ---------------------------------------------------------

const WITHDRAWN = new VouchError('INVALID_CONFIG', 'trust store withdrawn for the test', { reason: 'WITHDRAWN' });

test('withdrawn store: a statement naming a withdrawn store never verifies, whichever store the chain is anchored in', async (t) => {
  const pki = await generateChain({ length: 2, leafKey: 'ec-p256', root: { key: 'ec-p256' } });
  const snapshot = (entries: Array<[string, Certificate[] | 'withdrawn']>) =>
    new TrustStoreSnapshot(
      entries.map(([ref, value]) => {
        const [type, name] = ref.split(':') as ['ca' | 'tsa', string];
        return [{ type, name }, value === 'withdrawn' ? { error: WITHDRAWN } : { certificates: value }] as const;
      }),
    );
  const root = [pki.root.certificate];
  t.true((await verifyWith(pki, {}, { trustStore: snapshot([['ca:test', root]]) })).verified, 'the control verifies');
  failedWith(t, await verifyWith(pki, {}, { trustStore: snapshot([['ca:test', 'withdrawn']]) }), 'UNTRUSTED_SIGNER');
  for (const stores of [
    ['ca:test', 'ca:gone'],
    ['ca:gone', 'ca:test'],
  ]) {
    const statement = statementOf({ trustStores: stores });
    const trustStore = snapshot([
      ['ca:test', root],
      ['ca:gone', 'withdrawn'],
    ]);
    failedWith(t, await verifyWith(pki, {}, { trustStore, statement }), 'UNTRUSTED_SIGNER');
  }
  // A tsa store is not consulted without a timestamp (afterCertExpiry, certificates valid), yet its
  // withdrawal fails the statement; under strict and permissive (authenticity is enforced in both).
  for (const level of ['strict', 'permissive']) {
    const statement = statementOf({
      trustStores: ['ca:test', 'tsa:ts'],
      signatureVerification: { level, verifyTimestamp: 'afterCertExpiry' },
    });
    const valid = snapshot([
      ['ca:test', root],
      ['tsa:ts', root],
    ]);
    t.true((await verifyWith(pki, {}, { trustStore: valid, statement })).verified, `${level}: the control verifies`);
    const withdrawn = snapshot([
      ['ca:test', root],
      ['tsa:ts', 'withdrawn'],
    ]);
    const result = await verifyWith(pki, {}, { trustStore: withdrawn, statement });
    failedWith(t, result, 'UNTRUSTED_SIGNER');
    t.is(result.reasons[0]?.message, `authenticity: ${WITHDRAWN.message}`);
  }
});

test('identity: a leaf with two CNs matches on the last one (notation-go parity), with a warning in the log', async (t) => {
  const pki = await generateChain({
    length: 2,
    leafKey: 'ec-p256',
    root: { key: 'ec-p256' },
    leaf: { subject: 'CN=dev,CN=release,O=Acme Rockets,ST=WA,C=US' },
  });
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const identity = (dn: string) => statementOf({ trustedIdentities: [`x509.subject: ${dn}`] });

  const release = await verifyWith(pki, {}, { statement: identity('CN=release, O=Acme Rockets, ST=WA, C=US'), logger });
  t.true(release.verified, 'Go keeps the last CN');
  t.is(lines.length, 1);
  t.is(lines[0]?.['level'], 40);
  t.is(lines[0]?.['trustPolicy'], 'generated');
  t.deepEqual(lines[0]?.['attributes'], [{ type: 'CN', values: ['dev', 'release'], compared: 'release' }]);

  lines.length = 0;
  failedWith(t, await verifyWith(pki, {}, { statement: identity('CN=dev, O=Acme Rockets, ST=WA, C=US'), logger }), 'UNTRUSTED_SIGNER');
  t.true((await verifyWith(pki, {}, { statement: identity('O=Acme Rockets, ST=WA, C=US'), logger })).verified);
  t.true((await verifyWith(pki, {}, { logger })).verified, "'*'");
  t.deepEqual(lines, [], 'no warning when the identity does not compare the CN, or for *');

  const single = await generateChain({
    length: 2,
    leafKey: 'ec-p256',
    root: { key: 'ec-p256' },
    leaf: { subject: 'CN=release,O=Acme Rockets,ST=WA,C=US' },
  });
  t.true((await verifyWith(single, {}, { statement: identity('CN=release, O=Acme Rockets, ST=WA, C=US'), logger })).verified);
  t.deepEqual(lines, [], 'no warning for a single CN');
});

test('EXPIRED: signature expiry, expired certificate, signingAuthority time outside validity', async (t) => {
  const pki = await generateChain({
    length: 2,
    leafKey: 'ec-p256',
    root: { notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2040-01-01T00:00:00Z') },
    leaf: { notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2026-06-01T00:00:00Z') },
  });
  const signingTime = new Date('2026-02-01T00:00:00Z');
  failedWith(
    t,
    await verifyWith(pki, { signingTime, expiry: new Date('2026-02-02T00:00:00Z') }, { now: new Date('2026-03-01T00:00:00Z') }),
    'EXPIRED',
  );
  const inTime = await verifyWith(
    pki,
    { signingTime, expiry: new Date('2026-02-02T00:00:00Z') },
    { now: new Date('2026-02-01T12:00:00Z') },
  );
  t.true(inTime.verified, JSON.stringify(inTime.reasons));
  failedWith(t, await verifyWith(pki, { signingTime }, { now: new Date('2026-07-01T00:00:00Z') }), 'EXPIRED');
  failedWith(t, await verifyWith(pki, { signingTime }, { now: new Date('2025-12-01T00:00:00Z') }), 'EXPIRED');
  // permissive logs both
  const permissive = await verifyWith(
    pki,
    { signingTime, expiry: new Date('2026-02-02T00:00:00Z') },
    { now: new Date('2026-07-01T00:00:00Z'), statement: statementOf({ signatureVerification: { level: 'permissive' } }) },
  );
  t.true(permissive.verified);
  t.deepEqual(
    permissive.warnings.map((w) => w.code),
    ['EXPIRED', 'EXPIRED'],
  );

  const sa = await verifyWith(
    pki,
    { signingScheme: 'notary.x509.signingAuthority', signingTime: new Date('2026-07-01T00:00:00Z') },
    {
      store: { 'signingAuthority:test': [pki.root.certificate] },
      statement: statementOf({ trustStores: ['signingAuthority:test'] }),
      now: new Date('2026-03-01T00:00:00Z'),
    },
  );
  failedWith(t, sa, 'EXPIRED');
  const saOk = await verifyWith(
    pki,
    { signingScheme: 'notary.x509.signingAuthority', signingTime: new Date('2026-02-01T00:00:00Z') },
    {
      store: { 'signingAuthority:test': [pki.root.certificate] },
      statement: statementOf({ trustStores: ['signingAuthority:test'] }),
      now: new Date('2027-03-01T00:00:00Z'),
    },
  );
  t.true(saOk.verified, JSON.stringify(saOk.reasons));
});

test("EXPIRED: the failed check tells a signature's own expiry from a certificate's (reason check and detail)", async (t) => {
  const pki = await generateChain({
    length: 2,
    leafKey: 'ec-p256',
    root: { notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2040-01-01T00:00:00Z') },
    leaf: { notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2026-06-01T00:00:00Z') },
  });
  const signingTime = new Date('2026-02-01T00:00:00Z');
  const signatureExpired = await verifyWith(
    pki,
    { signingTime, expiry: new Date('2026-02-02T00:00:00Z') },
    { now: new Date('2026-03-01T00:00:00Z') },
  );
  const certificateExpired = await verifyWith(pki, { signingTime }, { now: new Date('2026-07-01T00:00:00Z') });
  const reasonOf = (r: SignatureVerification) => {
    const reason = r.reasons[0]!;
    // message stays `<check>: <detail>` for readers of the older field
    t.is(reason.message, `${reason.check}: ${reason.detail}`);
    return [reason.code, reason.check];
  };
  t.deepEqual(reasonOf(signatureExpired), ['EXPIRED', 'expiry']);
  t.deepEqual(reasonOf(certificateExpired), ['EXPIRED', 'authenticTimestamp']);
});

test('REVOKED: a revoked leaf (CRL and OCSP), logged under permissive', async (t) => {
  const server = await startRevocationServer();
  t.teardown(() => server.close());
  const chain = server.chain(server.leaf);
  const pki = {
    leaf: { privateKey: KeyObject.from(server.leaf.keys.privateKey) },
    certificates: chain,
    root: { certificate: chain[chain.length - 1]! },
  } as unknown as GeneratedChain;
  const online = () => new RevocationChecker({ ocspTimeoutMs: 1000, crlTimeoutMs: 1000 });
  t.true((await verifyWith(pki, {}, { revocation: online() })).verified);
  server.revoke(server.leaf, { revokedAt: new Date(Date.now() - 60_000) });
  server.setOcsp(server.leaf, 'revoked');
  failedWith(t, await verifyWith(pki, {}, { revocation: online() }), 'REVOKED');
  const permissive = await verifyWith(
    pki,
    {},
    { revocation: online(), statement: statementOf({ signatureVerification: { level: 'permissive' } }) },
  );
  t.true(permissive.verified);
  t.is(permissive.warnings[0]?.code, 'REVOKED');
  // revocation: skip does not even ask
  const hits = server.hitCount();
  const skipped = await verifyWith(
    pki,
    {},
    { revocation: online(), statement: statementOf({ signatureVerification: { level: 'strict', override: { revocation: 'skip' } } }) },
  );
  t.true(skipped.verified);
  t.is(server.hitCount(), hits);
});

test('artifact: NO_TRUST_POLICY, NO_SIGNATURE, first trusted signature wins, skip level', async (t) => {
  const pki = await generateChain({ length: 2, leafKey: 'ec-p256' });
  const stranger = await generateChain({ length: 1, leafKey: 'ec-p256' });
  const dir = await mkdtemp(join(tmpdir(), 'vouch-verifier-layout-'));
  const layout = await OciLayoutWriter.create(dir);
  const writeImage = async (tag: string) => {
    const image = buildImage();
    for (const blob of image.blobs) await layout.writeBlob(blob.bytes, blob.descriptor.mediaType);
    await layout.writeManifest(image.bytes, image.descriptor.mediaType, { tag });
    return image.descriptor;
  };
  const attach = async (image: Descriptor, signer: GeneratedChain) => {
    const envelope = signEnvelope({
      format: 'jws',
      privateKey: signer.leaf.privateKey,
      certificateChain: signer.certificates,
      payload: { targetArtifact: image },
    });
    const manifest = buildSignatureManifest(envelope, image, { form: 'legacy' });
    for (const blob of manifest.blobs) await layout.writeBlob(blob.bytes, blob.descriptor.mediaType);
    await layout.writeManifest(manifest.bytes, MEDIA_TYPE.ociManifest);
  };
  const signed = await writeImage('signed');
  await attach(signed, stranger);
  await attach(signed, pki);
  const unsigned = await writeImage('unsigned');

  const source = await OciLayoutSource.open(dir);
  const policy = parseOciTrustPolicy(
    JSON.stringify({
      version: '1.0',
      trustPolicies: [
        {
          name: 'apps',
          registryScopes: ['registry.example.com/apps/web'],
          signatureVerification: { level: 'strict' },
          trustStores: ['ca:test'],
          trustedIdentities: ['*'],
        },
        { name: 'tools', registryScopes: ['registry.example.com/tools/unsigned'], signatureVerification: { level: 'skip' } },
      ],
    }),
    'policy',
  );
  const verifier = new NotationVerifier({
    trustStore: new FileTrustStore(await storeWith({ 'ca:test': [pki.root.certificate] })),
    revocation: new RevocationChecker({ offline: true }),
  });

  const ok = await verifyNotationArtifact(source, 'registry.example.com/apps/web', signed, policy, verifier);
  t.true(ok.verified);
  t.is(ok.trustPolicy, 'apps');
  t.true(ok.signatures.some((s) => s.verified));

  const none = await verifyNotationArtifact(source, 'registry.example.com/apps/web', unsigned, policy, verifier);
  t.false(none.verified);
  t.is(none.reasons[0]?.code, 'NO_SIGNATURE');

  const noPolicy = await verifyNotationArtifact(source, 'registry.example.com/other/app', signed, policy, verifier);
  t.false(noPolicy.verified);
  t.is(noPolicy.reasons[0]?.code, 'NO_TRUST_POLICY');

  const skip = await verifyNotationArtifact(source, 'registry.example.com/tools/unsigned', unsigned, policy, verifier);
  t.true(skip.verified);
  t.true(skip.skippedByPolicy);

  const strangerOnly = await verifyNotationArtifact(
    source,
    'registry.example.com/apps/web',
    signed,
    policy,
    new NotationVerifier({ trustStore: new FileTrustStore(await storeWith({ 'ca:test': [(await generateLeaf()).certificate] })) }),
  );
  t.false(strangerOnly.verified);
  t.is(strangerOnly.reasons[0]?.code, 'UNTRUSTED_SIGNER');
  t.is(strangerOnly.signatures.length, 2);
});
