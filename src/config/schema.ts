// The vouch configuration file (docs/configuration.md) as one zod schema: it owns the types, the
// defaults and the validation, and emits the JSON Schema editors use (docs/vouch.schema.json).
// Unknown keys, wrong types and missing required keys are errors, so a typo can never silently
// weaken trust. Each default comes from the module that uses the value (server, verify, notation),
// so the configuration and the engine cannot disagree. Reading the file, resolving relative paths
// and `passwordFromEnv`, and turning issues into messages with line:col is parse.ts.
// https://zod.dev/api, https://zod.dev/json-schema

import { z } from 'zod';
import {
  DEFAULT_PLUGIN_MAX_CONCURRENT,
  DEFAULT_PLUGIN_MAX_OUTPUT_BYTES,
  DEFAULT_PLUGIN_METADATA_TTL_MS,
  DEFAULT_PLUGIN_TIMEOUT_MS,
  DEFAULT_REVOCATION_OFFLINE,
  DEFAULT_TIMESTAMP_REVOCATION,
  PLUGIN_NAME,
  PLUGIN_PATH,
} from '../notation/index.js';
import {
  DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_KEYS,
  DEFAULT_MAX_REQUEST_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_SERVER_ADDRESS,
  MAX_REQUEST_TIMEOUT_MS,
} from '../server/index.js';
import { DEFAULT_POLICY_LIMITS } from '../policy/index.js';
import { DEFAULT_REGISTRY_REQUEST_LIMITS } from '../oci/index.js';
import type { CosignIdentity } from '../cosign/index.js';
import { DEFAULT_BACKGROUND_LIMITS, DEFAULT_SHARED_CACHE, DEFAULT_VERIFICATION_CACHE } from '../verify/index.js';
import { canonicalRegistryHost, canonicalRegistryPattern, parseListenAddress, type ListenAddress } from './hosts.js';

export type { ListenAddress } from './hosts.js';

/** Environment names: they appear in keys as `[name]`, in metrics labels and in file names. */
export const ENVIRONMENT_NAME = /^[a-z0-9][a-z0-9_.-]*$/;
const MAX_ENVIRONMENT_NAME_LENGTH = 63;
const ENV_VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DAY_MS = 24 * 60 * 60 * 1000;
/** What `policy:` may name (src/policy's loadPolicyFile tells them apart by these suffixes). */
const POLICY_FILE_SUFFIXES = ['.wasm', '.tar.gz', '.rego'] as const;

// ---- messages ------------------------------------------------------------------------------------

