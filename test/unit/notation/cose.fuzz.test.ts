// Property tests of Notary COSE envelopes (src/notation/envelope-cose.ts; RFC 9052 COSE_Sign1, RFC 8949
// CBOR; docs/reliability.md "Fuzzing"): any bytes give an envelope or INVALID_SIGNATURE; real envelopes
// (vectors and ones signed here) mutated structurally (header labels dropped, retyped, duplicated,
// odd tags, shared references, indefinite lengths, deep nesting) and byte-wise too; a failed decode
// leaves the decoder working for the next envelope.

import test from 'ava';
import { Decoder, Encoder, Tag } from 'cbor-x';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Digest } from '../../../src/core/index.js';
import { parseEnvelope } from '../../../src/notation/parse-envelope.js';
import { signEnvelope } from '../../../src/notation/sign.js';
import { MEDIA_TYPE } from '../../../src/oci/media-types.js';
import { NOTATION_VECTORS } from '../../helpers/fixtures.js';
import { assertRoughlyLinear, checkProperty, fc, hostileText, typedOutcome } from '../../helpers/fuzz.js';
import { generateLeaf } from '../../helpers/pki.js';

const COSE = MEDIA_TYPE.cose;
const TARGET = { mediaType: MEDIA_TYPE.ociManifest, digest: `sha256:${'c'.repeat(64)}` as Digest, size: 517 };
const envelopes: Uint8Array[] = ['notation-go/envelopes/cose_signature.sig', 'notation-cli-e2e/blob/blob.cose.sig'].map(
  (p) => new Uint8Array(readFileSync(join(NOTATION_VECTORS, p))),
);

test.before(async () => {
  const leaf = await generateLeaf({ key: 'ec-p256', subject: 'CN=fuzz,O=Notary,ST=WA,C=US' });
  for (const signingScheme of ['notary.x509', 'notary.x509.signingAuthority'] as const) {
    envelopes.push(
      signEnvelope({
        format: 'cose',
        privateKey: leaf.privateKey,
        certificateChain: [leaf.certificate],
        payload: { targetArtifact: TARGET },
        signingTime: new Date('2024-01-01T00:00:00Z'),
        expiry: new Date('2034-01-01T00:00:00Z'),
        signingScheme,
        timestampToken: new Uint8Array([1, 2, 3]),
      }).bytes,
    );
  }
});

const parseCose = (bytes: Uint8Array) => typedOutcome(() => parseEnvelope(COSE, bytes), ['INVALID_SIGNATURE']);

// ---- a tiny CBOR writer for what cbor-x's encoder will not write (RFC 8949 §3) ----

function head(major: number, length: number | bigint): number[] {
  const n = BigInt(length);
  const m = major << 5;
  if (n < 24n) return [m | Number(n)];
  if (n < 0x100n) return [m | 24, Number(n)];
  if (n < 0x10000n) return [m | 25, Number(n >> 8n), Number(n & 0xffn)];
  if (n < 0x100000000n) return [m | 26, ...[24n, 16n, 8n, 0n].map((s) => Number((n >> s) & 0xffn))];
  return [m | 27, ...[56n, 48n, 40n, 32n, 24n, 16n, 8n, 0n].map((s) => Number((n >> s) & 0xffn))];
}

/** Odd CBOR items: big declared lengths, indefinite containers, unusual tags, simple values, shared refs. */
const oddCbor: fc.Arbitrary<readonly number[]> = fc.oneof(
  fc.tuple(fc.constantFrom(2, 3, 4, 5), fc.constantFrom(2 ** 32 - 1, 2 ** 31, 2n ** 64n - 1n, 1000)).map(([major, n]) => head(major, n)),
  fc.array(fc.constantFrom(0x00, 0x40, 0x60), { maxLength: 5 }).map((items) => [0x9f, ...items, 0xff]), // indefinite array
  fc
    .array(fc.constantFrom(0x41, 0x42), { maxLength: 5 })
    .map((chunks) => [0x5f, ...chunks.flatMap((c) => [c, 0x61, 0x61].slice(0, c - 0x3f)), 0xff]), // indefinite bstr
  fc
    .constantFrom(0, 1, 2, 3, 21, 24, 25, 28, 29, 32, 64, 72, 105, 258, 259, 55799, 2 ** 32 - 1)
    .chain((tag) => fc.constantFrom(0x00, 0x40, 0x80, 0xa0, 0xf6).map((inner) => [...head(6, tag), inner])),
  fc.constantFrom(
    [0xf4],
    [0xf5],
    [0xf6],
    [0xf7],
    [0xf8, 0x20],
    [0xf9, 0x7c, 0x00],
    [0xfa, 0x7f, 0xc0, 0, 0],
    [0xfb, 0, 0, 0, 0, 0, 0, 0, 1],
    [0xff],
    [0x1c],
    [0xd8, 0x1d, 0x00],
    [0xd8, 0x1c, 0x81, 0xd8, 0x1d, 0x00],
  ),
  fc.nat(3000).map((depth) => [...Array<number>(depth).fill(0x81), 0x00]), // deep nesting
);

const rawDecoder = new Decoder({ mapsAsObjects: false, useRecords: false, copyBuffers: true });
const encoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false });
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, undefined, true, 0, -1, 1e308, NaN, 2 ** 53 + 2, -37, -7, 1.5, ''),
  fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }),
  hostileText,
  fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b)),
  fc.constantFrom(
    new Tag(1, 0),
    new Tag('2024-01-01T00:00:00Z', 0),
    new Tag(1e300, 1),
    new Tag(-1e20, 1),
    new Tag('x', 1),
    new Tag(null, 1),
    new Tag(1, 99),
  ),
  fc.array(fc.oneof(fc.integer(), hostileText), { maxLength: 4 }),
  fc.constant(new Map<unknown, unknown>([[1, 2]])),
);

