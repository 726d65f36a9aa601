// Verification through a Notary Project plugin, the parts the verifier delegates
// (https://github.com/notaryproject/specifications/blob/main/specs/plugin-extensibility.md "Verification extensibility",
// trust-store-trust-policy.md "Signature Verification details"). Behaviour follows notation-go v1.3.2
// verifier/verifier.go (processSignature, executePlugin, processPluginResponse) and verifier/helpers.go:
//   - a signature naming `io.cncf.notary.verificationPlugin` is verified with that plugin, which must be
//     installed, at least `io.cncf.notary.verificationPluginMinVersion`, and offer at least one of the
//     SIGNATURE_VERIFIER capabilities (trusted identity, revocation check);
//   - vouch still does every native check; the plugin replaces only the trusted-identity match and the
//     revocation check it declares, and is asked last (verify-signature), with the extended critical
//     attributes it must process.
// Everything a plugin answers is untrusted: its reasons are sanitised and bounded before they reach a
// report, and any failure to get a usable answer is PLUGIN_ERROR (undecided), never a verdict.

import { VouchError, type CheckType } from '../core/index.js';
import type { TrustPolicyStatement } from '../trust/index.js';
import { NOTARY_HEADER, setAttribute, type SignatureEnvelope } from './envelope.js';
import { isSemVer, pluginVersionAtLeast, sanitizePluginText, type PluginHost } from './plugin-host.js';
import {
  PLUGIN_CAPABILITY,
  PLUGIN_COMMAND,
  PLUGIN_CONTRACT_VERSION,
  type PluginConfig,
  type VerificationCapability,
  type VerifySignatureRequest,
  type VerifySignatureResponse,
} from './plugin-protocol.js';

/** The plugins a verifier may run, and the configuration its environment gives them. */
export interface VerificationPlugins {
  host: PluginHost;
  /**
   * The environment's plugin configuration per plugin name (vouch's `plugins.config.<environment>.<plugin>`),
   * sent as `pluginConfig` with every command (notation's `notation verify --plugin-config`); a plugin
   * without an entry gets none.
   */
  config?: ReadonlyMap<string, PluginConfig>;
}

/** A verification plugin as found for one signature: what it is, and what it may decide. */
export interface ResolvedPlugin {
  name: string;
  version: string;
  /** Its SIGNATURE_VERIFIER capabilities, in the order its metadata lists them. */
  capabilities: VerificationCapability[];
  config: PluginConfig | undefined;
}

/**
 * Which plugin took part in a signature's verification, and which checks it decided: `authenticity`
 * (its trusted-identity verdict replaced vouch's identity match; the trust store check stays vouch's)
 * and `revocation` (its verdict replaced vouch's OCSP/CRL check). Empty `checks` when it was not asked.
 */
export interface PluginDecision {
  name: string;
  version: string;
  checks: CheckType[];
}

/** The plugin's own headers, never passed to it as attributes to process (notation-go VerificationPluginHeaders). */
export const VERIFICATION_PLUGIN_HEADERS: readonly string[] = [
  NOTARY_HEADER.verificationPlugin,
  NOTARY_HEADER.verificationPluginMinVersion,
];

/** How much of a plugin's `reason` a report quotes. */
const PLUGIN_REASON_CHARS = 300;

/**
 * What is wrong with the plugin headers of `envelope`, or undefined. notation-go reads them with
 * extractCriticalStringExtendedAttribute: each must be marked critical and non-blank, and the minimum
 * version must be SemVer. These are facts of the signed bytes, so vouch reports them as integrity
 * failures (INVALID_SIGNATURE), a verdict; notation calls a bad minimum version "inconclusive", which
 * for an admission controller would only mean retrying a signature that can never change.
 */
