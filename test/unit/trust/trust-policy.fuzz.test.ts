// Property tests of trust policy documents (src/trust/policy.ts, go-json.ts, scope.ts; docs/reliability.md
// "Fuzzing"): any bytes give a policy or INVALID_CONFIG; valid documents mutated (fields dropped, retyped,
// repeated, nested deeply, `__proto__` members) too; and the statement that applies to an image never
// depends on how the registry host is spelled, in the policy or in the reference (#6).

import test from 'ava';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseReference, trustPolicyScope } from '../../../src/core/index.js';
import { MAX_JSON_DEPTH } from '../../../src/trust/go-json.js';
import {
  canonicalScope,
  findApplicableStatement,
  parseBlobTrustPolicy,
  parseOciTrustPolicy,
  type OciTrustPolicy,
} from '../../../src/trust/index.js';
import { NOTATION_VECTORS } from '../../helpers/fixtures.js';
import {
  assertRoughlyLinear,
  checkProperty,
  deeplyNested,
  dnsHost,
  dockerHubHost,
  fc,
  hostileJsonValue,
  hostileText,
  ipv4Host,
  typedOutcome,
  withProtoMember,
} from '../../helpers/fuzz.js';

const derived = JSON.parse(readFileSync(path.join(NOTATION_VECTORS, 'derived/trustpolicy-validation-cases.json'), 'utf8')) as {
  valid: Array<{ document: unknown }>;
  invalid: Array<{ document: unknown; kind: 'oci' | 'blob' }>;
};
const VALID_DOCUMENTS = derived.valid.map((c) => c.document);
const ALL_DOCUMENTS = [...VALID_DOCUMENTS, ...derived.invalid.map((c) => c.document)];

const parse = (text: string | Uint8Array) => typedOutcome(() => parseOciTrustPolicy(text, 'policy.json'), ['INVALID_CONFIG']);
const parseBlob = (text: string | Uint8Array) => typedOutcome(() => parseBlobTrustPolicy(text, 'policy.json'), ['INVALID_CONFIG']);

/** Invariants of an accepted OCI policy. */
function assertWellFormed(policy: OciTrustPolicy): void {
  if (policy.statements.length === 0) throw new Error('accepted a policy without statements');
  const names = new Set(policy.statements.map((s) => s.name));
  if (names.size !== policy.statements.length) throw new Error('accepted duplicate statement names');
  for (const statement of policy.statements) {
    if (statement.registryScopes.length === 0) throw new Error(`statement ${statement.name} has no scopes`);
    const canonical = statement.registryScopes.map(canonicalScope);
    if (JSON.stringify(canonical) !== JSON.stringify(statement.matchScopes)) throw new Error(`matchScopes of ${statement.name}`);
  }
}

// ---- structure-aware mutations of real documents ----

type Path = Array<string | number>;

function paths(value: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((item, i) => paths(item, [...prefix, i], out));
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  return out;
}

function setAt(root: unknown, at: Path, replace: (old: unknown) => unknown): unknown {
  if (at.length === 0) return replace(root);
  const copy: unknown = Array.isArray(root) ? [...root] : { ...(root as object) };
  const [head, ...rest] = at;
  (copy as Record<string | number, unknown>)[head!] = setAt((root as Record<string | number, unknown>)[head!], rest, replace);
  return copy;
}

const DROP = Symbol('drop');
function dropMarked(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((v) => v !== DROP).map(dropMarked);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== DROP)
        .map(([k, v]) => [k, dropMarked(v)]),
    );
  }
  return value;
}

/** A real document with one field dropped, retyped, deepened, duplicated, case-folded, or given a `__proto__` member. */
const mutatedDocumentText = fc
  .tuple(fc.constantFrom(...ALL_DOCUMENTS), fc.nat(), fc.nat(6), hostileJsonValue, fc.nat(200))
  .map(([document, pick, kind, replacement, depth]) => {
    const all = paths(document);
    const at = all[pick % all.length]!;
    const text = (value: unknown) => JSON.stringify(dropMarked(value));
    switch (kind) {
      case 0:
        return text(setAt(document, at, () => DROP));
      case 1:
        return text(setAt(document, at, () => replacement));
      case 2:
        return text(setAt(document, at, (old) => Array.from({ length: 1 + (depth % 3) }, () => old)));
      case 3: {
        // Go's decoder reads a repeated key again into the same field; "__proto__" is an ordinary key
        const json = text(document);
        return withProtoMember(json.replace('"trustPolicies":[{', `"trustPolicies":[{"name":${JSON.stringify(replacement) ?? 0},`), '{}');
      }
      case 4:
        return text(document).replace(/"(version|trustPolicies|registryScopes|name|level)"/g, (_, key: string) => `"${key.toUpperCase()}"`);
      case 5:
        return text(setAt(document, at, () => '\u0000'.repeat(depth)));
      default:
        return text(document).replace(/\[\]|\{\}|"[^"]*"/, (found) => deeplyNested(depth * 5, found));
    }
  });

