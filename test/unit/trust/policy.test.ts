import test from 'ava';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { readFileSync, readdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { VouchError, type CheckAction, type LevelName } from '../../../src/core/index.js';
import {
  artifactPathFromReference,
  findApplicableStatement,
  findBlobStatement,
  parseBlobTrustPolicy,
  parseOciTrustPolicy,
  readOciTrustPolicyFile,
  referencedTrustStores,
  type OciTrustPolicy,
} from '../../../src/trust/index.js';
import { NOTATION_VECTORS as VECTORS } from '../../helpers/fixtures.js';

const E2E_POLICIES = path.join(VECTORS, 'notation-cli-e2e/trustpolicies');

interface DerivedCase {
  id: string;
  kind: 'oci' | 'blob';
  document: unknown;
  expectedError: string | null;
  note?: string;
}

const derived = JSON.parse(readFileSync(path.join(VECTORS, 'derived/trustpolicy-validation-cases.json'), 'utf8')) as {
  invalid: DerivedCase[];
  valid: DerivedCase[];
};

const parserFor = (kind: 'oci' | 'blob') => (kind === 'oci' ? parseOciTrustPolicy : parseBlobTrustPolicy);

function expectInvalid(t: import('ava').ExecutionContext, fn: () => unknown): VouchError {
  const error = t.throws(fn, { instanceOf: VouchError });
  t.is(error.code, 'INVALID_CONFIG');
  t.is(error.reason, 'BAD_CONTENT');
  return error;
}

// The statement a notation-go message names, if any: `statement "x"` or `same name "x"`.
function namedStatement(message: string): string | undefined {
  return /(?:statement|same name) ("(?:[^"\\]|\\.)*")/.exec(message)?.[1];
}

for (const c of derived.invalid) {
  test(`policy: derived invalid case ${c.id}`, (t) => {
    const error = expectInvalid(t, () => parserFor(c.kind)(JSON.stringify(c.document), `${c.id}.json`));
    t.true(error.message.startsWith(`${c.id}.json: `), 'the message names the source');
    const statement = namedStatement(c.expectedError!);
    if (statement !== undefined) t.true(error.message.includes(statement), `message names ${statement}: ${error.message}`);
  });
}

for (const c of derived.valid) {
  test(`policy: derived valid case ${c.id}`, (t) => {
    const policy = parserFor(c.kind)(JSON.stringify(c.document), `${c.id}.json`);
    t.is(policy.version, '1.0');
    t.true(policy.statements.length > 0);
  });
}

test('policy: derived valid cases parse DN escapes, custom RDNs and the S alias', (t) => {
  const byId = new Map(derived.valid.map((c) => [c.id, c]));
  const escapes = parseOciTrustPolicy(JSON.stringify(byId.get('valid-dn-escapes')!.document), 'x.json');
  const values = escapes.statements[0]!.x509Subjects.map((dn) => dn.attributes.get('O'));
  t.deepEqual(values, ['MyOrg', 'My.  Org', 'My "special" Org , ; \\ others']);
  const custom = parseOciTrustPolicy(JSON.stringify(byId.get('valid-dn-custom-rdn')!.document), 'x.json');
  t.is(custom.statements[0]!.x509Subjects[0]!.attributes.get('CustomRDN'), 'CustomValue');
  const alias = parseOciTrustPolicy(JSON.stringify(byId.get('valid-S-alias-for-ST')!.document), 'x.json');
  t.is(alias.statements[0]!.x509Subjects[0]!.attributes.get('ST'), 'WA');
  t.false(alias.statements[0]!.x509Subjects[0]!.attributes.has('S'));
});

