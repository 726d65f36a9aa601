// RFC 3161 countersignatures: the real tokens of the notation / notation-go / notation-core-go
// vectors (GlobalSign, Microsoft), and tokens from a tiny in-test TSA (pkijs SignedData over a
// TSTInfo, signed by a generated TSA certificate) for the cases no vector has.

import 'reflect-metadata';
import test, { type ExecutionContext } from 'ava';
import * as x509 from '@peculiar/x509';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { decode } from 'cbor-x';
import { createHash, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { VouchError, type ErrorCode, type ErrorReason } from '../../../src/core/index.js';
import {
  BASELINE_TIMESTAMP_POLICY,
  HASH_OID,
  parseTimestampToken,
  TST_INFO_CONTENT_TYPE,
  verifyTimestampToken,
  type VerifiedTimestamp,
} from '../../../src/notation/timestamp.js';
import { Certificate, parseCertificates } from '../../../src/trust/index.js';
import { NOTATION_VECTORS as VECTORS } from '../../helpers/fixtures.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const read = (rel: string): Uint8Array => new Uint8Array(readFileSync(path.join(VECTORS, rel)));
const certs = (rel: string): Certificate[] => parseCertificates(read(rel), rel);

const GLOBALSIGN_ROOT = (): Certificate[] => certs('notation-go/truststore/x509/tsa/test-timestamp/globalsignRoot.cer');
const DIGICERT_ROOT = (): Certificate[] => certs('notation-go/truststore/x509/tsa/test-mismatch/DigiCertTSARootSHA384.cer');
const MS_TIMESTAMPED =
  'notation-cli-e2e/oci_layout/e2e-with-timestamped-signature/blobs/sha256/603ff134e97a79cd7a15560b76137c2c4a10451daab11327a7c6f86dac250fee';
const MS_CORRUPT =
  'notation-cli-e2e/oci_layout/e2e-with-invalid-timestamped-signature/blobs/sha256/8d2e70ffc2af68b7f2df6f30dfefcb7bcda1db5f9ac2566fc8c6c2248c8d4c5f';

interface Countersigned {
  token: Uint8Array | undefined;
  signature: Uint8Array;
}

/** The token (standard base64) and the raw signature (base64url) of a JWS envelope. */
function fromJws(rel: string): Countersigned {
  const envelope = JSON.parse(Buffer.from(read(rel)).toString('utf8')) as { signature: string; header: Record<string, string> };
  const token = envelope.header['io.cncf.notary.timestampSignature'];
  return {
    token: token === undefined ? undefined : new Uint8Array(Buffer.from(token, 'base64')),
    signature: new Uint8Array(Buffer.from(envelope.signature, 'base64url')),
  };
}

/** COSE_Sign1_Tagged: tag 18 over [protected, unprotected, payload, signature]. */
function fromCose(rel: string): Countersigned {
  const tagged = decode(read(rel)) as { tag: number; value: unknown[] };
  if (tagged.tag !== 18) throw new Error(`${rel}: not COSE_Sign1_Tagged`);
  const unprotected = tagged.value[1] as Map<unknown, unknown> | Record<string, unknown>;
  const token =
    unprotected instanceof Map ? unprotected.get('io.cncf.notary.timestampSignature') : unprotected['io.cncf.notary.timestampSignature'];
  return {
    token: token === undefined ? undefined : new Uint8Array(token as Uint8Array),
    signature: new Uint8Array(tagged.value[3] as Uint8Array),
  };
}

function assertCode(t: ExecutionContext, fn: () => unknown, code: ErrorCode, reason?: ErrorReason): VouchError {
  const error = t.throws(fn, { instanceOf: VouchError }) as VouchError;
  t.is(error.code, code, error.message);
  if (reason !== undefined) t.is(error.reason, reason, error.message);
  return error;
}

// ---------------------------------------------------------------------------------------------
// notation-go timestamp vectors (README §2.4)

const SIG_ENV: Array<[string, 'jws' | 'cose', string]> = [
  ['jwsWithTimestamp', 'jws', '2024-06-18T06:29:37.000Z'],
  ['coseWithTimestamp', 'cose', '2024-06-18T06:27:16.000Z'],
  ['jwsExpiredWithTimestamp', 'jws', '2024-06-18T07:21:42.000Z'],
  ['coseExpiredWithTimestamp', 'cose', '2024-06-18T07:21:12.000Z'],
  ['timestampBeforeNotBefore', 'jws', '2024-06-19T09:30:14.000Z'],
  ['timestampAfterNotAfter', 'cose', '2024-06-19T09:35:58.000Z'],
];

const sigEnv = (name: string, format: 'jws' | 'cose'): Countersigned =>
  (format === 'jws' ? fromJws : fromCose)(`notation-go/timestamp/sigEnv/${name}.sig`);

for (const [name, format, genTime] of SIG_ENV) {
  test(`timestamp: ${name}.sig verifies against the GlobalSign TSA root`, (t) => {
    const { token, signature } = sigEnv(name, format);
    const roots = GLOBALSIGN_ROOT();
    const ts = verifyTimestampToken(token!, signature, roots);
    t.is(ts.genTime.toISOString(), genTime);
    t.is(ts.accuracyMs, 1000);
    t.is(ts.earliest.getTime(), ts.genTime.getTime() - 1000);
    t.is(ts.latest.getTime(), ts.genTime.getTime() + 1000);
    t.is(ts.tsaChain.length, 3);
    t.regex(ts.tsaChain[0]!.subject, /Globalsign TSA for Advanced - G4/);
    t.true(ts.tsaChain[2]!.equals(roots[0]!));
  });

  test(`timestamp: ${name}.sig is UNTRUSTED_SIGNER against the DigiCert root (tsa/test-mismatch)`, (t) => {
    const { token, signature } = sigEnv(name, format);
    assertCode(t, () => verifyTimestampToken(token!, signature, DIGICERT_ROOT()), 'UNTRUSTED_SIGNER', 'DENIED');
  });
}

test('timestamp: a token over other data is INVALID_SIGNATURE (mismatched message)', (t) => {
  const host = fromJws('notation-go/timestamp/sigEnv/withoutTimestamp.sig');
  t.is(host.token, undefined);
  const token = read('notation-go/timestamp/countersignature/TimeStampToken.p7s');
  assertCode(t, () => verifyTimestampToken(token, host.signature, GLOBALSIGN_ROOT()), 'INVALID_SIGNATURE', 'DIGEST_MISMATCH');
});

test('timestamp: TimeStampToken.p7s verifies over the data it was made for ("notation")', (t) => {
  const token = read('notation-go/timestamp/countersignature/TimeStampToken.p7s');
  const ts = verifyTimestampToken(token, Buffer.from('notation'), GLOBALSIGN_ROOT());
  t.is(ts.genTime.toISOString(), '2021-09-17T14:09:10.000Z');
  t.is(ts.accuracyMs, 1000);
});

test('timestamp: a TSTInfo that does not parse is INVALID_SIGNATURE', (t) => {
  const host = fromJws('notation-go/timestamp/sigEnv/withoutTimestamp.sig');
  const token = read('notation-go/timestamp/countersignature/TimeStampTokenWithInvalidTSTInfo.p7s');
  assertCode(t, () => verifyTimestampToken(token, host.signature, GLOBALSIGN_ROOT()), 'INVALID_SIGNATURE', 'BAD_CONTENT');
});

test('timestamp: eContentType id-data is INVALID_SIGNATURE', (t) => {
  const host = fromJws('notation-go/timestamp/sigEnv/withoutTimestamp.sig');
  const token = read('notation-go/timestamp/countersignature/TimeStampTokenWithInvalideContentType.p7s');
  assertCode(t, () => verifyTimestampToken(token, host.signature, GLOBALSIGN_ROOT()), 'INVALID_SIGNATURE', 'BAD_CONTENT');
});

test('timestamp: a token without the signer certificate is INVALID_SIGNATURE', (t) => {
  const token = read('notation-go/timestamp/countersignature/TimeStampTokenWithoutCertificate.p7s');
  const host = fromJws('notation-go/timestamp/sigEnv/withoutTimestamp.sig');
  assertCode(t, () => verifyTimestampToken(token, host.signature, GLOBALSIGN_ROOT()), 'INVALID_SIGNATURE');
  // over its own data (as notation-go's test places it) the imprint matches and the missing certificate is the failure
  assertCode(t, () => verifyTimestampToken(token, Buffer.from('notation'), GLOBALSIGN_ROOT()), 'INVALID_SIGNATURE', 'BAD_CONTENT');
});

test('timestamp: a corrupted CMS signature (notation-core-go) is INVALID_SIGNATURE, whatever the roots', (t) => {
  const token = read('notation-core-go/timestamp/testdata/TimeStampTokenWithInvalidSignature.p7s');
  for (const roots of [GLOBALSIGN_ROOT(), DIGICERT_ROOT(), certs('notation-core-go/timestamp/testdata/tsaRootCert.cer')]) {
    assertCode(t, () => verifyTimestampToken(token, Buffer.from('notation'), roots), 'INVALID_SIGNATURE', 'BAD_CONTENT');
  }
  const host = fromJws('notation-go/timestamp/sigEnv/withoutTimestamp.sig');
  assertCode(t, () => verifyTimestampToken(token, host.signature, GLOBALSIGN_ROOT()), 'INVALID_SIGNATURE');
});

test('timestamp: the corrupt token of e2e-with-invalid-timestamped-signature is INVALID_SIGNATURE, not a crash', (t) => {
  const { token, signature } = fromJws(MS_CORRUPT);
  assertCode(t, () => verifyTimestampToken(token!, signature, GLOBALSIGN_ROOT()), 'INVALID_SIGNATURE', 'BAD_CONTENT');
  assertCode(t, () => parseTimestampToken(token!), 'INVALID_SIGNATURE', 'BAD_CONTENT');
});

test('timestamp: the Microsoft token of e2e-with-timestamped-signature has the inspect range, and no root we hold', (t) => {
  const { token, signature } = fromJws(MS_TIMESTAMPED);
  const info = parseTimestampToken(token!);
  t.is(info.genTime.toISOString(), '2025-01-21T09:17:46.641Z');
  t.is(info.accuracyMs, 500);
  t.is(info.earliest.toISOString(), '2025-01-21T09:17:46.141Z');
  t.is(info.latest.toISOString(), '2025-01-21T09:17:47.141Z');
  t.is(info.policy, '1.3.6.1.4.1.601.10.3.1');
  t.is(info.imprintAlgorithm, 'sha256');
  t.true(info.certificates.some((c) => /Microsoft Public RSA Timestamping CA 2020/.test(c.subject)));
  for (const roots of [GLOBALSIGN_ROOT(), DIGICERT_ROOT(), certs('notation-cli-e2e/timestamp/DigiCertTSARootSHA384.cer'), []]) {
    assertCode(t, () => verifyTimestampToken(token!, signature, roots), 'UNTRUSTED_SIGNER', 'DENIED');
  }
});

test('timestamp: blob.jws.sig and blob.cose.sig tokens (Microsoft TSA) parse and are untrusted without the Microsoft root', (t) => {
  const jws = fromJws('notation-cli-e2e/blob/blob.jws.sig');
  const jwsInfo = parseTimestampToken(jws.token!);
  t.is(jwsInfo.genTime.toISOString(), '2024-12-31T08:05:30.009Z');
  t.is(jwsInfo.accuracyMs, 500);
  assertCode(t, () => verifyTimestampToken(jws.token!, jws.signature, GLOBALSIGN_ROOT()), 'UNTRUSTED_SIGNER');
  // the imprint is checked before trust: another signature is an integrity failure
  assertCode(
    t,
    () => verifyTimestampToken(jws.token!, new Uint8Array(jws.signature.length), GLOBALSIGN_ROOT()),
    'INVALID_SIGNATURE',
    'DIGEST_MISMATCH',
  );

  const cose = fromCose('notation-cli-e2e/blob/blob.cose.sig');
  t.is(parseTimestampToken(cose.token!).genTime.toISOString(), '2025-01-07T08:42:44.082Z');
  assertCode(t, () => verifyTimestampToken(cose.token!, cose.signature, GLOBALSIGN_ROOT()), 'UNTRUSTED_SIGNER');
});

test('timestamp: empty, truncated and bit-flipped tokens never crash', (t) => {
  const { token, signature } = sigEnv('jwsWithTimestamp', 'jws');
  const roots = GLOBALSIGN_ROOT();
  assertCode(t, () => verifyTimestampToken(new Uint8Array(0), signature, roots), 'INVALID_SIGNATURE');
  const variants: Uint8Array[] = [];
  for (let n = 1; n < token!.length; n += 97) variants.push(token!.subarray(0, n));
  for (let i = 0; i < token!.length; i += 53) {
    const flipped = new Uint8Array(token!);
    flipped[i] = flipped[i]! ^ 0x5a;
    variants.push(flipped);
  }
  variants.push(new Uint8Array([...token!, 0x00]));
  for (const variant of variants) {
    try {
      verifyTimestampToken(variant, signature, roots);
    } catch (error) {
      t.true(error instanceof VouchError, `non-VouchError: ${String(error)}`);
      t.true(['INVALID_SIGNATURE', 'UNTRUSTED_SIGNER'].includes((error as VouchError).code));
    }
  }
});

// ---------------------------------------------------------------------------------------------
// A tiny TSA

interface Party {
  x509: x509.X509Certificate;
  keys: webcrypto.CryptoKeyPair;
  certificate: Certificate;
  pkijs: pkijs.Certificate;
}

type KeyKind = 'ec' | 'rsa-pss' | 'rsa';

const ALGORITHMS: Record<
  KeyKind,
  { gen: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams; sign: webcrypto.Algorithm & Record<string, unknown> }
> = {
  ec: { gen: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } },
  rsa: {
    gen: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    sign: { name: 'RSASSA-PKCS1-v1_5' },
  },
  'rsa-pss': {
    gen: { name: 'RSA-PSS', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    sign: { name: 'RSA-PSS', saltLength: 32 },
  },
};

const DAY = 86_400_000;

async function party(
  subject: string,
  issuer: Party | undefined,
  extensions: x509.Extension[],
  options: { notBefore?: Date; notAfter?: Date; key?: KeyKind } = {},
): Promise<Party> {
  const kind = options.key ?? 'ec';
  const keys = (await webcrypto.subtle.generateKey(ALGORITHMS[kind].gen, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const common = {
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8)))
      .toString('hex')
      .replace(/^./, '5'),
    notBefore: options.notBefore ?? new Date(Date.now() - 30 * DAY),
    notAfter: options.notAfter ?? new Date(Date.now() + 365 * DAY),
    extensions,
  };
  const cert =
    issuer === undefined
      ? await x509.X509CertificateGenerator.createSelfSigned({ ...common, name: subject, keys, signingAlgorithm: ALGORITHMS[kind].sign })
      : await x509.X509CertificateGenerator.create({
          ...common,
          subject,
          issuer: issuer.x509.subject,
          publicKey: keys.publicKey,
          signingKey: issuer.keys.privateKey,
          signingAlgorithm:
            ALGORITHMS[
              (issuer.keys.privateKey.algorithm.name === 'ECDSA'
                ? 'ec'
                : issuer.keys.privateKey.algorithm.name === 'RSA-PSS'
                  ? 'rsa-pss'
                  : 'rsa') as KeyKind
            ].sign,
        });
  const der = new Uint8Array(cert.rawData);
  return { x509: cert, keys, certificate: Certificate.fromDer(der, subject), pkijs: pkijs.Certificate.fromBER(der) };
}

