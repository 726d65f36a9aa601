// Envelope parsing (JWS and COSE) against every real notation envelope in test/fixtures/vectors, the
// primitive signature check with each envelope's own leaf key, and the integrity rules on crafted
// bad input: every failure is INVALID_SIGNATURE with a stable reason, never a crash.

import test, { type ExecutionContext } from 'ava';
import { decode, Encoder, Tag } from 'cbor-x';
import { constants, sign as cryptoSign } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VouchError, type ErrorCode, type ErrorReason } from '../../../src/core/index.js';
import { Certificate } from '../../../src/trust/index.js';
import { hashForAlgorithm, signatureAlgorithmForKey, verifySignatureBytes } from '../../../src/notation/algorithms.js';
import { parseRfc3339 } from '../../../src/notation/envelope-jws.js';
import { MAX_ENVELOPE_BYTES, parseEnvelope, parsePayload } from '../../../src/notation/parse-envelope.js';
import type { SignatureEnvelope } from '../../../src/notation/envelope.js';
import { generateKeys, generateLeaf } from '../../helpers/pki.js';
import { NOTATION_VECTORS as VECTORS } from '../../helpers/fixtures.js';

const JWS = 'application/jose+json';
const COSE = 'application/cose';
const PAYLOAD_TYPE = 'application/vnd.cncf.notary.payload.v1+json';
const SCHEME = 'io.cncf.notary.signingScheme';
const SIGNING_TIME = 'io.cncf.notary.signingTime';
const AUTH_TIME = 'io.cncf.notary.authenticSigningTime';
const EXPIRY = 'io.cncf.notary.expiry';

const read = (path: string): Uint8Array => new Uint8Array(readFileSync(join(VECTORS, path)));
const layoutBlob = (layout: string, hex: string) => `notation-cli-e2e/oci_layout/${layout}/blobs/sha256/${hex}`;
const SUBJECT = 'sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9';

function expectInvalid(
  t: ExecutionContext,
  fn: () => unknown,
  reason: ErrorReason = 'BAD_CONTENT',
  code: ErrorCode = 'INVALID_SIGNATURE',
): void {
  const error = t.throws(fn, { instanceOf: VouchError });
  t.is(error?.code, code, error?.message);
  t.is(error?.reason, reason, error?.message);
}

interface RealEnvelope {
  path: string;
  mediaType: string;
  algorithm: string;
  scheme: 'notary.x509' | 'notary.x509.signingAuthority';
  signingTime?: string;
  authenticSigningTime?: string;
  expiry?: string;
  critical: string[];
  chainLength: number;
  timestamp: boolean;
  agent?: string;
  digest: string;
  extended?: string[];
  plugin?: string;
  pluginMinVersion?: string;
}