/** What a value is, for "expected X, got Y"; secrets are described by type only. */
export function describeValue(value: unknown, secret = false): string {
  if (value === null || value === undefined) return 'no value';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Uint8Array) return 'binary data';
  if (typeof value === 'object') return 'a mapping';
  if (secret) return `a ${typeof value}`;
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)}`;
  return `the ${typeof value} ${String(value)}`;
}

const NO_VALUE = 'has no value (give one, or remove the key to use the default)';

/** The message of a wrong-type issue: a missing key, a key without value, or "expected X, got Y". */
function wrongType(what: string, options: { secret?: boolean; missing?: string; noValue?: string } = {}) {
  return (issue: { code?: string; input?: unknown }): string | undefined => {
    if (issue.code !== undefined && issue.code !== 'invalid_type' && issue.code !== 'invalid_value') return undefined;
    if (issue.input === undefined) return `required key is missing${options.missing === undefined ? '' : ` (${options.missing})`}`;
    if (issue.input === null) return options.noValue ?? NO_VALUE;
    return `expected ${what}, got ${describeValue(issue.input, options.secret)}`;
  };
}

// ---- building blocks -----------------------------------------------------------------------------

function integer(min: number, max: number) {
  const range = (issue: { input?: unknown }): string => `must be from ${min} to ${max}, got ${String(issue.input)}`;
  return z
    .int({ error: wrongType(`an integer from ${min} to ${max}`) })
    .min(min, { error: range })
    .max(max, { error: range });
}

function mapping<Shape extends z.core.$ZodLooseShape>(shape: Shape, options: { missing?: string; noValue?: string } = {}) {
  return z.strictObject(shape, { error: wrongType('a mapping', options) });
}

const text = (options: { missing?: string } = {}) =>
  z.string({ error: wrongType('a string', options) }).min(1, { error: 'must not be empty' });

const boolean = () => z.boolean({ error: wrongType('a boolean (true or false)') });

/** A file or directory path as written in the file; parse.ts resolves it against the file's directory. */
const filePath = (options: { missing?: string } = {}) =>
  z
    .string({ error: wrongType('a string (a file path)', options) })
    .min(1, { error: 'must not be empty' })
    .refine((value) => !value.includes('\0'), { error: 'must not contain a NUL character' });

const listenAddress = () =>
  z.string({ error: wrongType('a string host:port, e.g. 127.0.0.1:8443') }).transform((value, ctx): ListenAddress => {
    const parsed = parseListenAddress(value);
    if (typeof parsed === 'string') {
      ctx.issues.push({ code: 'custom', message: parsed, input: value });
      return z.NEVER;
    }
    return parsed;
  });

/** A non-empty list of registry host patterns (allowedRegistries and the egress lists), canonical and de-duplicated. */
function hostPatterns(whenEmpty: string, options: { noStar?: string } = {}) {
  const pattern = z.string({ error: wrongType('a string') }).transform((value, ctx): string => {
    const canonical = canonicalRegistryPattern(value);
    if (typeof canonical !== 'string') {
      ctx.issues.push({ code: 'custom', message: `${JSON.stringify(value)}: ${canonical.error}`, input: value });
      return z.NEVER;
    }
    if (canonical === '*' && options.noStar !== undefined) {
      ctx.issues.push({ code: 'custom', message: `"*" is not allowed here: it ${options.noStar}`, input: value });
      return z.NEVER;
    }
    return canonical;
  });
  return z
    .array(pattern, { error: wrongType('a list') })
    .min(1, { error: `must list at least one ${whenEmpty}` })
    .transform((list): readonly string[] => [...new Set(list)]);
}

/** Whether two listeners would take the same port: same host, or either on every interface. */
function samePort(a: ListenAddress, b: ListenAddress): boolean {
  const wildcard = (h: string): boolean => h === '0.0.0.0' || h === '::';
  return a.port !== 0 && a.port === b.port && (a.host === b.host || wildcard(a.host) || wildcard(b.host));
}

function isAddress(value: unknown): value is ListenAddress {
  return typeof value === 'object' && value !== null;
}

/** `host:port`, IPv6 in brackets. */
export function formatAddress(address: ListenAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

// ---- sections ------------------------------------------------------------------------------------

const tlsSchema = mapping({
  certFile: filePath({ missing: 'needed when server.tls is present' }).describe('Server certificate (PEM).'),
  keyFile: filePath({ missing: 'needed when server.tls is present' }).describe('Its private key (PEM).'),
  clientCAFile: filePath()
    .optional()
    .describe('When set, clients must present a certificate issued by one of these CAs (mTLS with Gatekeeper).'),
})
  .transform((tls) => ({ certFile: tls.certFile, keyFile: tls.keyFile, clientCAFile: tls.clientCAFile }))
  .describe('TLS for the Gatekeeper HTTP(S) endpoints and gRPC; absent serves plain HTTP (development only).');

const serverSchema = mapping({
  address: listenAddress()
    .prefault(DEFAULT_SERVER_ADDRESS)
    .describe(
      'The Gatekeeper HTTP(S) endpoints, host:port. The default serves only the local host; in a cluster use 0.0.0.0:8443. Port 0 picks any free port.',
    ),
  grpcAddress: listenAddress().optional().describe('The gRPC service, host:port; absent disables it.'),
  healthAddress: listenAddress()
    .optional()
    .describe(
      'Extension. A plain-HTTP listener serving only GET /healthz, /readyz and /metrics, for kubelet probes and Prometheus; absent: those are served on address only.',
    ),
  tls: tlsSchema.optional(),
  requestTimeoutMs: integer(1, MAX_REQUEST_TIMEOUT_MS)
    .default(DEFAULT_REQUEST_TIMEOUT_MS)
    .describe("Budget for one /v1/verify request (and gRPC Verify), in ms. Keep it below the Provider's spec.timeout (2 s)."),
  mutateTimeoutMs: integer(1, MAX_REQUEST_TIMEOUT_MS)
    .optional()
    .describe('Extension. Budget for one /v1/mutate request, in ms; default: requestTimeoutMs.'),
  keepAliveTimeoutMs: integer(0, 600_000)
    .default(DEFAULT_KEEP_ALIVE_TIMEOUT_MS)
    .describe('Extension. How long a connection stays open idle after an answer, in ms (Gatekeeper never reuses one).'),
  maxConnections: integer(1, 1_000_000)
    .default(DEFAULT_MAX_CONNECTIONS)
    .describe('Extension. Most connections open at once; at the cap idle ones are closed first, then new ones are refused.'),
  maxRequestBytes: integer(1, 64 * 1024 * 1024)
    .default(DEFAULT_MAX_REQUEST_BYTES)
    .describe('Extension. Largest request body accepted, in bytes.'),
  maxKeys: integer(1, 100_000).default(DEFAULT_MAX_KEYS).describe('Extension. Most keys (image references) in one request.'),
})
  .superRefine((server, ctx) => {
    // Refinements run also when a field failed; only compare addresses that parsed.
    if (!isAddress(server.address)) return;
    if (isAddress(server.grpcAddress) && samePort(server.grpcAddress, server.address)) {
      ctx.addIssue({
        code: 'custom',
        path: ['grpcAddress'],
        message: `must differ from server.address (${formatAddress(server.address)}): both cannot listen on the same port`,
      });
    }
    if (!isAddress(server.healthAddress)) return;
    for (const name of ['address', 'grpcAddress'] as const) {
      const other = server[name];
      if (isAddress(other) && samePort(server.healthAddress, other)) {
        ctx.addIssue({
          code: 'custom',
          path: ['healthAddress'],
          message: `must differ from server.${name} (${formatAddress(other)}): both cannot listen on the same port`,
        });
        return;
      }
    }
  })
  .transform((server) => ({
    address: server.address,
    grpcAddress: server.grpcAddress,
    healthAddress: server.healthAddress,
    tls: server.tls,
    requestTimeoutMs: server.requestTimeoutMs,
    mutateTimeoutMs: server.mutateTimeoutMs ?? server.requestTimeoutMs,
    keepAliveTimeoutMs: server.keepAliveTimeoutMs,
    maxConnections: server.maxConnections,
    maxRequestBytes: server.maxRequestBytes,
    maxKeys: server.maxKeys,
  }))
  .prefault({})
  .describe('The provider endpoints (optional as a whole).');

/** A JSON Schema for "this key is present" (declared too, as strict validators such as Ajv's want). */
function requires(key: string): Record<string, unknown> {
  return { required: [key], properties: { [key]: {} } };
}

/** A dotted OID, as Fulcio's certificate extensions are named (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md). */
const DOTTED_OID = /^[0-9]+(\.[0-9]+)+$/;

const cosignIdentitySchema = mapping({
  subject: text().optional().describe("The certificate's subject alternative name, exactly (an e-mail address or a URI)."),
  subjectRegExp: text()
    .superRefine((value, ctx) => {
      try {
        new RegExp(`^(?:${value})$`);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${(error as Error).message}`, input: value });
      }
    })
    .optional()
    .describe(
      'A JavaScript regular expression the whole subject alternative name must match (vouch anchors it: ^(?:…)$). Not together with subject.',
    ),
  issuer: text({ missing: 'the OIDC issuer the certificate must name' }).describe(
    'The OIDC issuer of the certificate (Fulcio extension 1.3.6.1.4.1.57264.1.1 or .8), exactly.',
  ),
  extensions: z
    .record(
      z
        .string({ error: 'must be a dotted OID' })
        .regex(DOTTED_OID, { error: (issue) => `${describeValue(issue.input)} is not a dotted OID` }),
      text(),
      { error: wrongType('a mapping of dotted OID to value') },
    )
    .optional()
    .describe('Further Fulcio certificate extensions the certificate must carry, dotted OID → exact value.'),
})
  .superRefine((identity, ctx) => {
    if ((identity.subject === undefined) === (identity.subjectRegExp === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: identity.subject === undefined ? [] : ['subjectRegExp'],
        message: 'give exactly one of subject and subjectRegExp',
        params: identity.subject === undefined ? {} : { at: 'key' },
      });
    }
  })
  .transform((identity): CosignIdentity => ({
    ...(identity.subject !== undefined ? { subject: identity.subject } : {}),
    ...(identity.subjectRegExp !== undefined ? { subjectRegExp: identity.subjectRegExp } : {}),
    issuer: identity.issuer,
    ...(identity.extensions !== undefined ? { extensions: { ...identity.extensions } } : {}),
  }))
  // The one-of rule is a refinement, which JSON Schema cannot see; say it there too.
  .meta({ oneOf: [requires('subject'), requires('subjectRegExp')] })
  .describe('A keyless signer: its certificate identity (subject or subjectRegExp) and OIDC issuer.');

