// Parses Notary Project JWS envelopes (`application/jose+json`, signature-envelope-jws.md): the
// flattened JWS JSON serialization with one signature, a protected header carrying the Notary
// attributes and an unprotected header carrying x5c, the timestamp and the signing agent.
// Every integrity rule notation-core-go applies to the envelope itself is checked here.

import { isSignatureAlgorithm } from './algorithms.js';
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

/**
 * Header names registered for JWS/JWE (RFC 7515 §4.1, RFC 7516 §4.1, RFC 7518 §4.6–4.8). `crit`
 * must not list them (RFC 7515 §4.1.11); notation-core-go rejects them as "marked critical but
 * not present" because they are never extended attributes.
 */
const REGISTERED_HEADERS: ReadonlySet<string> = new Set([
  'alg',
  'jku',
  'jwk',
  'kid',
  'x5u',
  'x5c',
  'x5t',
  'x5t#S256',
  'typ',
  'cty',
  'crit',
  'enc',
  'zip',
  'epk',
  'apu',
  'apv',
  'iv',
  'tag',
  'p2s',
  'p2c',
]);

/** Protected header names with a meaning of their own; everything else is an extended attribute. */
const KNOWN_PROTECTED: ReadonlySet<string> = new Set([
  'alg',
  'cty',
  'crit',
  NOTARY_HEADER.signingScheme,
  NOTARY_HEADER.signingTime,
  NOTARY_HEADER.authenticSigningTime,
  NOTARY_HEADER.expiry,
  NOTARY_HEADER.verificationPlugin,
  NOTARY_HEADER.verificationPluginMinVersion,
]);

const TOP_LEVEL_MEMBERS: ReadonlySet<string> = new Set(['payload', 'protected', 'header', 'signature']);

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const BASE64_STD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * RFC 3339 date-time (§5.6), with optional fractional seconds and either `Z` or a numeric offset.
 * notation emits the signer's local offset (`+08:00`), so offsets must be honoured.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-](\d{2}):(\d{2}))$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Days of a month (1-12) as Date.UTC counts them (years 0–99 taken as 1900–1999), without building a Date. */
function daysInMonth(year: number, month: number): number {
  const y = year < 100 ? year + 1900 : year;
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  return month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!;
}

/** Parses an RFC 3339 timestamp into an instant, or returns undefined when it is not one. */
export function parseRfc3339(value: string): Date | undefined {
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  if (day > daysInMonth(year, month)) return undefined;
  let offsetMinutes = 0;
  if (m[8] !== 'Z') {
    const offsetHours = Number(m[9]);
    const offsetMins = Number(m[10]);
    if (offsetHours > 23 || offsetMins > 59) return undefined;
    offsetMinutes = (offsetHours * 60 + offsetMins) * (m[8]!.startsWith('-') ? -1 : 1);
  }
  // Milliseconds are the precision of a Date; further fraction digits are truncated.
  const millis = m[7] === undefined ? 0 : Number((m[7].slice(1) + '00').slice(0, 3));
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000;
  // Date.UTC maps years 0–99 to 1900–1999; setUTCFullYear puts them back.
  const date = new Date(utc);
  if (year < 100) date.setUTCFullYear(date.getUTCFullYear() - 1900);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Strict base64url without padding (RFC 7515 §2): anything else is an integrity failure. */
function decodeBase64Url(value: unknown, what: string): Uint8Array {
  if (typeof value !== 'string') throw envelopeError(`JWS envelope: "${what}" must be a string`);
  const decoded = Buffer.from(value, 'base64url');
  // As decodeBase64Std: canonical input re-encodes to itself; anything else meets the pattern.
  if (decoded.toString('base64url') === value) return new Uint8Array(decoded);
  if (!BASE64URL.test(value) || value.length % 4 === 1) {
    const bad = value.search(/[^A-Za-z0-9_-]/);
    throw envelopeError(
      `JWS envelope: "${what}" is not unpadded base64url (illegal base64 data at input byte ${bad < 0 ? value.length - 1 : bad})`,
    );
  }
  return new Uint8Array(decoded);
}

/** Standard base64 with padding, as Go's encoding/json writes []byte and RFC 7515 §4.1.6 x5c. */
function decodeBase64Std(value: string, what: string): Uint8Array {
  const decoded = Buffer.from(value, 'base64');
  // Canonical input (what every signer writes) re-encodes to itself, which proves it well-formed
  // without the pattern match (a few µs per certificate, on every verification). Anything else,
  // e.g. non-zero trailing bits that Go's lenient decoder accepts, is judged by the pattern.
  if (decoded.toString('base64') !== value && !BASE64_STD.test(value)) {
    throw envelopeError(`JWS envelope: ${what} is not standard base64`);
  }
  return new Uint8Array(decoded);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(utf8.decode(bytes));
  } catch (error) {
    throw envelopeError(`${what} is not valid JSON: ${(error as Error).message}`, error);
  }
}

