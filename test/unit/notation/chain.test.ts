// Certificate-chain structural rules (signature-specification.md "Certificate Requirements",
// notation-core-go ValidateCodeSigningCertChain / ValidateTimestampingCertChain): real chains from
// the vectors pass, and a generated chain breaking each rule fails with INVALID_SIGNATURE.

import test, { type ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VouchError, type ErrorCode, type ErrorReason } from '../../../src/core/index.js';
import {
  KEY_USAGE,
  OID,
  createCertificateCache,
  estimateCertificateBytes,
  parseCertificates,
  type Certificate,
} from '../../../src/trust/index.js';
import {
  createChainVerdictCache,
  validateSigningChain,
  validateTimestampingChain,
  type ChainOptions,
} from '../../../src/notation/chain.js';
import {
  generateChain,
  generateCertificate,
  generateIntermediate,
  generateLeaf,
  generateRoot,
  generateTsaLeaf,
  x509,
  type CertificateOptions,
  type GeneratedCertificate,
} from '../../helpers/pki.js';
import { NOTATION_VECTORS as VECTORS } from '../../helpers/fixtures.js';

const load = (...files: string[]): Certificate[] => files.flatMap((file) => parseCertificates(readFileSync(join(VECTORS, file)), file));
const ders = (certs: Array<Certificate | GeneratedCertificate>): Uint8Array[] => certs.map((c) => c.der);

/** A structural rule violation; weak or forbidden keys and algorithms are UNTRUSTED_SIGNER (docs/api.md "Codes"). */
const STRUCTURE = { code: 'INVALID_SIGNATURE', reason: 'BAD_CONTENT' } as const;
const WEAK = { code: 'UNTRUSTED_SIGNER', reason: 'UNSUPPORTED' } as const;

function expectChainInvalid(
  t: ExecutionContext,
  chain: Uint8Array[],
  options: ChainOptions = {},
  expected: { code: ErrorCode; reason: ErrorReason } = STRUCTURE,
): void {
  const error = t.throws(() => validateSigningChain(chain, options), { instanceOf: VouchError });
  t.log(error?.message);
  t.is(error?.code, expected.code, error?.message);
  t.is(error?.reason, expected.reason, error?.message);
}

function expectTsaInvalid(t: ExecutionContext, chain: Certificate[], expected: { code: ErrorCode; reason: ErrorReason } = STRUCTURE): void {
  const error = t.throws(() => validateTimestampingChain(chain), { instanceOf: VouchError });
  t.log(error?.message);
  t.is(error?.code, expected.code, error?.message);
  t.is(error?.reason, expected.reason, error?.message);
}

// One EC root and intermediate shared by most cases (key generation is the slow part).
let root: GeneratedCertificate;
let intermediate: GeneratedCertificate;
test.before(async () => {
  root = await generateRoot({ key: 'ec-p256' });
  intermediate = await generateIntermediate(root);
});

const leafUnder = (issuer: GeneratedCertificate, options: CertificateOptions = {}) => generateLeaf({ issuer, ...options });

// Real chains.

test('real chains: notation e2e, mock, CRL/OCSP fixture and minimal openssl certificates pass', (t) => {
  const chains = [
    ['notation-cli-e2e/localkeys/e2e.crt'],
    ['notation-cli-e2e/crl/certchain_with_crl.pem'],
    ['notation-cli-e2e/ocsp/certchain_with_ocsp.pem'],
    [
      'notation-go/truststore/x509/ca/trust-store-with-leaf-certs/non-ca.crt',
      'notation-go/truststore/x509/ca/trust-store-with-leaf-certs/GlobalSignRootCA.crt',
    ],
    ['notation-core-go/x509/testdata/openssl-minimum-self-signed.pem'],
    ['notation-go/truststore/x509/ca/valid-trust-store/wabbit-networks.io.crt'],
  ];
  for (const files of chains) {
    const certs = load(...files);
    const result = validateSigningChain(ders(certs));
    t.deepEqual(
      result.map((c) => c.sha256Fingerprint),
      certs.map((c) => c.sha256Fingerprint),
      files.join(', '),
    );
  }
});

