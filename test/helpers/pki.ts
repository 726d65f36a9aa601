// A test PKI: roots, intermediates, code-signing leaves and TSA certificates generated with
// @peculiar/x509 over node's webcrypto, with a knob for every extension and field the Notary
// certificate rules look at, so a negative test can break exactly one rule.

import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { generateKeyPair as generateKeyPairCb, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { Certificate, OID } from '../../src/trust/index.js';

const generateKeyPair = promisify(generateKeyPairCb);
type X509Crypto = Parameters<typeof x509.cryptoProvider.set>[0];
type SigningAlgorithm = webcrypto.Algorithm & Record<string, unknown>;
const provider = webcrypto as unknown as X509Crypto;
const subtle = webcrypto.subtle;
x509.cryptoProvider.set(provider);

/** Key types: the six Notary ones, plus weak/foreign ones for negative tests. */
export type KeySpec =
  'rsa-2048' | 'rsa-3072' | 'rsa-4096' | 'ec-p256' | 'ec-p384' | 'ec-p521' | 'rsa-1024' | 'ec-p224' | 'ec-secp256k1' | 'ed25519';

export const NOTARY_KEY_SPECS = ['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384', 'ec-p521'] as const;

export type HashName = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';

export interface GeneratedKeys {
  spec: KeySpec;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export interface GeneratedCertificate {
  certificate: Certificate;
  /** The certificate's private key (node KeyObject, usable with signEnvelope). */
  privateKey: KeyObject;
  publicKey: KeyObject;
  der: Uint8Array;
  keySpec: KeySpec;
}

export interface CertificateOptions {
  /** RFC 4514-style DN, e.g. `CN=leaf,O=Notary,ST=WA,C=US`. */
  subject?: string;
  /** Key to generate (default rsa-2048 for CAs, ec-p256 is faster), or `keys` to reuse one. */
  key?: KeySpec;
  keys?: GeneratedKeys;
  /** The issuing certificate; omitted → self-signed. */
  issuer?: GeneratedCertificate;
  /** Writes this issuer DN instead of the issuer's subject (still signed by the issuer's key). */
  issuerName?: string;
  /** Signs with this key instead of the issuer's (or own) key: a certificate whose signature does not verify. */
  signingKey?: KeyObject;
  notBefore?: Date;
  notAfter?: Date;
  /** Hex serial number; random when omitted. */
  serialNumber?: string;
  /** Hash of the certificate signature (default: SHA-256, or the curve's hash for EC issuers). */
  signatureHash?: HashName;
  /** RSA issuers: PKCS#1 v1.5 (default) or RSASSA-PSS certificate signatures. */
  rsaSignatureScheme?: 'pkcs1' | 'pss';
  /** `null` omits the extension. */
  basicConstraints?: { ca: boolean; pathLength?: number; critical?: boolean } | null;
  /** Bits from x509.KeyUsageFlags (KEY_USAGE); `null` omits the extension. */
  keyUsage?: { usages: number; critical?: boolean } | null;
  /** EKU OIDs; `null` omits the extension. */
  extendedKeyUsage?: { usages: string[]; critical?: boolean } | null;
  crlDistributionPoints?: string[];
  ocspUrls?: string[];
  caIssuerUrls?: string[];
  /** Omit subject/authority key identifiers. */
  noKeyIdentifiers?: boolean;
  /** Any further extensions, e.g. `new x509.Extension('1.2.3.4', true, new Uint8Array([5, 0]))`. */
  extraExtensions?: x509.Extension[];
}

const DAY = 24 * 60 * 60 * 1000;

const CURVES: Record<string, string> = { 'ec-p256': 'P-256', 'ec-p384': 'P-384', 'ec-p521': 'P-521' };
const NODE_CURVES: Record<string, string> = {
  'ec-p256': 'prime256v1',
  'ec-p384': 'secp384r1',
  'ec-p521': 'secp521r1',
  'ec-p224': 'secp224r1',
  'ec-secp256k1': 'secp256k1',
};
const CURVE_HASH: Record<string, HashName> = { 'P-256': 'SHA-256', 'P-384': 'SHA-384', 'P-521': 'SHA-512' };

/** A fresh key pair as node KeyObjects. */
export async function generateKeys(spec: KeySpec): Promise<GeneratedKeys> {
  if (spec.startsWith('rsa-')) {
    const { privateKey, publicKey } = await generateKeyPair('rsa', { modulusLength: Number(spec.slice(4)) });
    return { spec, privateKey, publicKey };
  }
  if (spec === 'ed25519') {
    const { privateKey, publicKey } = await generateKeyPair('ed25519');
    return { spec, privateKey, publicKey };
  }
  const { privateKey, publicKey } = await generateKeyPair('ec', { namedCurve: NODE_CURVES[spec]! });
  return { spec, privateKey, publicKey };
}

/** Imports a node private key as a webcrypto signing key for the certificate signature. */
async function signingCryptoKey(
  key: KeyObject,
  hash: HashName | undefined,
  rsaScheme: 'pkcs1' | 'pss',
): Promise<{ key: webcrypto.CryptoKey; algorithm: SigningAlgorithm }> {
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  if (key.asymmetricKeyType === 'rsa') {
    const h = hash ?? 'SHA-256';
    if (rsaScheme === 'pss') {
      const saltLength = { 'SHA-1': 20, 'SHA-256': 32, 'SHA-384': 48, 'SHA-512': 64 }[h];
      const cryptoKey = await subtle.importKey('pkcs8', pkcs8, { name: 'RSA-PSS', hash: h }, false, ['sign']);
      return { key: cryptoKey, algorithm: { name: 'RSA-PSS', hash: h, saltLength } };
    }
    const cryptoKey = await subtle.importKey('pkcs8', pkcs8, { name: 'RSASSA-PKCS1-v1_5', hash: h }, false, ['sign']);
    return { key: cryptoKey, algorithm: { name: 'RSASSA-PKCS1-v1_5', hash: h } };
  }
  if (key.asymmetricKeyType === 'ec') {
    const curveName = key.asymmetricKeyDetails?.namedCurve;
    const namedCurve = Object.entries(NODE_CURVES).find(([, node]) => node === curveName)?.[0];
    const webCurve = namedCurve === undefined ? undefined : CURVES[namedCurve];
    if (webCurve === undefined) throw new Error(`pki: cannot sign certificates with curve ${curveName}`);
    const cryptoKey = await subtle.importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve: webCurve }, false, ['sign']);
    return { key: cryptoKey, algorithm: { name: 'ECDSA', hash: hash ?? CURVE_HASH[webCurve] } };
  }
  throw new Error(`pki: cannot sign certificates with ${key.asymmetricKeyType} keys`);
}