export function pluginHeaderProblem(envelope: SignatureEnvelope): string | undefined {
  const name = envelope.verificationPlugin;
  if (name === undefined) return undefined;
  if (!envelope.critical.includes(NOTARY_HEADER.verificationPlugin)) {
    return `"${NOTARY_HEADER.verificationPlugin}" is not marked critical`;
  }
  if (name.trim() === '') return `"${NOTARY_HEADER.verificationPlugin}" is an empty string`;
  const minimum = envelope.verificationPluginMinVersion;
  if (minimum === undefined) return undefined;
  if (!envelope.critical.includes(NOTARY_HEADER.verificationPluginMinVersion)) {
    return `"${NOTARY_HEADER.verificationPluginMinVersion}" is not marked critical`;
  }
  if (!isSemVer(minimum)) {
    return `"${NOTARY_HEADER.verificationPluginMinVersion}" ${JSON.stringify(sanitizePluginText(minimum, 80))} is not a valid SemVer`;
  }
  return undefined;
}

/**
 * Finds the plugin a signature names and checks it may verify it (processSignature, before the
 * authenticity check): installed (no plugins directory at all is "not found" too), a valid SemVer at
 * least the signature's minimum, and at least one SIGNATURE_VERIFIER capability. Throws PLUGIN_ERROR
 * (reasons PLUGIN_NOT_FOUND, PLUGIN_VERSION, PLUGIN_CAPABILITY, or the host's), or DEADLINE_EXCEEDED.
 */
export async function resolveVerificationPlugin(
  plugins: VerificationPlugins | undefined,
  envelope: SignatureEnvelope,
  signal: AbortSignal | undefined,
): Promise<ResolvedPlugin> {
  const name = envelope.verificationPlugin!;
  const shown = sanitizePluginText(name, 80);
  if (plugins === undefined) {
    throw new VouchError(
      'PLUGIN_ERROR',
      `the signature requires verification plugin "${shown}", but vouch has no plugins directory configured (plugins.directory)`,
      { reason: 'PLUGIN_NOT_FOUND' },
    );
  }
  const config = plugins.config?.get(name);
  const metadata = await plugins.host.metadata(name, config, signal ? { signal } : {});
  const version = metadata.version;
  if (!isSemVer(version)) {
    throw new VouchError(
      'PLUGIN_ERROR',
      `plugin "${shown}" has version ${JSON.stringify(sanitizePluginText(version, 80))}, which is not a valid SemVer`,
      { reason: 'PLUGIN_VERSION' },
    );
  }
  const minimum = envelope.verificationPluginMinVersion;
  if (minimum !== undefined && !pluginVersionAtLeast(version, minimum)) {
    throw new VouchError(
      'PLUGIN_ERROR',
      `found plugin "${shown}" with version ${version}, but the signature needs version ${minimum} or later`,
      { reason: 'PLUGIN_VERSION' },
    );
  }
  const capabilities: VerificationCapability[] = [];
  for (const capability of metadata.capabilities) {
    if (
      (capability === PLUGIN_CAPABILITY.trustedIdentityVerifier || capability === PLUGIN_CAPABILITY.revocationCheckVerifier) &&
      !capabilities.includes(capability)
    ) {
      capabilities.push(capability);
    }
  }
  if (capabilities.length === 0) {
    throw new VouchError(
      'PLUGIN_ERROR',
      `the signature requires plugin "${shown}" with a signature verification capability (${PLUGIN_CAPABILITY.trustedIdentityVerifier} and/or ${PLUGIN_CAPABILITY.revocationCheckVerifier}); it has none`,
      { reason: 'PLUGIN_CAPABILITY' },
    );
  }
  return { name, version, capabilities, config };
}

/**
 * The extended critical attributes of `envelope` other than the plugin's own headers: what only the
 * plugin can process (notation-go getNonPluginExtendedCriticalAttributes; the spec's
 * "unprocessedAttributes" are the critical ones). COSE integer labels are passed in decimal, where
 * notation-go drops them unchecked: vouch fails closed on an attribute nobody processed.
 */
export function extendedCriticalAttributes(envelope: SignatureEnvelope, known: ReadonlySet<string>): string[] {
  return envelope.critical.filter((name) => !known.has(name) && !VERIFICATION_PLUGIN_HEADERS.includes(name));
}