const X509_CRIT = [SCHEME];
const REAL: RealEnvelope[] = [
  // notation CLI e2e layouts
  {
    path: layoutBlob('e2e-valid-signature', 'c9af07e038b2b1a463e648986ad7273157511ffeba0b689f33e5472bae471f50'),
    mediaType: JWS,
    algorithm: 'PS256',
    scheme: 'notary.x509',
    signingTime: '2023-06-27T05:30:33.000Z',
    critical: X509_CRIT,
    chainLength: 1,
    timestamp: false,
    agent: 'Notation/1.0.0',
    digest: SUBJECT,
  },
  {
    path: layoutBlob('e2e-valid-multiple-signatures', 'a54333638acfa773a6b25429ee409b558d39c6f3c45dd14f714d72452bc36481'),
    mediaType: JWS,
    algorithm: 'PS256',
    scheme: 'notary.x509',
    signingTime: '2025-02-17T08:17:09.000Z',
    critical: X509_CRIT,
    chainLength: 1,
    timestamp: false,
    agent: 'notation-go/1.3.0+unreleased',
    digest: SUBJECT,
  },
  {
    path: layoutBlob('e2e-expired-signature', 'b5f927564088f65dad86c81bcdd0b55415a8b4c9a0a5391107210e0cdb305cc7'),
    mediaType: JWS,
    algorithm: 'PS256',
    scheme: 'notary.x509',
    signingTime: '2023-06-27T05:20:21.000Z',
    expiry: '2023-06-27T05:21:21.000Z',
    critical: [SCHEME, EXPIRY],
    chainLength: 1,
    timestamp: false,
    agent: 'Notation/1.0.0',
    digest: SUBJECT,
  },
  {
    path: layoutBlob('e2e-with-expired-cert', '8513a5ba473f32b78a87518b732700632c05cde0d59d179275c5c5a8096beeed'),
    mediaType: JWS,
    algorithm: 'PS256',
    scheme: 'notary.x509',
    signingTime: '2023-06-27T06:07:26.000Z',
    critical: X509_CRIT,
    chainLength: 1,
    timestamp: false,
    digest: SUBJECT,
  },
  {
    path: layoutBlob('e2e-with-timestamped-signature', '603ff134e97a79cd7a15560b76137c2c4a10451daab11327a7c6f86dac250fee'),
    mediaType: JWS,
    algorithm: 'PS256',
    scheme: 'notary.x509',
    signingTime: '2025-01-21T09:17:46.000Z',
    expiry: '2025-01-21T12:39:46.000Z',
    critical: [SCHEME, EXPIRY],
    chainLength: 1,
    timestamp: true,
    digest: 'sha256:53b0191218aed9a3c1f7c661736ac40cfc8eb928642348fd843ba3f0483c0c20',
  },
  {
    path: layoutBlob('e2e-with-invalid-timestamped-signature', '8d2e70ffc2af68b7f2df6f30dfefcb7bcda1db5f9ac2566fc8c6c2248c8d4c5f'),
    mediaType: JWS,
    algorithm: 'PS256',
    scheme: 'notary.x509',
    signingTime: '2025-01-21T08:41:17.000Z',
    critical: X509_CRIT,
    chainLength: 1,
    timestamp: true,
    digest: 'sha256:f1da8cd70d6d851fa2313c8d6618f79508cf1e86877edf1c0bfe49a1b0a6467a',
  },
  // notation-go envelopes
  {
    path: 'notation-go/envelopes/jws_signature.sig',
    mediaType: JWS,
    algorithm: 'PS256',
    scheme: 'notary.x509',
    signingTime: '2023-03-14T08:10:02.000Z',
    critical: X509_CRIT,
    chainLength: 1,
    timestamp: false,
    agent: 'Notation/1.0.0',
    digest: 'sha256:19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0',
  },
  {
    path: 'notation-go/envelopes/cose_signature.sig',
    mediaType: COSE,
    algorithm: 'PS256',
    scheme: 'notary.x509',
    signingTime: '2023-03-14T04:45:22.000Z',
    critical: X509_CRIT,
    chainLength: 1,
    timestamp: false,
    agent: 'Notation/1.0.0',
    digest: 'sha256:19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0',
  },
  // notation-go mock envelopes (unprotected `io.cncf.notary.SigningAgent`, matched like Go does)
  {
    path: 'notation-go/mock-envelopes/ca_valid_sig_env.json',
    mediaType: JWS,
    algorithm: 'PS384',
    scheme: 'notary.x509',
    signingTime: '2020-11-09T07:00:00.000Z',
    expiry: '2120-11-09T07:00:00.000Z',
    critical: [SCHEME, EXPIRY],
    chainLength: 2,
    timestamp: false,
    agent: 'Notation/1.0.0',
    digest: 'sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e',
  },
  {
    path: 'notation-go/mock-envelopes/ca_expired_sig_env.json',
    mediaType: JWS,
    algorithm: 'PS384',
    scheme: 'notary.x509',
    signingTime: '2022-07-29T00:00:00.000Z',
    expiry: '2022-07-29T23:59:00.000Z',
    critical: [SCHEME, EXPIRY],
    chainLength: 2,
    timestamp: false,
    digest: 'sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e',
  },
  {
    path: 'notation-go/mock-envelopes/sa_valid_sig_env.json',
    mediaType: JWS,
    algorithm: 'PS384',
    scheme: 'notary.x509.signingAuthority',
    authenticSigningTime: '2020-11-09T07:00:00.000Z',
    expiry: '2120-11-09T07:00:00.000Z',
    critical: [SCHEME, AUTH_TIME, EXPIRY],
    chainLength: 2,
    timestamp: false,
    digest: 'sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e',
  },
  {
    path: 'notation-go/mock-envelopes/sa_expired_sig_env.json',
    mediaType: JWS,
    algorithm: 'PS384',
    scheme: 'notary.x509.signingAuthority',
    authenticSigningTime: '2022-07-29T00:00:00.000Z',
    expiry: '2022-07-29T23:59:00.000Z',
    critical: [SCHEME, AUTH_TIME, EXPIRY],
    chainLength: 2,
    timestamp: false,
    digest: 'sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e',
  },
  {
    path: 'notation-go/mock-envelopes/ca_plugin_sig_env.json',
    mediaType: JWS,
    algorithm: 'PS384',
    scheme: 'notary.x509',
    signingTime: '2020-11-09T07:00:00.000Z',
    expiry: '2120-11-09T07:00:00.000Z',
    critical: [SCHEME, 'SomeKey', EXPIRY, 'io.cncf.notary.verificationPlugin'],
    chainLength: 2,
    timestamp: false,
    digest: 'sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e',
    extended: ['SomeKey'],
    plugin: 'plugin-name',
  },
  {
    path: 'notation-go/mock-envelopes/sa_plugin_sig_env.json',
    mediaType: JWS,
    algorithm: 'PS384',
    scheme: 'notary.x509.signingAuthority',
    authenticSigningTime: '2020-11-09T07:00:00.000Z',
    expiry: '2120-11-09T07:00:00.000Z',
    critical: [SCHEME, 'SomeKey', AUTH_TIME, EXPIRY, 'io.cncf.notary.verificationPlugin'],
    chainLength: 2,
    timestamp: false,
    digest: 'sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e',
    extended: ['SomeKey'],
    plugin: 'plugin-name',
  },
  {
    path: 'notation-go/mock-envelopes/sig_env_with_metadata.json',
    mediaType: JWS,
    algorithm: 'PS256',
    scheme: 'notary.x509',
    signingTime: '2023-01-11T18:02:54.000Z',
    critical: X509_CRIT,
    chainLength: 1,
    timestamp: false,
    digest: 'sha256:5a07385af4e6b6af81b0ebfd435aedccdfa3507f0609c658209e1aba57159b2b',
  },
  // notation-go timestamp envelopes
  ...(
    [
      ['jwsWithTimestamp.sig', JWS, '2024-06-18T06:29:33.000Z', true],
      ['coseWithTimestamp.sig', COSE, '2024-06-18T06:27:11.000Z', true],
      ['jwsExpiredWithTimestamp.sig', JWS, '2024-06-18T07:21:38.000Z', true],
      ['coseExpiredWithTimestamp.sig', COSE, '2024-06-18T07:21:07.000Z', true],
      ['timestampBeforeNotBefore.sig', JWS, '2024-06-19T09:30:11.000Z', true],
      ['timestampAfterNotAfter.sig', COSE, '2024-06-19T09:35:54.000Z', true],
      ['withoutTimestamp.sig', JWS, '2024-06-18T09:08:35.000Z', false],
    ] as const
  ).map(([file, mediaType, signingTime, timestamp]): RealEnvelope => ({
    path: `notation-go/timestamp/sigEnv/${file}`,
    mediaType,
    algorithm: 'PS256',
    scheme: 'notary.x509',
    signingTime,
    critical: X509_CRIT,
    chainLength: 1,
    timestamp,
    agent: 'Notation/1.0.0',
    digest: 'sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda',
  })),
  // blob signatures
  {
    path: 'notation-go/blob-verify/testSig.jws.sig',
    mediaType: JWS,
    algorithm: 'PS384',
    scheme: 'notary.x509',
    signingTime: '2024-04-04T22:03:06.000Z',
    critical: X509_CRIT,
    chainLength: 1,
    timestamp: false,
    agent: 'example signing agent',
    digest: 'sha384:b8ab24dafba5cf7e4c89c562f811cf10493d4203da982d3b1345f366ca863d9c2ed323dbd0fb7ff83a80302ceffa5a61',
  },
  {
    path: 'notation-cli-e2e/blob/blob.jws.sig',
    mediaType: JWS,
    algorithm: 'PS256',
    scheme: 'notary.x509',
    signingTime: '2024-12-31T08:05:29.000Z',
    critical: X509_CRIT,
    chainLength: 1,
    timestamp: true,
    agent: 'notation-go/1.3.0+unreleased',
    digest: 'sha256:c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4',
  },
  {
    path: 'notation-cli-e2e/blob/blob.cose.sig',
    mediaType: COSE,
    algorithm: 'PS256',
    scheme: 'notary.x509',
    signingTime: '2025-01-07T08:42:43.000Z',
    critical: X509_CRIT,
    chainLength: 1,
    timestamp: true,
    agent: 'notation-go/1.3.0+unreleased',
    digest: 'sha256:c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4',
  },
];

for (const vector of REAL) {
  const name = vector.path.split('/').slice(-1)[0]!.slice(0, 24);
  test(`real envelope ${name} (${vector.path.split('/')[0]}): parses with the right fields`, (t) => {
    const envelope = parseEnvelope(vector.mediaType, read(vector.path));
    t.is(envelope.format, vector.mediaType === JWS ? 'jws' : 'cose');
    t.is(envelope.mediaType, vector.mediaType);
    t.is(envelope.algorithm, vector.algorithm as SignatureEnvelope['algorithm']);
    t.is(envelope.contentType, PAYLOAD_TYPE);
    t.is(envelope.signingScheme, vector.scheme);
    t.is(envelope.signingTime?.toISOString(), vector.signingTime);
    t.is(envelope.authenticSigningTime?.toISOString(), vector.authenticSigningTime);
    t.is(envelope.expiry?.toISOString(), vector.expiry);
    t.deepEqual(envelope.critical, vector.critical);
    t.deepEqual(Object.keys(envelope.extendedAttributes), vector.extended ?? []);
    t.is(envelope.verificationPlugin, vector.plugin);
    t.is(envelope.certificateChain.length, vector.chainLength);
    t.is(envelope.timestampToken !== undefined, vector.timestamp);
    if (vector.agent !== undefined) t.is(envelope.signingAgent, vector.agent);
    t.is(parsePayload(envelope.payload).targetArtifact.digest as string, vector.digest);
  });

  test(`real envelope ${name} (${vector.path.split('/')[0]}): signature verifies with the x5c leaf key; a flipped byte does not`, (t) => {
    const envelope = parseEnvelope(vector.mediaType, read(vector.path));
    const leaf = Certificate.fromDer(envelope.certificateChain[0]!, 'leaf');
    t.is(signatureAlgorithmForKey(leaf.publicKey), envelope.algorithm);
    t.true(verifySignatureBytes(envelope.algorithm, leaf.publicKey, envelope.signedBytes, envelope.signature, envelope.format));
    // Every vector uses salt = hash length, so the strict rule accepts them too.
    t.true(verifySignatureBytes(envelope.algorithm, leaf.publicKey, envelope.signedBytes, envelope.signature, 'cose'));
    const badSig = new Uint8Array(envelope.signature);
    badSig[10] = badSig[10]! ^ 0x01;
    t.false(verifySignatureBytes(envelope.algorithm, leaf.publicKey, envelope.signedBytes, badSig, envelope.format));
    const badInput = new Uint8Array(envelope.signedBytes);
    badInput[badInput.length - 2] = badInput[badInput.length - 2]! ^ 0x01;
    t.false(verifySignatureBytes(envelope.algorithm, leaf.publicKey, badInput, envelope.signature, envelope.format));
    t.false(
      verifySignatureBytes(envelope.algorithm, leaf.publicKey, envelope.signedBytes, envelope.signature.subarray(1), envelope.format),
    );
  });
}