/** A random positive serial (Go's x509 parser rejects negative ones). */
function positiveSerial(): string {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  return serial.toString('hex');
}

/** Generates one certificate exactly as the options say (no defaults for extensions: see the role helpers). */
export async function generateCertificate(options: CertificateOptions = {}): Promise<GeneratedCertificate> {
  const keys = options.keys ?? (await generateKeys(options.key ?? 'ec-p256'));
  const subject = options.subject ?? 'CN=vouch test,O=vouch,ST=WA,C=US';
  const issuerKey = options.signingKey ?? options.issuer?.privateKey ?? keys.privateKey;
  const { key: signingKey, algorithm } = await signingCryptoKey(issuerKey, options.signatureHash, options.rsaSignatureScheme ?? 'pkcs1');
  const spki = keys.publicKey.export({ type: 'spki', format: 'der' });

  const extensions: x509.Extension[] = [];
  if (options.basicConstraints) {
    const bc = options.basicConstraints;
    extensions.push(new x509.BasicConstraintsExtension(bc.ca, bc.pathLength, bc.critical ?? true));
  }
  if (options.keyUsage) extensions.push(new x509.KeyUsagesExtension(options.keyUsage.usages, options.keyUsage.critical ?? true));
  if (options.extendedKeyUsage) {
    extensions.push(new x509.ExtendedKeyUsageExtension(options.extendedKeyUsage.usages, options.extendedKeyUsage.critical ?? false));
  }
  if (!options.noKeyIdentifiers) {
    const publicKey = new x509.PublicKey(spki);
    extensions.push(await x509.SubjectKeyIdentifierExtension.create(publicKey, false, provider));
    const issuerPublic = options.issuer ? new x509.PublicKey(options.issuer.publicKey.export({ type: 'spki', format: 'der' })) : publicKey;
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuerPublic, false, provider));
  }
  if (options.crlDistributionPoints?.length) extensions.push(new x509.CRLDistributionPointsExtension(options.crlDistributionPoints));
  if (options.ocspUrls?.length || options.caIssuerUrls?.length) {
    extensions.push(
      new x509.AuthorityInfoAccessExtension({
        ...(options.ocspUrls?.length ? { ocsp: options.ocspUrls } : {}),
        ...(options.caIssuerUrls?.length ? { caIssuers: options.caIssuerUrls } : {}),
      }),
    );
  }
  extensions.push(...(options.extraExtensions ?? []));

  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: options.serialNumber ?? positiveSerial(),
      subject,
      // The issuer's own subject Name object, so issuer DN bytes equal the issuer's subject bytes.
      issuer: options.issuerName ?? options.issuer?.certificate.parsed.subjectName ?? subject,
      notBefore: options.notBefore ?? new Date(now - DAY),
      notAfter: options.notAfter ?? new Date(now + 365 * DAY),
      publicKey: spki,
      signingKey,
      signingAlgorithm: algorithm,
      extensions,
    },
    provider,
  );
  const der = new Uint8Array(cert.rawData);
  const certificate = Certificate.fromDer(der, subject);
  return { certificate, privateKey: keys.privateKey, publicKey: keys.publicKey, der, keySpec: keys.spec };
}

