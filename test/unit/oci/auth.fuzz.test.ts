// Property tests of WWW-Authenticate parsing (src/oci/auth.ts parseChallenges, RFC 7235 §4.1; docs/
// reliability.md "Fuzzing"): any header text gives a list of challenges without throwing, in linear
// time; challenges written by the RFC grammar (quoted strings with commas, escapes, many params, several
// challenges) parse back to what was written.

import test from 'ava';
import { parseChallenges } from '../../../src/oci/auth.js';
import { assertRoughlyLinear, checkProperty, fc, hostileText, typedOutcome } from '../../helpers/fuzz.js';

const tchar = fc.constantFrom(..."!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split(''));
const token = fc.string({ unit: tchar, minLength: 1, maxLength: 12 });
const paramName = fc.oneof(token, fc.constantFrom('realm', 'service', 'scope', 'error', '__proto__', 'constructor', 'toString'));
// qdtext: anything printable but `"` and `\`, which are written as quoted-pairs
const quotedValue = fc.string({
  unit: fc.oneof(fc.constantFrom(...' ,;=:/"\\\t@[]'.split('')), fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 })),
  maxLength: 30,
});
const quote = (value: string) => `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;

interface WrittenChallenge {
  scheme: string;
  params: Array<[string, string, boolean]>;
}

const challenge: fc.Arbitrary<WrittenChallenge> = fc.record({
  scheme: fc.constantFrom('Bearer', 'Basic', 'bearer', 'BASIC', 'Digest', 'Negotiate'),
  params: fc.uniqueArray(fc.tuple(paramName, quotedValue, fc.boolean()), { selector: ([name]) => name.toLowerCase(), maxLength: 6 }),
});

function write(challenges: WrittenChallenge[], spaces: string): string {
  return challenges
    .map(({ scheme, params }) => {
      const written = params.map(([name, value, quoted]) => {
        const bare = /^[!#$%&'*+\-.^_`|~0-9A-Za-z/:@[\]]+$/.test(value) && !value.includes(',');
        return `${name}${spaces}=${spaces}${quoted || !bare ? quote(value) : value}`;
      });
      return written.length === 0 ? scheme : `${scheme} ${written.join(`${spaces},${spaces}`)}`;
    })
    .join(`${spaces}, `);
}

test('parseChallenges: any header text gives challenges, never a throw', (t) => {
  const header = fc.oneof(
    hostileText,
    fc.string({ maxLength: 300 }),
    fc
      .array(challenge, { maxLength: 3 })
      .chain((cs) =>
        fc
          .tuple(fc.constant(write(cs, '')), fc.nat(), hostileText)
          .map(([h, at, x]) => h.slice(0, at % (h.length + 1)) + x + h.slice(at % (h.length + 1))),
      ),
  );
  checkProperty(t, [header], (text) => {
    const outcome = typedOutcome(() => parseChallenges(text), []);
    if (!('value' in outcome)) return;
    for (const c of outcome.value) {
      if (c.scheme !== c.scheme.toLowerCase() || c.scheme === '') throw new Error(`scheme ${JSON.stringify(c.scheme)}`);
    }
  });
});

test('parseChallenges: challenges written by the RFC 7235 grammar parse back to what was written', (t) => {
  const spaces = fc.constantFrom('', ' ', '\t');
  checkProperty(t, [fc.array(challenge, { minLength: 1, maxLength: 3 }), spaces], (challenges, space) => {
    // A challenge with no params is followed by another scheme token, which the parser may read as
    // a token68; keep the comparison to challenges that have params or are last.
    const text = write(challenges, space);
    const parsed = parseChallenges(text);
    const want = challenges.map((c) => ({
      scheme: c.scheme.toLowerCase(),
      params: Object.fromEntries(c.params.map(([n, v]) => [n.toLowerCase(), v])),
    }));
    const got = parsed.map((c) => ({ scheme: c.scheme, params: Object.fromEntries(Object.entries(c.params)) }));
    if (JSON.stringify(got) !== JSON.stringify(want))
      throw new Error(`${JSON.stringify(text)} parsed to ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  });
});

test('parseChallenges: time grows linearly with the header (many params, long quoted strings, escapes)', (t) => {
  assertRoughlyLinear(
    t,
    'many params',
    (n) => `Bearer ${Array.from({ length: n / 8 }, (_, i) => `p${i}="v"`).join(',')}`,
    (h: string) => parseChallenges(h),
  );
  assertRoughlyLinear(
    t,
    'escapes',
    (n) => `Bearer realm="${'\\"'.repeat(n / 2)}"`,
    (h: string) => parseChallenges(h),
  );
  assertRoughlyLinear(
    t,
    'commas and garbage',
    (n) => `${',='.repeat(n / 2)}`,
    (h: string) => parseChallenges(h),
  );
  assertRoughlyLinear(
    t,
    'unterminated quote',
    (n) => `Bearer realm="${'a'.repeat(n)}`,
    (h: string) => parseChallenges(h),
  );
});
