// Signing through a notation plugin, so that the private key never leaves its provider (a KMS, an
// HSM, a signing service): plugin-extensibility.md "Signing interfaces"
// (https://github.com/notaryproject/specifications/blob/main/specs/plugin-extensibility.md#signing-interfaces),
// as notation-go v1.3.2 signer/plugin.go (PluginSigner.Sign) does it:
// - SIGNATURE_GENERATOR.RAW (preferred when a plugin offers both): describe-key names the key's
//   spec, vouch builds the envelope and sends the exact bytes to sign (the JWS signing input, the
//   COSE Sig_structure) to generate-signature, and assembles the envelope with the chain it returns.
// - SIGNATURE_GENERATOR.ENVELOPE: generate-envelope returns a whole envelope over vouch's payload.
// A plugin is untrusted input like any other: every answer is held to the request (key id,
// algorithm, envelope type, payload), its chain to the rules notation signs by, and its signature
// is verified with the leaf key before anything can be pushed. A wrong answer is PLUGIN_ERROR
// with reason BAD_OUTPUT; the plugin's own failures come from the PluginHost with theirs.

import { VouchError, errorMessage } from '../core/index.js';
import { MEDIA_TYPE } from '../oci/index.js';
import { Certificate } from '../trust/index.js';
import { signatureAlgorithmForKey, verifySignatureBytes } from './algorithms.js';
import { PAYLOAD_CONTENT_TYPE, type SignatureAlgorithm, type SignatureEnvelope } from './envelope.js';
import { parseEnvelope, parsePayload } from './parse-envelope.js';
import { sanitizePluginText, type PluginHost } from './plugin-host.js';
import {
  PLUGIN_CAPABILITY,
  PLUGIN_COMMAND,
  PLUGIN_CONTRACT_VERSION,
  type KeySpec,
  type PluginConfig,
  type PluginHashAlgorithm,
  type PluginMetadata,
  type PluginSignatureAlgorithm,
} from './plugin-protocol.js';
import { payloadBytes, reservedAnnotation, signEnvelopeWith, type RawSignature, type SignTarget, type SignedEnvelope } from './sign.js';
import { checkSigningChain } from './signing-key.js';

/** What signing needs of a PluginHost (the host itself, or a test double of it). */
export type PluginRunner = Pick<PluginHost, 'metadata' | 'run'>;

/** A key held by a notation plugin (`vouch sign --plugin NAME --id KEY_ID [--plugin-config k=v]`). */
export interface PluginSigningKey {
  plugin: {
    host: PluginRunner;
    /** The plugin's name: `<host directory>/<name>/notation-<name>`. */
    name: string;
    /** The key id the plugin knows the key by. */
    keyId: string;
    /** Sent as pluginConfig with every command (notation's --plugin-config). */
    config?: PluginConfig;
  };
}

/** A PluginSigningKey, with the argument checks notation-go NewPluginSigner makes. */
export function pluginSigningKey(host: PluginRunner, name: string, keyId: string, config?: PluginConfig): PluginSigningKey {
  if (name === '') throw new VouchError('INVALID_INPUT', 'sign: the plugin name is empty', { reason: 'BAD_CONTENT' });
  if (keyId === '') throw new VouchError('INVALID_INPUT', `sign: no key id for plugin "${name}"`, { reason: 'BAD_CONTENT' });
  return { plugin: { host, name, keyId, ...(config !== undefined ? { config: { ...config } } : {}) } };
}

export function isPluginSigningKey(signer: object): signer is PluginSigningKey {
  return 'plugin' in signer && typeof (signer as { plugin?: unknown }).plugin === 'object';
}

export interface PluginSignRequest {
  format: 'jws' | 'cose';
  /** The payload's targetArtifact (with the user metadata as annotations). */
  target: SignTarget;
  signingTime: Date;
  expiry?: Date;
  /**
   * A timestamp will be asked for the signature. notation-go timestamps only the signatures it
   * assembles (GenericSigner; a plugin's own envelope is returned as is), so an ENVELOPE plugin
   * with a timestamp is refused here rather than silently left untimestamped.
   */
  timestamped?: boolean;
  /** Unprotected signing agent before the plugin's `name/version` (default `vouch`), as notation's. */
  signingAgent?: string;
  signal?: AbortSignal;
}

export interface PluginSignature {
  envelope: SignedEnvelope;
  /** Which signing interface made it. */
  mode: 'RAW' | 'ENVELOPE';
  /** The envelope's algorithm (also the hash of a timestamp over it). */
  algorithm: SignatureAlgorithm;
  /** The checked chain, leaf first. */
  certificateChain: Certificate[];
  /** Signature manifest annotations the plugin asked for (ENVELOPE only; notation's PluginAnnotations). */
  annotations: Record<string, string>;
  plugin: { name: string; version: string };
}

