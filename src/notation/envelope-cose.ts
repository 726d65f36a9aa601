// Parses Notary Project COSE envelopes (`application/cose`, signature-envelope-cose.md): a tagged
// COSE_Sign1 (RFC 9052 §4.2) with the Notary attributes as text labels in the protected header and
// the certificate chain (x5chain, RFC 9360) in the unprotected header. The protected header is
// kept as the original bytes and decoded separately, so the Sig_structure is built over exactly
// what was signed.

import { Decoder, Encoder, Tag, addExtension } from 'cbor-x';
import { signatureAlgorithmFromCose } from './algorithms.js';
import {
  MAX_CERTIFICATE_CHAIN_LENGTH,
  NOTARY_HEADER,
  PAYLOAD_CONTENT_TYPE,
  envelopeError,
  setAttribute,
  validateNotaryAttributes,
  type SignatureEnvelope,
} from './envelope.js';
import { MEDIA_TYPE } from '../oci/index.js';

/** COSE header labels (RFC 9052 §3.1, RFC 9360 §2). */
export const COSE_LABEL = { alg: 1, crit: 2, contentType: 3, x5chain: 33 } as const;

/** CBOR tag of COSE_Sign1_Tagged (RFC 9052 §2). */
export const COSE_SIGN1_TAG = 18;

/** Protected labels with a meaning of their own; every other label is an extended attribute. */
const KNOWN_PROTECTED: ReadonlySet<string | number> = new Set<string | number>([
  COSE_LABEL.alg,
  COSE_LABEL.crit,
  COSE_LABEL.contentType,
  COSE_LABEL.x5chain,
  NOTARY_HEADER.signingScheme,
  NOTARY_HEADER.signingTime,
  NOTARY_HEADER.authenticSigningTime,
  NOTARY_HEADER.expiry,
  NOTARY_HEADER.verificationPlugin,
  NOTARY_HEADER.verificationPluginMinVersion,
]);

const decoder = new Decoder({ mapsAsObjects: false, useRecords: false, copyBuffers: true });
const encoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false });

/** cbor-x's own decoders for the two date tags, restored after each decode. */
const DATE_TAG_DECODERS = {
  0: (value: unknown) => new Date(value as string),
  1: (value: unknown) => new Date(Math.round((value as number) * 1000)),
} as const;

/** Decoders that keep tags 0 and 1 as raw {@link Tag}s (allocated once, not per decode). */
const RAW_TAG_DECODERS = {
  0: (value: unknown) => new Tag(value, 0),
  1: (value: unknown) => new Tag(value, 1),
} as const;

/**
 * Decodes CBOR with tags 0 and 1 kept as raw {@link Tag}s. cbor-x turns both into a Date, which
 * would hide whether a time was a tag-1 epoch (the only form notation accepts) or a tag-0 string.
 * cbor-x registers tag decoders globally, so they are swapped in for this synchronous decode only.
 */
function decodeCbor(bytes: Uint8Array): unknown {
  addExtension({ Class: undefined as never, tag: 0, encode: undefined as never, decode: RAW_TAG_DECODERS[0] });
  addExtension({ Class: undefined as never, tag: 1, encode: undefined as never, decode: RAW_TAG_DECODERS[1] });
  try {
    return decoder.decode(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } finally {
    addExtension({ Class: undefined as never, tag: 0, encode: undefined as never, decode: DATE_TAG_DECODERS[0] });
    addExtension({ Class: undefined as never, tag: 1, encode: undefined as never, decode: DATE_TAG_DECODERS[1] });
  }
}

/** A CBOR byte string as cbor-x decodes it (a Buffer; tagged typed arrays are not bstr). */
function isBstr(value: unknown): value is Buffer {
  return Buffer.isBuffer(value);
}

function labelName(label: unknown): string {
  return typeof label === 'string' ? JSON.stringify(label) : String(label);
}

/**
 * The number of entries a definite-length CBOR map header announces (RFC 8949 §3.1), or undefined
 * for anything else. Compared with the decoded Map's size, it exposes duplicate labels, which
 * cbor-x folds silently and go-cose rejects.
 */
function announcedMapSize(bytes: Uint8Array): number | undefined {
  const first = bytes[0];
  if (first === undefined || first >> 5 !== 5) return undefined;
  const info = first & 0x1f;
  if (info < 24) return info;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (info === 24 && bytes.length >= 2) return view.getUint8(1);
  if (info === 25 && bytes.length >= 3) return view.getUint16(1);
  if (info === 26 && bytes.length >= 5) return view.getUint32(1);
  return undefined;
}

/** A Notary time attribute: CBOR tag 1 over an epoch number, as notation-core-go requires. */
function parseTime(header: Map<unknown, unknown>, label: string): Date | undefined {
  if (!header.has(label)) return undefined;
  const value = header.get(label);
  if (!(value instanceof Tag)) throw envelopeError(`COSE protected header: header "${label}" time value does not have a tag`);
  if (value.tag !== 1) throw envelopeError(`COSE protected header: "${label}": only Tag 1 Datetime CBOR object is supported`);
  const seconds = value.value as unknown;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) {
    throw envelopeError(`COSE protected header: "${label}" must be tag 1 over an epoch number`);
  }
  const date = new Date(Math.round(seconds * 1000));
  if (Number.isNaN(date.getTime())) throw envelopeError(`COSE protected header: "${label}" is out of range`);
  return date;
}

