// A result cache shared by several vouch replicas (docs/reliability.md "Several replicas"), over a
// store such as Redis that vouch does not trust: whoever can write the store must not be able to
// forge a verdict. Each entry is an envelope authenticated with HMAC-SHA256 (RFC 2104) under a key
// only vouch holds (a mounted Secret); the MAC covers a version tag, the entry's full logical key,
// its creation and expiry times and the serialised result, so an entry altered, re-dated or copied
// under another key does not verify. Expiry is checked against the injected clock, never left to
// the store's TTL. The store is also not trusted to be up: every call has a timeout, calls in flight
// are bounded, and a circuit breaker skips the store for a cool-down after repeated failures. A
// failure or a rejected entry is a miss (the image is verified for real), never an answer.
// This module is pure (no network): the store is injected; the Redis one lives in src/app.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { VouchError, errorMessage } from '../core/index.js';
import type { Logger } from '../log.js';

/** The store under the shared cache: opaque strings by key, each with a TTL the store may apply. */
export interface SharedResultStore {
  /**
   * The value under `key`, or undefined. A value longer than `maxBytes` may be cut to `maxBytes + 1`
   * bytes (it is refused either way). Rejects on any failure; `signal` aborts a call past its timeout.
   */
  get(key: string, maxBytes: number, signal: AbortSignal): Promise<string | undefined>;
  /** Stores `value` under `key` for about `ttlMs` (a hint to free space: expiry is checked on read). */
  set(key: string, value: string, ttlMs: number, signal: AbortSignal): Promise<void>;
}

/** Why a stored entry was refused (a miss; counted, logged at most once a minute per reason). */
export type SharedRejection = 'too-large' | 'version' | 'malformed' | 'mac' | 'expired';

export type SharedCircuitState = 'closed' | 'open' | 'half-open';

/** Hooks for metrics; called synchronously, must be cheap. */
export interface SharedCacheObserver {
  /** A read: `hit` (an authentic, unexpired entry), `miss` (none), `rejected`, `error` (failed or timed out), `skipped` (circuit open or too many calls in flight). */
  lookup?(event: { result: 'hit' | 'miss' | 'rejected' | 'error' | 'skipped'; reason?: SharedRejection }): void;
  /** A write: `stored`, `error` or `skipped`. */
  write?(event: { result: 'stored' | 'error' | 'skipped' }): void;
  circuit?(event: { state: SharedCircuitState }): void;
}

export interface SharedResultCacheOptions {
  store: SharedResultStore;
  /** HMAC keys, each at least MIN_SHARED_KEY_BYTES: the first signs new entries, any verifies (rotation). */
  keys: readonly Uint8Array[];
  /** Prefix of every store key (default `vouch:result:`). */
  keyPrefix?: string;
  /**
   * What else, beyond an environment's trust material, changes verdicts in this deployment (e.g. the
   * vouch version and revocation settings): part of every entry's key, so replicas that differ in it
   * share nothing.
   */
  context?: string;
  /** Timeout of one store call, in ms (default 100). */
  commandTimeoutMs?: number;
  /** Store calls in flight at most (default 256); beyond it, reads are misses and writes are dropped. */
  maxPending?: number;
  /** Longest stored value read, in bytes (default 1 MiB); longer ones are refused before parsing. */
  maxValueBytes?: number;
  /** Consecutive failed calls that open the circuit (default 5). */
  failureThreshold?: number;
  /** How long an open circuit skips the store before one probe call, in ms (default 5 000). */
  coolDownMs?: number;
  /** Clock in epoch ms (expiry of entries, the circuit's cool-down). Default Date.now. */
  now?: () => number;
  observer?: SharedCacheObserver;
  logger?: Logger;
}

/** A shared entry as read: the payload the writer stored and the times the MAC covers. */
export interface SharedEntry {
  readonly payload: unknown;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** HMAC keys shorter than this are refused: RFC 2104 §3 advises at least the hash output length (32 bytes for SHA-256). */
export const MIN_SHARED_KEY_BYTES = 32;

export const DEFAULT_SHARED_CACHE = Object.freeze({
  keyPrefix: 'vouch:result:',
  commandTimeoutMs: 100,
  maxPending: 256,
  maxValueBytes: 1024 * 1024,
  failureThreshold: 5,
  coolDownMs: 5_000,
});

/** First field of every envelope; a new layout gets a new tag, and entries of another are misses. */
const VERSION_TAG = 'vouch-result-v1';
const WARN_INTERVAL_MS = 60_000;
const MAC_BYTES = 32;

export class SharedResultCache {
  readonly #store: SharedResultStore;
  readonly #keys: readonly Buffer[];
  readonly #prefix: string;
  /** Digest of the version tag and the deployment's context: the first part of every entry key. */
  readonly #context: string;
  readonly #timeoutMs: number;
  readonly #maxPending: number;
  readonly #maxValueBytes: number;
  readonly #failureThreshold: number;
  readonly #coolDownMs: number;
  readonly #now: () => number;
  readonly #observer: SharedCacheObserver;
  readonly #log: Logger | undefined;
  readonly #lastWarned = new Map<string, number>();
  #pending = 0;
  #failures = 0;
  #state: SharedCircuitState = 'closed';
  #openUntil = 0;
  /** A half-open probe is in flight: other calls keep skipping until it settles. */
  #probing = false;

