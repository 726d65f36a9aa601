// Structural rules for the certificate chain carried in an envelope (signature-specification.md
// "Certificate Requirements"; notation-core-go x509/codesigning_cert_validations.go and
// timestamp_cert_validations.go). Only basicConstraints, keyUsage and extendedKeyUsage are
// honoured; unknown critical extensions do not fail (unlike RFC 5280 path validation). Validity
// periods are time-dependent and checked by the verifier, not here.

import { createHash } from 'node:crypto';
import { BoundedCache, VouchError } from '../core/index.js';
import { Certificate, KEY_USAGE, OID, estimateCertificateBytes, type CertificateCache } from '../trust/index.js';

function chainError(message: string, cause?: unknown): VouchError {
  return new VouchError('INVALID_SIGNATURE', `certificate-chain is invalid: ${message}`, { reason: 'BAD_CONTENT', cause });
}

/** A weak or forbidden key or algorithm: docs/api.md "Codes" lists these under UNTRUSTED_SIGNER. */
function weakAlgorithmError(message: string): VouchError {
  return new VouchError('UNTRUSTED_SIGNER', `certificate-chain is invalid: ${message}`, { reason: 'UNSUPPORTED' });
}

export interface ChainOptions {
  /**
   * Accept anyExtendedKeyUsage (2.5.29.37.0) in a code-signing leaf. The spec forbids it;
   * notation-go does not check it. Default false (the spec).
   */
  allowAnyExtendedKeyUsage?: boolean;
}

type Purpose = 'codeSigning' | 'timeStamping';

const FORBIDDEN_LEAF_KEY_USAGES: ReadonlyArray<[number, string]> = [
  [KEY_USAGE.keyEncipherment, 'KeyEncipherment'],
  [KEY_USAGE.dataEncipherment, 'DataEncipherment'],
  [KEY_USAGE.keyAgreement, 'KeyAgreement'],
  [KEY_USAGE.keyCertSign, 'CertSign'],
  [KEY_USAGE.cRLSign, 'CRLSign'],
  [KEY_USAGE.encipherOnly, 'EncipherOnly'],
  [KEY_USAGE.decipherOnly, 'DecipherOnly'],
];

/** EKUs a code-signing leaf must not carry (notation-go's list: the spec's without anyEKU, plus OCSPSigning). */
const FORBIDDEN_CODE_SIGNING_EKUS: ReadonlyArray<[string, string]> = [
  [OID.serverAuth, 'ServerAuth'],
  [OID.clientAuth, 'ClientAuth'],
  [OID.emailProtection, 'EmailProtection'],
  [OID.timeStamping, 'Timestamping'],
  [OID.ocspSigning, 'OCSPSigning'],
];

const ALLOWED_SIGNATURE_HASHES: ReadonlySet<string> = new Set(['SHA-256', 'SHA-384', 'SHA-512']);
const ALLOWED_SIGNATURE_SCHEMES: ReadonlySet<string> = new Set(['RSASSA-PKCS1-v1_5', 'RSA-PSS', 'ECDSA']);

function subjectOf(cert: Certificate): string {
  return JSON.stringify(cert.subject);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function findExtension(cert: Certificate, oid: string): { critical: boolean } | undefined {
  return cert.parsed.extensions.find((ext) => ext.type === oid);
}

/** Signed with SHA-2 RSA (PKCS#1 v1.5 or PSS) or ECDSA; SHA-1, MD5 and the rest are refused. */
function checkCertificateSignatureAlgorithm(cert: Certificate): void {
  let name = 'unknown';
  let hash = 'unknown';
  try {
    const alg = cert.parsed.signatureAlgorithm as { name?: string; hash?: { name?: string } };
    name = alg.name ?? name;
    hash = alg.hash?.name ?? hash;
  } catch {
    // leave as unknown
  }
  if (!ALLOWED_SIGNATURE_SCHEMES.has(name) || !ALLOWED_SIGNATURE_HASHES.has(hash)) {
    throw weakAlgorithmError(
      `certificate with subject ${subjectOf(cert)} is signed with an unsupported or insecure algorithm (${name} ${hash})`,
    );
  }
}

/**
 * Leaf keys follow the exact Notary table (RSA 2048/3072/4096, P-256/384/521). CA keys need only
 * be RSA ≥ 2048 or one of those curves (notation-go does not check CA keys; we refuse weak ones).
 */
function checkKey(cert: Certificate, leaf: boolean): void {
  const key = cert.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (leaf ? [2048, 3072, 4096].includes(bits) : bits >= 2048) return;
    throw weakAlgorithmError(`certificate with subject ${subjectOf(cert)}: rsa key size ${bits} bits is not supported`);
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = details.namedCurve ?? 'unknown';
    if (['prime256v1', 'secp384r1', 'secp521r1'].includes(curve)) return;
    throw weakAlgorithmError(`certificate with subject ${subjectOf(cert)}: ecdsa curve ${curve} is not supported`);
  }
  throw weakAlgorithmError(
    `certificate with subject ${subjectOf(cert)}: unsupported public key type ${key.asymmetricKeyType ?? 'unknown'}`,
  );
}

