// Property tests of referrer discovery inputs (docs/reliability.md "Fuzzing"): `Link` pagination headers
// (src/oci/link-header.ts, RFC 8288) and referrer indexes and manifests as a registry serves them
// (src/oci/referrers.ts). Every input gives a result or a VouchError; a Link target is followed only on
// the page's origin; one bad referrer is skipped and never hides the good ones.

import test from 'ava';
import { computeDigest, VouchError, type Digest } from '../../../src/core/index.js';
import type { ContentSource, ReferrerListing } from '../../../src/oci/content-source.js';
import { nextPageUrl } from '../../../src/oci/link-header.js';
import { parseManifest, type Descriptor, type FetchedManifest } from '../../../src/oci/manifest.js';
import { MEDIA_TYPE } from '../../../src/oci/media-types.js';
import { discoverReferrers } from '../../../src/oci/referrers.js';
import {
  assertRoughlyLinear,
  checkAsyncProperty,
  checkProperty,
  fastestMs,
  fc,
  hostileJsonValue,
  hostileText,
  typedOutcome,
  typedOutcomeAsync,
} from '../../helpers/fuzz.js';
import {
  buildCosignBundleReferrer,
  buildImage,
  buildNotationSignature,
  buildSbomReferrer,
  type BuiltManifest,
} from '../../helpers/oci-fixtures.js';

const PAGE = new URL('http://127.0.0.1:5000/v2/team/app/referrers/sha256:' + 'a'.repeat(64));

// ---- Link ----

const uriText = fc.oneof(
  fc.constantFrom(
    '/v2/team/app/referrers/x?n=2',
    '?last=abc&n=1',
    'http://127.0.0.1:5000/next',
    'http://evil.example/next',
    'http://[',
    'http://[::1',
    '//evil.example/x',
    'javascript:alert(1)',
    '',
    'http://127.0.0.1:5000:5000/',
    '%zz',
    'http://a b/',
  ),
  hostileText,
);
const paramValue = fc.oneof(
  fc.constantFrom('next', '"next"', '"prev next"', 'NEXT', '"next', 'next"', '""', '"a,b;c=d"', '"\\"next\\""'),
  hostileText,
);
const linkValue = fc
  .array(
    fc.tuple(
      uriText,
      fc.array(fc.tuple(fc.constantFrom('rel', 'REL', 'type', 'title*', 'rel*', '__proto__', 'constructor', 'anchor', ''), paramValue), {
        maxLength: 4,
      }),
    ),
    { maxLength: 4 },
  )
  .map((links) => links.map(([uri, params]) => `<${uri}>${params.map(([k, v]) => `; ${k}=${v}`).join('')}`).join(', '));

test('nextPageUrl: any Link header gives a same-origin URL, none, or REGISTRY_UNAVAILABLE', (t) => {
  checkProperty(t, [fc.array(fc.oneof(linkValue, hostileText), { maxLength: 3 })], (values) => {
    const outcome = typedOutcome(() => nextPageUrl(values, PAGE, 'referrers'), ['REGISTRY_UNAVAILABLE']);
    if ('value' in outcome && outcome.value !== undefined && outcome.value.origin !== PAGE.origin) {
      throw new Error(`followed ${outcome.value.href} off ${PAGE.origin}`);
    }
  });
});

test('nextPageUrl: a rel="next" link among others is found, wherever it is', (t) => {
  const other = fc
    .tuple(fc.stringMatching(/^\/[a-z0-9/?=&]{0,20}$/), fc.constantFrom('prev', 'first', 'last', '"alternate"'))
    .map(([uri, rel]) => `<${uri}>; rel=${rel}`);
  checkProperty(
    t,
    [
      fc.array(other, { maxLength: 3 }),
      fc.array(other, { maxLength: 3 }),
      fc.stringMatching(/^[a-z0-9=&]{1,20}$/),
      fc.constantFrom('next', '"next"', '"next prev"'),
    ],
    (before, after, query, rel) => {
      const header = [...before, `</v2/team/app/referrers/x?${query}>; rel=${rel}; type="application/json"`, ...after].join(', ');
      const url = nextPageUrl([header], PAGE, 'referrers');
      if (url?.search !== `?${query}`) throw new Error(`${header} gave ${url?.href}`);
    },
  );
});

test('nextPageUrl: time grows linearly with the header', (t) => {
  assertRoughlyLinear(
    t,
    'many links',
    (n) => [Array.from({ length: n / 20 }, (_, i) => `</p${i}>; rel="prev"`).join(', ')],
    (v: string[]) => nextPageUrl(v, PAGE, 'r'),
    { small: 20_000, factor: 8 },
  );
  // http-link-header looks for "=" from each parameter to the end of the value: quadratic in the
  // number of bare parameters. undici refuses response headers over 16 KiB, so bound the worst case there.
  const worst = [`</p>${'; a'.repeat((16 * 1024) / 3)}; rel=next`];
  const ms = fastestMs(() => nextPageUrl(worst, PAGE, 'r'), 3);
  t.true(ms < 100, `16 KiB of bare Link params: ${Math.round(ms)} ms of CPU`);
});