const TIMESTAMPING = '1.3.6.1.5.5.7.3.8';
const caExtensions = (): x509.Extension[] => [
  new x509.BasicConstraintsExtension(true, undefined, true),
  new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
];

interface TsaOptions {
  /** EKU of the TSA certificate; null omits the extension. */
  eku?: string[] | null;
  ekuCritical?: boolean;
  notBefore?: Date;
  notAfter?: Date;
  /** root → intermediate → TSA (default) or root → TSA. */
  intermediate?: boolean;
  /** The intermediate is not a CA (no basicConstraints cA). */
  intermediateNotCa?: boolean;
  key?: KeyKind;
}

interface Tsa {
  root: Party;
  intermediate: Party | undefined;
  leaf: Party;
}

async function makeTsa(options: TsaOptions = {}): Promise<Tsa> {
  const root = await party('CN=Tiny TSA Root,O=Vouch Test,C=US', undefined, caExtensions());
  const withIntermediate = options.intermediate ?? true;
  const intermediate = withIntermediate
    ? await party(
        'CN=Tiny TSA CA,O=Vouch Test,C=US',
        root,
        options.intermediateNotCa ? [new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)] : caExtensions(),
      )
    : undefined;
  const eku = options.eku === undefined ? [TIMESTAMPING] : options.eku;
  const leaf = await party(
    'CN=Tiny TSA,O=Vouch Test,C=US',
    intermediate ?? root,
    [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      ...(eku === null ? [] : [new x509.ExtendedKeyUsageExtension(eku, options.ekuCritical ?? true)]),
    ],
    {
      ...(options.notBefore ? { notBefore: options.notBefore } : {}),
      ...(options.notAfter ? { notAfter: options.notAfter } : {}),
      key: options.key ?? 'ec',
    },
  );
  return { root, intermediate, leaf };
}

