// The signer: every algorithm in both envelope formats round-trips through the parser and the
// primitive signature check; the protected headers have notation's exact shape (JWS key order,
// COSE length-first canonical map, byte-equal to notation-core-go's conformance vector); the
// signature manifest comes out in both of notation's forms.

import test, { type ExecutionContext } from 'ava';
import { Tag } from 'cbor-x';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { VouchError, computeDigest, type Digest, type ErrorCode, type ErrorReason } from '../../../src/core/index.js';
import { classifyReferrer, parseManifest, EMPTY_JSON, EMPTY_JSON_DIGEST, MEDIA_TYPE, type Descriptor } from '../../../src/oci/index.js';
import { verifySignatureBytes } from '../../../src/notation/algorithms.js';
import { validateSigningChain } from '../../../src/notation/chain.js';
import { parseEnvelope, parsePayload } from '../../../src/notation/parse-envelope.js';
import { buildSignatureManifest, signEnvelope, type SignEnvelopeOptions } from '../../../src/notation/sign.js';
import { generateChain, generateKeys, generateLeaf, NOTARY_KEY_SPECS, type GeneratedCertificate } from '../../helpers/pki.js';
import { toolPath } from '../../helpers/registries.js';
import { NOTATION_VECTORS as VECTORS } from '../../helpers/fixtures.js';

const run = promisify(execFile);

const SCHEME = 'io.cncf.notary.signingScheme';
const SIGNING_TIME = 'io.cncf.notary.signingTime';
const EXPIRY = 'io.cncf.notary.expiry';
const PAYLOAD_TYPE = 'application/vnd.cncf.notary.payload.v1+json';

const TARGET: Descriptor = {
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: 'sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9' as Digest,
  size: 517,
};

function expectError(t: ExecutionContext, fn: () => unknown, code: ErrorCode, reason: ErrorReason): void {
  const error = t.throws(fn, { instanceOf: VouchError });
  t.is(error?.code, code, error?.message);
  t.is(error?.reason, reason, error?.message);
}

const leaves = new Map<string, GeneratedCertificate>();
test.before(async () => {
  await Promise.all(
    NOTARY_KEY_SPECS.map(async (spec) => leaves.set(spec, await generateLeaf({ key: spec, subject: `CN=${spec},O=Notary,ST=WA,C=US` }))),
  );
});
const leaf = (spec: string) => leaves.get(spec)!;

const EXPECTED_ALG: Record<string, string> = {
  'rsa-2048': 'PS256',
  'rsa-3072': 'PS384',
  'rsa-4096': 'PS512',
  'ec-p256': 'ES256',
  'ec-p384': 'ES384',
  'ec-p521': 'ES512',
};

for (const spec of NOTARY_KEY_SPECS) {
  for (const format of ['jws', 'cose'] as const) {
    test(`round trip: ${EXPECTED_ALG[spec]} ${format}: sign, parse, verify`, (t) => {
      const signer = leaf(spec);
      const signingTime = new Date('2024-05-01T10:20:30.999Z');
      const expiry = new Date('2034-05-01T10:20:30Z');
      const target = { ...TARGET, annotations: { 'com.example.b': '2', 'com.example.a': '1' } };
      const signed = signEnvelope({
        format,
        privateKey: signer.privateKey,
        certificateChain: [signer.certificate],
        payload: { targetArtifact: target },
        signingTime,
        expiry,
        signingAgent: 'vouch-test/1.0',
      });
      t.is(signed.mediaType, format === 'jws' ? MEDIA_TYPE.jws : MEDIA_TYPE.cose);
      const envelope = parseEnvelope(signed.mediaType, signed.bytes);
      t.is(envelope.algorithm, EXPECTED_ALG[spec] as never);
      t.is(envelope.signingScheme, 'notary.x509');
      t.is(envelope.signingTime?.toISOString(), '2024-05-01T10:20:30.000Z');
      t.is(envelope.expiry?.toISOString(), '2034-05-01T10:20:30.000Z');
      t.deepEqual(envelope.critical, [SCHEME, EXPIRY]);
      t.is(envelope.signingAgent, 'vouch-test/1.0');
      t.deepEqual(envelope.certificateChain, [signer.der]);
      t.deepEqual(parsePayload(envelope.payload).targetArtifact, target);
      const [cert] = validateSigningChain(envelope.certificateChain);
      // Signed with salt = hash length, so both the JWS (any salt) and the strict rule accept it.
      t.true(verifySignatureBytes(envelope.algorithm, cert!.publicKey, envelope.signedBytes, envelope.signature, format));
      t.true(verifySignatureBytes(envelope.algorithm, cert!.publicKey, envelope.signedBytes, envelope.signature, 'cose'));
      const tampered = new Uint8Array(envelope.signature);
      tampered[0] = tampered[0]! ^ 1;
      t.false(verifySignatureBytes(envelope.algorithm, cert!.publicKey, envelope.signedBytes, tampered, format));
    });
  }
}

