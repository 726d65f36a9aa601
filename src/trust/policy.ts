// Notary Project trust policy documents (trust-store-trust-policy.md "Trust Policy"): the OCI policy
// (trustpolicy.oci.json / trustpolicy.json) and the blob policy (trustpolicy.blob.json), decoded the way
// Go's encoding/json fills notation-go's structs (go-json.ts) and validated as a whole, in notation-go's
// order, with its messages (verifier/trustpolicy: OCIDocument.Validate, BlobDocument.Validate,
// validatePolicyCore). The document types are in policy-types.ts.
// https://github.com/notaryproject/specifications/blob/main/specs/trust-store-trust-policy.md

import { lstat, readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import {
  LEVELS,
  VouchError,
  throwIfAborted,
  type CheckAction,
  type CheckType,
  type LevelName,
  type VerificationLevel,
} from '../core/index.js';
import {
  findOverlappingIdentities,
  parseDistinguishedName,
  WILDCARD_IDENTITY,
  X509_SUBJECT_PREFIX,
  type DistinguishedName,
} from './identity.js';
import {
  decodeTrustPolicyDocument,
  JsonSyntaxFailure,
  readFirstJsonValue,
  type JsonValue,
  type RawDocument,
  type RawSignatureVerification,
  type RawStatement,
} from './go-json.js';
import type {
  BlobTrustPolicy,
  BlobTrustPolicyStatement,
  OciTrustPolicy,
  TrustPolicyStatement,
  TrustPolicyStatementBase,
  VerifyTimestamp,
} from './policy-types.js';
import { canonicalScope, registryScopeError, WILDCARD_SCOPE } from './scope.js';
import { isTrustStoreName, TRUST_STORE_TYPES, type TrustStoreRef } from './store.js';
import { volumeFileTarget } from './volume-layout.js';

const SUPPORTED_VERSIONS = ['1.0'];
const TRUST_POLICY_LINK = 'https://notaryproject.dev/docs/quickstart/#create-a-trust-policy';
const VALIDATION_TYPES: readonly CheckType[] = ['integrity', 'authenticity', 'authenticTimestamp', 'expiry', 'revocation'];
const VALIDATION_ACTIONS: readonly CheckAction[] = ['enforce', 'log', 'skip'];
const LEVEL_NAMES: readonly LevelName[] = ['strict', 'permissive', 'audit', 'skip'];

/**
 * Parses and validates an OCI trust policy document. `source` names it (a file path) in messages.
 * Any problem, including malformed JSON, throws VouchError INVALID_CONFIG / BAD_CONTENT whose message is
 * `<source>: <notation-go's message>`; one bad statement invalidates the whole document.
 */
export function parseOciTrustPolicy(input: string | Uint8Array, source: string): OciTrustPolicy {
  const doc = decodeDocument(input, source, 'oci');
  const fail = (message: string): never => {
    throw invalid(source, message);
  };

  if (doc.version === '') fail('oci trust policy document has empty version, version must be specified');
  if (!SUPPORTED_VERSIONS.includes(doc.version)) fail(`oci trust policy document uses unsupported version ${q(doc.version)}`);
  if (doc.statements.length === 0) fail('oci trust policy document can not have zero trust policy statements');

  const names = new Set<string>();
  const cores: StatementCore[] = [];
  for (const raw of doc.statements) {
    if (names.has(raw.name)) fail(`multiple oci trust policy statements use the same name ${q(raw.name)}, statement names must be unique`);
    cores.push(validateCore(raw, (message) => fail(`oci trust policy: ${message}`)));
    names.add(raw.name);
  }

  // Registry scopes, across the whole document; every occurrence counts.
  const scopeCount = new Map<string, number>();
  for (const raw of doc.statements) {
    if (raw.registryScopes.length === 0) {
      fail(`oci trust policy statement ${q(raw.name)} has zero registry scopes, it must specify registry scopes with at least one value`);
    }
    if (raw.registryScopes.length > 1 && raw.registryScopes.includes(WILDCARD_SCOPE)) {
      fail(
        `oci trust policy statement ${q(raw.name)} uses wildcard registry scope '*', a wildcard scope cannot be used in conjunction with other scope values`,
      );
    }
    for (const scope of raw.registryScopes) {
      if (scope !== WILDCARD_SCOPE) {
        const problem = registryScopeError(scope);
        if (problem !== undefined) fail(problem);
      }
      scopeCount.set(scope, (scopeCount.get(scope) ?? 0) + 1);
    }
  }
  for (const [scope, count] of scopeCount) {
    if (count > 1) {
      fail(
        `registry scope ${q(scope)} is present in multiple oci trust policy statements, one registry scope value can only be associated with one statement`,
      );
    }
  }
  // vouch matches scopes by canonical host (scope.ts canonicalScope), so two spellings of one
  // repository (`Registry.example.com/app`, `registry.example.com:443/app`) would be one scope in two
  // statements: refused, where notation-go (exact strings) would accept them.
  const canonicalOwner = new Map<string, string>();
  for (const raw of doc.statements) {
    for (const scope of raw.registryScopes) {
      const canonical = canonicalScope(scope);
      const previous = canonicalOwner.get(canonical);
      if (previous !== undefined && previous !== scope) {
        fail(
          `registry scopes ${q(previous)} and ${q(scope)} name the same repository ${q(canonical)} (hosts are matched case-insensitively, with the port as a number and :443 as the default), write it once`,
        );
      }
      canonicalOwner.set(canonical, scope);
    }
  }

  return {
    version: '1.0',
    source,
    statements: doc.statements.map((raw, i) => ({
      ...cores[i]!,
      registryScopes: [...raw.registryScopes],
      matchScopes: raw.registryScopes.map(canonicalScope),
    })),
  };
}

/**
 * Parses and validates a blob trust policy document (statements without registryScopes, at most one
 * `globalPolicy: true`). Errors as for parseOciTrustPolicy. Unlike notation-go, a global statement at
 * level `skip` is rejected, as the specification requires (notation-go's check never fires).
 */
export function parseBlobTrustPolicy(input: string | Uint8Array, source: string): BlobTrustPolicy {
  const doc = decodeDocument(input, source, 'blob');
  const fail = (message: string): never => {
    throw invalid(source, message);
  };

  if (doc.version === '') fail('blob trust policy document has empty version, version must be specified');
  if (!SUPPORTED_VERSIONS.includes(doc.version)) fail(`blob trust policy document uses unsupported version ${q(doc.version)}`);
  if (doc.statements.length === 0) fail('blob trust policy document can not have zero trust policy statements');

  const names = new Set<string>();
  let foundGlobal = false;
  const statements: BlobTrustPolicyStatement[] = [];
  for (const raw of doc.statements) {
    if (names.has(raw.name)) fail(`multiple blob trust policy statements use the same name ${q(raw.name)}, statement names must be unique`);
    const core = validateCore(raw, (message) => fail(`blob trust policy: ${message}`));
    if (raw.globalPolicy) {
      if (foundGlobal) {
        fail(
          'multiple blob trust policy statements have globalPolicy set to true. Only one trust policy statement can be marked as global policy',
        );
      }
      if (core.level.name === 'skip') fail('global blob trust policy statement cannot have verification level set to skip');
      foundGlobal = true;
    }
    names.add(raw.name);
    statements.push({ ...core, globalPolicy: raw.globalPolicy });
  }
  return { version: '1.0', source, statements };
}

/**
 * Reads and parses an OCI trust policy file. Like notation-go, refuses a path that is a directory or a
 * symlink. A missing file is INVALID_CONFIG / OTHER; everything else is as parseOciTrustPolicy.
 */
export async function readOciTrustPolicyFile(path: string, options: { signal?: AbortSignal } = {}): Promise<OciTrustPolicy> {
  return parseOciTrustPolicy(await readPolicyFile(path, options.signal), path);
}

/** Reads and parses a blob trust policy file (see readOciTrustPolicyFile). */
export async function readBlobTrustPolicyFile(path: string, options: { signal?: AbortSignal } = {}): Promise<BlobTrustPolicy> {
  return parseBlobTrustPolicy(await readPolicyFile(path, options.signal), path);
}

/** Every trust store any statement references, de-duplicated, for up-front loading. */
export function referencedTrustStores(policy: OciTrustPolicy | BlobTrustPolicy): TrustStoreRef[] {
  const seen = new Map<string, TrustStoreRef>();
  for (const statement of policy.statements) {
    for (const ref of statement.trustStores) seen.set(`${ref.type}:${ref.name}`, ref);
  }
  return [...seen.values()];
}

async function readPolicyFile(path: string, signal: AbortSignal | undefined): Promise<Uint8Array> {
  throwIfAborted(signal, path);
  let info;
  try {
    info = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new VouchError('INVALID_CONFIG', `${path}: trust policy is not present. To create a trust policy, see: ${TRUST_POLICY_LINK}`, {
        cause: error,
      });
    }
    throw new VouchError('INVALID_CONFIG', `${path}: unable to read trust policy: ${(error as Error).message}`, { cause: error });
  }
  // A file of a Kubernetes ConfigMap/Secret volume is a link that stays inside the volume: allowed.
  const target = info.isSymbolicLink() ? await volumeFileTarget(dirname(path), basename(path)) : path;
  if (info.isDirectory() || target === undefined) {
    throw invalid(
      path,
      `trust policy is not a regular file (symlinks are not supported, except a Kubernetes ConfigMap or Secret volume's own). To create a trust policy, see: ${TRUST_POLICY_LINK}`,
    );
  }
  try {
    return await readFile(target, { signal });
  } catch (error) {
    throwIfAborted(signal, path);
    throw new VouchError('INVALID_CONFIG', `${path}: unable to read trust policy: ${(error as Error).message}`, { cause: error });
  }
}

