// Property tests of image reference parsing (src/core/reference.ts; docs/reliability.md "Fuzzing"):
// any text gives a reference or INVALID_REFERENCE; accepted references are in the distribution grammar
// and round-trip through formatReference; every spelling of one registry host gives one registry.

import test from 'ava';
import {
  DOCKER_HUB_HOST,
  canonicalRegistryHostName,
  formatReference,
  parseReference,
  type ImageReference,
} from '../../../src/core/index.js';
import {
  assertRoughlyLinear,
  checkProperty,
  dnsHost,
  dockerHubHost,
  fastestMs,
  fc,
  hostileText,
  ipv4Host,
  ipv6Host,
  label,
  typedOutcome,
} from '../../helpers/fuzz.js';

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const HEX = '0123456789abcdef';

const anyHost = fc.oneof(dnsHost, ipv4Host, ipv6Host, dockerHubHost);
const pathComponent = fc.stringMatching(/^[a-z0-9]{1,6}(?:(?:[._]|__|-{1,2})[a-z0-9]{1,4}){0,2}$/);
const repositoryPath = fc.array(pathComponent, { minLength: 1, maxLength: 3 }).map((parts) => parts.join('/'));
const tag = fc.stringMatching(/^\w[\w.-]{0,20}$/);
const hex = (length: number) => fc.string({ unit: fc.constantFrom(...HEX.split('')), minLength: length, maxLength: length });
const digest = fc.oneof(
  hex(64).map((h) => `sha256:${h}`),
  hex(128).map((h) => `sha512:${h}`),
);

/** A valid reference written with some spelling of its host, and what it must parse to. */
const spelledReference = fc
  .tuple(anyHost, repositoryPath, fc.option(tag, { nil: undefined }), fc.option(digest, { nil: undefined }))
  .chain(([host, path, tagText, digestText]) =>
    host.spellings.map((spelling) => {
      const repository = host.canonical === DOCKER_HUB_HOST && !path.includes('/') ? `library/${path}` : path;
      return {
        text: `${spelling}/${path}${tagText === undefined ? '' : `:${tagText}`}${digestText === undefined ? '' : `@${digestText}`}`,
        expected: { registry: host.canonical, repository, tag: tagText, digest: digestText },
      };
    }),
  );

/** Local edits of a valid reference: a hostile character in, a character out, a piece doubled, a short digest. */
const mutatedReference = fc.tuple(spelledReference, fc.nat(), hostileText, fc.nat(3)).map(([{ text }, at, inserted, kind]) => {
  const i = at % (text.length + 1);
  switch (kind) {
    case 0:
      return text.slice(0, i) + inserted + text.slice(i);
    case 1:
      return text.slice(0, i) + text.slice(i + 1);
    case 2:
      return text.slice(0, i) + text.slice(i, i + 8).repeat(3) + text.slice(i + 8);
    default:
      return `${text.split('@')[0]}@sha256:${'a'.repeat(at % 130)}`;
  }
});

/** The invariants of any accepted reference. */
function assertWellFormed(ref: ImageReference): void {
  if (!/^[\x21-\x7e]+$/.test(ref.registry) || ref.registry !== ref.registry.toLowerCase()) {
    throw new Error(`registry ${JSON.stringify(ref.registry)} is not canonical ASCII`);
  }
  if (canonicalRegistryHostName(ref.registry) !== ref.registry) throw new Error(`registry ${ref.registry} is not a fixed point`);
  for (const component of ref.repository.split('/')) {
    if (!PATH_COMPONENT.test(component)) throw new Error(`repository component ${JSON.stringify(component)}`);
  }
  const again = parseReference(formatReference(ref));
  if (JSON.stringify(again) !== JSON.stringify(ref)) {
    throw new Error(`format/parse round trip changed ${JSON.stringify(ref)} into ${JSON.stringify(again)}`);
  }
}

test('parseReference: any text gives a reference or INVALID_REFERENCE', (t) => {
  checkProperty(t, [fc.oneof(hostileText, fc.string({ maxLength: 300 }), mutatedReference)], (text) => {
    const outcome = typedOutcome(() => parseReference(text), ['INVALID_REFERENCE']);
    if ('value' in outcome) assertWellFormed(outcome.value);
  });
});

test('parseReference: a valid reference in any host spelling parses to its canonical form and round-trips', (t) => {
  checkProperty(t, [spelledReference], ({ text, expected }) => {
    const ref = parseReference(text);
    const want = JSON.stringify({
      registry: expected.registry,
      repository: expected.repository,
      tag: expected.tag,
      digest: expected.digest,
    });
    if (JSON.stringify(ref) !== want) throw new Error(`${text} parsed to ${JSON.stringify(ref)}, want ${want}`);
    assertWellFormed(ref);
  });
});

test('parseReference: a non-ASCII host is refused, even when it lowercases to ASCII', (t) => {
  // U+212A KELVIN SIGN lowercases to "k", U+0130 to "i̇": a runtime's reference parser (distribution's
  // grammar is ASCII) refuses both, so vouch must not read them as another host.
  const spell = fc.tuple(label, fc.constantFrom('\u212a', '\u0130', '\u017f', '\u00e9', '\uff41'), fc.nat());
  checkProperty(t, [spell, repositoryPath], ([name, odd, at], path) => {
    const i = at % name.length;
    const text = `${name.slice(0, i)}${odd}${name.slice(i + 1)}.example/${path}`;
    const outcome = typedOutcome(() => parseReference(text), ['INVALID_REFERENCE']);
    if ('value' in outcome) throw new Error(`${JSON.stringify(text)} was accepted as ${JSON.stringify(outcome.value)}`);
  });
});

test('parseReference: time grows linearly with the length of hostile input', (t) => {
  // Refused by length before any regular expression runs.
  assertRoughlyLinear(
    t,
    'long references',
    (n) => `a${'-'.repeat(n)}a:${'b'.repeat(n)}`,
    (text: string) => typedOutcome(() => parseReference(text)),
  );
  // Near the length limit, the regular expressions of the grammar must not backtrack.
  for (const text of [
    `registry.example/${'a-'.repeat(2000)}!`,
    `registry.example/${'a__'.repeat(1300)}_`,
    `${'a.'.repeat(2000)}!/app`,
    `registry.example/app:${'x'.repeat(4000)}`,
  ]) {
    typedOutcome(() => parseReference(text), ['INVALID_REFERENCE']);
    t.true(fastestMs(() => parseReference(text), 3) < 100, text.slice(0, 40));
  }
});
