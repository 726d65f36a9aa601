// The one error base class of vouch. Every failure that crosses a module boundary is a VouchError
// with a stable `code` from docs/api.md "Codes"; transports map codes to wire answers in exactly
// one place each, and tests assert codes, never message text.

/**
 * Stable public codes (docs/api.md "Codes"). "answer" codes describe a definitive verdict about an
 * image; "error" codes mean vouch could not decide.
 */
export const ANSWER_CODES = [
  'NO_SIGNATURE',
  'INVALID_SIGNATURE',
  'UNTRUSTED_SIGNER',
  'EXPIRED',
  'REVOKED',
  'NO_TRUST_POLICY',
  'NOT_FOUND',
  // an environment policy (docs/policy-runtime.md) decided verified:false
  'POLICY_DENIED',
] as const;

export const UNDECIDED_CODES = [
  'INVALID_REFERENCE',
  'UNKNOWN_ENVIRONMENT',
  'REGISTRY_UNAVAILABLE',
  'REGISTRY_AUTH',
  'REGISTRY_NOT_ALLOWED',
  'DEADLINE_EXCEEDED',
  // a policy could not be loaded or evaluated (undecided: never cached long, Gatekeeper denies)
  'POLICY_ERROR',
  // a Notary Project plugin a signature needs could not give an answer (missing, too old, crashed, …)
  'PLUGIN_ERROR',
] as const;

/**
 * Codes that never reach a user as an answer about an image: bad configuration or input given
 * to vouch itself, and internal faults. They still have stable names so callers can branch.
 */
export const INTERNAL_CODES = ['INVALID_CONFIG', 'INVALID_INPUT', 'INTERNAL'] as const;

export type AnswerCode = (typeof ANSWER_CODES)[number];
export type UndecidedCode = (typeof UNDECIDED_CODES)[number];
export type InternalCode = (typeof INTERNAL_CODES)[number];
export type ErrorCode = AnswerCode | UndecidedCode | InternalCode;

/**
 * Finer, equally stable reasons under a code. They let tests and logs tell apart, say, a digest
 * mismatch from a connection refusal, both of which are REGISTRY_UNAVAILABLE to a caller.
 */
export type ErrorReason =
  // transport
  | 'CONNECTION'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'HTTP_STATUS'
  | 'REDIRECT'
  // egress refused by vouch itself before any byte was sent (docs/security.md "Egress")
  | 'REDIRECT_NOT_ALLOWED'
  | 'REALM_NOT_ALLOWED'
  | 'ADDRESS_NOT_ALLOWED'
  | 'DOWNGRADE'
  // a registry asked to come back later (429, or 503 with Retry-After) and the wait did not fit
  | 'RATE_LIMITED'
  // vouch's own bounds
  | 'OVERLOADED'
  // content from a registry or layout that cannot be trusted or read
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'SIZE_LIMIT'
  | 'BAD_CONTENT'
  | 'MEDIA_TYPE'
  // bounded walks
  | 'TOO_MANY_PAGES'
  | 'TOO_MANY_REFERRERS'
  // a referrer graph that lists an ancestor as a referrer (oci/copy.ts refuses to copy it)
  | 'REFERRER_CYCLE'
  // auth
  | 'NO_CHALLENGE'
  | 'UNSUPPORTED_CHALLENGE'
  | 'TOKEN'
  | 'DENIED'
  | 'INSECURE_CREDENTIALS'
  // configuration and trust material
  | 'NOT_FOUND'
  | 'WITHDRAWN'
  // a signing key that cannot be used: unreadable, encrypted, of a forbidden type, or not the leaf's
  | 'BAD_KEY'
  // promote --sign-for: the environment would not admit the image with this signature (under the admission's code)
  | 'NOT_ADMISSIBLE'
  // policies (POLICY_ERROR): loading, compiling with opa, evaluating in the worker
  | 'LOAD_FAILED'
  | 'COMPILE_FAILED'
  | 'TRAP'
  | 'BAD_INPUT'
  | 'BAD_OUTPUT'
  // notation plugins (PLUGIN_ERROR; docs/plugins.md): the plugin is not installed, fails the
  // executable checks, is older than the signature's minimum, lacks the capability needed, exited
  // without an answer, or answered with a protocol error of its own
  | 'PLUGIN_NOT_FOUND'
  | 'PLUGIN_UNSAFE'
  | 'PLUGIN_VERSION'
  | 'PLUGIN_CAPABILITY'
  | 'PLUGIN_CRASHED'
  | 'PLUGIN_REFUSED'
  // everything else
  | 'UNSUPPORTED'
  | 'OTHER';

export interface VouchErrorOptions {
  reason?: ErrorReason;
  cause?: unknown;
}

export class VouchError extends Error {
  readonly code: ErrorCode;
  readonly reason: ErrorReason;

  constructor(code: ErrorCode, message: string, options: VouchErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.reason = options.reason ?? 'OTHER';
  }
}

/** The reference a user or key gave is not a valid image reference. */
export class InvalidReferenceError extends VouchError {
  constructor(message: string, options: VouchErrorOptions = {}) {
    super('INVALID_REFERENCE', message, options);
  }
}

/**
 * A registry (or an OCI layout standing in for one) failed us. Carries the request so a message
 * can say where, as oras-go's ErrorResponse does; never carries credentials.
 */
export class RegistryError extends VouchError {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly status: number | undefined;

  constructor(code: ErrorCode, message: string, options: VouchErrorOptions & { method?: string; url?: string; status?: number } = {}) {
    super(code, message, options);
    this.method = options.method;
    this.url = options.url;
    this.status = options.status;
  }
}

export function isVouchError(value: unknown): value is VouchError {
  return value instanceof VouchError;
}

/** True for codes that mean "vouch could not decide", as opposed to a verdict. */
export function isUndecidedCode(code: ErrorCode): boolean {
  return (UNDECIDED_CODES as readonly string[]).includes(code) || (INTERNAL_CODES as readonly string[]).includes(code);
}

/**
 * Throws when `signal` has aborted: the signal's reason when it is already a VouchError, else
 * DEADLINE_EXCEEDED (reason ABORTED) naming `what`. Running out of time is never a verdict.
 */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted === true) throw abortReason(signal, what);
}

function abortReason(signal: AbortSignal, what: string): VouchError {
  if (signal.reason instanceof VouchError) return signal.reason;
  return new VouchError('DEADLINE_EXCEEDED', `${what}: operation aborted`, { reason: 'ABORTED', cause: signal.reason });
}

/**
 * `promise`, or the abort error of throwIfAborted as soon as `signal` aborts; the work behind
 * `promise` goes on (for other callers sharing it), and a late rejection of it is not unhandled.
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(abortReason(signal, what));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal, what));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** A message for any thrown value, including non-Errors (as grpc-js's getErrorMessage). */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return String(error);
  } catch {
    return 'unknown error';
  }
}