function invalid(source: string, message: string, cause?: unknown): VouchError {
  return new VouchError('INVALID_CONFIG', `${source}: ${message}`, { reason: 'BAD_CONTENT', cause });
}

const q = (value: string): string => JSON.stringify(value);

// ---------------------------------------------------------------------------------------------------
// validatePolicyCore: name, signatureVerification, skip vs. stores and identities, store values,
// identities. `fail` throws.

type StatementCore = TrustPolicyStatementBase;

function validateCore(raw: RawStatement, fail: (message: string) => never): StatementCore {
  const name = raw.name;
  if (name === '') fail('a trust policy statement is missing a name, every statement requires a name');

  const { level, override } = verificationLevel(raw.signatureVerification, (message) =>
    fail(`trust policy statement ${q(name)} has invalid signatureVerification: ${message}`),
  );
  const verifyTimestamp = raw.signatureVerification.verifyTimestamp;
  if (verifyTimestamp !== '' && verifyTimestamp !== 'always' && verifyTimestamp !== 'afterCertExpiry') {
    fail(
      `trust policy statement ${q(name)} has invalid signatureVerification: verifyTimestamp must be "always" or "afterCertExpiry", but got ${q(verifyTimestamp)}`,
    );
  }

  const trustStores: TrustStoreRef[] = [];
  const x509Subjects: DistinguishedName[] = [];
  if (level.name === 'skip') {
    if (raw.trustStores.length > 0 || raw.trustedIdentities.length > 0) {
      fail(
        `trust policy statement ${q(name)} is set to skip signature verification but configured with trust stores and/or trusted identities, remove them if signature verification needs to be skipped`,
      );
    }
  } else {
    if (raw.trustStores.length === 0 || raw.trustedIdentities.length === 0) {
      fail(`trust policy statement ${q(name)} is either missing trust stores or trusted identities, both must be specified`);
    }
    const seen = new Set<string>();
    for (const value of raw.trustStores) {
      const ref = parseTrustStoreValue(name, value, fail);
      if (!seen.has(`${ref.type}:${ref.name}`)) {
        seen.add(`${ref.type}:${ref.name}`);
        trustStores.push(ref);
      }
    }
    x509Subjects.push(...validateTrustedIdentities(name, raw.trustedIdentities, fail));
  }

  return {
    name,
    level,
    override,
    verifyTimestamp: verifyTimestamp === 'afterCertExpiry' ? 'afterCertExpiry' : 'always',
    trustStores,
    trustedIdentities: [...raw.trustedIdentities],
    x509Subjects,
    anyIdentity: raw.trustedIdentities.length === 1 && raw.trustedIdentities[0] === WILDCARD_IDENTITY,
  };
}

