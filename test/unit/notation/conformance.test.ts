// Conformance with notation on the real vectors in ../shared/vectors/notation: every case whose
// README gives an expected outcome produces that outcome here. Trust stores are assembled in a
// temporary directory from the vectors' certificates at run time (nothing is copied into the repo).

import test from 'ava';
import { copyFile, mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { AnswerCode } from '../../../src/core/index.js';
import { OciLayoutSource } from '../../../src/oci/index.js';
import { NotationVerifier } from '../../../src/notation/verifier.js';
import { verifyNotationArtifact } from '../../../src/notation/verify-artifact.js';
import { RevocationChecker } from '../../../src/notation/revocation.js';
import { FileTrustStore, parseOciTrustPolicy } from '../../../src/trust/index.js';

const VECTORS = resolve(process.cwd(), '../shared/vectors/notation');
const E2E = join(VECTORS, 'notation-cli-e2e');
const LAYOUTS = join(E2E, 'oci_layout');
const POLICIES = join(E2E, 'trustpolicies');

/** A trust store directory with x509/<type>/<name>/ holding the given vector files. */
async function trustStore(stores: Record<string, string[]>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'vouch-truststore-'));
  for (const [ref, files] of Object.entries(stores)) {
    const [type, name] = ref.split(':') as [string, string];
    const dir = join(root, 'x509', type, name);
    await mkdir(dir, { recursive: true });
    for (const file of files) await copyFile(file, join(dir, basename(file)));
  }
  return root;
}

async function policyFile(name: string) {
  const path = join(POLICIES, name);
  return parseOciTrustPolicy(await readFile(path), path);
}

function policyDoc(statement: Record<string, unknown>) {
  const doc = { version: '1.0', trustPolicies: [{ name: 'test', registryScopes: ['*'], ...statement }] };
  return parseOciTrustPolicy(JSON.stringify(doc), 'inline policy');
}

const e2eCert = join(E2E, 'localkeys', 'e2e.crt');
const newE2eCert = join(E2E, 'localkeys', 'new_e2e.crt');
const expiredE2eCert = join(E2E, 'localkeys', 'expired_e2e.crt');

interface LayoutCase {
  title: string;
  layout: string;
  policy: string | Record<string, unknown>;
  store: Record<string, string[]>;
  expect: { verified: true } | { verified: false; code: AnswerCode };
  now?: string;
}

