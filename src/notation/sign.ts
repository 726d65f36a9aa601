// Produces Notary Project signatures the way notation does (notation-core-go jws/cose Sign;
// notation-go signer.go for the signature manifest): JWS or COSE envelopes over a Notary payload,
// and the OCI signature manifest in either of notation's two forms. It backs `vouch sign`,
// promotion and the end-to-end tests; negative tests use the escape hatches to break one rule.

import { constants, createHash, createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { Decoder, Encoder, Tag } from 'cbor-x';
import { VouchError } from '../core/index.js';
import {
  ANNOTATION,
  EMPTY_JSON,
  EMPTY_JSON_DIGEST,
  MEDIA_TYPE,
  blobDescriptor,
  buildImageManifest,
  type BuiltManifestBytes,
  type Descriptor,
} from '../oci/index.js';
import { Certificate } from '../trust/index.js';
import { COSE_ALGORITHM, hashForAlgorithm, signatureAlgorithmForKey, verifySignatureBytes } from './algorithms.js';
import { COSE_LABEL, COSE_SIGN1_TAG, coseSign1ToBeSigned } from './envelope-cose.js';
import { NOTARY_HEADER, PAYLOAD_CONTENT_TYPE, type SignatureAlgorithm, type SigningScheme } from './envelope.js';
import { parseEnvelope } from './parse-envelope.js';

/** What a signature is over (the payload's targetArtifact). The digest may use any algorithm. */
export interface SignTarget {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
}

/** What an envelope says, apart from the key that signs it (signEnvelope and signEnvelopeWith). */
export interface EnvelopeContentOptions {
  format: 'jws' | 'cose';
  payload: { targetArtifact: SignTarget };
  /** Default: now. Truncated to whole seconds, as notation does. */
  signingTime?: Date;
  expiry?: Date;
  /** Default notary.x509. With signingAuthority, `signingTime` becomes authenticSigningTime. */
  signingScheme?: SigningScheme;
  /** Unprotected `io.cncf.notary.signingAgent`. Default `vouch`. */
  signingAgent?: string;
  /** An RFC 3161 TimeStampToken to attach (unprotected `io.cncf.notary.timestampSignature`). */
  timestampToken?: Uint8Array;
  /**
   * For negative tests: protected headers added after the standard ones. A name equal to a
   * standard header replaces it; `undefined` removes it. COSE: a Map may use integer labels, and
   * Date values are written as tag 1.
   */
  extraProtectedHeaders?: Record<string, unknown> | Map<string | number, unknown>;
  /** For negative tests: labels appended to `crit`. */
  extraCritical?: Array<string | number>;
  /** For negative tests: claim this algorithm instead of the key's own (signing uses its hash). */
  algorithm?: SignatureAlgorithm;
}

export interface SignEnvelopeOptions extends EnvelopeContentOptions {
  /** The leaf certificate's private key. */
  privateKey: KeyObject;
  /** Leaf first, root last (the root must be included). */
  certificateChain: Certificate[] | Uint8Array[];
}

/** A primitive signature and the chain that certifies its key, from a signer that keeps the key. */
export interface RawSignature {
  /** RSASSA-PSS bytes, or ECDSA as raw r||s (RFC 7518 §3.4; RFC 9053 §2.1). */
  signature: Uint8Array;
  /** Leaf first, root last. */
  certificateChain: Certificate[];
}

/**
 * A signing key that never leaves its provider (a KMS or HSM behind a notation plugin): it signs
 * the exact bytes (JWS signing input, COSE Sig_structure) with `algorithm`, as notation-core-go's
 * remote signer (signature.Signer, "ProxySigner") does, and hands back the chain with the signature.
 */
export interface RawSigner {
  /** The algorithm of the key (the envelope's `alg`), known before signing (describe-key). */
  algorithm: SignatureAlgorithm;
  sign(bytes: Uint8Array): Promise<RawSignature>;
}

export interface SignedEnvelope {
  mediaType: string;
  bytes: Uint8Array;
}

const coseEncoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false });
const coseDecoder = new Decoder({ mapsAsObjects: false, useRecords: false });

function signError(message: string): VouchError {
  return new VouchError('INVALID_INPUT', `sign: ${message}`, { reason: 'BAD_CONTENT' });
}

function toCertificates(chain: Certificate[] | Uint8Array[]): Certificate[] {
  return chain.map((item, i) => (item instanceof Certificate ? item : Certificate.fromDer(item, `certificateChain[${i}]`)));
}

function truncateToSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

/** RFC 3339 in UTC without fractional seconds (`2024-01-01T00:00:00Z`). */
function rfc3339(date: Date): string {
  return truncateToSeconds(date).toISOString().replace('.000Z', 'Z');
}

/** The primitive signature: RSASSA-PSS with salt = hash length, or ECDSA as raw r||s. */
function signBytes(alg: SignatureAlgorithm, privateKey: KeyObject, data: Uint8Array): Uint8Array {
  const hash = hashForAlgorithm(alg);
  if (privateKey.asymmetricKeyType === 'rsa') {
    return new Uint8Array(
      cryptoSign(hash, data, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }),
    );
  }
  return new Uint8Array(cryptoSign(hash, data, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
}

function sortedObject(value: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, value[k]!]),
  );
}

/**
 * The payload JSON as notation writes it: keys sorted for JWS (the observed notation output), and
 * Go struct order (mediaType, digest, size, annotations, artifactType) for COSE.
 */
export function payloadBytes(target: SignTarget, format: 'jws' | 'cose'): Uint8Array {
  const fields: Record<string, unknown> = {};
  if (format === 'cose') {
    fields['mediaType'] = target.mediaType;
    fields['digest'] = target.digest;
    fields['size'] = target.size;
    if (target.annotations !== undefined) fields['annotations'] = sortedObject(target.annotations);
    if (target.artifactType !== undefined) fields['artifactType'] = target.artifactType;
  } else {
    if (target.annotations !== undefined) fields['annotations'] = sortedObject(target.annotations);
    if (target.artifactType !== undefined) fields['artifactType'] = target.artifactType;
    fields['digest'] = target.digest;
    fields['mediaType'] = target.mediaType;
    fields['size'] = target.size;
  }
  return new TextEncoder().encode(JSON.stringify({ targetArtifact: fields }));
}

interface Attributes {
  alg: SignatureAlgorithm;
  scheme: SigningScheme;
  signingTime: Date;
  expiry: Date | undefined;
  critical: Array<string | number>;
}

function attributes(options: EnvelopeContentOptions, keyAlg: SignatureAlgorithm): Attributes {
  const alg = options.algorithm ?? keyAlg;
  const scheme = options.signingScheme ?? 'notary.x509';
  const signingTime = truncateToSeconds(options.signingTime ?? new Date());
  const expiry = options.expiry === undefined ? undefined : truncateToSeconds(options.expiry);
  if (expiry !== undefined && expiry.getTime() <= signingTime.getTime()) throw signError('expiry must be after the signing time');
  const critical: Array<string | number> = [NOTARY_HEADER.signingScheme];
  if (scheme === 'notary.x509.signingAuthority') critical.push(NOTARY_HEADER.authenticSigningTime);
  if (expiry !== undefined) critical.push(NOTARY_HEADER.expiry);
  critical.push(...(options.extraCritical ?? []));
  return { alg, scheme, signingTime, expiry, critical };
}

function extraEntries(extra: SignEnvelopeOptions['extraProtectedHeaders']): Array<[string | number, unknown]> {
  if (extra === undefined) return [];
  return extra instanceof Map ? [...extra.entries()] : Object.entries(extra);
}

/** An envelope up to its signature: the bytes to sign, and how to finish it once signed. */
interface UnsignedEnvelope {
  signingInput: Uint8Array;
  finish(signature: Uint8Array, ders: Uint8Array[]): Uint8Array;
}

