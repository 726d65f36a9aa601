// RFC 3161 timestamp countersignatures of Notary Project signatures, verified the way notation-go
// does it (trust-store-trust-policy.md "Signature Verification details", step "authentic
// timestamp"; notation-go verifier.verifyTimestamp with tspclient-go). The token is a CMS
// SignedData (RFC 5652) over a TSTInfo whose messageImprint covers the raw primitive signature.
// Parsing is pkijs/asn1js; signatures are checked with node:crypto.

import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { constants as cryptoConstants, createHash, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { VouchError, errorMessage, type ErrorReason } from '../core/index.js';
import { Certificate, OID, type CertificateCache } from '../trust/index.js';
import { validateTimestampingChain } from './chain.js';

/** id-ct-TSTInfo (RFC 3161 §2.4.2): the only content type a timestamp token may carry. */
export const TST_INFO_CONTENT_TYPE = '1.2.840.113549.1.9.16.1.4';
/** The RFC 3628 baseline time-stamp policy; tokens under it without accuracy mean ±1 s. */
export const BASELINE_TIMESTAMP_POLICY = '0.4.0.2023.1.1';

const SIGNED_DATA_CONTENT_TYPE = '1.2.840.113549.1.7.2';
const ATTR_CONTENT_TYPE = '1.2.840.113549.1.9.3';
const ATTR_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
const ATTR_SIGNING_TIME = '1.2.840.113549.1.9.5';
const ATTR_SIGNING_CERTIFICATE_V2 = '1.2.840.113549.1.9.16.2.47';

export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** Digest algorithm OIDs (NIST / OIW) we know. SHA-1 is listed so it can be named and refused. */
export const HASH_OID: Readonly<Record<HashName, string>> = {
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
};

/** The inverse of {@link HASH_OID}: OID → hash name (no prototype, so any OID string is a safe key). */
export const HASH_BY_OID: Readonly<Record<string, HashName | undefined>> = Object.assign(
  Object.create(null) as Record<string, HashName>,
  Object.fromEntries(Object.entries(HASH_OID).map(([name, oid]) => [oid, name as HashName])),
);

/** A timestamp whose token verified and whose TSA chain leads to a trusted TSA root. */
export interface VerifiedTimestamp {
  genTime: Date;
  /** TSTInfo.accuracy in ms (micros kept as a fraction); 1000 for the baseline policy without one. */
  accuracyMs: number;
  /** genTime − accuracy (rounded down to the ms). */
  earliest: Date;
  /** genTime + accuracy (rounded up to the ms). */
  latest: Date;
  /** TSA policy OID from TSTInfo. */
  policy: string;
  /** TSA signing certificate first, trusted root last. */
  tsaChain: Certificate[];
}

/** What a token claims, before any signature or trust check (for inspection and diagnostics). */
export interface TimestampTokenInfo {
  genTime: Date;
  accuracyMs: number;
  earliest: Date;
  latest: Date;
  policy: string;
  /** TSTInfo.serialNumber, lowercase hex. */
  serialNumber: string;
  /** messageImprint hash algorithm, when it is one we accept. */
  imprintAlgorithm: HashName | undefined;
  /** The certificates the token carries, in token order. */
  certificates: Certificate[];
  /** TSTInfo.nonce as encoded (a requester checks it echoes its request's), when present. */
  nonce: Uint8Array | undefined;
}

export interface VerifyTimestampOptions {
  /**
   * Checks the TSA chain (leaf → root) against the Notary Project timestamping certificate rules;
   * throws an Error whose message names the rule. Defaults to chain.ts's validateTimestampingChain.
   */
  validateChain?: (chain: Certificate[]) => void;
  /** Parsed certificates, owned by the caller (the engine), for the token's certificates. */
  certificates?: CertificateCache | undefined;
}

/**
 * Verifies an RFC 3161 TimeStampToken countersigning `signedSignature` (the raw primitive
 * signature bytes of the envelope) and returns the authenticated time range. A token that is
 * malformed, corrupt or for other data is INVALID_SIGNATURE (it is part of the envelope); a
 * token whose TSA chain does not reach one of `tsaRoots` at genTime, or breaks the TSA
 * certificate rules, is UNTRUSTED_SIGNER. Revocation of the TSA chain is the caller's step.
 */
export function verifyTimestampToken(
  token: Uint8Array,
  signedSignature: Uint8Array,
  tsaRoots: Certificate[],
  options: VerifyTimestampOptions = {},
): VerifiedTimestamp {
  return guarded(() => verifyToken(token, signedSignature, tsaRoots, options));
}

function verifyToken(
  token: Uint8Array,
  signedSignature: Uint8Array,
  tsaRoots: Certificate[],
  options: VerifyTimestampOptions,
): VerifiedTimestamp {
  // 1. parse ContentInfo → SignedData with eContentType id-ct-TSTInfo
  const parsed = parseSignedToken(token, options.certificates);
  // 2. parse TSTInfo
  const info = parseTstInfo(parsed.signedData);
  // 3. messageImprint == hash(signature)
  validateImprint(info, signedSignature);
  const range = timeRange(info);
  // 4. the CMS signature, by the certificate signing-certificate-v2 names
  const signer = verifySigner(parsed);
  // 5. the TSA chain to a trusted root, with the clock at genTime
  const chain = buildTsaChain(signer, parsed.certificates, tsaRoots, info.genTime);
  // 6. the timestamping certificate rules (leaf EKU timeStamping only, critical; CA rules)
  try {
    (options.validateChain ?? validateTimestampingChain)(chain);
  } catch (error) {
    throw untrusted(`failed to validate the timestamping certificate chain with error: ${errorMessage(error)}`, error);
  }
  // 7. a signing-time attribute, when present, must fall inside the chain's validity (tspclient-go)
  if (parsed.signingTime !== undefined && !chain.every((c) => withinValidity(c, parsed.signingTime!))) {
    throw untrusted(
      `failed to verify the timestamp countersignature with error: signing time ${parsed.signingTime.toISOString()} is outside certificate's validity period`,
    );
  }
  return {
    genTime: info.genTime,
    accuracyMs: range.accuracyMs,
    earliest: range.earliest,
    latest: range.latest,
    policy: info.policy,
    tsaChain: chain,
  };
}

/**
 * Parses a token without verifying anything but its structure, as `notation inspect` shows it.
 * Throws INVALID_SIGNATURE for a token that is not a TimeStampToken.
 */
export function parseTimestampToken(token: Uint8Array): TimestampTokenInfo {
  return guarded(() => inspectToken(token));
}

function inspectToken(token: Uint8Array): TimestampTokenInfo {
  const parsed = parseSignedToken(token);
  const info = parseTstInfo(parsed.signedData);
  const range = timeRange(info);
  return {
    genTime: info.genTime,
    accuracyMs: range.accuracyMs,
    earliest: range.earliest,
    latest: range.latest,
    policy: info.policy,
    serialNumber: info.serialNumber,
    imprintAlgorithm: HASH_BY_OID[info.imprintAlgorithm],
    certificates: parsed.certificates.map((c) => c.certificate),
    nonce: info.nonce,
  };
}

// ---------------------------------------------------------------------------------------------
// Parsing

interface TokenCertificate {
  certificate: Certificate;
  pkijs: pkijs.Certificate;
}

interface ParsedToken {
  signedData: pkijs.SignedData;
  certificates: TokenCertificate[];
  /** Set by verifySigner from the verified signed attributes. */
  signingTime?: Date;
}

interface ParsedTstInfo {
  version: number;
  policy: string;
  imprintAlgorithm: string;
  imprint: Uint8Array;
  serialNumber: string;
  genTime: Date;
  accuracyMicros: number;
  nonce: Uint8Array | undefined;
}

function parseSignedToken(token: Uint8Array, cache?: CertificateCache): ParsedToken {
  const what = 'failed to parse timestamp countersignature with error';
  if (token.length === 0) throw invalid(`${what}: empty timestamp token`, 'BAD_CONTENT');
  // asn1js reads BER (indefinite lengths, constructed strings)
  const decoded = decodeBer(token, `${what}: invalid signed data`);

  let contentInfo: pkijs.ContentInfo;
  try {
    contentInfo = new pkijs.ContentInfo({ schema: decoded.result });
  } catch (error) {
    throw invalid(`${what}: invalid content info: ${errorMessage(error)}`, 'BAD_CONTENT', error);
  }
  if (contentInfo.contentType !== SIGNED_DATA_CONTENT_TYPE) {
    throw invalid(`${what}: content type ${contentInfo.contentType} is not signed data (${SIGNED_DATA_CONTENT_TYPE})`, 'BAD_CONTENT');
  }
  let signedData: pkijs.SignedData;
  try {
    signedData = new pkijs.SignedData({ schema: contentInfo.content });
  } catch (error) {
    throw invalid(`${what}: invalid signed data: ${errorMessage(error)}`, 'BAD_CONTENT', error);
  }
  const contentType = signedData.encapContentInfo.eContentType;
  if (contentType !== TST_INFO_CONTENT_TYPE) {
    throw invalid(
      `${what}: unexpected content type: ${contentType}. Expected to be id-ct-TSTInfo (${TST_INFO_CONTENT_TYPE})`,
      'BAD_CONTENT',
    );
  }

  const certificates: TokenCertificate[] = [];
  for (const [i, item] of (signedData.certificates ?? []).entries()) {
    // attribute certificates and other formats are not part of a TSA chain
    if (!(item instanceof pkijs.Certificate)) continue;
    try {
      const der = new Uint8Array(item.toSchema().toBER(false));
      certificates.push({ certificate: Certificate.fromDer(der, `timestamp token certificate ${i}`, cache), pkijs: item });
    } catch (error) {
      throw invalid(`${what}: failed to parse X509 certificates from signed data: ${errorMessage(error)}`, 'BAD_CONTENT', error);
    }
  }
  return { signedData, certificates };
}

function eContentBytes(signedData: pkijs.SignedData): Uint8Array | undefined {
  const eContent = signedData.encapContentInfo.eContent;
  if (eContent === undefined || !(eContent instanceof asn1js.OctetString)) return undefined;
  return new Uint8Array(eContent.getValue());
}

function parseTstInfo(signedData: pkijs.SignedData): ParsedTstInfo {
  const what = 'failed to get the timestamp TSTInfo with error: cannot unmarshal TSTInfo from timestamp token';
  const content = eContentBytes(signedData);
  if (content === undefined || content.length === 0) throw invalid(`${what}: the token has no TSTInfo content`, 'BAD_CONTENT');
  const decoded = decodeBer(content, what);
  let tst: pkijs.TSTInfo;
  try {
    tst = new pkijs.TSTInfo({ schema: decoded.result });
  } catch (error) {
    throw invalid(`${what}: ${errorMessage(error)}`, 'BAD_CONTENT', error);
  }
  if (tst.version !== 1) {
    throw invalid(
      `failed to get timestamp from timestamp countersignature with error: invalid TSTInfo: timestamp token info version must be 1, but got ${tst.version}`,
      'BAD_CONTENT',
    );
  }
  const genTime = tst.genTime;
  if (!(genTime instanceof Date) || Number.isNaN(genTime.getTime())) throw invalid(`${what}: invalid genTime`, 'BAD_CONTENT');
  const accuracy = tst.accuracy;
  const seconds = accuracy?.seconds ?? 0;
  const millis = accuracy?.millis ?? 0;
  const micros = accuracy?.micros ?? 0;
  if (![seconds, millis, micros].every((n) => Number.isSafeInteger(n) && n >= 0) || millis > 999 || micros > 999) {
    throw invalid(`${what}: invalid accuracy`, 'BAD_CONTENT');
  }
  return {
    version: tst.version,
    policy: tst.policy,
    imprintAlgorithm: tst.messageImprint.hashAlgorithm.algorithmId,
    imprint: new Uint8Array(tst.messageImprint.hashedMessage.valueBlock.valueHexView),
    serialNumber: Buffer.from(tst.serialNumber.valueBlock.valueHexView).toString('hex'),
    genTime,
    accuracyMicros: seconds * 1_000_000 + millis * 1000 + micros,
    nonce: tst.nonce === undefined ? undefined : new Uint8Array(tst.nonce.valueBlock.valueHexView),
  };
}

function validateImprint(info: ParsedTstInfo, signedSignature: Uint8Array): void {
  const what = 'failed to get timestamp from timestamp countersignature with error: invalid TSTInfo';
  const hash = HASH_BY_OID[info.imprintAlgorithm];
  if (hash === undefined || hash === 'sha1') {
    throw invalid(`${what}: unrecognized hash algorithm: ${info.imprintAlgorithm}`, 'UNSUPPORTED');
  }
  const digest = createHash(hash).update(signedSignature).digest();
  if (!digest.equals(Buffer.from(info.imprint))) throw invalid(`${what}: mismatched message`, 'DIGEST_MISMATCH');
}

/** Accuracy per tspclient-go: TSTInfo.accuracy, else 1 s under the baseline policy, else 0. */
function timeRange(info: ParsedTstInfo): { accuracyMs: number; earliest: Date; latest: Date } {
  const micros = info.accuracyMicros === 0 && info.policy === BASELINE_TIMESTAMP_POLICY ? 1_000_000 : info.accuracyMicros;
  const accuracyMs = micros / 1000;
  const t = info.genTime.getTime();
  return { accuracyMs, earliest: new Date(Math.floor(t - accuracyMs)), latest: new Date(Math.ceil(t + accuracyMs)) };
}

// ---------------------------------------------------------------------------------------------
// The CMS signer

/**
 * Finds the signer certificate through signing-certificate-v2 and verifies the signer info.
 * Like tspclient-go, the first signer info that verifies wins; otherwise the last error is raised.
 */
function verifySigner(parsed: ParsedToken): TokenCertificate {
  const signerInfos = parsed.signedData.signerInfos;
  if (signerInfos.length === 0) {
    throw invalid(
      'failed to verify the timestamp countersignature with error: failed to verify signed token: signerInfo not found',
      'BAD_CONTENT',
    );
  }
  let lastError: VouchError | undefined;
  for (const signerInfo of signerInfos) {
    try {
      const signer = signingCertificate(parsed, signerInfo);
      parsed.signingTime = verifySignerInfo(parsed.signedData, signerInfo, signer.certificate);
      return signer;
    } catch (error) {
      if (!(error instanceof VouchError)) throw error;
      lastError = error;
    }
  }
  throw lastError!;
}

interface EssCertIdV2 {
  hash: HashName | undefined;
  hashOid: string;
  certHash: Uint8Array;
  issuerName?: Uint8Array;
  serialNumber?: asn1js.Integer;
}

// SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies SEQUENCE OF PolicyInformation OPTIONAL }
// ESSCertIDv2 ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier DEFAULT id-sha256, certHash OCTET STRING, issuerSerial IssuerSerial OPTIONAL }
// IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber CertificateSerialNumber }   (RFC 5035 §3)
const SIGNING_CERTIFICATE_V2_SCHEMA = new asn1js.Sequence({
  value: [
    new asn1js.Sequence({ name: 'certs', value: [new asn1js.Repeated({ name: 'certIds', value: new asn1js.Any() })] }),
    new asn1js.Sequence({ name: 'policies', optional: true, value: [new asn1js.Repeated({ value: new asn1js.Any() })] }),
  ],
});
const ESS_CERT_ID_V2_SCHEMA = new asn1js.Sequence({
  value: [
    pkijs.AlgorithmIdentifier.schema({ names: { blockName: 'hashAlgorithm', optional: true } }),
    new asn1js.OctetString({ name: 'certHash' }),
    new asn1js.Sequence({
      name: 'issuerSerial',
      optional: true,
      value: [
        new asn1js.Sequence({ name: 'issuer', value: [new asn1js.Repeated({ name: 'generalNames', value: new asn1js.Any() })] }),
        new asn1js.Integer({ name: 'serialNumber' }),
      ],
    }),
  ],
});

function parseSigningCertificateV2(value: asn1js.AsnType): EssCertIdV2 {
  const top = asn1js.compareSchema(value, value, SIGNING_CERTIFICATE_V2_SCHEMA);
  if (!top.verified) throw new Error('malformed SigningCertificateV2 attribute');
  const certIds = (top.result as Record<string, asn1js.AsnType[] | undefined>)['certIds'] ?? [];
  const first = certIds[0];
  if (first === undefined) throw new Error('signingCertificateV2 does not contain any certificate');
  const id = asn1js.compareSchema(first, first, ESS_CERT_ID_V2_SCHEMA);
  if (!id.verified) throw new Error('malformed ESSCertIDv2 in SigningCertificateV2 attribute');
  const r = id.result as Record<string, unknown>;
  const hashOid = r['hashAlgorithm'] ? new pkijs.AlgorithmIdentifier({ schema: r['hashAlgorithm'] }).algorithmId : HASH_OID.sha256;
  const out: EssCertIdV2 = {
    hash: HASH_BY_OID[hashOid],
    hashOid,
    certHash: new Uint8Array((r['certHash'] as asn1js.OctetString).valueBlock.valueHexView),
  };
  if (r['issuerSerial'] !== undefined) {
    out.serialNumber = r['serialNumber'] as asn1js.Integer;
    // GeneralNames: take the directoryName [4] EXPLICIT Name, as Go compares it with RawIssuer
    const names = (r['generalNames'] as asn1js.AsnType[] | undefined) ?? [];
    const directory = names.find((n) => n.idBlock.tagClass === 3 && n.idBlock.tagNumber === 4) as asn1js.Constructed | undefined;
    const name = directory?.valueBlock.value[0];
    if (name === undefined) throw new Error('issuer name is missing in IssuerSerial');
    out.issuerName = new Uint8Array(name.valueBeforeDecodeView);
  }
  return out;
}

function signingCertificate(parsed: ParsedToken, signerInfo: pkijs.SignerInfo): TokenCertificate {
  const what = 'failed to verify the timestamp countersignature with error: failed to verify signed token';
  const attribute = signerInfo.signedAttrs?.attributes.find((a) => a.type === ATTR_SIGNING_CERTIFICATE_V2);
  const value = attribute?.values[0];
  if (attribute === undefined || value === undefined) {
    throw invalid(`${what}: failed to get SigningCertificateV2 from signed attributes: attribute not found`, 'BAD_CONTENT');
  }
  let essCertId: EssCertIdV2;
  try {
    essCertId = parseSigningCertificateV2(value as asn1js.AsnType);
  } catch (error) {
    throw invalid(`${what}: ${errorMessage(error)}`, 'BAD_CONTENT', error);
  }
  // The candidate: issuerSerial of the attribute when present, else the (unsigned) sid
  let candidate: TokenCertificate | undefined;
  if (essCertId.serialNumber !== undefined && essCertId.issuerName !== undefined) {
    const issuerName = Buffer.from(essCertId.issuerName);
    const serial = essCertId.serialNumber;
    candidate = parsed.certificates.find(
      (c) => issuerName.equals(Buffer.from(c.certificate.rawIssuer)) && c.pkijs.serialNumber.isEqual(serial),
    );
  } else {
    candidate = findBySid(parsed.certificates, signerInfo.sid);
  }
  if (candidate === undefined) throw invalid(`${what}: signing certificate not found in the timestamp token`, 'BAD_CONTENT');
  if (essCertId.hash === undefined || essCertId.hash === 'sha1') {
    throw invalid(
      `${what}: unsupported certificate hash algorithm in SigningCertificateV2 attribute (${essCertId.hashOid})`,
      'UNSUPPORTED',
    );
  }
  const hash = createHash(essCertId.hash).update(candidate.certificate.der).digest();
  if (!hash.equals(Buffer.from(essCertId.certHash))) {
    throw invalid(`${what}: signing certificate hash does not match CertHash in signed attribute`, 'DIGEST_MISMATCH');
  }
  return candidate;
}

function findBySid(certificates: TokenCertificate[], sid: unknown): TokenCertificate | undefined {
  if (sid instanceof pkijs.IssuerAndSerialNumber) {
    const issuer = Buffer.from(sid.issuer.valueBeforeDecode);
    return certificates.find((c) => issuer.equals(Buffer.from(c.certificate.rawIssuer)) && c.pkijs.serialNumber.isEqual(sid.serialNumber));
  }
  // [0] SubjectKeyIdentifier (signer info version 3)
  if (sid instanceof asn1js.Constructed || sid instanceof asn1js.Primitive || sid instanceof asn1js.OctetString) {
    const block = sid as asn1js.BaseBlock & { valueBlock: { valueHexView?: Uint8Array; value?: asn1js.AsnType[] } };
    const inner = block.valueBlock.value?.[0] as asn1js.OctetString | undefined;
    const ski = inner?.valueBlock.valueHexView ?? block.valueBlock.valueHexView;
    if (ski === undefined) return undefined;
    return certificates.find((c) => {
      const ext = c.pkijs.extensions?.find((e) => e.extnID === '2.5.29.14');
      const own = ext?.parsedValue as asn1js.OctetString | undefined;
      return own?.valueBlock?.valueHexView !== undefined && Buffer.from(own.valueBlock.valueHexView).equals(Buffer.from(ski));
    });
  }
  return undefined;
}

/** RFC 5652 §5.4/§5.6: content-type and message-digest attributes, then the signature over them. Returns signing-time. */
function verifySignerInfo(signedData: pkijs.SignedData, signerInfo: pkijs.SignerInfo, signer: Certificate): Date | undefined {
  const what = 'failed to verify the timestamp countersignature with error: failed to verify signed token';
  if (signerInfo.version !== 1 && signerInfo.version !== 3) {
    throw invalid(`${what}: invalid signer info version ${signerInfo.version}`, 'BAD_CONTENT');
  }
  const attrs = signerInfo.signedAttrs;
  if (attrs === undefined || attrs.attributes.length === 0) throw invalid(`${what}: missing signed attributes`, 'BAD_CONTENT');
  const single = (type: string): unknown => {
    const found = attrs.attributes.filter((a) => a.type === type);
    if (found.length > 1 || (found[0] !== undefined && found[0].values.length !== 1)) {
      throw invalid(`${what}: attribute ${type} must have exactly one value`, 'BAD_CONTENT');
    }
    return found[0]?.values[0];
  };

  const contentType = single(ATTR_CONTENT_TYPE);
  if (!(contentType instanceof asn1js.ObjectIdentifier)) throw invalid(`${what}: invalid content type attribute`, 'BAD_CONTENT');
  if (contentType.valueBlock.toString() !== signedData.encapContentInfo.eContentType) {
    throw invalid(
      `${what}: mismatch content type: found "${contentType.valueBlock.toString()}" in signer info, and "${signedData.encapContentInfo.eContentType}" in signed data`,
      'BAD_CONTENT',
    );
  }

  const messageDigest = single(ATTR_MESSAGE_DIGEST);
  if (!(messageDigest instanceof asn1js.OctetString)) throw invalid(`${what}: invalid message digest attribute`, 'BAD_CONTENT');
  const digestHash = HASH_BY_OID[signerInfo.digestAlgorithm.algorithmId];
  if (digestHash === undefined || digestHash === 'sha1') {
    throw invalid(`${what}: unsupported digest algorithm ${signerInfo.digestAlgorithm.algorithmId}`, 'UNSUPPORTED');
  }
  const content = eContentBytes(signedData) ?? new Uint8Array(0);
  if (!createHash(digestHash).update(content).digest().equals(Buffer.from(messageDigest.valueBlock.valueHexView))) {
    throw invalid(`${what}: mismatch message digest`, 'DIGEST_MISMATCH');
  }

  // The signature covers the DER SET OF the signed attributes (pkijs already swapped [0] for SET)
  const signedBytes = new Uint8Array(attrs.encodedValue);
  const signature = new Uint8Array(signerInfo.signature.valueBlock.valueHexView);
  let ok: boolean;
  try {
    ok = verifyPkixSignature(signerInfo.signatureAlgorithm, signedBytes, signature, signer.publicKey, signerInfo.digestAlgorithm);
  } catch (error) {
    throw invalid(`${what}: ${errorMessage(error)}`, 'UNSUPPORTED', error);
  }
  if (!ok) throw invalid(`${what}: cms verification failure: the signature does not verify with the signing certificate`, 'BAD_CONTENT');

  const signingTime = single(ATTR_SIGNING_TIME);
  if (signingTime === undefined) return undefined;
  if (signingTime instanceof asn1js.UTCTime || signingTime instanceof asn1js.GeneralizedTime) return signingTime.toDate();
  throw invalid(`${what}: invalid signing time attribute`, 'BAD_CONTENT');
}

// ---------------------------------------------------------------------------------------------
// Trust: the TSA chain

/**
 * Builds leaf → root from the token's certificates to a trusted TSA root (byte-equal, or the
 * root signs the last certificate), every certificate valid at genTime and allowing the
 * timeStamping EKU (Go x509.Verify with CurrentTime = genTime, KeyUsages = timeStamping).
 */
function buildTsaChain(signer: TokenCertificate, tokenCerts: TokenCertificate[], roots: Certificate[], at: Date): Certificate[] {
  const what = 'failed to verify the timestamp countersignature with error: failed to verify signed token: cms verification failure';
  const pool = tokenCerts.map((c) => c.certificate);
  let best: string | undefined;
  const MAX_DEPTH = 8;

  const walk = (path: Certificate[]): Certificate[] | undefined => {
    const current = path[path.length - 1]!;
    if (!withinValidity(current, at)) {
      best ??= `x509: certificate has expired or is not yet valid: current time ${at.toISOString()} is outside the validity of "${current.subject}" [${current.notBefore.toISOString()}, ${current.notAfter.toISOString()}]`;
      return undefined;
    }
    if (!allowsTimestamping(current)) {
      best ??= `x509: certificate "${current.subject}" specifies an incompatible key usage`;
      return undefined;
    }
    if (roots.some((r) => r.equals(current))) return path;
    if (path.length >= MAX_DEPTH) return undefined;
    const issuerName = Buffer.from(current.rawIssuer);
    const candidates = [...roots, ...pool].filter(
      (c, i, all) =>
        all.findIndex((o) => o.equals(c)) === i && !path.some((p) => p.equals(c)) && issuerName.equals(Buffer.from(c.rawSubject)),
    );
    for (const issuer of candidates) {
      if (!current.isSignedBy(issuer)) continue;
      const found = walk([...path, issuer]);
      if (found) return found;
    }
    return undefined;
  };

  const chain = walk([signer.certificate]);
  if (chain === undefined) throw untrusted(`${what}: ${best ?? 'x509: certificate signed by unknown authority'}`);
  return chain;
}

function withinValidity(cert: Certificate, at: Date): boolean {
  return at.getTime() >= cert.notBefore.getTime() && at.getTime() <= cert.notAfter.getTime();
}

function allowsTimestamping(cert: Certificate): boolean {
  const eku = cert.extendedKeyUsage;
  if (eku === undefined) return true;
  const usages = eku.usages.map(String);
  return usages.includes(OID.timeStamping) || usages.includes(OID.anyExtendedKeyUsage);
}

// ---------------------------------------------------------------------------------------------
// Signature algorithms (X.509 / CRL / OCSP / CMS)

const RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
const RSASSA_PSS = '1.2.840.113549.1.1.10';
const EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const ED25519 = '1.3.101.112';
const RSA_PKCS1_BY_OID: Readonly<Record<string, HashName>> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};
const ECDSA_BY_OID: Readonly<Record<string, HashName>> = {
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};

