// Conformance with notation on the real vectors in test/fixtures/vectors/notation: every case whose
// README gives an expected outcome produces that outcome here. Trust stores are assembled in a
// temporary directory from the vectors' certificates at run time (nothing is copied into the repo).

import test from 'ava';
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { AnswerCode, ErrorReason } from '../../../src/core/index.js';
import { findSignatures, MEDIA_TYPE, OciLayoutSource, type Descriptor } from '../../../src/oci/index.js';
import { NotationVerifier } from '../../../src/notation/verifier.js';
import { verifyNotationArtifact } from '../../../src/notation/verify-artifact.js';
import { RevocationChecker } from '../../../src/notation/revocation.js';
import { parseEnvelope } from '../../../src/notation/parse-envelope.js';
import { FileTrustStore, parseOciTrustPolicy } from '../../../src/trust/index.js';
import { NOTATION_VECTORS as VECTORS } from '../../helpers/fixtures.js';

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
  if (!Object.values(stores).some((files) => files.includes('x5c'))) return stores;
  const found = await findSignatures(source, subjectDigest as Descriptor['digest']);
  const manifest = found.artifacts[0]!.manifest.manifest;
  if (manifest.kind !== 'manifest') throw new Error('unexpected manifest');
  const layer = manifest.layers[0]!;
  return resolveEnvelopeX5c(stores, await source.fetchBlob(layer), layer.mediaType);
}

// ---- envelope-level vectors (notation-go testdata) ----------------------------------------------

const NOTATION_GO = join(VECTORS, 'notation-go');
const GO_STORES = join(NOTATION_GO, 'truststore');
const netMonitor: Descriptor = {
  mediaType: MEDIA_TYPE.dockerManifest,
  digest: 'sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e' as Descriptor['digest'],
  size: 528,
};
const mockPolicy = {
  signatureVerification: { level: 'strict' },
  trustStores: ['ca:valid-trust-store', 'signingAuthority:valid-trust-store'],
  trustedIdentities: ['x509.subject:CN=Notation Test Root,O=Notary,L=Seattle,ST=WA,C=US'],
};
const globalSignRoot = join(GO_STORES, 'x509/tsa/test-timestamp/globalsignRoot.cer');
/** For the 10-minute testTSA signer: trust the envelope's own leaf, and the GlobalSign TSA root. */
const expiredSignerPolicy = {
  signatureVerification: { level: 'strict', verifyTimestamp: 'always' },
  trustStores: ['ca:signer', 'tsa:gs'],
  trustedIdentities: ['*'],
};
const expiredSignerStores = { 'ca:signer': ['x5c'], 'tsa:gs': [globalSignRoot] };
const timestampPolicy = {
  signatureVerification: { level: 'strict', verifyTimestamp: 'always' },
  trustStores: ['ca:valid-trust-store', 'tsa:test-timestamp'],
  trustedIdentities: ['*'],
};

interface EnvelopeCase {
  title: string;
  file: string;
  mediaType?: string;
  subject: Descriptor | 'payload';
  policy: Record<string, unknown>;
  /** Trust store root: notation-go's vector stores, or stores built from files. */
  stores?: Record<string, string[]>;
  now?: string;
  timestampRevocation?: 'check' | 'skip';
  /** `undecided`: no verdict (PLUGIN_ERROR with this reason), e.g. a plugin is required and none is configured. */
  expect: { verified: true } | { verified: false; code: AnswerCode } | { verified: false; undecided: ErrorReason };
}