/** Decodes an envelope with tags kept raw (no Date conversion), edits a part, re-encodes it. */
function editEnvelope(
  bytes: Uint8Array,
  edit: (parts: unknown[], header: Map<unknown, unknown>, unprotected: Map<unknown, unknown>) => void,
): Uint8Array {
  const message = rawDecoder.decode(Buffer.from(bytes)) as Tag;
  const parts = [...(message.value as unknown[])];
  const header = rawDecoder.decode(parts[0] as Buffer) as Map<unknown, unknown>;
  const unprotected = new Map(parts[1] as Map<unknown, unknown>);
  edit(parts, header, unprotected);
  parts[0] = encoder.encode(header);
  parts[1] = unprotected;
  return new Uint8Array(encoder.encode(new Tag(parts, 18)));
}

const LABELS = [
  1,
  2,
  3,
  33,
  'io.cncf.notary.signingScheme',
  'io.cncf.notary.signingTime',
  'io.cncf.notary.authenticSigningTime',
  'io.cncf.notary.expiry',
  'io.cncf.notary.verificationPlugin',
  'io.cncf.notary.timestampSignature',
  'io.cncf.notary.signingAgent',
  '__proto__',
  '1',
  -1,
  4,
  9,
];

const structuralMutation = fc
  .tuple(fc.nat(), fc.nat(6), fc.constantFrom(...LABELS), hostileValue, fc.boolean())
  .map(([pick, kind, label, value, inProtected]) => {
    const original = envelopes[pick % envelopes.length]!;
    return editEnvelope(original, (parts, header, unprotected) => {
      const target = inProtected ? header : unprotected;
      switch (kind) {
        case 0:
          target.delete(label);
          break;
        case 1:
          target.set(label, value);
          break;
        case 2:
          parts[2 + (pick % 2)] = value; // payload or signature retyped
          break;
        case 3:
          header.set(2, [...((header.get(2) as unknown[]) ?? []), label]); // crit lists more
          break;
        case 4:
          unprotected.set(
            33,
            Array.from({ length: pick % 40 }, () => value),
          );
          break;
        case 5:
          parts.push(value); // five parts
          break;
        default:
          header.set(label, header.get(label) ?? value);
          unprotected.set(label, value); // the same label in both buckets
      }
    });
  });

/** Byte-level: an odd CBOR item spliced in, bytes cut, a byte flipped. */
const byteMutation = fc.tuple(fc.nat(), fc.nat(), oddCbor, fc.nat(2), fc.nat(255)).map(([pick, at, odd, kind, byte]) => {
  const original = envelopes[pick % envelopes.length]!;
  const i = at % (original.length + 1);
  if (kind === 0) return new Uint8Array([...original.subarray(0, i), ...odd, ...original.subarray(i)]);
  if (kind === 1)
    return new Uint8Array([...original.subarray(0, i), ...odd, ...original.subarray(Math.min(original.length, i + odd.length))]);
  const copy = new Uint8Array(original);
  if (i < copy.length) copy[i] = byte;
  return copy;
});

test('parseEnvelope (COSE): any bytes give an envelope or INVALID_SIGNATURE', (t) => {
  checkProperty(
    t,
    [
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        oddCbor.map((b) => new Uint8Array(b)),
        fc.array(oddCbor, { maxLength: 4 }).map((items) => new Uint8Array([0xd2, 0x84, ...items.flat()])),
      ),
    ],
    (bytes) => {
      parseCose(bytes);
    },
  );
});

test('parseEnvelope (COSE): real envelopes mutated structurally give an envelope or INVALID_SIGNATURE', (t) => {
  checkProperty(t, [structuralMutation], (bytes) => {
    const outcome = parseCose(bytes);
    if ('value' in outcome && outcome.value.certificateChain.length === 0) throw new Error('accepted an envelope without a chain');
  });
});

test('parseEnvelope (COSE): real envelopes mutated byte-wise give an envelope or INVALID_SIGNATURE', (t) => {
  checkProperty(t, [byteMutation], (bytes) => {
    parseCose(bytes);
  });
});

test('parseEnvelope (COSE): after a failed decode the next envelope still parses', (t) => {
  checkProperty(
    t,
    [
      fc.oneof(
        oddCbor.map((b) => new Uint8Array(b)),
        byteMutation,
      ),
    ],
    (bytes) => {
      parseCose(bytes);
      const outcome = parseCose(envelopes[0]!);
      if (!('value' in outcome)) throw new Error(`a good envelope failed after bad input: ${outcome.error.message}`);
    },
    0.5,
  );
});

test('parseEnvelope (COSE): nesting and declared lengths do not blow up time or memory', (t) => {
  for (const bytes of [
    new Uint8Array([0xd2, ...Array<number>(100_000).fill(0x81), 0x00]),
    new Uint8Array([0xd2, 0x84, ...head(2, 2 ** 32 - 1)]),
    new Uint8Array([0xd2, 0x9a, 0xff, 0xff, 0xff, 0xff]),
    new Uint8Array([0xd2, 0xba, 0xff, 0xff, 0xff, 0xff]),
  ]) {
    const before = process.memoryUsage().heapUsed;
    const outcome = parseCose(bytes);
    t.true('error' in outcome);
    t.true(process.memoryUsage().heapUsed - before < 256 * 1024 * 1024);
  }
  assertRoughlyLinear(
    t,
    'unprotected header entries',
    (n) =>
      editEnvelope(envelopes[0]!, (_, __, unprotected) => {
        for (let i = 0; i < n / 10; i++) unprotected.set(`k${i}`, i);
      }),
    (bytes: Uint8Array) => parseCose(bytes),
    { small: 50_000, factor: 8 },
  );
});
