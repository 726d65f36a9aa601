// The legacy cosign form: a `.sig` manifest layer holding a "simple signing" payload, with the
// signature and its verification material in layer annotations
// (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md). Each layer is converted to
// a Sigstore bundle (messageSignature over the payload; public-key hint, or the Fulcio certificate;
// the Rekor SET as the tlog entry's inclusionPromise) and verified by @sigstore/verify.

import { createHash, verify as cryptoVerify } from 'node:crypto';
import { bundleFromJSON, type SerializedBundle } from '@sigstore/bundle';
import { X509Certificate } from '@sigstore/core';
import { PolicyError, VerificationError, Verifier, toSignedEntity, type SignedEntity, type TrustMaterial } from '@sigstore/verify';
import type { Digest } from '../core/index.js';
import type { CosignCandidate } from '../oci/index.js';
import type { CosignReason, CosignSignatureReport } from './report.js';
import { sigstoreFailure } from './sigstore-errors.js';
import { buildTrustMaterial, identityPolicy, keySigner, type CosignPublicKey, type CosignTrust } from './trust.js';

/** The layer annotations cosign writes (cosign pkg/oci/static/options.go; SIGNATURE_SPEC.md "Properties"). */
export const COSIGN_ANNOTATION = {
  signature: 'dev.cosignproject.cosign/signature',
  certificate: 'dev.sigstore.cosign/certificate',
  chain: 'dev.sigstore.cosign/chain',
  bundle: 'dev.sigstore.cosign/bundle',
} as const;

export const SIMPLE_SIGNING_TYPE = 'cosign container image signature';

type LegacyCandidate = Extract<CosignCandidate, { form: 'legacy' }>;

const BUNDLE_V01 = 'application/vnd.dev.sigstore.bundle+json;version=0.1';

/** Verifies one legacy (simple signing) cosign signature of the image `subjectDigest`. */
export async function verifyCosignLegacy(
  candidate: LegacyCandidate,
  subjectDigest: Digest,
  trust: CosignTrust,
): Promise<CosignSignatureReport> {
  const fail = (reason: CosignReason): CosignSignatureReport => ({
    type: 'cosign',
    digest: candidate.manifestDigest,
    verified: false,
    reasons: [reason],
  });

  const payloadProblem = checkSimpleSigningPayload(candidate.payload, subjectDigest);
  if (payloadProblem !== undefined) return fail({ code: 'INVALID_SIGNATURE', message: payloadProblem });

  let material: LegacyMaterial;
  try {
    material = readLegacyMaterial(candidate);
  } catch (error) {
    return fail({ code: 'INVALID_SIGNATURE', message: error instanceof Error ? error.message : String(error) });
  }

  const keyless = material.certificates.length > 0 && trust.identities.length > 0;
  const result = keyless ? verifyKeyless(material, trust) : verifyWithKeys(material, trust);
  return result.ok
    ? { type: 'cosign', digest: candidate.manifestDigest, verified: true, signer: result.signer, reasons: [] }
    : fail(result.reason);
}

/**
 * Checks the simple signing payload (https://github.com/containers/image/blob/main/docs/containers-signature.5.md,
 * as cosign writes it): its type, and that it names the image being verified. Returns the problem, if any.
 */
export function checkSimpleSigningPayload(payload: Uint8Array, subjectDigest: Digest): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    return 'the simple signing payload is not JSON';
  }
  const critical = isObject(parsed) ? parsed['critical'] : undefined;
  if (!isObject(critical)) return 'the simple signing payload has no critical section';
  if (critical['type'] !== SIMPLE_SIGNING_TYPE) return `the simple signing payload type is not "${SIMPLE_SIGNING_TYPE}"`;
  const image = critical['image'];
  const signed = isObject(image) ? image['docker-manifest-digest'] : undefined;
  if (typeof signed !== 'string') return 'the simple signing payload names no docker-manifest-digest';
  if (signed !== subjectDigest) return `the signature is for ${signed}, not for ${subjectDigest}`;
  return undefined;
}

interface LegacyMaterial {
  payload: Buffer;
  signature: Buffer;
  /** DER: the leaf first, then the chain annotation's certificates. */
  certificates: Buffer[];
  tlogEntry?: SerializedBundle['verificationMaterial']['tlogEntries'][number];
}

