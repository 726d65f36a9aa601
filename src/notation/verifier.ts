// Notary Project signature verification, check by check, as the specification orders it
// (https://github.com/notaryproject/specifications/blob/main/specs/trust-store-trust-policy.md#signature-verification-details
// "Signature Verification details"):
//   integrity → authenticity → expiry → authenticTimestamp → revocation
// Each check yields a CheckResult; the statement's level says whether a failure is enforced or
// only logged. The outcome is data (notation-go's VerificationOutcome), never an exception: only
// "could not decide" (deadline, registry trouble) throws. A signature that names a verification
// plugin is checked with it (plugin-verification.ts); a plugin that gives no usable answer leaves
// the signature `undecided` (data too, so that the caller can go on with the other signatures).

import {
  isCriticalFailure,
  throwIfAborted,
  VouchError,
  type AnswerCode,
  type CheckResult,
  type CheckType,
  type ErrorReason,
  type UndecidedCode,
} from '../core/index.js';
import type { Descriptor } from '../oci/index.js';
import { moduleLogger, type Logger } from '../log.js';
import {
  collapsedIdentityAttributes,
  matchesTrustedIdentities,
  type Certificate,
  type TrustPolicyStatement,
  type TrustStore,
  type TrustStoreType,
} from '../trust/index.js';
import { signatureAlgorithmForKey, verifySignatureBytes } from './algorithms.js';
import { validateSigningChain, type SigningChainCaches } from './chain.js';
import { NOTARY_HEADER, PAYLOAD_CONTENT_TYPE, type SignatureEnvelope } from './envelope.js';
import { parseEnvelope } from './parse-envelope.js';
import { PLUGIN_CAPABILITY, type VerificationCapability } from './plugin-protocol.js';
import {
  extendedCriticalAttributes,
  pluginHeaderProblem,
  pluginReason,
  resolveVerificationPlugin,
  runVerifySignature,
  unprocessedByPlugin,
  verifySignatureRequest,
  type PluginDecision,
  type ResolvedPlugin,
  type VerificationPlugins,
} from './plugin-verification.js';
import { RevocationChecker, type CertificateRevocation } from './revocation.js';
import { verifyTimestampToken, type VerifiedTimestamp } from './timestamp.js';

/** Protected headers a verifier without plugins understands (signature-specification.md "Extended attributes"). */
const KNOWN_CRITICAL: ReadonlySet<string> = new Set([
  NOTARY_HEADER.signingScheme,
  NOTARY_HEADER.expiry,
  NOTARY_HEADER.authenticSigningTime,
]);

/** TSA certificate chains are checked for revocation unless told otherwise (as notation). */
export const DEFAULT_TIMESTAMP_REVOCATION: 'check' | 'skip' = 'check';

export interface NotationVerifierOptions {
  trustStore: TrustStore;
  revocation?: RevocationChecker;
  /** Injectable clock (tests set it to an instant where vectors are valid or expired). */
  now?: () => Date;
  /**
   * Revocation of the TSA chain during timestamp verification. notation always checks it (and
   * so fails offline for public TSAs); 'skip' exists for air-gapped use and is off by default.
   */
  timestampRevocation?: 'check' | 'skip';
  /** Where warnings go (a trusted identity matched on one of several values of an attribute). */
  logger?: Logger;
  /** Parsed certificates and chain verdicts, owned by the caller (the engine); default none. */
  caches?: SigningChainCaches;
  /**
   * Verification plugins (plugin-verification.ts): the host that runs them and the environment's
   * plugin configuration. Without it a signature naming a plugin is undecided (PLUGIN_NOT_FOUND).
   */
  plugins?: VerificationPlugins;
}

export interface SignatureVerification {
  verified: boolean;
  trustPolicy: string;
  level: string;
  /** Subject DN of the signing certificate (once the chain parsed). */
  signer?: string;
  /** signingTime (notary.x509, unauthenticated) or authenticSigningTime (signingAuthority). */
  signingTime?: Date;
  signingScheme?: string;
  timestamp?: VerifiedTimestamp;
  checks: CheckResult[];
  /** Enforced failures: why the signature is not verified. */
  reasons: NotationReason[];
  /** Failures the level only logs (permissive/audit); reported, never decisive. */
  warnings: NotationReason[];
  /** The verification plugin the signature named, once found and checked, and the checks it decided. */
  plugin?: PluginDecision;
  /**
   * Set when the signature could not be decided (its plugin gave no usable answer): `verified` is
   * false, but this is no verdict. The artifact is then undecided too unless another signature verifies.
   */
  undecided?: UndecidedSignature;
}