/** SignatureVerification.GetVerificationLevel: the named level, then the override applied on top. */
function verificationLevel(
  sv: RawSignatureVerification,
  fail: (message: string) => never,
): { level: VerificationLevel; override: Partial<Record<CheckType, CheckAction>> } {
  if (sv.level === '') fail('signature verification level is empty or missing in the trust policy statement');
  const base = LEVEL_NAMES.find((name) => name === sv.level);
  if (base === undefined) fail(`invalid signature verification level ${q(sv.level)}`);
  const baseLevel = LEVELS[base!];
  const override: Partial<Record<CheckType, CheckAction>> = {};
  const entries = Object.entries(sv.override);
  if (entries.length === 0) return { level: baseLevel, override };
  if (base === 'skip') fail(`signature verification level ${q(base)} can't be used to customize signature verification`);

  const enforcement: Record<CheckType, CheckAction> = { ...baseLevel.enforcement };
  for (const [key, value] of entries) {
    const type = VALIDATION_TYPES.find((t) => t === key);
    if (type === undefined) {
      fail(
        `verification type ${q(key)} in custom signature verification is not supported, supported values are ${goQuotedList(VALIDATION_TYPES)}`,
      );
    }
    const action = VALIDATION_ACTIONS.find((a) => a === value);
    if (action === undefined) {
      fail(
        `verification action ${q(value)} in custom signature verification is not supported, supported values are ${goQuotedList(VALIDATION_ACTIONS)}`,
      );
    }
    if (type === 'integrity') fail(`${q(key)} verification can not be overridden in custom signature verification`);
    if (type !== 'revocation' && action === 'skip') fail(`${q(key)} verification can not be skipped in custom signature verification`);
    enforcement[type!] = action!;
    override[type!] = action!;
  }
  return { level: { name: baseLevel.name, enforcement: Object.freeze(enforcement) }, override };
}

