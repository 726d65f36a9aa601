// The vouch configuration file (docs/configuration.md), YAML or JSON, parsed and validated strictly:
// unknown keys, wrong types and missing required keys are errors naming the key's full path, so a
// typo can never silently weaken trust. Relative paths are resolved against the file's directory.
// Every error is VouchError INVALID_CONFIG with the message `<file>: <path>: <what is wrong>`
// (syntax errors: `<file>:<line>:<col>: …`).

import * as path from 'node:path';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { VouchError } from '../core/index.js';
import { canonicalRegistryHost, canonicalRegistryPattern, parseListenAddress, type ListenAddress } from './hosts.js';
import { findJsonSyntaxError, lineColumn } from './json-syntax.js';

export type { ListenAddress } from './hosts.js';

/** TLS for the Gatekeeper HTTP(S) endpoints and gRPC. Paths are absolute. */
export interface ServerTlsConfig {
  certFile: string;
  keyFile: string;
  /** When set, clients must present a certificate issued by one of these CAs (mTLS). */
  clientCAFile: string | undefined;
}

/**
 * `server:` (optional as a whole).
 *
 * - `address` (default `127.0.0.1:8443`): the Gatekeeper HTTP(S) endpoints. The default only
 *   serves the local host; in a cluster use `0.0.0.0:8443`. Port 0 picks any free port.
 * - `grpcAddress`: the gRPC service; absent disables it.
 * - `healthAddress` (extension): a plain-HTTP listener serving only GET /healthz, /readyz and
 *   /metrics, for kubelet probes and Prometheus, which cannot present client certificates when
 *   mTLS is on. Absent: those endpoints are served on `address` only.
 * - `tls` {certFile, keyFile, clientCAFile?}: absent serves plain HTTP (development only).
 * - `requestTimeoutMs` (default 1500, 1..60000): budget for one /v1/verify request (and gRPC Verify).
 *   Below the `vouch` Provider's `spec.timeout` (2 s) with room for the connection (Gatekeeper opens a
 *   new one per call) and a busy event loop; deploy/README.md "Timeouts".
 * - `mutateTimeoutMs` (extension, default: requestTimeoutMs, 1..60000): budget for one /v1/mutate
 *   request, for a mutating webhook timeout that differs from the validating one.
 * - `keepAliveTimeoutMs` (extension, default 5000, 0..600000): how long a connection stays open idle
 *   after an answer. Gatekeeper never reuses a connection, so each of its calls leaves one socket open
 *   this long.
 * - `maxConnections` (extension, default 1000, 1..1000000): most connections open at once; at the cap,
 *   idle ones are closed first, then new ones are refused (vouch_connections_refused_total).
 * - `maxRequestBytes` (extension, default 1 MiB): largest request body accepted.
 * - `maxKeys` (extension, default 1000): most keys (image references) in one request.
 */
export interface ServerConfig {
  address: ListenAddress;
  grpcAddress: ListenAddress | undefined;
  healthAddress: ListenAddress | undefined;
  tls: ServerTlsConfig | undefined;
  requestTimeoutMs: number;
  mutateTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  maxRequestBytes: number;
  maxKeys: number;
}

/** One entry of `environments:`. Paths are absolute. */
export interface EnvironmentConfig {
  name: string;
  /** A Notary Project OCI trust policy document. */
  trustPolicy: string;
  /** A Notary Project trust store directory: it contains `x509/{ca,signingAuthority,tsa}/NAME/`. */
  trustStore: string;
}

/**
 * One entry of `registries:`, keyed by host[:port] (canonical: lowercase, `docker.io` and
 * `index.docker.io` folded into `registry-1.docker.io`).
 *
 * - `plainHttp`: speak HTTP, not HTTPS, to this host.
 * - `username` + `password`: basic credentials, also used to obtain bearer tokens.
 * - `passwordFromEnv: NAME` (extension): take the password from environment variable NAME, read
 *   when the configuration is loaded, so secrets stay out of ConfigMaps. Not together with `password`.
 * - `ociLayout: DIR` (extension): serve this host's content from an OCI image layout directory
 *   instead of the network (air-gapped use, the offline demo). Excludes the network options.
 */
