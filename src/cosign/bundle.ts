// The cosign bundle form: a Sigstore bundle v0.3 attached to an image as an OCI 1.1 referrer
// (https://github.com/sigstore/cosign/blob/main/specs/BUNDLE_SPEC.md). Parsing, certificate chains,
// transparency log proofs, SETs, DSSE and signatures are @sigstore/bundle's and @sigstore/verify's;
// this file adds what they leave to the caller: binding the bundle to the image digest, anchoring the
// identity, and turning the library's error codes into vouch's answer codes.

import { createHash } from 'node:crypto';
import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { HashAlgorithm } from '@sigstore/protobuf-specs';
import { PolicyError, toSignedEntity, VerificationError, Verifier, type SignedEntity, type TrustMaterial } from '@sigstore/verify';
import { digestAlgorithm, digestHex, type AnswerCode, type Digest } from '../core/index.js';
import type { CosignSignatureReport } from './report.js';
import { buildTrustMaterial, identityPolicy, keySigner, type CosignTrust } from './trust.js';

export interface CosignBundleOptions {
  /** Digest of the referrer manifest that carries the bundle (the report's `digest`). */
  signatureDigest: Digest;
  /**
   * The image manifest bytes. Only a message-signature bundle needs them: its signature is over the
   * signed artifact itself, and the artifact of an image signature is its manifest.
   */
  subjectManifest?: Uint8Array;
}

/** in-toto payload type (https://github.com/in-toto/attestation/blob/main/spec/v1/envelope.md). */
const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
const IN_TOTO_STATEMENT_TYPES = new Set(['https://in-toto.io/Statement/v0.1', 'https://in-toto.io/Statement/v1']);

type Reason = CosignSignatureReport['reasons'][number];

