// Signs an image in a registry the way `notation sign` does and attaches the signature as a
// referrer: a JWS or COSE envelope over the image's descriptor (signature-specification.md
// "Payload"), optionally countersigned by an RFC 3161 TSA, stored as an OCI 1.1 artifact manifest
// (artifactType application/vnd.cncf.notary.signature, the empty config, the envelope as its one
// layer; signature-specification.md "Storage",
// https://github.com/notaryproject/specifications/blob/v1.1.0/specs/signature-specification.md#storage).
// Blobs go first, then the manifest through attachReferrer, which keeps the referrers tag index
// current where the registry has no Referrers API (distribution-spec v1.1 "Pushing Manifests with
// Subject", https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#pushing-manifests-with-subject).
// Everything that can fail on the signer's side is checked before the first byte is pushed.

import { createHash, createPublicKey } from 'node:crypto';
import { VouchError, throwIfAborted } from '../core/index.js';
import { MEDIA_TYPE, attachReferrer, type Descriptor, type ReferrerSourceKind, type RegistryRepository } from '../oci/index.js';
import { hashForAlgorithm, signatureAlgorithmForKey } from './algorithms.js';
import type { SigningIdentity } from './identity-generation.js';
import { parseEnvelope } from './parse-envelope.js';
import type { SignatureAlgorithm } from './envelope.js';
import { isPluginSigningKey, signWithPlugin, type PluginSigningKey } from './plugin-signer.js';
import {
  attachTimestampToken,
  buildSignatureManifest,
  reservedAnnotation,
  signEnvelope,
  type SignatureManifest,
  type SignedEnvelope,
} from './sign.js';
import { checkSigningIdentity } from './signing-key.js';
import { requestTimestamp, type TimestampOptions } from './timestamp-request.js';

export interface SignImageOptions {
  /**
   * Private key and chain (leaf first, ending in its root): loadSigningIdentity or
   * generateSigningIdentity; or a key held by a notation plugin (pluginSigningKey), which signs
   * without the key ever leaving its provider.
   */
  signer: SigningIdentity | PluginSigningKey;
  format: 'jws' | 'cose';
  /** Absolute expiry (`io.cncf.notary.expiry`); must be after the signing time. */
  expiry?: Date;
  /** Payload targetArtifact.annotations, as `notation sign --user-metadata`; `io.cncf.notary.*` keys are reserved. */
  userMetadata?: Record<string, string>;
  /** Extra annotations on the signature manifest (`vouch sign --annotation`). */
  manifestAnnotations?: Record<string, string>;
  /** An RFC 3161 countersignature from this TSA, verified against its roots before anything is pushed. */
  timestamp?: TimestampOptions;
  /** Clock in epoch ms: signing time, certificate validity, manifest `created` (default Date.now). */
  now?: () => number;
  signal?: AbortSignal;
  /** `io.cncf.notary.signingAgent` (default `vouch`). */
  signingAgent?: string;
}

export interface SignedImage {
  /** The signature manifest as pushed. */
  descriptor: Descriptor;
  /** How it can be found: the registry indexed it (Referrers API), or the tag index was updated. */
  via: ReferrerSourceKind;
  envelopeMediaType: string;
}

/** Reserved user-metadata prefix (notation-go: keys of the Notary namespace cannot be set by users). */
const RESERVED_METADATA_PREFIX = 'io.cncf.notary';

function inputError(message: string): VouchError {
  return new VouchError('INVALID_INPUT', `sign: ${message}`, { reason: 'BAD_CONTENT' });
}

function checkMetadata(metadata: Record<string, string> | undefined, what: string): void {
  for (const [name, value] of Object.entries(metadata ?? {})) {
    if (name === '') throw inputError(`${what}: empty key`);
    if (typeof value !== 'string') throw inputError(`${what} ${name}: the value must be a string`);
  }
}

/**
 * Signs `subject` (a manifest in `repository`, by digest) and pushes the signature as its referrer.
 * Throws INVALID_INPUT for an unusable signer or option, the timestamp errors of
 * requestTimestamp, and the registry's errors for the pushes.
 */
export async function signImage(repository: RegistryRepository, subject: Descriptor, options: SignImageOptions): Promise<SignedImage> {
  const prepared = await prepareSignature(subject, options);
  return pushSignature(repository, prepared, options.signal);
}

/** A signature made and not pushed yet: the manifest, its blobs, and the envelope's media type. */
export interface PreparedSignature {
  manifest: SignatureManifest;
  envelopeMediaType: string;
  /**
   * SHA-256 hex of the leaf certificate's DER (the first entry of the thumbprint annotation): for a
   * plugin's key, the chain is only known once it has signed.
   */
  leafThumbprint: string;
}

/**
 * Everything signImage does before the first write: checks the signer and the options, signs, asks
 * the TSA. Promotion judges the result against the target environment before pushing it.
 */