export interface RegistryConfig {
  host: string;
  plainHttp: boolean;
  username: string | undefined;
  /** The password, from `password` or from the environment variable `passwordFromEnv`. */
  password: string | undefined;
  /** The variable the password came from, when it came from one. */
  passwordFromEnv: string | undefined;
  /** Absolute path of an OCI image layout directory. */
  ociLayout: string | undefined;
}

/**
 * `cache:` (extension) bounds the verification result cache.
 *
 * - `maxEntries` (default 100000; 0 disables the cache), `maxBytes` (default 256 MiB).
 * - `undecidedTtlMs` (default 0 = undecided results, e.g. registry unreachable, are not cached).
 * - `tagTtlMs` (default 10000): how long a tag's resolution to a digest is reused.
 */
export interface CacheConfig {
  maxEntries: number;
  maxBytes: number;
  undecidedTtlMs: number;
  tagTtlMs: number;
}

/**
 * `limits:` (extension) bounds the registry work vouch does in the background for undecided keys,
 * and so the memory a flood of such keys can hold (docs/security.md).
 *
 * - `concurrencyPerRegistry` (default 8, 1..256): verifications running at once against one registry host.
 * - `maxConcurrent` (default 64, 1..4096): background jobs running at once over all registry hosts
 *   (each holds up to two registry connections and bodies); a freed slot goes round-robin to the
 *   hosts with queued jobs.
 * - `maxPendingPerRegistry` (default 256, 1..1000000): background jobs (verifications and tag
 *   resolutions, running or queued) for one registry host.
 * - `maxPending` (default 2048, 1..1000000): background jobs over all registry hosts.
 *
 * A key that would start a job beyond either limit is answered at once with DEADLINE_EXCEEDED
 * (reason OVERLOADED) and starts nothing; a key whose work is already running always joins it.
 */
export interface LimitsConfig {
  concurrencyPerRegistry: number;
  maxConcurrent: number;
  maxPendingPerRegistry: number;
  maxPending: number;
}

/**
 * `revocation:` (extension).
 *
 * - `offline` (default false): never contact OCSP responders or CRL distribution points.
 * - `crlDirectory`: a directory of CRL files (DER or PEM) used before, or offline instead of, the network.
 * - `timestampRevocation` (default `check`): whether TSA certificate chains are checked for revocation.
 * - `allowedHosts` (patterns as allowedRegistries): OCSP responder and CRL distribution point hosts
 *   that may be contacted, and each redirect hop, besides the hosts of allowedRegistries and
 *   allowedRedirects. Only consulted when allowedRegistries is set (without it every host is allowed).
 */
export interface RevocationConfig {
  offline: boolean;
  crlDirectory: string | undefined;
  timestampRevocation: 'check' | 'skip';
  /** Canonical patterns of revocation hosts besides allowedRegistries and allowedRedirects; undefined: none. */
  allowedHosts: readonly string[] | undefined;
}

/**
 * A validated configuration (docs/configuration.md). Extension keys (all optional):
 * `server.maxRequestBytes`, `server.maxKeys`, `allowedRegistries`, `allowedTokenRealms`,
 * `allowedRedirects`, `registries.<host>.ociLayout`, `registries.<host>.passwordFromEnv`, `cache`,
 * `limits`, `revocation`.
 *
 * - `defaultEnvironment` names a configured environment; it may be left out when exactly one
 *   environment is configured, which is then the default.
 * - `environments` (at least one), names matching `[a-z0-9][a-z0-9_.-]*`, each {trustPolicy, trustStore}.
 * - `allowedRegistries` (extension): registry hosts (`host[:port]`) or patterns (`*.example.com`,
 *   `*.example.com:5000`, `*`) that may be contacted; absent allows every host. A key whose registry
 *   is not allowed is answered REGISTRY_NOT_ALLOWED. A pattern without a port only matches hosts
 *   without one.
 * - `allowedTokenRealms` (extension, same syntax, `*` excepted): hosts a registry's Bearer challenge
 *   may name as its token realm besides the registry host itself, and which may receive the
 *   registry's configured credentials (e.g. `auth.docker.io` for Docker Hub). Without it a realm on
 *   another host is only asked anonymously (and only when allowedRegistries is absent or allows
 *   that host); credentials for it are refused (REGISTRY_AUTH). Credentials never go over plain
 *   HTTP unless that exact realm host is configured `plainHttp` under `registries:`.
 * - `allowedRedirects` (extension, same syntax): hosts a redirect may lead to besides the hosts of
 *   allowedRegistries, typically blob storage (`*.s3.amazonaws.com`, `storage.googleapis.com`,
 *   `*.blob.core.windows.net`, `production.cloudflare.docker.com`). Only consulted when
 *   allowedRegistries is set (without it every host is allowed). A redirect elsewhere, or from
 *   https to http, is refused (REGISTRY_NOT_ALLOWED).
 *
 * Link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10, metadata.google.internal, …)
 * are refused for every request, also when a name resolves to one, unless one of the three lists
 * names that exact host (not through a wildcard).
 */
