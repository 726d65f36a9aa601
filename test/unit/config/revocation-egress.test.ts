// revocation.allowedHosts with allowedRegistries and allowedRedirects: which OCSP/CRL hosts the
// runtime's revocation transport may contact (docs/security.md "Egress").

import test from 'ava';
import { parseConfig, revocationEgressRules } from '../../../src/config/index.js';

const MINIMAL = `
environments:
  prod:
    trustPolicy: trustpolicy.json
    trustStore: truststore
`;
const rules = (extra: string) => revocationEgressRules(parseConfig(`${MINIMAL}${extra}`, '/etc/vouch/config.yaml'));

test('revocation egress: without allowedRegistries every host is allowed, nothing special is exempt', (t) => {
  const r = rules('');
  t.true(r.isHostAllowed('crl.example.com'));
  t.true(r.isRedirectAllowed('127.0.0.1:8080'));
  t.false(r.isAddressExempt('169.254.169.254'));
});

test('revocation egress: with allowedRegistries, hosts of allowedRegistries, allowedRedirects or revocation.allowedHosts only', (t) => {
  const r = rules(
    'allowedRegistries: [ghcr.io]\nallowedRedirects: ["*.blob.example.net"]\n' +
      'revocation:\n  allowedHosts: ["*.pki.example.com", "169.254.10.10", "127.0.0.1:8080"]\n',
  );
  for (const host of ['ghcr.io', 'store.blob.example.net', 'crl.pki.example.com', '127.0.0.1:8080']) {
    t.true(r.isHostAllowed(host), host);
    t.true(r.isRedirectAllowed(host), host);
  }
  for (const host of ['crl.example.com', 'pki.example.com', '127.0.0.1:8081', '169.254.169.254']) {
    t.false(r.isHostAllowed(host), host);
    t.false(r.isRedirectAllowed(host), host);
  }
  // only an exact listing exempts a link-local address, never a wildcard
  t.true(r.isAddressExempt('169.254.10.10'));
  t.false(r.isAddressExempt('169.254.169.254'));
});

test('revocation egress: revocation.allowedHosts alone (no allowedRegistries) restricts nothing', (t) => {
  const r = rules('revocation:\n  allowedHosts: [crl.example.com]\n');
  t.true(r.isHostAllowed('ocsp.elsewhere.example'));
});