test('real chains: a CA certificate alone, or a serverAuth leaf with keyEncipherment, fails', (t) => {
  expectChainInvalid(t, ders(load('notation-go/truststore/x509/ca/valid-trust-store/GlobalSignRootCA.crt')));
  expectChainInvalid(t, ders(load('notation-cli-e2e/timestamp/CertChain.pem')));
});

test('real chains: the DigiCert TSA chain passes the timestamping rules, not the code-signing ones', (t) => {
  const tsa = load(
    'notation-core-go/x509/testdata/timestamp_leaf.crt',
    'notation-core-go/x509/testdata/timestamp_intermediate.crt',
    'notation-core-go/x509/testdata/timestamp_root.crt',
  );
  t.notThrows(() => validateTimestampingChain(tsa));
  expectChainInvalid(t, ders(tsa));
  expectTsaInvalid(t, load('notation-cli-e2e/localkeys/e2e.crt'));
});

// Shape of the chain.

test('valid generated chains of 1, 2, 3 and 4 certificates pass', async (t) => {
  for (const length of [1, 2, 3, 4]) {
    const chain = await generateChain({ length, leafKey: 'ec-p256', root: { key: 'ec-p256' } });
    t.is(validateSigningChain(chain.ders).length, length);
  }
  t.is(validateSigningChain(ders([await leafUnder(intermediate), intermediate, root])).length, 3);
});

test('empty chains and bytes that are not certificates fail', (t) => {
  expectChainInvalid(t, []);
  expectChainInvalid(t, [new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])]);
  expectChainInvalid(t, [root.der.subarray(0, 100)]);
});

test('a single certificate must be self-signed and self-issued, and is held to the leaf rules', async (t) => {
  // issued by someone else
  expectChainInvalid(t, ders([await leafUnder(root)]));
  // self-issued (same DN) but signed by another key
  const other = await generateLeaf();
  const forged = await generateLeaf({
    subject: other.certificate.subject,
    issuerName: other.certificate.subject,
    signingKey: root.privateKey,
  });
  expectChainInvalid(t, ders([forged]));
  // signed by its own key but the issuer DN differs from the subject DN
  expectChainInvalid(t, ders([await generateLeaf({ subject: 'CN=a,O=x,ST=WA,C=US', issuerName: 'CN=b,O=x,ST=WA,C=US' })]));
  // a self-signed CA alone fails the leaf rules
  expectChainInvalid(t, ders([root]));
});

test('the chain must run leaf → root, each certificate signed by the next', async (t) => {
  const leaf = await leafUnder(intermediate);
  expectChainInvalid(t, ders([root, intermediate, leaf]));
  expectChainInvalid(t, ders([leaf, root, intermediate]));
  // missing root: the last certificate is not self-signed
  expectChainInvalid(t, ders([leaf, intermediate]));
  // a skipped intermediate
  expectChainInvalid(t, ders([leaf, root]));
  // an unrelated extra root at the end (a self-signed "intermediate")
  const otherRoot = await generateRoot({ key: 'ec-p256', subject: 'CN=other root,O=x,ST=WA,C=US' });
  expectChainInvalid(t, ders([leaf, intermediate, root, otherRoot]));
});

test('a self-signed leaf or intermediate inside a longer chain fails', async (t) => {
  const selfSignedLeaf = await generateLeaf();
  expectChainInvalid(t, ders([selfSignedLeaf, root]));
  const selfSignedCA = await generateRoot({ key: 'ec-p256', subject: 'CN=self-signed intermediate,O=x,ST=WA,C=US' });
  expectChainInvalid(t, ders([await leafUnder(selfSignedCA), selfSignedCA, root]));
});