type ImprintHash = 'sha1' | 'sha256' | 'sha384' | 'sha512';

interface TokenOptions {
  genTime?: Date;
  accuracy?: { seconds?: number; millis?: number; micros?: number };
  policy?: string;
  imprintHash?: ImprintHash;
  signingCertificateV2?: 'ok' | 'missing' | 'wrongHash' | 'issuerSerial' | 'sha384';
  /** Certificates in the token: the chain without the root (default), with it, or the TSA alone. */
  certificates?: 'chain' | 'withRoot' | 'leafOnly';
  corruptSignature?: boolean;
  contentTypeAttribute?: string;
  wrongMessageDigest?: boolean;
  /** Re-encode the outer ContentInfo with an indefinite length (BER). */
  indefiniteOuter?: boolean;
}

async function makeToken(tsa: Tsa, data: Uint8Array, options: TokenOptions = {}): Promise<Uint8Array> {
  const imprintHash = options.imprintHash ?? 'sha256';
  const tst = new pkijs.TSTInfo({
    version: 1,
    policy: options.policy ?? '1.3.6.1.4.1.99999.1',
    messageImprint: new pkijs.MessageImprint({
      hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: HASH_OID[imprintHash], algorithmParams: new asn1js.Null() }),
      hashedMessage: new asn1js.OctetString({ valueHex: createHash(imprintHash).update(data).digest() }),
    }),
    serialNumber: new asn1js.Integer({ value: 4242 }),
    genTime: options.genTime ?? new Date(Date.now() - 3_600_000),
    ...(options.accuracy ? { accuracy: new pkijs.Accuracy(options.accuracy) } : {}),
  });
  const eContent = new Uint8Array(tst.toSchema().toBER(false));
  const leaf = tsa.leaf;
  const chain = [leaf, ...(tsa.intermediate ? [tsa.intermediate] : [])];
  const included = options.certificates === 'leafOnly' ? [leaf] : options.certificates === 'withRoot' ? [...chain, tsa.root] : chain;
  const signedData = new pkijs.SignedData({
    version: 3,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({
      eContentType: TST_INFO_CONTENT_TYPE,
      eContent: new asn1js.OctetString({ valueHex: eContent }),
    }),
    signerInfos: [
      new pkijs.SignerInfo({
        version: 1,
        sid: new pkijs.IssuerAndSerialNumber({ issuer: leaf.pkijs.issuer, serialNumber: leaf.pkijs.serialNumber }),
      }),
    ],
    certificates: included.map((p) => p.pkijs),
  });

  const digest = createHash('sha256').update(eContent).digest();
  if (options.wrongMessageDigest) digest[0] = digest[0]! ^ 0xff;
  const attributes = [
    new pkijs.Attribute({
      type: '1.2.840.113549.1.9.3',
      values: [new asn1js.ObjectIdentifier({ value: options.contentTypeAttribute ?? TST_INFO_CONTENT_TYPE })],
    }),
    new pkijs.Attribute({ type: '1.2.840.113549.1.9.4', values: [new asn1js.OctetString({ valueHex: digest })] }),
  ];
  const scv2 = options.signingCertificateV2 ?? 'ok';
  if (scv2 !== 'missing') {
    const hash = scv2 === 'sha384' ? 'sha384' : 'sha256';
    const certHash = createHash(hash).update(leaf.certificate.der).digest();
    if (scv2 === 'wrongHash') certHash[0] = certHash[0]! ^ 0xff;
    const essCertId = new asn1js.Sequence({
      value: [
        ...(hash === 'sha384' ? [new pkijs.AlgorithmIdentifier({ algorithmId: HASH_OID.sha384 }).toSchema()] : []),
        new asn1js.OctetString({ valueHex: certHash }),
        ...(scv2 === 'issuerSerial'
          ? [
              new asn1js.Sequence({
                value: [
                  new asn1js.Sequence({
                    value: [new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 4 }, value: [leaf.pkijs.issuer.toSchema()] })],
                  }),
                  new asn1js.Integer({ valueHex: leaf.pkijs.serialNumber.valueBlock.valueHexView }),
                ],
              }),
            ]
          : []),
      ],
    });
    attributes.push(
      new pkijs.Attribute({
        type: '1.2.840.113549.1.9.16.2.47',
        values: [new asn1js.Sequence({ value: [new asn1js.Sequence({ value: [essCertId] })] })],
      }),
    );
  }
  signedData.signerInfos[0]!.signedAttrs = new pkijs.SignedAndUnsignedAttributes({ type: 0, attributes });
  await signedData.sign(leaf.keys.privateKey, 0, 'SHA-256');
  if (options.corruptSignature) {
    const view = signedData.signerInfos[0]!.signature.valueBlock.valueHexView;
    view[view.length - 3] = view[view.length - 3]! ^ 0x01;
  }
  const contentInfo = new pkijs.ContentInfo({ contentType: '1.2.840.113549.1.7.2', content: signedData.toSchema(true) });
  const der = new Uint8Array(contentInfo.toSchema().toBER(false));
  return options.indefiniteOuter ? indefiniteOuter(der) : der;
}

