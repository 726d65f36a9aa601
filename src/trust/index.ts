// Public face of trust: trust policy documents, trust stores, certificates and identities.
export * from './certificate.js';