const goQuotedList = (values: readonly string[]): string => `[${values.map(q).join(' ')}]`;

function parseTrustStoreValue(statement: string, value: string, fail: (message: string) => never): TrustStoreRef {
  const colon = value.indexOf(':');
  if (colon === -1) {
    fail(
      `trust policy statement ${q(statement)} has malformed trust store value ${q(value)}. The required format is <TrustStoreType>:<TrustStoreName>`,
    );
  }
  const type = value.slice(0, colon);
  const name = value.slice(colon + 1);
  const storeType = TRUST_STORE_TYPES.find((t) => t === type);
  if (storeType === undefined) {
    fail(`trust policy statement ${q(statement)} uses an unsupported trust store type ${q(type)} in trust store value ${q(value)}`);
  }
  if (!isTrustStoreName(name)) {
    fail(
      `trust policy statement ${q(statement)} uses an unsupported trust store name ${q(name)} in trust store value ${q(value)}. Named store name needs to follow [a-zA-Z0-9_.-]+ format`,
    );
  }
  return { type: storeType!, name };
}

function validateTrustedIdentities(
  statement: string,
  identities: readonly string[],
  fail: (message: string) => never,
): DistinguishedName[] {
  if (identities.length > 1 && identities.includes(WILDCARD_IDENTITY)) {
    fail(
      `trust policy statement ${q(statement)} uses a wildcard trusted identity '*', a wildcard identity cannot be used in conjunction with other values`,
    );
  }
  const parsed: DistinguishedName[] = [];
  for (const identity of identities) {
    if (identity === '') fail(`trust policy statement ${q(statement)} has an empty trusted identity`);
    if (identity === WILDCARD_IDENTITY) continue;
    const colon = identity.indexOf(':');
    if (colon === -1) fail(`trust policy statement ${q(statement)} has trusted identity ${q(identity)} missing separator`);
    const prefix = identity.slice(0, colon);
    const value = identity.slice(colon + 1);
    // notation natively supports x509.subject identities only; other prefixes are for plugins.
    if (prefix !== X509_SUBJECT_PREFIX) continue;
    if (value === '') fail(`trust policy statement ${q(statement)} has trusted identity ${q(identity)} without an identity value`);
    try {
      parsed.push({ identity, dn: value, attributes: parseDistinguishedName(value) });
    } catch (error) {
      fail(
        `trust policy statement ${q(statement)} has trusted identity ${q(identity)} with invalid identity value: ${(error as Error).message}`,
      );
    }
  }
  const overlap = findOverlappingIdentities(parsed);
  if (overlap !== undefined) {
    fail(
      `trust policy statement ${q(statement)} has overlapping x509 trustedIdentities, ${q(overlap[0].identity)} overlaps with ${q(overlap[1].identity)}`,
    );
  }
  return parsed;
}

// ---------------------------------------------------------------------------------------------------
// Reading the document as notation-go does (go-json.ts), with notation-go's "malformed" message.

function decodeDocument(input: string | Uint8Array, source: string, kind: 'oci' | 'blob'): RawDocument {
  const text = typeof input === 'string' ? input : new TextDecoder('utf-8', { ignoreBOM: true }).decode(input);
  let value: JsonValue;
  try {
    value = readFirstJsonValue(text);
  } catch (error) {
    const where = error instanceof JsonSyntaxFailure ? ` at line ${error.line}, column ${error.column}` : '';
    throw invalid(
      source,
      `malformed trust policy. To create a trust policy, see: ${TRUST_POLICY_LINK} (${(error as Error).message}${where})`,
      error,
    );
  }
  const { document, typeError } = decodeTrustPolicyDocument(value, kind);
  if (typeError !== undefined) {
    throw invalid(source, `malformed trust policy. To create a trust policy, see: ${TRUST_POLICY_LINK} (${typeError})`);
  }
  return document;
}