/**
 * Verifies `signature` over `data` with `key` under an X.509 AlgorithmIdentifier (RSA PKCS #1
 * v1.5, RSASSA-PSS, ECDSA, Ed25519). CMS signer infos may name the bare key algorithm
 * (rsaEncryption, id-ecPublicKey) and put the hash in `digestAlgorithm`. SHA-1 is refused, as Go's
 * x509 refuses it. Returns false for a wrong signature; throws for an unsupported algorithm.
 */
export function verifyPkixSignature(
  algorithm: pkijs.AlgorithmIdentifier,
  data: Uint8Array,
  signature: Uint8Array,
  key: KeyObject,
  digestAlgorithm?: pkijs.AlgorithmIdentifier,
): boolean {
  const oid = algorithm.algorithmId;
  const digestHash = digestAlgorithm ? HASH_BY_OID[digestAlgorithm.algorithmId] : undefined;
  const secure = (hash: HashName | undefined): HashName => {
    if (hash === undefined) throw new Error(`unsupported signature algorithm ${oid}`);
    if (hash === 'sha1') throw new Error(`insecure signature algorithm ${oid} (SHA-1)`);
    return hash;
  };
  const attempt = (fn: () => boolean): boolean => {
    try {
      return fn();
    } catch {
      // a key of another type, or a malformed signature, is a failed verification
      return false;
    }
  };

  if (oid in RSA_PKCS1_BY_OID || oid === RSA_ENCRYPTION) {
    const hash = secure(oid === RSA_ENCRYPTION ? digestHash : RSA_PKCS1_BY_OID[oid]);
    return attempt(() => cryptoVerify(hash, data, { key, padding: cryptoConstants.RSA_PKCS1_PADDING }, signature));
  }
  if (oid === RSASSA_PSS) {
    const params = new pkijs.RSASSAPSSParams(algorithm.algorithmParams ? { schema: algorithm.algorithmParams } : {});
    const hash = secure(HASH_BY_OID[params.hashAlgorithm.algorithmId]);
    const mgfParams = params.maskGenAlgorithm.algorithmParams as asn1js.AsnType | undefined;
    const mgfHash = mgfParams ? HASH_BY_OID[new pkijs.AlgorithmIdentifier({ schema: mgfParams }).algorithmId] : 'sha1';
    if (mgfHash !== hash) throw new Error(`unsupported RSASSA-PSS parameters (MGF1 hash ${mgfHash ?? 'unknown'} differs from ${hash})`);
    return attempt(() =>
      cryptoVerify(hash, data, { key, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: params.saltLength }, signature),
    );
  }
  if (oid in ECDSA_BY_OID || oid === EC_PUBLIC_KEY) {
    const hash = secure(oid === EC_PUBLIC_KEY ? digestHash : ECDSA_BY_OID[oid]);
    return attempt(() => cryptoVerify(hash, data, { key, dsaEncoding: 'der' }, signature));
  }
  if (oid === ED25519) return attempt(() => cryptoVerify(null, data, key, signature));
  throw new Error(`unsupported signature algorithm ${oid}`);
}

