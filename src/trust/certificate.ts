// X.509 certificates for trust decisions: parsed once with @peculiar/x509 (extensions, names) and
// node:crypto (keys, signature checks). Nothing here decides trust; it exposes facts the Notary
// Project rules (signature-specification.md "Certificate Requirements") are checked against.

import 'reflect-metadata';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { createHash, X509Certificate as NodeX509Certificate, type KeyObject } from 'node:crypto';
import { BoundedCache, VouchError } from '../core/index.js';

export const OID = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extendedKeyUsage: '2.5.29.37',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  ocspSigning: '1.3.6.1.5.5.7.3.9',
  anyExtendedKeyUsage: '2.5.29.37.0',
  crlDistributionPoints: '2.5.29.31',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  freshestCrl: '2.5.29.46',
  ocspNoCheck: '1.3.6.1.5.5.7.48.1.5',
} as const;

/** keyUsage bits (RFC 5280 §4.2.1.3), as @peculiar/x509 numbers them. */
export const KEY_USAGE = x509.KeyUsageFlags;

/**
 * Parsed certificates by SHA-256 of their DER. An admission service sees the same few signer
 * chains over and over; parsing one costs ~0.5 ms, a lookup microseconds. Certificates are
 * immutable, so instances are shared by everything that holds the same cache. The cache is an
 * instance owned by the runtime (the verification engine), not module state.
 */
export type CertificateCache = BoundedCache<Certificate>;

export interface CertificateCacheLimits {
  /** Parsed certificates at most (default 2048). */
  maxEntries?: number;
  /** Estimated bytes at most (default 32 MiB). */
  maxBytes?: number;
}

/**
 * Heap bytes of a parsed certificate, estimated: the DER copy, @peculiar/x509's ASN.1 tree and
 * node's X509Certificate each hold about the DER's size again, plus fixed object overhead.
 */
export function estimateCertificateBytes(certificate: Certificate): number {
  return 4 * certificate.der.byteLength + 2048;
}

export function createCertificateCache(limits: CertificateCacheLimits = {}): CertificateCache {
  return new BoundedCache<Certificate>({
    maxEntries: limits.maxEntries ?? 2048,
    maxBytes: limits.maxBytes ?? 32 * 1024 * 1024,
    sizeOf: estimateCertificateBytes,
  });
}

export class Certificate {
  readonly der: Uint8Array;
  readonly parsed: x509.X509Certificate;
  readonly node: NodeX509Certificate;
  /** SHA-256 of the DER, lowercase hex (notation's thumbprint); also the parse cache key. */
  readonly sha256Fingerprint: string;
  #version: number | undefined;
  #rawSubject: Uint8Array | undefined;
  #rawIssuer: Uint8Array | undefined;
  #selfSigned: boolean | undefined;
  readonly #signedBy = new WeakMap<Certificate, boolean>();

  /**
   * The subject public key, decoded when the certificate is parsed: node decodes it lazily, and a
   * certificate whose key does not decode parsed and then threw a plain Error from OpenSSL wherever
   * the key was first used (found by fuzzing).
   */
  readonly publicKey: KeyObject;

  private constructor(der: Uint8Array, parsed: x509.X509Certificate, node: NodeX509Certificate, sha256Fingerprint: string) {
    this.der = der;
    this.parsed = parsed;
    this.node = node;
    this.sha256Fingerprint = sha256Fingerprint;
    this.publicKey = node.publicKey;
    // Decoded now, inside fromDer's try, for the same reason: @peculiar/x509 builds the extensions on
    // first use, and a malformed one threw a TypeError from `basicConstraints` (found by fuzzing).
    void parsed.extensions;
  }

  /**
   * Parses one DER certificate; `what` names it in errors ("x5c[1]", "trust store ca:prod file
   * root.pem"). With `cache`, a certificate parsed before (same DER) is returned as is.
   */
  static fromDer(der: Uint8Array, what: string, cache?: CertificateCache): Certificate {
    const key = createHash('sha256').update(der).digest('hex');
    const cached = cache?.get(key);
    if (cached !== undefined) return cached;
    try {
      const bytes = new Uint8Array(der);
      const certificate = new Certificate(bytes, new x509.X509Certificate(bytes), new NodeX509Certificate(bytes), key);
      cache?.set(key, certificate);
      return certificate;
    } catch (error) {
      throw new VouchError('INVALID_INPUT', `${what}: not a valid X.509 certificate (${(error as Error).message})`, {
        reason: 'BAD_CONTENT',
        cause: error,
      });
    }
  }