/** The same token with its outermost SEQUENCE in BER indefinite-length form. */
function indefiniteOuter(der: Uint8Array): Uint8Array {
  const first = der[1]!;
  const headerLength = first < 0x80 ? 2 : 2 + (first & 0x7f);
  return new Uint8Array([0x30, 0x80, ...der.subarray(headerLength), 0x00, 0x00]);
}

const SIGNATURE = new Uint8Array(Buffer.from('the raw primitive signature bytes of an envelope'));

async function verifyWith(tsa: Tsa, options: TokenOptions = {}, roots: Certificate[] = [tsa.root.certificate]): Promise<VerifiedTimestamp> {
  const token = await makeToken(tsa, SIGNATURE, options);
  return verifyTimestampToken(token, SIGNATURE, roots);
}

test('timestamp (tiny TSA): a valid token verifies; chain leaf → intermediate → root', async (t) => {
  const tsa = await makeTsa();
  const genTime = new Date(Math.floor(Date.now() / 1000) * 1000 - DAY + 123);
  const ts = await verifyWith(tsa, { genTime, accuracy: { seconds: 2 } });
  t.is(ts.genTime.toISOString(), genTime.toISOString());
  t.is(ts.accuracyMs, 2000);
  t.is(ts.earliest.getTime(), genTime.getTime() - 2000);
  t.is(ts.latest.getTime(), genTime.getTime() + 2000);
  t.is(ts.policy, '1.3.6.1.4.1.99999.1');
  t.deepEqual(
    ts.tsaChain.map((c) => c.subject),
    [tsa.leaf, tsa.intermediate!, tsa.root].map((p) => p.certificate.subject),
  );
});