function readLegacyMaterial(candidate: LegacyCandidate): LegacyMaterial {
  const annotations = candidate.annotations;
  const signatureText = annotations[COSIGN_ANNOTATION.signature];
  if (signatureText === undefined || signatureText === '') throw new Error(`the layer has no ${COSIGN_ANNOTATION.signature} annotation`);
  const signature = strictBase64(signatureText, COSIGN_ANNOTATION.signature);
  const certificates: Buffer[] = [];
  const leaf = annotations[COSIGN_ANNOTATION.certificate];
  if (leaf !== undefined && leaf !== '') {
    certificates.push(...pemCertificates(leaf, COSIGN_ANNOTATION.certificate).slice(0, 1));
    const chain = annotations[COSIGN_ANNOTATION.chain];
    if (chain !== undefined && chain !== '') certificates.push(...pemCertificates(chain, COSIGN_ANNOTATION.chain));
  }
  const rekorBundle = annotations[COSIGN_ANNOTATION.bundle];
  const material: LegacyMaterial = { payload: Buffer.from(candidate.payload), signature, certificates };
  if (rekorBundle !== undefined && rekorBundle !== '') material.tlogEntry = tlogEntryFromRekorBundle(rekorBundle);
  return material;
}

/**
 * cosign's `dev.sigstore.cosign/bundle` annotation (cosign pkg/cosign/bundle/rekor.go RekorBundle:
 * `{SignedEntryTimestamp, Payload: {body, integratedTime, logIndex, logID}}`) as a bundle tlog
 * entry whose inclusionPromise is the SET; kind and version come from the entry body itself.
 */
function tlogEntryFromRekorBundle(text: string): NonNullable<LegacyMaterial['tlogEntry']> {
  const what = COSIGN_ANNOTATION.bundle;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`the ${what} annotation is not JSON`);
  }
  const set = isObject(parsed) ? parsed['SignedEntryTimestamp'] : undefined;
  const payload = isObject(parsed) ? parsed['Payload'] : undefined;
  if (typeof set !== 'string' || !isObject(payload)) throw new Error(`the ${what} annotation has no SignedEntryTimestamp and Payload`);
  const { body, integratedTime, logIndex, logID } = payload;
  if (typeof body !== 'string' || !Number.isSafeInteger(integratedTime) || !Number.isSafeInteger(logIndex)) {
    throw new Error(`the ${what} annotation's Payload is malformed`);
  }
  if (typeof logID !== 'string' || !/^[0-9a-f]{64}$/.test(logID)) throw new Error(`the ${what} annotation's logID is not a sha256 hex`);
  let entryBody: unknown;
  try {
    entryBody = JSON.parse(strictBase64(body, `${what} body`).toString('utf8'));
  } catch {
    throw new Error(`the ${what} annotation's body is not a base64 JSON log entry`);
  }
  const kind = isObject(entryBody) ? entryBody['kind'] : undefined;
  const version = isObject(entryBody) ? entryBody['apiVersion'] : undefined;
  if (typeof kind !== 'string' || typeof version !== 'string') throw new Error(`the ${what} annotation's body has no kind and apiVersion`);
  return {
    logIndex: String(logIndex),
    logId: { keyId: Buffer.from(logID, 'hex').toString('base64') },
    kindVersion: { kind, version },
    integratedTime: String(integratedTime),
    inclusionPromise: { signedEntryTimestamp: set },
    inclusionProof: undefined,
    canonicalizedBody: body,
  };
}

type Outcome = { ok: true; signer: string } | { ok: false; reason: CosignReason; libraryCode?: string };

function toBundle(material: LegacyMaterial, key: { hint: string } | 'certificate', withTlog: boolean): SerializedBundle {
  const tlogEntries = withTlog && material.tlogEntry !== undefined ? [material.tlogEntry] : [];
  return {
    mediaType: BUNDLE_V01,
    verificationMaterial:
      key === 'certificate'
        ? {
            x509CertificateChain: { certificates: material.certificates.map((der) => ({ rawBytes: der.toString('base64') })) },
            tlogEntries,
            timestampVerificationData: undefined,
          }
        : { publicKey: { hint: key.hint }, tlogEntries, timestampVerificationData: undefined },
    messageSignature: {
      messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(material.payload).digest('base64') },
      signature: material.signature.toString('base64'),
    },
  } as SerializedBundle;
}

