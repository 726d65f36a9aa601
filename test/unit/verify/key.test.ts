// Key grammar (docs/api.md "Keys"): `[environment]reference`, default environment, IPv6 hosts, bounds.

import test from 'ava';
import { VouchError } from '../../../src/core/index.js';
import { MAX_KEY_LENGTH, parseKey, splitKey } from '../../../src/verify/index.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const known = (name: string) => ['prod', 'staging', 'eu-west.1'].includes(name);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    if (error instanceof VouchError) return error.code;
    throw error;
  }
}

test('key: an [environment] prefix names the environment', (t) => {
  const parsed = parseKey(`[staging]registry.example.com/team/app@${DIGEST}`, 'prod', known);
  t.is(parsed.environment, 'staging');
  t.true(parsed.explicitEnvironment);
  t.is(parsed.reference.registry, 'registry.example.com');
  t.is(parsed.reference.repository, 'team/app');
  t.is(parsed.reference.digest as string | undefined, DIGEST);
});

test('key: no prefix means the default environment', (t) => {
  const parsed = parseKey('registry.example.com/team/app:1.2', 'prod', known);
  t.is(parsed.environment, 'prod');
  t.false(parsed.explicitEnvironment);
  t.is(parsed.reference.tag, '1.2');
});

test('key: environment names may hold letters, digits, ".", "_" and "-"', (t) => {
  t.is(parseKey('[eu-west.1]alpine', undefined, known).environment, 'eu-west.1');
});

test('key: UNKNOWN_ENVIRONMENT for an unconfigured environment, or no prefix and no default', (t) => {
  t.is(
    codeOf(() => parseKey('[dev]alpine', 'prod', known)),
    'UNKNOWN_ENVIRONMENT',
  );
  t.is(
    codeOf(() => parseKey('alpine', undefined, known)),
    'UNKNOWN_ENVIRONMENT',
  );
  t.is(
    codeOf(() => parseKey('alpine', 'gone', known)),
    'UNKNOWN_ENVIRONMENT',
  );
});

test('key: the environment is checked before the reference', (t) => {
  t.is(
    codeOf(() => parseKey('[dev]NOT A REFERENCE', 'prod', known)),
    'UNKNOWN_ENVIRONMENT',
  );
});

test('key: INVALID_REFERENCE for malformed keys', (t) => {
  for (const key of [
    '',
    '[prod',
    '[]alpine',
    '[pr od]alpine',
    '[prod/x]alpine',
    '[prod]',
    '[prod]Alpine',
    '[prod]alpine:bad tag',
    '[prod]alpine@sha256:123',
    'https://registry.example.com/app:1',
    '[prod][staging]alpine',
  ]) {
    t.is(
      codeOf(() => parseKey(key, 'prod', known)),
      'INVALID_REFERENCE',
      key,
    );
  }
  t.is(
    codeOf(() => parseKey(42 as unknown as string, 'prod', known)),
    'INVALID_REFERENCE',
  );
});

test('key: length is bounded, and the message does not echo the whole key', (t) => {
  const key = `[prod]registry.example.com/${'a'.repeat(MAX_KEY_LENGTH)}`;
  const error = t.throws(() => parseKey(key, 'prod', known), { instanceOf: VouchError });
  t.is(error.code, 'INVALID_REFERENCE');
  t.true(error.message.length < 400, error.message);
});

test('key: a bracket holding ":" is an IPv6 registry host, not an environment', (t) => {
  t.deepEqual(splitKey('[::1]:5000/team/app:1'), { environment: undefined, reference: '[::1]:5000/team/app:1' });
  const parsed = parseKey('[::1]:5000/team/app:1', 'prod', known);
  t.is(parsed.environment, 'prod');
  t.is(parsed.reference.registry, '[::1]:5000');
  const prefixed = parseKey('[staging][::1]:5000/team/app:1', 'prod', known);
  t.is(prefixed.environment, 'staging');
  t.is(prefixed.reference.registry, '[::1]:5000');
});
