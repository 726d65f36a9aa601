// Environment decision policies (docs/policies.md): an environment's `policy:` adds conditions to the
// built-in rule (one signature that satisfies the trust policy suffices): it may deny an image the
// rule verified, never verify one the rule did not. This file
// holds the convention between vouch and a policy: which entrypoint is asked, what input it gets
// (policyInput) and what its answer must be (parseDecision). Loading and evaluating the WebAssembly
// is src/policy; when to ask is the engine.

import { ANSWER_CODES, VouchError, errorMessage, type AnswerCode } from '../core/index.js';
import type { CosignSignatureReport } from '../cosign/index.js';
import type { NotationArtifactResult, NotationSignatureReport } from '../notation/index.js';
import type { Descriptor } from '../oci/index.js';
import type { WasmPolicy } from '../policy/index.js';
import {
  copyPluginDecision,
  formatTime,
  type CosignSignatureResult,
  type NotationSignatureResult,
  type Reason,
  type VerificationResult,
} from './result.js';

/** The entrypoint asked when a policy has several: `decision` in package `vouch.environment`. */
export const DECISION_ENTRYPOINT = 'vouch/environment/decision';
/** Optional parts of the input an entrypoint may ask for in its metadata (`custom.vouch.input`). */
export const OPTIONAL_INPUTS = ['referrers'] as const;
export type OptionalInput = (typeof OPTIONAL_INPUTS)[number];
/** Reasons of one decision kept at most, and characters of each message (the rest is cut). */
export const MAX_POLICY_REASONS = 16;
export const MAX_POLICY_MESSAGE_LENGTH = 1024;
/** Referrers (other than signatures) listed in the input at most; beyond, `referrersTruncated` is set. */
export const MAX_POLICY_REFERRERS = 32;

/** A loaded policy as an environment serves it: the module, the entrypoint asked and what it asks for. */
export interface DecisionPolicy {
  /** The file it was loaded from (messages name it). */
  readonly file: string;
  readonly entrypoint: string;
  readonly inputs: ReadonlySet<OptionalInput>;
  readonly wasm: WasmPolicy;
}

/** One signature report in the input: a Notary Project one or a cosign one (`type`). */
export type PolicySignature = PolicyNotationSignature | PolicyCosignSignature;

/**
 * A Notary Project signature, as checked under the environment's trust policy: the result's fields
 * (NotationSignatureResult) plus times in Unix seconds; reasons without detail, warnings left out.
 */
export type PolicyNotationSignature = Pick<
  NotationSignatureResult,
  'type' | 'digest' | 'verified' | 'trustPolicy' | 'level' | 'signer' | 'signingTime' | 'plugin'
> & {
  /** signingTime in Unix seconds (time.parse_rfc3339_ns(signingTime) gives it in nanoseconds). */
  signingTimeUnix?: number;
  /** The signature's trusted timestamp, when one verified: RFC 3339 times and the same in Unix seconds. */
  timestamp?: { time: string; earliest: string; latest: string; timeUnix: number; earliestUnix: number; latestUnix: number };
  reasons: Array<{ code: AnswerCode; message: string; check?: string }>;
};

/** A cosign signature, as checked under the environment's cosign trust: the result's fields (CosignSignatureResult), reasons without detail. */
export type PolicyCosignSignature = Pick<CosignSignatureResult, 'type' | 'digest' | 'verified' | 'signer'> & {
  reasons: Array<{ code: AnswerCode; message: string }>;
};

/** One referrer of the image that is not a signature of it (an SBOM, a scan report, an attestation). */
export interface PolicyReferrer {
  artifactType: string;
  mediaType: string;
  digest: string;
  size: number;
  annotations: Record<string, string>;
  /** A Notary Project signature on it verifies under the environment's trust policy. */
  signed: boolean;
}

/** The input document (docs/policies.md "Input"). */
export interface PolicyInput {
  environment: string;
  reference: string;
  digest: string;
  /**
   * The built-in rule's verdict: a Notary Project signature satisfies the trust policy (or its level
   * is skip), or a cosign signature verifies.
   */
  verified: boolean;
  /** The trust policy statement that applied, when one did. */
  trustPolicy?: string;
  skipped?: true;
  signatures: PolicySignature[];
  /** Only when the entrypoint asks for `referrers`. */
  referrers?: PolicyReferrer[];
  /** Set when the image has more referrers than MAX_POLICY_REFERRERS (the first ones are listed). */
  referrersTruncated?: true;
}

/** A policy's answer, validated. */
export interface PolicyDecision {
  allow: boolean;
  /** Why not (empty when allowed), each with an answer code. */
  reasons: Reason[];
}