export interface VouchConfig {
  /** Absolute path of the configuration file. */
  file: string;
  server: ServerConfig;
  defaultEnvironment: string;
  /** In file order. A Map, so a key from a request can never hit an Object.prototype member. */
  environments: ReadonlyMap<string, EnvironmentConfig>;
  /** Keyed by canonical host[:port]. */
  registries: ReadonlyMap<string, RegistryConfig>;
  /** Canonical patterns; undefined allows every registry host. */
  allowedRegistries: readonly string[] | undefined;
  /** Canonical patterns of token realm hosts besides the registry's own; undefined: none. */
  allowedTokenRealms: readonly string[] | undefined;
  /** Canonical patterns of redirect targets besides allowedRegistries; undefined: none. */
  allowedRedirects: readonly string[] | undefined;
  cache: CacheConfig;
  limits: LimitsConfig;
  revocation: RevocationConfig;
}

export interface ParseConfigOptions {
  /** Where `passwordFromEnv` variables are read (default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
}

export const DEFAULT_SERVER_ADDRESS = '127.0.0.1:8443';
export const DEFAULT_REQUEST_TIMEOUT_MS = 1500;
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 5000;
export const DEFAULT_MAX_CONNECTIONS = 1000;
export const MAX_REQUEST_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024;
export const DEFAULT_MAX_KEYS = 1000;
export const DEFAULT_CACHE: Readonly<CacheConfig> = Object.freeze({
  maxEntries: 100_000,
  maxBytes: 256 * 1024 * 1024,
  undecidedTtlMs: 0,
  tagTtlMs: 10_000,
});
export const DEFAULT_LIMITS: Readonly<LimitsConfig> = Object.freeze({
  concurrencyPerRegistry: 8,
  maxConcurrent: 64,
  maxPendingPerRegistry: 256,
  maxPending: 2048,
});
export const DEFAULT_REVOCATION: Readonly<RevocationConfig> = Object.freeze({
  offline: false,
  crlDirectory: undefined,
  timestampRevocation: 'check',
  allowedHosts: undefined,
});

/** Environment names: they appear in keys as `[name]`, in metrics labels and in file names. */
export const ENVIRONMENT_NAME = /^[a-z0-9][a-z0-9_.-]*$/;
const MAX_ENVIRONMENT_NAME_LENGTH = 63;
const ENV_VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DAY_MS = 24 * 60 * 60 * 1000;

const TOP_KEYS = [
  'server',
  'defaultEnvironment',
  'environments',
  'registries',
  'allowedRegistries',
  'allowedTokenRealms',
  'allowedRedirects',
  'cache',
  'limits',
  'revocation',
] as const;
const SERVER_KEYS = [
  'address',
  'grpcAddress',
  'healthAddress',
  'tls',
  'requestTimeoutMs',
  'mutateTimeoutMs',
  'keepAliveTimeoutMs',
  'maxConnections',
  'maxRequestBytes',
  'maxKeys',
] as const;
const TLS_KEYS = ['certFile', 'keyFile', 'clientCAFile'] as const;
const ENVIRONMENT_KEYS = ['trustPolicy', 'trustStore'] as const;
const REGISTRY_KEYS = ['plainHttp', 'username', 'password', 'passwordFromEnv', 'ociLayout'] as const;
const CACHE_KEYS = ['maxEntries', 'maxBytes', 'undecidedTtlMs', 'tagTtlMs'] as const;
const LIMITS_KEYS = ['concurrencyPerRegistry', 'maxConcurrent', 'maxPendingPerRegistry', 'maxPending'] as const;
const REVOCATION_KEYS = ['offline', 'crlDirectory', 'timestampRevocation', 'allowedHosts'] as const;

/** Keys that are known to be coming but not accepted yet, with the reason given to the user. */
const NOT_YET: Readonly<Record<string, string>> = {
  'environments.*.policy':
    'unknown key: per-environment decision policies are not supported yet; remove it (the built-in rule applies: one trusted signature suffices)',
};

type Segment = string | number;
type Path = readonly Segment[];
type Obj = Record<string, unknown>;

/**
 * Parses and validates configuration text. `file` names the source in messages and anchors relative
 * paths. `.json` files must be strict JSON; anything else is YAML 1.2 (of which JSON is a subset).
 */
export function parseConfig(text: string, file: string, options: ParseConfigOptions = {}): VouchConfig {
  const reader = new Reader(text, file);
  return reader.read(options.env ?? process.env);
}

/** `a.b["127.0.0.1:5000"][0]`: segments that are not plain words are quoted. */
export function formatConfigPath(segments: Path): string {
  if (segments.length === 0) return '(document)';
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

class Reader {
  readonly #text: string;
  readonly #file: string;
  readonly #dir: string;
  readonly #lines = new LineCounter();
  #doc: Document.Parsed | undefined;

  constructor(text: string, file: string) {
    this.#text = text;
    this.#file = file;
    this.#dir = path.dirname(path.resolve(file));
  }

  read(env: Readonly<Record<string, string | undefined>>): VouchConfig {
    const root = this.#parse();
    const top = this.#object([], root, TOP_KEYS);

    const environments = this.#environments(top);
    const defaultEnvironment = this.#field(top, [], 'defaultEnvironment', (v, p) => this.#string(p, v));
    let defaultName: string;
    if (defaultEnvironment === undefined) {
      if (environments.size !== 1) {
        this.#fail(
          ['defaultEnvironment'],
          `required when more than one environment is configured (one of: ${[...environments.keys()].join(', ')})`,
        );
      }
      defaultName = [...environments.keys()][0]!;
    } else {
      if (!environments.has(defaultEnvironment)) {
        this.#fail(
          ['defaultEnvironment'],
          `${JSON.stringify(defaultEnvironment)} is not a configured environment (configured: ${[...environments.keys()].join(', ')})`,
        );
      }
      defaultName = defaultEnvironment;
    }

    return {
      file: path.resolve(this.#file),
      server: this.#server(top),
      defaultEnvironment: defaultName,
      environments,
      registries: this.#registries(top, env),
      allowedRegistries: this.#hostPatterns(top, 'allowedRegistries', 'registry (remove the key to allow every registry)'),
      allowedTokenRealms: this.#hostPatterns(top, 'allowedTokenRealms', 'host (remove the key to allow none)', {
        // "*" would hand every registry's credentials to any host a challenge names.
        noStar: 'would send registry credentials to any host a registry names; list the token service hosts',
      }),
      allowedRedirects: this.#hostPatterns(top, 'allowedRedirects', 'host (remove the key to allow none)'),
      cache: this.#cache(top),
      limits: this.#limits(top),
      revocation: this.#revocation(top),
    };
  }

  // ---- sections ---------------------------------------------------------------------------------

  #server(top: Obj): ServerConfig {
    const at: Path = ['server'];
    const server = this.#field(top, [], 'server', (v, p) => this.#object(p, v, SERVER_KEYS)) ?? {};
    const address =
      this.#field(server, at, 'address', (v, p) => this.#address(p, v)) ?? (parseListenAddress(DEFAULT_SERVER_ADDRESS) as ListenAddress);
    const grpcAddress = this.#field(server, at, 'grpcAddress', (v, p) => this.#address(p, v));
    if (grpcAddress !== undefined && grpcAddress.port !== 0 && grpcAddress.port === address.port && sameHost(grpcAddress, address)) {
      this.#fail(
        [...at, 'grpcAddress'],
        `must differ from server.address (${formatAddress(address)}): both cannot listen on the same port`,
      );
    }
    const healthAddress = this.#field(server, at, 'healthAddress', (v, p) => this.#address(p, v));
    for (const [name, other] of [
      ['address', address],
      ['grpcAddress', grpcAddress],
    ] as const) {
      if (
        healthAddress !== undefined &&
        other !== undefined &&
        healthAddress.port !== 0 &&
        healthAddress.port === other.port &&
        sameHost(healthAddress, other)
      ) {
        this.#fail(
          [...at, 'healthAddress'],
          `must differ from server.${name} (${formatAddress(other)}): both cannot listen on the same port`,
        );
      }
    }
    const tls = this.#field(server, at, 'tls', (v, p) => {
      const obj = this.#object(p, v, TLS_KEYS);
      return {
        certFile: this.#required(obj, p, 'certFile', (w, q) => this.#path(q, w), 'needed when server.tls is present'),
        keyFile: this.#required(obj, p, 'keyFile', (w, q) => this.#path(q, w), 'needed when server.tls is present'),
        clientCAFile: this.#field(obj, p, 'clientCAFile', (w, q) => this.#path(q, w)),
      };
    });
    const requestTimeoutMs =
      this.#field(server, at, 'requestTimeoutMs', (v, p) => this.#integer(p, v, 1, MAX_REQUEST_TIMEOUT_MS)) ?? DEFAULT_REQUEST_TIMEOUT_MS;
    return {
      address,
      grpcAddress,
      healthAddress,
      tls,
      requestTimeoutMs,
      mutateTimeoutMs:
        this.#field(server, at, 'mutateTimeoutMs', (v, p) => this.#integer(p, v, 1, MAX_REQUEST_TIMEOUT_MS)) ?? requestTimeoutMs,
      keepAliveTimeoutMs:
        this.#field(server, at, 'keepAliveTimeoutMs', (v, p) => this.#integer(p, v, 0, 600_000)) ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: this.#field(server, at, 'maxConnections', (v, p) => this.#integer(p, v, 1, 1_000_000)) ?? DEFAULT_MAX_CONNECTIONS,
      maxRequestBytes:
        this.#field(server, at, 'maxRequestBytes', (v, p) => this.#integer(p, v, 1, 64 * 1024 * 1024)) ?? DEFAULT_MAX_REQUEST_BYTES,
      maxKeys: this.#field(server, at, 'maxKeys', (v, p) => this.#integer(p, v, 1, 100_000)) ?? DEFAULT_MAX_KEYS,
    };
  }

  #environments(top: Obj): Map<string, EnvironmentConfig> {
    const section = this.#required(top, [], 'environments', (v, p) => this.#object(p, v), 'at least one environment must be configured');
    const out = new Map<string, EnvironmentConfig>();
    for (const [name, value] of Object.entries(section)) {
      const at: Path = ['environments', name];
      if (!ENVIRONMENT_NAME.test(name) || name.length > MAX_ENVIRONMENT_NAME_LENGTH) {
        this.#fail(
          at,
          `invalid environment name: names are 1 to ${MAX_ENVIRONMENT_NAME_LENGTH} characters of [a-z0-9_.-] starting with a letter or digit`,
          'key',
        );
      }
      if (value === null) this.#fail(at, 'has no value: expected a mapping with trustPolicy and trustStore');
      const obj = this.#object(at, value, ENVIRONMENT_KEYS, 'environments.*');
      out.set(name, {
        name,
        trustPolicy: this.#required(obj, at, 'trustPolicy', (v, p) => this.#path(p, v)),
        trustStore: this.#required(obj, at, 'trustStore', (v, p) => this.#path(p, v)),
      });
    }
    if (out.size === 0) this.#fail(['environments'], 'at least one environment must be configured');
    return out;
  }

  #registries(top: Obj, env: Readonly<Record<string, string | undefined>>): Map<string, RegistryConfig> {
    const section = this.#field(top, [], 'registries', (v, p) => this.#object(p, v)) ?? {};
    const out = new Map<string, RegistryConfig>();
    const seen = new Map<string, string>();
    for (const [key, value] of Object.entries(section)) {
      const at: Path = ['registries', key];
      const host = canonicalRegistryHost(key);
      if (typeof host !== 'string') this.#fail(at, host.error, 'key');
      const previous = seen.get(host as string);
      if (previous !== undefined) this.#fail(at, `names the same registry host as ${JSON.stringify(previous)} (${host as string})`, 'key');
      seen.set(host as string, key);
      const obj = this.#object(at, value, REGISTRY_KEYS);
      const plainHttp = this.#field(obj, at, 'plainHttp', (v, p) => this.#boolean(p, v));
      const username = this.#field(obj, at, 'username', (v, p) => this.#string(p, v));
      let password = this.#field(obj, at, 'password', (v, p) => this.#string(p, v, { secret: true, empty: true }));
      const passwordFromEnv = this.#field(obj, at, 'passwordFromEnv', (v, p) => {
        const name = this.#string(p, v);
        if (!ENV_VAR_NAME.test(name)) this.#fail(p, `${JSON.stringify(name)} is not an environment variable name`);
        return name;
      });
      const ociLayout = this.#field(obj, at, 'ociLayout', (v, p) => this.#path(p, v));

      if (password !== undefined && passwordFromEnv !== undefined) {
        this.#fail([...at, 'passwordFromEnv'], 'give either password or passwordFromEnv, not both', 'key');
      }
      if (passwordFromEnv !== undefined) {
        password = env[passwordFromEnv];
        if (password === undefined || password === '') {
          this.#fail([...at, 'passwordFromEnv'], `environment variable ${passwordFromEnv} is not set (or empty)`);
        }
      }
      if (username !== undefined && password === undefined) {
        this.#fail([...at, 'username'], 'a username needs a password (password or passwordFromEnv)', 'key');
      }
      if (username === undefined && password !== undefined) {
        this.#fail([...at, passwordFromEnv !== undefined ? 'passwordFromEnv' : 'password'], 'a password needs a username', 'key');
      }
      if (ociLayout !== undefined) {
        const network = (['plainHttp', 'username', 'password', 'passwordFromEnv'] as const).find((k) => Object.hasOwn(obj, k));
        if (network !== undefined) {
          this.#fail([...at, network], 'does not apply with ociLayout (content is read from the layout directory, not the network)', 'key');
        }
      }
      out.set(host as string, {
        host: host as string,
        plainHttp: plainHttp ?? false,
        username,
        password,
        passwordFromEnv,
        ociLayout,
      });
    }
    return out;
  }

  /** A list of registry host patterns (allowedRegistries and the egress lists), canonical and de-duplicated. */
  #hostPatterns(top: Obj, key: string, whenEmpty: string, options: { noStar?: string } = {}, at: Path = []): string[] | undefined {
    return this.#field(top, at, key, (v, p) => {
      const list = this.#list(p, v);
      if (list.length === 0) this.#fail(p, `must list at least one ${whenEmpty}`);
      const out: string[] = [];
      list.forEach((item, i) => {
        const text = this.#string([...p, i], item);
        const pattern = canonicalRegistryPattern(text);
        if (typeof pattern !== 'string') this.#fail([...p, i], `${JSON.stringify(text)}: ${pattern.error}`);
        if (pattern === '*' && options.noStar !== undefined) this.#fail([...p, i], `"*" is not allowed here: it ${options.noStar}`);
        if (!out.includes(pattern as string)) out.push(pattern as string);
      });
      return out;
    });
  }

  #cache(top: Obj): CacheConfig {
    const at: Path = ['cache'];
    const cache = this.#field(top, [], 'cache', (v, p) => this.#object(p, v, CACHE_KEYS)) ?? {};
    const int = (key: (typeof CACHE_KEYS)[number], max: number): number =>
      this.#field(cache, at, key, (v, p) => this.#integer(p, v, 0, max)) ?? DEFAULT_CACHE[key];
    return {
      maxEntries: int('maxEntries', 100_000_000),
      maxBytes: int('maxBytes', Number.MAX_SAFE_INTEGER),
      undecidedTtlMs: int('undecidedTtlMs', DAY_MS),
      tagTtlMs: int('tagTtlMs', DAY_MS),
    };
  }

  #limits(top: Obj): LimitsConfig {
    const at: Path = ['limits'];
    const limits = this.#field(top, [], 'limits', (v, p) => this.#object(p, v, LIMITS_KEYS)) ?? {};
    const int = (key: (typeof LIMITS_KEYS)[number], max: number): number =>
      this.#field(limits, at, key, (v, p) => this.#integer(p, v, 1, max)) ?? DEFAULT_LIMITS[key];
    return {
      concurrencyPerRegistry: int('concurrencyPerRegistry', 256),
      maxConcurrent: int('maxConcurrent', 4096),
      maxPendingPerRegistry: int('maxPendingPerRegistry', 1_000_000),
      maxPending: int('maxPending', 1_000_000),
    };
  }

  #revocation(top: Obj): RevocationConfig {
    const at: Path = ['revocation'];
    const revocation = this.#field(top, [], 'revocation', (v, p) => this.#object(p, v, REVOCATION_KEYS)) ?? {};
    return {
      offline: this.#field(revocation, at, 'offline', (v, p) => this.#boolean(p, v)) ?? DEFAULT_REVOCATION.offline,
      crlDirectory: this.#field(revocation, at, 'crlDirectory', (v, p) => this.#path(p, v)),
      timestampRevocation:
        this.#field(revocation, at, 'timestampRevocation', (v, p) => this.#oneOf(p, v, ['check', 'skip'] as const)) ??
        DEFAULT_REVOCATION.timestampRevocation,
      allowedHosts: this.#hostPatterns(revocation, 'allowedHosts', 'host (remove the key to allow none)', {}, at),
    };
  }

  // ---- document ---------------------------------------------------------------------------------

  #parse(): unknown {
    const text = this.#text.charCodeAt(0) === 0xfeff ? this.#text.slice(1) : this.#text;
    if (/\.json$/i.test(this.#file)) {
      const problem = findJsonSyntaxError(text);
      if (problem !== undefined) {
        const { line, col } = lineColumn(text, problem.offset);
        throw new VouchError('INVALID_CONFIG', `${this.#file}:${line}:${col}: JSON syntax error: ${problem.message}`, {
          reason: 'BAD_CONTENT',
        });
      }
    }
    const doc = parseDocument(text, {
      lineCounter: this.#lines,
      prettyErrors: false,
      uniqueKeys: true,
      strict: true,
      merge: false,
      version: '1.2',
      schema: 'core',
      logLevel: 'error',
    });
    const problem = doc.errors[0] ?? doc.warnings[0];
    if (problem !== undefined) {
      const { line, col } = this.#lines.linePos(problem.pos[0]);
      const kind = doc.errors.length > 0 ? 'YAML syntax error' : 'YAML problem';
      throw new VouchError('INVALID_CONFIG', `${this.#file}:${line}:${col}: ${kind}: ${problem.message.split('\n')[0]}`, {
        reason: 'BAD_CONTENT',
        cause: problem,
      });
    }
    this.#doc = doc;
    if (doc.contents === null) this.#fail([], 'the configuration is empty: environments is required');
    try {
      return doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      throw new VouchError('INVALID_CONFIG', `${this.#file}: ${(error as Error).message}`, { reason: 'BAD_CONTENT', cause: error });
    }
  }

  // Line and column of the key (or value) at `segments`, or of the deepest node found on the way.
  #position(segments: Path, at: 'key' | 'value'): { line: number; col: number } | undefined {
    const doc = this.#doc;
    if (doc === undefined) return undefined;
    let node: unknown = doc.contents;
    let offset: number | undefined = rangeStart(node);
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!;
      if (isAlias(node)) node = node.resolve(doc);
      let next: unknown;
      if (isMap(node)) {
        const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(segment));
        if (pair === undefined) break;
        if (i === segments.length - 1 && at === 'key') {
          offset = rangeStart(pair.key) ?? offset;
          break;
        }
        next = pair.value;
      } else if (isSeq(node) && typeof segment === 'number') {
        next = node.items[segment];
      } else {
        break;
      }
      if (next === undefined || next === null) break;
      node = next;
      offset = rangeStart(node) ?? offset;
    }
    return offset === undefined ? undefined : this.#lines.linePos(offset);
  }

  #fail(segments: Path, what: string, at: 'key' | 'value' = 'value'): never {
    const position = this.#position(segments, at);
    const where = position === undefined ? '' : ` (line ${position.line}, column ${position.col})`;
    throw new VouchError('INVALID_CONFIG', `${this.#file}: ${formatConfigPath(segments)}: ${what}${where}`, { reason: 'BAD_CONTENT' });
  }

  // ---- values -----------------------------------------------------------------------------------

  /** A mapping; with `keys`, any other key is an error naming its path (and the closest known key). */
  #object(at: Path, value: unknown, keys?: readonly string[], pattern?: string): Obj {
    if (!isPlainObject(value)) this.#fail(at, `expected a mapping, got ${describe(value)}`);
    const obj = value as Obj;
    if (keys !== undefined) {
      for (const key of Object.keys(obj)) {
        if (keys.includes(key)) continue;
        const notYet = pattern === undefined ? undefined : NOT_YET[`${pattern}.${key}`];
        if (notYet !== undefined) this.#fail([...at, key], notYet, 'key');
        const suggestion = closest(key, keys);
        this.#fail(
          [...at, key],
          `unknown key${suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`}; known keys here: ${keys.join(', ')}`,
          'key',
        );
      }
    }
    return obj;
  }

  #field<T>(obj: Obj, at: Path, key: string, read: (value: unknown, path: Path) => T): T | undefined {
    if (!Object.hasOwn(obj, key)) return undefined;
    const value = obj[key];
    const where = [...at, key];
    if (value === null || value === undefined) this.#fail(where, 'has no value (give one, or remove the key to use the default)');
    return read(value, where);
  }

  #required<T>(obj: Obj, at: Path, key: string, read: (value: unknown, path: Path) => T, hint?: string): T {
    if (!Object.hasOwn(obj, key)) this.#fail([...at, key], `required key is missing${hint === undefined ? '' : ` (${hint})`}`);
    return this.#field(obj, at, key, read) as T;
  }

  #string(at: Path, value: unknown, options: { secret?: boolean; empty?: boolean } = {}): string {
    if (typeof value !== 'string') this.#fail(at, `expected a string, got ${describe(value, options.secret)}`);
    if (value === '' && options.empty !== true) this.#fail(at, 'must not be empty');
    return value as string;
  }

  #path(at: Path, value: unknown): string {
    if (typeof value !== 'string') this.#fail(at, `expected a string (a file path), got ${describe(value)}`);
    if (value === '') this.#fail(at, 'must not be empty');
    if ((value as string).includes('\0')) this.#fail(at, 'must not contain a NUL character');
    return path.resolve(this.#dir, value as string);
  }

  #boolean(at: Path, value: unknown): boolean {
    if (typeof value !== 'boolean') this.#fail(at, `expected a boolean (true or false), got ${describe(value)}`);
    return value as boolean;
  }

  #integer(at: Path, value: unknown, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      this.#fail(at, `expected an integer from ${min} to ${max}, got ${describe(value)}`);
    }
    if ((value as number) < min || (value as number) > max) this.#fail(at, `must be from ${min} to ${max}, got ${value as number}`);
    return value as number;
  }

  #list(at: Path, value: unknown): unknown[] {
    if (!Array.isArray(value)) this.#fail(at, `expected a list, got ${describe(value)}`);
    return value as unknown[];
  }

  #oneOf<T extends string>(at: Path, value: unknown, allowed: readonly T[]): T {
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      this.#fail(at, `expected one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${describe(value)}`);
    }
    return value as T;
  }

  #address(at: Path, value: unknown): ListenAddress {
    if (typeof value !== 'string') this.#fail(at, `expected a string host:port, e.g. 127.0.0.1:8443, got ${describe(value)}`);
    const parsed = parseListenAddress(value as string);
    if (typeof parsed === 'string') this.#fail(at, parsed);
    return parsed as ListenAddress;
  }
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range?.[0];
}

function isPlainObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Map) && !(value instanceof Set);
}

/** What a value is, for "expected X, got Y"; secrets are described by type only. */
function describe(value: unknown, secret = false): string {
  if (value === null || value === undefined) return 'no value';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Uint8Array) return 'binary data';
  if (typeof value === 'object') return 'a mapping';
  if (secret) return `a ${typeof value}`;
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)}`;
  return `the ${typeof value} ${String(value)}`;
}

/** The known key closest to a misspelt one (case-insensitive match or edit distance ≤ 2). */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    if (candidate.toLowerCase() === key.toLowerCase()) return candidate;
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}

function sameHost(a: ListenAddress, b: ListenAddress): boolean {
  const wildcard = (h: string): boolean => h === '0.0.0.0' || h === '::';
  return a.host === b.host || wildcard(a.host) || wildcard(b.host);
}

/** `host:port`, IPv6 in brackets. */
export function formatAddress(address: ListenAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
