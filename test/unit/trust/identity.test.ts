import test from 'ava';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { readFileSync } from 'node:fs';
import type { webcrypto } from 'node:crypto';
import * as path from 'node:path';
import { VouchError } from '../../../src/core/index.js';
import {
  Certificate,
  collapsedIdentityAttributes,
  findOverlappingIdentities,
  isSubsetDN,
  leafSubjectAttributes,
  matchesTrustedIdentities,
  parseCertificates,
  parseDistinguishedName,
  parseOciTrustPolicy,
  toGoNameString,
  verifyTrustedIdentities,
  type DistinguishedName,
  type TrustPolicyStatement,
} from '../../../src/trust/index.js';
import { NOTATION_VECTORS as VECTORS } from '../../helpers/fixtures.js';

const E2E_POLICIES = path.join(VECTORS, 'notation-cli-e2e/trustpolicies');

function loadCert(relative: string): Certificate {
  const file = path.join(VECTORS, relative);
  return parseCertificates(readFileSync(file), file)[0]!;
}

const signingCert = loadCert('notation-go/verifier-certs/signing-cert.pem');
const badCert = loadCert('notation-go/verifier-certs/bad-cert.pem');
const e2eCert = loadCert('notation-cli-e2e/localkeys/e2e.crt');
const newE2eCert = loadCert('notation-cli-e2e/localkeys/new_e2e.crt');

/** A statement with these identities, through the real policy parser. */
function statementWith(identities: string[]): TrustPolicyStatement {
  const doc = {
    version: '1.0',
    trustPolicies: [
      {
        name: 'test-statement-name',
        registryScopes: ['*'],
        signatureVerification: { level: 'strict' },
        trustStores: ['ca:s'],
        trustedIdentities: identities,
      },
    ],
  };
  return parseOciTrustPolicy(JSON.stringify(doc), 'policy.json').statements[0]!;
}

function e2eStatement(file: string): TrustPolicyStatement {
  return parseOciTrustPolicy(readFileSync(path.join(E2E_POLICIES, file)), file).statements[0]!;
}

const asObject = (map: ReadonlyMap<string, string>): Record<string, string> => Object.fromEntries(map);

// ---- DN parsing ------------------------------------------------------------------------------------

const validDNs: Array<[string, Record<string, string>]> = [
  ['C=US,ST=WA,O=MyOrg', { C: 'US', ST: 'WA', O: 'MyOrg' }],
  [' CN=e2e, O=Notary, L=Seattle, ST=WA, C=US', { CN: 'e2e', O: 'Notary', L: 'Seattle', ST: 'WA', C: 'US' }],
  ['C=US,S=WA,O=MyOrg', { C: 'US', ST: 'WA', O: 'MyOrg' }],
  ['C=US;ST=WA;O=MyOrg', { C: 'US', ST: 'WA', O: 'MyOrg' }],
  ['C=US,ST=WA,O=My "special" Org \\, \\; \\\\ others', { C: 'US', ST: 'WA', O: 'My "special" Org , ; \\ others' }],
  ['C=US,ST=WA,O=\\ padded\\ ', { C: 'US', ST: 'WA', O: ' padded ' }],
  ['C=US,ST=WA,O=  spaced  ', { C: 'US', ST: 'WA', O: 'spaced' }],
  ['C=US,ST=WA,O=a\\+b\\=c\\<d\\>\\#', { C: 'US', ST: 'WA', O: 'a+b=c<d>#' }],
  ['C=US,ST=WA,O=\\41\\c3\\a9', { C: 'US', ST: 'WA', O: 'Aé' }],
  ['C=US,ST=WA,O=Zürich', { C: 'US', ST: 'WA', O: 'Zürich' }],
  ['C=US,ST=WA,O=a=b', { C: 'US', ST: 'WA', O: 'a=b' }],
  ['C=US,ST=WA,O=MyOrg,CustomRDN=CustomValue', { C: 'US', ST: 'WA', O: 'MyOrg', CustomRDN: 'CustomValue' }],
  // An attribute first seen empty may repeat (notation-go checks the stored value for "").
  ['C=,C=US,ST=WA,O=MyOrg', { C: 'US', ST: 'WA', O: 'MyOrg' }],
];

for (const [dn, expected] of validDNs) {
  test(`identity: parses DN ${JSON.stringify(dn)}`, (t) => {
    t.deepEqual(asObject(parseDistinguishedName(dn)), expected);
  });
}