/**
 * The entrypoint to ask: DECISION_ENTRYPOINT when the policy has it, else its only entrypoint. Throws
 * POLICY_ERROR (LOAD_FAILED) when neither exists or the entrypoint asks for an input vouch does not know.
 */
export function decisionPolicyOf(wasm: WasmPolicy, file: string): DecisionPolicy {
  const entrypoints = wasm.entrypoints;
  let entrypoint: string;
  if (entrypoints.includes(DECISION_ENTRYPOINT)) entrypoint = DECISION_ENTRYPOINT;
  else if (entrypoints.length === 1) entrypoint = entrypoints[0]!;
  else {
    const found = entrypoints.length === 0 ? 'none' : entrypoints.join(', ');
    throw new VouchError(
      'POLICY_ERROR',
      `policy ${file}: expected one entrypoint or one named ${DECISION_ENTRYPOINT} (the rule decision in package vouch.environment), found ${found}`,
      { reason: 'LOAD_FAILED' },
    );
  }
  return { file, entrypoint, inputs: requestedInputs(wasm.annotations.get(entrypoint), file, entrypoint), wasm };
}

// `custom: {vouch: {input: [referrers]}}` in the entrypoint's METADATA.
function requestedInputs(custom: unknown, file: string, entrypoint: string): ReadonlySet<OptionalInput> {
  const asked = (custom as { vouch?: { input?: unknown } } | undefined)?.vouch?.input;
  if (asked === undefined) return new Set();
  const bad = (what: string): VouchError =>
    new VouchError('POLICY_ERROR', `policy ${file}: entrypoint ${entrypoint}: custom.vouch.input ${what}`, { reason: 'LOAD_FAILED' });
  if (!Array.isArray(asked)) throw bad('must be a list');
  const inputs = new Set<OptionalInput>();
  for (const name of asked) {
    if (!(OPTIONAL_INPUTS as readonly unknown[]).includes(name)) {
      throw bad(`names ${JSON.stringify(name)}, which vouch does not provide (known: ${OPTIONAL_INPUTS.join(', ')})`);
    }
    inputs.add(name as OptionalInput);
  }
  return inputs;
}

/**
 * The input for a verification: its result, the signature reports behind it (Notary Project ones first,
 * then cosign ones) and, when asked, the referrers.
 */
export function policyInput(
  result: VerificationResult,
  artifact: NotationArtifactResult | undefined,
  referrers?: { referrers: PolicyReferrer[]; truncated: boolean },
  cosign: readonly CosignSignatureReport[] = [],
): PolicyInput {
  const input: PolicyInput = {
    environment: result.environment,
    reference: result.reference,
    digest: result.digest ?? '',
    verified: result.verified,
    ...(result.trustPolicy !== undefined ? { trustPolicy: result.trustPolicy } : {}),
    ...(result.skipped ? { skipped: true as const } : {}),
    signatures: [...(artifact?.signatures.map(policySignature) ?? []), ...cosign.map(policyCosignSignature)],
  };
  if (referrers !== undefined) {
    input.referrers = referrers.referrers;
    if (referrers.truncated) input.referrersTruncated = true;
  }
  return input;
}

function policyCosignSignature(report: CosignSignatureReport): PolicyCosignSignature {
  return {
    type: 'cosign',
    digest: report.digest,
    verified: report.verified,
    ...(report.signer !== undefined ? { signer: report.signer } : {}),
    reasons: report.reasons.map((r) => ({ code: r.code, message: r.message })),
  };
}

function policySignature(report: NotationSignatureReport): PolicyNotationSignature {
  const timestamp = report.timestamp;
  return {
    type: 'notation',
    digest: report.digest,
    verified: report.verified,
    trustPolicy: report.trustPolicy,
    level: report.level,
    ...(report.signer !== undefined ? { signer: report.signer } : {}),
    // A policy may demand that a managed signing service's plugin vouched for the signer (docs/plugins.md).
    ...(report.plugin !== undefined ? { plugin: copyPluginDecision(report.plugin) } : {}),
    ...(report.signingTime !== undefined
      ? { signingTime: formatTime(report.signingTime), signingTimeUnix: unixSeconds(report.signingTime) }
      : {}),
    ...(timestamp !== undefined
      ? {
          timestamp: {
            time: formatTime(timestamp.genTime),
            earliest: formatTime(timestamp.earliest),
            latest: formatTime(timestamp.latest),
            timeUnix: unixSeconds(timestamp.genTime),
            earliestUnix: unixSeconds(timestamp.earliest),
            latestUnix: unixSeconds(timestamp.latest),
          },
        }
      : {}),
    reasons: report.reasons.map((r) => ({ code: r.code, message: r.message, ...(r.check !== undefined ? { check: r.check } : {}) })),
  };
}

