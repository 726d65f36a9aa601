// Which trust policy statement applies to an artifact (trust-store-trust-policy.md "Selecting a trust
// policy based on artifact URI"), with notation-go's rules: registry scopes are matched by exact
// string equality on `host[:port]/repository`; an exact scope beats the `*` statement. One deliberate
// difference: both sides are compared in canonical form (canonicalScope), because vouch sees image
// references as pod authors write them, and `LOCALHOST:05557/app` is the image `localhost:5557/app`
// (notation verifies the reference its user typed, vouch the one a runtime will pull).
// Blob policies are selected by statement name, or the single globalPolicy statement.

import { InvalidReferenceError, canonicalRegistryHostName } from '../core/index.js';
import type { BlobTrustPolicy, BlobTrustPolicyStatement, OciTrustPolicy, TrustPolicyStatement } from './policy-types.js';

/** The wildcard registry scope. */
export const WILDCARD_SCOPE = '*';

// The distribution reference grammar as notation-go writes it (verifier/trustpolicy validateRegistryScopeFormat),
// rewritten without nested quantifiers so that JavaScript's backtracking engine stays linear; the languages
// are the same: labels of letters/digits with inner hyphens, an optional port; lowercase path components
// joined by ".", "_", "__" or runs of "-".
const DOMAIN = /^[a-zA-Z0-9]+(?:-+[a-zA-Z0-9]+)*(?:\.[a-zA-Z0-9]+(?:-+[a-zA-Z0-9]+)*)*(?::[0-9]+)?$/;
const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const ENSURE_MESSAGE =
  'make sure it is a fully qualified repository without the scheme, protocol or tag. For example domain.com/my/repository or a local scope like local/myOCILayout';

/**
 * notation-go's registry scope check: `domain[:port]/repository`, no tag, no digest, no `*`. Returns
 * notation-go's error message, or undefined when the scope is valid. `*` itself is not checked here.
 */
export function registryScopeError(scope: string): string | undefined {
  if (scope.length > 1 && scope.includes('*'))
    return `registry scope ${JSON.stringify(scope)} with wild card(s) is not valid, ${ENSURE_MESSAGE}`;
  const slash = scope.indexOf('/');
  const domain = slash === -1 ? '' : scope.slice(0, slash);
  const repository = slash === -1 ? '' : scope.slice(slash + 1);
  if (slash === -1 || domain === '' || repository === '' || !DOMAIN.test(domain) || !REPOSITORY.test(repository)) {
    return `registry scope ${JSON.stringify(scope)} is not valid, ${ENSURE_MESSAGE}`;
  }
  return undefined;
}

/**
 * The registry scope of an artifact reference `host[:port]/repo@sha256:…` (notation-go
 * getArtifactPathFromReference): everything before the last `@`, which must itself be a valid scope.
 * Throws InvalidReferenceError otherwise.
 */
export function artifactPathFromReference(reference: string): string {
  const at = reference.lastIndexOf('@');
  if (at < 0) {
    throw new InvalidReferenceError(
      `artifact URI ${JSON.stringify(reference)} could not be parsed, make sure it is the fully qualified oci artifact URI without the scheme/protocol. e.g domain.com:80/my/repository@sha256:digest`,
    );
  }
  const path = reference.slice(0, at);
  const problem = registryScopeError(path);
  if (problem !== undefined) throw new InvalidReferenceError(problem);
  return path;
}

const DOCKER_HUB_SCOPE_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/**
 * A registry scope in the form artifact scopes are compared in: the host canonical as image
 * references make it (lowercase, port without leading zeros, `:443` dropped, IPv6 in RFC 5952 form),
 * Docker Hub's hosts written `docker.io` with the `library/` prefix for single-name repositories.
 * `*`, and scopes whose host part is not a registry host (`local/…` for OCI layouts), are returned
 * as written.
 */
export function canonicalScope(scope: string): string {
  const slash = scope.indexOf('/');
  if (scope === WILDCARD_SCOPE || slash <= 0) return scope;
  let host: string;
  try {
    host = canonicalRegistryHostName(scope.slice(0, slash));
  } catch {
    return scope;
  }
  let repository = scope.slice(slash + 1);
  if (DOCKER_HUB_SCOPE_ALIASES.has(host)) {
    host = 'docker.io';
    if (!repository.includes('/')) repository = `library/${repository}`;
  }
  return `${host}/${repository}`;
}

/**
 * The statement that applies to `repository` (`host[:port]/repo`, the reference before `@`, written the
 * way the user writes it for notation, e.g. `docker.io/library/alpine`): the statement listing exactly
 * that scope, else the `*` statement, else undefined. Throws InvalidReferenceError when `repository` is
 * not a valid scope, as notation-go refuses such artifacts even under a `*` statement.
 */
export function findApplicableStatement(policy: OciTrustPolicy, repository: string): TrustPolicyStatement | undefined {
  const problem = registryScopeError(repository);
  if (problem !== undefined) throw new InvalidReferenceError(problem);
  const wanted = canonicalScope(repository);
  let wildcard: TrustPolicyStatement | undefined;
  let exact: TrustPolicyStatement | undefined;
  for (const statement of policy.statements) {
    if (statement.registryScopes.includes(WILDCARD_SCOPE)) wildcard = statement;
    else if (statement.matchScopes.includes(wanted)) exact = statement;
  }
  return exact ?? wildcard;
}

/**
 * The blob statement named `name` (exact match), or with no name the statement marked globalPolicy
 * (notation-go BlobDocument.GetApplicableTrustPolicy / GetGlobalTrustPolicy). A blank name selects nothing.
 */
export function findBlobStatement(policy: BlobTrustPolicy, name?: string): BlobTrustPolicyStatement | undefined {
  if (name === undefined) return policy.statements.find((statement) => statement.globalPolicy);
  if (name.trim() === '') return undefined;
  return policy.statements.find((statement) => statement.name === name);
}