test('issuance needs both the signature and byte-equal issuer/subject DNs', async (t) => {
  // Signed by the intermediate's key, but the issuer DN differs from its subject only in case.
  const caseDifferent = await leafUnder(intermediate, { issuerName: intermediate.certificate.subject.toUpperCase() });
  t.true(caseDifferent.certificate.isSignedBy(intermediate.certificate));
  expectChainInvalid(t, ders([caseDifferent, intermediate, root]));
  // The right issuer DN, but signed by another key.
  const wrongKey = await leafUnder(intermediate, { signingKey: root.privateKey });
  expectChainInvalid(t, ders([wrongKey, intermediate, root]));
  // A leaf whose DN equals its issuer's DN, signed by the issuer (like the notation-go mock chain), is fine.
  const sameDn = await leafUnder(root, { subject: root.certificate.subject });
  t.is(validateSigningChain(ders([sameDn, root])).length, 2);
});

// CA rules.

test('CA certificates need basicConstraints cA=true (criticality not required, as in notation-go)', async (t) => {
  const noBc = await generateIntermediate(root, { basicConstraints: null });
  expectChainInvalid(t, ders([await leafUnder(noBc), noBc, root]));
  const notCa = await generateIntermediate(root, { basicConstraints: { ca: false } });
  expectChainInvalid(t, ders([await leafUnder(notCa), notCa, root]));
  const rootNotCa = await generateRoot({ key: 'ec-p256', basicConstraints: { ca: false } });
  expectChainInvalid(t, ders([await leafUnder(rootNotCa), rootNotCa]));
  const nonCritical = await generateIntermediate(root, { basicConstraints: { ca: true, critical: false } });
  t.is(validateSigningChain(ders([await leafUnder(nonCritical), nonCritical, root])).length, 3);
});

test('pathLenConstraint must cover the CAs below', async (t) => {
  // intermediate pathLen 0 directly above the leaf: fine
  const zero = await generateIntermediate(root, { basicConstraints: { ca: true, pathLength: 0 } });
  t.is(validateSigningChain(ders([await leafUnder(zero), zero, root])).length, 3);
  // root pathLen 0 above an intermediate: fails; 1 is enough
  const root0 = await generateRoot({ key: 'ec-p256', basicConstraints: { ca: true, pathLength: 0 } });
  const under0 = await generateIntermediate(root0);
  expectChainInvalid(t, ders([await leafUnder(under0), under0, root0]));
  const root1 = await generateRoot({ key: 'ec-p256', basicConstraints: { ca: true, pathLength: 1 } });
  const a = await generateIntermediate(root1, { subject: 'CN=a,O=x,ST=WA,C=US' });
  t.is(validateSigningChain(ders([await leafUnder(a), a, root1])).length, 3);
  // two intermediates below a pathLen-1 root: fails
  const b = await generateIntermediate(a, { subject: 'CN=b,O=x,ST=WA,C=US' });
  expectChainInvalid(t, ders([await leafUnder(b), b, a, root1]));
  // a pathLen-0 intermediate above another intermediate: fails
  const zeroTop = await generateIntermediate(root, {
    subject: 'CN=zero top,O=x,ST=WA,C=US',
    basicConstraints: { ca: true, pathLength: 0 },
  });
  const below = await generateIntermediate(zeroTop, { subject: 'CN=below,O=x,ST=WA,C=US' });
  expectChainInvalid(t, ders([await leafUnder(below), below, zeroTop, root]));
});

test('CA keyUsage must be present, critical, with keyCertSign', async (t) => {
  for (const keyUsage of [
    null,
    { usages: KEY_USAGE.keyCertSign, critical: false },
    { usages: KEY_USAGE.cRLSign | KEY_USAGE.digitalSignature },
  ]) {
    const ca = await generateIntermediate(root, { keyUsage });
    expectChainInvalid(t, ders([await leafUnder(ca), ca, root]));
  }
  const rootNoCertSign = await generateRoot({ key: 'ec-p256', keyUsage: { usages: KEY_USAGE.cRLSign } });
  expectChainInvalid(t, ders([await leafUnder(rootNoCertSign), rootNoCertSign]));
});