const layoutCases: LayoutCase[] = [
  {
    title: 'unsigned image',
    layout: 'e2e',
    policy: 'trustpolicy.json',
    store: { 'ca:e2e': [e2eCert] },
    expect: { verified: false, code: 'NO_SIGNATURE' },
  },
  {
    title: 'valid signature, default policy',
    layout: 'e2e-valid-signature',
    policy: 'trustpolicy.json',
    store: { 'ca:e2e': [e2eCert] },
    expect: { verified: true },
  },
  {
    title: 'valid signature, same key but another certificate in the store',
    layout: 'e2e-valid-signature',
    policy: 'trustpolicy.json',
    store: { 'ca:e2e': [newE2eCert] },
    expect: { verified: false, code: 'UNTRUSTED_SIGNER' },
  },
  {
    title: 'untrusted certificate under audit is only logged',
    layout: 'e2e-valid-signature',
    policy: 'audit_trustpolicy.json',
    store: { 'ca:e2e': [newE2eCert] },
    expect: { verified: true },
  },
  {
    title: 'untrusted certificate under permissive is enforced',
    layout: 'e2e-valid-signature',
    policy: 'permissive_trustpolicy.json',
    store: { 'ca:e2e': [newE2eCert] },
    expect: { verified: false, code: 'UNTRUSTED_SIGNER' },
  },
  {
    title: 'matching trusted identity',
    layout: 'e2e-valid-signature',
    policy: 'valid_trusted_identity_trustpolicy.json',
    store: { 'ca:e2e': [e2eCert] },
    expect: { verified: true },
  },
  {
    title: 'non-matching trusted identity',
    layout: 'e2e-valid-signature',
    policy: 'invalid_trusted_identity_trustpolicy.json',
    store: { 'ca:e2e': [e2eCert] },
    expect: { verified: false, code: 'UNTRUSTED_SIGNER' },
  },
  {
    title: 'one of multiple trusted identities',
    layout: 'e2e-valid-signature',
    policy: 'multiple_trusted_identity_trustpolicy.json',
    store: { 'ca:e2e': [e2eCert] },
    expect: { verified: true },
  },
  {
    title: 'trust store that does not exist',
    layout: 'e2e-valid-signature',
    policy: 'invalid_trust_store_trustpolicy.json',
    store: { 'ca:e2e': [e2eCert] },
    expect: { verified: false, code: 'UNTRUSTED_SIGNER' },
  },
  {
    title: 'one of multiple trust stores',
    layout: 'e2e-valid-signature',
    policy: 'multiple_trust_store_trustpolicy.json',
    store: { 'ca:e2e': [newE2eCert], 'ca:e2e-new': [e2eCert] },
    expect: { verified: true },
  },
  {
    title: 'duplicate trust stores are accepted',
    layout: 'e2e-valid-signature',
    policy: 'overlapped_trust_store_trustpolicy.json',
    store: { 'ca:e2e': [e2eCert] },
    expect: { verified: true },
  },
  {
    title: 'multiple signatures: the trusted one wins',
    layout: 'e2e-valid-multiple-signatures',
    policy: 'trustpolicy.json',
    store: { 'ca:e2e': [e2eCert] },
    expect: { verified: true },
  },
  {
    title: 'expired signature, strict',
    layout: 'e2e-expired-signature',
    policy: 'trustpolicy.json',
    store: { 'ca:e2e': [e2eCert] },
    expect: { verified: false, code: 'EXPIRED' },
  },
  {
    title: 'expired signature, permissive logs',
    layout: 'e2e-expired-signature',
    policy: 'permissive_trustpolicy.json',
    store: { 'ca:e2e': [e2eCert] },
    expect: { verified: true },
  },
  {
    title: 'expired signature, audit logs',
    layout: 'e2e-expired-signature',
    policy: 'audit_trustpolicy.json',
    store: { 'ca:e2e': [e2eCert] },
    expect: { verified: true },
  },
  {
    title: 'expired signature, strict with every override logged',
    layout: 'e2e-expired-signature',
    policy: 'override_strict_trustpolicy.json',
    store: { 'ca:e2e': [e2eCert] },
    expect: { verified: true },
  },
  {
    title: 'expired signature, permissive with enforcing overrides',
    layout: 'e2e-expired-signature',
    policy: 'override_permissive_trustpolicy.json',
    store: { 'ca:e2e': [e2eCert] },
    expect: { verified: false, code: 'EXPIRED' },
  },
  {
    title: 'expired signature, audit with enforcing overrides',
    layout: 'e2e-expired-signature',
    policy: 'override_audit_trustpolicy.json',
    store: { 'ca:e2e': [e2eCert] },
    expect: { verified: false, code: 'EXPIRED' },
  },
  {
    title: 'expired certificate, strict',
    layout: 'e2e-with-expired-cert',
    policy: 'trustpolicy.json',
    store: { 'ca:e2e': [expiredE2eCert] },
    expect: { verified: false, code: 'EXPIRED' },
  },
  {
    title: 'expired certificate, permissive logs',
    layout: 'e2e-with-expired-cert',
    policy: 'permissive_trustpolicy.json',
    store: { 'ca:e2e': [expiredE2eCert] },
    expect: { verified: true },
  },
  {
    title: 'expired certificate, strict with overrides logged',
    layout: 'e2e-with-expired-cert',
    policy: 'override_strict_trustpolicy.json',
    store: { 'ca:e2e': [expiredE2eCert] },
    expect: { verified: true },
  },
  {
    title: 'expired certificate, audit with enforcing overrides',
    layout: 'e2e-with-expired-cert',
    policy: 'override_audit_trustpolicy.json',
    store: { 'ca:e2e': [expiredE2eCert] },
    expect: { verified: false, code: 'EXPIRED' },
  },
  {
    title: 'untrusted certificate, audit with enforcing overrides',
    layout: 'e2e-valid-signature',
    policy: 'override_audit_trustpolicy.json',
    store: { 'ca:e2e': [newE2eCert] },
    expect: { verified: false, code: 'UNTRUSTED_SIGNER' },
  },
  {
    title: 'untrusted certificate, strict with overrides logged',
    layout: 'e2e-valid-signature',
    policy: 'override_strict_trustpolicy.json',
    store: { 'ca:e2e': [newE2eCert] },
    expect: { verified: true },
  },
  {
    title: 'unsupported envelope media type, strict',
    layout: 'e2e-invalid-signature',
    policy: 'trustpolicy.json',
    store: { 'ca:e2e': [e2eCert] },
    expect: { verified: false, code: 'INVALID_SIGNATURE' },
  },
  {
    title: 'unsupported envelope media type, audit',
    layout: 'e2e-invalid-signature',
    policy: 'audit_trustpolicy.json',
    store: { 'ca:e2e': [e2eCert] },
    expect: { verified: false, code: 'INVALID_SIGNATURE' },
  },
  {
    title: 'skip level verifies nothing',
    layout: 'e2e-invalid-signature',
    policy: 'skip_trustpolicy.json',
    store: {},
    expect: { verified: true },
  },
  {
    title: 'timestamp after expiry: strict fails on expiry',
    layout: 'e2e-with-timestamped-signature',
    policy: 'trustpolicy.json',
    store: { 'ca:e2e': [e2eCert] },
    expect: { verified: false, code: 'UNTRUSTED_SIGNER' },
  },
  {
    title: 'timestamped signature by testcert7, trusted, expiry logged and no tsa store: the expired certificate fails',
    layout: 'e2e-with-timestamped-signature',
    policy: { signatureVerification: { level: 'strict', override: { expiry: 'log' } }, trustStores: ['ca:t7'], trustedIdentities: ['*'] },
    store: { 'ca:t7': ['x5c'] },
    expect: { verified: false, code: 'EXPIRED' },
  },
  {
    title: 'corrupt timestamp token with a tsa store: authenticTimestamp fails',
    layout: 'e2e-with-invalid-timestamped-signature',
    policy: {
      signatureVerification: { level: 'strict', verifyTimestamp: 'always' },
      trustStores: ['ca:t7', 'tsa:ms'],
      trustedIdentities: ['*'],
    },
    store: {
      'ca:t7': ['x5c'],
      'tsa:ms': [join(VECTORS, 'notation-go', 'truststore', 'x509', 'tsa', 'test-timestamp', 'globalsignRoot.cer')],
    },
    now: '2025-01-21T10:00:00Z',
    expect: { verified: false, code: 'INVALID_SIGNATURE' },
  },
];