// notation-cli-e2e/trustpolicies: README §1.3. Every file must be listed here.
const E2E_VALID = new Set([
  'any_registry_scope_trust_policy.json',
  'audit_trustpolicy.json',
  'generate_test_trustpolicy.json',
  'invalid_registry_scope_trustpolicy.json',
  'invalid_trust_store_trustpolicy.json',
  'invalid_trusted_identity_trustpolicy.json',
  'multi_statements_with_wildcard_registry_scope_trustpolicy.json',
  'multiple_registry_scope_trustpolicy.json',
  'multiple_trust_store_trustpolicy.json',
  'multiple_trusted_identity_trustpolicy.json',
  'overlapped_trust_store_trustpolicy.json',
  'override_audit_trustpolicy.json',
  'override_permissive_trustpolicy.json',
  'override_strict_trustpolicy.json',
  'permissive_trustpolicy.json',
  'quickstart_trustpolicy.json',
  'registry_scope_trustpolicy.json',
  'skip_trustpolicy.json',
  'timestamp_after_cert_expiry_trustpolicy.json',
  'timestamp_trustpolicy.json',
  'trustpolicy.json',
  'valid_trusted_identity_trustpolicy.json',
]);
const E2E_BLOB = new Set(['blob_trust_policy.json']);
// file → the part of notation's message that identifies the rule
const E2E_INVALID = new Map<string, string>([
  ['empty_registry_scope_trustpolicy.json', 'trust policy statement "e2e" has zero registry scopes'],
  ['empty_trusted_identity_trustpolicy.json', 'trust policy statement "e2e" has an empty trusted identity'],
  ['invalid_format_trustpolicy.json', 'malformed trust policy'],
  ['malformed_registry_scope_trustpolicy.json', 'registry scope "localhost:5000\\\\test-repo" is not valid'],
  [
    'malformed_trust_store_trustpolicy.json',
    'trust policy statement "e2e" uses an unsupported trust store name "" in trust store value "ca:"',
  ],
  [
    'malformed_trusted_identity_trustpolicy.json',
    'trust policy statement "e2e" has trusted identity "x509.subject CN=e2e,O=Notary,L=Seattle,ST=WA,C=US" missing separator',
  ],
  ['missing_country_trusted_identity_trustpolicy.json', 'has no mandatory RDN attribute for "C"'],
  [
    'missing_organization_trusted_identity_trustpolicy.json',
    'distinguished name (DN) " CN=e2e,L=Seattle,ST=WA,C=US" has no mandatory RDN attribute for "O"',
  ],
  ['missing_state_trusted_identity_trustpolicy.json', 'has no mandatory RDN attribute for "ST"'],
  [
    'multi_statements_with_multi_wildcard_registry_scope_trustpolicy.json',
    'registry scope "*" is present in multiple oci trust policy statements',
  ],
  ['multi_statements_with_the_same_name_trustpolicy.json', 'multiple oci trust policy statements use the same name "e2e"'],
  ['multi_statements_with_the_same_registry_scope_trustpolicy.json', 'registry scope "localhost:5000/test-repo8" is present in multiple'],
  ['overlapped_registry_scope_trustpolicy.json', 'registry scope "localhost:5000/test-repo6" is present in multiple'],
  ['overlapped_trusted_identity_trustpolicy.json', 'trust policy statement "e2e" has overlapping x509 trustedIdentities'],
  ['override_integrity_for_permissive_trustpolicy.json', '"integrity" verification can not be overridden'],
  ['unset_trust_store_trustpolicy.json', 'trust policy statement "e2e" is either missing trust stores or trusted identities'],
  ['unset_trusted_identity_trustpolicy.json', 'trust policy statement "e2e" is either missing trust stores or trusted identities'],
  ['wildcard_plus_other_registry_scope_trustpolicy.json', `statement "e2e" uses wildcard registry scope '*'`],
  ['wildcard_plus_other_trusted_identity_trustpolicy.json', `trust policy statement "e2e" uses a wildcard trusted identity '*'`],
  ['wildcard_trust_store_trustpolicy.json', 'trust policy statement "e2e" has malformed trust store value "*"'],
]);

test('policy: every e2e trust policy file has an expected outcome', (t) => {
  const files = readdirSync(E2E_POLICIES).sort();
  const known = new Set([...E2E_VALID, ...E2E_BLOB, ...E2E_INVALID.keys()]);
  t.deepEqual(
    files.filter((f) => !known.has(f)),
    [],
  );
  t.is(files.length, known.size);
});