test('CA keys must not be weak', async (t) => {
  const weakRoot = await generateRoot({ key: 'rsa-1024' });
  expectChainInvalid(t, ders([await leafUnder(weakRoot), weakRoot]), {}, WEAK);
  const rsa3072Root = await generateRoot({ key: 'rsa-3072' });
  t.is(validateSigningChain(ders([await leafUnder(rsa3072Root), rsa3072Root])).length, 2);
});

// Leaf rules.

test('leaf keyUsage must be present, critical, digitalSignature and nothing forbidden', async (t) => {
  expectChainInvalid(t, ders([await leafUnder(root, { keyUsage: null }), root]));
  expectChainInvalid(t, ders([await leafUnder(root, { keyUsage: { usages: KEY_USAGE.digitalSignature, critical: false } }), root]));
  expectChainInvalid(t, ders([await leafUnder(root, { keyUsage: { usages: KEY_USAGE.nonRepudiation } }), root]));
  for (const bit of [
    KEY_USAGE.keyEncipherment,
    KEY_USAGE.dataEncipherment,
    KEY_USAGE.keyAgreement,
    KEY_USAGE.keyCertSign,
    KEY_USAGE.cRLSign,
    KEY_USAGE.encipherOnly,
    KEY_USAGE.decipherOnly,
  ]) {
    expectChainInvalid(t, ders([await leafUnder(root, { keyUsage: { usages: KEY_USAGE.digitalSignature | bit } }), root]));
  }
  // nonRepudiation next to digitalSignature is allowed (notation-go parity)
  const nr = await leafUnder(root, { keyUsage: { usages: KEY_USAGE.digitalSignature | KEY_USAGE.nonRepudiation } });
  t.is(validateSigningChain(ders([nr, root])).length, 2);
});

test('leaf basicConstraints, if present, must say cA=false', async (t) => {
  expectChainInvalid(t, ders([await leafUnder(root, { basicConstraints: { ca: true } }), root]));
  expectChainInvalid(t, ders([await generateLeaf({ basicConstraints: { ca: true } })]));
  t.is(validateSigningChain(ders([await leafUnder(root, { basicConstraints: { ca: false } }), root])).length, 2);
  t.is(validateSigningChain(ders([await generateLeaf({ basicConstraints: { ca: false, critical: false } })])).length, 1);
});

test('leaf EKU, if present, must not contain serverAuth, clientAuth, emailProtection, timeStamping, OCSPSigning or anyEKU', async (t) => {
  for (const eku of [OID.serverAuth, OID.clientAuth, OID.emailProtection, OID.timeStamping, OID.ocspSigning]) {
    expectChainInvalid(t, ders([await leafUnder(root, { extendedKeyUsage: { usages: [OID.codeSigning, eku] } }), root]));
  }
  const anyEku = await leafUnder(root, { extendedKeyUsage: { usages: [OID.anyExtendedKeyUsage] } });
  expectChainInvalid(t, ders([anyEku, root]));
  t.is(validateSigningChain(ders([anyEku, root]), { allowAnyExtendedKeyUsage: true }).length, 2);
  for (const extendedKeyUsage of [null, { usages: [OID.codeSigning, '1.3.6.1.4.1.311.10.3.6'], critical: true }, { usages: ['1.2.3.4'] }]) {
    t.is(validateSigningChain(ders([await leafUnder(root, { extendedKeyUsage }), root])).length, 2);
  }
});

test('leaf keys follow the exact Notary table', async (t) => {
  for (const key of ['rsa-1024', 'ec-p224', 'ec-secp256k1', 'ed25519'] as const) {
    expectChainInvalid(t, ders([await leafUnder(root, { key }), root]), {}, WEAK);
  }
  for (const key of ['rsa-2048', 'rsa-3072', 'ec-p384', 'ec-p521'] as const) {
    t.is(validateSigningChain(ders([await leafUnder(root, { key }), root])).length, 2, key);
  }
});