function unsignedJws(options: EnvelopeContentOptions, attrs: Attributes): UnsignedEnvelope {
  const header: Record<string, unknown> = {
    alg: attrs.alg,
    crit: attrs.critical,
    cty: PAYLOAD_CONTENT_TYPE,
    [NOTARY_HEADER.signingScheme]: attrs.scheme,
  };
  const timeName = attrs.scheme === 'notary.x509' ? NOTARY_HEADER.signingTime : NOTARY_HEADER.authenticSigningTime;
  header[timeName] = rfc3339(attrs.signingTime);
  if (attrs.expiry !== undefined) header[NOTARY_HEADER.expiry] = rfc3339(attrs.expiry);
  for (const [name, value] of extraEntries(options.extraProtectedHeaders)) {
    if (typeof name !== 'string') throw signError('JWS protected header names must be strings');
    if (value === undefined) delete header[name];
    else header[name] = value;
  }
  // Go's json.Marshal of a map: keys in byte order, compact.
  const sorted = Object.fromEntries(
    Object.keys(header)
      .sort()
      .map((k) => [k, header[k]]),
  );
  const protectedB64 = Buffer.from(JSON.stringify(sorted)).toString('base64url');
  const payloadB64 = Buffer.from(payloadBytes(options.payload.targetArtifact, 'jws')).toString('base64url');
  const signingInput = new TextEncoder().encode(`${protectedB64}.${payloadB64}`);
  const finish = (signature: Uint8Array, ders: Uint8Array[]): Uint8Array => {
    const unprotected: Record<string, unknown> = {};
    if (options.timestampToken !== undefined)
      unprotected[NOTARY_HEADER.timestampSignature] = Buffer.from(options.timestampToken).toString('base64');
    unprotected['x5c'] = ders.map((der) => Buffer.from(der).toString('base64'));
    unprotected[NOTARY_HEADER.signingAgent] = options.signingAgent ?? 'vouch';
    const envelope = {
      payload: payloadB64,
      protected: protectedB64,
      header: unprotected,
      signature: Buffer.from(signature).toString('base64url'),
    };
    return new TextEncoder().encode(JSON.stringify(envelope));
  };
  return { signingInput, finish };
}

/** Encoded CBOR of a label, for deterministic length-first ordering (RFC 7049 §3.9 canonical CBOR). */
function labelKey(label: string | number): Buffer {
  return coseEncoder.encode(label);
}

/** A map in notation-core-go's (fxamacker "CTAP2"/length-first) canonical key order. */
function canonicalMap(entries: Array<[string | number, unknown]>): Map<string | number, unknown> {
  const sorted = entries
    .map(([label, value]) => ({ label, value, key: labelKey(label) }))
    .sort((a, b) => a.key.length - b.key.length || Buffer.compare(a.key, b.key));
  return new Map(sorted.map(({ label, value }) => [label, value]));
}

function epochTag(date: Date): Tag {
  return new Tag(Math.floor(date.getTime() / 1000), 1);
}

function unsignedCose(options: EnvelopeContentOptions, attrs: Attributes): UnsignedEnvelope {
  const protectedEntries = new Map<string | number, unknown>([
    [COSE_LABEL.alg, COSE_ALGORITHM[attrs.alg]],
    [COSE_LABEL.crit, attrs.critical],
    [COSE_LABEL.contentType, PAYLOAD_CONTENT_TYPE],
    [NOTARY_HEADER.signingScheme, attrs.scheme],
  ]);
  const timeName = attrs.scheme === 'notary.x509' ? NOTARY_HEADER.signingTime : NOTARY_HEADER.authenticSigningTime;
  protectedEntries.set(timeName, epochTag(attrs.signingTime));
  if (attrs.expiry !== undefined) protectedEntries.set(NOTARY_HEADER.expiry, epochTag(attrs.expiry));
  for (const [label, value] of extraEntries(options.extraProtectedHeaders)) {
    if (value === undefined) protectedEntries.delete(label);
    else protectedEntries.set(label, value instanceof Date ? epochTag(value) : value);
  }
  const protectedBytes = new Uint8Array(coseEncoder.encode(canonicalMap([...protectedEntries.entries()])));
  const payload = payloadBytes(options.payload.targetArtifact, 'cose');
  const signingInput = coseSign1ToBeSigned(protectedBytes, payload);
  const finish = (signature: Uint8Array, ders: Uint8Array[]): Uint8Array => {
    const unprotectedEntries: Array<[string | number, unknown]> = [
      [COSE_LABEL.x5chain, ders.map((der) => Buffer.from(der))],
      [NOTARY_HEADER.signingAgent, options.signingAgent ?? 'vouch'],
    ];
    if (options.timestampToken !== undefined)
      unprotectedEntries.push([NOTARY_HEADER.timestampSignature, Buffer.from(options.timestampToken)]);
    const message = new Tag(
      [Buffer.from(protectedBytes), canonicalMap(unprotectedEntries), Buffer.from(payload), Buffer.from(signature)],
      COSE_SIGN1_TAG,
    );
    return new Uint8Array(coseEncoder.encode(message));
  };
  return { signingInput, finish };
}