const cosignSchema = mapping({
  keys: z
    .array(filePath(), { error: wrongType('a list of file paths') })
    .min(1, { error: 'must list at least one key file (remove the key when there is none)' })
    .optional()
    .describe('PEM public keys (ECDSA P-256/P-384, RSA, Ed25519) that key-based signatures (cosign sign --key) may be made with.'),
  trustedRoot: filePath()
    .optional()
    .describe(
      'A Sigstore trusted_root.json (Fulcio CAs, Rekor keys, CT logs, TSAs), as cosign and sigstore distribute it; needed for identities and for requireTlog.',
    ),
  identities: z
    .array(cosignIdentitySchema, { error: wrongType('a list') })
    .min(1, { error: 'must list at least one identity (remove the key when there is none)' })
    .optional()
    .describe(
      'Keyless signers (Fulcio certificates), checked against trustedRoot; a keyless signature always needs a log entry or timestamp.',
    ),
  requireTlog: boolean()
    .default(false)
    .describe(
      'Key-based signatures must carry a transparency log (Rekor) entry verified with trustedRoot. Off by default: key-based signing without a log is common in air-gapped setups.',
    ),
})
  .superRefine((cosign, ctx) => {
    if (cosign.keys === undefined && cosign.identities === undefined) {
      ctx.addIssue({ code: 'custom', path: [], message: 'give keys, identities or both: without either no cosign signature can verify' });
    }
    if (cosign.trustedRoot === undefined) {
      if (cosign.identities !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['identities'],
          message: 'keyless identities need trustedRoot (the Fulcio CAs and Rekor keys they are checked against)',
          params: { at: 'key' },
        });
      }
      if (cosign.requireTlog === true) {
        ctx.addIssue({
          code: 'custom',
          path: ['requireTlog'],
          message: 'requireTlog needs trustedRoot (the Rekor keys that verify a log entry)',
          params: { at: 'key' },
        });
      }
    }
  })
  .transform((cosign): CosignEntry => ({
    keys: cosign.keys ?? [],
    trustedRoot: cosign.trustedRoot,
    identities: cosign.identities ?? [],
    requireTlog: cosign.requireTlog,
  }))
  .meta({ anyOf: [requires('keys'), requires('identities')], dependentRequired: { identities: ['trustedRoot'] } })
  .describe(
    'Extension. Cosign signatures (https://github.com/sigstore/cosign) this environment trusts: public keys, keyless identities, or both.',
  );

const environmentSchema = mapping(
  {
    trustPolicy: filePath()
      .optional()
      .describe('A Notary Project OCI trust policy document, the same file notation uses. Together with trustStore.'),
    trustStore: filePath()
      .optional()
      .describe('A Notary Project trust store directory, holding x509/{ca,signingAuthority,tsa}/NAME/. Together with trustPolicy.'),
    cosign: cosignSchema.optional(),
    policy: filePath()
      .refine((value) => POLICY_FILE_SUFFIXES.some((suffix) => value.endsWith(suffix)), {
        error: (issue) =>
          `${describeValue(issue.input)} is not a decision policy file: expected a .wasm module, an OPA bundle .tar.gz or a .rego file`,
      })
      .optional()
      .describe(
        'Extension. A decision policy (docs/policies.md) that decides `verified` from the signature reports instead of the built-in rule (one trusted signature suffices): a .wasm module, an OPA bundle .tar.gz, or a .rego file compiled with opa at start. Reloaded when the file changes.',
      ),
  },
  { noValue: 'has no value: expected a mapping with trustPolicy and trustStore, or cosign' },
)
  .superRefine((environment, ctx) => {
    // The Notary part is both files or neither; an environment trusts something.
    const hasPolicy = environment.trustPolicy !== undefined;
    const hasStore = environment.trustStore !== undefined;
    if (hasPolicy !== hasStore) {
      ctx.addIssue({
        code: 'custom',
        path: [hasPolicy ? 'trustStore' : 'trustPolicy'],
        message: `required key is missing (trustPolicy and trustStore go together)`,
        params: { issue: 'missing_key' },
      });
    } else if (!hasPolicy && environment.cosign === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: 'an environment needs a Notary part (trustPolicy and trustStore), a cosign part, or both',
        params: { issue: 'missing_key' },
      });
    }
  })
  .meta({
    dependentRequired: { trustPolicy: ['trustStore'], trustStore: ['trustPolicy'] },
    anyOf: [requires('trustPolicy'), requires('cosign')],
  });