function optionalText(header: Map<unknown, unknown>, label: string): string | undefined {
  if (!header.has(label)) return undefined;
  const value = header.get(label);
  if (typeof value !== 'string') throw envelopeError(`COSE protected header: "${label}" must be a text string`);
  return value;
}

/** x5chain (RFC 9360 §2): an array of bstr, or a single bstr for a one-certificate chain. */
function parseX5chain(value: unknown, where: string): Uint8Array[] {
  const items = isBstr(value) ? [value] : value;
  if (!Array.isArray(items) || items.length === 0) throw envelopeError(`COSE ${where}: certificate chain is not present`);
  if (items.length > MAX_CERTIFICATE_CHAIN_LENGTH) {
    throw envelopeError(`COSE ${where}: x5chain has more than ${MAX_CERTIFICATE_CHAIN_LENGTH} certificates`);
  }
  return items.map((item, i) => {
    if (!isBstr(item) || item.length === 0) throw envelopeError(`COSE ${where}: x5chain[${i}] must be a non-empty byte string`);
    return new Uint8Array(item);
  });
}

function checkLabels(header: Map<unknown, unknown>, where: string): void {
  for (const label of header.keys()) {
    if (typeof label === 'string') continue;
    if (typeof label === 'number' && Number.isSafeInteger(label)) continue;
    throw envelopeError(`COSE ${where}: header labels must be integers or text strings`);
  }
}

/** The COSE Sig_structure for COSE_Sign1 (RFC 9052 §4.4) over the protected header as received. */
export function coseSign1ToBeSigned(protectedBytes: Uint8Array, payload: Uint8Array): Uint8Array {
  return new Uint8Array(encoder.encode(['Signature1', Buffer.from(protectedBytes), Buffer.alloc(0), Buffer.from(payload)]));
}