/**
 * The library verifies a message signature with `crypto.verify(<digest algorithm>, …)`, which
 * Node rejects for Ed25519 keys; cosign signs with pure Ed25519 over the payload (sigstore
 * pkg/signature ed25519.go), ECDSA and RSA over its sha256. So Ed25519 is verified with a null
 * digest, everything else as the library does.
 */
function withPureEd25519(entity: SignedEntity, payload: Buffer): SignedEntity {
  const content = entity.signature;
  return {
    ...entity,
    signature: {
      signature: content.signature,
      compareSignature: (signature) => content.compareSignature(signature),
      compareDigest: (digest) => content.compareDigest(digest),
      verifySignature: (key) =>
        key.asymmetricKeyType === 'ed25519'
          ? safeVerify(() => cryptoVerify(null, payload, key, content.signature))
          : content.verifySignature(key),
    },
  };
}

function safeVerify(run: () => boolean): boolean {
  try {
    return run();
  } catch {
    return false;
  }
}

function verifyWithKeys(material: LegacyMaterial, trust: CosignTrust): Outcome {
  if (trust.keys.length === 0) {
    return {
      ok: false,
      reason: { code: 'UNTRUSTED_SIGNER', message: 'no cosign public key is configured to verify this key-based signature' },
    };
  }
  if (trust.requireTlog && material.tlogEntry === undefined) {
    return {
      ok: false,
      reason: {
        code: 'UNTRUSTED_SIGNER',
        message: 'the signature has no transparency log entry, and the trust requires one (requireTlog)',
      },
    };
  }
  // Without a trusted root a log entry cannot be checked; when the trust does not require one
  // (air-gapped use, cosign --insecure-ignore-tlog) it is left out rather than failing the signature.
  const withTlog = trust.requireTlog || trust.trustedRoot !== undefined;
  let trustMaterial;
  try {
    trustMaterial = buildTrustMaterial(trust);
  } catch (error) {
    return { ok: false, reason: sigstoreFailure(error) };
  }
  const threshold = trust.requireTlog ? 1 : 0;
  const verifier = new Verifier(trustMaterial, { tlogThreshold: threshold, timestampThreshold: threshold, ctlogThreshold: 0 });
  const failures: Array<Extract<Outcome, { ok: false }>> = [];
  for (const key of trust.keys) {
    const outcome = verifyOnce(verifier, material, withTlog, key);
    if (outcome.ok) return outcome;
    failures.push(outcome);
  }
  // A signature that verifies under no configured key is, without a log entry binding it to a
  // key, indistinguishable from one over altered bytes: report the signer as untrusted, unless a
  // failure said more (a log entry for another payload, a bad SET).
  const specific = failures.find((failure) => failure.libraryCode !== 'SIGNATURE_ERROR');
  return {
    ok: false,
    reason: specific?.reason ?? {
      code: 'UNTRUSTED_SIGNER',
      message: `the signature does not verify with any of the ${trust.keys.length} configured cosign key(s)`,
    },
  };
}

function verifyOnce(verifier: Verifier, material: LegacyMaterial, withTlog: boolean, key: CosignPublicKey): Outcome {
  try {
    const bundle = bundleFromJSON(toBundle(material, { hint: key.fingerprint }, withTlog));
    verifier.verify(withPureEd25519(toSignedEntity(bundle, material.payload), material.payload));
    return { ok: true, signer: keySigner(key) };
  } catch (error) {
    return { ok: false, reason: sigstoreFailure(error), ...(libraryCode(error) === undefined ? {} : { libraryCode: libraryCode(error)! }) };
  }
}

/** The `code` of a @sigstore/verify error (VerificationError, PolicyError), if it is one. */
function libraryCode(error: unknown): string | undefined {
  return error instanceof VerificationError || error instanceof PolicyError ? error.code : undefined;
}

/** Keyless: a Fulcio chain with an SCT, and a verified log entry whose time the certificate was valid at. */
const KEYLESS_THRESHOLDS = { tlogThreshold: 1, timestampThreshold: 1, ctlogThreshold: 1 };

