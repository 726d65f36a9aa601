// Cosign trust material: which keys load, trusted roots, and the anchored identity patterns.

import test from 'ava';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { identitySanPattern, loadCosignPublicKey, parseTrustedRoot } from '../../../src/cosign/index.js';
import { COSIGN_VECTORS } from '../../helpers/fixtures.js';

test('a P-521 key, a private key and text that is no key are INVALID_CONFIG', (t) => {
  const p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' });
  const unsupported = t.throws(() => loadCosignPublicKey(p521.publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'k'));
  t.like(unsupported, { code: 'INVALID_CONFIG', reason: 'UNSUPPORTED' });
  t.like(
    t.throws(() => loadCosignPublicKey('not a key')),
    { code: 'INVALID_CONFIG' },
  );
});

test('the fingerprint of the containers/image cosign.pub is the sha256 of its SPKI DER', (t) => {
  const pem = readFileSync(join(COSIGN_VECTORS, 'legacy-key/cosign.pub'), 'utf8');
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  t.is(loadCosignPublicKey(pem).fingerprint, createHash('sha256').update(der).digest('hex'));
});

test('the public-good trusted root parses; broken ones are INVALID_CONFIG', (t) => {
  const text = readFileSync(join(COSIGN_VECTORS, 'bundle-v03/trusted_root_pgi.json'), 'utf8');
  t.true(parseTrustedRoot(text).certificateAuthorities.length > 0);
  t.like(
    t.throws(() => parseTrustedRoot('[]')),
    { code: 'INVALID_CONFIG' },
  );
  const root = JSON.parse(text) as { tlogs: Array<{ publicKey: { rawBytes: string } }> };
  root.tlogs[0]!.publicKey.rawBytes = 'AAAA';
  t.like(
    t.throws(() => parseTrustedRoot(root)),
    { code: 'INVALID_CONFIG' },
  );
});

test('identity patterns are anchored; exact subjects escaped; bad identities are INVALID_CONFIG', (t) => {
  t.is(identitySanPattern({ subject: 'a.b+c@x.com', issuer: 'i' }), '^a\\.b\\+c@x\\.com$');
  t.is(identitySanPattern({ subjectRegExp: 'a|b', issuer: 'i' }), '^(?:a|b)$');
  t.false(new RegExp(identitySanPattern({ subjectRegExp: 'a|b', issuer: 'i' })).test('xa'));
  for (const bad of [
    { issuer: 'i' },
    { subject: 'a', subjectRegExp: 'a', issuer: 'i' },
    { subjectRegExp: '(', issuer: 'i' },
    { subject: 'a', issuer: '' },
  ]) {
    t.like(
      t.throws(() => identitySanPattern(bad)),
      { code: 'INVALID_CONFIG' },
      JSON.stringify(bad),
    );
  }
});