for (const file of E2E_VALID) {
  test(`policy: e2e ${file} is valid`, (t) => {
    const policy = parseOciTrustPolicy(readFileSync(path.join(E2E_POLICIES, file)), file);
    t.is(policy.source, file);
    t.true(policy.statements.length >= 1);
  });
}

for (const [file, rule] of E2E_INVALID) {
  test(`policy: e2e ${file} is invalid`, (t) => {
    const error = expectInvalid(t, () => parseOciTrustPolicy(readFileSync(path.join(E2E_POLICIES, file)), file));
    t.true(error.message.startsWith(`${file}: `));
    t.true(error.message.includes(rule), error.message);
  });
}

test('policy: e2e blob_trust_policy.json is a valid blob policy and not an OCI one', (t) => {
  const bytes = readFileSync(path.join(E2E_POLICIES, 'blob_trust_policy.json'));
  const blob = parseBlobTrustPolicy(bytes, 'blob_trust_policy.json');
  t.deepEqual(
    blob.statements.map((s) => [s.name, s.level.name, s.globalPolicy]),
    [
      ['wabbit-networks-policy', 'strict', false],
      ['skip-verification-policy', 'skip', false],
      ['global-verification-policy', 'audit', true],
    ],
  );
  t.deepEqual(blob.statements[0]!.x509Subjects[0]!.attributes.get('OU'), 'Security Tools');
  const error = expectInvalid(t, () => parseOciTrustPolicy(bytes, 'blob_trust_policy.json'));
  t.true(error.message.includes('"wabbit-networks-policy" has zero registry scopes'));
});

test('policy: blob/trustpolicy.blob.json is a valid blob policy', (t) => {
  const blob = parseBlobTrustPolicy(
    readFileSync(path.join(VECTORS, 'notation-cli-e2e/blob/trustpolicy.blob.json')),
    'trustpolicy.blob.json',
  );
  t.is(findBlobStatement(blob)?.name, 'test-blob-global-statement');
  t.is(findBlobStatement(blob, 'test-blob-with-timestamping')?.verifyTimestamp, 'always');
  t.deepEqual(findBlobStatement(blob, 'test-blob-with-timestamping')?.trustStores, [
    { type: 'ca', name: 'e2e' },
    { type: 'tsa', name: 'e2e' },
  ]);
  t.is(findBlobStatement(blob, 'nope'), undefined);
  t.is(findBlobStatement(blob, '  '), undefined);
});

test('policy: overlapped trust stores are accepted and de-duplicated', (t) => {
  const policy = parseOciTrustPolicy(readFileSync(path.join(E2E_POLICIES, 'overlapped_trust_store_trustpolicy.json')), 'x');
  t.deepEqual(policy.statements[0]!.trustStores, [{ type: 'ca', name: 'e2e' }]);
});

test('policy: the parsed statement carries identities, stores and timestamp option', (t) => {
  const valid = parseOciTrustPolicy(readFileSync(path.join(E2E_POLICIES, 'valid_trusted_identity_trustpolicy.json')), 'x');
  const statement = valid.statements[0]!;
  t.false(statement.anyIdentity);
  t.is(statement.x509Subjects.length, 1);
  t.deepEqual(Object.fromEntries(statement.x509Subjects[0]!.attributes), { CN: 'e2e', O: 'Notary', L: 'Seattle', ST: 'WA', C: 'US' });
  t.is(statement.verifyTimestamp, 'always');

  const after = parseOciTrustPolicy(readFileSync(path.join(E2E_POLICIES, 'timestamp_after_cert_expiry_trustpolicy.json')), 'x');
  t.is(after.statements[0]!.verifyTimestamp, 'afterCertExpiry');
  t.true(after.statements[0]!.anyIdentity);
  t.deepEqual(after.statements[0]!.x509Subjects, []);
  t.deepEqual(referencedTrustStores(after), [
    { type: 'ca', name: 'e2e' },
    { type: 'tsa', name: 'e2e' },
  ]);
});

// ---- levels and overrides ------------------------------------------------------------------------