/** An environment's cosign part (paths as written; parse.ts resolves them). */
export interface CosignEntry {
  /** Public key files. */
  keys: string[];
  trustedRoot: string | undefined;
  identities: CosignIdentity[];
  requireTlog: boolean;
}

interface EnvironmentEntry {
  name: string;
  /** The Notary part: both or neither. */
  trustPolicy: string | undefined;
  trustStore: string | undefined;
  /** The cosign part, when the environment trusts cosign signatures. */
  cosign: CosignEntry | undefined;
  /** The decision policy file, when the environment names one. */
  policy: string | undefined;
}

const ENVIRONMENT_NAME_RULE = `invalid environment name: names are 1 to ${MAX_ENVIRONMENT_NAME_LENGTH} characters of [a-z0-9_.-] starting with a letter or digit`;

const environmentsSchema = z
  .record(
    z
      .string({ error: ENVIRONMENT_NAME_RULE })
      .max(MAX_ENVIRONMENT_NAME_LENGTH, { error: ENVIRONMENT_NAME_RULE })
      .regex(ENVIRONMENT_NAME, { error: ENVIRONMENT_NAME_RULE }),
    environmentSchema,
    { error: wrongType('a mapping', { missing: 'at least one environment must be configured' }) },
  )
  .refine((environments) => Object.keys(environments).length > 0, { error: 'at least one environment must be configured' })
  .transform((environments) => {
    // A Map, so a key from a request can never hit an Object.prototype member. In file order.
    const out = new Map<string, EnvironmentEntry>();
    for (const [name, environment] of Object.entries(environments)) {
      out.set(name, {
        name,
        trustPolicy: environment.trustPolicy,
        trustStore: environment.trustStore,
        cosign: environment.cosign,
        policy: environment.policy,
      });
    }
    return out as ReadonlyMap<string, EnvironmentEntry>;
  })
  // The emptiness check is a refinement, which JSON Schema cannot see; say it there too.
  .meta({ minProperties: 1 })
  .describe(
    'Required, at least one: environment name → its trust material. Names are 1 to 63 characters of [a-z0-9_.-] starting with a letter or digit.',
  );

const NETWORK_KEYS = ['plainHttp', 'username', 'password', 'passwordFromEnv'] as const;

const registrySchema = mapping({
  plainHttp: boolean().optional().meta({ default: false, description: 'Speak HTTP, not HTTPS, to this host.' }),
  username: text().optional().describe('Basic credentials, also used to obtain bearer tokens. Needs a password.'),
  password: z
    .string({ error: wrongType('a string', { secret: true }) })
    .optional()
    .describe('The password (may be empty). Not together with passwordFromEnv. Never echoed in error messages.'),
  passwordFromEnv: text()
    .regex(ENV_VAR_NAME, { error: (issue) => `${JSON.stringify(issue.input)} is not an environment variable name` })
    .optional()
    .describe(
      'Extension. The environment variable holding the password, read when the configuration is loaded, so secrets stay out of ConfigMaps.',
    ),
  ociLayout: filePath()
    .optional()
    .describe(
      "Extension. Serve this host's content from an OCI image layout directory instead of the network (air-gapped use, the demo). Excludes the network options.",
    ),
}).superRefine((registry, ctx) => {
  const key = (name: string, message: string): void => {
    ctx.addIssue({ code: 'custom', path: [name], message, params: { at: 'key' } });
  };
  if (registry.password !== undefined && registry.passwordFromEnv !== undefined) {
    key('passwordFromEnv', 'give either password or passwordFromEnv, not both');
  }
  const hasPassword = registry.password !== undefined || registry.passwordFromEnv !== undefined;
  if (registry.username !== undefined && !hasPassword) key('username', 'a username needs a password (password or passwordFromEnv)');
  if (registry.username === undefined && hasPassword) {
    key(registry.passwordFromEnv !== undefined ? 'passwordFromEnv' : 'password', 'a password needs a username');
  }
  if (registry.ociLayout !== undefined) {
    for (const name of NETWORK_KEYS) {
      if (registry[name] !== undefined) {
        key(name, 'does not apply with ociLayout (content is read from the layout directory, not the network)');
      }
    }
  }
});

interface RegistryEntry {
  host: string;
  plainHttp: boolean;
  username: string | undefined;
  /** The password, from `password` or (after loading) from the environment variable `passwordFromEnv`. */
  password: string | undefined;
  /** The variable the password came from, when it came from one. */
  passwordFromEnv: string | undefined;
  ociLayout: string | undefined;
}

const registriesSchema = z
  .record(
    z.string().superRefine((key, ctx) => {
      const host = canonicalRegistryHost(key);
      if (typeof host !== 'string') ctx.addIssue({ code: 'custom', message: host.error, input: key });
    }),
    registrySchema,
    { error: wrongType('a mapping') },
  )
  .superRefine((registries, ctx) => {
    const seen = new Map<string, string>();
    for (const key of Object.keys(registries)) {
      const host = canonicalRegistryHost(key);
      if (typeof host !== 'string') continue;
      const previous = seen.get(host);
      if (previous !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `names the same registry host as ${JSON.stringify(previous)} (${host})`,
          params: { at: 'key' },
        });
      }
      seen.set(host, key);
    }
  })
  .transform((registries) => {
    // Keyed by canonical host[:port] (lowercase, Docker Hub's aliases folded into registry-1.docker.io).
    const out = new Map<string, RegistryEntry>();
    for (const [key, registry] of Object.entries(registries)) {
      const host = canonicalRegistryHost(key) as string;
      out.set(host, {
        host,
        plainHttp: registry.plainHttp ?? false,
        username: registry.username,
        password: registry.password,
        passwordFromEnv: registry.passwordFromEnv,
        ociLayout: registry.ociLayout,
      });
    }
    return out as ReadonlyMap<string, RegistryEntry>;
  })
  .describe(
    'Per registry host, keyed by host[:port] as image references name it (canonicalised: lowercase, docker.io and index.docker.io mean registry-1.docker.io).',
  );