// ---- discovery over a content source serving fuzzed listings and manifests ----

/** An in-memory registry: manifests by digest, verified on fetch as registry-client does (digest, size, parse). */
class MemorySource implements ContentSource {
  readonly location = 'memory/team/app';
  readonly #blobs = new Map<string, Uint8Array>();
  constructor(
    readonly listing: Descriptor[],
    manifests: Uint8Array[],
  ) {
    for (const bytes of manifests) this.#blobs.set(computeDigest(bytes), bytes);
  }
  async resolve(): Promise<Descriptor> {
    throw new VouchError('NOT_FOUND', 'no tags here', { reason: 'NOT_FOUND' });
  }
  async fetchManifest(reference: string | Descriptor): Promise<FetchedManifest> {
    const digest = typeof reference === 'string' ? reference : reference.digest;
    const bytes = this.#blobs.get(digest);
    if (bytes === undefined) throw new VouchError('NOT_FOUND', `${digest} not found`, { reason: 'NOT_FOUND' });
    if (typeof reference !== 'string' && reference.size !== bytes.length) {
      throw new VouchError('REGISTRY_UNAVAILABLE', 'size mismatch', { reason: 'SIZE_MISMATCH' });
    }
    const mediaType = typeof reference === 'string' ? undefined : reference.mediaType;
    const manifest = parseManifest(bytes, digest, mediaType);
    return { descriptor: { mediaType: manifest.mediaType, digest: computeDigest(bytes), size: bytes.length }, bytes, manifest };
  }
  async fetchBlob(): Promise<Uint8Array> {
    throw new VouchError('NOT_FOUND', 'no blobs here', { reason: 'NOT_FOUND' });
  }
  async listReferrers(): Promise<ReferrerListing> {
    return { descriptors: this.listing, via: 'referrers-api' };
  }
}

const subject = buildImage();
const SUBJECT = subject.descriptor.digest as Digest;
const goodReferrers: BuiltManifest[] = [
  buildNotationSignature(subject.descriptor),
  buildNotationSignature(subject.descriptor, { form: 'artifactType', envelope: 'cose' }),
  buildCosignBundleReferrer(subject.descriptor),
  buildSbomReferrer(subject.descriptor),
];
const otherSubject = buildNotationSignature(buildImage().descriptor);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A referrer manifest: a real one, one with a field replaced by hostile JSON, or garbage bytes. */
const referrerBytes = fc.oneof(
  fc.constantFrom(...goodReferrers, otherSubject).map((m) => m.bytes),
  fc
    .tuple(
      fc.constantFrom(...goodReferrers),
      fc.constantFrom('subject', 'layers', 'config', 'artifactType', 'annotations', 'mediaType', 'schemaVersion'),
      hostileJsonValue,
    )
    .map(([m, key, value]) => {
      const json = JSON.parse(decoder.decode(m.bytes)) as Record<string, unknown>;
      json[key] = value;
      return encoder.encode(JSON.stringify(json));
    }),
  fc.uint8Array({ maxLength: 64 }),
);

/** How the listing describes each referrer: truthfully, or with a wrong size, type, digest. */
const listed = fc.tuple(referrerBytes, fc.nat(5), hostileText).map(([bytes, lie, text]): { bytes: Uint8Array; descriptor: Descriptor } => {
  const descriptor: Descriptor = { mediaType: MEDIA_TYPE.ociManifest, digest: computeDigest(bytes), size: bytes.length };
  if (lie === 1) descriptor.size += 1;
  if (lie === 2) descriptor.artifactType = text;
  if (lie === 3) descriptor.digest = computeDigest(encoder.encode(text));
  if (lie === 4) descriptor.mediaType = MEDIA_TYPE.ociIndex;
  return { bytes, descriptor };
});

test('discoverReferrers: fuzzed listings and manifests give artifacts with the right subject plus typed skips', async (t) => {
  await checkAsyncProperty(
    t,
    [fc.array(listed, { maxLength: 8 }), fc.boolean()],
    async (entries, withGood) => {
      // Another listing of the good digest is the same referrer, not another one (discovery keeps the first).
      const good = goodReferrers[0]!;
      const others = withGood ? entries.filter((e) => e.descriptor.digest !== good.descriptor.digest) : entries;
      const all = withGood ? [...others, { bytes: good.bytes, descriptor: good.descriptor }] : others;
      const source = new MemorySource(
        all.map((e) => e.descriptor),
        all.map((e) => e.bytes),
      );
      const outcome = await typedOutcomeAsync(() => discoverReferrers(source, SUBJECT, { cosignLegacyTag: false }));
      if (!('value' in outcome)) return;
      for (const artifact of outcome.value.artifacts) {
        if (artifact.manifest.manifest.subject?.digest !== SUBJECT)
          throw new Error(`artifact ${artifact.descriptor.digest} has another subject`);
      }
      if (withGood && !outcome.value.artifacts.some((a) => a.descriptor.digest === goodReferrers[0]!.descriptor.digest)) {
        throw new Error(`a bad referrer hid the good one: ${JSON.stringify(outcome.value.skipped.map((s) => s.reason))}`);
      }
    },
    0.5,
  );
});