test('real envelopes: the JWS signing input is the protected and payload strings as received', (t) => {
  const bytes = read(REAL[0]!.path);
  const json = JSON.parse(Buffer.from(bytes).toString()) as { protected: string; payload: string };
  const envelope = parseEnvelope(JWS, bytes);
  t.is(Buffer.from(envelope.signedBytes).toString(), `${json.protected}.${json.payload}`);
  t.is(Buffer.from(envelope.payload).toString(), Buffer.from(json.payload, 'base64url').toString());
});

test('real envelopes: the mock plugin envelopes record the plugin minimum version', (t) => {
  for (const version of ['0.0.9', '1.0.0-alpha', '1.0.0-alpha.beta', '1.0.0', '1.0.1', '1.0.9', '1.1.0-alpha', '1.2.3']) {
    const kind = ['1.0.1', '1.0.9', '1.1.0-alpha', '1.2.3'].includes(version) ? 'incompatible' : 'compatible';
    const envelope = parseEnvelope(JWS, read(`notation-go/mock-envelopes/ca_${kind}_pluginver_sig_env_${version}.json`));
    t.is(envelope.verificationPlugin, 'io.cncf.notary.plugin.unittest.mock');
    t.is(envelope.verificationPluginMinVersion, version);
    t.deepEqual(Object.keys(envelope.extendedAttributes), []);
    t.true(envelope.critical.includes('io.cncf.notary.verificationPluginMinVersion'));
  }
});

test('real envelopes: sig_env_with_metadata carries the user metadata annotations', (t) => {
  const envelope = parseEnvelope(JWS, read('notation-go/mock-envelopes/sig_env_with_metadata.json'));
  t.deepEqual(parsePayload(envelope.payload).targetArtifact.annotations, {
    'io.wabbit-networks.buildId': '123',
    'io.wabbit-networks.buildTime': '1672944615',
  });
});

test('real envelopes: a padded base64url payload (ca/sa_invalid_sig_env) is an integrity failure', (t) => {
  expectInvalid(t, () => parseEnvelope(JWS, read('notation-go/mock-envelopes/ca_invalid_sig_env.json')));
  expectInvalid(t, () => parseEnvelope(JWS, read('notation-go/mock-envelopes/sa_invalid_sig_env.json')));
});

test('real envelopes: malformed.jws.sig and the e2e-invalid-signature layer are rejected', (t) => {
  expectInvalid(t, () => parseEnvelope(JWS, read('notation-cli-e2e/blob/malformed.jws.sig')));
  const layer = read(layoutBlob('e2e-invalid-signature', '9a8decdf3775708f4eed16859f19561d730cad40b1af0dcfc37ac1e5f879a934'));
  expectInvalid(t, () => parseEnvelope('application/vnd.oci.image.layer.v1.tar', layer), 'MEDIA_TYPE');
  expectInvalid(t, () => parseEnvelope(JWS, layer));
  expectInvalid(t, () => parseEnvelope(COSE, layer));
});

test('real envelopes: every envelope file in the vectors either parses or fails with INVALID_SIGNATURE', (t) => {
  const dirs = ['notation-go/mock-envelopes', 'notation-go/timestamp/sigEnv', 'notation-go/envelopes', 'notation-cli-e2e/blob'];
  let parsed = 0;
  for (const dir of dirs) {
    for (const file of readdirSync(join(VECTORS, dir))) {
      const mediaType = file.includes('cose') || file === 'timestampAfterNotAfter.sig' ? COSE : JWS;
      try {
        parseEnvelope(mediaType, read(`${dir}/${file}`));
        parsed++;
      } catch (error) {
        t.true(error instanceof VouchError && error.code === 'INVALID_SIGNATURE', `${dir}/${file}: ${String(error)}`);
      }
    }
  }
  t.true(parsed > 25);
});

// notation-core-go conformance vectors: shapes only (their signatures came from runtime keys).

const E2E_CERT = read('notation-cli-e2e/localkeys/e2e.crt');
const e2eCertDer = (): Uint8Array => {
  const pem = Buffer.from(E2E_CERT).toString();
  return new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64'));
};

test('conformance: the notation-core-go JWS shape parses (crit with an extended key)', (t) => {
  const doc = JSON.parse(Buffer.from(read('notation-core-go/conformance/jws-conformance.json')).toString()) as Record<string, unknown>;
  // The vector has no x5c (notation requires one): add it to the unprotected header.
  (doc['header'] as Record<string, unknown>)['x5c'] = [Buffer.from(e2eCertDer()).toString('base64')];
  const envelope = parseEnvelope(JWS, new TextEncoder().encode(JSON.stringify(doc)));
  t.is(envelope.algorithm, 'ES256');
  t.deepEqual(envelope.critical, [SCHEME, 'signedCritKey1', EXPIRY]);
  t.deepEqual(Object.keys(envelope.extendedAttributes).sort(), ['signedCritKey1', 'signedKey1', 'signedKey2', 'signedKey3', 'signedKey4']);
  t.is(envelope.signingTime?.toISOString(), '2022-08-29T13:50:00.000Z');
  t.is(envelope.expiry?.toISOString(), '2099-08-30T13:50:00.000Z');
  t.is(envelope.signingAgent, 'NotationConformanceTest/1.0.0');
  t.is(Buffer.from(envelope.payload).toString(), '{"key":"hello JWS"}');
  t.is(envelope.signature.length, 64);
});

test('conformance: the notation-core-go JWS shape without x5c is rejected (certificate chain is not present)', (t) => {
  expectInvalid(t, () => parseEnvelope(JWS, read('notation-core-go/conformance/jws-conformance.json')));
});

const encoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false });

