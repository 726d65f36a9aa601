import test from 'ava';
import { computeDigest, digestMatches, isDigest, parseDigest, tryParseDigest, VouchError } from '../../../src/core/index.js';

const bytes = new TextEncoder().encode('{}');

test('digest: computes sha256 and sha512 of bytes', (t) => {
  t.is(computeDigest(bytes) as string, 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
  t.regex(computeDigest(bytes, 'sha512'), /^sha512:[a-f0-9]{128}$/);
});

test('digest: matches only the exact bytes', (t) => {
  const d = computeDigest(bytes);
  t.true(digestMatches(bytes, d));
  t.false(digestMatches(new TextEncoder().encode('{ }'), d));
  const d512 = computeDigest(bytes, 'sha512');
  t.true(digestMatches(bytes, d512));
});

test('digest: accepts only well-formed sha256/sha512', (t) => {
  t.true(isDigest(`sha256:${'0'.repeat(64)}`));
  t.true(isDigest(`sha512:${'f'.repeat(128)}`));
  for (const bad of [
    `sha256:${'0'.repeat(63)}`,
    `sha256:${'0'.repeat(65)}`,
    `sha256:${'G'.repeat(64)}`,
    `sha512:${'0'.repeat(64)}`,
    `sha384:${'0'.repeat(96)}`,
    `sha256:../../${'0'.repeat(58)}`,
    'sha256',
    '',
    42,
    null,
  ]) {
    t.false(isDigest(bad), String(bad));
  }
  t.deepEqual(tryParseDigest(`sha256:${'a'.repeat(64)}`), { algorithm: 'sha256', hex: 'a'.repeat(64) });
});

test('digest: parseDigest names where a bad digest came from', (t) => {
  const error = t.throws(() => parseDigest('nope', 'subject.digest'), { instanceOf: VouchError });
  t.is(error?.code, 'INVALID_INPUT');
  t.is(error?.reason, 'BAD_CONTENT');
  t.true(error?.message.startsWith('subject.digest'));
});