const envelopeCases: EnvelopeCase[] = [
  {
    title: 'valid notary.x509 envelope',
    file: 'mock-envelopes/ca_valid_sig_env.json',
    subject: netMonitor,
    policy: mockPolicy,
    expect: { verified: true },
  },
  {
    title: 'padded base64url payload',
    file: 'mock-envelopes/ca_invalid_sig_env.json',
    subject: netMonitor,
    policy: mockPolicy,
    expect: { verified: false, code: 'INVALID_SIGNATURE' },
  },
  {
    title: 'expired signature, strict',
    file: 'mock-envelopes/ca_expired_sig_env.json',
    subject: netMonitor,
    policy: mockPolicy,
    expect: { verified: false, code: 'EXPIRED' },
  },
  {
    title: 'expired signature, permissive',
    file: 'mock-envelopes/ca_expired_sig_env.json',
    subject: netMonitor,
    policy: { ...mockPolicy, signatureVerification: { level: 'permissive' } },
    expect: { verified: true },
  },
  {
    title: 'expired signature, audit',
    file: 'mock-envelopes/ca_expired_sig_env.json',
    subject: netMonitor,
    policy: { ...mockPolicy, signatureVerification: { level: 'audit' } },
    expect: { verified: true },
  },
  {
    title: 'valid signingAuthority envelope',
    file: 'mock-envelopes/sa_valid_sig_env.json',
    subject: netMonitor,
    policy: mockPolicy,
    expect: { verified: true },
  },
  {
    title: 'signingAuthority envelope with only a ca store',
    file: 'mock-envelopes/sa_valid_sig_env.json',
    subject: netMonitor,
    policy: { ...mockPolicy, trustStores: ['ca:valid-trust-store'] },
    expect: { verified: false, code: 'UNTRUSTED_SIGNER' },
  },
  {
    title: 'notary.x509 envelope with only a signingAuthority store',
    file: 'mock-envelopes/ca_valid_sig_env.json',
    subject: netMonitor,
    policy: { ...mockPolicy, trustStores: ['signingAuthority:valid-trust-store'] },
    expect: { verified: false, code: 'UNTRUSTED_SIGNER' },
  },
  {
    title: 'padded signingAuthority envelope',
    file: 'mock-envelopes/sa_invalid_sig_env.json',
    subject: netMonitor,
    policy: mockPolicy,
    expect: { verified: false, code: 'INVALID_SIGNATURE' },
  },
  {
    title: 'expired signingAuthority envelope',
    file: 'mock-envelopes/sa_expired_sig_env.json',
    subject: netMonitor,
    policy: mockPolicy,
    expect: { verified: false, code: 'EXPIRED' },
  },
  {
    title: 'store without the signer root',
    file: 'mock-envelopes/ca_valid_sig_env.json',
    subject: netMonitor,
    policy: { ...mockPolicy, trustStores: ['ca:valid-trust-store-2'] },
    expect: { verified: false, code: 'UNTRUSTED_SIGNER' },
  },
  // Signatures that name a verification plugin: without a plugins directory, undecided (never a verdict).
  {
    title: 'verification plugin required, no plugins configured',
    file: 'mock-envelopes/ca_plugin_sig_env.json',
    subject: netMonitor,
    policy: mockPolicy,
    expect: { verified: false, undecided: 'PLUGIN_NOT_FOUND' },
  },
  {
    title: 'signingAuthority plugin envelope, no plugins configured',
    file: 'mock-envelopes/sa_plugin_sig_env.json',
    subject: netMonitor,
    policy: mockPolicy,
    expect: { verified: false, undecided: 'PLUGIN_NOT_FOUND' },
  },
  ...['0.0.9', '1.0.0-alpha', '1.0.0-alpha.beta', '1.0.0'].map((v): EnvelopeCase => ({
    title: `plugin min version ${v}, no plugins configured`,
    file: `mock-envelopes/ca_compatible_pluginver_sig_env_${v}.json`,
    subject: 'payload',
    policy: {
      signatureVerification: { level: 'strict' },
      trustStores: ['ca:valid-trust-store'],
      trustedIdentities: ['x509.subject: CN=wabbit-networks.io,O=Notary,L=Seattle,ST=WA,C=US'],
    },
    expect: { verified: false, undecided: 'PLUGIN_NOT_FOUND' },
  })),
  {
    title: 'expired, untrusted certificate with user metadata under audit: only logged',
    file: 'mock-envelopes/sig_env_with_metadata.json',
    subject: 'payload',
    policy: { signatureVerification: { level: 'audit' }, trustStores: ['ca:valid-trust-store'], trustedIdentities: ['*'] },
    expect: { verified: true },
  },
  {
    title: 'payload for another artifact',
    file: 'mock-envelopes/ca_valid_sig_env.json',
    subject: { ...netMonitor, size: 529 },
    policy: mockPolicy,
    expect: { verified: false, code: 'INVALID_SIGNATURE' },
  },
  {
    title: 'JWS signature of an OCI image',
    file: 'envelopes/jws_signature.sig',
    mediaType: MEDIA_TYPE.jws,
    subject: 'payload',
    policy: { signatureVerification: { level: 'strict' }, trustStores: ['ca:signer'], trustedIdentities: ['*'] },
    stores: { 'ca:signer': ['x5c'] },
    expect: { verified: true },
  },
  {
    title: 'COSE signature of an OCI image',
    file: 'envelopes/cose_signature.sig',
    mediaType: MEDIA_TYPE.cose,
    subject: 'payload',
    policy: { signatureVerification: { level: 'strict' }, trustStores: ['ca:signer'], trustedIdentities: ['*'] },
    stores: { 'ca:signer': [join(NOTATION_GO, 'truststore/x509/ca/valid-trust-store/TestTimestamp.crt')] },
    expect: { verified: false, code: 'UNTRUSTED_SIGNER' },
  },
  // RFC 3161 timestamps (verifier/timestamp_test.go). TSA chain revocation needs the network, so it is skipped here and checked separately below.
  {
    title: 'JWS with timestamp',
    file: 'timestamp/sigEnv/jwsWithTimestamp.sig',
    mediaType: MEDIA_TYPE.jws,
    subject: 'payload',
    policy: timestampPolicy,
    timestampRevocation: 'skip',
    expect: { verified: true },
  },
  {
    title: 'COSE with timestamp',
    file: 'timestamp/sigEnv/coseWithTimestamp.sig',
    mediaType: MEDIA_TYPE.cose,
    subject: 'payload',
    policy: timestampPolicy,
    timestampRevocation: 'skip',
    expect: { verified: true },
  },
  {
    title: 'expired certificate saved by the timestamp (JWS)',
    file: 'timestamp/sigEnv/jwsExpiredWithTimestamp.sig',
    mediaType: MEDIA_TYPE.jws,
    subject: 'payload',
    policy: expiredSignerPolicy,
    stores: expiredSignerStores,
    timestampRevocation: 'skip',
    expect: { verified: true },
  },
  {
    title: 'expired certificate saved by the timestamp (COSE)',
    file: 'timestamp/sigEnv/coseExpiredWithTimestamp.sig',
    mediaType: MEDIA_TYPE.cose,
    subject: 'payload',
    policy: expiredSignerPolicy,
    stores: expiredSignerStores,
    timestampRevocation: 'skip',
    expect: { verified: true },
  },
  {
    title: 'expired certificate without a tsa store',
    file: 'timestamp/sigEnv/coseExpiredWithTimestamp.sig',
    mediaType: MEDIA_TYPE.cose,
    subject: 'payload',
    policy: { ...expiredSignerPolicy, trustStores: ['ca:signer'] },
    stores: { 'ca:signer': ['x5c'] },
    expect: { verified: false, code: 'EXPIRED' },
  },
  {
    title: 'timestamp before the certificate validity',
    file: 'timestamp/sigEnv/timestampBeforeNotBefore.sig',
    mediaType: MEDIA_TYPE.jws,
    subject: 'payload',
    policy: timestampPolicy,
    timestampRevocation: 'skip',
    expect: { verified: false, code: 'EXPIRED' },
  },
  {
    title: 'timestamp after the certificate validity',
    file: 'timestamp/sigEnv/timestampAfterNotAfter.sig',
    mediaType: MEDIA_TYPE.cose,
    subject: 'payload',
    policy: { ...timestampPolicy, trustStores: ['ca:signer', 'tsa:test-timestamp'] },
    stores: { 'ca:signer': ['x5c'], 'tsa:test-timestamp': [join(GO_STORES, 'x509/tsa/test-timestamp/globalsignRoot.cer')] },
    timestampRevocation: 'skip',
    expect: { verified: false, code: 'EXPIRED' },
  },
  {
    title: 'no timestamp although the policy requires one',
    file: 'timestamp/sigEnv/withoutTimestamp.sig',
    mediaType: MEDIA_TYPE.jws,
    subject: 'payload',
    policy: timestampPolicy,
    timestampRevocation: 'skip',
    expect: { verified: false, code: 'INVALID_SIGNATURE' },
  },
  {
    title: 'timestamp from an untrusted TSA',
    file: 'timestamp/sigEnv/jwsWithTimestamp.sig',
    mediaType: MEDIA_TYPE.jws,
    subject: 'payload',
    policy: { ...timestampPolicy, trustStores: ['ca:valid-trust-store', 'tsa:test-mismatch'] },
    timestampRevocation: 'skip',
    expect: { verified: false, code: 'UNTRUSTED_SIGNER' },
  },
  {
    title: 'afterCertExpiry with a valid chain: no timestamp needed',
    file: 'timestamp/sigEnv/withoutTimestamp.sig',
    mediaType: MEDIA_TYPE.jws,
    subject: 'payload',
    policy: { ...timestampPolicy, signatureVerification: { level: 'strict', verifyTimestamp: 'afterCertExpiry' } },
    expect: { verified: true },
  },
  {
    title: 'offline, the TSA chain revocation status is unknown (as notation offline)',
    file: 'timestamp/sigEnv/jwsWithTimestamp.sig',
    mediaType: MEDIA_TYPE.jws,
    subject: 'payload',
    policy: timestampPolicy,
    timestampRevocation: 'check',
    expect: { verified: false, code: 'REVOKED' },
  },
  // Blob signatures made by the real notation CLI (notation blob sign): same checks; the subject is the blob.
  {
    title: 'blob JWS, at signing time',
    file: '../notation-cli-e2e/blob/blob.jws.sig',
    mediaType: MEDIA_TYPE.jws,
    subject: 'payload',
    policy: { signatureVerification: { level: 'strict' }, trustStores: ['ca:signer'], trustedIdentities: ['*'] },
    stores: { 'ca:signer': ['x5c'] },
    now: '2024-12-31T09:00:00Z',
    expect: { verified: true },
  },
  {
    title: 'blob JWS, now: certificate expired, no tsa store',
    file: '../notation-cli-e2e/blob/blob.jws.sig',
    mediaType: MEDIA_TYPE.jws,
    subject: 'payload',
    policy: { signatureVerification: { level: 'strict' }, trustStores: ['ca:signer'], trustedIdentities: ['*'] },
    stores: { 'ca:signer': ['x5c'] },
    expect: { verified: false, code: 'EXPIRED' },
  },
  {
    title: 'blob COSE, at signing time',
    file: '../notation-cli-e2e/blob/blob.cose.sig',
    mediaType: MEDIA_TYPE.cose,
    subject: 'payload',
    policy: { signatureVerification: { level: 'strict' }, trustStores: ['ca:signer'], trustedIdentities: ['*'] },
    stores: { 'ca:signer': ['x5c'] },
    now: '2025-01-07T09:00:00Z',
    expect: { verified: true },
  },
  {
    title: 'junk bytes',
    file: '../notation-cli-e2e/blob/malformed.jws.sig',
    mediaType: MEDIA_TYPE.jws,
    subject: netMonitor,
    policy: mockPolicy,
    expect: { verified: false, code: 'INVALID_SIGNATURE' },
  },
  {
    title: 'RSA-3072 PS384 blob signature (sha384 digest)',
    file: 'blob-verify/testSig.jws.sig',
    mediaType: MEDIA_TYPE.jws,
    subject: 'payload',
    policy: { signatureVerification: { level: 'strict' }, trustStores: ['ca:dummy-ts'], trustedIdentities: ['*'] },
    stores: { 'ca:dummy-ts': [join(NOTATION_GO, 'blob-verify/trustedCert.pem')] },
    expect: { verified: true },
  },
];

