import test from 'ava';
import { cp, mkdir, mkdtemp, rm, symlink, writeFile, readFile, utimes } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { VouchError } from '../../../src/core/index.js';
import {
  FileTrustStore,
  parseOciTrustPolicy,
  readCertificateFile,
  referencedTrustStores,
  scanTrustStore,
  TRUST_STORE_NOT_FOUND,
  TrustStoreSnapshot,
  validateTrustStoreReferences,
  type TrustStoreType,
} from '../../../src/trust/index.js';
import { NOTATION_VECTORS as VECTORS } from '../../helpers/fixtures.js';

const STORE_ROOT = path.join(VECTORS, 'notation-go/truststore');
const X509 = path.join(STORE_ROOT, 'x509');

const vectors = new FileTrustStore(STORE_ROOT);

async function expectStoreError(
  t: import('ava').ExecutionContext,
  store: FileTrustStore,
  type: TrustStoreType,
  name: string,
  reason: string,
): Promise<VouchError> {
  const error = await t.throwsAsync(store.getCertificates(type, name), { instanceOf: VouchError });
  t.is(error.code, 'INVALID_CONFIG');
  t.is(error.reason as string, reason);
  return error;
}

/** A fresh temporary store root holding copies of the named vector stores. */
async function tempRoot(t: import('ava').ExecutionContext, stores: Array<[TrustStoreType, string]> = []): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'vouch-truststore-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  for (const type of ['ca', 'signingAuthority', 'tsa']) await mkdir(path.join(root, 'x509', type), { recursive: true });
  for (const [type, name] of stores) await cp(path.join(X509, type, name), path.join(root, 'x509', type, name), { recursive: true });
  return root;
}

// ---- the vectors (README §2.1) -----------------------------------------------------------------------

const validStores: Array<[TrustStoreType, string, number]> = [
  ['ca', 'valid-trust-store', 6],
  ['ca', 'valid-trust-store-2', 2],
  ['ca', 'valid-trust-store-self-signed', 1],
  ['signingAuthority', 'valid-trust-store', 3],
  ['signingAuthority', 'valid-trust-store-2', 2],
  ['tsa', 'test-timestamp', 1],
  ['tsa', 'test-mismatch', 1],
];

for (const [type, name, count] of validStores) {
  test(`store: ${type}/${name} loads ${count} certificates`, async (t) => {
    const certs = await vectors.getCertificates(type, name);
    t.is(certs.length, count);
  });
}

test('store: DER and PEM files are both read, whatever the extension; duplicates are kept', async (t) => {
  const certs = await vectors.getCertificates('ca', 'valid-trust-store-2');
  // GlobalSign.der and GlobalSignRootCA.crt hold the same certificate.
  t.true(certs[0]!.equals(certs[1]!));
  t.regex(certs[0]!.subject, /GlobalSign/);
});

test('store: self-signed leaf certificates are allowed in a ca store', async (t) => {
  const certs = await vectors.getCertificates('ca', 'valid-trust-store');
  const leaves = certs.filter((cert) => !cert.isCA);
  t.is(leaves.length, 3); // TestTimestamp, TestTimestampNotYetValid, wabbit-networks.io
  t.true(leaves.every((cert) => cert.isSignedBy(cert)));
});

test('store: a file that is not a certificate is an error (no extension needed)', async (t) => {
  const error = await expectStoreError(t, vectors, 'ca', 'trust-store-with-invalid-certs', 'BAD_CONTENT');
  t.true(error.message.includes('failed to read the trusted certificate invalid in trust store trust-store-with-invalid-certs of type ca'));
});

test('store: a leaf issued by another CA is refused in a ca store', async (t) => {
  const error = await expectStoreError(t, vectors, 'ca', 'trust-store-with-leaf-certs', 'BAD_CONTENT');
  t.true(error.message.includes('non-ca.crt'));
  t.true(
    error.message.includes(
      'certificate with subject "CN=wabbit-networks.io,O=Notary,L=Seattle,ST=WA,C=US" is not a CA certificate or self-signed signing certificate',
    ),
  );
});

