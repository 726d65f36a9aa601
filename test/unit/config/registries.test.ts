// Configuration → registry client and metrics: the egress rules (allowedRegistries, allowedTokenRealms,
// allowedRedirects) and the `host` label of registry metrics, bounded by the configuration (attack item 6).

import test from 'ava';
import { egressRules, MAX_REGISTRY_LABELS, OTHER_REGISTRY_LABEL, parseConfig, registryMetricLabel } from '../../../src/config/index.js';

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

// registryMetricLabel

const MINIMAL = `
environments:
  prod: { trustPolicy: trustpolicy.json, trustStore: truststore }
registries:
  "127.0.0.1:5000": { plainHttp: true }
  docker.io: {}
`;

const configWith = (extra = '') => parseConfig(`${MINIMAL}${extra}`, '/etc/vouch/config.yaml', { env: {} });
const strangers = (count: number) => Array.from({ length: count }, (_, i) => `registry-${i}.attacker.example`);

test('registry labels: configured hosts keep their name, every other host is `other`', (t) => {
  const label = registryMetricLabel(configWith());
  t.is(label('127.0.0.1:5000'), '127.0.0.1:5000');
  t.is(label('registry-1.docker.io'), 'registry-1.docker.io');
  t.is(label('docker.io'), 'registry-1.docker.io', 'aliases fold into the canonical host');
  t.is(label('127.0.0.1:5001'), OTHER_REGISTRY_LABEL);
  t.is(label('auth.docker.io'), OTHER_REGISTRY_LABEL, 'a token realm host is not a configured registry');
  t.is(label('not a host'), OTHER_REGISTRY_LABEL);
  t.is(label(''), OTHER_REGISTRY_LABEL);
  const values = new Set(strangers(300).map(label));
  t.deepEqual([...values], [OTHER_REGISTRY_LABEL]);
});

test('registry labels: hosts matching allowedRegistries keep their name, at most MAX_REGISTRY_LABELS of them', (t) => {
  const label = registryMetricLabel(configWith('allowedRegistries: ["*.example.com", ghcr.io]\n'));
  t.is(label('ghcr.io'), 'ghcr.io');
  t.is(label('a.example.com'), 'a.example.com');
  t.is(label('a.example.com:5000'), OTHER_REGISTRY_LABEL, 'a pattern without a port matches no host with one');
  t.is(label('quay.io'), OTHER_REGISTRY_LABEL);
  t.is(label('127.0.0.1:5000'), '127.0.0.1:5000', 'configured hosts are labelled even when not allowed');

  // `*` allows every host: the first MAX_REGISTRY_LABELS distinct hosts are named, then `other`;
  // configured hosts and hosts already named keep their label.
  const everything = registryMetricLabel(configWith('allowedRegistries: ["*"]\n'));
  const values = new Set(strangers(300).map(everything));
  t.is(values.size, MAX_REGISTRY_LABELS + 1);
  t.true(values.has(OTHER_REGISTRY_LABEL));
  t.is(everything('registry-0.attacker.example'), 'registry-0.attacker.example');
  t.is(everything('registry-299.attacker.example'), OTHER_REGISTRY_LABEL);
  t.is(everything('127.0.0.1:5000'), '127.0.0.1:5000');
  t.is(registryMetricLabel(configWith('allowedRegistries: ["*"]\n'), 2)('ghcr.io'), 'ghcr.io');
});