function unsignedEnvelope(options: EnvelopeContentOptions, attrs: Attributes): { mediaType: string; unsigned: UnsignedEnvelope } {
  if (options.format === 'jws') return { mediaType: MEDIA_TYPE.jws, unsigned: unsignedJws(options, attrs) };
  return { mediaType: MEDIA_TYPE.cose, unsigned: unsignedCose(options, attrs) };
}

/**
 * Signs a payload into a JWS or COSE envelope that notation verifies. The algorithm follows the
 * leaf key (signatureAlgorithmForKey); the private key must belong to the leaf certificate.
 * Throws INVALID_INPUT for an unusable request and UNTRUSTED_SIGNER for an unsupported key.
 */
export function signEnvelope(options: SignEnvelopeOptions): SignedEnvelope {
  const certs = toCertificates(options.certificateChain);
  const leaf = certs[0];
  if (leaf === undefined) throw signError('the certificate chain is empty');
  const spki = (key: KeyObject) => key.export({ type: 'spki', format: 'der' });
  if (!spki(createPublicKey(options.privateKey)).equals(spki(leaf.publicKey))) {
    throw signError('the private key does not belong to the leaf certificate');
  }
  const attrs = attributes(options, signatureAlgorithmForKey(leaf.publicKey));
  const { mediaType, unsigned } = unsignedEnvelope(options, attrs);
  const signature = signBytes(attrs.alg, options.privateKey, unsigned.signingInput);
  return {
    mediaType,
    bytes: unsigned.finish(
      signature,
      certs.map((cert) => cert.der),
    ),
  };
}

/**
 * signEnvelope with a key that stays with its provider: `signer` signs the JWS signing input or
 * the COSE Sig_structure. Like notation-go's GenericSigner (which verifies what its remote signer
 * made before returning it), the answer is held to the envelope: the leaf must be a key of
 * `signer.algorithm` and the signature must verify with it, else INVALID_INPUT (BAD_CONTENT).
 * Callers that know more about the provider check its answer first, with better errors.
 */
export async function signEnvelopeWith(options: EnvelopeContentOptions, signer: RawSigner): Promise<SignedEnvelope> {
  const attrs = attributes(options, signer.algorithm);
  const { mediaType, unsigned } = unsignedEnvelope(options, attrs);
  const { signature, certificateChain } = await signer.sign(unsigned.signingInput);
  const leaf = certificateChain[0];
  if (leaf === undefined) throw signError('the signer returned no certificate chain');
  if (options.algorithm === undefined) {
    if (signatureAlgorithmForKey(leaf.publicKey) !== signer.algorithm)
      throw signError(`the leaf certificate's key is not a ${signer.algorithm} key`);
    if (!verifySignatureBytes(signer.algorithm, leaf.publicKey, unsigned.signingInput, signature, options.format)) {
      throw signError(`the signer's ${signer.algorithm} signature does not verify with the leaf certificate's key`);
    }
  }
  return {
    mediaType,
    bytes: unsigned.finish(
      signature,
      certificateChain.map((cert) => cert.der),
    ),
  };
}

/**
 * The same envelope with an RFC 3161 token in its unprotected header
 * (`io.cncf.notary.timestampSignature`, signature-specification.md "Unsigned Attributes"). The
 * token countersigns the primitive signature, which a re-signature would change (ECDSA and
 * RSASSA-PSS are randomised): so it is added to the signed envelope, never signed anew. Protected
 * header, payload and signature bytes are kept exactly.
 */
export function attachTimestampToken(envelope: SignedEnvelope, token: Uint8Array): SignedEnvelope {
  if (envelope.mediaType === MEDIA_TYPE.jws) {
    const parsed = JSON.parse(new TextDecoder().decode(envelope.bytes)) as { header?: Record<string, unknown> } & Record<string, unknown>;
    const rest = Object.entries(parsed.header ?? {}).filter(([name]) => name !== NOTARY_HEADER.timestampSignature);
    const header = { [NOTARY_HEADER.timestampSignature]: Buffer.from(token).toString('base64'), ...Object.fromEntries(rest) };
    return { mediaType: envelope.mediaType, bytes: new TextEncoder().encode(JSON.stringify({ ...parsed, header })) };
  }
  if (envelope.mediaType === MEDIA_TYPE.cose) {
    const message: unknown = coseDecoder.decode(Buffer.from(envelope.bytes));
    if (!(message instanceof Tag) || message.tag !== COSE_SIGN1_TAG || !Array.isArray(message.value) || message.value.length !== 4) {
      throw signError('not a COSE_Sign1 envelope');
    }
    const [protectedBytes, unprotected, payload, signature] = message.value as [Uint8Array, unknown, Uint8Array, Uint8Array];
    if (!(unprotected instanceof Map)) throw signError('the COSE unprotected header is not a map');
    const entries = [...(unprotected as Map<string | number, unknown>).entries()].filter(
      ([label]) => label !== NOTARY_HEADER.timestampSignature,
    );
    entries.push([NOTARY_HEADER.timestampSignature, Buffer.from(token)]);
    const rebuilt = new Tag(
      [Buffer.from(protectedBytes), canonicalMap(entries), Buffer.from(payload), Buffer.from(signature)],
      COSE_SIGN1_TAG,
    );
    return { mediaType: envelope.mediaType, bytes: new Uint8Array(coseEncoder.encode(rebuilt)) };
  }
  throw signError(`unknown envelope media type ${envelope.mediaType}`);
}