const sharedCacheSchema = mapping({
  url: z
    .string({ error: wrongType('a string redis://host:port or rediss://host:port', { missing: 'needed when cache.shared is present' }) })
    .refine((value) => /^rediss?:\/\/[^\s]+$/.test(value) && URL.canParse(value), {
      error: 'must be a redis:// or rediss:// (TLS) URL, e.g. redis://redis.vouch-system:6379',
    })
    .describe('Redis or Valkey to share results through: redis://host:port or rediss://host:port (TLS); a /N path selects database N.'),
  keyFile: filePath({ missing: 'needed when cache.shared is present: the HMAC key (a mounted Secret)' }).describe(
    'File holding the HMAC-SHA256 key that authenticates entries (at least 32 bytes; a mounted Secret). It signs new entries.',
  ),
  previousKeyFiles: z
    .array(filePath(), { error: wrongType('a list of file paths') })
    .optional()
    .describe('Keys that still verify entries but sign none, while a new keyFile rolls out to every replica (rotation).'),
  passwordFile: filePath().optional().describe("File holding Redis's password (AUTH); instead of one in the URL."),
  username: text().optional().describe('Redis ACL user name (AUTH), with passwordFile.'),
  caFile: filePath().optional().describe('CA certificates (PEM) that verify the server of a rediss:// URL, instead of the system ones.'),
  keyPrefix: text()
    .default(DEFAULT_SHARED_CACHE.keyPrefix)
    .describe('Prefix of every Redis key vouch writes (keys are this plus a SHA-256 hex digest).'),
  commandTimeoutMs: integer(1, 10_000)
    .default(DEFAULT_SHARED_CACHE.commandTimeoutMs)
    .describe('Longest one Redis command may take, in ms; a slower one counts as a miss and a failure.'),
  maxPending: integer(1, 100_000)
    .default(DEFAULT_SHARED_CACHE.maxPending)
    .describe('Redis commands in flight at most; beyond it, look-ups are misses and writes are dropped.'),
  failureThreshold: integer(1, 1_000)
    .default(DEFAULT_SHARED_CACHE.failureThreshold)
    .describe('Consecutive failed commands after which Redis is skipped for coolDownMs (circuit breaker).'),
  coolDownMs: integer(1, DAY_MS)
    .default(DEFAULT_SHARED_CACHE.coolDownMs)
    .describe('How long Redis is skipped after failureThreshold failures, before one probe command.'),
}).describe(
  'Extension. A result cache shared by replicas on Redis/Valkey, entries authenticated with an HMAC key; the local cache stays in front and a Redis outage falls back to it (docs/reliability.md "Several replicas").',
);

const cacheSchema = mapping({
  maxEntries: integer(0, 100_000_000)
    .default(DEFAULT_VERIFICATION_CACHE.maxEntries)
    .describe('Cached verification results at most; 0 disables the cache.'),
  maxBytes: integer(0, Number.MAX_SAFE_INTEGER)
    .default(DEFAULT_VERIFICATION_CACHE.maxBytes)
    .describe('Estimated bytes of cached results at most.'),
  undecidedTtlMs: integer(0, DAY_MS)
    .default(DEFAULT_VERIFICATION_CACHE.undecidedTtlMs)
    .describe('How long undecided outcomes (registry unreachable, auth, …) are cached, in ms; 0: never.'),
  tagTtlMs: integer(0, DAY_MS)
    .default(DEFAULT_VERIFICATION_CACHE.tagTtlMs)
    .describe("How long a tag's resolution to a digest is reused, in ms; 0 resolves every time. Shorter is safer."),
  shared: sharedCacheSchema.optional(),
})
  .prefault({})
  .describe('Extension. Bounds of the verification result cache.');

const registryRequestsSchema = mapping({
  maxInFlight: integer(1, 1024)
    .default(DEFAULT_REGISTRY_REQUEST_LIMITS.maxInFlight)
    .describe(
      'HTTP requests in flight to one registry host at most. The limit adapts below it: halved on each 429 (or 503 with Retry-After), down to 1, and raised by one per window of successful answers.',
    ),
  maxRetries: integer(0, 10)
    .default(DEFAULT_REGISTRY_REQUEST_LIMITS.maxRetries)
    .describe('Times one request is sent again after a 429 (or a 503 with Retry-After).'),
  maxRetryAfterMs: integer(0, 3_600_000)
    .default(DEFAULT_REGISTRY_REQUEST_LIMITS.maxRetryAfterMs)
    .describe("Longest Retry-After honoured, in ms: a registry's longer (or unreadable) value is cut to this."),
  maxRetryWaitMs: integer(0, 600_000)
    .default(DEFAULT_REGISTRY_REQUEST_LIMITS.maxRetryWaitMs)
    .describe(
      'Longest total wait for the retries of one request, in ms; past it the request fails REGISTRY_UNAVAILABLE (reason RATE_LIMITED), never a verdict.',
    ),
})
  .prefault({})
  .describe('Extension. Pacing of HTTP requests per registry host and retries of throttled ones (429 with or without Retry-After).');