test('round trip: a three-certificate chain, signingAuthority scheme and a timestamp token', async (t) => {
  const chain = await generateChain({ length: 3, leafKey: 'ec-p384', root: { key: 'ec-p256' } });
  for (const format of ['jws', 'cose'] as const) {
    const signed = signEnvelope({
      format,
      privateKey: chain.leaf.privateKey,
      certificateChain: chain.ders,
      payload: { targetArtifact: TARGET },
      signingTime: new Date('2024-01-01T00:00:00Z'),
      signingScheme: 'notary.x509.signingAuthority',
      timestampToken: new Uint8Array([1, 2, 3]),
    });
    const envelope = parseEnvelope(signed.mediaType, signed.bytes);
    t.is(envelope.signingScheme, 'notary.x509.signingAuthority');
    t.is(envelope.signingTime, undefined);
    t.is(envelope.authenticSigningTime?.toISOString(), '2024-01-01T00:00:00.000Z');
    t.deepEqual(envelope.critical, [SCHEME, 'io.cncf.notary.authenticSigningTime']);
    t.deepEqual([...envelope.timestampToken!], [1, 2, 3]);
    t.is(envelope.signingAgent, 'vouch');
    t.is(validateSigningChain(envelope.certificateChain).length, 3);
    t.true(verifySignatureBytes(envelope.algorithm, chain.leaf.publicKey, envelope.signedBytes, envelope.signature, format));
  }
});

test('jws shape: protected header, payload and envelope in notation key order', (t) => {
  const signer = leaf('rsa-2048');
  const signed = signEnvelope({
    format: 'jws',
    privateKey: signer.privateKey,
    certificateChain: [signer.certificate],
    payload: { targetArtifact: { ...TARGET, annotations: { z: '1', a: '2' } } },
    signingTime: new Date('2024-01-01T09:00:00Z'),
    expiry: new Date('2024-01-01T10:00:00Z'),
    timestampToken: new Uint8Array([0xaa]),
  });
  const text = Buffer.from(signed.bytes).toString();
  const json = JSON.parse(text) as { payload: string; protected: string; header: Record<string, unknown>; signature: string };
  t.deepEqual(Object.keys(json), ['payload', 'protected', 'header', 'signature']);
  t.deepEqual(Object.keys(json.header), ['io.cncf.notary.timestampSignature', 'x5c', 'io.cncf.notary.signingAgent']);
  t.is(json.header['x5c'] && (json.header['x5c'] as string[])[0], Buffer.from(signer.der).toString('base64'));
  t.is(
    Buffer.from(json.protected, 'base64url').toString(),
    '{"alg":"PS256","crit":["io.cncf.notary.signingScheme","io.cncf.notary.expiry"],' +
      '"cty":"application/vnd.cncf.notary.payload.v1+json","io.cncf.notary.expiry":"2024-01-01T10:00:00Z",' +
      '"io.cncf.notary.signingScheme":"notary.x509","io.cncf.notary.signingTime":"2024-01-01T09:00:00Z"}',
  );
  t.is(
    Buffer.from(json.payload, 'base64url').toString(),
    '{"targetArtifact":{"annotations":{"a":"2","z":"1"},"digest":"' +
      TARGET.digest +
      '","mediaType":"' +
      TARGET.mediaType +
      '","size":517}}',
  );
  t.notRegex(json.protected + json.payload + json.signature, /[=+/]/);
  t.is(Buffer.from(json.signature, 'base64url').length, 256);
});