const ACCURACY_CASES: Array<[string, TokenOptions['accuracy'], string | undefined, number]> = [
  ['millis', { millis: 250 }, undefined, 250],
  ['micros', { micros: 500 }, undefined, 0.5],
  ['seconds, millis and micros', { seconds: 1, millis: 5, micros: 7 }, undefined, 1005.007],
  ['absent under the RFC 3628 baseline policy → 1 s', undefined, BASELINE_TIMESTAMP_POLICY, 1000],
  ['absent under another policy → 0', undefined, '1.2.3.4.5', 0],
  ['zero under the baseline policy → 1 s', {}, BASELINE_TIMESTAMP_POLICY, 1000],
  ['explicit under the baseline policy wins', { millis: 10 }, BASELINE_TIMESTAMP_POLICY, 10],
];

for (const [name, accuracy, policy, expected] of ACCURACY_CASES) {
  test(`timestamp (tiny TSA): accuracy ${name}`, async (t) => {
    const tsa = await makeTsa({ intermediate: false });
    const genTime = new Date(Math.floor(Date.now() / 1000) * 1000 - DAY + 500);
    const ts = await verifyWith(tsa, { genTime, ...(accuracy ? { accuracy } : {}), ...(policy ? { policy } : {}) });
    t.is(ts.accuracyMs, expected);
    t.is(ts.earliest.getTime(), Math.floor(genTime.getTime() - expected));
    t.is(ts.latest.getTime(), Math.ceil(genTime.getTime() + expected));
    t.true(ts.earliest <= ts.genTime && ts.genTime <= ts.latest);
  });
}