export async function prepareSignature(subject: Descriptor, options: SignImageOptions): Promise<PreparedSignature> {
  const now = options.now ?? Date.now;
  const signingTime = new Date(now());
  const signal = options.signal;
  const signer = options.signer;
  // The signer: notation's rules, checked here too for identities that did not come from files.
  // A plugin's chain is only known from its answer, and checked there (signWithPlugin).
  if (!isPluginSigningKey(signer)) {
    checkSigningIdentity(
      signer.privateKey,
      signer.certificateChain,
      { key: 'signer.privateKey', cert: 'signer.certificateChain' },
      signingTime,
    );
  }
  checkMetadata(options.userMetadata, 'user metadata');
  checkMetadata(options.manifestAnnotations, 'annotation');
  for (const name of Object.keys(options.userMetadata ?? {})) {
    if (name.startsWith(RESERVED_METADATA_PREFIX))
      throw inputError(`user metadata key ${name} is reserved (${RESERVED_METADATA_PREFIX}.*)`);
  }
  const reserved = reservedAnnotation(options.manifestAnnotations);
  if (reserved !== undefined) throw inputError(`annotation ${reserved} is reserved (vouch writes it)`);
  if (options.expiry !== undefined && options.expiry.getTime() <= signingTime.getTime()) {
    throw inputError(`expiry ${options.expiry.toISOString()} is not after the signing time ${signingTime.toISOString()}`);
  }

  const target: Descriptor = { mediaType: subject.mediaType, digest: subject.digest, size: subject.size };
  const userMetadata = options.userMetadata ?? {};
  const targetArtifact = { ...target, ...(Object.keys(userMetadata).length > 0 ? { annotations: userMetadata } : {}) };
  let envelope: SignedEnvelope;
  let alg: SignatureAlgorithm;
  let annotations = options.manifestAnnotations;
  if (isPluginSigningKey(signer)) {
    const signed = await signWithPlugin(signer, {
      format: options.format,
      target: targetArtifact,
      signingTime,
      ...(options.expiry !== undefined ? { expiry: options.expiry } : {}),
      timestamped: options.timestamp !== undefined,
      ...(options.signingAgent !== undefined ? { signingAgent: options.signingAgent } : {}),
      ...(signal !== undefined ? { signal } : {}),
    });
    envelope = signed.envelope;
    alg = signed.algorithm;
    // notation-go puts a plugin's annotations (PluginAnnotations) on the signature manifest.
    for (const name of Object.keys(signed.annotations)) {
      if (annotations?.[name] !== undefined) {
        throw inputError(`annotation ${name} is given with --annotation and by plugin "${signer.plugin.name}"`);
      }
    }
    if (Object.keys(signed.annotations).length > 0) annotations = { ...signed.annotations, ...annotations };
  } else {
    envelope = signEnvelope({
      format: options.format,
      privateKey: signer.privateKey,
      certificateChain: signer.certificateChain,
      payload: { targetArtifact },
      signingTime,
      ...(options.expiry !== undefined ? { expiry: options.expiry } : {}),
      ...(options.signingAgent !== undefined ? { signingAgent: options.signingAgent } : {}),
    });
    alg = signatureAlgorithmForKey(createPublicKey(signer.privateKey));
  }

  if (options.timestamp !== undefined) {
    // The countersignature covers the primitive signature with the hash of its algorithm (spec "Timestamp").
    const primitive = parseEnvelope(envelope.mediaType, envelope.bytes).signature;
    const { token } = await requestTimestamp(primitive, hashForAlgorithm(alg), options.timestamp, signal);
    envelope = attachTimestampToken(envelope, token);
  }

  const manifest = buildSignatureManifest(envelope, target, {
    form: 'artifactType',
    created: signingTime,
    ...(annotations !== undefined ? { annotations } : {}),
  });
  const leaf = parseEnvelope(envelope.mediaType, envelope.bytes).certificateChain[0]!;
  return { manifest, envelopeMediaType: envelope.mediaType, leafThumbprint: createHash('sha256').update(leaf).digest('hex') };
}

/** Pushes a prepared signature: its blobs, then the manifest as a referrer (tag index kept where needed). */
export async function pushSignature(
  repository: RegistryRepository,
  prepared: PreparedSignature,
  signal?: AbortSignal,
): Promise<SignedImage> {
  const { manifest } = prepared;
  throwIfAborted(signal, 'sign');
  // Blobs before the manifest that references them (distribution-spec "Pushing Manifests").
  for (const blob of manifest.blobs) {
    await repository.pushBlob(blob.bytes, blob.descriptor.mediaType, signal ? { signal } : {});
  }
  const attached = await attachReferrer(repository, manifest.bytes, MEDIA_TYPE.ociManifest, signal ? { signal } : {});
  return { descriptor: attached.descriptor, via: attached.via, envelopeMediaType: prepared.envelopeMediaType };
}
