// Notary Project trust policy documents (trust-store-trust-policy.md "Trust Policy"): the OCI policy
// (trustpolicy.oci.json / trustpolicy.json) and the blob policy (trustpolicy.blob.json), decoded the way
// Go's encoding/json fills notation-go's structs and validated as a whole, in notation-go's order, with
// its messages (verifier/trustpolicy: OCIDocument.Validate, BlobDocument.Validate, validatePolicyCore).
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
import { canonicalScope, registryScopeError, WILDCARD_SCOPE } from './scope.js';
import { isTrustStoreName, TRUST_STORE_TYPES, type TrustStoreType } from './store.js';
import { volumeFileTarget } from './volume-layout.js';

/** A `type:name` entry of a statement's trustStores. */
export interface TrustStoreRef {
  type: TrustStoreType;
  name: string;
}

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
// Decoding as Go's encoding/json does into notation-go's structs: only the first JSON value is read
// (trailing bytes are ignored), object keys match field names case-insensitively, unknown fields are
// ignored, `null` leaves strings/bools unchanged and empties slices and maps, a value of the wrong JSON
// type anywhere in a known field makes the document malformed, and repeated keys decode again into the
// same field (maps and structs merge, the rest is replaced).

interface RawSignatureVerification {
  level: string;
  override: Record<string, string>;
  verifyTimestamp: string;
}

interface RawStatement {
  name: string;
  registryScopes: string[];
  signatureVerification: RawSignatureVerification;
  trustStores: string[];
  trustedIdentities: string[];
  globalPolicy: boolean;
}

interface RawDocument {
  version: string;
  statements: RawStatement[];
}

function decodeDocument(input: string | Uint8Array, source: string, kind: 'oci' | 'blob'): RawDocument {
  const text = typeof input === 'string' ? input : new TextDecoder('utf-8', { ignoreBOM: true }).decode(input);
  let value: JsonValue;
  try {
    value = new JsonReader(text).readFirstValue();
  } catch (error) {
    const where = error instanceof JsonSyntaxFailure ? ` at line ${error.line}, column ${error.column}` : '';
    throw invalid(
      source,
      `malformed trust policy. To create a trust policy, see: ${TRUST_POLICY_LINK} (${(error as Error).message}${where})`,
      error,
    );
  }
  const decoder = new GoStructDecoder(kind);
  const doc = decoder.document(value);
  if (decoder.typeError !== undefined) {
    throw invalid(source, `malformed trust policy. To create a trust policy, see: ${TRUST_POLICY_LINK} (${decoder.typeError})`);
  }
  return doc;
}

type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;
interface JsonNumber {
  number: string;
}
interface JsonObject {
  /** Members in document order, repeated keys included. */
  members: Array<[string, JsonValue]>;
}

const isObject = (value: JsonValue): value is JsonObject => typeof value === 'object' && value !== null && 'members' in value;
const jsonKind = (value: JsonValue): string =>
  value === null
    ? 'null'
    : Array.isArray(value)
      ? 'array'
      : isObject(value)
        ? 'object'
        : typeof value === 'object'
          ? 'number'
          : typeof value;

/** Go's field-name matching: exact, else case-insensitive (with Go's two non-ASCII folds onto ASCII). */
function fieldKey(key: string): string {
  return key
    .replace(/\u017f/g, 's')
    .replace(/\u212a/g, 'k')
    .toLowerCase();
}

class GoStructDecoder {
  typeError: string | undefined;

  constructor(private readonly kind: 'oci' | 'blob') {}

  private mismatch(field: string, value: JsonValue, want: string): void {
    this.typeError ??= `cannot unmarshal ${jsonKind(value)} into field ${field} of type ${want}`;
  }

  document(value: JsonValue): RawDocument {
    const doc: RawDocument = { version: '', statements: [] };
    if (value === null) return doc;
    if (!isObject(value)) {
      this.mismatch('(document)', value, 'object');
      return doc;
    }
    for (const [key, member] of value.members) {
      const field = fieldKey(key);
      if (field === 'version') doc.version = this.string('version', member, doc.version);
      else if (field === 'trustpolicies') doc.statements = this.statements(member, doc.statements);
    }
    return doc;
  }