/** Why a signature is undecided: a PLUGIN_ERROR with its reason (docs/api.md "Codes"). */
export interface UndecidedSignature {
  code: UndecidedCode;
  reason: ErrorReason;
  message: string;
}

/**
 * A failed check: `message` is `<check>: <detail>`; `check` and `detail` carry the two parts apart so
 * that a reader (the Rego library's messages) can tell, say, a signature's own expiry (`expiry`)
 * from a certificate's (`authenticTimestamp`) without parsing text. Both are optional: reasons not
 * produced by a check (no signature, no trust policy) have no `check`.
 */
export interface NotationReason {
  code: AnswerCode;
  message: string;
  /** The Notary Project verification check that failed (trust-store-trust-policy.md "Signature Verification details"). */
  check?: CheckType;
  /** The failure without the check prefix (and, in a VerificationResult, without the environment summary). */
  detail?: string;
}

export interface EnvelopeInput {
  /** The envelope layer's media type (decides JWS or COSE). */
  mediaType: string;
  bytes: Uint8Array;
  /** The artifact the signature must be for; its payload must name exactly this. */
  subject: Descriptor;
}

class CheckFailure extends Error {
  constructor(
    readonly code: AnswerCode,
    message: string,
  ) {
    super(message);
  }
}

/** The state of one verification as its checks run. */
interface CheckRun {
  readonly input: EnvelopeInput;
  readonly statement: TrustPolicyStatement;
  readonly signal: AbortSignal | undefined;
  readonly result: SignatureVerification;
  /** Set by the integrity check. */
  envelope: SignatureEnvelope | undefined;
  chain: Certificate[] | undefined;
  /** The verification plugin the envelope names, once resolved. */
  plugin: ResolvedPlugin | undefined;
}

/**
 * Records a check's outcome under the statement's level (skipped, pass, or a failure enforced or
 * only logged); false when it is a critical failure, which ends the verification.
 */
function record(run: CheckRun, type: CheckType, failure?: CheckFailure): boolean {
  const { result } = run;
  const action = run.statement.level.enforcement[type];
  if (action === 'skip') {
    result.checks.push({ type, outcome: 'skipped', action });
    return true;
  }
  const check: CheckResult = failure
    ? { type, outcome: 'fail', action, code: failure.code, message: failure.message }
    : { type, outcome: 'pass', action };
  result.checks.push(check);
  if (failure) {
    (action === 'enforce' ? result.reasons : result.warnings).push({
      code: failure.code,
      message: `${type}: ${failure.message}`,
      check: type,
      detail: failure.message,
    });
  }
  return !isCriticalFailure(check);
}

/**
 * A failure found after a check was recorded as passed (the plugin's answer comes last, as in
 * notation-go processPluginResponse, which sets the error of the authenticity result it made earlier):
 * the check's entry becomes the failure under its recorded action, and the reason is added. A check
 * the level skipped stays skipped; one that already failed keeps its entry and gains the reason.
 * False when it is a critical failure.
 */
function overturn(run: CheckRun, type: CheckType, failure: CheckFailure): boolean {
  const { result } = run;
  const index = result.checks.findIndex((c) => c.type === type);
  const existing = result.checks[index];
  if (existing === undefined) return record(run, type, failure);
  if (existing.outcome === 'skipped') return true;
  const check: CheckResult =
    existing.outcome === 'fail'
      ? existing
      : { type, outcome: 'fail', action: existing.action, code: failure.code, message: failure.message };
  result.checks[index] = check;
  (existing.action === 'enforce' ? result.reasons : result.warnings).push({
    code: failure.code,
    message: `${type}: ${failure.message}`,
    check: type,
    detail: failure.message,
  });
  return !(existing.action === 'enforce');
}

/** A PLUGIN_ERROR as the signature's undecided outcome; anything else (the deadline) is rethrown. */
function undecidedBy(result: SignatureVerification, error: unknown): void {
  if (error instanceof VouchError && error.code === 'PLUGIN_ERROR') {
    result.undecided = { code: error.code, reason: error.reason, message: error.message };
    return;
  }
  throw error;
}