function optionalTime(header: Record<string, unknown>, name: string): Date | undefined {
  if (!Object.prototype.hasOwnProperty.call(header, name)) return undefined;
  const value = header[name];
  if (typeof value !== 'string') throw envelopeError(`JWS protected header: "${name}" must be an RFC 3339 string`);
  const date = parseRfc3339(value);
  if (date === undefined) throw envelopeError(`JWS protected header: "${name}" value ${JSON.stringify(value)} is not an RFC 3339 time`);
  return date;
}

function optionalString(header: Record<string, unknown>, name: string): string | undefined {
  if (!Object.prototype.hasOwnProperty.call(header, name)) return undefined;
  const value = header[name];
  if (typeof value !== 'string') throw envelopeError(`JWS protected header: "${name}" must be a string`);
  return value;
}

/**
 * The unprotected header members notation reads. Go's encoding/json matches object keys to
 * struct fields case-insensitively (the notation-go mock envelopes carry
 * `io.cncf.notary.SigningAgent`), so we do the same; other members are ignored.
 */
function unprotectedMember(header: Record<string, unknown>, name: string): unknown {
  let found: unknown = undefined;
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(header)) if (key.toLowerCase() === lower) found = value;
  // Go leaves a field untouched for JSON null.
  return found === null ? undefined : found;
}