const limitsSchema = mapping({
  concurrencyPerRegistry: integer(1, 256)
    .default(DEFAULT_BACKGROUND_LIMITS.concurrencyPerRegistry)
    .describe('Verifications running at once against one registry host.'),
  maxConcurrent: integer(1, 4096)
    .default(DEFAULT_BACKGROUND_LIMITS.maxConcurrent)
    .describe('Background jobs running at once over all registry hosts; a freed slot goes round-robin to hosts with queued jobs.'),
  maxPendingPerRegistry: integer(1, 1_000_000)
    .default(DEFAULT_BACKGROUND_LIMITS.maxPendingPerRegistry)
    .describe('Background jobs (verifications and tag resolutions, running or queued) for one registry host.'),
  maxPending: integer(1, 1_000_000).default(DEFAULT_BACKGROUND_LIMITS.maxPending).describe('Background jobs over all registry hosts.'),
  policyTimeoutMs: integer(1, 10_000)
    .default(DEFAULT_POLICY_LIMITS.timeoutMs)
    .describe(
      "Longest one evaluation of an environment's decision policy (policy:) may run, in ms; past it the key is answered POLICY_ERROR (reason TIMEOUT).",
    ),
  registryRequests: registryRequestsSchema,
})
  .prefault({})
  .describe(
    'Extension. Bounds on background registry work; a key that would start a job beyond them is answered DEADLINE_EXCEEDED (reason OVERLOADED).',
  );

const revocationSchema = mapping({
  offline: boolean()
    .default(DEFAULT_REVOCATION_OFFLINE)
    .describe('Never contact OCSP responders or CRL distribution points; only cached or local CRLs are used.'),
  crlDirectory: filePath()
    .optional()
    .describe('A directory of CRL files (DER or PEM) used before the network, or instead of it when offline.'),
  timestampRevocation: z
    .enum(['check', 'skip'], { error: wrongType('one of "check", "skip"') })
    .default(DEFAULT_TIMESTAMP_REVOCATION)
    .describe('Whether TSA certificate chains are checked for revocation.'),
  allowedHosts: hostPatterns('host (remove the key to allow none)')
    .optional()
    .describe(
      'Extension. Hosts (same patterns as allowedRegistries) of OCSP responders and CRL distribution points, and of each redirect hop, that revocation checking may contact besides the hosts of allowedRegistries and allowedRedirects. Only consulted when allowedRegistries is set (without it every host is allowed). Link-local and cloud metadata addresses stay refused unless listed exactly.',
    ),
})
  .transform((revocation) => ({
    offline: revocation.offline,
    crlDirectory: revocation.crlDirectory,
    timestampRevocation: revocation.timestampRevocation,
    allowedHosts: revocation.allowedHosts,
  }))
  .prefault({})
  .describe('Extension. How certificate revocation is checked (OCSP, then CRLs).');

// ---- plugins ---------------------------------------------------------------------------------------
// Notary Project plugins (https://github.com/notaryproject/specifications/blob/v1.1.0/specs/plugin-extensibility.md):
// where they are installed, the bounds a plugin process runs under, and the plugin configuration
// sent with each request per environment (what `notation verify --plugin-config` passes).

/** Defaults of the plugin host (src/notation, PluginHostOptions); timeoutMs is also bounded by the request budget (below). */
export const DEFAULT_PLUGINS = Object.freeze({
  timeoutMs: DEFAULT_PLUGIN_TIMEOUT_MS,
  maxConcurrent: DEFAULT_PLUGIN_MAX_CONCURRENT,
  maxOutputBytes: DEFAULT_PLUGIN_MAX_OUTPUT_BYTES,
  metadataTtlMs: DEFAULT_PLUGIN_METADATA_TTL_MS,
});
const MAX_PLUGIN_TIMEOUT_MS = 60_000;
const MAX_PASS_ENVIRONMENT = 256;
/** Plugin configuration keys: notation passes them as `--plugin-config key=value`, so no "="; no control characters (\x escapes: Helm checks the generated pattern with Go's RE2, which has no \u). */
const PLUGIN_CONFIG_KEY = /^[^=\x00-\x1f\x7f]{1,256}$/;

/**
 * The default plugins.timeoutMs: the plugin host's default when it is below server.requestTimeoutMs
 * (a command runs inside a request's deadline), else half of requestTimeoutMs.
 */
export function defaultPluginTimeoutMs(requestTimeoutMs: number): number {
  return DEFAULT_PLUGINS.timeoutMs < requestTimeoutMs ? DEFAULT_PLUGINS.timeoutMs : Math.max(1, Math.floor(requestTimeoutMs / 2));
}

const envVarName = () =>
  text().regex(ENV_VAR_NAME, { error: (issue) => `${JSON.stringify(issue.input)} is not an environment variable name` });

/** A secret plugin configuration value: read from an environment variable when the configuration is loaded. */
const pluginSecretSchema = mapping({
  fromEnv: envVarName().describe('The environment variable holding the value, read at load; unset or empty is an error. Never echoed.'),
});

/** A plugin configuration value: a string, or { fromEnv: VARIABLE }. Values are described by type only in messages. */
const pluginConfigValueSchema = z
  .union([z.string(), pluginSecretSchema], {
    // The union's own issue (no branch fits the input's type); wrongType reads only the input.
    error: (issue) => wrongType('a string or a mapping { fromEnv: VARIABLE }', { secret: true })({ input: issue.input }),
  })
  .describe('A string, or { fromEnv: VARIABLE } for a secret read from the environment at load.');

/** One plugin configuration entry after the schema: a literal value, or the variable a secret comes from. */
export type PluginConfigSource = { value: string } | { fromEnv: string };

