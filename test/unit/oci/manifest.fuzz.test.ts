// Property tests of manifest and index parsing (src/oci/manifest.ts; docs/reliability.md "Fuzzing"): any
// bytes give a manifest or INVALID_INPUT; real manifests mutated (fields dropped, retyped, repeated,
// `__proto__` members, huge numbers, deep nesting) too; what is accepted is valid and loses nothing.

import test from 'ava';
import { isDigest } from '../../../src/core/index.js';
import { parseManifest, type Descriptor, type Manifest } from '../../../src/oci/manifest.js';
import { MEDIA_TYPE } from '../../../src/oci/media-types.js';
import {
  assertRoughlyLinear,
  checkProperty,
  deeplyNested,
  fc,
  hostileJsonValue,
  hostileText,
  typedOutcome,
  withProtoMember,
} from '../../helpers/fuzz.js';
import {
  buildCosignBundleReferrer,
  buildImage,
  buildIndex,
  buildNotationSignature,
  buildSbomReferrer,
} from '../../helpers/oci-fixtures.js';

const decoder = new TextDecoder();
const encoder = new TextEncoder();
const image = buildImage();
const REAL = [
  image,
  buildImage({ mediaType: 'docker' }),
  buildIndex([image]),
  buildNotationSignature(image.descriptor),
  buildNotationSignature(image.descriptor, { form: 'artifactType', envelope: 'cose' }),
  buildCosignBundleReferrer(image.descriptor),
  buildSbomReferrer(image.descriptor),
].map((m) => ({ text: decoder.decode(m.bytes), mediaType: m.descriptor.mediaType }));
const CONTENT_TYPES = [
  undefined,
  '',
  MEDIA_TYPE.ociManifest,
  MEDIA_TYPE.ociIndex,
  MEDIA_TYPE.dockerManifest,
  'text/plain',
  `${MEDIA_TYPE.ociIndex}; charset=utf-8`,
];

const parse = (bytes: Uint8Array, contentType?: string) =>
  typedOutcome(() => parseManifest(bytes, 'manifest', contentType), ['INVALID_INPUT']);

function descriptorsOf(manifest: Manifest): Descriptor[] {
  const list =
    manifest.kind === 'manifest' ? [manifest.config, ...manifest.layers] : manifest.kind === 'index' ? manifest.manifests : manifest.blobs;
  return manifest.subject === undefined ? list : [...list, manifest.subject];
}

/** Invariants of an accepted manifest, and that no annotation of the input was lost. */
function assertWellFormed(manifest: Manifest, json: unknown): void {
  for (const d of descriptorsOf(manifest)) {
    if (!isDigest(d.digest) || !Number.isSafeInteger(d.size) || d.size < 0 || typeof d.mediaType !== 'string' || d.mediaType === '') {
      throw new Error(`accepted a bad descriptor ${JSON.stringify(d)}`);
    }
  }
  const annotations = (json as { annotations?: unknown }).annotations;
  if (typeof annotations === 'object' && annotations !== null) {
    const want = Object.keys(annotations).sort();
    const got = Object.keys(manifest.annotations ?? {}).sort();
    if (JSON.stringify(want) !== JSON.stringify(got)) throw new Error(`annotations ${JSON.stringify(want)} became ${JSON.stringify(got)}`);
  }
}

type Path = Array<string | number>;
function paths(value: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((item, i) => paths(item, [...prefix, i], out));
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  return out;
}
function setAt(root: unknown, at: Path, value: unknown, drop: boolean): unknown {
  if (at.length === 0) return value;
  const [head, ...rest] = at;
  if (Array.isArray(root)) {
    const copy = [...root];
    if (drop && rest.length === 0) copy.splice(head as number, 1);
    else copy[head as number] = setAt(root[head as number], rest, value, drop);
    return copy;
  }
  const copy = { ...(root as Record<string, unknown>) };
  if (drop && rest.length === 0) delete copy[head as string];
  else copy[head as string] = setAt(copy[head as string], rest, value, drop);
  return copy;
}

const mutatedManifest = fc
  .tuple(fc.constantFrom(...REAL), fc.nat(), fc.nat(6), hostileJsonValue, hostileText, fc.constantFrom(...CONTENT_TYPES))
  .map(([real, pick, kind, replacement, key, contentType]) => {
    const json = JSON.parse(real.text) as unknown;
    const all = paths(json);
    const at = all[pick % all.length]!;
    let text: string;
    switch (kind) {
      case 0:
        text = JSON.stringify(setAt(json, at, undefined, true));
        break;
      case 1:
        text = JSON.stringify(setAt(json, at, replacement, false));
        break;
      case 2: // a repeated member: JSON.parse keeps the last
        text = real.text.replace(/^\{/, `{"schemaVersion":${JSON.stringify(replacement) ?? 1},`);
        break;
      case 3:
        text = JSON.stringify(setAt(json, [...at.slice(0, -1), 'annotations'], { [key]: 'v', a: 'b' }, false));
        text = text.replace('"annotations":{', `"annotations":${withProtoMember('{}', '"proto"').slice(0, -1)},`);
        break;
      case 4:
        text = JSON.stringify(setAt(json, at, pick % 2 === 0 ? 1e308 : -(2 ** 60), false));
        break;
      case 5:
        text = real.text.replace(/"size":\d+/, `"size":${deeplyNested(pick % 5000)}`);
        break;
      default:
        text = withProtoMember(real.text, JSON.stringify(replacement) ?? 'null');
    }
    return { text, contentType: contentType ?? real.mediaType };
  });

test('parseManifest: any bytes give a manifest or INVALID_INPUT', (t) => {
  const input = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    hostileText.map((s) => encoder.encode(s)),
    hostileJsonValue.map((v) => encoder.encode(JSON.stringify(v) ?? '')),
  );
  checkProperty(t, [input, fc.constantFrom(...CONTENT_TYPES)], (bytes, contentType) => {
    parse(bytes, contentType);
  });
});

test('parseManifest: mutated real manifests give a valid manifest or INVALID_INPUT, losing no annotation', (t) => {
  checkProperty(t, [mutatedManifest], ({ text, contentType }) => {
    const outcome = parse(encoder.encode(text), contentType);
    if ('value' in outcome) assertWellFormed(outcome.value, JSON.parse(text));
  });
});

test('parseManifest: time grows linearly with the number of descriptors', (t) => {
  const descriptor = JSON.stringify(image.descriptor);
  assertRoughlyLinear(
    t,
    'index entries',
    (n) =>
      encoder.encode(
        `{"schemaVersion":2,"mediaType":"${MEDIA_TYPE.ociIndex}","manifests":[${Array.from({ length: n / 100 }, () => descriptor).join(',')}]}`,
      ),
    (bytes: Uint8Array) => parse(bytes),
    { small: 50_000, factor: 8 },
  );
  assertRoughlyLinear(
    t,
    'annotations',
    (n) =>
      encoder.encode(
        JSON.stringify({
          ...JSON.parse(REAL[0]!.text),
          annotations: Object.fromEntries(Array.from({ length: n / 10 }, (_, i) => [`k${i}`, 'v'])),
        }),
      ),
    (bytes: Uint8Array) => parse(bytes),
    { small: 50_000, factor: 8 },
  );
});
