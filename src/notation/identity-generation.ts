// Generates a Notary Project signing identity: a root CA and a code-signing leaf that satisfy the
// certificate requirements (signature-specification.md "Certificate Requirements"). Used by the
// offline demo and for signing in tests and promotion; like `notation cert generate-test`, it is
// for development and air-gapped setups, not a replacement for a real PKI.

import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { KeyObject, randomBytes, webcrypto } from 'node:crypto';
import { Certificate } from '../trust/index.js';

export interface SigningIdentity {
  /** The leaf's private key, for signEnvelope. */
  privateKey: KeyObject;
  /** Leaf first, root last (what goes into x5c). */
  certificateChain: Certificate[];
  /** The root to put into a trust store (`x509/ca/<name>/`). */
  root: Certificate;
}

export interface SigningIdentityOptions {
  /** Leaf subject, RFC 4514 order as in a trust policy identity (must carry C, ST, O to be matchable). */
  subject: string;
  /** Root CA subject (default: the leaf's with CN "<CN> root"). */
  rootSubject?: string;
  /** Validity in days from now (default 365). */
  days?: number;
}

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive, non-zero leading byte
  return bytes.toString('hex');
}

/** An EC P-256 root and leaf (ES256 signatures). */
export async function generateSigningIdentity(options: SigningIdentityOptions): Promise<SigningIdentity> {
  const crypto = webcrypto as unknown as Parameters<typeof x509.SubjectKeyIdentifierExtension.create>[2] & webcrypto.Crypto;
  const now = Date.now();
  const notBefore = new Date(now - 60_000);
  const notAfter = new Date(now + (options.days ?? 365) * 86_400_000);
  const rootKeys = (await crypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const leafKeys = (await crypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const rootSubject = options.rootSubject ?? options.subject.replace(/CN=([^,]+)/, 'CN=$1 root');
  const root = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial(),
      name: rootSubject,
      notBefore,
      notAfter,
      signingAlgorithm: SIGNING,
      keys: rootKeys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 1, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const leaf = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial(),
      subject: options.subject,
      issuer: root.subject,
      notBefore,
      notAfter,
      signingAlgorithm: SIGNING,
      publicKey: leafKeys.publicKey,
      signingKey: rootKeys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.codeSigning], false),
        await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const rootCertificate = Certificate.fromDer(new Uint8Array(root.rawData), 'generated root');
  return {
    privateKey: KeyObject.from(leafKeys.privateKey as unknown as webcrypto.CryptoKey),
    certificateChain: [Certificate.fromDer(new Uint8Array(leaf.rawData), 'generated leaf'), rootCertificate],
    root: rootCertificate,
  };
}