export class NotationVerifier {
  readonly #trustStore: TrustStore;
  readonly #revocation: RevocationChecker;
  readonly #now: () => Date;
  readonly #timestampRevocation: 'check' | 'skip';
  readonly #log: Logger;
  readonly #caches: SigningChainCaches;
  readonly #plugins: VerificationPlugins | undefined;

  constructor(options: NotationVerifierOptions) {
    this.#plugins = options.plugins;
    this.#caches = options.caches ?? {};
    this.#trustStore = options.trustStore;
    this.#revocation = options.revocation ?? new RevocationChecker();
    this.#now = options.now ?? (() => new Date());
    this.#timestampRevocation = options.timestampRevocation ?? DEFAULT_TIMESTAMP_REVOCATION;
    this.#log = options.logger ?? moduleLogger('notation.verifier');
  }

  /**
   * Verifies one envelope under one trust policy statement. The statement's level must not be
   * `skip` (skip means no signature is looked at; the caller handles it before fetching).
   */
  async verify(
    input: EnvelopeInput,
    statement: TrustPolicyStatement,
    options: { signal?: AbortSignal } = {},
  ): Promise<SignatureVerification> {
    const result: SignatureVerification = {
      verified: false,
      trustPolicy: statement.name,
      level: statement.level.name,
      checks: [],
      reasons: [],
      warnings: [],
    };
    // No closures per verification: each check is a method reached through #check.
    const run: CheckRun = { input, statement, signal: options.signal, result, envelope: undefined, chain: undefined, plugin: undefined };

    // 1. Integrity (always enforced): envelope, chain structure, algorithm, signature, payload.
    if (!(await this.#check(run, 'integrity')) || run.envelope === undefined || run.chain === undefined) return result;
    const { envelope, chain } = run;
    result.signer = chain[0]!.subject;
    result.signingScheme = envelope.signingScheme;
    const signingTime = envelope.authenticSigningTime ?? envelope.signingTime;
    if (signingTime !== undefined) result.signingTime = signingTime;

    // A signature naming a verification plugin: find it and check it can verify (notation-go
    // processSignature does this before authenticity). No usable plugin: undecided, not a verdict.
    if (envelope.verificationPlugin !== undefined) {
      // The trust store first: a chain no trusted certificate anchors is a verdict whatever plugin it
      // names, so naming a missing or broken plugin cannot turn such a denial into "undecided" (which
      // anyone able to push a referrer could otherwise do). Authenticity runs in full below.
      if (statement.level.enforcement.authenticity === 'enforce') {
        try {
          await this.#anchoredInTrustStore(envelope, chain, statement, run.signal);
        } catch (error) {
          if (!(error instanceof CheckFailure)) throw error;
          record(run, 'authenticity', error);
          return result;
        }
      }
      try {
        run.plugin = await resolveVerificationPlugin(this.#plugins, envelope, run.signal);
      } catch (error) {
        undecidedBy(result, error);
        return result;
      }
      result.plugin = { name: run.plugin.name, version: run.plugin.version, checks: [] };
    }

    // 2. Authenticity: a chain certificate is a trusted one, and the leaf is a trusted identity
    //    (the identity by the plugin instead, when it has the TRUSTED_IDENTITY capability).
    if (!(await this.#check(run, 'authenticity'))) return result;

    // 3. Expiry: the signer's "best by" time.
    if (!(await this.#check(run, 'expiry'))) return result;

    // 4. Authentic timestamp: certificates valid at a time we can trust.
    if (!(await this.#check(run, 'authenticTimestamp'))) return result;

    // 5. Revocation of the signing chain: by the plugin instead, when it has the REVOCATION_CHECK
    //    capability and the level does not skip revocation.
    if (!(pluginDecides(run, PLUGIN_CAPABILITY.revocationCheckVerifier) && statement.level.enforcement.revocation !== 'skip')) {
      if (!(await this.#check(run, 'revocation'))) return result;
    }

    // 6. The plugin's own verification (verify-signature), last, as notation does.
    if (run.plugin !== undefined && !(await this.#pluginCheck(run, run.plugin, envelope))) return result;

    result.verified = true;
    return result;
  }

  /**
   * verify-signature with the capabilities the level leaves to the plugin (notation-go executePlugin
   * and processPluginResponse), recorded into the checks: every extended critical attribute must be
   * processed (else INVALID_SIGNATURE under integrity: the signature carries a critical header
   * nobody understood, as without a plugin), a missing result for a capability sent is undecided
   * (BAD_OUTPUT), a trusted identity refused is UNTRUSTED_SIGNER under authenticity, a revoked
   * signer REVOKED under revocation. The answer is part of the verification, so it is cached with
   * it (the engine's result cache), never on its own. False when verification must stop.
   */
  async #pluginCheck(run: CheckRun, plugin: ResolvedPlugin, envelope: SignatureEnvelope): Promise<boolean> {
    const { result, statement } = run;
    const enforcement = statement.level.enforcement;
    // A skipped revocation check is not sent (notation-go: "skip the revocation capability if the
    // trust policy is configured to skip it").
    const capabilities = plugin.capabilities.filter(
      (c) => !(c === PLUGIN_CAPABILITY.revocationCheckVerifier && enforcement.revocation === 'skip'),
    );
    const unprocessed = extendedCriticalAttributes(envelope, KNOWN_CRITICAL);
    if (capabilities.length === 0) {
      // notation-go does not call the plugin then, and so never has the extended critical attributes
      // processed; vouch will not accept them unprocessed (the plugin contract forbids an empty
      // signatureVerification, so there is no way to ask).
      if (unprocessed.length === 0) return true;
      undecidedBy(
        result,
        new VouchError(
          'PLUGIN_ERROR',
          `plugin "${plugin.name}" must process the critical attribute(s) ${unprocessed.map((a) => JSON.stringify(a)).join(', ')}, but its only capability (${PLUGIN_CAPABILITY.revocationCheckVerifier}) is skipped by the verification level`,
          { reason: 'PLUGIN_CAPABILITY' },
        ),
      );
      return false;
    }
    let response;
    try {
      const request = verifySignatureRequest(envelope, statement, plugin, capabilities, unprocessed);
      response = await runVerifySignature(this.#plugins!.host, plugin, request, run.signal);
    } catch (error) {
      undecidedBy(result, error);
      return false;
    }
    const missing = unprocessedByPlugin(response, unprocessed);
    if (missing.length > 0) {
      return overturn(
        run,
        'integrity',
        new CheckFailure(
          'INVALID_SIGNATURE',
          `extended critical attribute(s) ${missing.map((a) => JSON.stringify(a)).join(', ')} were not processed by verification plugin "${plugin.name}" (all of them must be)`,
        ),
      );
    }
    const decided = result.plugin!.checks;
    for (const capability of capabilities) {
      const answer = response.verificationResults[capability];
      if (answer === undefined || answer === null) {
        undecidedBy(
          result,
          new VouchError('PLUGIN_ERROR', `verification plugin "${plugin.name}" gave no result for ${capability}`, {
            reason: 'BAD_OUTPUT',
          }),
        );
        return false;
      }
      if (capability === PLUGIN_CAPABILITY.trustedIdentityVerifier) {
        decided.push('authenticity');
        if (
          !answer.success &&
          !overturn(
            run,
            'authenticity',
            new CheckFailure(
              'UNTRUSTED_SIGNER',
              `trusted identity verification by plugin "${plugin.name}" failed: ${pluginReason(answer.reason)}`,
            ),
          )
        ) {
          return false;
        }
      } else {
        decided.push('revocation');
        const failure = answer.success
          ? undefined
          : new CheckFailure('REVOKED', `revocation check by plugin "${plugin.name}" failed: ${pluginReason(answer.reason)}`);
        if (!record(run, 'revocation', failure)) return false;
      }
    }
    return true;
  }

  /** Runs one check unless the level skips it, and records its outcome; false when verification must stop. */
  async #check(run: CheckRun, type: CheckType): Promise<boolean> {
    if (run.statement.level.enforcement[type] === 'skip') return record(run, type);
    try {
      switch (type) {
        case 'integrity': {
          const { envelope, chain } = this.#integrity(run.input);
          run.envelope = envelope;
          run.chain = chain;
          break;
        }
        case 'authenticity':
          await this.#authenticity(
            run.envelope!,
            run.chain!,
            run.statement,
            run.signal,
            pluginDecides(run, PLUGIN_CAPABILITY.trustedIdentityVerifier),
          );
          break;
        case 'expiry':
          this.#expiry(run.envelope!);
          break;
        case 'authenticTimestamp': {
          const timestamp = await this.#authenticTimestamp(run.envelope!, run.chain!, run.statement, run.signal);
          if (timestamp !== undefined) run.result.timestamp = timestamp;
          break;
        }
        case 'revocation':
          await this.#revocationCheck(run.envelope!, run.chain!, run.signal);
          break;
      }
    } catch (error) {
      if (error instanceof CheckFailure) return record(run, type, error);
      throw error;
    }
    return record(run, type);
  }

  #integrity(input: EnvelopeInput): { envelope: SignatureEnvelope; chain: Certificate[] } {
    let envelope: SignatureEnvelope;
    let chain: Certificate[];
    try {
      envelope = parseEnvelope(input.mediaType, input.bytes);
      chain = validateSigningChain(envelope.certificateChain, {}, this.#caches);
    } catch (error) {
      throw toFailure(error, 'INVALID_SIGNATURE');
    }
    const leaf = chain[0]!;
    let keyAlgorithm;
    try {
      keyAlgorithm = signatureAlgorithmForKey(leaf.publicKey);
    } catch (error) {
      throw toFailure(error, 'UNTRUSTED_SIGNER');
    }
    if (keyAlgorithm !== envelope.algorithm) {
      throw new CheckFailure(
        'INVALID_SIGNATURE',
        `signature algorithm ${envelope.algorithm} does not match the signing key (${keyAlgorithm})`,
      );
    }
    if (!verifySignatureBytes(envelope.algorithm, leaf.publicKey, envelope.signedBytes, envelope.signature, envelope.format)) {
      throw new CheckFailure('INVALID_SIGNATURE', 'the signature does not verify with the signing certificate key');
    }
    // A signature naming a verification plugin may carry extended critical attributes: the plugin
    // must process them (checked with its answer). Without a plugin, vouch understands none.
    if (envelope.verificationPlugin !== undefined) {
      const problem = pluginHeaderProblem(envelope);
      if (problem !== undefined) throw new CheckFailure('INVALID_SIGNATURE', problem);
    } else {
      const unknownCritical = envelope.critical.filter((name) => !KNOWN_CRITICAL.has(name));
      if (unknownCritical.length > 0) {
        throw new CheckFailure('INVALID_SIGNATURE', `unsupported critical header(s): ${unknownCritical.join(', ')}`);
      }
    }
    if (envelope.contentType !== PAYLOAD_CONTENT_TYPE) {
      throw new CheckFailure('INVALID_SIGNATURE', `payload content type "${envelope.contentType}" is not ${PAYLOAD_CONTENT_TYPE}`);
    }
    checkPayload(envelope.payload, input.subject);
    return { envelope, chain };
  }

  /** The trust store half of authenticity: a certificate of the chain is one the statement's stores trust. */
  async #anchoredInTrustStore(
    envelope: SignatureEnvelope,
    chain: Certificate[],
    statement: TrustPolicyStatement,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    // A store whose trust the operator withdrew (files removed or emptied after loading) fails every
    // statement naming it, whatever its type and whether this signature would need it: the
    // statement's trust is not what the operator last configured, so nothing under it is verified.
    for (const ref of statement.trustStores) {
      const withdrawn = this.#trustStore.withdrawal?.(ref.type, ref.name);
      if (withdrawn !== undefined) throw new CheckFailure('UNTRUSTED_SIGNER', withdrawn.message);
    }
    // Only stores of the type matching the scheme confer trust (an ordinary CA-issued certificate
    // must not claim signingAuthority semantics; trust-store-trust-policy.md "Trust Store").
    const type: TrustStoreType = envelope.signingScheme === 'notary.x509' ? 'ca' : 'signingAuthority';
    const stores = statement.trustStores.filter((s) => s.type === type);
    if (stores.length === 0) {
      throw new CheckFailure(
        'UNTRUSTED_SIGNER',
        `trust policy "${statement.name}" has no "${type}" trust store for a ${envelope.signingScheme} signature`,
      );
    }
    const trusted: Certificate[] = [];
    for (const store of stores) {
      try {
        trusted.push(...(await this.#trustStore.getCertificates(store.type, store.name, signal ? { signal } : {})));
      } catch (error) {
        throw toFailure(error, 'UNTRUSTED_SIGNER');
      }
    }
    if (!chain.some((cert) => trusted.some((t) => t.equals(cert)))) {
      throw new CheckFailure('UNTRUSTED_SIGNER', "the signature's certificate chain does not contain any trusted certificate");
    }
  }

  async #authenticity(
    envelope: SignatureEnvelope,
    chain: Certificate[],
    statement: TrustPolicyStatement,
    signal: AbortSignal | undefined,
    identityByPlugin: boolean,
  ): Promise<void> {
    await this.#anchoredInTrustStore(envelope, chain, statement, signal);
    // The plugin's trusted-identity verdict replaces the x509.subject match (notation-go: "only if
    // notation needs to perform this verification rather than a plugin").
    if (identityByPlugin) return;
    if (!matchesTrustedIdentities(statement, chain[0]!)) {
      throw new CheckFailure(
        'UNTRUSTED_SIGNER',
        `signer "${chain[0]!.subject}" is not among the trusted identities of trust policy "${statement.name}"`,
      );
    }
    // notation-go parity: Go keeps the last CN (and serialNumber) of a subject, so a leaf with two CNs
    // matches on the last one. Trusted all the same, but an operator should hear about it.
    const collapsed = collapsedIdentityAttributes(statement, chain[0]!);
    if (collapsed.length > 0) {
      this.#log.warn(
        {
          trustPolicy: statement.name,
          signer: chain[0]!.subject,
          attributes: collapsed.map((a) => ({ type: a.type, values: a.values, compared: a.compared })),
        },
        'trusted identity matched a signing certificate whose subject has several values of one attribute; only the last was compared (as notation does)',
      );
    }
  }

  #expiry(envelope: SignatureEnvelope): void {
    if (envelope.expiry !== undefined && this.#now().getTime() >= envelope.expiry.getTime()) {
      throw new CheckFailure('EXPIRED', `the signature expired at ${envelope.expiry.toISOString()}`);
    }
  }

  async #authenticTimestamp(
    envelope: SignatureEnvelope,
    chain: Certificate[],
    statement: TrustPolicyStatement,
    signal?: AbortSignal,
  ): Promise<VerifiedTimestamp | undefined> {
    if (envelope.signingScheme === 'notary.x509.signingAuthority') {
      const at = envelope.authenticSigningTime!;
      for (const cert of chain) {
        if (at < cert.notBefore || at > cert.notAfter) {
          throw new CheckFailure(
            'EXPIRED',
            `certificate "${cert.subject}" was not valid when the signature was produced at ${at.toISOString()}`,
          );
        }
      }
      return undefined;
    }
    const now = this.#now();
    const tsaStores = statement.trustStores.filter((s) => s.type === 'tsa');
    const anyExpired = chain.some((cert) => now > cert.notAfter);
    const useTimestamp = tsaStores.length > 0 && (statement.verifyTimestamp === 'always' || anyExpired);
    if (!useTimestamp) {
      // No trusted time: every certificate must be valid now.
      for (const cert of chain) {
        if (now > cert.notAfter)
          throw new CheckFailure('EXPIRED', `certificate "${cert.subject}" expired at ${cert.notAfter.toISOString()}`);
        if (now < cert.notBefore)
          throw new CheckFailure('EXPIRED', `certificate "${cert.subject}" is not valid before ${cert.notBefore.toISOString()}`);
      }
      return undefined;
    }
    if (envelope.timestampToken === undefined) {
      // The policy demands a trusted time and the envelope carries none.
      throw new CheckFailure('INVALID_SIGNATURE', 'no timestamp countersignature was found in the signature envelope');
    }
    const roots: Certificate[] = [];
    for (const store of tsaStores) {
      try {
        roots.push(...(await this.#trustStore.getCertificates('tsa', store.name, signal ? { signal } : {})));
      } catch (error) {
        throw toFailure(error, 'UNTRUSTED_SIGNER');
      }
    }
    let timestamp: VerifiedTimestamp;
    try {
      timestamp = await verifyTimestampToken(envelope.timestampToken, envelope.signature, roots, {
        certificates: this.#caches.certificates,
      });
    } catch (error) {
      throw toFailure(error, 'INVALID_SIGNATURE');
    }
    for (const cert of chain) {
      if (timestamp.earliest < cert.notBefore) {
        throw new CheckFailure(
          'EXPIRED',
          `timestamp can be before certificate "${cert.subject}" validity period (valid from ${cert.notBefore.toISOString()})`,
        );
      }
      if (timestamp.latest > cert.notAfter) {
        throw new CheckFailure(
          'EXPIRED',
          `timestamp can be after certificate "${cert.subject}" validity period (expired at ${cert.notAfter.toISOString()})`,
        );
      }
    }
    if (this.#timestampRevocation === 'check') {
      const problem = firstProblem(await this.#revocation.checkChain(timestamp.tsaChain, signal ? { signal } : {}), signal);
      if (problem !== undefined) {
        throw new CheckFailure('REVOKED', `timestamping certificate "${problem.certificate.subject}" ${describe(problem)}`);
      }
    }
    return timestamp;
  }

  async #revocationCheck(envelope: SignatureEnvelope, chain: Certificate[], signal?: AbortSignal): Promise<void> {
    const results = await this.#revocation.checkChain(chain, {
      ...(signal ? { signal } : {}),
      ...(envelope.authenticSigningTime ? { authenticSigningTime: envelope.authenticSigningTime } : {}),
    });
    const problem = firstProblem(results, signal);
    if (problem !== undefined)
      throw new CheckFailure('REVOKED', `signing certificate "${problem.certificate.subject}" ${describe(problem)}`);
  }
}

/** True when the signature's plugin has `capability` (and so decides that part instead of vouch). */
function pluginDecides(run: CheckRun, capability: VerificationCapability): boolean {
  return run.plugin?.capabilities.includes(capability) === true;
}

/**
 * A revoked certificate wins over an unknown status; good and non-revocable are fine. The checker
 * never throws, so a status left unknown because the caller's deadline cut the OCSP/CRL requests
 * short is rethrown here as DEADLINE_EXCEEDED: running out of time is not a verdict.
 */
function firstProblem(results: CertificateRevocation[], signal: AbortSignal | undefined): CertificateRevocation | undefined {
  const revoked = results.find((r) => r.status === 'revoked');
  if (revoked !== undefined) return revoked;
  const unknown = results.find((r) => r.status === 'unknown');
  if (unknown !== undefined) throwIfAborted(signal, 'revocation check');
  return unknown;
}

function describe(result: CertificateRevocation): string {
  if (result.status === 'revoked') return `is revoked${result.revokedAt ? ` (since ${result.revokedAt.toISOString()})` : ''}`;
  return `has an unknown revocation status${result.detail ? ` (${result.detail})` : ''}`;
}

/**
 * The payload must name exactly the artifact verified: digest, size and media type
 * (signature-specification.md "Payload"; notation-go compares with content.Equal).
 */
function checkPayload(payload: Uint8Array, subject: Descriptor): void {
  let target: Record<string, unknown> | undefined;
  try {
    const parsed = JSON.parse(Buffer.from(payload).toString('utf8')) as { targetArtifact?: unknown };
    if (typeof parsed.targetArtifact === 'object' && parsed.targetArtifact !== null)
      target = parsed.targetArtifact as Record<string, unknown>;
  } catch {
    // fall through: reported below
  }
  if (target === undefined) throw new CheckFailure('INVALID_SIGNATURE', 'the payload has no targetArtifact');
  if (target['digest'] !== subject.digest || target['size'] !== subject.size || target['mediaType'] !== subject.mediaType) {
    throw new CheckFailure(
      'INVALID_SIGNATURE',
      `the signature is for ${String(target['digest'])} (${String(target['mediaType'])}, ${String(target['size'])} bytes), not ${subject.digest} (${subject.mediaType}, ${subject.size} bytes)`,
    );
  }
}

function toFailure(error: unknown, fallback: AnswerCode): CheckFailure {
  if (error instanceof CheckFailure) return error;
  if (error instanceof VouchError) {
    // Running out of time is not a verdict about the signature: let the caller decide.
    if (error.code === 'DEADLINE_EXCEEDED') throw error;
    // Answer codes from lower layers keep their meaning; anything else is the check's own code.
    const code = (['INVALID_SIGNATURE', 'UNTRUSTED_SIGNER', 'EXPIRED', 'REVOKED'] as const).find((c) => c === error.code) ?? fallback;
    return new CheckFailure(code, error.message);
  }
  throw error;
}
