// Public face of core: pure primitives (errors, digests, image references). No I/O, no imports
// from sibling domains.

export * from './errors.js';
export * from './digest.js';
export * from './reference.js';
export * from './verification.js';
export * from './bounded-cache.js';
export * from './text-position.js';
export { KeyedSemaphore, type KeyedSemaphoreOptions } from './semaphore.js';
