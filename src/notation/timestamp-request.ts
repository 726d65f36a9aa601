// Obtaining an RFC 3161 timestamp countersignature for a Notary Project signature, as notation
// does when it signs with --timestamp-url (signature-specification.md "Timestamp",
// https://github.com/notaryproject/specifications/blob/v1.1.0/specs/signature-specification.md;
// notation-core-go + tspclient-go): a TimeStampReq (RFC 3161 §2.4.1) over the primitive signature
// bytes with the hash of the signature algorithm, a random nonce below 2^159 and certReq true,
// POSTed as application/timestamp-query (RFC 3161 §3.4); the TimeStampResp (§2.4.2) must be
// granted, carry the nonce and imprint asked for, and its token must verify and chain to the
// timestamp roots the user trusts, before anything is pushed. The TSA is untrusted: its answer is
// read through the HttpTransport with a size cap and a deadline.

import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { createHash, randomBytes } from 'node:crypto';
import { RegistryError, VouchError, errorMessage } from '../core/index.js';
import { HttpTransport, baseMediaType } from '../oci/index.js';
import type { Certificate } from '../trust/index.js';
import type { HashAlgorithm } from './algorithms.js';
import { HASH_OID, parseTimestampToken, verifyTimestampToken, type TimestampTokenInfo, type VerifiedTimestamp } from './timestamp.js';

/** tspclient-go's cap on a TSA answer; a real one with certificates is a few KiB. */
const DEFAULT_TIMESTAMP_RESPONSE_BYTES = 1024 * 1024;
/** The whole exchange with the TSA (connect, send, read). */
const DEFAULT_TIMESTAMP_TIMEOUT_MS = 15_000;

export interface TimestampOptions {
  /** The TSA endpoint (`--timestamp-url`). */
  url: URL;
  /** Roots the token must chain to (`--timestamp-root`); the same ones a `tsa` trust store holds. */
  roots: Certificate[];
  /** The HTTP transport to use (default: one of its own, closed afterwards). */
  transport?: HttpTransport;
  /** Default DEFAULT_TIMESTAMP_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Default DEFAULT_TIMESTAMP_RESPONSE_BYTES. */
  maxResponseBytes?: number;
}

export interface ObtainedTimestamp {
  /** The TimeStampToken (a CMS ContentInfo), as it goes into the envelope. */
  token: Uint8Array;
  timestamp: VerifiedTimestamp;
}

const REPLY_MEDIA_TYPE = 'application/timestamp-reply';
const QUERY_MEDIA_TYPE = 'application/timestamp-query';

/** PKIStatus (RFC 3161 §2.4.2) names, for messages. */
const STATUS_NAMES = ['granted', 'grantedWithMods', 'rejection', 'waiting', 'revocationWarning', 'revocationNotification'];
/** PKIFailureInfo bits (RFC 3161 §2.4.2). */
const FAILURE_NAMES: Record<number, string> = {
  0: 'badAlg',
  2: 'badRequest',
  5: 'badDataFormat',
  14: 'timeNotAvailable',
  15: 'unacceptedPolicy',
  16: 'unacceptedExtension',
  17: 'addInfoNotAvailable',
  25: 'systemFailure',
};

function where(url: URL): string {
  return `timestamp authority ${url.origin}${url.pathname}`;
}

function badAnswer(url: URL, message: string, reason: 'BAD_CONTENT' | 'DIGEST_MISMATCH' = 'BAD_CONTENT', cause?: unknown): VouchError {
  return new VouchError('INVALID_SIGNATURE', `${where(url)}: ${message}`, { reason, ...(cause !== undefined ? { cause } : {}) });
}

/** A nonce in [1, 2^159) in minimal DER form (positive, no leading zero byte), as tspclient-go draws it. */
function newNonce(): Uint8Array {
  const bytes = randomBytes(20);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return new Uint8Array(bytes);
}

/** The DER TimeStampReq for `signature`, and the nonce and imprint the answer must echo. */
export function buildTimestampRequest(
  signature: Uint8Array,
  hash: HashAlgorithm,
): { der: Uint8Array; nonce: Uint8Array; imprint: Uint8Array } {
  const imprint = new Uint8Array(createHash(hash).update(signature).digest());
  const nonce = newNonce();
  const request = new pkijs.TimeStampReq({
    version: 1,
    messageImprint: new pkijs.MessageImprint({
      hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: HASH_OID[hash], algorithmParams: new asn1js.Null() }),
      hashedMessage: new asn1js.OctetString({ valueHex: imprint }),
    }),
    nonce: new asn1js.Integer({ valueHex: nonce }),
    certReq: true,
  });
  return { der: new Uint8Array(request.toSchema().toBER(false)), nonce, imprint };
}

/**
 * Takes a TimeStampResp apart: the status must be granted (or grantedWithMods) and the token is
 * returned as the exact bytes the TSA sent (tspclient-go keeps TimeStampToken.FullBytes).
 */