test('store: a leaf inside a PEM bundle is refused too', async (t) => {
  const error = await expectStoreError(t, vectors, 'ca', 'trust-store-with-leaf-certs-in-single-file', 'BAD_CONTENT');
  t.true(error.message.includes('RootAndLeafCerts.crt'));
});

test('store: tsa certificates must be self-signed root CAs', async (t) => {
  const nonCa = await expectStoreError(t, vectors, 'tsa', 'test-nonCA', 'BAD_CONTENT');
  t.true(nonCa.message.includes('trusted certificate wabbit-networks.io.crt in trust store test-nonCA of type tsa is invalid'));
  t.true(nonCa.message.includes('is not a root CA certificate'));
  const nonSelfIssued = await expectStoreError(t, vectors, 'tsa', 'test-nonSelfIssued', 'BAD_CONTENT');
  t.true(
    nonSelfIssued.message.includes(
      'issuer (CN=Notation Test Revokable RSA Chain Cert Root,O=Notary,L=Seattle,ST=WA,C=US) and subject (CN=Notation Test Revokable RSA Chain Cert 2,O=Notary,L=Seattle,ST=WA,C=US) are not the same',
    ),
  );
});

test('store: the same certificate is fine in a ca store but not in a tsa store', async (t) => {
  const root = await tempRoot(t, [['tsa', 'test-nonCA']]);
  await cp(path.join(X509, 'tsa', 'test-nonCA'), path.join(root, 'x509', 'ca', 'test-nonCA'), { recursive: true });
  const store = new FileTrustStore(root, { recheckIntervalMs: 0 });
  t.is((await store.getCertificates('ca', 'test-nonCA')).length, 1);
  await expectStoreError(t, store, 'tsa', 'test-nonCA', 'BAD_CONTENT');
});

test('store: a missing store is NOT_FOUND', async (t) => {
  const error = await expectStoreError(t, vectors, 'ca', 'does-not-exist', TRUST_STORE_NOT_FOUND);
  t.true(error.message.startsWith('the trust store "does-not-exist" of type "ca" does not exist'));
  t.true(error.message.includes(path.join(X509, 'ca', 'does-not-exist')));
  await expectStoreError(t, vectors, 'tsa', 'valid-trust-store', TRUST_STORE_NOT_FOUND);
});

test('store: bad store types and names are refused before touching the filesystem', async (t) => {
  await expectStoreError(t, vectors, 'CA' as TrustStoreType, 'valid-trust-store', 'BAD_CONTENT');
  await expectStoreError(t, vectors, 'ca', '../ca/valid-trust-store', 'BAD_CONTENT');
  await expectStoreError(t, vectors, 'ca', '', 'BAD_CONTENT');
});

test('store: the vectors\' "_SYMLINK" entries are plain files and read as such (not real symlinks)', async (t) => {
  const error = await expectStoreError(t, vectors, 'ca', 'valid-trust-store_SYMLINK', 'BAD_CONTENT');
  t.true(error.message.includes('failed to read the trusted certificate valid-trust-store_SYMLINK'));
});

// ---- real symlinks, sub-directories and other layouts in a temporary copy --------------------------

test('store: a symlinked store directory is refused', async (t) => {
  const root = await tempRoot(t, [['ca', 'valid-trust-store']]);
  await symlink(path.join(root, 'x509', 'ca', 'valid-trust-store'), path.join(root, 'x509', 'ca', 'linked'));
  const store = new FileTrustStore(root, { recheckIntervalMs: 0 });
  t.is((await store.getCertificates('ca', 'valid-trust-store')).length, 6);
  const error = await expectStoreError(t, store, 'ca', 'linked', 'BAD_CONTENT');
  t.true(error.message.includes('is not a regular directory (symlinks are not supported)'));
});