test('conformance: the notation-core-go COSE bytes parse (tag 18, length-first protected map, tag-1 times)', (t) => {
  const doc = JSON.parse(Buffer.from(read('notation-core-go/conformance/cose-conformance.json')).toString()) as {
    expectedOutput: { cborHex: string };
    protectedHeaders: { cborHex: string };
  };
  const original = Buffer.from(doc.expectedOutput.cborHex, 'hex');
  // Without x5chain, as emitted: rejected.
  expectInvalid(t, () => parseEnvelope(COSE, original));
  // Rebuild with an unprotected x5chain, keeping the protected bytes.
  const protectedBytes = Buffer.from(doc.protectedHeaders.cborHex, 'hex');
  const signature = Buffer.alloc(384, 1);
  const rebuilt = encoder.encode(
    new Tag(
      [
        protectedBytes,
        new Map<unknown, unknown>([
          [33, [Buffer.from(e2eCertDer())]],
          ['io.cncf.notary.signingAgent', 'x'],
        ]),
        Buffer.from('hello COSE'),
        signature,
      ],
      18,
    ),
  );
  const envelope = parseEnvelope(COSE, rebuilt);
  t.is(envelope.algorithm, 'PS384');
  t.deepEqual(envelope.critical, [SCHEME, EXPIRY, 'signedCritKey1']);
  t.deepEqual(Object.keys(envelope.extendedAttributes), ['signedKey1', 'signedCritKey1']);
  t.is(envelope.signingTime?.getTime(), 1661321924 * 1000);
  t.is(envelope.expiry?.getTime(), 1661408324 * 1000);
  t.is(Buffer.from(envelope.payload).toString(), 'hello COSE');
  // Sig_structure = ["Signature1", protected (original bytes), h'', payload].
  const expected = encoder.encode(['Signature1', protectedBytes, Buffer.alloc(0), Buffer.from('hello COSE')]);
  t.deepEqual(Buffer.from(envelope.signedBytes), expected);
  t.is(Buffer.from(envelope.signedBytes).subarray(0, 1).toString('hex'), '84');
});

// Crafted JWS: valid except for the rule under test (parsing does not check the signature).

const B64U = (value: string | Uint8Array) => Buffer.from(value).toString('base64url');
const BASE_HEADER = (): Record<string, unknown> => ({
  alg: 'PS256',
  crit: [SCHEME],
  cty: PAYLOAD_TYPE,
  [SCHEME]: 'notary.x509',
  [SIGNING_TIME]: '2024-01-01T00:00:00Z',
});
const PAYLOAD = JSON.stringify({ targetArtifact: { digest: SUBJECT, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 517 } });

function jws(
  header: Record<string, unknown> | string = BASE_HEADER(),
  extra: { payload?: string; unprotected?: unknown; signature?: unknown; top?: Record<string, unknown>; protectedB64?: string } = {},
): Uint8Array {
  const envelope: Record<string, unknown> = {
    payload: extra.payload ?? B64U(PAYLOAD),
    protected: extra.protectedB64 ?? B64U(typeof header === 'string' ? header : JSON.stringify(header)),
    header: extra.unprotected ?? { x5c: [Buffer.from(e2eCertDer()).toString('base64')], 'io.cncf.notary.signingAgent': 'test' },
    signature: extra.signature ?? B64U(Buffer.alloc(256, 7)),
    ...extra.top,
  };
  return new TextEncoder().encode(JSON.stringify(envelope));
}

const withHeader = (changes: Record<string, unknown>) => {
  const header = BASE_HEADER();
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete header[k];
    else header[k] = v;
  }
  return jws(header);
};

test('jws: the crafted baseline parses', (t) => {
  const envelope = parseEnvelope(JWS, jws());
  t.is(envelope.signingTime?.toISOString(), '2024-01-01T00:00:00.000Z');
  t.is(envelope.signingAgent, 'test');
});

test('jws: bad input never crashes (truncated, empty, non-JSON, wrong JSON types)', (t) => {
  const good = jws();
  for (const cut of [1, 10, good.length / 2, good.length - 1])
    expectInvalid(t, () => parseEnvelope(JWS, good.subarray(0, Math.floor(cut))));
  expectInvalid(t, () => parseEnvelope(JWS, new Uint8Array(0)));
  expectInvalid(t, () => parseEnvelope(JWS, new TextEncoder().encode('not json')));
  expectInvalid(t, () => parseEnvelope(JWS, new Uint8Array([0xff, 0xfe, 0x7b, 0x7d])));
  expectInvalid(t, () => parseEnvelope(JWS, new TextEncoder().encode('\ufeff' + Buffer.from(good).toString())));
  for (const doc of ['[]', 'null', '42', '"x"', '{}']) expectInvalid(t, () => parseEnvelope(JWS, new TextEncoder().encode(doc)));
  expectInvalid(t, () => parseEnvelope(JWS, jws(BASE_HEADER(), { top: { protected: 42 } })));
  expectInvalid(t, () => parseEnvelope(JWS, jws(BASE_HEADER(), { top: { payload: null } })));
  expectInvalid(t, () => parseEnvelope(JWS, jws(BASE_HEADER(), { signature: ['x'] })));
  expectInvalid(t, () => parseEnvelope(JWS, jws(BASE_HEADER(), { unprotected: [] })));
  expectInvalid(t, () => parseEnvelope(JWS, jws(BASE_HEADER(), { unprotected: { x5c: 'abc' } })));
  expectInvalid(t, () => parseEnvelope(JWS, jws(BASE_HEADER(), { unprotected: { x5c: [42] } })));
  expectInvalid(t, () => parseEnvelope(JWS, jws(BASE_HEADER(), { unprotected: { x5c: [] } })));
  expectInvalid(t, () => parseEnvelope(JWS, jws(BASE_HEADER(), { unprotected: {} })));
  expectInvalid(t, () => parseEnvelope(JWS, jws('[1,2]')));
  expectInvalid(t, () => parseEnvelope(JWS, jws('{"alg":')));
  expectInvalid(t, () => parseEnvelope(JWS, jws(BASE_HEADER(), { protectedB64: B64U(Buffer.from([0xc3, 0x28])) })));
});

test('jws: oversized input is rejected before parsing', (t) => {
  expectInvalid(t, () => parseEnvelope(JWS, new Uint8Array(MAX_ENVELOPE_BYTES + 1)), 'SIZE_LIMIT');
  expectInvalid(t, () => parseEnvelope(COSE, new Uint8Array(MAX_ENVELOPE_BYTES + 1)), 'SIZE_LIMIT');
});

test('jws: unknown media types are rejected', (t) => {
  expectInvalid(t, () => parseEnvelope('application/json', jws()), 'MEDIA_TYPE');
  expectInvalid(t, () => parseEnvelope('application/jose+json; charset=utf-8', jws()), 'MEDIA_TYPE');
});

test('jws: only the flattened serialization with exactly the four members is accepted', (t) => {
  expectInvalid(t, () => parseEnvelope(JWS, jws(BASE_HEADER(), { top: { signatures: [] } })));
  expectInvalid(t, () => parseEnvelope(JWS, jws(BASE_HEADER(), { top: { extra: 1 } })));
  expectInvalid(t, () => parseEnvelope(JWS, jws(BASE_HEADER(), { signature: '' })));
});