const pluginConfigSchema = z
  .record(
    z.string().regex(ENVIRONMENT_NAME, { error: ENVIRONMENT_NAME_RULE }).max(MAX_ENVIRONMENT_NAME_LENGTH, { error: ENVIRONMENT_NAME_RULE }),
    z.record(
      z.string().regex(PLUGIN_NAME, {
        error: (issue) =>
          `${describeValue(issue.input)} is not a plugin name (1 to 128 characters of [A-Za-z0-9._-], starting with a letter or digit)`,
      }),
      z.record(
        z.string().regex(PLUGIN_CONFIG_KEY, {
          error: 'a plugin configuration key is 1 to 256 characters without "=" or control characters',
        }),
        pluginConfigValueSchema,
        { error: wrongType('a mapping of key to value') },
      ),
      { error: wrongType('a mapping of plugin name to its configuration') },
    ),
    { error: wrongType('a mapping of environment name to plugins') },
  )
  .transform((byEnvironment) => {
    const out = new Map<string, ReadonlyMap<string, ReadonlyMap<string, PluginConfigSource>>>();
    for (const [environment, byPlugin] of Object.entries(byEnvironment)) {
      const plugins = new Map<string, ReadonlyMap<string, PluginConfigSource>>();
      for (const [plugin, values] of Object.entries(byPlugin)) {
        const entries = new Map<string, PluginConfigSource>();
        for (const [key, value] of Object.entries(values)) {
          entries.set(key, typeof value === 'string' ? { value } : { fromEnv: value.fromEnv });
        }
        plugins.set(plugin, entries);
      }
      out.set(environment, plugins);
    }
    return out as ReadonlyMap<string, ReadonlyMap<string, ReadonlyMap<string, PluginConfigSource>>>;
  })
  .describe(
    'Per environment (a configured one), per plugin name: the plugin configuration sent with its requests (the pluginConfig of the plugin protocol, as notation verify --plugin-config passes it).',
  );

const pluginsSchema = mapping({
  directory: filePath({ missing: 'needed when plugins is present: the directory holding <name>/notation-<name>' }).describe(
    "The plugin directory, in notation's layout: the plugin NAME is the executable <directory>/NAME/notation-NAME. Never a PATH lookup.",
  ),
  timeoutMs: integer(1, MAX_PLUGIN_TIMEOUT_MS)
    .optional()
    .describe(
      `Longest one plugin command may take, in ms (waiting for a slot included); must be less than server.requestTimeoutMs. Default: ${DEFAULT_PLUGIN_TIMEOUT_MS}, or half of server.requestTimeoutMs when that is not more.`,
    ),
  maxConcurrent: integer(1, 256).default(DEFAULT_PLUGINS.maxConcurrent).describe('Plugin processes running at once, over all plugins.'),
  maxOutputBytes: integer(4096, 64 * 1024 * 1024)
    .default(DEFAULT_PLUGINS.maxOutputBytes)
    .describe('Most bytes one command may write to stdout, and to stderr; more is a failure (PLUGIN_ERROR, reason BAD_OUTPUT).'),
  metadataTtlMs: integer(0, DAY_MS)
    .default(DEFAULT_PLUGINS.metadataTtlMs)
    .describe("How long a plugin's get-plugin-metadata answer is reused, in ms; 0 asks before every command."),
  passEnvironment: z
    .array(envVarName(), { error: wrongType('a list of environment variable names') })
    .max(MAX_PASS_ENVIRONMENT, { error: `must list at most ${MAX_PASS_ENVIRONMENT} variables` })
    .default([])
    .transform((names): readonly string[] => [...new Set(names)])
    .describe(
      `Environment variables copied into a plugin process's environment, which otherwise holds only PATH=${PLUGIN_PATH} (e.g. a cloud SDK's region or identity token file).`,
    ),
  config: pluginConfigSchema.optional(),
}).describe(
  'Extension. Notary Project plugins (notation-<name> executables) that signatures naming a verification plugin need (docs/configuration.md "plugins"); absent: no plugin is ever run, and such signatures cannot be verified.',
);

/** The plugins section after the schema (paths as written, secrets not yet read; parse.ts completes it). */
interface PluginsEntry extends PluginsSettings {
  config: ReadonlyMap<string, ReadonlyMap<string, ReadonlyMap<string, PluginConfigSource>>>;
}

/** Where plugins are and the bounds they run under: the same before and after loading. */
interface PluginsSettings {
  directory: string;
  timeoutMs: number;
  maxConcurrent: number;
  maxOutputBytes: number;
  metadataTtlMs: number;
  passEnvironment: readonly string[];
}

/**
 * The plugins section of a loaded configuration: the directory absolute, secrets read. `config` is
 * environment → plugin name → the plugin configuration for its requests; `secretKeys` names, in the
 * same shape, the keys whose values came from `fromEnv`, so logs can redact them (redactPluginConfig).
 */
export interface PluginsConfig extends PluginsSettings {
  config: ReadonlyMap<string, ReadonlyMap<string, Readonly<Record<string, string>>>>;
  secretKeys: ReadonlyMap<string, ReadonlyMap<string, ReadonlySet<string>>>;
}

/** What logs may show of a plugin's configuration in an environment: secret values replaced by "(secret)". */
export function redactPluginConfig(plugins: PluginsConfig, environment: string, plugin: string): Record<string, string> {
  const config = plugins.config.get(environment)?.get(plugin) ?? {};
  const secrets = plugins.secretKeys.get(environment)?.get(plugin);
  return Object.fromEntries(Object.entries(config).map(([key, value]) => [key, secrets?.has(key) === true ? '(secret)' : value]));
}

// ---- the file ------------------------------------------------------------------------------------