test('store: a symlinked certificate file is refused', async (t) => {
  const root = await tempRoot(t, [['ca', 'valid-trust-store-self-signed']]);
  const dir = path.join(root, 'x509', 'ca', 'valid-trust-store-self-signed');
  await symlink(path.join(X509, 'ca', 'valid-trust-store', 'NotationTestRoot.pem'), path.join(dir, 'root.pem'));
  const error = await expectStoreError(
    t,
    new FileTrustStore(root, { recheckIntervalMs: 0 }),
    'ca',
    'valid-trust-store-self-signed',
    'BAD_CONTENT',
  );
  t.true(
    error.message.includes('trusted certificate root.pem in trust store valid-trust-store-self-signed of type ca is not a regular file'),
  );
});

test('store: a sub-directory inside a store is refused (notation-go parity)', async (t) => {
  const root = await tempRoot(t, [['ca', 'valid-trust-store-2']]);
  await mkdir(path.join(root, 'x509', 'ca', 'valid-trust-store-2', 'sub-dir'));
  const error = await expectStoreError(t, new FileTrustStore(root, { recheckIntervalMs: 0 }), 'ca', 'valid-trust-store-2', 'BAD_CONTENT');
  t.true(error.message.includes('trusted certificate sub-dir in trust store valid-trust-store-2 of type ca is not a regular file'));
});

test('store: a store that is a file is refused', async (t) => {
  const root = await tempRoot(t);
  await writeFile(path.join(root, 'x509', 'ca', 'file'), 'x');
  await expectStoreError(t, new FileTrustStore(root, { recheckIntervalMs: 0 }), 'ca', 'file', 'BAD_CONTENT');
});

test('store: an empty store and an empty file are refused', async (t) => {
  const root = await tempRoot(t);
  await mkdir(path.join(root, 'x509', 'ca', 'empty'));
  await mkdir(path.join(root, 'x509', 'ca', 'empty-file'));
  await writeFile(path.join(root, 'x509', 'ca', 'empty-file', 'cert.pem'), '');
  const store = new FileTrustStore(root, { recheckIntervalMs: 0 });
  const empty = await expectStoreError(t, store, 'ca', 'empty', 'BAD_CONTENT');
  t.is(empty.message, 'no x509 certificates were found in trust store "empty" of type "ca"');
  const emptyFile = await expectStoreError(t, store, 'ca', 'empty-file', 'BAD_CONTENT');
  t.true(emptyFile.message.includes('cert.pem'));
});