class BundleRejected extends Error {
  constructor(
    readonly code: AnswerCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Verifies one cosign bundle against the image `subjectDigest`, offline: trust comes only from
 * `trust` (public keys and/or a trusted root), never from the network.
 */
export async function verifyCosignBundle(
  bundleJson: unknown,
  subjectDigest: Digest,
  trust: CosignTrust,
  options: CosignBundleOptions,
): Promise<CosignSignatureReport> {
  const report = (verified: boolean, signer?: string, reasons: Reason[] = []): CosignSignatureReport => ({
    type: 'cosign',
    digest: options.signatureDigest,
    verified,
    ...(signer === undefined ? {} : { signer }),
    reasons,
  });
  try {
    const bundle = parseBundle(bundleJson);
    const artifact = checkSubjectBinding(bundle, subjectDigest, options.subjectManifest);
    const entity = signedEntity(bundle, artifact);
    const signer = entity.key.$case === 'public-key' ? verifyWithKeys(entity, trust) : verifyWithIdentities(entity, trust);
    return report(true, signer);
  } catch (error) {
    if (error instanceof BundleRejected) return report(false, undefined, [{ code: error.code, message: error.message }]);
    throw error;
  }
}

function parseBundle(json: unknown): Bundle {
  try {
    return bundleFromJSON(json);
  } catch (error) {
    throw new BundleRejected('INVALID_SIGNATURE', `not a Sigstore bundle: ${describe(error)}`);
  }
}

/**
 * What ties the bundle to this image. DSSE: the in-toto Statement's subjects must name the digest
 * (@sigstore/verify does not look inside the payload). Message signature: cosign checks the message
 * digest against the image digest (sigstore-go's WithArtifactDigest), and the signature covers the
 * manifest bytes, which are returned as the artifact to verify.
 */
function checkSubjectBinding(bundle: Bundle, subjectDigest: Digest, manifest?: Uint8Array): Buffer | undefined {
  const algorithm = digestAlgorithm(subjectDigest);
  const hex = digestHex(subjectDigest);
  switch (bundle.content.$case) {
    case 'dsseEnvelope': {
      const envelope = bundle.content.dsseEnvelope;
      if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
        throw new BundleRejected('INVALID_SIGNATURE', `DSSE payload type ${envelope.payloadType} is not an in-toto statement`);
      }
      const subjects = inTotoSubjects(envelope.payload);
      if (!subjects.some((subject) => subject[algorithm] === hex)) {
        throw new BundleRejected('INVALID_SIGNATURE', `the in-toto statement's subjects do not include ${subjectDigest}`);
      }
      return undefined;
    }
    case 'messageSignature': {
      const { messageDigest } = bundle.content.messageSignature;
      const expected = algorithm === 'sha256' ? HashAlgorithm.SHA2_256 : HashAlgorithm.SHA2_512;
      if (messageDigest.algorithm !== expected || messageDigest.digest.toString('hex') !== hex) {
        throw new BundleRejected('INVALID_SIGNATURE', `the message signature is not over ${subjectDigest}`);
      }
      if (manifest === undefined) {
        throw new BundleRejected('INVALID_SIGNATURE', 'a message-signature bundle cannot be checked without the image manifest');
      }
      if (createHash(algorithm).update(manifest).digest('hex') !== hex) {
        throw new BundleRejected('INVALID_SIGNATURE', `the manifest given does not hash to ${subjectDigest}`);
      }
      return Buffer.from(manifest);
    }
  }
}

function inTotoSubjects(payload: Buffer): Array<Record<string, unknown>> {
  let statement: unknown;
  try {
    statement = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new BundleRejected('INVALID_SIGNATURE', 'the DSSE payload is not JSON');
  }
  if (!isRecord(statement) || typeof statement._type !== 'string' || !IN_TOTO_STATEMENT_TYPES.has(statement._type)) {
    throw new BundleRejected('INVALID_SIGNATURE', 'the DSSE payload is not an in-toto statement');
  }
  const subjects = Array.isArray(statement.subject) ? statement.subject : [];
  return subjects.flatMap((subject: unknown) => (isRecord(subject) && isRecord(subject.digest) ? [subject.digest] : []));
}

function signedEntity(bundle: Bundle, artifact: Buffer | undefined): SignedEntity {
  try {
    return toSignedEntity(bundle, artifact);
  } catch (error) {
    throw new BundleRejected('INVALID_SIGNATURE', `unreadable verification material: ${describe(error)}`);
  }
}

/**
 * Key-based: like `cosign verify --key`, each trusted key is tried whatever key the bundle's hint
 * names (the hint is unauthenticated, and cosign writes it as base64, not as our hex fingerprint).
 * Without a required tlog and with no log to check one against, a tlog entry is ignored (cosign's
 * --insecure-ignore-tlog, the air-gapped case).
 */
function verifyWithKeys(entity: SignedEntity, trust: CosignTrust): string {
  if (trust.keys.length === 0) throw new BundleRejected('UNTRUSTED_SIGNER', 'the bundle is key-based and no key is trusted');
  // One material for every key: its key finder answers the hint set below with that key.
  const material = buildTrustMaterial(trust);
  let last: BundleRejected | undefined;
  for (const key of trust.keys) {
    const withKey: SignedEntity = { ...entity, key: { $case: 'public-key', hint: key.fingerprint } };
    const checked = !trust.requireTlog && material.tlogs.length === 0 ? withoutTlog(withKey) : withKey;
    const threshold = trust.requireTlog ? 1 : 0;
    try {
      new Verifier(material, { tlogThreshold: threshold, timestampThreshold: threshold, ctlogThreshold: 0 }).verify(checked);
      return keySigner(key);
    } catch (error) {
      last = rejection(error, entity, material);
      // A signature no trusted key verifies is an untrusted signer, not a tampered one: the bundle
      // names no key we could tell the two apart with.
      if (error instanceof VerificationError && error.code === 'SIGNATURE_ERROR') {
        last = new BundleRejected('UNTRUSTED_SIGNER', 'no trusted key verifies the signature');
      }
      if (last.code !== 'UNTRUSTED_SIGNER') throw last;
    }
  }
  throw last!;
}

/**
 * Keyless: the Fulcio leaf must chain to the trusted root at the log's (or a TSA's) time, and its
 * SAN, issuer and extensions must match one trusted identity (policies anchored by identityPolicy).
 */
function verifyWithIdentities(entity: SignedEntity, trust: CosignTrust): string {
  if (trust.trustedRoot === undefined) {
    throw new BundleRejected('UNTRUSTED_SIGNER', 'the bundle is certificate-based and no trusted root is configured');
  }
  if (trust.identities.length === 0) throw new BundleRejected('UNTRUSTED_SIGNER', 'no keyless identity is trusted');
  // Outside the try: a bad identity or root is a configuration error, never an answer about the image.
  const policies = trust.identities.map(identityPolicy);
  const material = buildTrustMaterial(trust);
  const verifier = new Verifier(material, {
    tlogThreshold: trust.requireTlog ? 1 : 0,
    // A certificate outlives its ten minutes only through a verified time: a tlog entry or a TSA.
    timestampThreshold: 1,
    ctlogThreshold: material.ctlogs.length > 0 ? 1 : 0,
  });
  let last: BundleRejected | undefined;
  for (const policy of policies) {
    try {
      const signer = verifier.verify(entity, policy);
      return `${signer.identity?.subjectAlternativeName ?? ''} (${signer.identity?.extensions?.issuer ?? ''})`;
    } catch (error) {
      last = rejection(error, entity, material);
      // Only an identity mismatch is worth the next identity; anything else fails them all alike.
      if (!(error instanceof PolicyError)) throw last;
    }
  }
  throw last!;
}

function withoutTlog(entity: SignedEntity): SignedEntity {
  return { ...entity, tlogEntries: [], timestamps: entity.timestamps.filter((t) => t.$case !== 'transparency-log') };
}

/**
 * The library's error codes (@sigstore/verify error.ts) as answer codes; never its message text.
 * A certificate error is EXPIRED when the leaf was not valid at a signed time, else an untrusted chain.
 * A log proof from a log the trusted root does not list is an untrusted signer, not a tampered one.
 */
function rejection(error: unknown, entity: SignedEntity, material: TrustMaterial): BundleRejected {
  if (error instanceof BundleRejected) return error;
  const detail = describe(error);
  if (error instanceof PolicyError) return new BundleRejected('UNTRUSTED_SIGNER', `identity not trusted: ${detail}`);
  if (!(error instanceof VerificationError)) return new BundleRejected('INVALID_SIGNATURE', `bundle verification failed: ${detail}`);
  switch (error.code) {
    case 'CERTIFICATE_ERROR':
      return leafExpired(entity)
        ? new BundleRejected('EXPIRED', `the signing certificate was not valid at the signed time: ${detail}`)
        : new BundleRejected('UNTRUSTED_SIGNER', `certificate not trusted: ${detail}`);
    case 'PUBLIC_KEY_ERROR':
    case 'TIMESTAMP_ERROR':
    case 'TLOG_ERROR':
    case 'TLOG_MISSING_INCLUSION_ERROR':
      return new BundleRejected('UNTRUSTED_SIGNER', detail);
    case 'TLOG_INCLUSION_PROMISE_ERROR':
    case 'TLOG_INCLUSION_PROOF_ERROR':
      return unknownLog(entity, material)
        ? new BundleRejected('UNTRUSTED_SIGNER', `transparency log not trusted: ${detail}`)
        : new BundleRejected('INVALID_SIGNATURE', detail);
    default:
      // TLOG_BODY_ERROR, SIGNATURE_ERROR, NOT_IMPLEMENTED_ERROR: the content does not match its signature or log entry.
      return new BundleRejected('INVALID_SIGNATURE', detail);
  }
}

function leafExpired(entity: SignedEntity): boolean {
  if (entity.key.$case !== 'certificate') return false;
  const leaf = entity.key.certificate;
  return signedTimes(entity).some((time) => !leaf.validForDate(time));
}

function signedTimes(entity: SignedEntity): Date[] {
  return entity.timestamps.map((t) =>
    t.$case === 'transparency-log' ? new Date(Number(t.tlogEntry.integratedTime) * 1000) : t.timestamp.signingTime,
  );
}

function unknownLog(entity: SignedEntity, material: TrustMaterial): boolean {
  return entity.tlogEntries.some((entry) => !material.tlogs.some((log) => log.logID.equals(entry.logId.keyId)));
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