test('jws shape: the signing-authority header carries authenticSigningTime and marks it critical', (t) => {
  const signer = leaf('rsa-3072');
  const signed = signEnvelope({
    format: 'jws',
    privateKey: signer.privateKey,
    certificateChain: [signer.der],
    payload: { targetArtifact: TARGET },
    signingTime: new Date('2024-01-01T00:00:00Z'),
    expiry: new Date('2024-07-01T00:00:00Z'),
    signingScheme: 'notary.x509.signingAuthority',
  });
  const json = JSON.parse(Buffer.from(signed.bytes).toString()) as { protected: string };
  t.deepEqual(JSON.parse(Buffer.from(json.protected, 'base64url').toString()), {
    alg: 'PS384',
    crit: [SCHEME, 'io.cncf.notary.authenticSigningTime', EXPIRY],
    cty: PAYLOAD_TYPE,
    'io.cncf.notary.authenticSigningTime': '2024-01-01T00:00:00Z',
    [EXPIRY]: '2024-07-01T00:00:00Z',
    [SCHEME]: 'notary.x509.signingAuthority',
  });
});

test('cose shape: the protected header is byte-equal to notation-core-go conformance output', async (t) => {
  const doc = JSON.parse(readFileSync(join(VECTORS, 'notation-core-go/conformance/cose-conformance.json'), 'utf8')) as {
    protectedHeaders: { cborHex: string };
  };
  const signer = leaf('rsa-3072');
  const signed = signEnvelope({
    format: 'cose',
    privateKey: signer.privateKey,
    certificateChain: [signer.certificate],
    payload: { targetArtifact: TARGET },
    signingTime: new Date(1661321924 * 1000),
    expiry: new Date(1661408324 * 1000),
    extraProtectedHeaders: { signedKey1: 'signedValue1', signedCritKey1: 'signedCritValue1' },
    extraCritical: ['signedCritKey1'],
  });
  const { Decoder } = await import('cbor-x');
  const message = new Decoder({ mapsAsObjects: false, useRecords: false }).decode(Buffer.from(signed.bytes)) as Tag;
  t.is(message.tag, 18);
  const [protectedBytes, unprotected, payload] = message.value as [Buffer, Map<unknown, unknown>, Buffer];
  t.is(protectedBytes.toString('hex').toUpperCase(), doc.protectedHeaders.cborHex);
  t.deepEqual([...unprotected.keys()], [33, 'io.cncf.notary.signingAgent']);
  // COSE payload JSON in Go struct order.
  t.is(payload.toString(), '{"targetArtifact":{"mediaType":"' + TARGET.mediaType + '","digest":"' + TARGET.digest + '","size":517}}');
});

test('cose shape: real notation COSE protected headers are reproduced byte for byte', async (t) => {
  const { Decoder } = await import('cbor-x');
  const decoder = new Decoder({ mapsAsObjects: false, useRecords: false });
  const real = decoder.decode(readFileSync(join(VECTORS, 'notation-cli-e2e/blob/blob.cose.sig'))) as Tag;
  const realProtected = (real.value as Buffer[])[0]!;
  const signer = leaf('rsa-2048');
  const signed = signEnvelope({
    format: 'cose',
    privateKey: signer.privateKey,
    certificateChain: [signer.certificate],
    payload: { targetArtifact: TARGET },
    signingTime: new Date(1736239363 * 1000),
  });
  const ours = (decoder.decode(Buffer.from(signed.bytes)) as Tag).value as Buffer[];
  t.is(ours[0]!.toString('hex'), realProtected.toString('hex'));
});