test('timestamp (tiny TSA): sha384 and sha512 imprints verify, sha1 is refused', async (t) => {
  const tsa = await makeTsa({ intermediate: false });
  t.truthy(await verifyWith(tsa, { imprintHash: 'sha384' }));
  t.truthy(await verifyWith(tsa, { imprintHash: 'sha512' }));
  const token = await makeToken(tsa, SIGNATURE, { imprintHash: 'sha1' });
  assertCode(t, () => verifyTimestampToken(token, SIGNATURE, [tsa.root.certificate]), 'INVALID_SIGNATURE', 'UNSUPPORTED');
});

test('timestamp (tiny TSA): BER (indefinite-length ContentInfo, constructed eContent) is tolerated', async (t) => {
  const tsa = await makeTsa();
  const ts = await verifyWith(tsa, { indefiniteOuter: true });
  t.is(ts.tsaChain.length, 3);
});

test('timestamp (tiny TSA): the root may come from the token or only from the trust store', async (t) => {
  const tsa = await makeTsa();
  t.is((await verifyWith(tsa, { certificates: 'withRoot' })).tsaChain.length, 3);
  t.is((await verifyWith(tsa, { certificates: 'chain' })).tsaChain.length, 3);
  // without the intermediate the chain cannot be built
  const token = await makeToken(tsa, SIGNATURE, { certificates: 'leafOnly' });
  assertCode(t, () => verifyTimestampToken(token, SIGNATURE, [tsa.root.certificate]), 'UNTRUSTED_SIGNER');
});