for (const c of envelopeCases) {
  test(`vectors: ${c.file}: ${c.title}`, async (t) => {
    const bytes = await readFile(join(NOTATION_GO, c.file));
    const mediaType = c.mediaType ?? MEDIA_TYPE.jws;
    const subject = c.subject === 'payload' ? payloadTarget(bytes, mediaType) : c.subject;
    const storeRoot = c.stores ? await trustStore(await resolveEnvelopeX5c(c.stores, bytes, mediaType)) : GO_STORES;
    const verifier = new NotationVerifier({
      trustStore: new FileTrustStore(storeRoot),
      revocation: new RevocationChecker({ offline: true }),
      timestampRevocation: c.timestampRevocation ?? 'check',
      ...(c.now ? { now: () => new Date(c.now!) } : {}),
    });
    const statement = policyDoc(c.policy).statements[0]!;
    const result = await verifier.verify({ mediaType, bytes, subject }, statement);
    t.is(result.verified, c.expect.verified, JSON.stringify(result.reasons));
    if ('undecided' in c.expect) {
      t.is(result.undecided?.code, 'PLUGIN_ERROR', JSON.stringify(result));
      t.is(result.undecided?.reason, c.expect.undecided);
    } else if (!c.expect.verified) {
      t.is(result.undecided, undefined);
      t.is(result.reasons[0]?.code, c.expect.code, JSON.stringify(result.reasons));
    }
  });
}

/** The descriptor the envelope's payload names (for vectors whose subject is not in the repo). */
function payloadTarget(bytes: Uint8Array, mediaType: string): Descriptor {
  const envelope = parseEnvelope(mediaType, bytes);
  const { targetArtifact } = JSON.parse(Buffer.from(envelope.payload).toString()) as { targetArtifact: Descriptor };
  return { mediaType: targetArtifact.mediaType, digest: targetArtifact.digest, size: targetArtifact.size };
}

async function resolveEnvelopeX5c(
  stores: Record<string, string[]>,
  bytes: Uint8Array,
  mediaType: string,
): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const [ref, files] of Object.entries(stores)) {
    out[ref] = [];
    for (const file of files) {
      if (file !== 'x5c') {
        out[ref].push(file);
        continue;
      }
      const leaf = parseEnvelope(mediaType, bytes).certificateChain[0]!;
      const dir = await mkdtemp(join(tmpdir(), 'vouch-x5c-'));
      await writeFile(join(dir, 'signer.der'), leaf);
      out[ref].push(join(dir, 'signer.der'));
    }
  }
  return out;
}