function doc(signatureVerification: unknown, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    version: '1.0',
    trustPolicies: [{ name: 'p', registryScopes: ['*'], signatureVerification, trustStores: ['ca:s'], trustedIdentities: ['*'], ...extra }],
  });
}

const E: CheckAction = 'enforce';
const L: CheckAction = 'log';
const S: CheckAction = 'skip';
const levelTable: Array<[string, unknown, LevelName, CheckAction[]]> = [
  // [title, signatureVerification, level name, [integrity, authenticity, authenticTimestamp, expiry, revocation]]
  ['strict', { level: 'strict' }, 'strict', [E, E, E, E, E]],
  ['permissive', { level: 'permissive' }, 'permissive', [E, E, L, L, L]],
  ['audit', { level: 'audit' }, 'audit', [E, L, L, L, L]],
  ['strict with revocation skipped', { level: 'strict', override: { revocation: 'skip' } }, 'strict', [E, E, E, E, S]],
  ['strict with expiry logged', { level: 'strict', override: { expiry: 'log' } }, 'strict', [E, E, E, L, E]],
  [
    'strict with everything logged (override_strict)',
    { level: 'strict', override: { revocation: 'log', expiry: 'log', authenticTimestamp: 'log', authenticity: 'log' } },
    'strict',
    [E, L, L, L, L],
  ],
  [
    'permissive enforced (override_permissive)',
    { level: 'permissive', override: { revocation: 'enforce', expiry: 'enforce', authenticTimestamp: 'enforce', authenticity: 'log' } },
    'permissive',
    [E, L, E, E, E],
  ],
  [
    'audit enforced (override_audit)',
    { level: 'audit', override: { revocation: 'enforce', expiry: 'enforce', authenticTimestamp: 'enforce', authenticity: 'enforce' } },
    'audit',
    [E, E, E, E, E],
  ],
  ['an empty override', { level: 'audit', override: {} }, 'audit', [E, L, L, L, L]],
];

for (const [title, sv, name, actions] of levelTable) {
  test(`policy: level ${title}`, (t) => {
    const statement = parseOciTrustPolicy(doc(sv), 'x').statements[0]!;
    t.is(statement.level.name, name);
    const e = statement.level.enforcement;
    t.deepEqual([e.integrity, e.authenticity, e.authenticTimestamp, e.expiry, e.revocation], actions);
  });
}

test('policy: level skip has no stores or identities and skips everything', (t) => {
  const policy = parseOciTrustPolicy(readFileSync(path.join(E2E_POLICIES, 'skip_trustpolicy.json')), 'x');
  const statement = policy.statements[0]!;
  t.is(statement.level.name, 'skip');
  t.deepEqual(Object.values(statement.level.enforcement), [S, S, S, S, S]);
  t.deepEqual(statement.trustStores, []);
  t.deepEqual(statement.trustedIdentities, []);
  // An empty override is not an override.
  t.notThrows(() =>
    parseOciTrustPolicy(
      JSON.stringify({
        version: '1.0',
        trustPolicies: [{ name: 'p', registryScopes: ['*'], signatureVerification: { level: 'skip', override: {} } }],
      }),
      'x',
    ),
  );
});

test('policy: override records only what was overridden', (t) => {
  const statement = parseOciTrustPolicy(doc({ level: 'strict', override: { revocation: 'skip', expiry: 'log' } }), 'x').statements[0]!;
  t.deepEqual(statement.override, { revocation: 'skip', expiry: 'log' });
});

