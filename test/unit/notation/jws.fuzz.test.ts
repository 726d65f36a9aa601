// Property tests of Notary JWS envelopes and payloads (src/notation/envelope-jws.ts, parse-envelope.ts;
// docs/reliability.md "Fuzzing"): any bytes give an envelope or INVALID_SIGNATURE; real envelopes (the
// notation vectors and ones signed here with src/notation's signer) mutated at every level — top-level
// members, the protected header inside its base64url, the unprotected header, the payload — too; the
// signed bytes of an accepted envelope are exactly what was received.

import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Digest } from '../../../src/core/index.js';
import { MAX_ENVELOPE_BYTES, parseEnvelope, parsePayload } from '../../../src/notation/parse-envelope.js';
import { signEnvelope } from '../../../src/notation/sign.js';
import { MEDIA_TYPE } from '../../../src/oci/media-types.js';
import { NOTATION_VECTORS } from '../../helpers/fixtures.js';
import {
  assertRoughlyLinear,
  checkProperty,
  deeplyNested,
  fastestMs,
  fc,
  hostileJsonValue,
  hostileText,
  typedOutcome,
  withProtoMember,
} from '../../helpers/fuzz.js';
import { generateLeaf } from '../../helpers/pki.js';

const JWS = MEDIA_TYPE.jws;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TARGET = { mediaType: MEDIA_TYPE.ociManifest, digest: `sha256:${'b'.repeat(64)}` as Digest, size: 517 };

const VECTOR_PATHS = [
  'notation-go/envelopes/jws_signature.sig',
  'notation-cli-e2e/oci_layout/e2e-valid-signature/blobs/sha256/c9af07e038b2b1a463e648986ad7273157511ffeba0b689f33e5472bae471f50',
  'notation-cli-e2e/oci_layout/e2e-with-timestamped-signature/blobs/sha256/603ff134e97a79cd7a15560b76137c2c4a10451daab11327a7c6f86dac250fee',
];
const envelopes: string[] = VECTOR_PATHS.map((p) => readFileSync(join(NOTATION_VECTORS, p), 'utf8'));

test.before(async () => {
  const leaf = await generateLeaf({ key: 'ec-p256', subject: 'CN=fuzz,O=Notary,ST=WA,C=US' });
  for (const signingScheme of ['notary.x509', 'notary.x509.signingAuthority'] as const) {
    const signed = signEnvelope({
      format: 'jws',
      privateKey: leaf.privateKey,
      certificateChain: [leaf.certificate],
      payload: { targetArtifact: { ...TARGET, annotations: { a: '1' } } },
      signingTime: new Date('2024-01-01T00:00:00Z'),
      expiry: new Date('2034-01-01T00:00:00Z'),
      signingScheme,
      timestampToken: new Uint8Array([1, 2, 3]),
    });
    envelopes.push(decoder.decode(signed.bytes));
  }
});

const parseJws = (bytes: Uint8Array) => typedOutcome(() => parseEnvelope(JWS, bytes), ['INVALID_SIGNATURE']);
const b64url = (value: string) => Buffer.from(value, 'utf8').toString('base64url');
const unb64url = (value: string) => Buffer.from(value, 'base64url').toString('utf8');

type Mutation = (envelope: Record<string, unknown>, args: { value: unknown; text: string; n: number }) => Record<string, unknown>;