test('jws: base64url must be strict and unpadded; x5c and the timestamp standard base64', (t) => {
  expectInvalid(t, () => parseEnvelope(JWS, jws(BASE_HEADER(), { payload: B64U(PAYLOAD) + '=' })));
  expectInvalid(t, () => parseEnvelope(JWS, jws(BASE_HEADER(), { payload: Buffer.from(PAYLOAD + '??').toString('base64') })));
  expectInvalid(t, () => parseEnvelope(JWS, jws(BASE_HEADER(), { protectedB64: B64U(JSON.stringify(BASE_HEADER())) + '==' })));
  expectInvalid(t, () => parseEnvelope(JWS, jws(BASE_HEADER(), { signature: B64U(Buffer.alloc(256, 7)) + '\n' })));
  expectInvalid(t, () => parseEnvelope(JWS, jws(BASE_HEADER(), { signature: 'A' })));
  const x5c = Buffer.from(e2eCertDer()).toString('base64url');
  expectInvalid(t, () => parseEnvelope(JWS, jws(BASE_HEADER(), { unprotected: { x5c: [x5c] } })));
  const std = Buffer.from(e2eCertDer()).toString('base64');
  expectInvalid(t, () =>
    parseEnvelope(JWS, jws(BASE_HEADER(), { unprotected: { x5c: [std], 'io.cncf.notary.timestampSignature': 'a-b_' } })),
  );
  expectInvalid(t, () => parseEnvelope(JWS, jws(BASE_HEADER(), { unprotected: { x5c: [std], 'io.cncf.notary.timestampSignature': 42 } })));
  const ok = parseEnvelope(JWS, jws(BASE_HEADER(), { unprotected: { x5c: [std], 'io.cncf.notary.timestampSignature': 'AAEC' } }));
  t.deepEqual([...ok.timestampToken!], [0, 1, 2]);
});

test('jws: standard base64 that is not canonical is judged as Go decodes it (trailing bits accepted, missing padding not)', (t) => {
  const std = Buffer.from(e2eCertDer()).toString('base64');
  // 'AAE=' decodes to [0, 1]; 'AAF=' sets trailing bits Go's lenient StdEncoding ignores: the same bytes.
  const lenient = parseEnvelope(JWS, jws(BASE_HEADER(), { unprotected: { x5c: [std], 'io.cncf.notary.timestampSignature': 'AAF=' } }));
  t.deepEqual([...lenient.timestampToken!], [0, 1]);
  // Canonical bytes, not canonical text: unpadded, or padding where none belongs, stays refused.
  for (const token of ['AAE', 'AAEC=', 'AA==AA==', 'AAEC\n'])
    expectInvalid(t, () =>
      parseEnvelope(JWS, jws(BASE_HEADER(), { unprotected: { x5c: [std], 'io.cncf.notary.timestampSignature': token } })),
    );
  expectInvalid(t, () => parseEnvelope(JWS, jws(BASE_HEADER(), { unprotected: { x5c: [std.slice(0, -1)] } })));
});

test('jws: unknown unprotected header members are ignored; known ones match case-insensitively', (t) => {
  const std = Buffer.from(e2eCertDer()).toString('base64');
  const envelope = parseEnvelope(
    JWS,
    jws(BASE_HEADER(), { unprotected: { X5C: [std], 'io.cncf.notary.SigningAgent': 'Agent', whatever: { a: 1 } } }),
  );
  t.is(envelope.signingAgent, 'Agent');
  t.is(envelope.certificateChain.length, 1);
});

test('jws: alg must be one of the six Notary algorithms', (t) => {
  for (const alg of ['none', 'HS256', 'RS256', 'EdDSA', 'ps256', '', 42, null])
    expectInvalid(t, () => parseEnvelope(JWS, withHeader({ alg })));
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ alg: undefined })));
  for (const alg of ['PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'] as const)
    t.is(parseEnvelope(JWS, withHeader({ alg })).algorithm, alg);
});

test('jws: cty must be the Notary payload type', (t) => {
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ cty: undefined })));
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ cty: 'application/json' })));
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ cty: 42 })));
});

test('jws: crit rules', (t) => {
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ crit: undefined })));
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ crit: [] })));
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ crit: SCHEME })));
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ crit: [SCHEME, 7] })));
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ crit: ['other'], other: 1 })));
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ crit: [SCHEME, 'alg'] })));
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ crit: [SCHEME, 'cty'] })));
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ crit: [SCHEME, 'x5c'], x5c: ['a'] })));
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ crit: [SCHEME, SIGNING_TIME] })));
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ crit: [SCHEME, 'missing'] })));
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ crit: [SCHEME, SCHEME] })));
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ [EXPIRY]: '2030-01-01T00:00:00Z' })));
  t.is(parseEnvelope(JWS, withHeader({ [EXPIRY]: '2030-01-01T00:00:00Z', crit: [EXPIRY, SCHEME] })).expiry?.getUTCFullYear(), 2030);
  // An unknown critical extended attribute is recorded, not rejected: the verifier decides.
  const envelope = parseEnvelope(JWS, withHeader({ crit: [SCHEME, 'com.example.unknown'], 'com.example.unknown': { x: 1 } }));
  t.deepEqual(envelope.critical, [SCHEME, 'com.example.unknown']);
  t.deepEqual(envelope.extendedAttributes, { 'com.example.unknown': { x: 1 } });
});

test('jws: a protected header named __proto__ stays an ordinary extended attribute', (t) => {
  const header = BASE_HEADER();
  Object.defineProperty(header, '__proto__', { value: { polluted: true }, enumerable: true });
  const envelope = parseEnvelope(JWS, jws(header));
  t.deepEqual(Object.keys(envelope.extendedAttributes), ['__proto__']);
  t.is(Object.getPrototypeOf(envelope.extendedAttributes), Object.prototype);
  t.is((envelope.extendedAttributes as { polluted?: boolean }).polluted, undefined);
});

test('jws: signing scheme and the time attributes it requires and forbids', (t) => {
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ [SCHEME]: undefined })));
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ [SCHEME]: 'notary.x509.other' })));
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ [SCHEME]: 42 })));
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ [SIGNING_TIME]: undefined })));
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ [AUTH_TIME]: '2024-01-01T00:00:00Z' })));
  const sa = {
    [SCHEME]: 'notary.x509.signingAuthority',
    [SIGNING_TIME]: undefined,
    [AUTH_TIME]: '2024-01-01T00:00:00Z',
    crit: [SCHEME, AUTH_TIME],
  };
  t.is(parseEnvelope(JWS, withHeader(sa)).authenticSigningTime?.toISOString(), '2024-01-01T00:00:00.000Z');
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ ...sa, crit: [SCHEME] })));
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ ...sa, [AUTH_TIME]: undefined })));
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ ...sa, [SIGNING_TIME]: '2024-01-01T00:00:00Z' })));
  // expiry must be strictly after the signing time
  const crit = [SCHEME, EXPIRY];
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ crit, [EXPIRY]: '2024-01-01T00:00:00Z' })));
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ crit, [EXPIRY]: '2024-01-01T01:59:59+02:00' })));
  t.truthy(parseEnvelope(JWS, withHeader({ crit, [EXPIRY]: '2024-01-01T02:00:01+02:00' })).expiry);
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ ...sa, crit: [SCHEME, AUTH_TIME, EXPIRY], [EXPIRY]: '2023-12-31T23:59:59Z' })));
});