/** signature-specification.md "Algorithm Selection": each key spec's one algorithm and hash. */
const KEY_SPECS: Readonly<
  Record<KeySpec, { algorithm: SignatureAlgorithm; hash: PluginHashAlgorithm; signingAlgorithm: PluginSignatureAlgorithm }>
> = {
  'RSA-2048': { algorithm: 'PS256', hash: 'SHA-256', signingAlgorithm: 'RSASSA-PSS-SHA-256' },
  'RSA-3072': { algorithm: 'PS384', hash: 'SHA-384', signingAlgorithm: 'RSASSA-PSS-SHA-384' },
  'RSA-4096': { algorithm: 'PS512', hash: 'SHA-512', signingAlgorithm: 'RSASSA-PSS-SHA-512' },
  'EC-256': { algorithm: 'ES256', hash: 'SHA-256', signingAlgorithm: 'ECDSA-SHA-256' },
  'EC-384': { algorithm: 'ES384', hash: 'SHA-384', signingAlgorithm: 'ECDSA-SHA-384' },
  'EC-521': { algorithm: 'ES512', hash: 'SHA-512', signingAlgorithm: 'ECDSA-SHA-512' },
};

/** Fields of targetArtifact vouch sends (and accepts back): no others may appear in a plugin's payload. */
const TARGET_FIELDS = new Set(['mediaType', 'digest', 'size', 'annotations']);

function badOutput(name: string, command: string, message: string, cause?: unknown): VouchError {
  return new VouchError('PLUGIN_ERROR', `plugin "${name}" ${command}: ${message}`, {
    reason: 'BAD_OUTPUT',
    ...(cause !== undefined ? { cause } : {}),
  });
}

function quote(text: string): string {
  return JSON.stringify(sanitizePluginText(text, 120));
}

/**
 * Signs `request.target` with the plugin's key, through SIGNATURE_GENERATOR.RAW when the plugin
 * offers it, else SIGNATURE_GENERATOR.ENVELOPE; neither is PLUGIN_ERROR (PLUGIN_CAPABILITY).
 * Nothing is pushed: the result is an envelope whose signature has been verified with its leaf.
 */
export async function signWithPlugin(key: PluginSigningKey, request: PluginSignRequest): Promise<PluginSignature> {
  const { host, name, config } = key.plugin;
  const signal = request.signal;
  const runOptions = signal !== undefined ? { signal } : {};
  const metadata = await host.metadata(name, config, runOptions);
  const plugin = { name, version: metadata.version };
  if (pluginSigningMode(name, metadata) === 'RAW') return { ...(await signRaw(key, request, plugin)), plugin };
  if (request.timestamped === true) {
    throw new VouchError(
      'PLUGIN_ERROR',
      `plugin "${name}" makes whole signature envelopes (${PLUGIN_CAPABILITY.envelopeGenerator}), which notation does not timestamp; sign without --timestamp-url, or with a plugin offering ${PLUGIN_CAPABILITY.signatureGenerator}`,
      { reason: 'PLUGIN_CAPABILITY' },
    );
  }
  return { ...(await signEnvelopeByPlugin(key, request)), plugin };
}

/**
 * How a plugin signs, from its metadata: RAW when it offers SIGNATURE_GENERATOR.RAW (preferred,
 * as notation-go), else ENVELOPE; neither is PLUGIN_ERROR (PLUGIN_CAPABILITY).
 */
export function pluginSigningMode(name: string, metadata: Pick<PluginMetadata, 'capabilities'>): 'RAW' | 'ENVELOPE' {
  if (metadata.capabilities.includes(PLUGIN_CAPABILITY.signatureGenerator)) return 'RAW';
  if (metadata.capabilities.includes(PLUGIN_CAPABILITY.envelopeGenerator)) return 'ENVELOPE';
  throw new VouchError(
    'PLUGIN_ERROR',
    `plugin "${name}" cannot sign: its capabilities (${metadata.capabilities.map((c) => sanitizePluginText(c, 60)).join(', ')}) include neither ${PLUGIN_CAPABILITY.signatureGenerator} nor ${PLUGIN_CAPABILITY.envelopeGenerator}`,
    { reason: 'PLUGIN_CAPABILITY' },
  );
}

/** Base64 DER certificates from a plugin, parsed (BAD_OUTPUT when one is not a certificate). */
function pluginChain(name: string, command: string, chain: readonly string[]): Certificate[] {
  return chain.map((b64, i) => {
    try {
      return Certificate.fromDer(new Uint8Array(Buffer.from(b64, 'base64')), `certificateChain[${i}]`);
    } catch (error) {
      throw badOutput(name, command, `certificateChain[${i}] is not a DER certificate (${errorMessage(error)})`, error);
    }
  });
}