  private statements(value: JsonValue, current: RawStatement[]): RawStatement[] {
    if (value === null) return [];
    if (!Array.isArray(value)) {
      this.mismatch('trustPolicies', value, 'array');
      return current;
    }
    return value.map((element) => this.statement(element));
  }

  private statement(value: JsonValue): RawStatement {
    const statement: RawStatement = {
      name: '',
      registryScopes: [],
      signatureVerification: { level: '', override: {}, verifyTimestamp: '' },
      trustStores: [],
      trustedIdentities: [],
      globalPolicy: false,
    };
    if (value === null) return statement;
    if (!isObject(value)) {
      this.mismatch('trustPolicies', value, 'object');
      return statement;
    }
    for (const [key, member] of value.members) {
      switch (fieldKey(key)) {
        case 'name':
          statement.name = this.string('name', member, statement.name);
          break;
        case 'registryscopes':
          if (this.kind === 'oci') statement.registryScopes = this.strings('registryScopes', member, statement.registryScopes);
          break;
        case 'signatureverification':
          this.signatureVerification(member, statement.signatureVerification);
          break;
        case 'truststores':
          statement.trustStores = this.strings('trustStores', member, statement.trustStores);
          break;
        case 'trustedidentities':
          statement.trustedIdentities = this.strings('trustedIdentities', member, statement.trustedIdentities);
          break;
        case 'globalpolicy':
          if (this.kind === 'blob') statement.globalPolicy = this.boolean('globalPolicy', member, statement.globalPolicy);
          break;
      }
    }
    return statement;
  }

  private signatureVerification(value: JsonValue, target: RawSignatureVerification): void {
    if (value === null) return;
    if (!isObject(value)) {
      this.mismatch('signatureVerification', value, 'object');
      return;
    }
    for (const [key, member] of value.members) {
      switch (fieldKey(key)) {
        case 'level':
          target.level = this.string('level', member, target.level);
          break;
        case 'override':
          target.override = this.stringMap('override', member, target.override);
          break;
        case 'verifytimestamp':
          target.verifyTimestamp = this.string('verifyTimestamp', member, target.verifyTimestamp);
          break;
      }
    }
  }

  private string(field: string, value: JsonValue, current: string): string {
    if (value === null) return current;
    if (typeof value !== 'string') {
      this.mismatch(field, value, 'string');
      return current;
    }
    return value;
  }

  private boolean(field: string, value: JsonValue, current: boolean): boolean {
    if (value === null) return current;
    if (typeof value !== 'boolean') {
      this.mismatch(field, value, 'bool');
      return current;
    }
    return value;
  }

  private strings(field: string, value: JsonValue, current: string[]): string[] {
    if (value === null) return [];
    if (!Array.isArray(value)) {
      this.mismatch(field, value, '[]string');
      return current;
    }
    return value.map((element) => this.string(field, element, ''));
  }

  private stringMap(field: string, value: JsonValue, current: Record<string, string>): Record<string, string> {
    if (value === null) return {};
    if (!isObject(value)) {
      this.mismatch(field, value, 'map[string]string');
      return current;
    }
    // Go decodes into the existing map, so a repeated "override" merges.
    const map: Record<string, string> = Object.create(null) as Record<string, string>;
    Object.assign(map, current);
    for (const [key, member] of value.members) {
      map[key] = this.string(field, member, '');
    }
    return map;
  }
}

/**
 * A JSON syntax error with Go's wording and where it is: an editor goes to a line and column, not to
 * a byte offset. Both are 1-based, the column in UTF-16 units, as the config file's errors
 * (config/json-syntax.ts lineColumn; trust/ may not import config/).
 */
class JsonSyntaxFailure extends Error {
  readonly line: number;
  readonly column: number;
  constructor(message: string, text: string, offset: number) {
    super(message);
    this.name = 'JsonSyntaxFailure';
    let line = 1;
    let lineStart = 0;
    for (let k = 0; k < offset && k < text.length; k++) {
      if (text.charCodeAt(k) === 0x0a) {
        line++;
        lineStart = k + 1;
      }
    }
    this.line = line;
    this.column = offset - lineStart + 1;
  }
}