test('signEnvelope: rejects unusable requests', async (t) => {
  const signer = leaf('ec-p256');
  const base: SignEnvelopeOptions = {
    format: 'jws',
    privateKey: signer.privateKey,
    certificateChain: [signer.certificate],
    payload: { targetArtifact: TARGET },
  };
  expectError(t, () => signEnvelope({ ...base, certificateChain: [] }), 'INVALID_INPUT', 'BAD_CONTENT');
  expectError(t, () => signEnvelope({ ...base, privateKey: leaf('ec-p384').privateKey }), 'INVALID_INPUT', 'BAD_CONTENT');
  const now = new Date('2024-01-01T00:00:00Z');
  expectError(t, () => signEnvelope({ ...base, signingTime: now, expiry: now }), 'INVALID_INPUT', 'BAD_CONTENT');
  const weak = await generateLeaf({ key: 'rsa-1024' });
  expectError(
    t,
    () => signEnvelope({ ...base, privateKey: weak.privateKey, certificateChain: [weak.certificate] }),
    'UNTRUSTED_SIGNER',
    'UNSUPPORTED',
  );
  t.truthy((await generateKeys('ec-p256')).privateKey);
});

test('signEnvelope: negative-test knobs produce envelopes that break exactly one rule', (t) => {
  const signer = leaf('rsa-2048');
  const base: SignEnvelopeOptions = {
    format: 'jws',
    privateKey: signer.privateKey,
    certificateChain: [signer.certificate],
    payload: { targetArtifact: TARGET },
    signingTime: new Date('2024-01-01T00:00:00Z'),
  };
  const parse = (options: SignEnvelopeOptions) => {
    const signed = signEnvelope(options);
    return parseEnvelope(signed.mediaType, signed.bytes);
  };
  for (const format of ['jws', 'cose'] as const) {
    // no crit
    const noCrit = format === 'jws' ? { crit: undefined } : new Map([[2, undefined]]);
    expectError(t, () => parse({ ...base, format, extraProtectedHeaders: noCrit }), 'INVALID_SIGNATURE', 'BAD_CONTENT');
    // an unknown critical extended attribute parses and is recorded
    const unknown = parse({ ...base, format, extraProtectedHeaders: { 'com.example.policy': 'x' }, extraCritical: ['com.example.policy'] });
    t.deepEqual(unknown.critical, [SCHEME, 'com.example.policy']);
    t.deepEqual(unknown.extendedAttributes, { 'com.example.policy': 'x' });
    // a crit entry that is not present
    expectError(t, () => parse({ ...base, format, extraCritical: ['com.example.missing'] }), 'INVALID_SIGNATURE', 'BAD_CONTENT');
    // algorithm substitution: parses, but the signature does not verify for the claimed algorithm
    const substituted = parse({ ...base, format, algorithm: 'PS384' });
    t.is(substituted.algorithm, 'PS384');
    t.false(verifySignatureBytes(substituted.algorithm, signer.publicKey, substituted.signedBytes, substituted.signature, format));
  }
  // COSE: an untagged signing time
  expectError(
    t,
    () => parse({ ...base, format: 'cose', extraProtectedHeaders: new Map([[SIGNING_TIME, 1704067200]]) }),
    'INVALID_SIGNATURE',
    'BAD_CONTENT',
  );
  // COSE: an integer extended label, Date values become tag 1
  const labelled = parse({
    ...base,
    format: 'cose',
    extraProtectedHeaders: new Map<string | number, unknown>([[-65537, new Date('2030-01-01T00:00:00Z')]]),
  });
  t.true(labelled.extendedAttributes['-65537'] instanceof Tag);
  // JWS: a wrong cty
  expectError(t, () => parse({ ...base, extraProtectedHeaders: { cty: 'application/json' } }), 'INVALID_SIGNATURE', 'BAD_CONTENT');
});

