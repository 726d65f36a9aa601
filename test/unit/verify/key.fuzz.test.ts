// Property tests of provider keys (src/verify/key.ts, docs/api.md "Keys"; docs/reliability.md
// "Fuzzing"): any value gives a parsed key, INVALID_REFERENCE or UNKNOWN_ENVIRONMENT; a key written
// from an environment and a reference parses back to them; the length bound is checked first.

import test from 'ava';
import { formatReference, parseReference } from '../../../src/core/index.js';
import { MAX_KEY_LENGTH, parseKey, splitKey } from '../../../src/verify/index.js';
import {
  assertRoughlyLinear,
  checkProperty,
  dnsHost,
  fc,
  hostileJsonValue,
  hostileText,
  ipv6Host,
  typedOutcome,
} from '../../helpers/fuzz.js';

const KNOWN = ['prod', 'staging', 'eu-west.1'];
const known = (name: string) => KNOWN.includes(name);
const CODES = ['INVALID_REFERENCE', 'UNKNOWN_ENVIRONMENT'];

const environment = fc.oneof(fc.constantFrom(...KNOWN), fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/));
const reference = fc
  .tuple(fc.oneof(dnsHost, ipv6Host), fc.stringMatching(/^[a-z0-9]{1,8}(?:\/[a-z0-9]{1,8}){0,2}$/), fc.stringMatching(/^\w[\w.-]{0,10}$/))
  .chain(([host, path, tag]) => host.spellings.map((spelling) => `${spelling}/${path}:${tag}`));

test('splitKey / parseKey: any value gives a key, INVALID_REFERENCE or UNKNOWN_ENVIRONMENT', (t) => {
  const key = fc.oneof(
    hostileText,
    hostileJsonValue,
    fc.tuple(fc.oneof(environment, hostileText), fc.oneof(reference, hostileText)).map(([env, ref]) => `[${env}]${ref}`),
    fc.tuple(hostileText, reference).map(([prefix, ref]) => `${prefix}${ref}`),
  );
  checkProperty(t, [key, fc.option(fc.constantFrom(...KNOWN, 'gone'), { nil: undefined })], (value, defaultEnvironment) => {
    typedOutcome(() => splitKey(value), ['INVALID_REFERENCE']);
    const outcome = typedOutcome(() => parseKey(value as string, defaultEnvironment, known), CODES);
    if ('value' in outcome && !known(outcome.value.environment))
      throw new Error(`unknown environment ${outcome.value.environment} accepted`);
  });
});

test('parseKey: [environment]reference parses back to its parts, the reference canonical', (t) => {
  checkProperty(t, [fc.option(environment, { nil: undefined }), reference], (env, ref) => {
    const text = env === undefined ? ref : `[${env}]${ref}`;
    const outcome = typedOutcome(() => parseKey(text, 'prod', known), CODES);
    if (env !== undefined && !known(env)) {
      if (!('error' in outcome) || outcome.error.code !== 'UNKNOWN_ENVIRONMENT') throw new Error(`${text}: want UNKNOWN_ENVIRONMENT`);
      return;
    }
    if (!('value' in outcome)) throw new Error(`${text}: ${outcome.error.message}`);
    if (outcome.value.environment !== (env ?? 'prod') || outcome.value.explicitEnvironment !== (env !== undefined))
      throw new Error(`${text}: environment`);
    if (formatReference(outcome.value.reference) !== formatReference(parseReference(ref))) throw new Error(`${text}: reference`);
  });
});

test('splitKey: an over-long key is refused by length, in time independent of its content', (t) => {
  assertRoughlyLinear(
    t,
    'long keys',
    (n) => `[${'p'.repeat(n)}]${'a/'.repeat(n)}`,
    (k: string) => typedOutcome(() => splitKey(k), ['INVALID_REFERENCE']),
    { small: MAX_KEY_LENGTH * 2 },
  );
  const outcome = typedOutcome(() => splitKey('x'.repeat(10 * 1024 * 1024)), ['INVALID_REFERENCE']);
  t.true('error' in outcome && outcome.error.message.length < 400);
});
