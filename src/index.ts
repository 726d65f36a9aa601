// vouch as a library: the public API of each domain.
export * from './core/index.js';
export * from './oci/index.js';
export * from './trust/index.js';
export * from './notation/index.js';
export * from './verify/index.js';