export interface SignatureManifestOptions {
  /**
   * `legacy`: what every released notation (1.x) writes, config mediaType
   * application/vnd.cncf.notary.signature and no artifactType. `artifactType`: notation v2, with
   * artifactType and the empty config.
   */
  form: 'legacy' | 'artifactType';
  /** SHA-256 hex of each chain certificate, envelope order. Default: computed from the envelope. */
  thumbprints?: string[];
  /** `org.opencontainers.image.created`. Default: now. */
  created?: Date;
  /**
   * Further manifest annotations (`vouch sign --annotation`). They cannot replace the two above:
   * notation reads the thumbprint annotation to pick signatures.
   */
  annotations?: Record<string, string>;
}

export interface BlobBytes {
  descriptor: Descriptor;
  bytes: Uint8Array;
}

/** The signature manifest (its descriptor and exact bytes) and the blobs it references. */
export interface SignatureManifest extends BuiltManifestBytes {
  /** Blobs to push before the manifest: the config (`{}`) and the envelope. */
  blobs: BlobBytes[];
}

/** The signature manifest annotations vouch writes itself (thumbprints, created): never taken from a caller or plugin. */
export const RESERVED_SIGNATURE_ANNOTATIONS: readonly string[] = [ANNOTATION.notaryThumbprint, ANNOTATION.created];

/** The first of RESERVED_SIGNATURE_ANNOTATIONS that `annotations` sets, if any. */
export function reservedAnnotation(annotations: Readonly<Record<string, string>> | undefined): string | undefined {
  return RESERVED_SIGNATURE_ANNOTATIONS.find((name) => annotations?.[name] !== undefined);
}

/** The OCI signature manifest (signature-specification.md "Storage") for an envelope of `subject`. */
export function buildSignatureManifest(
  envelope: SignedEnvelope,
  subject: Descriptor,
  options: SignatureManifestOptions,
): SignatureManifest {
  const thumbprints =
    options.thumbprints ??
    parseEnvelope(envelope.mediaType, envelope.bytes).certificateChain.map((der) => createHash('sha256').update(der).digest('hex'));
  const layer = blobDescriptor(envelope.bytes, envelope.mediaType);
  const reserved = reservedAnnotation(options.annotations);
  if (reserved !== undefined) throw signError(`annotation ${reserved} is reserved`);
  const annotations: Record<string, string> = {
    ...options.annotations,
    [ANNOTATION.notaryThumbprint]: JSON.stringify(thumbprints),
    [ANNOTATION.created]: rfc3339(options.created ?? new Date()),
  };
  const config: Descriptor =
    options.form === 'legacy'
      ? { mediaType: MEDIA_TYPE.notarySignature, digest: EMPTY_JSON_DIGEST as Descriptor['digest'], size: 2 }
      : { mediaType: MEDIA_TYPE.ociEmpty, digest: EMPTY_JSON_DIGEST as Descriptor['digest'], size: 2, data: 'e30=' };
  const manifest = buildImageManifest({
    ...(options.form === 'artifactType' ? { artifactType: MEDIA_TYPE.notarySignature } : {}),
    config,
    layers: [layer],
    subject,
    annotations,
  });
  return {
    descriptor: manifest.descriptor,
    bytes: manifest.bytes,
    blobs: [
      { descriptor: config, bytes: new Uint8Array(EMPTY_JSON) },
      { descriptor: layer, bytes: envelope.bytes },
    ],
  };
}