/** Whole seconds since the Unix epoch (rounded down). */
function unixSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

/** A referrer as the input lists it. */
export function policyReferrer(descriptor: Descriptor, signed: boolean): PolicyReferrer {
  return {
    artifactType: descriptor.artifactType ?? '',
    mediaType: descriptor.mediaType,
    digest: descriptor.digest,
    size: descriptor.size,
    annotations: { ...descriptor.annotations },
    signed,
  };
}

/** Evaluates the policy's entrypoint; POLICY_ERROR (naming the file) when it fails or answers something malformed. */
export async function evaluateDecision(policy: DecisionPolicy, input: unknown, signal?: AbortSignal): Promise<PolicyDecision> {
  let value: unknown;
  try {
    value = await policy.wasm.evaluate(policy.entrypoint, input, signal ? { signal } : {});
  } catch (error) {
    if (error instanceof VouchError && error.code === 'POLICY_ERROR') {
      throw new VouchError('POLICY_ERROR', `policy ${policy.file}: ${error.message}`, { reason: error.reason, cause: error });
    }
    if (error instanceof VouchError && error.code === 'DEADLINE_EXCEEDED') throw error;
    throw new VouchError('POLICY_ERROR', `policy ${policy.file}: ${errorMessage(error)}`, { reason: 'TRAP', cause: error });
  }
  return parseDecision(value, policy);
}

// Codes a policy may give a reason: the answer codes that are verdicts about signatures. NOT_FOUND
// is left out (it means "never cache": a policy cannot know the image is missing).
const POLICY_CODES: ReadonlySet<string> = new Set(ANSWER_CODES.filter((code) => code !== 'NOT_FOUND'));

/**
 * Validates an entrypoint's value: `{"allow": boolean, "reasons"?: [{"code"?: string, "message": string}]}`.
 * Reasons get POLICY_DENIED unless they name one of POLICY_CODES; a denial without reasons gets one.
 */
export function parseDecision(value: unknown, policy: Pick<DecisionPolicy, 'file' | 'entrypoint'>): PolicyDecision {
  const bad = (what: string): VouchError =>
    new VouchError('POLICY_ERROR', `policy ${policy.file}: entrypoint ${policy.entrypoint} ${what}`, { reason: 'BAD_OUTPUT' });
  if (value === undefined) throw bad('is undefined for this input (it must always answer {"allow": true|false})');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(`answered ${describe(value)}, not an object`);
  const { allow, reasons } = value as { allow?: unknown; reasons?: unknown };
  if (typeof allow !== 'boolean') throw bad(`answered "allow": ${describe(allow)}, not a boolean`);
  if (allow) return { allow, reasons: [] };
  if (reasons !== undefined && !Array.isArray(reasons)) throw bad(`answered "reasons": ${describe(reasons)}, not a list`);
  const out: Reason[] = [];
  for (const [i, reason] of (reasons ?? []).slice(0, MAX_POLICY_REASONS).entries()) {
    const { code, message } = (typeof reason === 'object' && reason !== null ? reason : {}) as { code?: unknown; message?: unknown };
    if (typeof message !== 'string') throw bad(`answered reasons[${i}] without a string "message"`);
    if (code !== undefined && typeof code !== 'string') throw bad(`answered reasons[${i}].code ${describe(code)}, not a string`);
    const text = message.length > MAX_POLICY_MESSAGE_LENGTH ? `${message.slice(0, MAX_POLICY_MESSAGE_LENGTH)}…` : message;
    out.push({ code: code !== undefined && POLICY_CODES.has(code) ? (code as AnswerCode) : 'POLICY_DENIED', message: text, detail: text });
  }
  if (out.length === 0) {
    const text = 'denied by the environment decision policy';
    out.push({ code: 'POLICY_DENIED', message: text, detail: text });
  }
  return { allow, reasons: out };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

/**
 * The VerificationResult with the policy's decision, for a result the built-in rule verified (the
 * engine asks a policy about nothing else): allowed, it stays as it is; denied,
 * its first reason is the policy's (naming the environment, as vouch's own summaries do), followed by
 * the policy's others and then the built-in rule's, so what the trust policy found is still there.
 */
export function applyDecision(result: VerificationResult, decision: PolicyDecision): VerificationResult {
  if (decision.allow) return result;
  const [first, ...rest] = decision.reasons;
  const decisive: Reason = { ...first!, message: `${first!.message} (environment ${result.environment})` };
  return { ...result, verified: false, reasons: [decisive, ...rest, ...result.reasons] };
}
