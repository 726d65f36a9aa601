// The Notary Project plugin contract, version 1.0
// (https://github.com/notaryproject/specifications/blob/main/specs/plugin-extensibility.md "Plugin contract"):
// commands, the JSON requests vouch sends and the JSON answers it accepts. Every answer is untrusted
// input: it is parsed here against the contract, and anything else is BAD_OUTPUT, never a verdict.
// Field names follow github.com/notaryproject/notation-plugin-framework-go/plugin (v1.0.0).

import { z } from 'zod';

/** The contract version vouch speaks (plugin-extensibility.md "Plugin contract"). */
export const PLUGIN_CONTRACT_VERSION = '1.0';

/** Executables are named `notation-<name>` (plugin-extensibility.md "Plugin installation"). */
export const PLUGIN_BINARY_PREFIX = 'notation-';

/**
 * A plugin name as vouch accepts it: the directory and the file name are built from it, so it must
 * not be able to name anything else (no separators, no `..`, no leading dot).
 */
export const PLUGIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const PLUGIN_CAPABILITY = {
  signatureGenerator: 'SIGNATURE_GENERATOR.RAW',
  envelopeGenerator: 'SIGNATURE_GENERATOR.ENVELOPE',
  trustedIdentityVerifier: 'SIGNATURE_VERIFIER.TRUSTED_IDENTITY',
  revocationCheckVerifier: 'SIGNATURE_VERIFIER.REVOCATION_CHECK',
} as const;
export type PluginCapability = (typeof PLUGIN_CAPABILITY)[keyof typeof PLUGIN_CAPABILITY];
export type VerificationCapability = typeof PLUGIN_CAPABILITY.trustedIdentityVerifier | typeof PLUGIN_CAPABILITY.revocationCheckVerifier;

export const PLUGIN_COMMAND = {
  getMetadata: 'get-plugin-metadata',
  describeKey: 'describe-key',
  generateSignature: 'generate-signature',
  generateEnvelope: 'generate-envelope',
  verifySignature: 'verify-signature',
} as const;
export type PluginCommand = (typeof PLUGIN_COMMAND)[keyof typeof PLUGIN_COMMAND];

/** Plugin configuration: string keys and values (notation's --plugin-config k=v). */
export type PluginConfig = Readonly<Record<string, string>>;

// ---- requests (what vouch writes to the plugin's stdin) ---------------------------------------------

export interface GetMetadataRequest {
  pluginConfig?: PluginConfig;
}

export interface DescribeKeyRequest {
  contractVersion: string;
  keyId: string;
  pluginConfig?: PluginConfig;
}

export type KeySpec = 'RSA-2048' | 'RSA-3072' | 'RSA-4096' | 'EC-256' | 'EC-384' | 'EC-521';
export type PluginHashAlgorithm = 'SHA-256' | 'SHA-384' | 'SHA-512';
export type PluginSignatureAlgorithm =
  'ECDSA-SHA-256' | 'ECDSA-SHA-384' | 'ECDSA-SHA-512' | 'RSASSA-PSS-SHA-256' | 'RSASSA-PSS-SHA-384' | 'RSASSA-PSS-SHA-512';

export interface GenerateSignatureRequest {
  contractVersion: string;
  keyId: string;
  keySpec: KeySpec;
  hashAlgorithm: PluginHashAlgorithm;
  /** Base64 in JSON (Go []byte): the bytes to sign (JWS signing input, COSE Sig_structure). */
  payload: string;
  pluginConfig?: PluginConfig;
}

export interface GenerateEnvelopeRequest {
  contractVersion: string;
  keyId: string;
  payloadType: string;
  signatureEnvelopeType: string;
  /** Base64: the Notary Project payload ({"targetArtifact": …}). */
  payload: string;
  expiryDurationInSeconds?: number;
  pluginConfig?: PluginConfig;
}

/** plugin-extensibility.md "Verify signature": the critical attributes, as notation-go sends them. */
export interface VerifySignatureRequest {
  contractVersion: string;
  signature: {
    criticalAttributes: {
      contentType: string;
      signingScheme: string;
      /** RFC 3339. */
      expiry?: string;
      authenticSigningTime?: string;
      extendedAttributes?: Record<string, unknown>;
    };
    /** Extended critical attributes the plugin must process (all but the plugin's own two). */
    unprocessedAttributes: string[];
    /** Base64 DER, leaf first. */
    certificateChain: string[];
  };
  trustPolicy: {
    trustedIdentities: string[];
    signatureVerification: VerificationCapability[];
  };
  pluginConfig?: PluginConfig;
}