/** The whole file. Its input type is what the file holds; its output, the configuration (paths still as written). */
export const vouchConfigSchema = mapping({
  server: serverSchema,
  defaultEnvironment: text()
    .optional()
    .describe('The environment for keys without an [environment] prefix; may be left out when exactly one environment is configured.'),
  environments: environmentsSchema,
  registries: registriesSchema.optional(),
  allowedRegistries: hostPatterns('registry (remove the key to allow every registry)')
    .optional()
    .describe('Extension. Registry hosts or patterns (*.example.com, *) that may be contacted; absent allows every host.'),
  allowedTokenRealms: hostPatterns('host (remove the key to allow none)', {
    // "*" would hand every registry's credentials to any host a challenge names.
    noStar: 'would send registry credentials to any host a registry names; list the token service hosts',
  })
    .optional()
    .describe(
      "Extension. Hosts a registry's Bearer challenge may name as its token realm besides the registry host, and which may receive its credentials (* is refused).",
    ),
  allowedRedirects: hostPatterns('host (remove the key to allow none)')
    .optional()
    .describe('Extension. Hosts a redirect may lead to besides allowedRegistries, typically blob storage.'),
  cache: cacheSchema,
  limits: limitsSchema,
  revocation: revocationSchema,
  plugins: pluginsSchema.optional(),
})
  .superRefine((config, ctx) => {
    // Refinements run also when a field failed: compare only values that parsed.
    const plugins = config.plugins;
    const requestTimeoutMs = config.server?.requestTimeoutMs;
    const timeoutMs = plugins?.timeoutMs;
    const inRange = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= MAX_PLUGIN_TIMEOUT_MS;
    if (inRange(timeoutMs) && inRange(requestTimeoutMs)) {
      // A plugin command runs inside one request's deadline (server.requestTimeoutMs); one that may
      // take the whole budget leaves none for the registry, and the key would miss its deadline.
      if (timeoutMs >= requestTimeoutMs) {
        ctx.addIssue({
          code: 'custom',
          path: ['plugins', 'timeoutMs'],
          message: `must be less than server.requestTimeoutMs (${requestTimeoutMs}): a plugin command runs inside a request's deadline`,
        });
      }
    }
    if (plugins?.config instanceof Map && config.environments instanceof Map) {
      for (const name of plugins.config.keys()) {
        if (!config.environments.has(name)) {
          ctx.addIssue({
            code: 'custom',
            path: ['plugins', 'config', name],
            message: `${JSON.stringify(name)} is not a configured environment (configured: ${[...config.environments.keys()].join(', ')})`,
            params: { at: 'key' },
          });
        }
      }
    }
  })
  .superRefine((config, ctx) => {
    // Refinements run also when a field failed: without valid environments there is nothing to check.
    if (!(config.environments instanceof Map)) return;
    const names = [...config.environments.keys()];
    if (config.defaultEnvironment === undefined) {
      if (names.length !== 1) {
        ctx.addIssue({
          code: 'custom',
          path: ['defaultEnvironment'],
          message: `required when more than one environment is configured (one of: ${names.join(', ')})`,
        });
      }
    } else if (!config.environments.has(config.defaultEnvironment)) {
      ctx.addIssue({
        code: 'custom',
        path: ['defaultEnvironment'],
        message: `${JSON.stringify(config.defaultEnvironment)} is not a configured environment (configured: ${names.join(', ')})`,
      });
    }
  })
  .transform((config) => ({
    server: config.server,
    defaultEnvironment: config.defaultEnvironment ?? [...config.environments.keys()][0]!,
    environments: config.environments,
    registries: config.registries ?? (new Map() as ReadonlyMap<string, RegistryEntry>),
    allowedRegistries: config.allowedRegistries,
    allowedTokenRealms: config.allowedTokenRealms,
    allowedRedirects: config.allowedRedirects,
    cache: config.cache,
    limits: config.limits,
    revocation: config.revocation,
    plugins:
      config.plugins === undefined
        ? undefined
        : ({
            directory: config.plugins.directory,
            timeoutMs: config.plugins.timeoutMs ?? defaultPluginTimeoutMs(config.server.requestTimeoutMs),
            maxConcurrent: config.plugins.maxConcurrent,
            maxOutputBytes: config.plugins.maxOutputBytes,
            metadataTtlMs: config.plugins.metadataTtlMs,
            passEnvironment: config.plugins.passEnvironment,
            config: config.plugins.config ?? new Map(),
          } satisfies PluginsEntry),
  }))
  .describe('The vouch configuration file (docs/configuration.md).');

/** What a configuration file holds (before defaults): the type of the JSON Schema. */
export type VouchConfigFile = z.input<typeof vouchConfigSchema>;

/**
 * A validated configuration: defaults applied, registry hosts and patterns canonical, paths absolute
 * (resolved against the file's directory), passwords from `passwordFromEnv` read.
 */
export type VouchConfig = { /** Absolute path of the configuration file. */ file: string } & Omit<
  z.output<typeof vouchConfigSchema>,
  'plugins'
> & {
    /** Notary Project plugins; undefined when the file has no plugins section. */
    plugins: PluginsConfig | undefined;
  };
export type ServerConfig = VouchConfig['server'];
export type ServerTlsConfig = NonNullable<ServerConfig['tls']>;
export type EnvironmentConfig = VouchConfig['environments'] extends ReadonlyMap<string, infer E> ? E : never;
export type CosignConfig = CosignEntry;
export type RegistryConfig = RegistryEntry;
export type CacheConfig = VouchConfig['cache'];
export type SharedCacheConfig = NonNullable<CacheConfig['shared']>;
export type LimitsConfig = VouchConfig['limits'];
export type RevocationConfig = VouchConfig['revocation'];

// The defaults as values, for callers that want them without parsing (all owned elsewhere).
export { DEFAULT_SERVER_ADDRESS, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_KEEP_ALIVE_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS };
export { MAX_REQUEST_TIMEOUT_MS, DEFAULT_MAX_REQUEST_BYTES, DEFAULT_MAX_KEYS };
export const DEFAULT_CACHE: Readonly<CacheConfig> = Object.freeze(cacheSchema.parse({}));
export const DEFAULT_LIMITS: Readonly<LimitsConfig> = Object.freeze(limitsSchema.parse({}));
export const DEFAULT_REVOCATION: Readonly<RevocationConfig> = Object.freeze(revocationSchema.parse({}));

/**
 * The JSON Schema (draft 2020-12) of the configuration file, with a description and the default of
 * every key, for editors (yaml-language-server) and other tools. It describes the file: paths are
 * strings as written, relative ones resolved by vouch against the file's directory.
 */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(vouchConfigSchema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' });
  const { $schema, ...rest } = schema;
  return { $schema, title: 'vouch configuration', ...rest };
}