function verifyKeyless(material: LegacyMaterial, trust: CosignTrust): Outcome {
  if (trust.trustedRoot === undefined) {
    return { ok: false, reason: { code: 'UNTRUSTED_SIGNER', message: 'keyless signature, but no Sigstore trusted root is configured' } };
  }
  if (material.tlogEntry === undefined) {
    return {
      ok: false,
      reason: { code: 'UNTRUSTED_SIGNER', message: 'keyless signature without a transparency log entry (dev.sigstore.cosign/bundle)' },
    };
  }
  let entity: SignedEntity;
  let verifier: Verifier;
  let trustMaterial: TrustMaterial;
  let leaf: X509Certificate;
  try {
    trustMaterial = buildTrustMaterial(trust);
    verifier = new Verifier(trustMaterial, KEYLESS_THRESHOLDS);
    entity = toSignedEntity(bundleFromJSON(toBundle(material, 'certificate', true)), material.payload);
    leaf = X509Certificate.parse(Buffer.from(material.certificates[0]!));
  } catch (error) {
    return { ok: false, reason: sigstoreFailure(error) };
  }
  const outsideValidity = outsideValidityReason(trustMaterial, entity, leaf);
  let last: CosignReason | undefined;
  for (const identity of trust.identities) {
    try {
      const signer = verifier.verify(entity, identityPolicy(identity));
      return { ok: true, signer: `${signer.identity?.subjectAlternativeName ?? '?'} (${signer.identity?.extensions?.issuer ?? '?'})` };
    } catch (error) {
      last = libraryCode(error) === 'CERTIFICATE_ERROR' && outsideValidity !== undefined ? outsideValidity : sigstoreFailure(error);
      // Only an identity mismatch is worth trying the next identity for; anything else fails them all.
      if (libraryCode(error) !== 'UNTRUSTED_SIGNER_ERROR') return { ok: false, reason: last };
    }
  }
  return { ok: false, reason: last! };
}

/**
 * When the certificate was outside its validity at every log time: EXPIRED if everything else about
 * the signature holds, else what does not hold. The library checks the chain at the log times before it checks the log
 * entries themselves, so a log entry for another signature (at another time) would otherwise read
 * as an expired certificate. The diagnostic run puts the signing time inside the certificate's
 * validity; it only ever classifies a failure, never accepts a signature.
 */
function outsideValidityReason(trustMaterial: TrustMaterial, entity: SignedEntity, leaf: X509Certificate): CosignReason | undefined {
  const times = entity.timestamps.flatMap((t) =>
    t.$case === 'transparency-log' ? [new Date(Number(t.tlogEntry.integratedTime) * 1000)] : [],
  );
  if (times.length === 0 || times.some((time) => leaf.validForDate(time))) return undefined;
  const inside = String(Math.floor(leaf.notBefore.getTime() / 1000) + 1);
  // Only the timestamps move; entity.tlogEntries (the real entries with their SETs) are verified as they are.
  const shifted: SignedEntity = {
    ...entity,
    timestamps: entity.timestamps.map((t) =>
      t.$case === 'transparency-log' ? { ...t, tlogEntry: { ...t.tlogEntry, integratedTime: inside } } : t,
    ),
  };
  try {
    new Verifier(trustMaterial, KEYLESS_THRESHOLDS).verify(shifted);
    return {
      code: 'EXPIRED',
      message: `the signing certificate (valid ${leaf.notBefore.toISOString()} to ${leaf.notAfter.toISOString()}) was not valid at the log time ${times[0]!.toISOString()}`,
    };
  } catch (error) {
    return sigstoreFailure(error);
  }
}

function pemCertificates(text: string, what: string): Buffer[] {
  const blocks = [...text.matchAll(/-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/g)];
  if (blocks.length === 0) throw new Error(`the ${what} annotation holds no PEM certificate`);
  return blocks.map((block) => Buffer.from(block[1]!.replace(/\s+/g, ''), 'base64'));
}

function strictBase64(text: string, what: string): Buffer {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw new Error(`the ${what} value is not base64`);
  return Buffer.from(text, 'base64');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