// ---- answers (what vouch accepts on stdout) -------------------------------------------------------

const text = z.string().max(4096);
const base64 = z
  .string()
  .max(16 * 1024 * 1024)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, { message: 'not base64' });

export const getMetadataResponseSchema = z.object({
  name: z.string().regex(PLUGIN_NAME, { message: 'not a plugin name' }),
  description: text.min(1),
  version: z.string().min(1).max(256),
  url: text.min(1),
  supportedContractVersions: z.array(z.string().max(64)).min(1).max(64),
  capabilities: z.array(z.string().max(256)).min(1).max(64),
});
export type PluginMetadata = z.infer<typeof getMetadataResponseSchema>;

export const describeKeyResponseSchema = z.object({
  keyId: text.min(1),
  keySpec: z.enum(['RSA-2048', 'RSA-3072', 'RSA-4096', 'EC-256', 'EC-384', 'EC-521']),
});
export type DescribeKeyResponse = z.infer<typeof describeKeyResponseSchema>;

export const generateSignatureResponseSchema = z.object({
  keyId: text.min(1),
  signature: base64.min(1),
  signingAlgorithm: z.enum([
    'ECDSA-SHA-256',
    'ECDSA-SHA-384',
    'ECDSA-SHA-512',
    'RSASSA-PSS-SHA-256',
    'RSASSA-PSS-SHA-384',
    'RSASSA-PSS-SHA-512',
  ]),
  certificateChain: z.array(base64.min(1)).min(1).max(16),
});
export type GenerateSignatureResponse = z.infer<typeof generateSignatureResponseSchema>;

export const generateEnvelopeResponseSchema = z.object({
  signatureEnvelope: base64.min(1),
  signatureEnvelopeType: text.min(1),
  annotations: z.record(z.string().max(256), z.string().max(4096)).optional(),
});
export type GenerateEnvelopeResponse = z.infer<typeof generateEnvelopeResponseSchema>;

const verificationResultSchema = z.object({ success: z.boolean(), reason: text.optional() });
export const verifySignatureResponseSchema = z.object({
  verificationResults: z.record(z.string().max(256), verificationResultSchema.nullable()),
  // Go's []interface{}: notation-go compares with the attribute names; anything else never matches.
  processedAttributes: z.array(z.unknown()).max(256).nullable().optional(),
});
export type VerifySignatureResponse = z.infer<typeof verifySignatureResponseSchema>;

/** An error answer on stderr with a non-zero exit (plugin-extensibility.md "Error handling"). */
export const pluginErrorSchema = z.object({
  errorCode: z.string().max(64),
  errorMessage: z.string().max(4096).optional(),
  errorMetadata: z.record(z.string().max(256), z.string().max(4096)).optional(),
});
export type PluginErrorAnswer = z.infer<typeof pluginErrorSchema>;

/** The answer schema of each command. */
export const RESPONSE_SCHEMAS = {
  [PLUGIN_COMMAND.getMetadata]: getMetadataResponseSchema,
  [PLUGIN_COMMAND.describeKey]: describeKeyResponseSchema,
  [PLUGIN_COMMAND.generateSignature]: generateSignatureResponseSchema,
  [PLUGIN_COMMAND.generateEnvelope]: generateEnvelopeResponseSchema,
  [PLUGIN_COMMAND.verifySignature]: verifySignatureResponseSchema,
} as const;

export interface PluginRequests {
  'get-plugin-metadata': GetMetadataRequest;
  'describe-key': DescribeKeyRequest;
  'generate-signature': GenerateSignatureRequest;
  'generate-envelope': GenerateEnvelopeRequest;
  'verify-signature': VerifySignatureRequest;
}
export interface PluginResponses {
  'get-plugin-metadata': PluginMetadata;
  'describe-key': DescribeKeyResponse;
  'generate-signature': GenerateSignatureResponse;
  'generate-envelope': GenerateEnvelopeResponse;
  'verify-signature': VerifySignatureResponse;
}