test('buildSignatureManifest: legacy form (released notation)', (t) => {
  const signer = leaf('rsa-2048');
  const envelope = signEnvelope({
    format: 'jws',
    privateKey: signer.privateKey,
    certificateChain: [signer.certificate],
    payload: { targetArtifact: TARGET },
  });
  const created = new Date('2024-01-01T00:00:00.456Z');
  const built = buildSignatureManifest(envelope, TARGET, { form: 'legacy', created });
  t.is(built.descriptor.digest, computeDigest(built.bytes));
  t.is(built.descriptor.size, built.bytes.length);
  const json = JSON.parse(Buffer.from(built.bytes).toString()) as Record<string, unknown>;
  t.deepEqual(Object.keys(json), ['schemaVersion', 'mediaType', 'config', 'layers', 'subject', 'annotations']);
  t.deepEqual(json['config'], {
    mediaType: 'application/vnd.cncf.notary.signature',
    digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
    size: 2,
  });
  t.deepEqual(json['layers'], [{ mediaType: MEDIA_TYPE.jws, digest: computeDigest(envelope.bytes), size: envelope.bytes.length }]);
  t.deepEqual(json['subject'], TARGET);
  t.deepEqual(json['annotations'], {
    'io.cncf.notary.x509chain.thumbprint#S256': JSON.stringify([createHash('sha256').update(signer.der).digest('hex')]),
    'org.opencontainers.image.created': '2024-01-01T00:00:00Z',
  });
  const manifest = parseManifest(built.bytes, 'signature manifest');
  t.is(classifyReferrer(manifest), 'notation');
  t.deepEqual(
    built.blobs.map((b) => [b.descriptor.digest, computeDigest(b.bytes), b.descriptor.size, b.bytes.length]),
    [
      [json['config'] && (json['config'] as Descriptor).digest, computeDigest(new Uint8Array([0x7b, 0x7d])), 2, 2],
      [computeDigest(envelope.bytes), computeDigest(envelope.bytes), envelope.bytes.length, envelope.bytes.length],
    ],
  );
});

test('buildSignatureManifest: artifactType form (notation v2) with given thumbprints', (t) => {
  const signer = leaf('ec-p256');
  const envelope = signEnvelope({
    format: 'cose',
    privateKey: signer.privateKey,
    certificateChain: [signer.certificate],
    payload: { targetArtifact: TARGET },
  });
  const built = buildSignatureManifest(envelope, TARGET, { form: 'artifactType', thumbprints: ['aa', 'bb'] });
  const json = JSON.parse(Buffer.from(built.bytes).toString()) as Record<string, unknown>;
  t.is(json['artifactType'], 'application/vnd.cncf.notary.signature');
  t.deepEqual(json['config'], {
    mediaType: 'application/vnd.oci.empty.v1+json',
    digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
    size: 2,
    data: 'e30=',
  });
  t.is((json['layers'] as Descriptor[])[0]!.mediaType, MEDIA_TYPE.cose);
  t.is((json['annotations'] as Record<string, string>)['io.cncf.notary.x509chain.thumbprint#S256'], '["aa","bb"]');
  t.is(classifyReferrer(parseManifest(built.bytes, 'signature manifest')), 'notation');
});

// Real notation (v1.3.2, installed by scripts/tools.sh) verifies what the signer writes, through an
// OCI layout so no registry is needed. Released notation only discovers the legacy manifest form.

/** Flips one bit of the primitive signature (the last item of a COSE_Sign1; the JWS "signature"). */
function tamperSignature(bytes: Uint8Array, format: 'jws' | 'cose'): Uint8Array {
  if (format === 'cose') {
    const copy = new Uint8Array(bytes);
    copy[copy.length - 1] = copy[copy.length - 1]! ^ 1;
    return copy;
  }
  const json = JSON.parse(Buffer.from(bytes).toString()) as { signature: string };
  const signature = Buffer.from(json.signature, 'base64url');
  signature[0] = signature[0]! ^ 1;
  json.signature = signature.toString('base64url');
  return new TextEncoder().encode(JSON.stringify(json));
}

