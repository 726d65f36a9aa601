// Counting semaphores keyed by registry host, so that one slow registry can hold at most `permits`
// verifications at a time and never starve the others. Waiters are served first come, first served;
// a waiter whose AbortSignal fires leaves the queue with DEADLINE_EXCEEDED. Idle keys are dropped,
// so hosts named by untrusted keys do not accumulate. The queue is a Set (insertion-ordered): a
// waiter leaves it in O(1), so many waiters aborting at once (a background budget running out for
// a whole burst) cost linear, not quadratic, time.

import { VouchError } from '../core/index.js';

interface Waiter {
  grant: () => void;
}

interface Slot {
  active: number;
  waiters: Set<Waiter>;
}

export class KeyedSemaphore {
  readonly permits: number;
  readonly #slots = new Map<string, Slot>();

  constructor(permits: number) {
    if (!Number.isInteger(permits) || permits < 1) {
      throw new VouchError('INVALID_CONFIG', `concurrency per registry must be a positive integer, got ${permits}`, {
        reason: 'BAD_CONTENT',
      });
    }
    this.permits = permits;
  }

  /** Permits held and waiters queued for `key`. */
  usage(key: string): { active: number; waiting: number } {
    const slot = this.#slots.get(key);
    return { active: slot?.active ?? 0, waiting: slot?.waiters.size ?? 0 };
  }

  /** Keys with a permit held or a waiter queued (idle keys are not kept). */
  get size(): number {
    return this.#slots.size;
  }

  /** Resolves with a release function once a permit for `key` is held. Release is idempotent. */
  acquire(key: string, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(abortError(key, signal));
    let slot = this.#slots.get(key);
    if (slot === undefined) this.#slots.set(key, (slot = { active: 0, waiters: new Set() }));
    const held = slot;
    const releaser = (): (() => void) => {
      let released = false;
      return () => {
        if (released) return;
        released = true;
        this.#release(key, held);
      };
    };
    if (held.active < this.permits) {
      held.active++;
      return Promise.resolve(releaser());
    }
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        held.waiters.delete(waiter);
        this.#dropIfIdle(key, held);
        reject(abortError(key, signal!));
      };
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(releaser());
        },
      };
      held.waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #release(key: string, slot: Slot): void {
    const next = slot.waiters.values().next();
    // Hand the permit straight to the next waiter: `active` stays the same.
    if (next.done !== true) {
      slot.waiters.delete(next.value);
      return next.value.grant();
    }
    slot.active--;
    this.#dropIfIdle(key, slot);
  }

  #dropIfIdle(key: string, slot: Slot): void {
    if (slot.active === 0 && slot.waiters.size === 0 && this.#slots.get(key) === slot) this.#slots.delete(key);
  }
}

function abortError(key: string, signal: AbortSignal): VouchError {
  return new VouchError('DEADLINE_EXCEEDED', `gave up waiting for a free slot for registry ${key}`, {
    reason: 'ABORTED',
    cause: signal.reason,
  });
}
