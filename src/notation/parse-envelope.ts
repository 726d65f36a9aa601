// Envelope dispatch by media type (signature-specification.md "Signature Envelope"), plus the
// Notary payload (`application/vnd.cncf.notary.payload.v1+json`) parser the verifier applies to
// the bytes an envelope signed.

import { VouchError } from '../core/index.js';
import { MEDIA_TYPE, type Descriptor } from '../oci/index.js';
import { parseCoseEnvelope } from './envelope-cose.js';
import { parseJwsEnvelope } from './envelope-jws.js';
import { envelopeError, type SignatureEnvelope, type TargetArtifact } from './envelope.js';

/** notation-go's cap on a signature envelope blob (registry.maxBlobSizeLimit): 32 MiB. */
export const MAX_ENVELOPE_BYTES = 32 * 1024 * 1024;

/** The envelope media types vouch understands. */
export const ENVELOPE_MEDIA_TYPES: readonly string[] = [MEDIA_TYPE.jws, MEDIA_TYPE.cose];

/**
 * Parses a signature envelope of the given media type (the signature manifest's layer mediaType,
 * or the `.jws.sig`/`.cose.sig` extension for blobs) and applies every rule that concerns the
 * envelope alone. Failures are INVALID_SIGNATURE: reason MEDIA_TYPE for an unknown type,
 * SIZE_LIMIT above {@link MAX_ENVELOPE_BYTES}, BAD_CONTENT for everything else. Never throws
 * anything but a VouchError, whatever the bytes are.
 */
export function parseEnvelope(mediaType: string, bytes: Uint8Array): SignatureEnvelope {
  if (!ENVELOPE_MEDIA_TYPES.includes(mediaType)) {
    throw new VouchError('INVALID_SIGNATURE', `signature envelope format with media type ${JSON.stringify(mediaType)} is not supported`, {
      reason: 'MEDIA_TYPE',
    });
  }
  if (bytes.length > MAX_ENVELOPE_BYTES) {
    throw new VouchError('INVALID_SIGNATURE', `signature envelope of ${bytes.length} bytes exceeds the ${MAX_ENVELOPE_BYTES}-byte limit`, {
      reason: 'SIZE_LIMIT',
    });
  }
  if (bytes.length === 0) throw envelopeError(`signature envelope (${mediaType}) is empty`);
  try {
    return mediaType === MEDIA_TYPE.jws ? parseJwsEnvelope(bytes) : parseCoseEnvelope(bytes);
  } catch (error) {
    if (error instanceof VouchError) throw error;
    // Anything a decoder threw that the parsers did not anticipate is still bad content.
    throw envelopeError(`signature envelope (${mediaType}) is malformed: ${error instanceof Error ? error.message : String(error)}`, error);
  }
}

/** The Notary payload: what was signed (signature-specification.md "Payload"). */
export interface NotaryPayload {
  targetArtifact: TargetArtifact;
}

const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

function payloadError(message: string, cause?: unknown): VouchError {
  return envelopeError(`signature payload: ${message}`, cause);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses the payload bytes an envelope signed. `targetArtifact.{mediaType,digest,size}` are
 * required; `annotations` (user metadata) and `artifactType` are optional; other members are
 * ignored as Go's decoder does. The digest is checked against the OCI digest grammar only: blob
 * signatures carry the key-derived hash, e.g. `sha384:` for RSA-3072, which the registry-side
 * Digest type does not admit. Compare it as a string with the subject's digest.
 */
export function parsePayload(bytes: Uint8Array): NotaryPayload {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes));
  } catch (error) {
    throw payloadError(`not valid JSON: ${(error as Error).message}`, error);
  }
  if (!isPlainObject(json)) throw payloadError('not a JSON object');
  const target = json['targetArtifact'];
  if (!isPlainObject(target)) throw payloadError('"targetArtifact" must be an object');
  const { mediaType, digest, size } = target;
  if (typeof mediaType !== 'string' || mediaType.length === 0) throw payloadError('"targetArtifact.mediaType" must be a non-empty string');
  if (typeof digest !== 'string' || !DIGEST_GRAMMAR.test(digest)) throw payloadError('"targetArtifact.digest" is not a digest');
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    throw payloadError('"targetArtifact.size" must be a non-negative integer');
  const targetArtifact: TargetArtifact = { mediaType, digest: digest as Descriptor['digest'], size };
  const annotations = target['annotations'];
  if (annotations !== undefined && annotations !== null) {
    if (!isPlainObject(annotations) || !Object.values(annotations).every((v) => typeof v === 'string')) {
      throw payloadError('"targetArtifact.annotations" must be an object of strings');
    }
    targetArtifact.annotations = { ...(annotations as Record<string, string>) };
  }
  const artifactType = target['artifactType'];
  if (artifactType !== undefined && artifactType !== null) {
    if (typeof artifactType !== 'string') throw payloadError('"targetArtifact.artifactType" must be a string');
    targetArtifact.artifactType = artifactType;
  }
  return { targetArtifact };
}