test('certificates signed with SHA-1 fail; RSA-PSS and SHA-384/512 signatures pass', async (t) => {
  expectChainInvalid(t, ders([await leafUnder(root, { signatureHash: 'SHA-1' }), root]), {}, WEAK);
  const sha1Root = await generateRoot({ key: 'ec-p256', signatureHash: 'SHA-1' });
  expectChainInvalid(t, ders([await leafUnder(sha1Root), sha1Root]), {}, WEAK);
  expectChainInvalid(t, ders([await generateLeaf({ key: 'rsa-2048', signatureHash: 'SHA-1' })]), {}, WEAK);
  const rsaRoot = await generateRoot({ key: 'rsa-2048', rsaSignatureScheme: 'pss' });
  const pssLeaf = await leafUnder(rsaRoot, { rsaSignatureScheme: 'pss', signatureHash: 'SHA-512' });
  t.is(validateSigningChain(ders([pssLeaf, rsaRoot])).length, 2);
  t.is(validateSigningChain(ders([await leafUnder(root, { signatureHash: 'SHA-384' }), root])).length, 2);
});

test('unknown critical extensions, CDP and AIA do not fail the chain; validity is not checked here', async (t) => {
  const unknown = new x509.Extension('1.3.6.1.4.1.99999.1', true, new Uint8Array([0x05, 0x00]));
  const ca = await generateIntermediate(root, { extraExtensions: [unknown] });
  const leaf = await leafUnder(ca, {
    extraExtensions: [new x509.Extension('1.3.6.1.4.1.99999.2', true, new Uint8Array([0x05, 0x00]))],
    crlDistributionPoints: ['http://crl.example/leaf.crl'],
    ocspUrls: ['http://ocsp.example'],
    notBefore: new Date('2000-01-01T00:00:00Z'),
    notAfter: new Date('2000-01-02T00:00:00Z'),
  });
  t.is(validateSigningChain(ders([leaf, ca, root])).length, 3);
});

// Timestamping chains.

test('timestamping: generated TSA chains pass; self-signed TSA leaves too', async (t) => {
  const tsaRoot = await generateRoot({ key: 'ec-p384', subject: 'CN=tsa root,O=x,ST=WA,C=US' });
  const tsa = await generateTsaLeaf(tsaRoot, { key: 'ec-p256' });
  t.notThrows(() => validateTimestampingChain([tsa.certificate, tsaRoot.certificate]));
  const selfSigned = await generateTsaLeaf(undefined, { key: 'ec-p256' });
  t.notThrows(() => validateTimestampingChain([selfSigned.certificate]));
  // keyUsage need not be critical for TSA leaves or CAs
  const ca = await generateIntermediate(tsaRoot, { keyUsage: { usages: KEY_USAGE.keyCertSign, critical: false } });
  const leaf = await generateTsaLeaf(ca, { key: 'ec-p256', keyUsage: { usages: KEY_USAGE.digitalSignature, critical: false } });
  t.notThrows(() => validateTimestampingChain([leaf.certificate, ca.certificate, tsaRoot.certificate]));
});

test('timestamping: the leaf EKU must be exactly timeStamping, critical', async (t) => {
  const tsaRoot = await generateRoot({ key: 'ec-p256', subject: 'CN=tsa root 2,O=x,ST=WA,C=US' });
  const bad: CertificateOptions[] = [
    { extendedKeyUsage: null },
    { extendedKeyUsage: { usages: [OID.timeStamping], critical: false } },
    { extendedKeyUsage: { usages: [OID.timeStamping, OID.codeSigning], critical: true } },
    { extendedKeyUsage: { usages: [OID.anyExtendedKeyUsage], critical: true } },
    { extendedKeyUsage: { usages: [OID.codeSigning], critical: true } },
    { keyUsage: null },
    { keyUsage: { usages: KEY_USAGE.digitalSignature | KEY_USAGE.keyEncipherment } },
    { basicConstraints: { ca: true } },
  ];
  for (const options of bad) {
    const leaf = await generateTsaLeaf(tsaRoot, { key: 'ec-p256', ...options });
    expectTsaInvalid(t, [leaf.certificate, tsaRoot.certificate]);
  }
  expectTsaInvalid(t, [(await generateTsaLeaf(tsaRoot, { key: 'rsa-1024' })).certificate, tsaRoot.certificate], WEAK);
  const caNoCertSign = await generateIntermediate(tsaRoot, { keyUsage: { usages: KEY_USAGE.digitalSignature } });
  expectTsaInvalid(t, [
    (await generateTsaLeaf(caNoCertSign, { key: 'ec-p256' })).certificate,
    caNoCertSign.certificate,
    tsaRoot.certificate,
  ]);
  expectTsaInvalid(t, []);
});