test('timestamp (tiny TSA): signing-certificate-v2 is required', async (t) => {
  const tsa = await makeTsa();
  const token = await makeToken(tsa, SIGNATURE, { signingCertificateV2: 'missing' });
  assertCode(t, () => verifyTimestampToken(token, SIGNATURE, [tsa.root.certificate]), 'INVALID_SIGNATURE', 'BAD_CONTENT');
});

test('timestamp (tiny TSA): signing-certificate-v2 must hash the signer certificate', async (t) => {
  const tsa = await makeTsa();
  const token = await makeToken(tsa, SIGNATURE, { signingCertificateV2: 'wrongHash' });
  assertCode(t, () => verifyTimestampToken(token, SIGNATURE, [tsa.root.certificate]), 'INVALID_SIGNATURE', 'DIGEST_MISMATCH');
});

test('timestamp (tiny TSA): signing-certificate-v2 with issuerSerial, or with a sha384 hash, verifies', async (t) => {
  const tsa = await makeTsa();
  t.truthy(await verifyWith(tsa, { signingCertificateV2: 'issuerSerial' }));
  t.truthy(await verifyWith(tsa, { signingCertificateV2: 'sha384' }));
});

test('timestamp (tiny TSA): a corrupted CMS signature is INVALID_SIGNATURE', async (t) => {
  const tsa = await makeTsa();
  const token = await makeToken(tsa, SIGNATURE, { corruptSignature: true });
  assertCode(t, () => verifyTimestampToken(token, SIGNATURE, [tsa.root.certificate]), 'INVALID_SIGNATURE');
});

test('timestamp (tiny TSA): message-digest and content-type attributes must match the content', async (t) => {
  const tsa = await makeTsa();
  let token = await makeToken(tsa, SIGNATURE, { wrongMessageDigest: true });
  assertCode(t, () => verifyTimestampToken(token, SIGNATURE, [tsa.root.certificate]), 'INVALID_SIGNATURE', 'DIGEST_MISMATCH');
  token = await makeToken(tsa, SIGNATURE, { contentTypeAttribute: '1.2.840.113549.1.7.1' });
  assertCode(t, () => verifyTimestampToken(token, SIGNATURE, [tsa.root.certificate]), 'INVALID_SIGNATURE', 'BAD_CONTENT');
});

test('timestamp (tiny TSA): the imprint must cover the signature', async (t) => {
  const tsa = await makeTsa();
  const token = await makeToken(tsa, SIGNATURE);
  assertCode(
    t,
    () => verifyTimestampToken(token, new Uint8Array([...SIGNATURE, 0]), [tsa.root.certificate]),
    'INVALID_SIGNATURE',
    'DIGEST_MISMATCH',
  );
});