const badOverrides: Array<[string, unknown, string]> = [
  [
    'integrity even with enforce',
    { level: 'strict', override: { integrity: 'enforce' } },
    '"integrity" verification can not be overridden',
  ],
  ['authenticity skip', { level: 'strict', override: { authenticity: 'skip' } }, '"authenticity" verification can not be skipped'],
  [
    'authenticTimestamp skip',
    { level: 'strict', override: { authenticTimestamp: 'skip' } },
    '"authenticTimestamp" verification can not be skipped',
  ],
  ['expiry skip', { level: 'strict', override: { expiry: 'skip' } }, '"expiry" verification can not be skipped'],
  [
    'an override on skip',
    { level: 'skip', override: { revocation: 'log' } },
    `signature verification level "skip" can't be used to customize`,
  ],
  [
    'an unknown type',
    { level: 'strict', override: { freshness: 'log' } },
    'verification type "freshness" in custom signature verification is not supported',
  ],
  [
    'an unknown action',
    { level: 'strict', override: { expiry: 'warn' } },
    'verification action "warn" in custom signature verification is not supported',
  ],
  ['a capitalised level', { level: 'Strict' }, 'invalid signature verification level "Strict"'],
  ['a missing level', {}, 'signature verification level is empty or missing'],
  [
    'a bad verifyTimestamp',
    { level: 'strict', verifyTimestamp: 'Always' },
    'verifyTimestamp must be "always" or "afterCertExpiry", but got "Always"',
  ],
];

for (const [title, sv, rule] of badOverrides) {
  test(`policy: rejects ${title}`, (t) => {
    const error = expectInvalid(t, () => parseOciTrustPolicy(doc(sv), 'policy.json'));
    t.true(error.message.includes('statement "p" has invalid signatureVerification'), error.message);
    t.true(error.message.includes(rule), error.message);
  });
}

// ---- Go encoding/json parity --------------------------------------------------------------------

test('policy: JSON keys match case-insensitively and unknown fields are ignored (Go decoder)', (t) => {
  const text = JSON.stringify({
    Version: '1.0',
    TRUSTPOLICIES: [
      {
        Name: 'p',
        registryscopes: ['*'],
        SignatureVerification: { LEVEL: 'audit', Override: { revocation: 'skip' } },
        trustStores: ['ca:s'],
        TrustedIdentities: ['*'],
        globalPolicy: 'not a bool, but unknown to OCI statements',
        comment: { anything: [1, 2, 3] },
      },
    ],
    extra: true,
  });
  const statement = parseOciTrustPolicy(text, 'x').statements[0]!;
  t.is(statement.name, 'p');
  t.is(statement.level.name, 'audit');
  t.is(statement.level.enforcement.revocation, 'skip');
});

test('policy: only the first JSON value is read, as json.Decoder.Decode does', (t) => {
  t.notThrows(() => parseOciTrustPolicy(`${doc({ level: 'strict' })} trailing garbage }`, 'x'));
});

test('policy: malformed JSON and wrong JSON types are INVALID_CONFIG', (t) => {
  for (const text of [
    '',
    '{',
    '{"version":"1.0",}',
    '\ufeff{}',
    '[]',
    '"1.0"',
    doc({ level: 1 }),
    doc({ level: 'strict' }, { trustStores: 'ca:s' }),
  ]) {
    const error = expectInvalid(t, () => parseOciTrustPolicy(text, 'bad.json'));
    t.true(error.message.startsWith('bad.json: malformed trust policy'), error.message);
  }
  // A bare null decodes to an empty document, as in Go.
  const error = expectInvalid(t, () => parseOciTrustPolicy('null', 'null.json'));
  t.true(error.message.includes('has empty version'));
});

test('policy: null leaves a string alone and empties a list (Go decoder)', (t) => {
  const text = `{"version":"1.0","version":null,"trustPolicies":[{"name":"p","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:s"],"trustStores":null,"trustedIdentities":["*"]}]}`;
  const error = expectInvalid(t, () => parseOciTrustPolicy(text, 'x'));
  t.true(error.message.includes('statement "p" is either missing trust stores or trusted identities'));
});

test('policy: accepts bytes as well as text', (t) => {
  const policy = parseOciTrustPolicy(new TextEncoder().encode(doc({ level: 'strict' })), 'x');
  t.is(policy.statements[0]!.name, 'p');
});