test('jws: times are RFC 3339 with offsets and fractional seconds; anything else is rejected', (t) => {
  t.is(parseRfc3339('2023-06-27T13:30:33+08:00')?.toISOString(), '2023-06-27T05:30:33.000Z');
  t.is(parseRfc3339('2024-04-04T15:03:06-07:00')?.toISOString(), '2024-04-04T22:03:06.000Z');
  t.is(parseRfc3339('2024-01-01T00:00:00.123456789Z')?.toISOString(), '2024-01-01T00:00:00.123Z');
  t.is(parseRfc3339('2024-01-01T00:00:00.5+00:30')?.toISOString(), '2023-12-31T23:30:00.500Z');
  t.is(parseRfc3339('2024-02-29T12:00:00Z')?.toISOString(), '2024-02-29T12:00:00.000Z');
  for (const bad of [
    '2023-02-29T00:00:00Z',
    '2024-13-01T00:00:00Z',
    '2024-01-01T24:00:00Z',
    '2024-01-01T00:00:60Z',
    '2024-01-01t00:00:00Z',
    '2024-01-01T00:00:00z',
    '2024-01-01T00:00:00',
    '2024-01-01 00:00:00Z',
    '2024-01-01T00:00:00+0800',
    '2024-01-01T00:00:00,5Z',
    '1704067200',
    '',
  ]) {
    t.is(parseRfc3339(bad), undefined, bad);
    expectInvalid(t, () => parseEnvelope(JWS, withHeader({ [SIGNING_TIME]: bad })));
  }
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ [SIGNING_TIME]: 1704067200 })));
  t.is(
    parseEnvelope(JWS, withHeader({ [SIGNING_TIME]: '2023-06-27T13:30:33.25+08:00' })).signingTime?.toISOString(),
    '2023-06-27T05:30:33.250Z',
  );
});

test('jws: verification plugin attributes are captured, typed', (t) => {
  const envelope = parseEnvelope(
    JWS,
    withHeader({
      'io.cncf.notary.verificationPlugin': 'p',
      'io.cncf.notary.verificationPluginMinVersion': '1.0.0',
      crit: [SCHEME, 'io.cncf.notary.verificationPlugin'],
    }),
  );
  t.is(envelope.verificationPlugin, 'p');
  t.is(envelope.verificationPluginMinVersion, '1.0.0');
  t.deepEqual(envelope.extendedAttributes, {});
  expectInvalid(t, () => parseEnvelope(JWS, withHeader({ 'io.cncf.notary.verificationPlugin': 42 })));
});

test('jws: random corruption of a real envelope never throws anything but INVALID_SIGNATURE', (t) => {
  const original = read(REAL[2]!.path);
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < 300; i++) {
    const bytes = new Uint8Array(original);
    const mode = i % 3;
    let input: Uint8Array = bytes;
    if (mode === 0) input = bytes.subarray(0, Math.floor(random() * bytes.length));
    else if (mode === 1) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    else {
      const at = Math.floor(random() * bytes.length);
      bytes[at] = bytes[at]! ^ 0x20;
    }
    try {
      parseEnvelope(JWS, input);
    } catch (error) {
      t.true(error instanceof VouchError && error.code === 'INVALID_SIGNATURE', String(error));
    }
  }
  t.pass();
});

// Crafted COSE.

const COSE_CERT = () => Buffer.from(e2eCertDer());

function coseProtected(entries: Array<[unknown, unknown]>): Buffer {
  return encoder.encode(new Map(entries));
}

const BASE_COSE = (): Array<[unknown, unknown]> => [
  [1, -37],
  [2, [SCHEME]],
  [3, PAYLOAD_TYPE],
  [SIGNING_TIME, new Tag(1704067200, 1)],
  [SCHEME, 'notary.x509'],
];

function cose(
  protectedBytes: Buffer = coseProtected(BASE_COSE()),
  unprotected: unknown = new Map<unknown, unknown>([[33, [COSE_CERT()]]]),
  payload: unknown = Buffer.from(PAYLOAD),
  signature: unknown = Buffer.alloc(256, 7),
  tag = 18,
): Uint8Array {
  return new Uint8Array(encoder.encode(new Tag([protectedBytes, unprotected, payload, signature], tag)));
}

const withCose = (changes: Array<[unknown, unknown]>) => {
  const entries = new Map<unknown, unknown>(BASE_COSE());
  for (const [k, v] of changes) {
    if (v === undefined) entries.delete(k);
    else entries.set(k, v);
  }
  return cose(coseProtected([...entries.entries()]));
};

test('cose: the crafted baseline parses', (t) => {
  const envelope = parseEnvelope(COSE, cose());
  t.is(envelope.format, 'cose');
  t.is(envelope.signingTime?.toISOString(), '2024-01-01T00:00:00.000Z');
  t.deepEqual(envelope.critical, [SCHEME]);
});

test('cose: bad input never crashes (truncated, non-CBOR, wrong structure, wrong types)', (t) => {
  const good = cose();
  for (const cut of [1, 5, good.length / 2, good.length - 1])
    expectInvalid(t, () => parseEnvelope(COSE, good.subarray(0, Math.floor(cut))));
  expectInvalid(t, () => parseEnvelope(COSE, jws()));
  expectInvalid(t, () => parseEnvelope(COSE, new Uint8Array([0xff])));
  expectInvalid(t, () => parseEnvelope(COSE, new Uint8Array([...good, 0x00])));
  // not tag 18
  expectInvalid(t, () => parseEnvelope(COSE, cose(undefined, undefined, undefined, undefined, 98)));
  expectInvalid(t, () =>
    parseEnvelope(COSE, new Uint8Array(encoder.encode([coseProtected(BASE_COSE()), new Map(), Buffer.from(PAYLOAD), Buffer.alloc(8)]))),
  );
  expectInvalid(t, () => parseEnvelope(COSE, new Uint8Array(encoder.encode(new Tag([1, 2, 3], 18)))));
  expectInvalid(t, () => parseEnvelope(COSE, new Uint8Array(encoder.encode(new Tag('x', 18)))));
  // wrong item types
  expectInvalid(t, () => parseEnvelope(COSE, cose(coseProtected(BASE_COSE()), [])));
  expectInvalid(t, () => parseEnvelope(COSE, cose(coseProtected(BASE_COSE()), undefined, 'text payload')));
  expectInvalid(t, () => parseEnvelope(COSE, cose(coseProtected(BASE_COSE()), undefined, undefined, Buffer.alloc(0))));
  expectInvalid(t, () =>
    parseEnvelope(
      COSE,
      new Uint8Array(encoder.encode(new Tag([new Map(BASE_COSE()), new Map(), Buffer.from(PAYLOAD), Buffer.alloc(8)], 18))),
    ),
  );
  // a tagged typed array (tag 64) is not a bstr
  const tagged = new Encoder({ mapsAsObjects: false, useRecords: false }).encode(
    new Tag(
      [coseProtected(BASE_COSE()), new Map<unknown, unknown>([[33, [COSE_CERT()]]]), new Uint8Array(Buffer.from(PAYLOAD)), Buffer.alloc(8)],
      18,
    ),
  );
  t.true(tagged.includes(Buffer.from([0xd8, 0x40])));
  expectInvalid(t, () => parseEnvelope(COSE, new Uint8Array(tagged)));
  // protected bytes that are not a map, or with trailing bytes
  expectInvalid(t, () => parseEnvelope(COSE, cose(encoder.encode([1, 2]))));
  expectInvalid(t, () => parseEnvelope(COSE, cose(Buffer.concat([coseProtected(BASE_COSE()), Buffer.from([0])]))));
  expectInvalid(t, () => parseEnvelope(COSE, cose(Buffer.from([0xa1, 0x01]))));
  expectInvalid(t, () => parseEnvelope(COSE, cose(Buffer.alloc(0))));
});