for (const c of layoutCases) {
  test(`vectors: ${c.layout}: ${c.title}`, async (t) => {
    const source = await OciLayoutSource.open(join(LAYOUTS, c.layout));
    const subject = await source.resolve('v1');
    const stores = await resolveX5cStores(c.store, source, subject.digest);
    const verifier = new NotationVerifier({
      trustStore: new FileTrustStore(await trustStore(stores)),
      revocation: new RevocationChecker({ offline: true }),
      ...(c.now ? { now: () => new Date(c.now!) } : {}),
    });
    const policy = typeof c.policy === 'string' ? await policyFile(c.policy) : policyDoc(c.policy);
    const result = await verifyNotationArtifact(source, 'localhost:5000/e2e', subject, policy, verifier);
    t.is(result.verified, c.expect.verified, JSON.stringify(result.reasons));
    if (!c.expect.verified) t.is(result.reasons[0]?.code, c.expect.code, JSON.stringify(result.reasons));
  });
}

/** Store entries named 'x5c' are replaced by the signer certificate taken from the layout's envelope. */
async function resolveX5cStores(
  stores: Record<string, string[]>,
  source: OciLayoutSource,
  subjectDigest: string,
): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const [ref, files] of Object.entries(stores)) {
    out[ref] = [];
    for (const file of files) {
      if (file !== 'x5c') {
        out[ref].push(file);
        continue;
      }
      const { findSignatures } = await import('../../../src/oci/index.js');
      const found = await findSignatures(source, subjectDigest as never);
      const manifest = found.artifacts[0]!.manifest.manifest;
      if (manifest.kind !== 'manifest') throw new Error('unexpected manifest');
      const envelope = JSON.parse(Buffer.from(await source.fetchBlob(manifest.layers[0]!)).toString()) as { header: { x5c: string[] } };
      const dir = await mkdtemp(join(tmpdir(), 'vouch-x5c-'));
      const path = join(dir, 'signer.pem');
      const { writeFile } = await import('node:fs/promises');
      await writeFile(path, `-----BEGIN CERTIFICATE-----\n${envelope.header.x5c[0]}\n-----END CERTIFICATE-----\n`);
      out[ref].push(path);
    }
  }
  return out;
}
