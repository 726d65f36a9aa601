// Counting semaphores keyed by name: the engine keys its background work by registry host, so that one slow registry can hold at most `permits`
// verifications at a time and never starve the others, under an optional cap on the permits held
// over all keys (`total`), which bounds the connections and bodies the running jobs hold whatever
// number of hosts untrusted keys name (docs/security.md, Ceilings).
//
// Who gets a freed permit: waiters of one key are served first come, first served; across keys, a
// permit freed while the total cap is reached goes round-robin to the keys that have waiters and
// are under their own limit (the "ready" ring). A key moves to the back of the ring when one of its
// waiters is granted and when one of its holders releases (it just had a turn), so a key with a long
// queue, or an attacker naming many hosts, cannot keep another key's waiter behind it by queue
// position alone: a waiter gets a permit after at most one grant per other ready key.
//
// A waiter whose AbortSignal fires leaves with DEADLINE_EXCEEDED (reason ABORTED). Idle keys are
// dropped, so hosts named by untrusted keys do not accumulate. Queues and the ring are Sets
// (insertion-ordered): a waiter or a key leaves them in O(1), so many waiters aborting at once (a
// background budget running out for a whole burst) cost linear, not quadratic, time.

import { VouchError } from './errors.js';

interface Waiter {
  grant: () => void;
}

interface Slot {
  readonly key: string;
  active: number;
  readonly waiters: Set<Waiter>;
}

export interface KeyedSemaphoreOptions {
  /** Permits held over all keys at most (default: no cap beyond `permits` per key). */
  total?: number;
}

export class KeyedSemaphore {
  /** Permits per key. */
  readonly permits: number;
  /** Permits over all keys (Infinity when not capped). */
  readonly total: number;
  readonly #slots = new Map<string, Slot>();
  /** Keys with waiters and under `permits` (so waiting for the total cap only), in round-robin order. */
  readonly #ready = new Set<Slot>();
  #active = 0;
  #waiting = 0;

  constructor(permits: number, options: KeyedSemaphoreOptions = {}) {
    this.permits = positiveInteger('concurrency per registry', permits);
    this.total = options.total === undefined ? Number.POSITIVE_INFINITY : positiveInteger('total concurrency', options.total);
  }

  /** Permits held and waiters queued for `key`. */
  usage(key: string): { active: number; waiting: number } {
    const slot = this.#slots.get(key);
    return { active: slot?.active ?? 0, waiting: slot?.waiters.size ?? 0 };
  }

  /** Permits held and waiters queued over all keys. */
  totals(): { active: number; waiting: number } {
    return { active: this.#active, waiting: this.#waiting };
  }

  /** Keys with a permit held or a waiter queued (idle keys are not kept). */
  get size(): number {
    return this.#slots.size;
  }

  /** Resolves with a release function once a permit for `key` is held. Release is idempotent. */
  acquire(key: string, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(abortError(key, signal));
    let slot = this.#slots.get(key);
    if (slot === undefined) this.#slots.set(key, (slot = { key, active: 0, waiters: new Set() }));
    const held = slot;
    // Nobody of this key waits when both limits have room (#pump runs after every release), so
    // taking the permit at once never overtakes a waiter.
    if (held.active < this.permits && this.#active < this.total) {
      held.active++;
      this.#active++;
      return Promise.resolve(this.#releaser(held));
    }
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        held.waiters.delete(waiter);
        this.#waiting--;
        if (held.waiters.size === 0) this.#ready.delete(held);
        this.#dropIfIdle(held);
        reject(abortError(key, signal!));
      };
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.#releaser(held));
        },
      };
      held.waiters.add(waiter);
      this.#waiting++;
      // Under its own limit: it waits for the total cap only, so it takes its turn in the ring.
      if (held.active < this.permits) this.#ready.add(held);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #releaser(slot: Slot): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#release(slot);
    };
  }

  #release(slot: Slot): void {
    slot.active--;
    this.#active--;
    if (slot.waiters.size > 0) {
      // The key just had a turn: behind the other ready keys (re-adding moves it to the back).
      this.#ready.delete(slot);
      this.#ready.add(slot);
    }
    this.#pump();
    this.#dropIfIdle(slot);
  }

  /** Grants permits to ready keys, round-robin, while the total cap has room. */
  #pump(): void {
    while (this.#active < this.total) {
      const next = this.#ready.values().next();
      if (next.done === true) return;
      const slot = next.value;
      const waiter = slot.waiters.values().next().value!;
      slot.waiters.delete(waiter);
      this.#waiting--;
      slot.active++;
      this.#active++;
      this.#ready.delete(slot);
      if (slot.waiters.size > 0 && slot.active < this.permits) this.#ready.add(slot);
      waiter.grant();
    }
  }

  #dropIfIdle(slot: Slot): void {
    if (slot.active === 0 && slot.waiters.size === 0 && this.#slots.get(slot.key) === slot) this.#slots.delete(slot.key);
  }
}

function positiveInteger(what: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new VouchError('INVALID_CONFIG', `${what} must be a positive integer, got ${value}`, { reason: 'BAD_CONTENT' });
  }
  return value;
}

function abortError(key: string, signal: AbortSignal): VouchError {
  return new VouchError('DEADLINE_EXCEEDED', `gave up waiting for a free slot for registry ${key}`, {
    reason: 'ABORTED',
    cause: signal.reason,
  });
}