test('store: PEM bundles, concatenated DER and text around PEM blocks', async (t) => {
  const root = await tempRoot(t);
  const dir = path.join(root, 'x509', 'ca', 'mixed');
  await mkdir(dir);
  const pemRoot = await readFile(path.join(X509, 'ca', 'valid-trust-store', 'NotationTestRoot.pem'));
  const pemSelfSigned = await readFile(path.join(X509, 'ca', 'valid-trust-store', 'wabbit-networks.io.crt'));
  const der = await readFile(path.join(X509, 'ca', 'valid-trust-store', 'GlobalSign.der'));
  await writeFile(path.join(dir, 'bundle'), Buffer.concat([Buffer.from('comment line\n'), pemRoot, pemSelfSigned]));
  await writeFile(path.join(dir, 'two.der'), Buffer.concat([der, der]));
  const store = new FileTrustStore(root, { recheckIntervalMs: 0 });
  t.is((await store.getCertificates('ca', 'mixed')).length, 4);

  // A PEM file with a non-certificate block is an error, as in notation-core-go.
  await writeFile(path.join(dir, 'key.pem'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
  await expectStoreError(t, store, 'ca', 'mixed', 'BAD_CONTENT');
});

test('store: readCertificateFile follows notation-core-go', async (t) => {
  const der = await readFile(path.join(X509, 'ca', 'valid-trust-store', 'GlobalSign.der'));
  t.is(readCertificateFile(der).length, 1);
  t.deepEqual(readCertificateFile(new Uint8Array()), []);
  t.throws(() => readCertificateFile(Buffer.concat([der, Buffer.from('junk')])));
  t.throws(() => readCertificateFile(Buffer.from('not a certificate')));
});

// ---- scanTrustStore: file by file, for trust withdrawal ------------------------------------------------

test("scanTrustStore: a valid store gives notation's certificates, all of them usable", async (t) => {
  const scan = await scanTrustStore(STORE_ROOT, 'ca', 'valid-trust-store');
  t.is(scan.directory, path.join(X509, 'ca', 'valid-trust-store'));
  t.true('certificates' in scan.result);
  t.is(scan.usable.length, 6);
  const strict = await vectors.getCertificates('ca', 'valid-trust-store');
  t.true(scan.usable.every((cert, i) => cert.equals(strict[i]!)));
});

test("scanTrustStore: a broken store gives notation's error and the certificates of every file still valid on its own", async (t) => {
  const root = await tempRoot(t, [['ca', 'valid-trust-store-2']]);
  const dir = path.join(root, 'x509', 'ca', 'valid-trust-store-2');
  const valid = await scanTrustStore(root, 'ca', 'valid-trust-store-2');
  t.is(valid.usable.length, 2);

  await writeFile(path.join(dir, 'GlobalSign.der'), ''); // truncated
  await writeFile(path.join(dir, 'junk.pem'), 'not a certificate');
  await mkdir(path.join(dir, 'sub'));
  await cp(path.join(X509, 'ca', 'trust-store-with-leaf-certs', 'non-ca.crt'), path.join(dir, 'leaf.crt'));
  const broken = await scanTrustStore(root, 'ca', 'valid-trust-store-2');
  t.true('error' in broken.result);
  if ('error' in broken.result) {
    t.is(broken.result.error.code, 'INVALID_CONFIG');
    t.is(broken.result.error.reason, 'BAD_CONTENT');
  }
  t.is(broken.usable.length, 1, 'only GlobalSignRootCA.crt is still valid');
  t.true(broken.usable[0]!.equals(valid.usable[1]!));
  // FileTrustStore (notation's rule) refuses the whole store.
  await expectStoreError(t, new FileTrustStore(root, { recheckIntervalMs: 0 }), 'ca', 'valid-trust-store-2', 'BAD_CONTENT');
});

test('scanTrustStore: a missing store, an empty one and a tsa file that is not a root CA have nothing usable', async (t) => {
  const root = await tempRoot(t, [['tsa', 'test-nonCA']]);
  const missing = await scanTrustStore(root, 'ca', 'missing');
  t.true('error' in missing.result && missing.result.error.reason === TRUST_STORE_NOT_FOUND);
  t.deepEqual(missing.usable, []);
  await mkdir(path.join(root, 'x509', 'ca', 'empty'));
  const empty = await scanTrustStore(root, 'ca', 'empty');
  t.true('error' in empty.result);
  t.deepEqual(empty.usable, []);
  const tsa = await scanTrustStore(root, 'tsa', 'test-nonCA');
  t.true('error' in tsa.result);
  t.deepEqual(tsa.usable, []);
  await t.throwsAsync(scanTrustStore(root, 'ca', '../escape'), { instanceOf: VouchError });
});

test('TrustStoreSnapshot: serves what it was given, never the filesystem; withdrawn stores are reported', async (t) => {
  const certs = await vectors.getCertificates('ca', 'valid-trust-store-2');
  const withdrawn = new VouchError('INVALID_CONFIG', 'withdrawn', { reason: 'WITHDRAWN' });
  const broken = new VouchError('INVALID_CONFIG', 'broken', { reason: 'BAD_CONTENT' });
  const snapshot = new TrustStoreSnapshot([
    [{ type: 'ca', name: 'good' }, { certificates: certs }],
    [{ type: 'tsa', name: 'gone' }, { error: withdrawn }],
    [{ type: 'ca', name: 'broken' }, { error: broken }],
  ]);
  t.is((await snapshot.getCertificates('ca', 'good')).length, 2);
  (await snapshot.getCertificates('ca', 'good')).pop(); // callers get a copy
  t.is((await snapshot.getCertificates('ca', 'good')).length, 2);
  t.is(await t.throwsAsync(snapshot.getCertificates('tsa', 'gone')), withdrawn);
  t.is(snapshot.withdrawal('tsa', 'gone'), withdrawn);
  t.is(snapshot.withdrawal('ca', 'broken'), undefined, 'only WITHDRAWN is a withdrawal');
  t.is(snapshot.withdrawal('ca', 'good'), undefined);
  const missing = await t.throwsAsync(snapshot.getCertificates('signingAuthority', 'good'), { instanceOf: VouchError });
  t.is(missing?.reason, TRUST_STORE_NOT_FOUND);
  await t.throwsAsync(snapshot.getCertificates('ca', 'bad/name'), { instanceOf: VouchError });
});

// ---- caching ---------------------------------------------------------------------------------------

test('store: results are cached and reloaded when a file changes', async (t) => {
  const root = await tempRoot(t, [['ca', 'valid-trust-store-2']]);
  const dir = path.join(root, 'x509', 'ca', 'valid-trust-store-2');
  const store = new FileTrustStore(root, { recheckIntervalMs: 0 });

  const first = await store.getCertificates('ca', 'valid-trust-store-2');
  t.is(first.length, 2);
  const generation = store.generation();
  t.is(store.generation(), generation);
  t.is((await store.getCertificates('ca', 'valid-trust-store-2')).length, 2);
  t.is(store.generation(), generation, 'no change, same generation');

  // Replace one file's content with a different certificate.
  await writeFile(path.join(dir, 'GlobalSign.der'), await readFile(path.join(X509, 'ca', 'valid-trust-store', 'NotationTestRoot.pem')));
  const second = await store.getCertificates('ca', 'valid-trust-store-2');
  t.is(second.length, 2);
  t.regex(second[0]!.subject, /Notation Test Root/);
  t.true(store.generation() > generation);

  // Touching a file reloads it but the contents are the same: the generation does not move.
  const afterChange = store.generation();
  const later = new Date(Date.now() + 5_000);
  await utimes(path.join(dir, 'GlobalSignRootCA.crt'), later, later);
  t.is((await store.getCertificates('ca', 'valid-trust-store-2')).length, 2);
  t.is(store.generation(), afterChange);

  // A new file is picked up.
  await writeFile(path.join(dir, 'extra.pem'), await readFile(path.join(X509, 'ca', 'valid-trust-store', 'wabbit-networks.io.crt')));
  t.is((await store.getCertificates('ca', 'valid-trust-store-2')).length, 3);
  t.true(store.generation() > afterChange);
});

test('store: a store that breaks, disappears and comes back is noticed', async (t) => {
  const root = await tempRoot(t, [['ca', 'valid-trust-store-self-signed']]);
  const dir = path.join(root, 'x509', 'ca', 'valid-trust-store-self-signed');
  const store = new FileTrustStore(root, { recheckIntervalMs: 0 });
  t.is((await store.getCertificates('ca', 'valid-trust-store-self-signed')).length, 1);

  await writeFile(path.join(dir, 'junk'), 'junk');
  await expectStoreError(t, store, 'ca', 'valid-trust-store-self-signed', 'BAD_CONTENT');
  const broken = store.generation();

  await rm(dir, { recursive: true });
  await expectStoreError(t, store, 'ca', 'valid-trust-store-self-signed', TRUST_STORE_NOT_FOUND);
  t.true(store.generation() > broken);

  await cp(path.join(X509, 'ca', 'valid-trust-store-self-signed'), dir, { recursive: true });
  t.is((await store.getCertificates('ca', 'valid-trust-store-self-signed')).length, 1);
});

test('store: refresh() re-checks every store loaded so far', async (t) => {
  const root = await tempRoot(t, [['ca', 'valid-trust-store-2']]);
  const store = new FileTrustStore(root, { recheckIntervalMs: 0 });
  await store.getCertificates('ca', 'valid-trust-store-2');
  const generation = store.generation();
  t.is(await store.refresh(), generation);
  await rm(path.join(root, 'x509', 'ca', 'valid-trust-store-2', 'GlobalSign.der'));
  t.true((await store.refresh()) > generation);
  t.is((await store.getCertificates('ca', 'valid-trust-store-2')).length, 1);
});

test('store: an aborted signal stops loading', async (t) => {
  const controller = new AbortController();
  controller.abort();
  const error = await t.throwsAsync(vectors.getCertificates('ca', 'valid-trust-store', { signal: controller.signal }), {
    instanceOf: VouchError,
  });
  t.is(error.code, 'DEADLINE_EXCEEDED');
  t.is(error.reason, 'ABORTED');
});

// ---- up-front validation of what a policy references ------------------------------------------------

test('store: validateReferences loads every store a policy references', async (t) => {
  const policy = (stores: string[]) =>
    parseOciTrustPolicy(
      JSON.stringify({
        version: '1.0',
        trustPolicies: [
          { name: 'p', registryScopes: ['*'], signatureVerification: { level: 'strict' }, trustStores: stores, trustedIdentities: ['*'] },
        ],
      }),
      'policy.json',
    );
  const good = referencedTrustStores(policy(['ca:valid-trust-store', 'signingAuthority:valid-trust-store', 'tsa:test-timestamp']));
  await t.notThrowsAsync(vectors.validateReferences(good));
  await t.notThrowsAsync(validateTrustStoreReferences(vectors, good));

  const missing = await t.throwsAsync(
    vectors.validateReferences(referencedTrustStores(policy(['ca:valid-trust-store', 'tsa:does-not-exist']))),
    {
      instanceOf: VouchError,
    },
  );
  t.is(missing.reason, TRUST_STORE_NOT_FOUND);
  t.true(missing.message.includes('"does-not-exist" of type "tsa"'));

  const broken = await t.throwsAsync(vectors.validateReferences(referencedTrustStores(policy(['ca:trust-store-with-leaf-certs']))), {
    instanceOf: VouchError,
  });
  t.is(broken.reason, 'BAD_CONTENT');
});

test('store: within the recheck interval a loaded store is reused without looking at the filesystem', async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'vouch-store-interval-'));
  const dir = path.join(root, 'x509', 'ca', 'pinned');
  await mkdir(dir, { recursive: true });
  await cp(path.join(STORE_ROOT, 'x509', 'ca', 'valid-trust-store', 'NotationTestRoot.pem'), path.join(dir, 'root.pem'));
  const store = new FileTrustStore(root, { recheckIntervalMs: 60_000 });
  t.is((await store.getCertificates('ca', 'pinned')).length, 1);
  await rm(dir, { recursive: true });
  // still served from memory: the interval has not passed
  t.is((await store.getCertificates('ca', 'pinned')).length, 1);
  // refresh() always looks
  await store.refresh();
  await t.throwsAsync(store.getCertificates('ca', 'pinned'), { code: 'INVALID_CONFIG' });
});

// notation-cli-e2e/timestamp/: what `notation cert add --type tsa` accepts and refuses.
const E2E_TSA = path.join(VECTORS, 'notation-cli-e2e/timestamp');
for (const [file, ok] of [
  ['DigiCertTSARootSHA384.cer', true],
  ['globalsignTSARoot.cer', true],
  ['CertChain.pem', false],
  ['intermediate.pem', false],
  ['notSelfIssued.crt', false],
  ['invalid.crt', false],
  ['Empty.txt', false],
] as const) {
  test(`store: tsa store holding e2e timestamp/${file} is ${ok ? 'accepted' : 'refused'}`, async (t) => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'vouch-store-tsa-'));
    const dir = path.join(root, 'x509', 'tsa', 'e2e');
    await mkdir(dir, { recursive: true });
    await cp(path.join(E2E_TSA, file), path.join(dir, file));
    const store = new FileTrustStore(root);
    if (ok) {
      t.is((await store.getCertificates('tsa', 'e2e')).length, 1);
    } else {
      const error = await t.throwsAsync(store.getCertificates('tsa', 'e2e'), { instanceOf: VouchError });
      t.is(error?.code, 'INVALID_CONFIG');
    }
  });
}