/** A strict RFC 8259 reader that stops after the first value, as Go's json.Decoder.Decode does. */
class JsonReader {
  private pos = 0;

  constructor(private readonly text: string) {}

  readFirstValue(): JsonValue {
    this.skipWhitespace();
    if (this.pos >= this.text.length) throw new JsonSyntaxFailure('unexpected end of JSON input', this.text, this.pos);
    return this.value();
  }

  private fail(what: string): never {
    if (this.pos >= this.text.length) throw new JsonSyntaxFailure('unexpected end of JSON input', this.text, this.pos);
    throw new JsonSyntaxFailure(
      `invalid character ${JSON.stringify(this.text[this.pos])} ${what} at offset ${this.pos}`,
      this.text,
      this.pos,
    );
  }

  private skipWhitespace(): void {
    while (this.pos < this.text.length) {
      const c = this.text[this.pos];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') this.pos++;
      else break;
    }
  }

  private value(): JsonValue {
    const c = this.text[this.pos];
    switch (c) {
      case '{':
        return this.object();
      case '[':
        return this.array();
      case '"':
        return this.string();
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'n':
        return this.literal('null', null);
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
        return this.fail('looking for beginning of value');
    }
  }

  private literal<T extends JsonValue>(word: string, value: T): T {
    for (const expected of word) {
      if (this.text[this.pos] !== expected) this.fail(`in literal ${word} (expecting ${JSON.stringify(expected)})`);
      this.pos++;
    }
    return value;
  }

  private number(): JsonNumber {
    const match = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(this.text.slice(this.pos));
    if (match === null || match[0] === '' || match[0] === '-') this.fail('in numeric literal');
    this.pos += match![0].length;
    return { number: match![0] };
  }

  private string(): string {
    this.pos++; // opening quote
    let out = '';
    for (;;) {
      if (this.pos >= this.text.length) this.fail('in string literal');
      const c = this.text[this.pos]!;
      const code = c.charCodeAt(0);
      if (c === '"') {
        this.pos++;
        return out;
      }
      if (code < 0x20) this.fail('in string literal');
      if (c !== '\\') {
        out += c;
        this.pos++;
        continue;
      }
      const e = this.text[this.pos + 1];
      this.pos += 2;
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const unit = this.hex4();
          if (unit >= 0xd800 && unit < 0xdc00 && this.text.startsWith('\\u', this.pos)) {
            const save = this.pos;
            this.pos += 2;
            const low = this.hex4();
            if (low >= 0xdc00 && low < 0xe000) {
              out += String.fromCharCode(unit, low);
              break;
            }
            this.pos = save;
          }
          // Go's decoder turns a lone surrogate into U+FFFD.
          out += unit >= 0xd800 && unit < 0xe000 ? '\ufffd' : String.fromCharCode(unit);
          break;
        }
        default:
          this.pos--;
          this.fail('in string escape code');
      }
    }
  }

  private hex4(): number {
    const digits = this.text.slice(this.pos, this.pos + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(digits)) this.fail('in \\u hexadecimal character escape');
    this.pos += 4;
    return parseInt(digits, 16);
  }

  private array(): JsonValue[] {
    this.pos++;
    const items: JsonValue[] = [];
    this.skipWhitespace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return items;
    }
    for (;;) {
      this.skipWhitespace();
      items.push(this.value());
      this.skipWhitespace();
      const c = this.text[this.pos];
      if (c === ',') this.pos++;
      else if (c === ']') {
        this.pos++;
        return items;
      } else this.fail('after array element');
    }
  }

  private object(): JsonObject {
    this.pos++;
    const members: Array<[string, JsonValue]> = [];
    this.skipWhitespace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return { members };
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.pos] !== '"') this.fail('looking for beginning of object key string');
      const key = this.string();
      this.skipWhitespace();
      if (this.text[this.pos] !== ':') this.fail('after object key');
      this.pos++;
      this.skipWhitespace();
      members.push([key, this.value()]);
      this.skipWhitespace();
      const c = this.text[this.pos];
      if (c === ',') this.pos++;
      else if (c === '}') {
        this.pos++;
        return { members };
      } else this.fail('after object key:value pair');
    }
  }
}
