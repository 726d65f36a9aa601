// Per-registry-host pacing of HTTP requests: an adaptive limit on requests in flight (AIMD, as TCP
// congestion control, RFC 5681 §3.1: halve on a throttling answer, grow by one per window of
// successes) and a "not before" time taken from Retry-After (RFC 9110 §10.2.3), during which
// requests to that host wait instead of being sent. One instance per registry client; hosts come
// from untrusted keys, so learnt state is held in a BoundedCache (hosts with requests in flight or
// waiting are held apart until they are idle again: their counts must stay exact).

import { BoundedCache, RegistryError, throwIfAborted } from '../core/index.js';

export interface RegistryThrottleLimits {
  /** Requests in flight to one registry host at most; the adaptive limit starts here and never exceeds it. */
  maxInFlight: number;
  /** Longest Retry-After honoured, in ms: a longer (or absurd) one is cut to this. */
  maxRetryAfterMs: number;
}

/** The registry client's pacing and its retries of throttled requests (config `limits.registryRequests`). */
export interface RegistryRequestLimits extends RegistryThrottleLimits {
  /** Times one request is sent again after a 429 (or a 503 with Retry-After). */
  maxRetries: number;
  /** Longest total wait for retries of one request, in ms; a longer Retry-After fails at once (RATE_LIMITED). */
  maxRetryWaitMs: number;
}

export const DEFAULT_REGISTRY_REQUEST_LIMITS: Readonly<RegistryRequestLimits> = Object.freeze({
  // The size of the transport's connection pool per origin (http-transport.ts).
  maxInFlight: 16,
  maxRetryAfterMs: 30_000,
  maxRetries: 3,
  // Well inside the engine's 30 s background budget for one verification.
  maxRetryWaitMs: 10_000,
});

export interface RegistryThrottleOptions extends Partial<RegistryThrottleLimits> {
  /** Hosts whose learnt state (reduced limit, not-before time) is remembered (default 1000). */
  maxHosts?: number;
  /** Clock in epoch ms (default Date.now). */
  now?: () => number;
  /** Waits `ms` or until `signal` aborts (rejecting); tests inject one driven by their clock. */
  sleep?: (ms: number, signal: AbortSignal | undefined) => Promise<void>;
  /** Called when a host's adaptive limit changes (metrics). */
  onLimitChange?: (host: string, limit: number) => void;
}

/** How a request sent under a permit ended, for the host's adaptive limit. */
export type ThrottleOutcome =
  /** An answer that is not throttling: counts towards growing the limit. */
  | { kind: 'answered' }
  /** 429, or 503 with Retry-After: halves the limit; `retryAfterMs` (when given) holds the host back. */
  | { kind: 'throttled'; retryAfterMs: number | undefined }
  /** No answer (connection error, timeout, abort): leaves the limit as it is. */
  | { kind: 'failed' };

export interface ThrottlePermit {
  release(outcome: ThrottleOutcome): void;
}

export interface ThrottleHostState {
  host: string;
  limit: number;
  inFlight: number;
  waiting: number;
  /** Epoch ms before which no request is sent to the host (0: none). */
  notBefore: number;
}

interface HostState {
  limit: number;
  inFlight: number;
  waiting: number;
  /** Successes since the limit last changed. */
  successes: number;
  notBefore: number;
  /** Bumped on every decrease: throttling answers to requests sent before it do not halve again. */
  epoch: number;
  /** Wake-ups of requests waiting for a slot, first come first served. */
  readonly wakers: Set<() => void>;
}