/** Parses and checks one COSE envelope; throws INVALID_SIGNATURE (BAD_CONTENT) naming the broken rule. */
export function parseCoseEnvelope(bytes: Uint8Array): SignatureEnvelope {
  // COSE_Sign1_Tagged: tag 18 over [protected bstr, unprotected map, payload bstr, signature bstr].
  let message: unknown;
  try {
    message = decodeCbor(bytes);
  } catch (error) {
    throw envelopeError(`COSE envelope is not valid CBOR: ${(error as Error).message}`, error);
  }
  if (!(message instanceof Tag) || message.tag !== COSE_SIGN1_TAG)
    throw envelopeError('COSE envelope: not a COSE_Sign1_Tagged message (CBOR tag 18)');
  const parts = message.value as unknown;
  if (!Array.isArray(parts) || parts.length !== 4) throw envelopeError('COSE envelope: COSE_Sign1 must be an array of 4 items');
  const [protectedBytes, unprotected, payload, signature] = parts as [unknown, unknown, unknown, unknown];
  if (!isBstr(protectedBytes)) throw envelopeError('COSE envelope: the protected header must be a byte string');
  if (!(unprotected instanceof Map)) throw envelopeError('COSE envelope: the unprotected header must be a map');
  if (payload === null || payload === undefined) throw envelopeError('COSE envelope: detached payloads are not supported');
  if (!isBstr(payload)) throw envelopeError('COSE envelope: the payload must be a byte string');
  if (!isBstr(signature) || signature.length === 0) throw envelopeError('COSE envelope: signature missing in COSE envelope');

  // The protected header, decoded from its own bytes (never re-encoded).
  let protectedHeader: unknown = new Map();
  if (protectedBytes.length > 0) {
    try {
      protectedHeader = decodeCbor(protectedBytes);
    } catch (error) {
      throw envelopeError(`COSE protected header is not valid CBOR: ${(error as Error).message}`, error);
    }
    if (!(protectedHeader instanceof Map)) throw envelopeError('COSE protected header: must be a map');
    const announced = announcedMapSize(protectedBytes);
    if (announced === undefined) throw envelopeError('COSE protected header: must be a definite-length map');
    if (announced !== protectedHeader.size) throw envelopeError('COSE protected header: duplicate header labels');
  }
  const header = protectedHeader as Map<unknown, unknown>;
  checkLabels(header, 'protected header');
  checkLabels(unprotected, 'unprotected header');
  for (const label of unprotected.keys()) {
    if (header.has(label))
      throw envelopeError(`COSE envelope: header label ${labelName(label)} is in both the protected and unprotected headers`);
  }
  if (unprotected.has(COSE_LABEL.crit)) throw envelopeError('COSE unprotected header: "crit" must be protected');

  // alg and content type.
  if (!header.has(COSE_LABEL.alg)) throw envelopeError('COSE protected header: missing algorithm (label 1)');
  const algorithm = signatureAlgorithmFromCose(header.get(COSE_LABEL.alg));
  if (algorithm === undefined) {
    throw envelopeError(`COSE protected header: signature algorithm ${String(header.get(COSE_LABEL.alg))} is not supported`);
  }
  if (!header.has(COSE_LABEL.contentType)) throw envelopeError('COSE protected header: missing content type');
  const contentType = header.get(COSE_LABEL.contentType);
  if (typeof contentType !== 'string') throw envelopeError("COSE protected header: content type should be of 'tstr' type");
  if (contentType !== PAYLOAD_CONTENT_TYPE) {
    throw envelopeError(`COSE protected header: payload content type ${JSON.stringify(contentType)} is not supported`);
  }

  // crit: labels are ints or text; never the COSE-defined labels 0–8; each one present.
  let critical: string[] | undefined;
  if (header.has(COSE_LABEL.crit)) {
    const crit = header.get(COSE_LABEL.crit);
    if (!Array.isArray(crit)) throw envelopeError('COSE protected header: "crit" must be an array');
    critical = crit.map((label: unknown) => {
      if (typeof label === 'number' && Number.isSafeInteger(label)) {
        if (label >= 0 && label <= 8) throw envelopeError(`COSE protected header: "crit" must not list label ${label}`);
        if (!header.has(label)) throw envelopeError(`COSE protected header: label ${label} is marked critical but not present`);
        return String(label);
      }
      if (typeof label === 'string') {
        if (!header.has(label)) throw envelopeError(`COSE protected header: "${label}" header is marked critical but not present`);
        return label;
      }
      throw envelopeError('COSE protected header: "crit" labels must be integers or text strings');
    });
  }

  // Notary attributes.
  const signingTime = parseTime(header, NOTARY_HEADER.signingTime);
  const authenticSigningTime = parseTime(header, NOTARY_HEADER.authenticSigningTime);
  const expiry = parseTime(header, NOTARY_HEADER.expiry);
  const verificationPlugin = optionalText(header, NOTARY_HEADER.verificationPlugin);
  const verificationPluginMinVersion = optionalText(header, NOTARY_HEADER.verificationPluginMinVersion);
  const signingScheme = validateNotaryAttributes({
    format: 'cose',
    signingScheme: header.get(NOTARY_HEADER.signingScheme),
    signingTime,
    authenticSigningTime,
    expiry,
    critical,
  });

  const extendedAttributes: Record<string, unknown> = {};
  for (const [label, value] of header) {
    if (KNOWN_PROTECTED.has(label as string | number)) continue;
    const key = String(label);
    if (Object.prototype.hasOwnProperty.call(extendedAttributes, key)) {
      throw envelopeError(`COSE protected header: labels ${key} and "${key}" collide`);
    }
    setAttribute(extendedAttributes, key, value);
  }

  // x5chain: notation-core-go reads only an unprotected array; the spec allows either bucket.
  const chainValue = unprotected.has(COSE_LABEL.x5chain) ? unprotected.get(COSE_LABEL.x5chain) : header.get(COSE_LABEL.x5chain);
  const certificateChain = parseX5chain(chainValue, unprotected.has(COSE_LABEL.x5chain) ? 'unprotected header' : 'protected header');

  const result: SignatureEnvelope = {
    format: 'cose',
    mediaType: MEDIA_TYPE.cose,
    algorithm,
    signedBytes: coseSign1ToBeSigned(protectedBytes, payload),
    signature: new Uint8Array(signature),
    payload: new Uint8Array(payload),
    contentType,
    signingScheme,
    critical: critical ?? [],
    extendedAttributes,
    certificateChain,
  };
  if (signingTime !== undefined) result.signingTime = signingTime;
  if (authenticSigningTime !== undefined) result.authenticSigningTime = authenticSigningTime;
  if (expiry !== undefined) result.expiry = expiry;
  if (verificationPlugin !== undefined) result.verificationPlugin = verificationPlugin;
  if (verificationPluginMinVersion !== undefined) result.verificationPluginMinVersion = verificationPluginMinVersion;
  // Unsigned attributes of the wrong type are ignored, as notation-core-go does for COSE.
  const timestamp = unprotected.get(NOTARY_HEADER.timestampSignature);
  if (isBstr(timestamp) && timestamp.length > 0) result.timestampToken = new Uint8Array(timestamp);
  const signingAgent = unprotected.get(NOTARY_HEADER.signingAgent);
  if (typeof signingAgent === 'string') result.signingAgent = signingAgent;
  return result;
}