test('cose: a detached (nil) payload is rejected', (t) => {
  expectInvalid(t, () => parseEnvelope(COSE, cose(undefined, undefined, null)));
});

test('cose: alg must be one of the six Notary algorithms', (t) => {
  for (const [id, name] of [
    [-37, 'PS256'],
    [-38, 'PS384'],
    [-39, 'PS512'],
    [-7, 'ES256'],
    [-35, 'ES384'],
    [-36, 'ES512'],
  ] as const) {
    t.is(parseEnvelope(COSE, withCose([[1, id]])).algorithm, name);
  }
  for (const alg of [-8, -257, 0, 'PS256', -37.5, undefined]) expectInvalid(t, () => parseEnvelope(COSE, withCose([[1, alg]])));
});

test('cose: content type must be the Notary payload type as a text string', (t) => {
  expectInvalid(t, () => parseEnvelope(COSE, withCose([[3, undefined]])));
  expectInvalid(t, () => parseEnvelope(COSE, withCose([[3, 50]])));
  expectInvalid(t, () => parseEnvelope(COSE, withCose([[3, 'application/json']])));
});

test('cose: times must be CBOR tag 1; untagged or tag-0 times are rejected', (t) => {
  expectInvalid(t, () => parseEnvelope(COSE, withCose([[SIGNING_TIME, 1704067200]])));
  expectInvalid(t, () => parseEnvelope(COSE, withCose([[SIGNING_TIME, new Tag('2024-01-01T00:00:00Z', 0)]])));
  expectInvalid(t, () => parseEnvelope(COSE, withCose([[SIGNING_TIME, new Tag('1704067200', 1)]])));
  expectInvalid(t, () => parseEnvelope(COSE, withCose([[SIGNING_TIME, '2024-01-01T00:00:00Z']])));
  t.is(parseEnvelope(COSE, withCose([[SIGNING_TIME, new Tag(1704067200.5, 1)]])).signingTime?.toISOString(), '2024-01-01T00:00:00.500Z');
  const crit = [SCHEME, EXPIRY];
  expectInvalid(t, () =>
    parseEnvelope(
      COSE,
      withCose([
        [2, crit],
        [EXPIRY, 1804067200],
      ]),
    ),
  );
  t.is(
    parseEnvelope(
      COSE,
      withCose([
        [2, crit],
        [EXPIRY, new Tag(1804067200, 1)],
      ]),
    ).expiry?.getTime(),
    1804067200000,
  );
  expectInvalid(t, () =>
    parseEnvelope(
      COSE,
      withCose([
        [2, crit],
        [EXPIRY, new Tag(1704067200, 1)],
      ]),
    ),
  );
  // cbor-x's global date decoding is restored after each parse.
  t.true(decode(encoder.encode(new Tag(1704067200, 1))) instanceof Date);
  t.true(decode(encoder.encode(new Tag('2024-01-01T00:00:00Z', 0))) instanceof Date);
});

test('cose: crit rules', (t) => {
  expectInvalid(t, () => parseEnvelope(COSE, withCose([[2, undefined]])));
  expectInvalid(t, () => parseEnvelope(COSE, withCose([[2, []]])));
  expectInvalid(t, () => parseEnvelope(COSE, withCose([[2, SCHEME]])));
  expectInvalid(t, () => parseEnvelope(COSE, withCose([[2, [SCHEME, 1]]])));
  expectInvalid(t, () => parseEnvelope(COSE, withCose([[2, [SCHEME, 3]]])));
  expectInvalid(t, () => parseEnvelope(COSE, withCose([[2, [SCHEME, 'missing']]])));
  expectInvalid(t, () => parseEnvelope(COSE, withCose([[2, [SCHEME, 100]]])));
  expectInvalid(t, () => parseEnvelope(COSE, withCose([[2, [SCHEME, SCHEME]]])));
  expectInvalid(t, () => parseEnvelope(COSE, withCose([[2, [SCHEME, Buffer.from('x')]]])));
  expectInvalid(t, () => parseEnvelope(COSE, withCose([[EXPIRY, new Tag(1804067200, 1)]])));
  const envelope = parseEnvelope(
    COSE,
    withCose([
      [2, [SCHEME, 100, 'ext']],
      [100, 'int label'],
      ['ext', Buffer.from('v')],
    ]),
  );
  t.deepEqual(envelope.critical, [SCHEME, '100', 'ext']);
  t.deepEqual(Object.keys(envelope.extendedAttributes), ['100', 'ext']);
});

test('cose: signing scheme and the time attributes it requires and forbids', (t) => {
  expectInvalid(t, () => parseEnvelope(COSE, withCose([[SCHEME, undefined]])));
  expectInvalid(t, () => parseEnvelope(COSE, withCose([[SCHEME, 'notary.other']])));
  expectInvalid(t, () => parseEnvelope(COSE, withCose([[SIGNING_TIME, undefined]])));
  expectInvalid(t, () => parseEnvelope(COSE, withCose([[AUTH_TIME, new Tag(1704067200, 1)]])));
  const sa: Array<[unknown, unknown]> = [
    [SCHEME, 'notary.x509.signingAuthority'],
    [SIGNING_TIME, undefined],
    [AUTH_TIME, new Tag(1704067200, 1)],
    [2, [SCHEME, AUTH_TIME]],
  ];
  t.is(parseEnvelope(COSE, withCose(sa)).authenticSigningTime?.getTime(), 1704067200000);
  expectInvalid(t, () => parseEnvelope(COSE, withCose([...sa, [2, [SCHEME]]])));
  expectInvalid(t, () => parseEnvelope(COSE, withCose([...sa, [SIGNING_TIME, new Tag(1704067200, 1)]])));
});

test('cose: duplicate labels, indefinite-length maps and labels in both buckets are rejected', (t) => {
  // {1: -37, 1: -37, ...}: hand-assembled so the map header announces one more entry than cbor-x keeps.
  const entries = BASE_COSE();
  const body = Buffer.concat(entries.map(([k, v]) => Buffer.concat([encoder.encode(k), encoder.encode(v)])));
  const dup = Buffer.concat([Buffer.from([0xa0 + entries.length + 1]), encoder.encode(1), encoder.encode(-37), body]);
  expectInvalid(t, () => parseEnvelope(COSE, cose(dup)));
  const indefinite = Buffer.concat([Buffer.from([0xbf]), body, Buffer.from([0xff])]);
  expectInvalid(t, () => parseEnvelope(COSE, cose(indefinite)));
  t.truthy(parseEnvelope(COSE, cose(Buffer.concat([Buffer.from([0xa0 + entries.length]), body]))));
  expectInvalid(t, () =>
    parseEnvelope(
      COSE,
      cose(
        undefined,
        new Map<unknown, unknown>([
          [33, [COSE_CERT()]],
          [SCHEME, 'notary.x509'],
        ]),
      ),
    ),
  );
  expectInvalid(t, () =>
    parseEnvelope(
      COSE,
      cose(
        undefined,
        new Map<unknown, unknown>([
          [33, [COSE_CERT()]],
          [2, [SCHEME]],
        ]),
      ),
    ),
  );
  expectInvalid(t, () =>
    parseEnvelope(
      COSE,
      cose(
        undefined,
        new Map<unknown, unknown>([
          [33, [COSE_CERT()]],
          [Buffer.from('k'), 1],
        ]),
      ),
    ),
  );
});