export class RegistryThrottle {
  readonly limits: RegistryThrottleLimits;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal: AbortSignal | undefined) => Promise<void>;
  readonly #onLimitChange: ((host: string, limit: number) => void) | undefined;
  /** Hosts with requests in flight or waiting; bounded by the requests the caller has running. */
  readonly #active = new Map<string, HostState>();
  /** Idle hosts whose state differs from a fresh one. */
  readonly #learnt: BoundedCache<HostState>;

  constructor(options: RegistryThrottleOptions = {}) {
    this.limits = {
      maxInFlight: Math.max(1, Math.floor(options.maxInFlight ?? DEFAULT_REGISTRY_REQUEST_LIMITS.maxInFlight)),
      maxRetryAfterMs: Math.max(0, options.maxRetryAfterMs ?? DEFAULT_REGISTRY_REQUEST_LIMITS.maxRetryAfterMs),
    };
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? sleep;
    this.#onLimitChange = options.onLimitChange;
    this.#learnt = new BoundedCache<HostState>({ maxEntries: options.maxHosts ?? 1000 });
  }

  /**
   * Waits until a request may be sent to `host` (past its not-before time, below its limit), then
   * holds one of its slots until the permit is released. Throws when `signal` aborts meanwhile, and
   * REGISTRY_UNAVAILABLE (reason RATE_LIMITED) at once when the host is held back longer than
   * `maxHoldMs`: a wait the caller cannot afford is not started.
   */
  async acquire(host: string, signal?: AbortSignal, maxHoldMs = Infinity): Promise<ThrottlePermit> {
    const state = this.#activate(host);
    state.waiting++;
    try {
      for (;;) {
        throwIfAborted(signal, `request to ${host}`);
        const wait = state.notBefore - this.#now();
        if (wait > maxHoldMs) {
          throw new RegistryError(
            'REGISTRY_UNAVAILABLE',
            `${host} asked for no requests for another ${Math.ceil(wait / 1000)} s (Retry-After), longer than this request can wait`,
            { reason: 'RATE_LIMITED' },
          );
        }
        if (wait > 0) {
          await this.#sleep(wait, signal);
          continue;
        }
        if (state.inFlight < state.limit) break;
        await waitForSlot(state, signal);
      }
    } catch (error) {
      state.waiting--;
      this.#settle(host, state);
      throw error;
    }
    state.waiting--;
    return this.#permit(host, state);
  }

  /**
   * A permit at once when the host is neither held back nor at its limit and nobody waits for it
   * (the common case, without the cost of a promise), else undefined: call acquire.
   */
  tryAcquire(host: string): ThrottlePermit | undefined {
    const state = this.#activate(host);
    if (state.waiting === 0 && state.inFlight < state.limit && state.notBefore <= this.#now()) return this.#permit(host, state);
    this.#settle(host, state);
    return undefined;
  }

  #permit(host: string, state: HostState): ThrottlePermit {
    state.inFlight++;
    const epoch = state.epoch;
    let released = false;
    return {
      release: (outcome) => {
        if (released) return;
        released = true;
        state.inFlight--;
        const before = state.limit;
        this.#record(state, outcome, epoch);
        if (state.limit !== before) this.#onLimitChange?.(host, state.limit);
        wake(state);
        this.#settle(host, state);
      },
    };
  }

  /** The host's state as it is now (tests, metrics). */
  state(host: string): ThrottleHostState {
    const state = this.#active.get(host) ?? this.#learnt.get(host);
    if (state === undefined) return { host, limit: this.limits.maxInFlight, inFlight: 0, waiting: 0, notBefore: 0 };
    return { host, limit: state.limit, inFlight: state.inFlight, waiting: state.waiting, notBefore: state.notBefore };
  }

  /** Waits `ms` with the injected timer (the client's backoff without Retry-After). */
  wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return this.#sleep(ms, signal);
  }

  /** Clamps a Retry-After delay to [0, maxRetryAfterMs]. */
  capRetryAfter(ms: number): number {
    return Math.min(Math.max(0, ms), this.limits.maxRetryAfterMs);
  }

  #activate(host: string): HostState {
    let state = this.#active.get(host);
    if (state !== undefined) return state;
    state = this.#learnt.get(host);
    if (state === undefined) {
      state = { limit: this.limits.maxInFlight, inFlight: 0, waiting: 0, successes: 0, notBefore: 0, epoch: 0, wakers: new Set() };
    } else {
      this.#learnt.delete(host);
    }
    this.#active.set(host, state);
    return state;
  }

  /** A host with nothing in flight or waiting leaves the active map; kept in the bounded cache only if it learnt something. */
  #settle(host: string, state: HostState): void {
    if (state.inFlight > 0 || state.waiting > 0) return;
    this.#active.delete(host);
    if (state.limit < this.limits.maxInFlight || state.notBefore > this.#now()) {
      this.#learnt.set(host, state);
    }
  }

  #record(state: HostState, outcome: ThrottleOutcome, epoch: number): void {
    if (outcome.kind === 'throttled') {
      // One decrease per round: answers to requests sent before the last decrease saw the old limit.
      if (epoch === state.epoch) {
        state.limit = Math.max(1, Math.floor(state.limit / 2));
        state.epoch++;
      }
      state.successes = 0;
      if (outcome.retryAfterMs !== undefined) {
        state.notBefore = Math.max(state.notBefore, this.#now() + this.capRetryAfter(outcome.retryAfterMs));
      }
    } else if (outcome.kind === 'answered' && state.limit < this.limits.maxInFlight) {
      // Additive increase: one more slot per window of `limit` successes.
      if (++state.successes >= state.limit) {
        state.limit++;
        state.successes = 0;
      }
    }
  }
}

/**
 * Milliseconds to wait from a Retry-After value (RFC 9110 §10.2.3: delay-seconds or an HTTP-date),
 * or undefined when the value is neither. A date in the past means no wait.
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) {
    const seconds = Number(text);
    return Number.isSafeInteger(seconds) ? seconds * 1000 : Number.MAX_SAFE_INTEGER;
  }
  // HTTP-date (§5.6.7): IMF-fixdate, or the obsolete RFC 850 and asctime forms, which Date.parse reads.
  if (!/^[A-Za-z]{3}/.test(text) || text.length > 64) return undefined;
  const at = Date.parse(text);
  if (!Number.isFinite(at)) return undefined;
  return Math.max(0, at - now);
}

function waitForSlot(state: HostState, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      state.wakers.delete(waker);
      // A wake-up meant for this waiter goes to the next one.
      wake(state);
      try {
        throwIfAborted(signal, 'request waiting for a registry slot');
      } catch (error) {
        reject(error);
      }
    };
    const waker = () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    state.wakers.add(waker);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Wakes as many waiters as there are free slots (each re-checks the host when it runs). */
function wake(state: HostState): void {
  let free = state.limit - state.inFlight;
  for (const waker of state.wakers) {
    if (free-- <= 0) break;
    state.wakers.delete(waker);
    waker();
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      try {
        throwIfAborted(signal, 'request held back by Retry-After');
      } catch (error) {
        reject(error);
      }
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