/** The verify-signature request (notation-go executePlugin), for the capabilities to verify. */
export function verifySignatureRequest(
  envelope: SignatureEnvelope,
  statement: TrustPolicyStatement,
  plugin: ResolvedPlugin,
  capabilities: VerificationCapability[],
  unprocessed: string[],
): VerifySignatureRequest {
  const extendedAttributes: Record<string, unknown> = {};
  for (const name of unprocessed) {
    setAttribute(extendedAttributes, name, toJsonValue(envelope.extendedAttributes[name], 0));
  }
  const criticalAttributes: VerifySignatureRequest['signature']['criticalAttributes'] = {
    contentType: envelope.contentType,
    signingScheme: envelope.signingScheme,
  };
  if (envelope.expiry !== undefined) criticalAttributes.expiry = envelope.expiry.toISOString();
  // notation sends the signing time as authenticSigningTime only under signingAuthority, where it is signed.
  if (envelope.signingScheme === 'notary.x509.signingAuthority' && envelope.authenticSigningTime !== undefined) {
    criticalAttributes.authenticSigningTime = envelope.authenticSigningTime.toISOString();
  }
  if (unprocessed.length > 0) criticalAttributes.extendedAttributes = extendedAttributes;
  const request: VerifySignatureRequest = {
    contractVersion: PLUGIN_CONTRACT_VERSION,
    signature: {
      criticalAttributes,
      unprocessedAttributes: [...unprocessed],
      certificateChain: envelope.certificateChain.map((der) => Buffer.from(der).toString('base64')),
    },
    trustPolicy: { trustedIdentities: [...statement.trustedIdentities], signatureVerification: [...capabilities] },
  };
  if (plugin.config !== undefined) request.pluginConfig = plugin.config;
  return request;
}

/** Runs verify-signature (PLUGIN_ERROR or DEADLINE_EXCEEDED when no usable answer comes). */
export function runVerifySignature(
  host: PluginHost,
  plugin: ResolvedPlugin,
  request: VerifySignatureRequest,
  signal: AbortSignal | undefined,
): Promise<VerifySignatureResponse> {
  return host.run(plugin.name, PLUGIN_COMMAND.verifySignature, request, signal ? { signal } : {});
}

/** The extended critical attributes the plugin's answer does not list as processed (names compared as strings only). */
export function unprocessedByPlugin(response: VerifySignatureResponse, unprocessed: string[]): string[] {
  const processed = new Set((response.processedAttributes ?? []).filter((item): item is string => typeof item === 'string'));
  return unprocessed.filter((name) => !processed.has(name));
}

/** A plugin's free-text reason, printable and bounded, for a report. */
export function pluginReason(reason: string | undefined): string {
  const text = reason === undefined ? '' : sanitizePluginText(reason, PLUGIN_REASON_CHARS);
  return text === '' ? 'no reason given' : JSON.stringify(text);
}

/**
 * An extended attribute's value as JSON (what notation-go's json.Marshal of the attribute would give):
 * byte strings as base64, times as RFC 3339, CBOR maps as objects, tags as their content. Bounded in
 * depth: attribute values come from the signed envelope, which anyone can write.
 */
function toJsonValue(value: unknown, depth: number): unknown {
  if (depth > 16) return null;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Array.isArray(value)) return value.map((item) => toJsonValue(item, depth + 1));
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of value as Map<unknown, unknown>) {
      setAttribute(out, String(key), toJsonValue(item, depth + 1));
    }
    return out;
  }
  if (typeof value === 'object') {
    // cbor-x Tag: { tag, value }
    const tagged = value as { tag?: unknown; value?: unknown };
    if (typeof tagged.tag === 'number' && 'value' in tagged && Object.keys(value).length <= 2) return toJsonValue(tagged.value, depth + 1);
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      setAttribute(out, key, toJsonValue(item, depth + 1));
    }
    return out;
  }
  return null;
}