function checkCA(cert: Certificate, expectedPathLen: number, purpose: Purpose): void {
  const bc = cert.basicConstraints;
  // notation-go does not check that basicConstraints is critical on CAs; neither do we.
  if (bc === undefined || !bc.ca) {
    throw chainError(
      `certificate with subject ${subjectOf(cert)}: ca field in basic constraints must be present, critical, and set to true`,
    );
  }
  if (bc.pathLength !== undefined && bc.pathLength < expectedPathLen) {
    throw chainError(
      `certificate with subject ${subjectOf(cert)}: expected path length of ${expectedPathLen} but certificate has path length ${bc.pathLength} instead`,
    );
  }
  const ku = findExtension(cert, OID.keyUsage);
  if (ku === undefined) throw chainError(`certificate with subject ${subjectOf(cert)}: key usage extension must be present`);
  if (purpose === 'codeSigning' && !ku.critical) {
    throw chainError(`certificate with subject ${subjectOf(cert)}: key usage extension must be marked critical`);
  }
  if (((cert.keyUsage?.usages ?? 0) & KEY_USAGE.keyCertSign) === 0) {
    throw chainError(`certificate with subject ${subjectOf(cert)}: key usage must have the bit positions for key cert sign set`);
  }
  checkKey(cert, false);
}

function checkLeafKeyUsage(cert: Certificate, purpose: Purpose): void {
  const ku = findExtension(cert, OID.keyUsage);
  if (ku === undefined) throw chainError(`certificate with subject ${subjectOf(cert)}: key usage extension must be present`);
  // Code signing requires it critical; for TSA certs it SHOULD be (notation-go does not check).
  if (purpose === 'codeSigning' && !ku.critical) {
    throw chainError(`certificate with subject ${subjectOf(cert)}: key usage extension must be marked critical`);
  }
  const usages = cert.keyUsage?.usages ?? 0;
  if ((usages & KEY_USAGE.digitalSignature) === 0) {
    throw chainError(
      `the certificate with subject ${subjectOf(cert)} is invalid. The key usage must have the bit positions for "Digital Signature" set`,
    );
  }
  const found = FORBIDDEN_LEAF_KEY_USAGES.filter(([bit]) => (usages & bit) !== 0).map(([, name]) => `"${name}"`);
  if (found.length > 0) {
    throw chainError(
      `the certificate with subject ${subjectOf(cert)} is invalid. The key usage must be "Digital Signature" only, but found ${found.join(', ')}`,
    );
  }
}

function checkLeaf(cert: Certificate, purpose: Purpose, options: ChainOptions): void {
  if (cert.basicConstraints?.ca === true) {
    throw chainError(
      `certificate with subject ${subjectOf(cert)}: if the basic constraints extension is present, the ca field must be set to false`,
    );
  }
  checkLeafKeyUsage(cert, purpose);
  const ekuExtension = findExtension(cert, OID.extendedKeyUsage);
  const ekus = (cert.extendedKeyUsage?.usages ?? []).map(String);
  if (purpose === 'codeSigning') {
    for (const [oid, name] of FORBIDDEN_CODE_SIGNING_EKUS) {
      if (ekus.includes(oid))
        throw chainError(`certificate with subject ${subjectOf(cert)}: extended key usage must not contain ${name} eku`);
    }
    if (!options.allowAnyExtendedKeyUsage && ekus.includes(OID.anyExtendedKeyUsage)) {
      throw chainError(`certificate with subject ${subjectOf(cert)}: extended key usage must not contain Any eku`);
    }
  } else {
    // RFC 3161 §2.3: exactly one EKU, id-kp-timeStamping, in a critical extension.
    if (ekus.length !== 1 || ekus[0] !== OID.timeStamping) {
      throw chainError(
        `timestamp signing certificate with subject ${subjectOf(cert)} must have and only have Timestamping as extended key usage`,
      );
    }
    if (ekuExtension === undefined || !ekuExtension.critical) {
      throw chainError(
        `timestamp signing certificate with subject ${subjectOf(cert)} must have extended key usage extension marked as critical`,
      );
    }
  }
  checkKey(cert, true);
}

