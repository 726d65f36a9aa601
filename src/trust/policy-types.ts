// The shapes of parsed Notary Project trust policy documents (trust-store-trust-policy.md "Trust
// Policy"), apart from the parser (policy.ts) so that statement lookup (scope.ts) and the parser
// share them without importing each other.
// https://github.com/notaryproject/specifications/blob/main/specs/trust-store-trust-policy.md

import type { CheckAction, CheckType, VerificationLevel } from '../core/index.js';
import type { DistinguishedName } from './identity.js';
import type { TrustStoreRef } from './store.js';

export type VerifyTimestamp = 'always' | 'afterCertExpiry';

/** What OCI and blob statements share. */
export interface TrustPolicyStatementBase {
  name: string;
  /** The level with any override applied; `name` stays the level written in the policy. */
  level: VerificationLevel;
  /** The override map as written (validated), for display. */
  override: Readonly<Partial<Record<CheckType, CheckAction>>>;
  /** `always` when the policy leaves it out. */
  verifyTimestamp: VerifyTimestamp;
  /** De-duplicated, in first-seen order. Empty for `skip`. */
  trustStores: TrustStoreRef[];
  /** As written. */
  trustedIdentities: string[];
  /** The `x509.subject:` identities, parsed. Other prefixes are kept only in trustedIdentities. */
  x509Subjects: DistinguishedName[];
  /** trustedIdentities is `["*"]`. */
  anyIdentity: boolean;
}

export interface TrustPolicyStatement extends TrustPolicyStatementBase {
  /** Exact `host[:port]/repository` scopes, or `["*"]`, as written. */
  registryScopes: string[];
  /**
   * registryScopes in canonical form (canonicalScope: host lowercased, port normalised, Docker Hub
   * aliases folded): what an artifact's canonical scope is matched against.
   */
  matchScopes: string[];
}

export interface BlobTrustPolicyStatement extends TrustPolicyStatementBase {
  globalPolicy: boolean;
}

export interface OciTrustPolicy {
  version: '1.0';
  /** Where the document came from (a file path), for messages. */
  source: string;
  statements: TrustPolicyStatement[];
  /**
   * Set (why, naming the file) when the operator withdrew all trust of an environment by removing
   * or emptying its trust policy file: the document then has no statements, so every image answers
   * NO_TRUST_POLICY with this explanation. parseOciTrustPolicy never sets it.
   */
  withdrawn?: string;
}

export interface BlobTrustPolicy {
  version: '1.0';
  source: string;
  statements: BlobTrustPolicyStatement[];
}
