import test from 'ava';
import { egressRules, parseConfig } from '../../../src/config/index.js';

const ENVIRONMENTS = 'environments:\n  prod: { trustPolicy: tp.json, trustStore: store }\n';
const rulesOf = (yaml: string) => egressRules(parseConfig(`${ENVIRONMENTS}${yaml}`, '/c/vouch.yaml'));

test('egressRules: without allowedRegistries every redirect and realm host is allowed, credentials go nowhere else', (t) => {
  const rules = rulesOf('');
  t.true(rules.isRedirectAllowed('anything.example.com'));
  t.true(rules.isRedirectAllowed('127.0.0.1:5556'));
  t.true(rules.isRealmAllowed('auth.docker.io'));
  t.false(rules.mayReceiveCredentials('auth.docker.io'));
  t.false(rules.isAddressExempt('169.254.169.254'));
});

test('egressRules: with allowedRegistries, redirects go to its hosts or allowedRedirects, realms to its hosts or allowedTokenRealms', (t) => {
  const rules = rulesOf(
    'allowedRegistries: [registry.example.com, "*.corp.example"]\n' +
      'allowedRedirects: ["*.s3.amazonaws.com", "storage.googleapis.com"]\n' +
      'allowedTokenRealms: [auth.docker.io]\n',
  );
  t.true(rules.isRedirectAllowed('registry.example.com'));
  t.true(rules.isRedirectAllowed('mirror.corp.example'));
  t.true(rules.isRedirectAllowed('bucket.s3.amazonaws.com'));
  t.true(rules.isRedirectAllowed('Storage.GoogleAPIs.com'));
  t.false(rules.isRedirectAllowed('s3.amazonaws.com'));
  t.false(rules.isRedirectAllowed('storage.googleapis.com:8443'));
  t.false(rules.isRedirectAllowed('127.0.0.1:5556'));
  t.false(rules.isRedirectAllowed('localhost:5556'));
  t.false(rules.isRedirectAllowed('auth.docker.io'));

  t.true(rules.isRealmAllowed('auth.docker.io'));
  t.true(rules.isRealmAllowed('registry.example.com'));
  t.false(rules.isRealmAllowed('127.0.0.1:5556'));
  t.false(rules.isRealmAllowed('bucket.s3.amazonaws.com'));

  // only allowedTokenRealms receive credentials: an allowed registry host named as realm does not
  t.true(rules.mayReceiveCredentials('auth.docker.io'));
  t.false(rules.mayReceiveCredentials('registry.example.com'));
  t.false(rules.mayReceiveCredentials('mirror.corp.example'));
});

test('egressRules: a metadata host is exempt only when a list names it exactly, never through a wildcard', (t) => {
  const wildcards = rulesOf('allowedRegistries: ["*"]\nallowedRedirects: ["*", "*.google.internal"]\n');
  t.false(wildcards.isAddressExempt('169.254.169.254'));
  t.false(wildcards.isAddressExempt('metadata.google.internal'));
  for (const key of ['allowedRegistries', 'allowedRedirects', 'allowedTokenRealms']) {
    const exact = rulesOf(`${key}: ["169.254.169.254", "metadata.google.internal", "[fd00:ec2::254]"]\n`);
    t.true(exact.isAddressExempt('169.254.169.254'), key);
    t.true(exact.isAddressExempt('METADATA.google.internal'), key);
    t.true(exact.isAddressExempt('[fd00:ec2::254]'), key);
    t.false(exact.isAddressExempt('169.254.169.254:8080'), key);
    t.false(exact.isAddressExempt('169.254.170.2'), key);
  }
});