test('generateCertificate: knobs produce what they say', async (t) => {
  const cert = await generateCertificate({
    subject: 'CN=knobs,O=x,ST=WA,C=US',
    basicConstraints: { ca: true, pathLength: 3, critical: false },
    keyUsage: { usages: KEY_USAGE.keyCertSign, critical: false },
    extendedKeyUsage: { usages: [OID.codeSigning], critical: true },
    serialNumber: '0123',
  });
  t.is(cert.certificate.basicConstraints?.pathLength, 3);
  t.false(cert.certificate.basicConstraints?.critical);
  t.is(cert.certificate.keyUsage?.usages, KEY_USAGE.keyCertSign);
  t.true(cert.certificate.extendedKeyUsage?.critical);
  t.is(cert.certificate.parsed.serialNumber, '0123');
  t.true(cert.certificate.isSelfSigned());
});

// Caches: owned by the caller (the engine), bounded; without them nothing is remembered.

test('caches: without caches every call parses afresh (no module-global state)', async (t) => {
  const chain = await generateChain({ length: 2 });
  const first = validateSigningChain(ders(chain.certificates));
  const second = validateSigningChain(ders(chain.certificates));
  t.not(first[0], second[0]);
  t.is(first[0]!.sha256Fingerprint, second[0]!.sha256Fingerprint);
});

test('caches: certificates and verdicts are reused from the caches passed, failures too', async (t) => {
  const chain = await generateChain({ length: 2 });
  const caches = { certificates: createCertificateCache(), verdicts: createChainVerdictCache() };
  const first = validateSigningChain(ders(chain.certificates), {}, caches);
  t.is(caches.certificates.size, 2);
  t.is(caches.verdicts.size, 1);
  const second = validateSigningChain(ders(chain.certificates), {}, caches);
  t.is(second[0], first[0]);
  t.not(second, first); // a copy: callers cannot change the cached verdict

  const reversed = [...chain.ders].reverse(); // root first: not a chain
  const bad = () => validateSigningChain(reversed, {}, caches);
  const error = t.throws(bad, { instanceOf: VouchError });
  t.is(caches.verdicts.size, 2);
  t.is(t.throws(bad), error);
  t.is(error?.code, STRUCTURE.code);
});

test('caches: the certificate and verdict caches are bounded by entries and by bytes', async (t) => {
  const chains = await Promise.all([1, 2, 3].map(() => generateChain({ length: 2 })));
  const byEntries = { certificates: createCertificateCache({ maxEntries: 3 }), verdicts: createChainVerdictCache({ maxEntries: 2 }) };
  for (const chain of chains) validateSigningChain(ders(chain.certificates), {}, byEntries);
  t.is(byEntries.certificates.size, 3);
  t.is(byEntries.verdicts.size, 2);

  const certificateBytes = estimateCertificateBytes(parseCertificates(chains[0]!.ders[0]!, 'leaf')[0]!);
  const byBytes = {
    certificates: createCertificateCache({ maxBytes: 2 * certificateBytes + 1000 }),
    verdicts: createChainVerdictCache({ maxBytes: 100 }),
  };
  for (const chain of chains) validateSigningChain(ders(chain.certificates), {}, byBytes);
  t.true(byBytes.certificates.size <= 2 && byBytes.certificates.size > 0);
  t.true(byBytes.certificates.bytes <= 2 * certificateBytes + 1000);
  t.is(byBytes.verdicts.size, 0); // one verdict alone is larger than the budget
});