test('policy: validates the whole document before use', (t) => {
  const text = JSON.stringify({
    version: '1.0',
    trustPolicies: [
      {
        name: 'good',
        registryScopes: ['example.com/app'],
        signatureVerification: { level: 'strict' },
        trustStores: ['ca:s'],
        trustedIdentities: ['*'],
      },
      { name: 'bad', registryScopes: ['*'], signatureVerification: { level: 'strict' }, trustStores: ['ca:s'], trustedIdentities: [] },
    ],
  });
  const error = expectInvalid(t, () => parseOciTrustPolicy(text, 'x'));
  t.true(error.message.includes('"bad"'));
});

test('policy: a global blob statement at level skip is rejected (spec; notation-go accepts it)', (t) => {
  const text = JSON.stringify({
    version: '1.0',
    trustPolicies: [{ name: 'g', globalPolicy: true, signatureVerification: { level: 'skip' } }],
  });
  const error = expectInvalid(t, () => parseBlobTrustPolicy(text, 'blob.json'));
  t.true(error.message.includes('global blob trust policy statement cannot have verification level set to skip'));
});

// ---- scope selection ------------------------------------------------------------------------------

function scopesPolicy(order: 'wildcard-first' | 'exact-first'): OciTrustPolicy {
  const wildcard = {
    name: 'any',
    registryScopes: ['*'],
    signatureVerification: { level: 'audit' },
    trustStores: ['ca:s'],
    trustedIdentities: ['*'],
  };
  const exact = {
    name: 'exact',
    registryScopes: ['registry.example.com/team/app', 'localhost:5000/test-repo'],
    signatureVerification: { level: 'strict' },
    trustStores: ['ca:s'],
    trustedIdentities: ['*'],
  };
  const statements = order === 'wildcard-first' ? [wildcard, exact] : [exact, wildcard];
  return parseOciTrustPolicy(JSON.stringify({ version: '1.0', trustPolicies: statements }), 'x');
}

test('scope: an exact scope beats the wildcard, whatever the statement order', (t) => {
  for (const order of ['wildcard-first', 'exact-first'] as const) {
    const policy = scopesPolicy(order);
    t.is(findApplicableStatement(policy, 'registry.example.com/team/app')?.name, 'exact');
    t.is(findApplicableStatement(policy, 'localhost:5000/test-repo')?.name, 'exact');
    t.is(findApplicableStatement(policy, 'registry.example.com/team/other')?.name, 'any');
  }
});

test('scope: matching is exact on the repository: no prefixes, no sub-repositories', (t) => {
  const policy = parseOciTrustPolicy(readFileSync(path.join(E2E_POLICIES, 'registry_scope_trustpolicy.json')), 'x');
  const scope = policy.statements[0]!.registryScopes[0]!;
  t.is(findApplicableStatement(policy, scope)?.name, 'e2e');
  t.is(findApplicableStatement(policy, `${scope}/sub`), undefined);
  t.is(findApplicableStatement(policy, scope.slice(0, -1)), undefined);
  t.is(findApplicableStatement(policy, 'other.example.com/x'), undefined);
});

// The host is compared in canonical form on both sides (a deliberate difference from notation-go's
// string equality): a pod author who writes the host in capitals or pads the port pulls the same
// image, so must meet the same statement, never fall through to '*'.
test('scope: host spellings of the same repository meet the exact statement, not "*"', (t) => {
  for (const order of ['wildcard-first', 'exact-first'] as const) {
    const policy = scopesPolicy(order);
    for (const spelling of ['LOCALHOST:5000/test-repo', 'Localhost:5000/test-repo', 'localhost:05000/test-repo']) {
      t.is(findApplicableStatement(policy, spelling)?.name, 'exact', spelling);
    }
    for (const spelling of ['REGISTRY.example.com/team/app', 'registry.example.com:443/team/app']) {
      t.is(findApplicableStatement(policy, spelling)?.name, 'exact', spelling);
    }
    // A different port or repository is a different scope.
    t.is(findApplicableStatement(policy, 'localhost:5001/test-repo')?.name, 'any');
    t.is(findApplicableStatement(policy, 'registry.example.com:8443/team/app')?.name, 'any');
  }
});