/** Edits of one part of a JWS: what a hostile registry or signer could hand over. */
const MUTATIONS: Record<string, Mutation> = {
  dropTopLevel: (e, { n }) => {
    const keys = Object.keys(e);
    const copy = { ...e };
    delete copy[keys[n % keys.length]!];
    return copy;
  },
  retypeTopLevel: (e, { value, n }) => ({ ...e, [Object.keys(e)[n % Object.keys(e).length]!]: value }),
  extraTopLevel: (e, { value, text }) => ({ ...e, [text]: value }),
  protectedMember: (e, { value, text }) => {
    const header = JSON.parse(unb64url(e['protected'] as string)) as Record<string, unknown>;
    const keys = [...Object.keys(header), text];
    return { ...e, protected: b64url(JSON.stringify({ ...header, [keys[text.length % keys.length]!]: value })) };
  },
  protectedDrop: (e, { n }) => {
    const header = JSON.parse(unb64url(e['protected'] as string)) as Record<string, unknown>;
    const keys = Object.keys(header);
    delete header[keys[n % keys.length]!];
    return { ...e, protected: b64url(JSON.stringify(header)) };
  },
  protectedText: (e, { text, n }) => {
    const json = unb64url(e['protected'] as string);
    const i = n % (json.length + 1);
    return { ...e, protected: b64url(json.slice(0, i) + text + json.slice(i)) };
  },
  protectedProto: (e, { value }) => ({
    ...e,
    protected: b64url(withProtoMember(unb64url(e['protected'] as string), JSON.stringify(value) ?? 'null')),
  }),
  protectedDuplicate: (e, { value }) => {
    // a repeated member: JSON.parse keeps the last one
    const json = unb64url(e['protected'] as string);
    return { ...e, protected: b64url(json.replace(/^\{/, `{"alg":${JSON.stringify(value) ?? 0},`)) };
  },
  protectedNested: (e, { n }) => ({
    ...e,
    protected: b64url(unb64url(e['protected'] as string).replace(/^\{/, `{"x":${deeplyNested(n % 20_000)},`)),
  }),
  headerMember: (e, { value, text }) => ({
    ...e,
    header: {
      ...(e['header'] as object),
      [['x5c', 'X5C', 'io.cncf.notary.timestampSignature', 'io.cncf.notary.SigningAgent', text][text.length % 5]!]: value,
    },
  }),
  x5cItems: (e, { value, n }) => ({ ...e, header: { ...(e['header'] as object), x5c: Array.from({ length: n % 40 }, () => value) } }),
  payloadText: (e, { text }) => ({ ...e, payload: b64url(text) }),
  payloadMember: (e, { value, text }) => {
    const payload = JSON.parse(unb64url(e['payload'] as string)) as { targetArtifact: Record<string, unknown> };
    return {
      ...e,
      payload: b64url(
        JSON.stringify({
          ...payload,
          targetArtifact: {
            ...payload.targetArtifact,
            [['mediaType', 'digest', 'size', 'annotations', 'artifactType', text][text.length % 6]!]: value,
          },
        }),
      ),
    };
  },
  base64Padding: (e, { n }) => ({
    ...e,
    [['protected', 'payload', 'signature'][n % 3]!]:
      `${String(e[['protected', 'payload', 'signature'][n % 3]!])}${['=', '==', '+', '/', '.', ' '][n % 6]}`,
  }),
};

const mutatedEnvelope = fc
  .tuple(fc.nat(), fc.constantFrom(...Object.keys(MUTATIONS)), hostileJsonValue, hostileText, fc.nat())
  .map(([pick, name, value, text, n]) => {
    const envelope = JSON.parse(envelopes[pick % envelopes.length]!) as Record<string, unknown>;
    return { name, bytes: encoder.encode(JSON.stringify(MUTATIONS[name]!(envelope, { value, text, n }))) };
  });

test('parseEnvelope (JWS): any bytes give an envelope or INVALID_SIGNATURE', (t) => {
  const input = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    hostileText.map((s) => encoder.encode(s)),
    hostileJsonValue.map((v) => encoder.encode(JSON.stringify(v) ?? 'x')),
  );
  checkProperty(t, [input], (bytes) => {
    parseJws(bytes);
  });
});

test('parseEnvelope (JWS): real envelopes mutated give an envelope or INVALID_SIGNATURE; signed bytes are as received', (t) => {
  checkProperty(t, [mutatedEnvelope], ({ bytes }) => {
    const outcome = parseJws(bytes);
    if (!('value' in outcome)) return;
    const envelope = JSON.parse(decoder.decode(bytes)) as { protected: string; payload: string };
    const signed = decoder.decode(outcome.value.signedBytes);
    if (signed !== `${envelope.protected}.${envelope.payload}`) throw new Error('signed bytes differ from the envelope as received');
    if (outcome.value.certificateChain.length === 0) throw new Error('accepted an envelope without a chain');
    typedOutcome(() => parsePayload(outcome.value.payload), ['INVALID_SIGNATURE']);
  });
});

test('parsePayload: any bytes give a payload or INVALID_SIGNATURE', (t) => {
  const target = fc.dictionary(
    fc.constantFrom('mediaType', 'digest', 'size', 'annotations', 'artifactType', '__proto__'),
    hostileJsonValue,
  );
  const input = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    target.map((tgt) => encoder.encode(JSON.stringify({ targetArtifact: { ...TARGET, ...tgt } }))),
    hostileJsonValue.map((v) => encoder.encode(withProtoMember(JSON.stringify({ targetArtifact: TARGET }), JSON.stringify(v) ?? '1'))),
  );
  checkProperty(t, [input], (bytes) => {
    typedOutcome(() => parsePayload(bytes), ['INVALID_SIGNATURE']);
  });
});

test('parseEnvelope (JWS): size is refused before parsing, and time grows linearly below the limit', (t) => {
  const huge = new Uint8Array(MAX_ENVELOPE_BYTES + 1);
  const outcome = parseJws(huge);
  t.true('error' in outcome && outcome.error.reason === 'SIZE_LIMIT');
  t.true(fastestMs(() => parseJws(huge), 3) < 50);
  const base = JSON.parse(envelopes[0]!) as Record<string, unknown>;
  assertRoughlyLinear(
    t,
    'long unprotected member',
    (n) =>
      encoder.encode(JSON.stringify({ ...base, header: { ...(base['header'] as object), 'io.cncf.notary.signingAgent': 'a'.repeat(n) } })),
    (bytes: Uint8Array) => parseJws(bytes),
    { small: 50_000, factor: 8 },
  );
  assertRoughlyLinear(
    t,
    'many unprotected members',
    (n) =>
      encoder.encode(
        JSON.stringify({
          ...base,
          header: { ...(base['header'] as object), ...Object.fromEntries(Array.from({ length: n / 10 }, (_, i) => [`k${i}`, 1])) },
        }),
      ),
    (bytes: Uint8Array) => parseJws(bytes),
    { small: 20_000, factor: 8 },
  );
});