  constructor(options: SharedResultCacheOptions) {
    if (options.keys.length === 0)
      throw new VouchError('INVALID_CONFIG', 'the shared cache needs at least one HMAC key', { reason: 'BAD_CONTENT' });
    for (const [i, key] of options.keys.entries()) {
      if (key.byteLength < MIN_SHARED_KEY_BYTES) {
        throw new VouchError(
          'INVALID_CONFIG',
          `shared cache HMAC key ${i + 1} has ${key.byteLength} bytes; at least ${MIN_SHARED_KEY_BYTES} are required`,
          { reason: 'BAD_CONTENT' },
        );
      }
    }
    this.#store = options.store;
    this.#keys = options.keys.map((key) => Buffer.from(key));
    this.#prefix = options.keyPrefix ?? DEFAULT_SHARED_CACHE.keyPrefix;
    this.#context = createHash('sha256')
      .update(`${VERSION_TAG}\n${options.context ?? ''}`)
      .digest('hex');
    this.#timeoutMs = options.commandTimeoutMs ?? DEFAULT_SHARED_CACHE.commandTimeoutMs;
    this.#maxPending = options.maxPending ?? DEFAULT_SHARED_CACHE.maxPending;
    this.#maxValueBytes = options.maxValueBytes ?? DEFAULT_SHARED_CACHE.maxValueBytes;
    this.#failureThreshold = options.failureThreshold ?? DEFAULT_SHARED_CACHE.failureThreshold;
    this.#coolDownMs = options.coolDownMs ?? DEFAULT_SHARED_CACHE.coolDownMs;
    this.#now = options.now ?? Date.now;
    this.#observer = options.observer ?? {};
    this.#log = options.logger;
  }

  /** The circuit's state now. */
  get state(): SharedCircuitState {
    return this.#state;
  }