test('parseOciTrustPolicy / parseBlobTrustPolicy: any bytes give a policy or INVALID_CONFIG', (t) => {
  const input = fc.oneof(
    hostileText,
    fc.string({ maxLength: 200 }),
    fc.uint8Array({ maxLength: 200 }),
    hostileJsonValue.map((v) => JSON.stringify(v) ?? 'null'),
  );
  checkProperty(t, [input], (text) => {
    const outcome = parse(text);
    if ('value' in outcome) assertWellFormed(outcome.value);
    parseBlob(text);
  });
});

test('parseOciTrustPolicy: mutated real documents give a policy or INVALID_CONFIG', (t) => {
  checkProperty(t, [mutatedDocumentText], (text) => {
    const outcome = parse(text);
    if ('value' in outcome) assertWellFormed(outcome.value);
    parseBlob(text);
  });
});

test('parseOciTrustPolicy: nesting beyond the reader depth is INVALID_CONFIG, below it no stack overflow', (t) => {
  for (const depth of [MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH + 1, 100_000]) {
    for (const kind of ['array', 'object'] as const) {
      const document = `{"version":"1.0","unknownField":${deeplyNested(depth, '0', kind)},"trustPolicies":[]}`;
      const outcome = parse(document);
      t.true('error' in outcome);
      if ('error' in outcome) {
        const tooDeep = /exceeded max depth/.test(outcome.error.message);
        t.is(tooDeep, depth > MAX_JSON_DEPTH, outcome.error.message);
        t.false(/call stack/.test(outcome.error.message), outcome.error.message);
      }
    }
  }
});

test('parseOciTrustPolicy: time grows linearly with the document', (t) => {
  const statement = (i: number) =>
    `{"name":"s${i}","registryScopes":["r.example/a${i}"],"signatureVerification":{"level":"audit"},"trustStores":["ca:x"],"trustedIdentities":["*"]}`;
  assertRoughlyLinear(
    t,
    'statements',
    (n) => `{"version":"1.0","trustPolicies":[${Array.from({ length: n / 100 }, (_, i) => statement(i)).join(',')}]}`,
    (text: string) => parse(text),
    { small: 20_000, factor: 8 },
  );
  assertRoughlyLinear(
    t,
    'one long string with escapes',
    (n) => `{"version":"${'\\u0041\\n'.repeat(n / 8)}","trustPolicies":[]}`,
    (text: string) => parse(text),
  );
  assertRoughlyLinear(
    t,
    'repeated keys',
    (n) => `{${'"version":"1.0",'.repeat(n / 16)}"trustPolicies":[]}`,
    (text: string) => parse(text),
  );
});

// ---- #6: the applicable statement does not depend on the host's spelling ----

const scopedHost = fc.oneof(dnsHost, ipv4Host, dockerHubHost);
const repositoryPath = fc
  .array(fc.stringMatching(/^[a-z0-9]{1,6}(?:[._-][a-z0-9]{1,4})?$/), { minLength: 1, maxLength: 3 })
  .map((parts) => parts.join('/'));

test('findApplicableStatement: two spellings of one registry select the same statement', (t) => {
  const spellings = scopedHost.chain((host) => fc.tuple(fc.constant(host.canonical), host.spellings, host.spellings));
  checkProperty(t, [spellings, repositoryPath, fc.boolean()], ([, inPolicy, inReference], repository, wildcardFirst) => {
    const strict = {
      name: 'strict',
      registryScopes: [`${inPolicy}/${repository}`],
      signatureVerification: { level: 'strict' },
      trustStores: ['ca:x'],
      trustedIdentities: ['*'],
    };
    const audit = {
      name: 'everything-else',
      registryScopes: ['*'],
      signatureVerification: { level: 'audit' },
      trustStores: ['ca:x'],
      trustedIdentities: ['*'],
    };
    const outcome = parse(JSON.stringify({ version: '1.0', trustPolicies: wildcardFirst ? [audit, strict] : [strict, audit] }));
    if (!('value' in outcome)) throw new Error(`policy with scope ${inPolicy}/${repository} refused: ${outcome.error.message}`);
    const scope = trustPolicyScope(parseReference(`${inReference}/${repository}:v1`));
    const statement = findApplicableStatement(outcome.value, scope);
    if (statement?.name !== 'strict') {
      throw new Error(
        `${inReference}/${repository} (scope ${scope}) selected ${statement?.name} under policy scope ${inPolicy}/${repository}`,
      );
    }
  });
});

test('parseOciTrustPolicy: two spellings of one repository in two statements are refused', (t) => {
  const spellings = scopedHost.chain((host) => fc.tuple(host.spellings, host.spellings));
  checkProperty(t, [spellings, repositoryPath], ([first, second], repository) => {
    const statement = (name: string, host: string) => ({
      name,
      registryScopes: [`${host}/${repository}`],
      signatureVerification: { level: 'strict' },
      trustStores: ['ca:x'],
      trustedIdentities: ['*'],
    });
    const outcome = parse(JSON.stringify({ version: '1.0', trustPolicies: [statement('a', first), statement('b', second)] }));
    if ('value' in outcome) throw new Error(`accepted ${first}/${repository} and ${second}/${repository} in two statements`);
  });
});