/** Parses and checks one JWS envelope; throws INVALID_SIGNATURE (BAD_CONTENT) naming the broken rule. */
export function parseJwsEnvelope(bytes: Uint8Array): SignatureEnvelope {
  // The flattened JSON serialization (RFC 7515 §7.2.2), and nothing else.
  const envelope = parseJson(bytes, 'JWS envelope');
  if (!isPlainObject(envelope)) throw envelopeError('JWS envelope: not a JSON object');
  if (Object.prototype.hasOwnProperty.call(envelope, 'signatures')) {
    throw envelopeError('JWS envelope: the general JSON serialization ("signatures") is not supported; exactly one signature is required');
  }
  for (const key of Object.keys(envelope)) {
    if (!TOP_LEVEL_MEMBERS.has(key)) throw envelopeError(`JWS envelope: unexpected top-level member ${JSON.stringify(key)}`);
  }
  const protectedB64 = envelope['protected'];
  const payloadB64 = envelope['payload'];
  if (protectedB64 === undefined || protectedB64 === '') throw envelopeError('JWS envelope: missing "protected"');
  if (payloadB64 === undefined) throw envelopeError('JWS envelope: missing "payload"');
  if (envelope['signature'] === undefined || envelope['signature'] === '') throw envelopeError('JWS envelope: missing "signature"');
  const protectedBytes = decodeBase64Url(protectedB64, 'protected');
  const payload = decodeBase64Url(payloadB64, 'payload');
  const signature = decodeBase64Url(envelope['signature'], 'signature');

  // Unprotected header: certificate chain, timestamp, signing agent.
  const header = envelope['header'];
  if (header === undefined || header === null) throw envelopeError('JWS envelope: missing "header" (certificate chain is not present)');
  if (!isPlainObject(header)) throw envelopeError('JWS envelope: "header" must be an object');
  const x5c = unprotectedMember(header, 'x5c');
  if (x5c === undefined) throw envelopeError('JWS envelope: certificate chain is not present');
  if (!Array.isArray(x5c) || x5c.length === 0) throw envelopeError('JWS envelope: "x5c" must be a non-empty array');
  if (x5c.length > MAX_CERTIFICATE_CHAIN_LENGTH)
    throw envelopeError(`JWS envelope: "x5c" has more than ${MAX_CERTIFICATE_CHAIN_LENGTH} certificates`);
  const certificateChain = x5c.map((item, i) => {
    if (typeof item !== 'string') throw envelopeError(`JWS envelope: x5c[${i}] must be a string`);
    const der = decodeBase64Std(item, `x5c[${i}]`);
    if (der.length === 0) throw envelopeError(`JWS envelope: x5c[${i}] is empty`);
    return der;
  });
  const timestamp = unprotectedMember(header, NOTARY_HEADER.timestampSignature);
  if (timestamp !== undefined && typeof timestamp !== 'string')
    throw envelopeError(`JWS envelope: "${NOTARY_HEADER.timestampSignature}" must be a string`);
  const signingAgent = unprotectedMember(header, NOTARY_HEADER.signingAgent);
  if (signingAgent !== undefined && typeof signingAgent !== 'string')
    throw envelopeError(`JWS envelope: "${NOTARY_HEADER.signingAgent}" must be a string`);

  // Protected header: algorithm, content type, Notary attributes, crit.
  const protectedHeader = parseJson(protectedBytes, 'JWS protected header');
  if (!isPlainObject(protectedHeader)) throw envelopeError('JWS protected header: not a JSON object');
  const alg = protectedHeader['alg'];
  if (alg === undefined) throw envelopeError('JWS protected header: missing "alg"');
  if (!isSignatureAlgorithm(alg)) throw envelopeError(`JWS protected header: signature algorithm ${JSON.stringify(alg)} is not supported`);
  const cty = protectedHeader['cty'];
  if (cty === undefined) throw envelopeError('JWS protected header: missing "cty"');
  if (cty !== PAYLOAD_CONTENT_TYPE)
    throw envelopeError(`JWS protected header: payload content type ${JSON.stringify(cty)} is not supported`);
  let critical: string[] | undefined;
  if (Object.prototype.hasOwnProperty.call(protectedHeader, 'crit')) {
    const crit = protectedHeader['crit'];
    if (!Array.isArray(crit) || !crit.every((item): item is string => typeof item === 'string')) {
      throw envelopeError('JWS protected header: "crit" must be an array of strings');
    }
    critical = crit;
  }
  const signingTime = optionalTime(protectedHeader, NOTARY_HEADER.signingTime);
  const authenticSigningTime = optionalTime(protectedHeader, NOTARY_HEADER.authenticSigningTime);
  const expiry = optionalTime(protectedHeader, NOTARY_HEADER.expiry);
  const verificationPlugin = optionalString(protectedHeader, NOTARY_HEADER.verificationPlugin);
  const verificationPluginMinVersion = optionalString(protectedHeader, NOTARY_HEADER.verificationPluginMinVersion);
  const signingScheme = validateNotaryAttributes({
    format: 'jws',
    signingScheme: protectedHeader[NOTARY_HEADER.signingScheme],
    signingTime,
    authenticSigningTime,
    expiry,
    critical,
  });
  const criticalList = critical ?? [];

  // JWS crit: never a registered header nor the (non-critical) signing time; every entry present.
  for (const name of criticalList) {
    if (REGISTERED_HEADERS.has(name)) throw envelopeError(`JWS protected header: "crit" must not list the registered header "${name}"`);
    if (name === NOTARY_HEADER.signingTime) throw envelopeError(`JWS protected header: "${name}" must not be marked critical`);
    if (!Object.prototype.hasOwnProperty.call(protectedHeader, name)) {
      throw envelopeError(`JWS protected header: "${name}" header is marked critical but not present`);
    }
  }

  const extendedAttributes: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(protectedHeader)) if (!KNOWN_PROTECTED.has(key)) setAttribute(extendedAttributes, key, value);

  const result: SignatureEnvelope = {
    format: 'jws',
    mediaType: MEDIA_TYPE.jws,
    algorithm: alg,
    // RFC 7515 §5.2: ASCII(BASE64URL(protected) || '.' || BASE64URL(payload)), the strings as received.
    signedBytes: new Uint8Array(Buffer.from(`${protectedB64 as string}.${payloadB64 as string}`, 'latin1')),
    signature,
    payload,
    contentType: cty,
    signingScheme,
    critical: [...criticalList],
    extendedAttributes,
    certificateChain,
  };
  if (signingTime !== undefined) result.signingTime = signingTime;
  if (authenticSigningTime !== undefined) result.authenticSigningTime = authenticSigningTime;
  if (expiry !== undefined) result.expiry = expiry;
  if (verificationPlugin !== undefined) result.verificationPlugin = verificationPlugin;
  if (verificationPluginMinVersion !== undefined) result.verificationPluginMinVersion = verificationPluginMinVersion;
  if (timestamp !== undefined) {
    const token = decodeBase64Std(timestamp, `"${NOTARY_HEADER.timestampSignature}"`);
    // Go's `len(token) > 0` test: an empty value is no timestamp.
    if (token.length > 0) result.timestampToken = token;
  }
  if (signingAgent !== undefined) result.signingAgent = signingAgent;
  return result;
}