// ---------------------------------------------------------------------------------------------
// Errors

/** One BER value spanning all of `bytes` (a copy, so nothing aliases the caller's buffer). */
function decodeBer(bytes: Uint8Array, what: string): { result: asn1js.AsnType } {
  let decoded: ReturnType<typeof asn1js.fromBER>;
  try {
    decoded = asn1js.fromBER(new Uint8Array(bytes).buffer);
  } catch (error) {
    // asn1js throws (rather than reporting) for some malformed values, e.g. times
    throw invalid(`${what}: ${errorMessage(error)}`, 'BAD_CONTENT', error);
  }
  if (decoded.offset === -1) throw invalid(`${what}: ${decoded.result.error || 'not BER'}`, 'BAD_CONTENT');
  if (decoded.offset !== bytes.length) throw invalid(`${what}: trailing data`, 'BAD_CONTENT');
  return decoded;
}

/**
 * The token is hostile input: whatever a parser throws on it is a malformed token
 * (INVALID_SIGNATURE), never an exception escaping to the admission path.
 */
function guarded<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof VouchError) throw error;
    throw invalid(`failed to parse timestamp countersignature with error: ${errorMessage(error)}`, 'BAD_CONTENT', error);
  }
}

function invalid(message: string, reason: ErrorReason, cause?: unknown): VouchError {
  return new VouchError('INVALID_SIGNATURE', message, cause === undefined ? { reason } : { reason, cause });
}

function untrusted(message: string, cause?: unknown): VouchError {
  return new VouchError('UNTRUSTED_SIGNER', message, cause === undefined ? { reason: 'DENIED' } : { reason: 'DENIED', cause });
}