const invalidDNs: Array<[string, string]> = [
  [',,,', 'incomplete type, value pair'],
  ['C=US,ST=WA,O=MyOrg,', 'DN ended with incomplete type, value pair'],
  ['C=US,C=IN,ST=WA,O=MyOrg', 'duplicate RDN attribute for "C"'],
  ['C=US,ST=WA,S=OR,O=MyOrg', 'duplicate RDN attribute for "ST"'],
  ['C=US+ST=WA,O=MyOrg', 'has multi-valued RDN attributes'],
  ['C=US,ST=WA,O=#0c03616263', 'notation does not support x509.subject identities containing "=#"'],
  ['C=bad=#identity,O=LOL,ST=LOL', 'containing "=#"'],
  ['C=US,ST=WA', 'no mandatory RDN attribute for "O"'],
  ['C=US,O=MyOrg', 'no mandatory RDN attribute for "ST"'],
  ['ST=WA,O=MyOrg', 'no mandatory RDN attribute for "C"'],
  ['c=US,st=WA,o=MyOrg', 'no mandatory RDN attribute for "C"'],
  ['C=US,ST=WA,O=', 'no mandatory RDN attribute for "O"'],
  ['   ', 'no mandatory RDN attribute for "C"'],
  ['invalid', 'DN ended with incomplete type, value pair'],
  ['C=US,ST=WA,O=bad\\', 'got corrupted escaped character'],
  ['C=US,ST=WA,O=bad\\4', 'failed to decode escaped character'],
  ['C=US,ST=WA,O=bad\\4g', 'failed to decode escaped character'],
];

for (const [dn, rule] of invalidDNs) {
  test(`identity: rejects DN ${JSON.stringify(dn)}`, (t) => {
    const error = t.throws(() => parseDistinguishedName(dn), { instanceOf: VouchError });
    t.is(error.code, 'INVALID_CONFIG');
    t.is(error.reason, 'BAD_CONTENT');
    t.true(error.message.includes(rule), error.message);
  });
}

test('identity: subset and overlap follow notation-go pkix.IsSubsetDN', (t) => {
  const dn = (identity: string): DistinguishedName => ({ identity, dn: identity, attributes: parseDistinguishedName(identity) });
  const broad = dn('C=US,ST=WA,O=MyOrg');
  const narrow = dn('C=US,ST=WA,O=MyOrg,CN=x');
  const other = dn('C=US,ST=WA,O=Other');
  t.true(isSubsetDN(broad.attributes, narrow.attributes));
  t.false(isSubsetDN(narrow.attributes, broad.attributes));
  t.deepEqual(findOverlappingIdentities([narrow, broad]), [broad, narrow]);
  t.deepEqual(findOverlappingIdentities([broad, broad]), [broad, broad]);
  t.is(findOverlappingIdentities([broad, other]), undefined);
  // An empty value reads like an absent attribute.
  t.true(isSubsetDN(parseDistinguishedName('C=US,ST=WA,O=MyOrg,OU='), broad.attributes));
});

test('identity: overlapping identities make a statement invalid', (t) => {
  const error = t.throws(() => statementWith(['x509.subject:C=US,ST=WA,O=MyOrg', 'x509.subject:C=US,ST=WA,O=MyOrg,X=Y']), {
    instanceOf: VouchError,
  });
  t.is(error.code, 'INVALID_CONFIG');
  t.true(error.message.includes('"test-statement-name" has overlapping x509 trustedIdentities'));
});

test('identity: non-x509 prefixes are accepted and kept out of x509Subjects', (t) => {
  const statement = statementWith(['nonX509Prefix:my-custom-identity', 'x509.subject:C=US,O=SomeOrg,ST=WA']);
  t.deepEqual(statement.trustedIdentities, ['nonX509Prefix:my-custom-identity', 'x509.subject:C=US,O=SomeOrg,ST=WA']);
  t.is(statement.x509Subjects.length, 1);
  // The prefix is case-sensitive: "X509.subject" is some other, unchecked prefix.
  t.is(statementWith(['X509.subject:not a DN']).x509Subjects.length, 0);
});

// ---- the leaf subject as Go sees it ----------------------------------------------------------------

test('identity: leaf subjects print as Go pkix.Name.String()', (t) => {
  t.is(toGoNameString(signingCert.rawSubject), 'CN=SomeCN,OU=SomeOU,O=SomeOrg,L=Seattle,ST=WA,C=US');
  t.is(toGoNameString(badCert.rawSubject), 'CN=Bad=#CN,OU=SomeOU,O=SomeOrg,L=Seattle,ST=WA,C=US');
  t.is(toGoNameString(e2eCert.rawSubject), 'CN=e2e,O=Notary,L=Seattle,ST=WA,C=US');
  t.is(toGoNameString(newE2eCert.rawSubject), 'O=Internet Widgits Pty Ltd,ST=Some-State,C=AU');
  t.deepEqual(asObject(leafSubjectAttributes(signingCert)), { CN: 'SomeCN', OU: 'SomeOU', O: 'SomeOrg', L: 'Seattle', ST: 'WA', C: 'US' });
});