  /**
   * The logical key of an entry: every part that selects a verdict, newline-separated (none of the
   * parts can hold a newline: environment names, repositories and digests follow their grammars, the
   * others are hex digests).
   */
  entryKey(parts: readonly string[]): string {
    return [this.#context, ...parts].join('\n');
  }

  /** The authentic, unexpired entry under `entryKey`, or undefined (none, rejected, store failing). */
  async get(entryKey: string): Promise<SharedEntry | undefined> {
    const call = this.#admit();
    if (call === undefined) {
      this.#lookup({ result: 'skipped' });
      return undefined;
    }
    let raw: string | undefined;
    try {
      raw = await this.#call(call, (signal) => this.#store.get(this.#storeKey(entryKey), this.#maxValueBytes, signal));
    } catch (error) {
      this.#lookup({ result: 'error' });
      this.#warn('error', { err: errorMessage(error) }, 'shared cache read failed; verifying without it');
      return undefined;
    }
    if (raw === undefined) {
      this.#lookup({ result: 'miss' });
      return undefined;
    }
    const opened = this.open(entryKey, raw);
    if ('rejected' in opened) {
      this.#lookup({ result: 'rejected', reason: opened.rejected });
      this.#warn(opened.rejected, { reason: opened.rejected }, 'shared cache entry rejected; verifying the image instead');
      return undefined;
    }
    this.#lookup({ result: 'hit' });
    return opened;
  }

  /** Stores `payload` under `entryKey` until `expiresAt`, in the background; never throws, never waits. */
  put(entryKey: string, payload: unknown, createdAt: number, expiresAt: number): void {
    const call = this.#admit();
    if (call === undefined) {
      this.#write('skipped');
      return;
    }
    const value = this.seal(entryKey, payload, createdAt, expiresAt);
    const ttlMs = Math.max(1, expiresAt - this.#now());
    this.#call(call, (signal) => this.#store.set(this.#storeKey(entryKey), value, ttlMs, signal)).then(
      () => this.#write('stored'),
      (error: unknown) => {
        this.#write('error');
        this.#warn('error', { err: errorMessage(error) }, 'shared cache write failed');
      },
    );
  }

  /** The envelope for `payload`: `tag \n createdAt \n expiresAt \n mac \n json`, MAC'd with the first key. */
  seal(entryKey: string, payload: unknown, createdAt: number, expiresAt: number): string {
    const json = JSON.stringify(payload);
    const times = `${Math.trunc(createdAt)}\n${Math.trunc(expiresAt)}`;
    const mac = macOf(this.#keys[0]!, entryKey, times, json).toString('base64url');
    return `${VERSION_TAG}\n${times}\n${mac}\n${json}`;
  }

  /** Checks an envelope read under `entryKey`: size, version, layout, MAC (any key), expiry; then parses. */
  open(entryKey: string, raw: string): SharedEntry | { rejected: SharedRejection } {
    // Length in UTF-16 units bounds the bytes from below; the exact count only when it could matter.
    if (raw.length > this.#maxValueBytes || Buffer.byteLength(raw) > this.#maxValueBytes) return { rejected: 'too-large' };
    const fields: string[] = [];
    let at = 0;
    for (let i = 0; i < 4; i++) {
      const end = raw.indexOf('\n', at);
      if (end === -1) return { rejected: i === 0 ? 'version' : 'malformed' };
      fields.push(raw.slice(at, end));
      at = end + 1;
    }
    const [tag, created, expires, mac] = fields as [string, string, string, string];
    if (tag !== VERSION_TAG) return { rejected: 'version' };
    if (!/^\d{1,16}$/.test(created) || !/^\d{1,16}$/.test(expires)) return { rejected: 'malformed' };
    const given = Buffer.from(mac, 'base64url');
    // Node's decoder skips stray characters and ignores the last character's spare bits: only the canonical spelling counts.
    if (given.length !== MAC_BYTES || given.toString('base64url') !== mac) return { rejected: 'malformed' };
    const json = raw.slice(at);
    const createdAt = Number(created);
    const expiresAt = Number(expires);
    // Over the fields as stored, so no other spelling of the same times (a leading zero) verifies.
    const times = `${created}\n${expires}`;
    if (!this.#keys.some((key) => timingSafeEqual(macOf(key, entryKey, times, json), given))) return { rejected: 'mac' };
    if (expiresAt <= this.#now()) return { rejected: 'expired' };
    try {
      return { payload: JSON.parse(json) as unknown, createdAt, expiresAt };
    } catch {
      // Only a holder of the key can get here: a writer bug, not an attack.
      return { rejected: 'malformed' };
    }
  }

  // ---- the store's health ------------------------------------------------------------------------

  /** Whether a call may go to the store now: undefined (skip) or what kind of call it is. */
  #admit(): 'normal' | 'probe' | undefined {
    if (this.#pending >= this.#maxPending) return undefined;
    if (this.#state === 'closed') return 'normal';
    if (this.#probing || this.#now() < this.#openUntil) return undefined;
    this.#probing = true;
    this.#setState('half-open');
    return 'probe';
  }

  async #call<T>(kind: 'normal' | 'probe', fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.#pending++;
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new VouchError('DEADLINE_EXCEEDED', `shared cache call took longer than ${this.#timeoutMs} ms`, {
          reason: 'TIMEOUT',
        });
        controller.abort(error);
        reject(error);
      }, this.#timeoutMs);
    });
    try {
      const result = await Promise.race([fn(controller.signal), timeout]);
      this.#succeeded(kind);
      return result;
    } catch (error) {
      this.#failed(kind);
      throw error;
    } finally {
      clearTimeout(timer);
      this.#pending--;
    }
  }

  #succeeded(kind: 'normal' | 'probe'): void {
    this.#failures = 0;
    if (kind === 'probe') this.#probing = false;
    if (this.#state !== 'closed') {
      this.#setState('closed');
      this.#log?.info('shared cache reachable again');
    }
  }

  #failed(kind: 'normal' | 'probe'): void {
    if (kind === 'probe') this.#probing = false;
    this.#failures++;
    if (kind === 'probe' || (this.#state === 'closed' && this.#failures >= this.#failureThreshold)) {
      this.#openUntil = this.#now() + this.#coolDownMs;
      if (this.#state !== 'open') {
        this.#setState('open');
        this.#log?.warn(
          { failures: this.#failures, coolDownMs: this.#coolDownMs },
          'shared cache unreachable; using the local cache only until a probe succeeds',
        );
      }
    }
  }

  #setState(state: SharedCircuitState): void {
    this.#state = state;
    try {
      this.#observer.circuit?.({ state });
    } catch {
      // observers must not break the cache
    }
  }

  // ---- helpers -----------------------------------------------------------------------------------

  #storeKey(entryKey: string): string {
    // Hashed: store keys stay short and hold no request text.
    return this.#prefix + createHash('sha256').update(entryKey).digest('hex');
  }

  #lookup(event: Parameters<NonNullable<SharedCacheObserver['lookup']>>[0]): void {
    try {
      this.#observer.lookup?.(event);
    } catch {
      // observers must not break the cache
    }
  }

  #write(result: 'stored' | 'error' | 'skipped'): void {
    try {
      this.#observer.write?.({ result });
    } catch {
      // observers must not break the cache
    }
  }

  /** At most one warning a minute per kind: a broken or hostile store must not flood the log. */
  #warn(kind: string, fields: Record<string, unknown>, message: string): void {
    const now = this.#now();
    const last = this.#lastWarned.get(kind);
    if (last !== undefined && now - last < WARN_INTERVAL_MS) return;
    this.#lastWarned.set(kind, now);
    this.#log?.warn(fields, message);
  }
}

function macOf(key: Buffer, entryKey: string, times: string, json: string): Buffer {
  return createHmac('sha256', key).update(`${VERSION_TAG}\n${entryKey}\n${times}\n${json}`).digest();
}