test('cose: x5chain may be an array or a single bstr, in the unprotected or the protected header', (t) => {
  t.is(parseEnvelope(COSE, cose(undefined, new Map<unknown, unknown>([[33, COSE_CERT()]]))).certificateChain.length, 1);
  const inProtected = cose(coseProtected([...BASE_COSE(), [33, [COSE_CERT(), COSE_CERT()]]]), new Map());
  t.is(parseEnvelope(COSE, inProtected).certificateChain.length, 2);
  expectInvalid(t, () => parseEnvelope(COSE, cose(undefined, new Map())));
  expectInvalid(t, () => parseEnvelope(COSE, cose(undefined, new Map<unknown, unknown>([[33, []]]))));
  expectInvalid(t, () => parseEnvelope(COSE, cose(undefined, new Map<unknown, unknown>([[33, ['text']]]))));
  expectInvalid(t, () => parseEnvelope(COSE, cose(undefined, new Map<unknown, unknown>([[33, 42]]))));
  expectInvalid(t, () => parseEnvelope(COSE, cose(undefined, new Map<unknown, unknown>([[33, Array.from({ length: 33 }, COSE_CERT)]]))));
});

test('cose: unsigned attributes of the wrong type are ignored, as notation-core-go does', (t) => {
  const envelope = parseEnvelope(
    COSE,
    cose(
      undefined,
      new Map<unknown, unknown>([
        [33, [COSE_CERT()]],
        ['io.cncf.notary.signingAgent', 42],
        ['io.cncf.notary.timestampSignature', 'text'],
      ]),
    ),
  );
  t.is(envelope.signingAgent, undefined);
  t.is(envelope.timestampToken, undefined);
});

test('cose: random corruption of a real envelope never throws anything but INVALID_SIGNATURE', (t) => {
  const original = read('notation-cli-e2e/blob/blob.cose.sig');
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < 300; i++) {
    const bytes = new Uint8Array(original);
    let input: Uint8Array = bytes;
    if (i % 2 === 0) input = bytes.subarray(0, Math.floor(random() * bytes.length));
    else bytes[Math.floor(random() * Math.min(bytes.length, 400))] = Math.floor(random() * 256);
    try {
      parseEnvelope(COSE, input);
    } catch (error) {
      t.true(error instanceof VouchError && error.code === 'INVALID_SIGNATURE', String(error));
    }
  }
  t.pass();
});

// Payload.

test('payload: targetArtifact needs mediaType, digest and size; annotations are strings', (t) => {
  const p = (value: unknown) => () => parsePayload(new TextEncoder().encode(JSON.stringify(value)));
  const target = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: SUBJECT, size: 517 };
  t.deepEqual(p({ targetArtifact: target })(), { targetArtifact: target });
  t.deepEqual(p({ targetArtifact: { ...target, annotations: { a: 'b' }, artifactType: 'x', other: 1 } })().targetArtifact, {
    ...target,
    annotations: { a: 'b' },
    artifactType: 'x',
  });
  expectInvalid(t, p({}));
  expectInvalid(t, p({ targetArtifact: [] }));
  expectInvalid(t, p({ targetArtifact: { ...target, mediaType: undefined } }));
  expectInvalid(t, p({ targetArtifact: { ...target, digest: 'nope' } }));
  expectInvalid(t, p({ targetArtifact: { ...target, size: -1 } }));
  expectInvalid(t, p({ targetArtifact: { ...target, size: '517' } }));
  expectInvalid(t, p({ targetArtifact: { ...target, annotations: { a: 1 } } }));
  expectInvalid(t, () => parsePayload(new TextEncoder().encode('{')));
});

// Algorithms.

test('algorithms: the key table is exact', async (t) => {
  const cases = [
    ['rsa-2048', 'PS256'],
    ['rsa-3072', 'PS384'],
    ['ec-p256', 'ES256'],
    ['ec-p384', 'ES384'],
    ['ec-p521', 'ES512'],
  ] as const;
  for (const [spec, alg] of cases) t.is(signatureAlgorithmForKey((await generateKeys(spec)).publicKey), alg);
  for (const spec of ['rsa-1024', 'ec-p224', 'ec-secp256k1', 'ed25519'] as const) {
    const { publicKey } = await generateKeys(spec);
    expectInvalid(t, () => signatureAlgorithmForKey(publicKey), 'UNSUPPORTED', 'UNTRUSTED_SIGNER');
  }
  t.is(hashForAlgorithm('PS256'), 'sha256');
  t.is(hashForAlgorithm('ES384'), 'sha384');
  t.is(hashForAlgorithm('PS512'), 'sha512');
});

test('algorithms: PSS salt length: JWS accepts any salt, COSE requires the hash length', async (t) => {
  const { privateKey, publicKey } = await generateKeys('rsa-2048');
  const data = new TextEncoder().encode('signed bytes');
  const sign = (saltLength: number) =>
    new Uint8Array(cryptoSign('sha256', data, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }));
  t.true(verifySignatureBytes('PS256', publicKey, data, sign(32), 'jws'));
  t.true(verifySignatureBytes('PS256', publicKey, data, sign(32), 'cose'));
  t.true(verifySignatureBytes('PS256', publicKey, data, sign(0), 'jws'));
  t.false(verifySignatureBytes('PS256', publicKey, data, sign(0), 'cose'));
  t.true(verifySignatureBytes('PS256', publicKey, data, sign(64), 'jws'));
  t.false(verifySignatureBytes('PS256', publicKey, data, sign(64), 'cose'));
  // PKCS#1 v1.5 is not PSS
  t.false(verifySignatureBytes('PS256', publicKey, data, new Uint8Array(cryptoSign('sha256', data, privateKey)), 'jws'));
  // algorithm/key mismatch
  t.false(verifySignatureBytes('PS384', publicKey, data, sign(32), 'jws'));
  t.false(verifySignatureBytes('ES256', publicKey, data, sign(32), 'jws'));
});

test('algorithms: ECDSA must be raw r||s of the exact width', async (t) => {
  const leaf = await generateLeaf({ key: 'ec-p384' });
  const data = new TextEncoder().encode('signed bytes');
  const raw = new Uint8Array(cryptoSign('sha384', data, { key: leaf.privateKey, dsaEncoding: 'ieee-p1363' }));
  const der = new Uint8Array(cryptoSign('sha384', data, { key: leaf.privateKey, dsaEncoding: 'der' }));
  t.is(raw.length, 96);
  t.true(verifySignatureBytes('ES384', leaf.publicKey, data, raw));
  t.false(verifySignatureBytes('ES384', leaf.publicKey, data, der));
  t.false(verifySignatureBytes('ES384', leaf.publicKey, data, new Uint8Array([0, ...raw])));
  t.false(verifySignatureBytes('ES256', leaf.publicKey, data, raw.subarray(0, 64)));
  t.false(verifySignatureBytes('ES384', leaf.publicKey, data, new Uint8Array(96)));
});