/** A self-signed root CA: basicConstraints cA (critical), keyUsage keyCertSign|cRLSign (critical). */
export function generateRoot(options: CertificateOptions = {}): Promise<GeneratedCertificate> {
  return generateCertificate({
    subject: 'CN=vouch test root,O=vouch,ST=WA,C=US',
    key: 'rsa-2048',
    basicConstraints: { ca: true, critical: true },
    keyUsage: { usages: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, critical: true },
    ...options,
  });
}

/** An intermediate CA issued by `issuer`. */
export function generateIntermediate(issuer: GeneratedCertificate, options: CertificateOptions = {}): Promise<GeneratedCertificate> {
  return generateCertificate({
    subject: 'CN=vouch test intermediate,O=vouch,ST=WA,C=US',
    key: 'ec-p256',
    issuer,
    basicConstraints: { ca: true, critical: true },
    keyUsage: { usages: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, critical: true },
    ...options,
  });
}

/**
 * A code-signing leaf: keyUsage digitalSignature (critical), EKU codeSigning, no basicConstraints.
 * Self-signed unless `issuer` is given (notation's `cert generate-test` shape).
 */
export function generateLeaf(options: CertificateOptions = {}): Promise<GeneratedCertificate> {
  return generateCertificate({
    subject: 'CN=vouch test signer,O=Notary,L=Seattle,ST=WA,C=US',
    key: 'ec-p256',
    keyUsage: { usages: x509.KeyUsageFlags.digitalSignature, critical: true },
    extendedKeyUsage: { usages: [OID.codeSigning], critical: false },
    ...options,
  });
}

/** A TSA signing leaf: keyUsage digitalSignature (critical), EKU exactly timeStamping (critical). */
export function generateTsaLeaf(issuer: GeneratedCertificate | undefined, options: CertificateOptions = {}): Promise<GeneratedCertificate> {
  return generateCertificate({
    subject: 'CN=vouch test TSA,O=vouch,ST=WA,C=US',
    key: 'rsa-2048',
    ...(issuer ? { issuer } : {}),
    keyUsage: { usages: x509.KeyUsageFlags.digitalSignature, critical: true },
    extendedKeyUsage: { usages: [OID.timeStamping], critical: true },
    ...options,
  });
}

export interface GeneratedChain {
  /** Leaf first, root last. */
  chain: GeneratedCertificate[];
  leaf: GeneratedCertificate;
  root: GeneratedCertificate;
  certificates: Certificate[];
  ders: Uint8Array[];
}

export interface ChainOptions {
  /** 1 (self-signed leaf), 2 (leaf + root) or more (leaf + intermediates + root). Default 3. */
  length?: number;
  leafKey?: KeySpec;
  root?: CertificateOptions;
  /** Options for each intermediate, nearest the leaf first. */
  intermediates?: CertificateOptions[];
  leaf?: CertificateOptions;
}

/** A complete code-signing chain with per-certificate overrides. */
export async function generateChain(options: ChainOptions = {}): Promise<GeneratedChain> {
  const length = options.length ?? 3;
  if (length === 1) {
    const leaf = await generateLeaf({ ...(options.leafKey ? { key: options.leafKey } : {}), ...options.leaf });
    return { chain: [leaf], leaf, root: leaf, certificates: [leaf.certificate], ders: [leaf.der] };
  }
  const root = await generateRoot(options.root);
  const cas: GeneratedCertificate[] = [root];
  for (let i = length - 3; i >= 0; i--) {
    cas.unshift(
      await generateIntermediate(cas[0]!, {
        subject: `CN=vouch test intermediate ${i + 1},O=vouch,ST=WA,C=US`,
        ...options.intermediates?.[i],
      }),
    );
  }
  const leaf = await generateLeaf({ issuer: cas[0]!, ...(options.leafKey ? { key: options.leafKey } : {}), ...options.leaf });
  const chain = [leaf, ...cas];
  return { chain, leaf, root, certificates: chain.map((c) => c.certificate), ders: chain.map((c) => c.der) };
}

export { x509 };