test('scope: a scope written with another host spelling matches the canonical repository', (t) => {
  const policy = parseOciTrustPolicy(
    JSON.stringify({
      version: '1.0',
      trustPolicies: [
        {
          name: 'p',
          registryScopes: ['Registry.Example.com:0443/app', 'docker.io/alpine'],
          signatureVerification: { level: 'strict' },
          trustStores: ['ca:s'],
          trustedIdentities: ['*'],
        },
        { name: 'local', registryScopes: ['local/layout'], signatureVerification: { level: 'skip' } },
      ],
    }),
    'x',
  );
  t.deepEqual(policy.statements[0]!.registryScopes, ['Registry.Example.com:0443/app', 'docker.io/alpine']);
  t.is(findApplicableStatement(policy, 'registry.example.com/app')?.name, 'p');
  t.is(findApplicableStatement(policy, 'docker.io/library/alpine')?.name, 'p');
  t.is(findApplicableStatement(policy, 'local/layout')?.name, 'local');
});

test('scope: two spellings of one repository in different statements are refused', (t) => {
  const doc = {
    version: '1.0',
    trustPolicies: [
      {
        name: 'a',
        registryScopes: ['localhost:5000/app'],
        signatureVerification: { level: 'strict' },
        trustStores: ['ca:s'],
        trustedIdentities: ['*'],
      },
      {
        name: 'b',
        registryScopes: ['LOCALHOST:05000/app'],
        signatureVerification: { level: 'audit' },
        trustStores: ['ca:s'],
        trustedIdentities: ['*'],
      },
    ],
  };
  t.throws(() => parseOciTrustPolicy(JSON.stringify(doc), 'x'), { code: 'INVALID_CONFIG' });
});

test('scope: multi-statement e2e policy selects the exact statement over "*"', (t) => {
  const policy = parseOciTrustPolicy(
    readFileSync(path.join(E2E_POLICIES, 'multi_statements_with_wildcard_registry_scope_trustpolicy.json')),
    'x',
  );
  const exact = policy.statements.find((s) => !s.registryScopes.includes('*'))!;
  const wildcard = policy.statements.find((s) => s.registryScopes.includes('*'))!;
  t.is(findApplicableStatement(policy, exact.registryScopes[0]!), exact);
  t.is(findApplicableStatement(policy, 'localhost:5000/somewhere-else'), wildcard);
});

test('scope: a repository notation could not parse is INVALID_REFERENCE even under "*"', (t) => {
  const policy = scopesPolicy('exact-first');
  for (const bad of ['Registry.example.com/Team/App', 'no-slash', '[::1]:5000/app', 'example.com/app:tag']) {
    t.throws(() => findApplicableStatement(policy, bad), { instanceOf: VouchError, code: 'INVALID_REFERENCE' });
  }
});

test('scope: artifactPathFromReference takes everything before the last "@"', (t) => {
  const digest = `sha256:${'a'.repeat(64)}`;
  t.is(artifactPathFromReference(`localhost:5000/net-monitor@${digest}`), 'localhost:5000/net-monitor');
  t.throws(() => artifactPathFromReference('localhost:5000/net-monitor:v1'), { instanceOf: VouchError, code: 'INVALID_REFERENCE' });
});

// ---- files ----------------------------------------------------------------------------------------

test('policy: readOciTrustPolicyFile reads a file and refuses symlinks and missing files', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vouch-policy-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'trustpolicy.json');
  await writeFile(file, readFileSync(path.join(E2E_POLICIES, 'trustpolicy.json')));
  t.is((await readOciTrustPolicyFile(file)).statements[0]!.name, 'e2e');

  const link = path.join(dir, 'link.json');
  await symlink(file, link);
  const error = await t.throwsAsync(readOciTrustPolicyFile(link), { instanceOf: VouchError, code: 'INVALID_CONFIG' });
  t.is(error.reason, 'BAD_CONTENT');
  t.true(error.message.includes('symlinks are not supported'));

  await t.throwsAsync(readOciTrustPolicyFile(path.join(dir, 'missing.json')), { instanceOf: VouchError, code: 'INVALID_CONFIG' });
});