function validateChain(certs: Certificate[], purpose: Purpose, options: ChainOptions): void {
  if (certs.length === 0) throw chainError('certificate chain must contain at least one certificate');
  for (const cert of certs) checkCertificateSignatureAlgorithm(cert);

  // A single certificate: a self-signed signing certificate, held to the leaf rules.
  if (certs.length === 1) {
    const cert = certs[0]!;
    if (!cert.isSignedBy(cert))
      throw chainError(`invalid self-signed certificate. subject: ${subjectOf(cert)}: signature does not verify with its own key`);
    if (!bytesEqual(cert.rawSubject, cert.rawIssuer)) {
      throw chainError(
        `invalid self-signed certificate. subject: ${subjectOf(cert)}: issuer(${cert.issuer}) and subject(${cert.subject}) are not the same`,
      );
    }
    checkLeaf(cert, purpose, options);
    return;
  }

  // leaf → intermediates → root: each signed by the next, only the last self-signed.
  certs.forEach((cert, i) => {
    if (i === certs.length - 1) {
      if (!cert.isSelfSigned()) {
        throw chainError(
          `root certificate with subject ${subjectOf(cert)} is not self-signed. Certificate chain must end with a valid self-signed root certificate`,
        );
      }
    } else {
      if (cert.isSelfSigned()) {
        const role = i === 0 ? 'leaf' : 'intermediate';
        throw chainError(
          `${role} certificate with subject ${subjectOf(cert)} is self-signed. Certificate chain must not contain self-signed ${role} certificate`,
        );
      }
      const parent = certs[i + 1]!;
      if (!cert.isIssuedBy(parent)) throw chainError(`certificate with subject ${subjectOf(cert)} is not issued by ${subjectOf(parent)}`);
    }
    if (i === 0) checkLeaf(cert, purpose, options);
    else checkCA(cert, i - 1, purpose);
  });
}

function parseChain(ders: Uint8Array[], cache: CertificateCache | undefined): Certificate[] {
  return ders.map((der, i) => {
    try {
      return Certificate.fromDer(der, `x5c[${i}]`, cache);
    } catch (error) {
      throw chainError(`x5c[${i}] is not a valid X.509 certificate`, error);
    }
  });
}

/** A signing chain's structural verdict: its parsed certificates, or why it is invalid. */
export type ChainVerdict = { readonly certs: readonly Certificate[] } | { readonly error: unknown };

/** Verdicts per chain (SHA-256 over the DERs and the options): an instance owned by the runtime. */
export type ChainVerdictCache = BoundedCache<ChainVerdict>;

export interface ChainVerdictCacheLimits {
  /** Chains at most (default 1024). */
  maxEntries?: number;
  /** Estimated bytes at most (default 32 MiB). */
  maxBytes?: number;
}

/**
 * Estimated bytes of a verdict: its certificates counted in full (they may outlive the certificate
 * cache's entries), a failure's error about 1 KiB.
 */
function estimateVerdictBytes(verdict: ChainVerdict): number {
  if ('error' in verdict) return 1024;
  return 256 + verdict.certs.reduce((sum, cert) => sum + estimateCertificateBytes(cert), 0);
}

export function createChainVerdictCache(limits: ChainVerdictCacheLimits = {}): ChainVerdictCache {
  return new BoundedCache<ChainVerdict>({
    maxEntries: limits.maxEntries ?? 1024,
    maxBytes: limits.maxBytes ?? 32 * 1024 * 1024,
    sizeOf: estimateVerdictBytes,
  });
}

/** The caches validateSigningChain may use; without them every call parses and checks afresh. */
export interface SigningChainCaches {
  certificates?: CertificateCache | undefined;
  verdicts?: ChainVerdictCache | undefined;
}

/**
 * The verdict cache key: SHA-256 over the options and the length-prefixed DERs, one hash object
 * per chain (one per certificate plus one cost more than the rest of a cache hit).
 */
function chainKey(ders: readonly Uint8Array[], options: ChainOptions): string {
  const hash = createHash('sha256').update(options.allowAnyExtendedKeyUsage ? 'any-eku' : 'strict');
  for (const der of ders) hash.update(`\n${der.byteLength}:`).update(der);
  return hash.digest('hex');
}

/**
 * Parses an envelope's certificate chain (leaf first) and applies the code-signing structural
 * rules. Returns the parsed certificates. Failures are INVALID_SIGNATURE (BAD_CONTENT): notation-go
 * reports them in the integrity step.
 */
export function validateSigningChain(ders: Uint8Array[], options: ChainOptions = {}, caches: SigningChainCaches = {}): Certificate[] {
  // The rules are a pure function of the DER bytes (no clock): remember verdicts per chain, since
  // an admission service meets the same few signer chains again and again.
  const verdicts = caches.verdicts;
  let key: string | undefined;
  if (verdicts !== undefined) {
    key = chainKey(ders, options);
    const cached = verdicts.get(key);
    if (cached !== undefined) {
      if ('error' in cached) throw cached.error;
      return [...cached.certs];
    }
  }
  let verdict: ChainVerdict;
  try {
    const certs = parseChain(ders, caches.certificates);
    validateChain(certs, 'codeSigning', options);
    verdict = { certs };
  } catch (error) {
    verdict = { error };
  }
  if (verdicts !== undefined && key !== undefined) verdicts.set(key, verdict);
  if ('error' in verdict) throw verdict.error;
  return [...verdict.certs];
}

/**
 * Applies the timestamping structural rules to an ordered TSA chain (leaf first): the leaf has a
 * critical EKU of exactly id-kp-timeStamping and keyUsage digitalSignature; CAs as for code signing
 * except that keyUsage need not be critical.
 */
export function validateTimestampingChain(certs: Certificate[]): void {
  validateChain(certs, 'timeStamping', {});
}