test('identity: a leaf subject Go renders with "=#" cannot be used (bad-cert.pem)', (t) => {
  const error = t.throws(() => leafSubjectAttributes(badCert), { instanceOf: VouchError });
  t.is(error.code, 'INVALID_INPUT');
  t.true(error.message.includes('error while parsing the certificate subject from the digital signature'));
});

// README §2.6 (notation-go TestVerifyX509TrustedIdentities).
const verifierCases: Array<[string, string[], Certificate, boolean]> = [
  ['x509.subject C=US,O=SomeOrg,ST=WA matches signing-cert', ['x509.subject:C=US,O=SomeOrg,ST=WA'], signingCert, true],
  ['x509.subject C=IND,O=SomeOrg,ST=TS does not match signing-cert', ['x509.subject:C=IND,O=SomeOrg,ST=TS'], signingCert, false],
  [
    'a non-x509 identity next to a matching one matches',
    ['nonX509Prefix:my-custom-identity', 'x509.subject:C=US,O=SomeOrg,ST=WA'],
    signingCert,
    true,
  ],
  ['"*" matches signing-cert', ['*'], signingCert, true],
  ['a matching DN does not match bad-cert (=# in its subject)', ['x509.subject:C=US,O=SomeOrg,ST=WA'], badCert, false],
  ['"*" matches bad-cert', ['*'], badCert, true],
  [
    'full subject matches, RDN order irrelevant',
    ['x509.subject: CN=SomeCN, C=US, ST=WA, L=Seattle, O=SomeOrg, OU=SomeOU'],
    signingCert,
    true,
  ],
  ['values are case-sensitive', ['x509.subject:C=us,O=SomeOrg,ST=WA'], signingCert, false],
  [
    'one of several identities may match',
    ['x509.subject:C=IND,O=SomeOrg,ST=TS', 'x509.subject:C=US,O=SomeOrg,ST=WA,OU=SomeOU'],
    signingCert,
    true,
  ],
  ['an attribute the leaf lacks does not match', ['x509.subject:C=US,O=SomeOrg,ST=WA,STREET=Main'], signingCert, false],
];

for (const [title, identities, cert, expected] of verifierCases) {
  test(`identity: ${title}`, (t) => {
    const statement = statementWith(identities);
    t.is(matchesTrustedIdentities(statement, cert), expected);
    t.is(verifyTrustedIdentities(statement, cert) === undefined, expected);
  });
}

test('identity: only non-x509 identities → "no x509 trusted identities are configured"', (t) => {
  const statement = statementWith(['nonX509Prefix:my-custom-identity']);
  t.false(matchesTrustedIdentities(statement, signingCert));
  t.is(
    verifyTrustedIdentities(statement, signingCert),
    'no x509 trusted identities are configured in the trust policy "test-statement-name"',
  );
});

test('identity: the =# identity of README §2.6 is refused when the policy is parsed', (t) => {
  const error = t.throws(() => statementWith(['x509.subject:C=bad=#identity,O=LOL,ST=LOL']), { instanceOf: VouchError });
  t.is(error.code, 'INVALID_CONFIG');
  t.true(error.message.includes('"test-statement-name"'));
});

test('identity: e2e.crt against the e2e identity policies', (t) => {
  t.true(matchesTrustedIdentities(e2eStatement('valid_trusted_identity_trustpolicy.json'), e2eCert));
  t.true(matchesTrustedIdentities(e2eStatement('trustpolicy.json'), e2eCert));
  t.true(matchesTrustedIdentities(e2eStatement('multiple_trusted_identity_trustpolicy.json'), e2eCert));
  t.true(matchesTrustedIdentities(e2eStatement('multiple_trusted_identity_trustpolicy.json'), newE2eCert));
  t.false(matchesTrustedIdentities(e2eStatement('valid_trusted_identity_trustpolicy.json'), newE2eCert));

  const invalid = e2eStatement('invalid_trusted_identity_trustpolicy.json');
  t.false(matchesTrustedIdentities(invalid, e2eCert));
  t.is(
    verifyTrustedIdentities(invalid, e2eCert),
    'signing certificate from the digital signature does not match the X.509 trusted identities [map["C":"USB" "CN":"e2e" "L":"Seattle" "O":"Notary" "ST":"WA"]] defined in the trust policy "e2e"',
  );
});

// ---- generated leaves: what Go cannot parse ---------------------------------------------------------