/** The chain rules notation signs by (code-signing leaf, complete to a root, valid now), as BAD_OUTPUT. */
function checkPluginChain(name: string, command: string, chain: Certificate[], algorithm: SignatureAlgorithm, now: Date): void {
  const leaf = chain[0]!;
  let leafAlgorithm: SignatureAlgorithm;
  try {
    leafAlgorithm = signatureAlgorithmForKey(leaf.publicKey);
  } catch (error) {
    throw badOutput(name, command, `the leaf certificate "${leaf.subject}" has an unusable key: ${errorMessage(error)}`, error);
  }
  if (leafAlgorithm !== algorithm) {
    throw badOutput(
      name,
      command,
      `the leaf certificate "${leaf.subject}" has a ${leafAlgorithm} key, not the ${algorithm} key the plugin described`,
    );
  }
  try {
    checkSigningChain(chain, 'returned by the plugin', now);
  } catch (error) {
    throw badOutput(name, command, errorMessage(error), error);
  }
}

async function signRaw(
  key: PluginSigningKey,
  request: PluginSignRequest,
  plugin: { name: string; version: string },
): Promise<Omit<PluginSignature, 'plugin'>> {
  const { host, name, keyId, config } = key.plugin;
  const runOptions = request.signal !== undefined ? { signal: request.signal } : {};
  const withConfig = config !== undefined ? { pluginConfig: config } : {};
  const described = await host.run(
    name,
    PLUGIN_COMMAND.describeKey,
    { contractVersion: PLUGIN_CONTRACT_VERSION, keyId, ...withConfig },
    runOptions,
  );
  // notation-go getKeySpec: the answer must be about the key asked for.
  if (described.keyId !== keyId) {
    throw badOutput(name, PLUGIN_COMMAND.describeKey, `answered for key ${quote(described.keyId)}, not ${quote(keyId)}`);
  }
  const spec = KEY_SPECS[described.keySpec];
  let chain: Certificate[] = [];
  const envelope = await signEnvelopeWith(
    {
      format: request.format,
      payload: { targetArtifact: request.target },
      signingTime: request.signingTime,
      ...(request.expiry !== undefined ? { expiry: request.expiry } : {}),
      // notation-go generateSignature: "<agent> <plugin name>/<plugin version>".
      signingAgent: `${request.signingAgent ?? 'vouch'} ${name}/${sanitizePluginText(plugin.version, 64)}`,
    },
    {
      algorithm: spec.algorithm,
      sign: async (bytes: Uint8Array): Promise<RawSignature> => {
        const command = PLUGIN_COMMAND.generateSignature;
        const answer = await host.run(
          name,
          command,
          {
            contractVersion: PLUGIN_CONTRACT_VERSION,
            keyId,
            keySpec: described.keySpec,
            hashAlgorithm: spec.hash,
            payload: Buffer.from(bytes).toString('base64'),
            ...withConfig,
          },
          runOptions,
        );
        if (answer.keyId !== keyId) throw badOutput(name, command, `answered for key ${quote(answer.keyId)}, not ${quote(keyId)}`);
        if (answer.signingAlgorithm !== spec.signingAlgorithm) {
          throw badOutput(
            name,
            command,
            `signed with ${answer.signingAlgorithm}, not the ${spec.signingAlgorithm} of key spec ${described.keySpec}`,
          );
        }
        chain = pluginChain(name, command, answer.certificateChain);
        checkPluginChain(name, command, chain, spec.algorithm, request.signingTime);
        const signature = new Uint8Array(Buffer.from(answer.signature, 'base64'));
        // A plugin is untrusted: its signature must verify with the leaf it returned before it is used.
        if (!verifySignatureBytes(spec.algorithm, chain[0]!.publicKey, bytes, signature, request.format)) {
          throw badOutput(
            name,
            command,
            `the ${spec.algorithm} signature does not verify with the leaf certificate "${chain[0]!.subject}"`,
          );
        }
        return { signature, certificateChain: chain };
      },
    },
  );
  return { envelope, mode: 'RAW', algorithm: spec.algorithm, certificateChain: chain, annotations: {} };
}