function parseTimestampResponse(body: Uint8Array, url: URL): Uint8Array {
  let decoded: ReturnType<typeof asn1js.fromBER>;
  try {
    decoded = asn1js.fromBER(new Uint8Array(body).buffer);
  } catch (error) {
    throw badAnswer(url, `the answer is not a timestamp response (${errorMessage(error)})`, 'BAD_CONTENT', error);
  }
  if (decoded.offset === -1 || decoded.offset !== body.length || !(decoded.result instanceof asn1js.Sequence)) {
    throw badAnswer(url, 'the answer is not a timestamp response (not one DER SEQUENCE)');
  }
  const [statusBlock, tokenBlock] = decoded.result.valueBlock.value;
  let status: pkijs.PKIStatusInfo;
  try {
    status = new pkijs.PKIStatusInfo({ schema: statusBlock });
  } catch (error) {
    throw badAnswer(url, `the answer has no valid PKIStatusInfo (${errorMessage(error)})`, 'BAD_CONTENT', error);
  }
  if (status.status !== 0 && status.status !== 1) {
    const name = STATUS_NAMES[status.status] ?? `status ${status.status}`;
    const text = status.statusStrings?.map((s) => s.valueBlock.value).join('; ');
    const failures = failureNames(status.failInfo);
    throw new VouchError(
      'REGISTRY_UNAVAILABLE',
      `${where(url)} refused the request: ${name}${failures ? ` (${failures})` : ''}${text ? `: ${text}` : ''}`,
      { reason: 'DENIED' },
    );
  }
  if (tokenBlock === undefined) throw badAnswer(url, 'the answer was granted but carries no timestamp token');
  return new Uint8Array(tokenBlock.valueBeforeDecodeView);
}

function failureNames(failInfo: asn1js.BitString | undefined): string {
  if (failInfo === undefined) return '';
  const bytes = failInfo.valueBlock.valueHexView;
  const names: string[] = [];
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    if ((bytes[bit >> 3]! & (0x80 >> (bit & 7))) !== 0) names.push(FAILURE_NAMES[bit] ?? `bit ${bit}`);
  }
  return names.join(', ');
}

/**
 * Asks the TSA at `options.url` to countersign `signature` (the primitive signature bytes of an
 * envelope) with `hash` (the signature algorithm's), and verifies the answer as notation would at
 * sign time. Errors: REGISTRY_UNAVAILABLE when the TSA cannot be reached, answers an HTTP error,
 * too much, the wrong content type (CONNECTION, TIMEOUT, HTTP_STATUS, SIZE_LIMIT, MEDIA_TYPE) or
 * refuses (DENIED); INVALID_SIGNATURE when the answer or token is malformed or is not for this
 * request (BAD_CONTENT, DIGEST_MISMATCH); UNTRUSTED_SIGNER when the token does not chain to
 * `options.roots` or breaks the TSA certificate rules.
 */
export async function requestTimestamp(
  signature: Uint8Array,
  hash: HashAlgorithm,
  options: TimestampOptions,
  signal?: AbortSignal,
): Promise<ObtainedTimestamp> {
  const url = options.url;
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new VouchError('INVALID_INPUT', `${where(url)}: the URL must be http or https, not ${url.protocol}`, { reason: 'BAD_CONTENT' });
  }
  if (options.roots.length === 0) {
    throw new VouchError('INVALID_INPUT', `${where(url)}: no timestamp root certificate to verify its answer with`, {
      reason: 'NOT_FOUND',
    });
  }
  const request = buildTimestampRequest(signature, hash);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMESTAMP_TIMEOUT_MS;
  const transport = options.transport ?? new HttpTransport({ timeoutMs, maxRedirects: 0, connectionsPerOrigin: 1 });
  const deadline = AbortSignal.timeout(timeoutMs);
  let body: Uint8Array;
  try {
    const response = await transport.send({
      method: 'POST',
      url,
      headers: { 'content-type': QUERY_MEDIA_TYPE, accept: REPLY_MEDIA_TYPE },
      body: request.der,
      maxBytes: options.maxResponseBytes ?? DEFAULT_TIMESTAMP_RESPONSE_BYTES,
      signal: signal === undefined ? deadline : AbortSignal.any([signal, deadline]),
      what: where(url),
    });
    if (response.status !== 200) {
      throw new RegistryError('REGISTRY_UNAVAILABLE', `${where(url)} answered HTTP ${response.status}`, {
        reason: 'HTTP_STATUS',
        method: 'POST',
        status: response.status,
      });
    }
    const header = response.headers['content-type'];
    const contentType = baseMediaType(Array.isArray(header) ? header[0] : header);
    if (contentType !== REPLY_MEDIA_TYPE) {
      throw new VouchError('REGISTRY_UNAVAILABLE', `${where(url)} answered with content type "${contentType}", not ${REPLY_MEDIA_TYPE}`, {
        reason: 'MEDIA_TYPE',
      });
    }
    body = response.body;
  } finally {
    if (options.transport === undefined) await transport.close();
  }

  const token = parseTimestampResponse(body, url);
  let echo: TimestampTokenInfo;
  try {
    echo = parseTimestampToken(token);
  } catch (error) {
    throw badAnswer(url, `the timestamp token does not parse (${errorMessage(error)})`, 'BAD_CONTENT', error);
  }
  if (echo.nonce === undefined || !Buffer.from(stripZeros(echo.nonce)).equals(Buffer.from(request.nonce))) {
    throw badAnswer(url, 'the timestamp token does not carry the nonce of the request (a replayed or foreign answer)');
  }
  if (echo.imprintAlgorithm !== hash) {
    throw badAnswer(
      url,
      `the timestamp token hashes with ${echo.imprintAlgorithm ?? 'an unknown algorithm'}, not the requested ${hash}`,
      'DIGEST_MISMATCH',
    );
  }
  let timestamp: VerifiedTimestamp;
  try {
    timestamp = verifyTimestampToken(token, signature, options.roots);
  } catch (error) {
    if (!(error instanceof VouchError)) throw error;
    const hint = error.code === 'UNTRUSTED_SIGNER' ? ' (is --timestamp-root the root of this TSA?)' : '';
    throw new VouchError(error.code, `${where(url)}: ${error.message}${hint}`, { reason: error.reason, cause: error });
  }
  return { token, timestamp };
}

/** An INTEGER's value bytes without the sign-padding zero (the nonce is compared by value). */
function stripZeros(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
}