const EKU_CASES: Array<[string, TsaOptions]> = [
  ['codeSigning instead of timeStamping', { eku: ['1.3.6.1.5.5.7.3.3'] }],
  ['timeStamping not critical', { ekuCritical: false }],
  ['timeStamping plus codeSigning', { eku: [TIMESTAMPING, '1.3.6.1.5.5.7.3.3'] }],
  ['no EKU at all', { eku: null }],
];

for (const [name, options] of EKU_CASES) {
  test(`timestamp (tiny TSA): TSA certificate with ${name} is UNTRUSTED_SIGNER`, async (t) => {
    const tsa = await makeTsa(options);
    const token = await makeToken(tsa, SIGNATURE);
    assertCode(t, () => verifyTimestampToken(token, SIGNATURE, [tsa.root.certificate]), 'UNTRUSTED_SIGNER', 'DENIED');
  });
}

test('timestamp (tiny TSA): a TSA certificate expired (or not yet valid) at genTime is UNTRUSTED_SIGNER', async (t) => {
  const now = Date.now();
  const tsa = await makeTsa({ notBefore: new Date(now - 10 * DAY), notAfter: new Date(now - 5 * DAY) });
  const after = await makeToken(tsa, SIGNATURE, { genTime: new Date(now - 1 * DAY) });
  assertCode(t, () => verifyTimestampToken(after, SIGNATURE, [tsa.root.certificate]), 'UNTRUSTED_SIGNER', 'DENIED');
  const before = await makeToken(tsa, SIGNATURE, { genTime: new Date(now - 20 * DAY) });
  assertCode(t, () => verifyTimestampToken(before, SIGNATURE, [tsa.root.certificate]), 'UNTRUSTED_SIGNER', 'DENIED');
  // the clock is genTime, not now: inside the window the (now expired) certificate is fine
  t.truthy(verifyTimestampToken(await makeToken(tsa, SIGNATURE, { genTime: new Date(now - 7 * DAY) }), SIGNATURE, [tsa.root.certificate]));
});

test('timestamp (tiny TSA): an intermediate that is not a CA is UNTRUSTED_SIGNER', async (t) => {
  const tsa = await makeTsa({ intermediateNotCa: true });
  const token = await makeToken(tsa, SIGNATURE);
  assertCode(t, () => verifyTimestampToken(token, SIGNATURE, [tsa.root.certificate]), 'UNTRUSTED_SIGNER');
});

test('timestamp (tiny TSA): another root, even with the same name, is UNTRUSTED_SIGNER', async (t) => {
  const tsa = await makeTsa();
  const other = await makeTsa();
  const token = await makeToken(tsa, SIGNATURE);
  t.is(other.root.certificate.subject, tsa.root.certificate.subject);
  assertCode(t, () => verifyTimestampToken(token, SIGNATURE, [other.root.certificate]), 'UNTRUSTED_SIGNER', 'DENIED');
  assertCode(t, () => verifyTimestampToken(token, SIGNATURE, []), 'UNTRUSTED_SIGNER', 'DENIED');
});

test('timestamp (tiny TSA): an intermediate as the trust anchor breaks the "last certificate is a root" rule', async (t) => {
  const tsa = await makeTsa();
  const token = await makeToken(tsa, SIGNATURE);
  assertCode(t, () => verifyTimestampToken(token, SIGNATURE, [tsa.intermediate!.certificate]), 'UNTRUSTED_SIGNER', 'DENIED');
});

test('timestamp (tiny TSA): the chain rule check can be replaced (validateChain option)', async (t) => {
  const tsa = await makeTsa({ ekuCritical: false });
  const token = await makeToken(tsa, SIGNATURE);
  let seen: Certificate[] = [];
  const ts = verifyTimestampToken(token, SIGNATURE, [tsa.root.certificate], { validateChain: (chain) => void (seen = chain) });
  t.is(seen.length, 3);
  t.is(ts.tsaChain, seen);
  const refusing = (): void => {
    throw new Error('no');
  };
  assertCode(t, () => verifyTimestampToken(token, SIGNATURE, [tsa.root.certificate], { validateChain: refusing }), 'UNTRUSTED_SIGNER');
});

test('timestamp (tiny TSA): RSA PKCS #1 and RSASSA-PSS TSAs verify', async (t) => {
  for (const key of ['rsa', 'rsa-pss'] as const) {
    const tsa = await makeTsa({ intermediate: false, key });
    t.is((await verifyWith(tsa)).tsaChain.length, 2, key);
  }
});
