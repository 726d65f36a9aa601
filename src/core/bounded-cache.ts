// The one bounded cache of vouch (results, tags, parsed certificates, chain verdicts, CRLs):
// lru-cache (https://github.com/isaacs/node-lru-cache) bounded by entry count and estimated
// bytes, each entry with its own expiry read from an injected clock. Keys and values come from
// untrusted input, so both bounds always hold; an entry larger than the byte budget is simply
// not stored. Caches are instances owned by whoever builds the runtime (no module-global state),
// so one `clear()` per owner forgets everything.

import { LRUCache } from 'lru-cache';

export interface BoundedCacheOptions<V> {
  /** Entries at most; 0 disables the cache (nothing is stored). */
  maxEntries: number;
  /** Estimated bytes of all entries at most (default unbounded: the entry count bounds it). */
  maxBytes?: number;
  /** Estimated bytes of one entry, used when `set` is not told (default 0: count only). */
  sizeOf?: (value: V, key: string) => number;
  /** Clock in ms for expiry (default Date.now); tests inject theirs. */
  now?: () => number;
}

export interface SetOptions {
  /** Time to live in ms from now; default (or Infinity) never expires. */
  ttlMs?: number;
  /** Estimated bytes of this entry (overrides `sizeOf`). */
  bytes?: number;
}

interface Entry<V> {
  value: V;
  /**
   * When the entry is gone, in clock ms since the cache was made; undefined for never. Relative, so
   * that it is a small integer V8 stores in the entry itself rather than a 16-byte heap number per
   * entry (Date.now() is past 2^31).
   */
  expiresAt: number | undefined;
}

/**
 * lru-cache preallocates its index arrays for `max` entries (typed arrays plus two `new Array(max)`):
 * 5.8 ms and a few MB for 50 000, paid by every cache an engine builds (results, parsed keys, the
 * interned parts: 20 ms and ~8 MiB an engine, measured with bench/provider.ts (a) and (d)) and again by
 * every clear(). Above this count lru-cache gets no `max` and grows its arrays as entries arrive; the
 * count bound is then enforced here, evicting the least recently used (`set`).
 */
const PREALLOCATE_MAX = 1024;

export class BoundedCache<V> {
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly #lru: LRUCache<string, Entry<V>> | undefined;
  readonly #sizeOf: ((value: V, key: string) => number) | undefined;
  readonly #now: () => number;
  readonly #epoch: number;
  readonly #inFlight = new Map<string, Promise<V>>();

  constructor(options: BoundedCacheOptions<V>) {
    this.maxEntries = Math.max(0, Math.floor(options.maxEntries));
    this.maxBytes = Math.max(0, Math.floor(options.maxBytes ?? Number.MAX_SAFE_INTEGER));
    this.#sizeOf = options.sizeOf;
    this.#now = options.now ?? Date.now;
    this.#epoch = this.#now();
    if (this.maxEntries > 0 && this.maxBytes > 0) {
      this.#lru = new LRUCache<string, Entry<V>>({
        max: this.maxEntries <= PREALLOCATE_MAX ? this.maxEntries : 0,
        maxSize: this.maxBytes,
        // every set passes its size; this only satisfies lru-cache's check for maxSize
        sizeCalculation: () => 1,
      });
    }
  }

  get size(): number {
    return this.#lru?.size ?? 0;
  }

  /** Estimated bytes of the stored entries. */
  get bytes(): number {
    return this.#lru?.calculatedSize ?? 0;
  }

  /** The live value for `key` (refreshing its recency), or undefined when absent or expired. */
  get(key: string): V | undefined {
    const entry = this.#lru?.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= this.#now() - this.#epoch) {
      this.#lru!.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /**
   * Stores `value`, evicting least recently used entries until both bounds hold. Returns false (and
   * stores nothing, forgetting any older value) when the cache is disabled, the entry alone exceeds
   * the byte budget, or its TTL is not positive.
   */
  set(key: string, value: V, options: SetOptions = {}): boolean {
    const lru = this.#lru;
    if (lru === undefined) return false;
    const ttl = options.ttlMs ?? Infinity;
    const bytes = Math.max(1, Math.ceil(options.bytes ?? this.#sizeOf?.(value, key) ?? 1));
    if (!(ttl > 0) || bytes > this.maxBytes) {
      lru.delete(key);
      return false;
    }
    lru.set(key, { value, expiresAt: ttl === Infinity ? undefined : this.#now() + ttl - this.#epoch }, { size: bytes });
    while (lru.size > this.maxEntries) lru.pop();
    return true;
  }

  delete(key: string): boolean {
    return this.#lru?.delete(key) ?? false;
  }

  /**
   * Drops every expired entry now (O(entries)), for caches whose keys an untrusted party can mint
   * faster than the LRU order would retire them.
   */
  purgeExpired(): void {
    const lru = this.#lru;
    if (lru === undefined) return;
    const now = this.#now() - this.#epoch;
    const expired: string[] = [];
    for (const [key, entry] of lru.entries()) if (entry.expiresAt !== undefined && entry.expiresAt <= now) expired.push(key);
    for (const key of expired) lru.delete(key);
  }

  /** Forgets every entry (computations in flight still store their value when they finish). */
  clear(): void {
    this.#lru?.clear();
  }

  /**
   * The cached value for `key`, or the result of `compute`, stored with `options` (a function of the
   * value decides per value; undefined means do not store). Concurrent callers for one key share
   * one computation; a failure is not cached and reaches every caller waiting on it.
   */
  getOrCompute(key: string, compute: () => Promise<V>, options?: SetOptions | ((value: V) => SetOptions | undefined)): Promise<V> {
    const cached = this.get(key);
    if (cached !== undefined) return Promise.resolve(cached);
    const running = this.#inFlight.get(key);
    if (running !== undefined) return running;
    const job = (async () => {
      try {
        const value = await compute();
        const setOptions = typeof options === 'function' ? options(value) : (options ?? {});
        if (setOptions !== undefined) this.set(key, value, setOptions);
        return value;
      } finally {
        this.#inFlight.delete(key);
      }
    })();
    this.#inFlight.set(key, job);
    return job;
  }
}
