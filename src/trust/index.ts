// Public face of trust: trust policy documents, trust stores, certificates and identities.
export * from './certificate.js';
export * from './identity.js';
export * from './policy.js';
export * from './policy-types.js';
export * from './scope.js';
export * from './store.js';
export * from './volume-layout.js';