async function signEnvelopeByPlugin(key: PluginSigningKey, request: PluginSignRequest): Promise<Omit<PluginSignature, 'plugin'>> {
  const { host, name, keyId, config } = key.plugin;
  const command = PLUGIN_COMMAND.generateEnvelope;
  const mediaType = request.format === 'jws' ? MEDIA_TYPE.jws : MEDIA_TYPE.cose;
  const expirySeconds =
    request.expiry === undefined ? undefined : Math.round((request.expiry.getTime() - request.signingTime.getTime()) / 1000);
  const answer = await host.run(
    name,
    command,
    {
      contractVersion: PLUGIN_CONTRACT_VERSION,
      keyId,
      payloadType: PAYLOAD_CONTENT_TYPE,
      signatureEnvelopeType: mediaType,
      // notation-go marshals the payload with Go's struct order, as the COSE form writes it.
      payload: Buffer.from(payloadBytes(request.target, 'cose')).toString('base64'),
      ...(expirySeconds !== undefined ? { expiryDurationInSeconds: expirySeconds } : {}),
      ...(config !== undefined ? { pluginConfig: config } : {}),
    },
    request.signal !== undefined ? { signal: request.signal } : {},
  );
  if (answer.signatureEnvelopeType !== mediaType) {
    throw badOutput(name, command, `returned a ${quote(answer.signatureEnvelopeType)} envelope, not the ${mediaType} asked for`);
  }
  const bytes = new Uint8Array(Buffer.from(answer.signatureEnvelope, 'base64'));
  let parsed: SignatureEnvelope;
  try {
    parsed = parseEnvelope(mediaType, bytes);
  } catch (error) {
    throw badOutput(name, command, `the envelope does not parse: ${errorMessage(error)}`, error);
  }
  if (parsed.contentType !== PAYLOAD_CONTENT_TYPE) {
    throw badOutput(name, command, `the envelope's payload content type is ${quote(parsed.contentType)}, not ${PAYLOAD_CONTENT_TYPE}`);
  }
  const chain = pluginChain(
    name,
    command,
    parsed.certificateChain.map((der) => Buffer.from(der).toString('base64')),
  );
  if (chain.length === 0) throw badOutput(name, command, 'the envelope has no certificate chain');
  checkPluginChain(name, command, chain, parsed.algorithm, request.signingTime);
  if (!verifySignatureBytes(parsed.algorithm, chain[0]!.publicKey, parsed.signedBytes, parsed.signature, parsed.format)) {
    throw badOutput(
      name,
      command,
      `the envelope's ${parsed.algorithm} signature does not verify with its leaf certificate "${chain[0]!.subject}"`,
    );
  }
  checkPayload(name, command, parsed.payload, request.target);
  if (request.expiry !== undefined && parsed.expiry === undefined) {
    throw badOutput(name, command, 'the envelope has no expiry, though one was asked for');
  }
  const annotations = { ...(answer.annotations ?? {}) };
  const reserved = reservedAnnotation(annotations);
  if (reserved !== undefined) throw badOutput(name, command, `annotation ${reserved} is reserved (vouch writes it)`);
  return { envelope: { mediaType, bytes }, mode: 'ENVELOPE', algorithm: parsed.algorithm, certificateChain: chain, annotations };
}

/**
 * The signed payload must be exactly what was asked for: notation-go isPayloadDescriptorValid (same
 * mediaType, digest, size; the requested annotations kept) and areUnknownAttributesAdded. Stricter
 * than notation in one point: annotations the plugin adds are refused too, since they would appear
 * as signed user metadata the signer never gave.
 */
function checkPayload(name: string, command: string, payload: Uint8Array, target: SignTarget): void {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch (error) {
    throw badOutput(name, command, `the envelope's payload is not JSON`, error);
  }
  const top = json !== null && typeof json === 'object' && !Array.isArray(json) ? Object.keys(json) : [];
  const extraTop = top.filter((k) => k !== 'targetArtifact');
  let signed;
  try {
    signed = parsePayload(payload).targetArtifact;
  } catch (error) {
    throw badOutput(name, command, `the envelope's payload is not a Notary payload: ${errorMessage(error)}`, error);
  }
  const targetJson = (json as { targetArtifact: Record<string, unknown> }).targetArtifact;
  const unknown = [
    ...extraTop,
    ...Object.keys(targetJson)
      .filter((k) => !TARGET_FIELDS.has(k))
      .map((k) => `targetArtifact.${k}`),
  ];
  if (unknown.length > 0) {
    throw badOutput(name, command, `the payload has fields vouch did not ask for: ${unknown.map((k) => quote(k)).join(', ')}`);
  }
  if (signed.mediaType !== target.mediaType || signed.digest !== target.digest || signed.size !== target.size) {
    throw badOutput(
      name,
      command,
      `the payload signs ${quote(signed.mediaType)} ${quote(signed.digest)} (${signed.size} bytes), not the subject ${target.digest}`,
    );
  }
  const want = target.annotations ?? {};
  const got = signed.annotations ?? {};
  const keys = new Set([...Object.keys(want), ...Object.keys(got)]);
  for (const k of keys) {
    if (want[k] !== got[k]) throw badOutput(name, command, `the payload's user metadata ${quote(k)} differs from what was asked for`);
  }
}