async function selfSigned(name: string): Promise<Certificate> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm: algorithm,
    keys,
  });
  return Certificate.fromDer(new Uint8Array(cert.rawData), name);
}

test('identity: a leaf with emailAddress fails every x509.subject identity, "*" still matches', async (t) => {
  const leaf = await selfSigned('C=US, ST=WA, O=Acme, CN=signer, E=signer@example.com');
  t.is(toGoNameString(leaf.rawSubject), 'CN=signer,O=Acme,ST=WA,C=US,1.2.840.113549.1.9.1=#0c127369676e6572406578616d706c652e636f6d');
  t.false(matchesTrustedIdentities(statementWith(['x509.subject:C=US,ST=WA,O=Acme']), leaf));
  t.true(matchesTrustedIdentities(statementWith(['*']), leaf));
});

test('identity: a leaf with two values of one type fails (Go groups them into one RDN)', async (t) => {
  const leaf = await selfSigned('C=US, ST=WA, O=Acme, OU=a, OU=b');
  t.is(toGoNameString(leaf.rawSubject), 'OU=a+OU=b,O=Acme,ST=WA,C=US');
  t.false(matchesTrustedIdentities(statementWith(['x509.subject:C=US,ST=WA,O=Acme']), leaf));
});

test('identity: a leaf without C/ST/O fails every x509.subject identity', async (t) => {
  const leaf = await selfSigned('C=US, O=Acme, CN=signer');
  t.false(matchesTrustedIdentities(statementWith(['x509.subject:C=US,ST=WA,O=Acme']), leaf));
  t.true(matchesTrustedIdentities(statementWith(['*']), leaf));
});

test('identity: leaf values are escaped by Go and unescaped again before comparing', async (t) => {
  const leaf = await selfSigned('C=US, ST=WA, O="Acme, Inc.", CN=" spaced "');
  t.is(toGoNameString(leaf.rawSubject), 'CN=\\ spaced\\ ,O=Acme\\, Inc.,ST=WA,C=US');
  t.true(matchesTrustedIdentities(statementWith(['x509.subject:C=US,ST=WA,O=Acme\\, Inc.,CN=\\ spaced\\ ']), leaf));
  t.false(matchesTrustedIdentities(statementWith(['x509.subject:C=US,ST=WA,O=Acme\\, Inc.,CN=spaced']), leaf));
});

test('identity: Go keeps the last CN only', async (t) => {
  const leaf = await selfSigned('C=US, ST=WA, O=Acme, CN=first, CN=second');
  t.is(toGoNameString(leaf.rawSubject), 'CN=second,O=Acme,ST=WA,C=US');
  t.true(matchesTrustedIdentities(statementWith(['x509.subject:C=US,ST=WA,O=Acme,CN=second']), leaf));
  t.false(matchesTrustedIdentities(statementWith(['x509.subject:C=US,ST=WA,O=Acme,CN=first']), leaf));
});

test('identity: collapsedIdentityAttributes names the multi-valued CN / SERIALNUMBER a matching identity compared', async (t) => {
  const leaf = await selfSigned('C=US, ST=WA, O=Acme, CN=first, CN=second, 2.5.4.5=1, 2.5.4.5=2');
  t.is(toGoNameString(leaf.rawSubject), 'SERIALNUMBER=2,CN=second,O=Acme,ST=WA,C=US');
  t.deepEqual(collapsedIdentityAttributes(statementWith(['x509.subject:C=US,ST=WA,O=Acme,CN=second']), leaf), [
    { type: 'CN', values: ['first', 'second'], compared: 'second' },
  ]);
  t.deepEqual(collapsedIdentityAttributes(statementWith(['x509.subject:C=US,ST=WA,O=Acme,CN=second,SERIALNUMBER=2']), leaf), [
    { type: 'CN', values: ['first', 'second'], compared: 'second' },
    { type: 'SERIALNUMBER', values: ['1', '2'], compared: '2' },
  ]);
  t.deepEqual(collapsedIdentityAttributes(statementWith(['x509.subject:C=US,ST=WA,O=Acme']), leaf), [], 'CN not compared');
  t.deepEqual(collapsedIdentityAttributes(statementWith(['x509.subject:C=US,ST=WA,O=Acme,CN=first']), leaf), [], 'no match');
  t.deepEqual(collapsedIdentityAttributes(statementWith(['*']), leaf), []);
  const single = await selfSigned('C=US, ST=WA, O=Acme, CN=second');
  t.deepEqual(collapsedIdentityAttributes(statementWith(['x509.subject:C=US,ST=WA,O=Acme,CN=second']), single), []);
});