test('interop: notation verify --oci-layout accepts vouch envelopes for every algorithm and format, and rejects a tampered one', async (t) => {
  const home = await mkdtemp(join(tmpdir(), 'vouch-sign-interop-'));
  try {
    const config = join(home, 'config', 'notation');
    const store = join(config, 'truststore', 'x509', 'ca', 'vouch');
    await mkdir(store, { recursive: true });
    // notation 1.3.2 reads trustpolicy.json (not trustpolicy.oci.json).
    const policy = {
      version: '1.0',
      trustPolicies: [
        {
          name: 'vouch',
          registryScopes: ['local/vouch'],
          signatureVerification: { level: 'strict' },
          trustStores: ['ca:vouch'],
          trustedIdentities: ['*'],
        },
      ],
    };
    await writeFile(join(config, 'trustpolicy.json'), JSON.stringify(policy));
    const cases: Array<{ name: string; layout: string; digest: string; expectOk: boolean }> = [];
    let n = 0;
    for (const spec of NOTARY_KEY_SPECS) {
      const signer = leaf(spec);
      await writeFile(join(store, `${spec}.pem`), signer.certificate.toPem());
      for (const format of ['jws', 'cose'] as const) {
        for (const tamper of spec === 'ec-p256' ? [false, true] : [false]) {
          const layout = join(home, `layout-${n++}`);
          const blobs = join(layout, 'blobs', 'sha256');
          await mkdir(blobs, { recursive: true });
          const put = (digest: string, bytes: Uint8Array) => writeFile(join(blobs, digest.slice('sha256:'.length)), bytes);
          const layerBytes = new TextEncoder().encode(`layer ${n}\n`);
          const layerDigest = computeDigest(layerBytes);
          await put(layerDigest, layerBytes);
          await put(EMPTY_JSON_DIGEST, EMPTY_JSON);
          const subjectBytes = new TextEncoder().encode(
            JSON.stringify({
              schemaVersion: 2,
              mediaType: MEDIA_TYPE.ociManifest,
              config: { mediaType: MEDIA_TYPE.ociEmpty, digest: EMPTY_JSON_DIGEST, size: 2 },
              layers: [{ mediaType: MEDIA_TYPE.ociLayerTar, digest: layerDigest, size: layerBytes.length }],
            }),
          );
          const subject: Descriptor = {
            mediaType: MEDIA_TYPE.ociManifest,
            digest: computeDigest(subjectBytes),
            size: subjectBytes.length,
          };
          await put(subject.digest, subjectBytes);
          const envelope = signEnvelope({
            format,
            privateKey: signer.privateKey,
            certificateChain: [signer.certificate],
            payload: { targetArtifact: subject },
            expiry: new Date(Date.now() + 3600_000),
          });
          if (tamper) envelope.bytes = tamperSignature(envelope.bytes, format);
          const signature = buildSignatureManifest(envelope, subject, {
            form: 'legacy',
            thumbprints: [signer.certificate.sha256Fingerprint],
          });
          for (const blob of signature.blobs) await put(blob.descriptor.digest, blob.bytes);
          await put(signature.descriptor.digest, signature.bytes);
          await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
          const manifests = [subject, { ...signature.descriptor, artifactType: MEDIA_TYPE.notarySignature }];
          await writeFile(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests }));
          cases.push({ name: `${spec} ${format}${tamper ? ' tampered' : ''}`, layout, digest: subject.digest, expectOk: !tamper });
        }
      }
    }
    const env = { PATH: process.env['PATH'] ?? '', HOME: home, XDG_CONFIG_HOME: join(home, 'config'), NOTATION_EXPERIMENTAL: '1' };
    const results = await Promise.all(
      cases.map(async (c) => {
        try {
          await run(toolPath('notation'), ['verify', '--oci-layout', '--scope', 'local/vouch', `${c.layout}@${c.digest}`], {
            env,
            timeout: 60_000,
          });
          return { ...c, ok: true, output: '' };
        } catch (error) {
          return { ...c, ok: false, output: String((error as { stderr?: string }).stderr ?? error) };
        }
      }),
    );
    for (const r of results) t.is(r.ok, r.expectOk, `${r.name}: ${r.output}`);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});