  get subject(): string {
    return this.parsed.subject;
  }

  get issuer(): string {
    return this.parsed.issuer;
  }

  get notBefore(): Date {
    return this.parsed.notBefore;
  }

  get notAfter(): Date {
    return this.parsed.notAfter;
  }

  /** Raw DER bytes of the subject and issuer Names, for byte-equal chaining checks. */
  get rawSubject(): Uint8Array {
    this.#rawSubject ??= new Uint8Array(this.parsed.subjectName.toArrayBuffer());
    return this.#rawSubject;
  }

  get rawIssuer(): Uint8Array {
    this.#rawIssuer ??= new Uint8Array(this.parsed.issuerName.toArrayBuffer());
    return this.#rawIssuer;
  }

  extension<T extends x509.Extension>(type: new (...args: never[]) => T): T | undefined {
    return this.parsed.getExtension(type as never) as T | undefined;
  }

  get basicConstraints(): x509.BasicConstraintsExtension | undefined {
    return this.parsed.getExtension(x509.BasicConstraintsExtension) ?? undefined;
  }

  get keyUsage(): x509.KeyUsagesExtension | undefined {
    return this.parsed.getExtension(x509.KeyUsagesExtension) ?? undefined;
  }

  get extendedKeyUsage(): x509.ExtendedKeyUsageExtension | undefined {
    return this.parsed.getExtension(x509.ExtendedKeyUsageExtension) ?? undefined;
  }

  get isCA(): boolean {
    return this.basicConstraints?.ca === true;
  }

  /** X.509 version as written in the TBSCertificate, 1-based like Go's `Certificate.Version` (v1 = 1, v3 = 3). */
  get version(): number {
    this.#version ??= AsnConvert.parse(this.der, asn1X509.Certificate).tbsCertificate.version + 1;
    return this.#version;
  }

  /** Hash of the certificate's own signature algorithm in WebCrypto spelling ("SHA-256"), when @peculiar/x509 knows it. */
  get signatureHash(): string | undefined {
    try {
      const algorithm = this.parsed.signatureAlgorithm as { hash?: { name?: string } };
      return algorithm.hash?.name;
    } catch {
      return undefined;
    }
  }

  /** Issuer DN equals subject DN and the certificate's signature verifies with its own key. */
  isSelfSigned(): boolean {
    this.#selfSigned ??= bytesEqual(this.rawIssuer, this.rawSubject) && this.isSignedBy(this);
    return this.#selfSigned;
  }

  /** This certificate's issuer DN is byte-equal to `issuer`'s subject DN and `issuer`'s key signed it. */
  isIssuedBy(issuer: Certificate): boolean {
    return bytesEqual(this.rawIssuer, issuer.rawSubject) && this.isSignedBy(issuer);
  }

  /** True when `issuer`'s key verifies this certificate's signature (no name check). */
  isSignedBy(issuer: Certificate): boolean {
    // Both are immutable and shared: a signature check between the same two is done once.
    const known = this.#signedBy.get(issuer);
    if (known !== undefined) return known;
    let result: boolean;
    try {
      result = this.node.verify(issuer.publicKey);
    } catch {
      result = false;
    }
    this.#signedBy.set(issuer, result);
    return result;
  }

  /** Byte-equal DER. Parsed certificates are shared, so this is usually an identity check. */
  equals(other: Certificate): boolean {
    return this === other || bytesEqual(this.der, other.der);
  }

  toPem(): string {
    return this.parsed.toString('pem');
  }
}

/** Byte equality without copying either array. */
function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return (
    a.byteLength === b.byteLength &&
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
  );
}

/**
 * Parses every certificate in a file: one DER certificate, or any number of PEM blocks (notation
 * reads trust store files whatever their extension). Throws INVALID_INPUT when there is none.
 */
export function parseCertificates(bytes: Uint8Array, what: string): Certificate[] {
  const text = Buffer.from(bytes).toString('latin1');
  if (text.includes('-----BEGIN')) {
    const blocks = [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)];
    if (blocks.length === 0) {
      throw new VouchError('INVALID_INPUT', `${what}: PEM without a CERTIFICATE block`, { reason: 'BAD_CONTENT' });
    }
    return blocks.map((block, i) =>
      Certificate.fromDer(Buffer.from(block[1]!.replace(/\s+/g, ''), 'base64'), `${what} (PEM block ${i + 1})`),
    );
  }
  if (bytes.length === 0) throw new VouchError('INVALID_INPUT', `${what}: empty file`, { reason: 'BAD_CONTENT' });
  return [Certificate.fromDer(bytes, what)];
}
