// The verification engine behind the Gatekeeper provider (docs/api.md; the path of a request in
// docs/architecture.md "One /v1/verify request"). Per key:
//   environment → reference → digest (tag resolved, digest checked) → notation verification under the
//   environment's trust policy and store, and (environments that trust cosign) cosign discovery and
//   verification beside it → VerificationResult
// Answers are deadline-aware: a key not decided by the request's deadline is DEADLINE_EXCEEDED, while
// its work carries on in the background (bounded) and lands in the cache for Gatekeeper's retry.
// Background work is bounded in number too (maxPendingPerRegistry, maxPending): a key that would start
// a job beyond either limit is answered at once as DEADLINE_EXCEEDED (reason OVERLOADED) and starts
// nothing, so a flood of undecided keys holds a stated amount of memory (docs/security.md).
// Results are cached per (environment, trust generation, repository, digest), so new trust material
// takes effect at once; identical work is done once across concurrent requests; each registry host
// gets a bounded number of concurrent verifications, and all hosts together maxConcurrent, shared
// round-robin between hosts. Nothing here reads files or configuration.

import {
  RegistryError,
  UNDECIDED_CODES,
  BoundedCache,
  VouchError,
  errorMessage,
  manifestReference,
  parseReference,
  repositoryName,
  trustPolicyScope,
  type Digest,
  type ErrorCode,
  type ErrorReason,
  type ImageReference,
} from '../core/index.js';
import { moduleLogger, type Logger } from '../log.js';
import {
  DEFAULT_TIMESTAMP_REVOCATION,
  NotationVerifier,
  RevocationChecker,
  createChainVerdictCache,
  verifyNotationArtifact,
  type ChainVerdictCache,
  type PluginConfig,
  type PluginHost,
  type RevocationOptions,
} from '../notation/index.js';
import { verifyCosignCandidate, type CosignSignatureReport, type CosignTrust } from '../cosign/index.js';
import { SIGNATURE_KINDS, discoverReferrers, findCosignSignatures, type ContentSource, type Descriptor } from '../oci/index.js';
import { createCertificateCache, type CertificateCache, type OciTrustPolicy, type TrustStore } from '../trust/index.js';
import { estimateBytes } from './cache.js';
import { CompactResults, ownedString } from './compact-result.js';
import {
  MAX_POLICY_REFERRERS,
  applyDecision,
  evaluateDecision,
  policyInput,
  policyReferrer,
  type DecisionPolicy,
  type PolicyReferrer,
} from './decision-policy.js';
import { parseKey, quote, splitKey, type ParsedKey } from './key.js';
import type { SharedResultCache } from './shared-cache.js';

/**
 * Distinct keys whose parse is remembered, at most by count and by estimated heap bytes. Heap
 * measured after GC for 50 000 parsed keys of 99 and of 582 characters: about 250 B plus 1.1 B a
 * key character (key, ParsedKey, map slot); a MemoizedKey adds about 50 B and its answer-cache key
 * about as many bytes as the key has characters. So the memo stays under 16 MiB whatever keys a
 * flood sends (about 32 000 keys of 100 characters fit, or 10 000 of the longest valid ones, ~600).
 */
const PARSED_KEYS_MAX = 50_000;
const PARSED_KEYS_MAX_BYTES = 16 * 1024 * 1024;
import {
  canonicalReference,
  deepFreeze,
  notFoundResult,
  toVerificationResult,
  type CosignVerification,
  type VerificationResult,
} from './result.js';
import { KeyedSemaphore } from '../core/index.js';

/** Cosign signatures evaluated per image at most (the rest are named in a NO_SIGNATURE reason). */
export const MAX_COSIGN_SIGNATURES = 32;

/**
 * The trust material of one environment, as loaded by the configuration layer: a Notary Project part
 * (policy and trustStore, both or neither), a cosign part, or both.
 */
export interface EnvironmentTrust {
  readonly name: string;
  readonly policy?: OciTrustPolicy | undefined;
  readonly trustStore?: TrustStore | undefined;
  /**
   * Cosign keys, trusted root and identities. Only environments with it look for cosign signatures, so
   * the others pay no round trip for them. Either kind verifying satisfies the built-in rule.
   */
  readonly cosign?: CosignTrust | undefined;
  /**
   * Must change whenever the policy or the trust store's contents change. It is part of every cache
   * key, so a rotated root or a tightened policy applies to the next request, not after a TTL.
   */
  readonly generation: number;
  /**
   * The environment's decision policy (docs/policies.md), when it names one: it decides `verified`
   * instead of the built-in rule. Part of the trust material: a new policy comes with a new generation.
   */
  readonly decisionPolicy?: DecisionPolicy | undefined;
  /**
   * A digest of the trust material's content (trust policy, certificates, cosign keys, root and
   * identities, decision policy): equal on replicas with equal material, unlike `generation`.
   * The shared result cache is used only for environments that have one.
   */
  readonly fingerprint?: string | undefined;
}

/** The configured environments; read on every request, so a reloaded configuration applies at once. */
export interface EnvironmentCatalog {
  get(name: string): EnvironmentTrust | undefined;
  names(): string[];
  /** Used for keys without an `[environment]` prefix. */
  readonly defaultEnvironment?: string | undefined;
}

/** Builds the content source for one image reference (a repository on a registry, or an OCI layout). */
export type ContentSourceFactory = (reference: ImageReference) => ContentSource;

/** What the engine needs of a RegistryClient. */
export interface RepositoryProvider {
  repositoryFor(reference: ImageReference): ContentSource;
}

export interface VerificationCacheOptions {
  /** Cached verification answers at most (default 10 000). */
  maxEntries?: number;
  /** Estimated bytes (serialised size) of cached answers at most (default 64 MiB). */
  maxBytes?: number;
  /**
   * How long a verification answer stays cached, in ms (default 300 000). Bounds how long a
   * certificate revoked or expired after the check keeps its old answer. 0 disables the cache.
   */
  resultTtlMs?: number;
  /** How long undecided outcomes (registry unavailable, auth, …) are cached, in ms; 0 (default) never. */
  undecidedTtlMs?: number;
  /** How long a tag → digest resolution is reused, in ms (default 10 000); 0 resolves every time. */
  tagTtlMs?: number;
  /** Cached tag resolutions at most (default 10 000). */
  tagMaxEntries?: number;
}

/** What a key came to: `VERIFIED`, `PINNED` (mutate), or the code of the answer or error. */
export type KeyOutcome = 'VERIFIED' | 'PINNED' | ErrorCode;

/**
 * Hooks the server turns into metrics and logs. They are called synchronously and must be cheap;
 * an exception thrown by a hook is logged and otherwise ignored.
 */
export interface VerificationObserver {
  /** A verify key with a known digest was looked up in the answer cache. */
  cacheLookup?(event: { environment: string; hit: boolean }): void;
  /**
   * A key of a request was answered (also DEADLINE_EXCEEDED), `durationMs` from the start of the
   * request. A key the request names `count` times is decided once and reported once; `caller` is
   * the request's {@link RequestOptions.caller}.
   */
  keyDecided?(event: {
    operation: 'verify' | 'mutate';
    environment: string | undefined;
    outcome: KeyOutcome;
    cached: boolean;
    durationMs: number;
    caller: string | undefined;
    count: number;
  }): void;
  /** A verification (the registry and crypto work for one image) finished, maybe after its request gave up. */
  verificationFinished?(event: { environment: string; registry: string; outcome: KeyOutcome; durationMs: number }): void;
  /**
   * A key was refused new background work (DEADLINE_EXCEEDED, reason OVERLOADED) because `limit`
   * was reached: `registry` (maxPendingPerRegistry for that host) or `total` (maxPending).
   * `registry` is the host named by the key: untrusted, never a metric label.
   */
  overloaded?(event: { registry: string; limit: 'registry' | 'total'; pending: number }): void;
}

export interface VerificationEngineOptions {
  environments: EnvironmentCatalog;
  /** The registry client (its repositoryFor is all the engine uses). */
  client: RepositoryProvider;
  /**
   * A content source for a registry host instead of the registry client, e.g. an OCI layout standing
   * in for it (air-gapped, demo). Undefined → the registry client.
   */
  sourceFor?: (registryHost: string) => ContentSourceFactory | undefined;
  /**
   * False for hosts vouch must not contact: REGISTRY_NOT_ALLOWED. Called with the API host of the
   * reference (`registry-1.docker.io` for Docker Hub), also for hosts served by `sourceFor`.
   */
  isRegistryAllowed?: (registryHost: string) => boolean;
  /** Shared revocation checker (CRL cache), or options for one. Default: online, OCSP then CRL. */
  revocation?: RevocationChecker | RevocationOptions;
  /** Revocation of TSA chains (default 'check', as notation). */
  timestampRevocation?: 'check' | 'skip';
  /**
   * Notary Project verification plugins (docs/api.md "Verification plugins"): the one host that runs them for every
   * environment, and each environment's plugin configuration by plugin name (`plugins.config`).
   * Without it a signature that names a plugin is undecided (PLUGIN_ERROR, PLUGIN_NOT_FOUND).
   */
  plugins?: EnginePlugins;
  /** Signatures evaluated per image at most (notation's --max-signatures, default 100). */
  maxSignatures?: number;
  cache?: VerificationCacheOptions;
  /**
   * A result cache shared with other replicas (src/verify/shared-cache.ts), looked up after a local
   * miss and written after a verification, for environments with a fingerprint.
   */
  sharedCache?: SharedResultCache;
  /**
   * Parsed certificates (by DER hash) and signing-chain verdicts, owned by this engine and forgotten
   * by clearCache(). Default: one of each with their default bounds, not shared with other engines.
   */
  caches?: { certificates?: CertificateCache; chainVerdicts?: ChainVerdictCache };
  /** Verifications running at once against one registry host (default 8). */
  concurrencyPerRegistry?: number;
  /**
   * Background jobs running at once over all registry hosts (default 64), on top of
   * concurrencyPerRegistry: each running job holds registry connections and bodies, so this bounds
   * them whatever number of hosts keys name. A freed slot goes round-robin to the hosts with queued
   * jobs (KeyedSemaphore), so hosts with long queues do not starve the others.
   */
  maxConcurrent?: number;
  /**
   * Background jobs (verifications and tag resolutions, running or queued for a slot) for one
   * registry host at most (default 256). A key that would start one more is answered at once with
   * DEADLINE_EXCEEDED, reason OVERLOADED; joining a job already running is always allowed.
   */
  maxPendingPerRegistry?: number;
  /** Background jobs over all registry hosts at most (default 2048); beyond it, as maxPendingPerRegistry. */
  maxPending?: number;
  /** How long work for a key may go on in total, past its request's deadline, in ms (default 30 000). */
  backgroundTimeoutMs?: number;
  /** Clock in epoch ms, for deadlines, cache expiry and certificate validity (default Date.now). */
  now?: () => number;
  observer?: VerificationObserver;
  logger?: Logger;
}

/** The verification plugins of an engine. */
export interface EnginePlugins {
  host: PluginHost;
  /** The plugin configuration of `environment`, by plugin name (the plugin gets none when absent). */
  configFor?: (environment: string) => ReadonlyMap<string, PluginConfig> | undefined;
}

export interface RequestOptions {
  /** Epoch ms by which every key must be answered; undecided keys are then DEADLINE_EXCEEDED. */
  deadline: number;
  /** Who asks (the server's route, e.g. `/v1/verify`): handed back to the observer's keyDecided, never interpreted. */
  caller?: string;
}

export interface KeyError {
  code: ErrorCode;
  message: string;
  /** The finer, stable reason (VouchError.reason) when known, e.g. OVERLOADED under DEADLINE_EXCEEDED. */
  reason?: ErrorReason;
}

/** One item per request key: `value` for a definitive answer, `error` when vouch could not decide. */
export type KeyResult = { key: string; value: VerificationResult; error?: never } | { key: string; error: KeyError; value?: never };

/** One item per mutate key: the reference pinned to its digest, or why not. */
export type MutateResult = { key: string; value: string; error?: never } | { key: string; error: KeyError; value?: never };

export interface EngineStats {
  /** Cached answers and their estimated bytes. */
  entries: number;
  bytes: number;
  /** Answer-cache lookups that hit or missed (a miss starts or joins a verification). */
  hits: number;
  misses: number;
  /** Misses that joined a verification already running instead of starting one. */
  deduplicated: number;
  /** Verifications running now (or queued for a slot). */
  inFlight: number;
  /** Background jobs (verifications and tag resolutions) running or queued for a slot. */
  pending: number;
  /** Of those, the ones running (holding a slot): at most maxConcurrent. */
  running: number;
  /** Keys refused new background work so far (DEADLINE_EXCEEDED, reason OVERLOADED). */
  overloaded: number;
  tagEntries: number;
  tagHits: number;
  tagMisses: number;
}

type Outcome = { value: VerificationResult } | { error: KeyError };
type Decision = Outcome & { cached: boolean; environment?: string | undefined };
type MutateDecision = ({ value: string } | { error: KeyError }) & { cached: boolean; environment?: undefined };
type TagOutcome = { descriptor: Descriptor } | { error: unknown };

/** setTimeout's largest delay; longer ones fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The answer cache's default bounds, also the defaults of the configuration's `cache:` section
 * (config takes them from here, so the two cannot disagree). A mutable tag is re-resolved after
 * tagTtlMs: shorter is safer (a moved tag is seen sooner), longer saves registry round trips.
 */
export const DEFAULT_VERIFICATION_CACHE = Object.freeze({
  maxEntries: 10_000,
  maxBytes: 64 * 1024 * 1024,
  resultTtlMs: 300_000,
  undecidedTtlMs: 0,
  tagTtlMs: 10_000,
  tagMaxEntries: 10_000,
});

/** The default bounds on background registry work, also the defaults of the configuration's `limits:`. */
export const DEFAULT_BACKGROUND_LIMITS = Object.freeze({
  concurrencyPerRegistry: 8,
  maxConcurrent: 64,
  maxPendingPerRegistry: 256,
  maxPending: 2048,
});

const DEFAULTS = {
  ...DEFAULT_VERIFICATION_CACHE,
  ...DEFAULT_BACKGROUND_LIMITS,
  backgroundTimeoutMs: 30_000,
  maxSignatures: 100,
} as const;

export class VerificationEngine {
  readonly #environments: EnvironmentCatalog;
  readonly #client: RepositoryProvider;
  readonly #sourceFor: ((registryHost: string) => ContentSourceFactory | undefined) | undefined;
  readonly #isRegistryAllowed: (registryHost: string) => boolean;
  readonly #revocation: RevocationChecker;
  /** Built from options here (so closed by close()), not handed in. */
  readonly #ownsRevocation: boolean;
  readonly #timestampRevocation: 'check' | 'skip';
  readonly #maxSignatures: number;
  readonly #cacheOptions: Required<VerificationCacheOptions>;
  readonly #backgroundTimeoutMs: number;
  readonly #maxPendingPerRegistry: number;
  readonly #maxPending: number;
  readonly #now: () => number;
  readonly #observer: VerificationObserver;
  readonly #log: Logger;
  readonly #shared: SharedResultCache | undefined;
  readonly #plugins: EnginePlugins | undefined;

  /** Answers (VerificationResult, the common case, unwrapped) and undecided outcomes ({error}). */
  readonly #results: BoundedCache<VerificationResult | { error: KeyError }>;
  /** The parts cached answers share (signature reports, digests, reason lists). */
  readonly #compactResults = new CompactResults();
  readonly #parsedKeys = new BoundedCache<MemoizedKey>({
    maxEntries: PARSED_KEYS_MAX,
    maxBytes: PARSED_KEYS_MAX_BYTES,
    sizeOf: (_memo, key) => 304 + Math.ceil(2.2 * key.length),
  });
  readonly #tags: BoundedCache<Descriptor>;
  readonly #certificates: CertificateCache;
  readonly #chainVerdicts: ChainVerdictCache;
  readonly #inFlight = new Map<string, Promise<Decision>>();
  readonly #tagsInFlight = new Map<string, Promise<TagOutcome>>();
  readonly #semaphore: KeyedSemaphore;
  readonly #verifiers = new Map<string, { generation: number; trustStore: TrustStore; verifier: NotationVerifier }>();
  readonly #closing = new AbortController();
  /** Controllers of the background jobs now running, aborted together by close(). */
  readonly #running = new Set<AbortController>();
  /** The abort reason of every finished job: one object, since building an Error (its stack) per job shows in a cold batch. */
  readonly #jobFinished = new Error('background job finished');
  /**
   * Background jobs per registry host (hosts with none are dropped, so the map has at most
   * maxPending entries); `#running.size` is the total.
   */
  readonly #pendingByHost = new Map<string, number>();
  #overloaded = 0;
  #hits = 0;
  #misses = 0;
  #deduplicated = 0;
  #tagHits = 0;
  #tagMisses = 0;

  constructor(options: VerificationEngineOptions) {
    this.#environments = options.environments;
    this.#client = options.client;
    this.#sourceFor = options.sourceFor;
    this.#isRegistryAllowed = options.isRegistryAllowed ?? (() => true);
    this.#now = options.now ?? Date.now;
    this.#observer = options.observer ?? {};
    this.#log = options.logger ?? moduleLogger('verify.engine');
    this.#shared = options.sharedCache;
    this.#plugins = options.plugins;
    this.#timestampRevocation = options.timestampRevocation ?? DEFAULT_TIMESTAMP_REVOCATION;
    this.#maxSignatures = nonNegative('maxSignatures', options.maxSignatures ?? DEFAULTS.maxSignatures);
    this.#backgroundTimeoutMs = nonNegative('backgroundTimeoutMs', options.backgroundTimeoutMs ?? DEFAULTS.backgroundTimeoutMs);
    if (this.#backgroundTimeoutMs === 0)
      throw new VouchError('INVALID_CONFIG', 'backgroundTimeoutMs must be positive', { reason: 'BAD_CONTENT' });
    const cache = options.cache ?? {};
    this.#cacheOptions = {
      maxEntries: nonNegative('cache.maxEntries', cache.maxEntries ?? DEFAULTS.maxEntries),
      maxBytes: nonNegative('cache.maxBytes', cache.maxBytes ?? DEFAULTS.maxBytes),
      resultTtlMs: nonNegative('cache.resultTtlMs', cache.resultTtlMs ?? DEFAULTS.resultTtlMs),
      undecidedTtlMs: nonNegative('cache.undecidedTtlMs', cache.undecidedTtlMs ?? DEFAULTS.undecidedTtlMs),
      tagTtlMs: nonNegative('cache.tagTtlMs', cache.tagTtlMs ?? DEFAULTS.tagTtlMs),
      tagMaxEntries: nonNegative('cache.tagMaxEntries', cache.tagMaxEntries ?? DEFAULTS.tagMaxEntries),
    };
    this.#results = new BoundedCache({ maxEntries: this.#cacheOptions.maxEntries, maxBytes: this.#cacheOptions.maxBytes, now: this.#now });
    this.#tags = new BoundedCache({ maxEntries: this.#cacheOptions.tagMaxEntries, now: this.#now });
    this.#certificates = options.caches?.certificates ?? createCertificateCache();
    this.#chainVerdicts = options.caches?.chainVerdicts ?? createChainVerdictCache();
    this.#semaphore = new KeyedSemaphore(options.concurrencyPerRegistry ?? DEFAULTS.concurrencyPerRegistry, {
      total: positiveInteger('maxConcurrent', options.maxConcurrent ?? DEFAULTS.maxConcurrent),
    });
    this.#maxPendingPerRegistry = positiveInteger('maxPendingPerRegistry', options.maxPendingPerRegistry ?? DEFAULTS.maxPendingPerRegistry);
    this.#maxPending = positiveInteger('maxPending', options.maxPending ?? DEFAULTS.maxPending);
    const revocation = options.revocation;
    this.#ownsRevocation = !(revocation instanceof RevocationChecker);
    this.#revocation =
      revocation instanceof RevocationChecker ? revocation : new RevocationChecker({ now: () => new Date(this.#now()), ...revocation });
  }

  /**
   * Verifies every key. Exactly one result per key, in request order, by `deadline`; never throws.
   * Duplicate keys are computed once; keys not decided in time are DEADLINE_EXCEEDED while their work
   * finishes in the background (up to backgroundTimeoutMs) and is cached for the retry.
   */
  async verify(keys: readonly string[], options: RequestOptions): Promise<KeyResult[]> {
    const decisions = await this.#answerAll(
      'verify',
      keys,
      options,
      (key) => this.#decideVerify(key),
      (key) => this.#cachedVerify(key),
    );
    return keys.map((key): KeyResult => {
      const decision = decisions.get(key) ?? deadlineDecision(key);
      return 'value' in decision ? { key, value: decision.value } : { key, error: decision.error };
    });
  }

  /**
   * Pins every key to its digest: `host/repo@sha256:…`, tag dropped (the `/v1/mutate` answer). An
   * `[environment]` prefix is accepted and ignored. Digest references are normalised without any
   * registry call; tags are resolved (and cached for tagTtlMs). Same ordering and deadline rules as verify.
   */
  async mutate(keys: readonly string[], options: RequestOptions): Promise<MutateResult[]> {
    const decisions = await this.#answerAll('mutate', keys, options, (key) => this.#decideMutate(key));
    return keys.map((key): MutateResult => {
      const decision = decisions.get(key) ?? deadlineDecision(key);
      return 'error' in decision ? { key, error: namingImage(key, decision.error) } : { key, value: decision.value };
    });
  }

  stats(): EngineStats {
    return {
      entries: this.#results.size,
      bytes: this.#results.bytes,
      hits: this.#hits,
      misses: this.#misses,
      deduplicated: this.#deduplicated,
      inFlight: this.#inFlight.size,
      pending: this.#running.size,
      running: this.#semaphore.totals().active,
      overloaded: this.#overloaded,
      tagEntries: this.#tags.size,
      tagHits: this.#tagHits,
      tagMisses: this.#tagMisses,
    };
  }

  /**
   * Forgets every cached answer, tag resolution, parsed key, parsed certificate, chain verdict and
   * downloaded CRL (running work still caches its outcome).
   */
  clearCache(): void {
    this.#results.clear();
    this.#compactResults.clear();
    this.#tags.clear();
    this.#parsedKeys.clear();
    this.#certificates.clear();
    this.#chainVerdicts.clear();
    this.#revocation.clearCache();
    // Verifiers are rebuilt on next use, which seeds the certificate cache with the trust stores again.
    this.#verifiers.clear();
  }

  /** Cancels background work and waits for it to settle; later requests are DEADLINE_EXCEEDED. */
  async close(): Promise<void> {
    this.#closing.abort(new Error('verification engine closed'));
    for (const controller of this.#running) controller.abort(this.#closing.signal.reason);
    await Promise.allSettled([...this.#inFlight.values(), ...this.#tagsInFlight.values()]);
    if (this.#ownsRevocation) await this.#revocation.close();
  }

  // ---- request level ------------------------------------------------------------------------------

  /**
   * Decides each distinct key once and collects what is decided by the deadline. `cachedDecision`
   * answers keys whose answer is cached without a promise per key (most of a cached request's
   * time went to them, bench/provider.ts part (b)); the rest go to `decide`.
   */
  async #answerAll<T extends { cached: boolean; environment?: string | undefined } & ({ value: unknown } | { error: KeyError })>(
    operation: 'verify' | 'mutate',
    keys: readonly string[],
    { deadline, caller }: RequestOptions,
    decide: (key: string) => Promise<T>,
    cachedDecision?: (key: string) => T | undefined,
  ): Promise<Map<string, T>> {
    const started = this.#now();
    const decided = new Map<string, T>();
    const work = new Map<string, Promise<void>>();
    /** How often a key repeats in the request, for keys that do (the observer counts keys answered). */
    const repeated = new Map<string, number>();
    // Decisions that arrive after the deadline are not this request's answers (their work is cached).
    let open = true;
    const fromCache: string[] = [];
    for (const key of keys) {
      if (work.has(key) || decided.has(key)) {
        repeated.set(key, (repeated.get(key) ?? 1) + 1);
        continue;
      }
      const hit = cachedDecision?.(key);
      if (hit !== undefined) {
        decided.set(key, hit);
        fromCache.push(key);
        continue;
      }
      const promise = decide(key)
        .catch((error: unknown) => this.#internal(error, key) as T)
        .then((decision) => {
          if (!open) return;
          decided.set(key, decision);
          this.#notify('keyDecided', () =>
            this.#observer.keyDecided?.({
              operation,
              environment: decision.environment,
              outcome: outcomeOf(decision, operation),
              cached: decision.cached,
              durationMs: this.#now() - started,
              caller,
              count: repeated.get(key) ?? 1,
            }),
          );
        });
      work.set(key, promise);
    }
    for (const key of fromCache) {
      const decision = decided.get(key)!;
      this.#notify('keyDecided', () =>
        this.#observer.keyDecided?.({
          operation,
          environment: decision.environment,
          outcome: outcomeOf(decision, operation),
          cached: true,
          durationMs: this.#now() - started,
          caller,
          count: repeated.get(key) ?? 1,
        }),
      );
    }
    if (work.size === 0) return decided;
    const remaining = Number.isFinite(deadline) ? deadline - this.#now() : this.#backgroundTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.min(MAX_TIMER_MS, Math.max(0, remaining)));
    });
    await Promise.race([Promise.all(work.values()), expired]);
    clearTimeout(timer);
    open = false;
    for (const key of work.keys()) {
      if (decided.has(key)) continue;
      this.#notify('keyDecided', () =>
        this.#observer.keyDecided?.({
          operation,
          environment: operation === 'verify' ? this.#environmentHint(key) : undefined,
          outcome: 'DEADLINE_EXCEEDED',
          cached: false,
          durationMs: this.#now() - started,
          caller,
          count: repeated.get(key) ?? 1,
        }),
      );
    }
    return decided;
  }

  /** The environment a verify key names (for metrics of keys that ran out of time). */
  #environmentHint(key: string): string | undefined {
    try {
      return splitKey(key).environment ?? this.#environments.defaultEnvironment;
    } catch {
      return undefined;
    }
  }

  /**
   * The cached answer for a verify key whose parse, digest (tag resolution) and answer are all in
   * memory, found synchronously; undefined sends the key to #decideVerify, which looks again and
   * counts the miss (so a miss is counted once, and a hit here exactly as there).
   */
  #cachedVerify(key: string): Decision | undefined {
    const memo = this.#parsedKeys.get(key);
    if (memo === undefined) return undefined;
    const parsed = memo.parsed;
    const ref = parsed.reference;
    const env = this.#environments.get(parsed.environment);
    if (env === undefined || !this.#isRegistryAllowed(ref.registry)) return undefined;
    const digest = ref.digest ?? this.#tags.get(tagKey(ref))?.digest;
    if (digest === undefined) return undefined;
    const cached = this.#results.get(memo.resultKey(env, digest));
    if (cached === undefined) return undefined;
    if (ref.digest === undefined) this.#tagHits++;
    this.#hits++;
    this.#notify('cacheLookup', () => this.#observer.cacheLookup?.({ environment: env.name, hit: true }));
    const environment = parsed.environment;
    return 'error' in cached ? { environment, cached: true, error: cached.error } : { environment, cached: true, value: cached };
  }

  /** environment → reference → digest → cached answer, or the (shared) verification. */
  async #decideVerify(key: string): Promise<Decision> {
    let environment: string | undefined;
    try {
      const catalog = this.#environments;
      // Gatekeeper sends the same keys over and over: parse each distinct key once (bounded).
      let memo = this.#parsedKeys.get(key);
      if (memo === undefined) {
        memo = new MemoizedKey(parseKey(key, catalog.defaultEnvironment, (name) => catalog.get(name) !== undefined));
        this.#parsedKeys.set(key, memo);
      }
      const parsed = memo.parsed;
      environment = parsed.environment;
      const ref = parsed.reference;
      this.#checkAllowed(ref.registry);
      const env = catalog.get(environment);
      if (env === undefined) throw new VouchError('UNKNOWN_ENVIRONMENT', `environment ${quote(environment)} is no longer configured`);

      // Digest: a tag is resolved (and the resolution cached); a digest is checked by the verification.
      let digest = ref.digest;
      let subject: Descriptor | undefined;
      if (digest === undefined) {
        const resolved = await this.#resolveTag(ref);
        if ('error' in resolved) return { environment, cached: false, ...this.#failure(resolved.error, environment, ref) };
        subject = resolved.descriptor;
        digest = subject.digest;
      }

      // Cache, keyed by the environment's trust generation.
      const cacheKey = memo.resultKey(env, digest);
      const cached = this.#results.get(cacheKey);
      this.#notify('cacheLookup', () => this.#observer.cacheLookup?.({ environment: env.name, hit: cached !== undefined }));
      if (cached !== undefined) {
        this.#hits++;
        return {
          environment,
          cached: true,
          ...('error' in cached ? { error: cached.error } : { value: cached }),
        };
      }
      this.#misses++;
      return { environment, ...(await this.#verifyOnce(cacheKey, env, ref, digest, subject)) };
    } catch (error) {
      return { environment, cached: false, ...this.#failure(error, environment, undefined) };
    }
  }

  async #decideMutate(key: string): Promise<MutateDecision> {
    try {
      const ref = parseReference(splitKey(key).reference);
      this.#checkAllowed(ref.registry);
      if (ref.digest !== undefined) return { cached: false, value: canonicalReference(ref, ref.digest) };
      const hitsBefore = this.#tagHits;
      const resolved = await this.#resolveTag(ref);
      if ('error' in resolved) throw resolved.error;
      return { cached: this.#tagHits > hitsBefore, value: canonicalReference(ref, resolved.descriptor.digest) };
    } catch (error) {
      return { cached: false, error: toKeyError(error, this.#log) };
    }
  }

  // ---- work -----------------------------------------------------------------------------------------

  /** Runs the verification for `cacheKey` unless the same one is already running; caches its outcome. */
  #verifyOnce(
    cacheKey: string,
    env: EnvironmentTrust,
    ref: ImageReference,
    digest: Digest,
    hint: Descriptor | undefined,
  ): Promise<Decision> {
    const running = this.#inFlight.get(cacheKey);
    if (running !== undefined) {
      this.#deduplicated++;
      return running;
    }
    const sharedKey = env.fingerprint === undefined ? undefined : this.#shared?.entryKey(this.#sharedParts(env, ref, digest));
    if (sharedKey === undefined) return this.#verifyNow(cacheKey, undefined, env, ref, digest, hint);
    // Local miss → the shared cache → a verification; joiners wait on the same promise throughout.
    const lookup = this.#shared!.get(sharedKey).then((entry): Promise<Decision> | Decision => {
      // #verifyNow registers its own promise (synchronously, so no request slips in between).
      if (this.#inFlight.get(cacheKey) === lookup) this.#inFlight.delete(cacheKey);
      const outcome = entry === undefined ? undefined : this.#fromShared(cacheKey, entry.payload, entry.createdAt, entry.expiresAt);
      return outcome === undefined ? this.#verifyNow(cacheKey, sharedKey, env, ref, digest, hint) : { ...outcome, cached: true };
    });
    this.#inFlight.set(cacheKey, lookup);
    return lookup;
  }

  /** Starts the verification for `cacheKey` (registered as in flight) and caches its outcome, also under `sharedKey`. */
  #verifyNow(
    cacheKey: string,
    sharedKey: string | undefined,
    env: EnvironmentTrust,
    ref: ImageReference,
    digest: Digest,
    hint: Descriptor | undefined,
  ): Promise<Decision> {
    const refused = this.#admit(ref.registry);
    // Refused work is not cached: the next retry may find room.
    if (refused !== undefined) return Promise.resolve({ cached: false, error: toKeyError(refused, this.#log) });
    const started = this.#now();
    const notation =
      env.policy !== undefined && env.trustStore !== undefined ? { policy: env.policy, verifier: this.#verifierFor(env) } : undefined;
    const job = this.#inBackground(ref.registry, async (signal) => {
      const source = this.#sourceOf(ref);
      // A digest reference must exist; resolving it also gives the media type and size the
      // signature payload has to match.
      const subject = hint ?? { digest, pending: source.resolve(digest, { signal }) };
      const decisionPolicy = env.decisionPolicy;
      const all = decisionPolicy !== undefined;
      // Both kinds are looked for at once, from the same source and under the same signal.
      const [notationOutcome, cosignOutcome] = await Promise.allSettled([
        notation === undefined
          ? // Without a Notary part nothing else checks that the image exists.
            'pending' in subject
            ? subject.pending.then(() => undefined)
            : Promise.resolve(undefined)
          : verifyNotationArtifact(source, trustPolicyScope(ref), subject, notation.policy, notation.verifier, {
              signal,
              maxSignatures: this.#maxSignatures,
              all,
            }),
        env.cosign === undefined ? Promise.resolve(undefined) : verifyCosign(source, digest, env.cosign, all, signal),
      ]);
      if (notationOutcome.status === 'rejected') throw notationOutcome.reason;
      if (cosignOutcome.status === 'rejected') throw cosignOutcome.reason;
      const artifact = notationOutcome.value;
      const cosign = cosignOutcome.value;
      const result = toVerificationResult(env.name, ref, digest, artifact, cosign);
      // A policy narrows, never widens (docs/policies.md "What a policy may decide"): it is asked only
      // about an image the built-in rule verified, so nothing is admitted unless a signature was
      // checked against the environment's trust (or its trust policy statement is level skip).
      if (decisionPolicy === undefined || !result.verified) return result;
      const referrers = decisionPolicy.inputs.has('referrers') ? await this.#policyReferrers(source, ref, digest, env, signal) : undefined;
      const decision = await evaluateDecision(decisionPolicy, policyInput(result, artifact, referrers, cosign?.reports), signal);
      return applyDecision(result, decision);
    }).then(
      (value): Outcome => ({ value }),
      (error: unknown): Outcome => this.#failure(error, env.name, ref),
    );
    const shared = job.then((outcome): Decision => {
      try {
        this.#remember(cacheKey, outcome, sharedKey);
      } finally {
        this.#inFlight.delete(cacheKey);
      }
      this.#notify('verificationFinished', () =>
        this.#observer.verificationFinished?.({
          environment: env.name,
          registry: ref.registry,
          outcome: outcomeOf(outcome, 'verify'),
          durationMs: this.#now() - started,
        }),
      );
      return { ...outcome, cached: false };
    });
    this.#inFlight.set(cacheKey, shared);
    return shared;
  }

  /**
   * The image's referrers other than its signatures, for a decision policy that asks for them, each
   * with whether a Notary Project signature on it verifies under the environment's trust policy
   * (the statement for the image's repository, where the referrer is stored). Bounded: the first
   * MAX_POLICY_REFERRERS in listing order, each with at most 8 signatures evaluated.
   */
  async #policyReferrers(
    source: ContentSource,
    ref: ImageReference,
    digest: Digest,
    env: EnvironmentTrust,
    signal: AbortSignal,
  ): Promise<{ referrers: PolicyReferrer[]; truncated: boolean }> {
    const discovery = await discoverReferrers(source, digest, { signal, cosignLegacyTag: false });
    const others = discovery.artifacts.filter((a) => !(SIGNATURE_KINDS as readonly string[]).includes(a.kind));
    const referrers: PolicyReferrer[] = [];
    const policy = env.policy;
    for (const artifact of others.slice(0, MAX_POLICY_REFERRERS)) {
      // Without a Notary part there is no trust policy to check a referrer's signature under.
      if (policy === undefined || env.trustStore === undefined) {
        referrers.push(policyReferrer(artifact.descriptor, false));
        continue;
      }
      const signed = await verifyNotationArtifact(source, trustPolicyScope(ref), artifact.descriptor, policy, this.#verifierFor(env), {
        signal,
        maxSignatures: Math.min(8, this.#maxSignatures),
      });
      referrers.push(policyReferrer(artifact.descriptor, signed.verified && !signed.skippedByPolicy));
    }
    return { referrers, truncated: others.length > MAX_POLICY_REFERRERS };
  }

  /** Tag → manifest descriptor, from the tag cache or the registry (shared while running). */
  #resolveTag(ref: ImageReference): Promise<TagOutcome> {
    const tag = manifestReference(ref);
    const key = tagKey(ref);
    const cached = this.#tags.get(key);
    if (cached !== undefined) {
      this.#tagHits++;
      return Promise.resolve({ descriptor: cached });
    }
    this.#tagMisses++;
    const running = this.#tagsInFlight.get(key);
    if (running !== undefined) return running;
    const refused = this.#admit(ref.registry);
    if (refused !== undefined) return Promise.resolve({ error: refused });
    const job = this.#inBackground(ref.registry, (signal) => this.#sourceOf(ref).resolve(tag, { signal })).then(
      (descriptor): TagOutcome => {
        this.#tagsInFlight.delete(key);
        const frozen = Object.freeze({ mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size });
        const ttl = this.#cacheOptions.tagTtlMs;
        if (ttl > 0) this.#tags.set(key, frozen, { bytes: estimateBytes(key, frozen), ttlMs: ttl });
        return { descriptor: frozen };
      },
      (error: unknown): TagOutcome => {
        this.#tagsInFlight.delete(key);
        return { error };
      },
    );
    this.#tagsInFlight.set(key, job);
    return job;
  }

  /**
   * Whether one more background job for `host` fits maxPendingPerRegistry and maxPending: undefined
   * when it does, else the OVERLOADED error to answer with. Callers start the job (#inBackground)
   * synchronously after a successful check, so the count cannot change in between.
   */
  #admit(host: string): VouchError | undefined {
    const total = this.#running.size;
    const forHost = this.#pendingByHost.get(host) ?? 0;
    let limit: 'registry' | 'total';
    let message: string;
    if (forHost >= this.#maxPendingPerRegistry) {
      limit = 'registry';
      message = `${forHost} background jobs are pending for registry ${quote(host)}, the limit (maxPendingPerRegistry ${this.#maxPendingPerRegistry})`;
    } else if (total >= this.#maxPending) {
      limit = 'total';
      message = `${total} background jobs are pending, the limit (maxPending ${this.#maxPending})`;
    } else {
      return undefined;
    }
    this.#overloaded++;
    this.#notify('overloaded', () => this.#observer.overloaded?.({ registry: host, limit, pending: limit === 'total' ? total : forHost }));
    return new VouchError('DEADLINE_EXCEEDED', `vouch is overloaded: ${message}; nothing was started for this key, retry later`, {
      reason: 'OVERLOADED',
    });
  }

  /**
   * Runs registry work under the concurrency limits (per host and total) and the background budget
   * (not the request's deadline: a request that gives up leaves the work to finish and be cached).
   * Counted as pending for `host` from this call until it settles; callers check #admit first.
   */
  async #inBackground<T>(host: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    // One controller per job, aborted by its own timer or by close() (which walks #running):
    // AbortSignal.any + AbortSignal.timeout cost WeakRefs, a FinalizationRegistry entry and a
    // timer object per verification, a measurable share of a cold verification's CPU.
    const controller = new AbortController();
    const signal = controller.signal;
    if (this.#closing.signal.aborted) controller.abort(this.#closing.signal.reason);
    const timer = setTimeout(() => controller.abort(new Error('background budget exhausted')), this.#backgroundTimeoutMs);
    timer.unref();
    this.#running.add(controller);
    this.#pendingByHost.set(host, (this.#pendingByHost.get(host) ?? 0) + 1);
    try {
      const release = await this.#semaphore.acquire(host, signal);
      try {
        return await fn(signal);
      } finally {
        release();
      }
    } catch (error) {
      if (signal.aborted && error instanceof VouchError && error.code === 'DEADLINE_EXCEEDED') {
        const why = this.#closing.signal.aborted
          ? 'the verification engine was closed'
          : `not finished within ${this.#backgroundTimeoutMs} ms`;
        throw new VouchError('DEADLINE_EXCEEDED', `${why}: ${error.message}`, { reason: 'ABORTED', cause: error });
      }
      throw error;
    } finally {
      clearTimeout(timer);
      // Whatever the job started and did not wait for (a request raced by a failing one) stops now:
      // nothing of a job outlives its place in the pending counts.
      controller.abort(this.#jobFinished);
      this.#running.delete(controller);
      const left = (this.#pendingByHost.get(host) ?? 1) - 1;
      if (left > 0) this.#pendingByHost.set(host, left);
      else this.#pendingByHost.delete(host);
    }
  }

  #sourceOf(ref: ImageReference): ContentSource {
    return this.#sourceFor?.(ref.registry)?.(ref) ?? this.#client.repositoryFor(ref);
  }

  /** One NotationVerifier per environment and trust generation (it holds the trust store); for environments with a Notary part. */
  #verifierFor(env: EnvironmentTrust & { trustStore?: TrustStore | undefined }): NotationVerifier {
    const trustStore = env.trustStore;
    if (trustStore === undefined) throw new VouchError('INTERNAL', `environment ${quote(env.name)} has no Notary Project trust store`);
    const known = this.#verifiers.get(env.name);
    if (known !== undefined && known.generation === env.generation && known.trustStore === trustStore) return known.verifier;
    const verifier = new NotationVerifier({
      trustStore,
      revocation: this.#revocation,
      now: () => new Date(this.#now()),
      timestampRevocation: this.#timestampRevocation,
      logger: this.#log,
      caches: { certificates: this.#certificates, verdicts: this.#chainVerdicts },
      // A plugin's answers are part of the verification and cached with it (per environment, trust
      // generation, repository and digest, for resultTtlMs; a PLUGIN_ERROR for undecidedTtlMs), never
      // apart: a plugin is asked again only when the verification runs again.
      ...(this.#plugins !== undefined ? { plugins: this.#pluginsFor(env.name) } : {}),
    });
    this.#verifiers.set(env.name, { generation: env.generation, trustStore, verifier });
    this.#seedCertificates(env.policy, trustStore);
    return verifier;
  }

  /** The plugin host with `environment`'s plugin configuration (by plugin name; an empty map when it has none). */
  #pluginsFor(environment: string): { host: PluginHost; config: ReadonlyMap<string, PluginConfig> } {
    const plugins = this.#plugins!;
    return { host: plugins.host, config: plugins.configFor?.(environment) ?? new Map() };
  }

  /**
   * Puts the trusted certificates the policy names into the certificate cache, once per trust
   * generation (and again after clearCache): a signing chain usually carries its root, which the
   * trust store has parsed already, so its first verification need not parse it again (a
   * certificate parse is most of a cold verification's CPU). In the background and best effort: a
   * chain certificate not found yet is parsed as before, and a store that fails is the
   * verification's business, not this one's.
   */
  #seedCertificates(policy: OciTrustPolicy | undefined, trustStore: TrustStore): void {
    const refs = new Map((policy?.statements ?? []).flatMap((s) => s.trustStores).map((ref) => [`${ref.type}:${ref.name}`, ref]));
    for (const ref of refs.values()) {
      // Through a resolved promise, so that a store throwing synchronously is ignored too.
      void Promise.resolve()
        .then(() => trustStore.getCertificates(ref.type, ref.name))
        .then(
          (certificates) => {
            for (const certificate of certificates) this.#certificates.set(certificate.sha256Fingerprint, certificate);
          },
          () => undefined,
        );
    }
  }

  #checkAllowed(host: string): void {
    if (!this.#isRegistryAllowed(host)) {
      throw new RegistryError('REGISTRY_NOT_ALLOWED', `registry host ${quote(host)} is not allowed by configuration`, { reason: 'DENIED' });
    }
  }

  /**
   * Caches an outcome: answers for resultTtlMs (absence never), undecided ones only for undecidedTtlMs;
   * also in the shared cache under `sharedKey`, with the same rule and lifetime.
   */
  #remember(cacheKey: string, outcome: Outcome, sharedKey?: string): void {
    const ttl = this.#ttlOf(outcome);
    if (ttl <= 0) return;
    const stored = this.#store(cacheKey, outcome, ttl);
    if (sharedKey !== undefined) {
      const now = this.#now();
      this.#shared?.put(sharedKey, stored, now, now + ttl);
    }
  }

  /** Stores an outcome as served from the cache (marked `cached`, compact, frozen), so a hit allocates no copy. */
  #store(cacheKey: string, outcome: Outcome, ttlMs: number): Outcome {
    if ('value' in outcome) {
      const compact = this.#compactResults.compact(cacheKey, outcome.value);
      this.#results.set(cacheKey, compact.value, { bytes: compact.bytes, ttlMs });
      return { value: compact.value };
    }
    const frozen = deepFreeze({ error: outcome.error });
    this.#results.set(cacheKey, frozen, { bytes: estimateBytes(cacheKey, frozen), ttlMs });
    return frozen;
  }

  /** How long an outcome may be cached, in ms; 0: not at all (NOT_FOUND: an image pushed a moment later must not stay "not found"). */
  #ttlOf(outcome: Outcome): number {
    if (!('value' in outcome)) return this.#cacheOptions.undecidedTtlMs;
    return outcome.value.reasons[0]?.code === 'NOT_FOUND' ? 0 : this.#cacheOptions.resultTtlMs;
  }

  /**
   * An authentic shared entry as this replica would have cached it, also stored locally; undefined
   * when this replica would not cache it (its own #remember rules) or its shape is wrong. It lives no
   * longer than this replica's TTL from its creation, whatever lifetime the writer gave it.
   */
  #fromShared(cacheKey: string, payload: unknown, createdAt: number, expiresAt: number): Outcome | undefined {
    if (!isOutcome(payload)) return undefined;
    const ttl = Math.min(expiresAt, createdAt + this.#ttlOf(payload)) - this.#now();
    if (ttl <= 0) return undefined;
    return this.#store(
      cacheKey,
      'value' in payload ? { value: { ...payload.value, cached: true as const } } : { error: payload.error },
      ttl,
    );
  }

  /** What selects a shared entry besides the deployment's context: see docs/reliability.md "Several replicas". */
  #sharedParts(env: EnvironmentTrust, ref: ImageReference, digest: Digest): string[] {
    const options = `maxSignatures=${this.#maxSignatures};timestampRevocation=${this.#timestampRevocation}`;
    return [env.name, env.fingerprint ?? '', options, repositoryName(ref), digest];
  }

  /** What a failure means for a key: NOT_FOUND is an answer, codes of the table are errors, the rest INTERNAL. */
  #failure(error: unknown, environment: string | undefined, ref: ImageReference | undefined): Outcome {
    if (error instanceof VouchError && error.code === 'NOT_FOUND' && environment !== undefined && ref !== undefined) {
      return { value: notFoundResult(environment, ref, error.message) };
    }
    return { error: toKeyError(error, this.#log) };
  }

  #internal(error: unknown, key: string): { cached: false; error: KeyError } {
    this.#log.error({ err: errorMessage(error), key: quote(String(key)) }, 'internal error while deciding a key');
    return { cached: false, error: { code: 'INTERNAL', message: `internal error: ${errorMessage(error)}` } };
  }

  #notify(hook: string, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#log.warn({ hook, err: errorMessage(error) }, 'verification observer hook threw');
    }
  }
}

/**
 * The image's cosign signatures (legacy `.sig` layers and bundle referrers), each verified under the
 * environment's cosign trust: the first MAX_COSIGN_SIGNATURES in discovery order, stopping at the first
 * that verifies unless `all` (a decision policy may want every report). Entries discovery could not
 * use because they are malformed are reported as INVALID_SIGNATURE, as notation reports a bad envelope.
 */
async function verifyCosign(
  source: ContentSource,
  digest: Digest,
  trust: CosignTrust,
  all: boolean,
  signal: AbortSignal,
): Promise<CosignVerification> {
  const discovery = await findCosignSignatures(source, digest, { signal });
  // Entries discovery could not use (malformed) are reported after the checked ones, outside the cap.
  const malformed: CosignSignatureReport[] = discovery.skipped
    .filter((skipped) => skipped.code === 'INVALID_INPUT')
    .map((skipped) => ({
      type: 'cosign',
      digest: skipped.reference,
      verified: false,
      reasons: [{ code: 'INVALID_SIGNATURE', message: skipped.message }],
    }));
  const reports: CosignSignatureReport[] = [];
  for (const candidate of discovery.candidates.slice(0, MAX_COSIGN_SIGNATURES)) {
    signal.throwIfAborted();
    const report = await verifyCosignCandidate(candidate, digest, trust);
    reports.push(report);
    if (report.verified && !all) return { reports, found: reports.length };
  }
  return { reports: [...reports, ...malformed], found: discovery.candidates.length + malformed.length };
}

/** The shape of a cached outcome (a shared entry is authentic, so this guards against writer bugs only). */
function isOutcome(payload: unknown): payload is Outcome {
  if (typeof payload !== 'object' || payload === null) return false;
  const { value, error } = payload as { value?: unknown; error?: unknown };
  if (value !== undefined) {
    const v = value as { verified?: unknown; reasons?: unknown };
    return typeof value === 'object' && value !== null && typeof v.verified === 'boolean' && Array.isArray(v.reasons);
  }
  const e = error as { code?: unknown; message?: unknown } | undefined;
  return typeof error === 'object' && error !== null && typeof e!.code === 'string' && typeof e!.message === 'string';
}

/**
 * A parsed key (the memo of #parsedKeys), with its last answer-cache key: one string per key for as
 * long as the environment's trust generation and the digest (a tag's may move) stay, so a cached
 * request builds and hashes no key strings.
 */
class MemoizedKey {
  #resultKey = '';
  #generation: number | undefined = undefined;
  #digest = '';

  constructor(readonly parsed: ParsedKey) {}

  /** The answer-cache key of this key's reference at `digest` under `env` (a string owning its text, see ownedString). */
  resultKey(env: EnvironmentTrust, digest: Digest): string {
    if (this.#generation !== env.generation || this.#digest !== digest) {
      this.#resultKey = ownedString(resultKey(env, this.parsed.reference, digest));
      this.#generation = env.generation;
      this.#digest = digest;
    }
    return this.#resultKey;
  }
}

function tagKey(ref: ImageReference): string {
  return `${repositoryName(ref)}:${manifestReference(ref)}`;
}

function resultKey(env: EnvironmentTrust, ref: ImageReference, digest: Digest): string {
  // The repository is part of the key: scopes select statements per repository, and signatures are
  // stored per repository, so one digest can be verified in one repository and not in another.
  // It ends with the answer's reference (`host/repo@digest`, except Docker Hub's `docker.io` spelling),
  // which a compact cached answer then shares rather than copies.
  return `${env.name}\n${env.generation}\n${repositoryName(ref)}@${digest}`;
}

function deadlineDecision(key: unknown): { error: KeyError } {
  return {
    error: {
      code: 'DEADLINE_EXCEEDED',
      // No key and no advice here: the caller names the image (the Rego library, the mutate prefix
      // below) and says what to do once.
      message: 'not decided within the request deadline; the work continues in the background',
    },
  };
}

/**
 * A mutate error whose message starts with the image it is about. Gatekeeper's mutation system
 * reports an error item as `failed to retrieve external data item from provider <name>: <error>`
 * without the key (Gatekeeper v3.20 pkg/mutation, resolving external data placeholders), so the error
 * must name the image itself: `CODE: "<image>": message` once the server adds the code (the code
 * stays first, where the Rego library's parse_error looks for it). The image is the key's reference
 * as sent (an `[environment]` prefix dropped), quoted: keys are untrusted text.
 */
function namingImage(key: string, error: KeyError): KeyError {
  let image: string = key;
  try {
    image = splitKey(key).reference;
  } catch {
    // a malformed key is named as sent
  }
  return { ...error, message: `${quote(image)}: ${error.message}` };
}

/** Codes an error item may carry (docs/api.md "Codes": the error codes, answer codes for mutate, INTERNAL). */
function toKeyError(error: unknown, log: Logger): KeyError {
  if (error instanceof VouchError) {
    if ((UNDECIDED_CODES as readonly string[]).includes(error.code) || error.code === 'NOT_FOUND') {
      return { code: error.code, message: error.message, reason: error.reason };
    }
    log.error({ code: error.code, reason: error.reason, err: error.message }, 'unexpected error code while deciding a key');
    return { code: 'INTERNAL', message: `${error.code}: ${error.message}` };
  }
  log.error({ err: errorMessage(error), stack: error instanceof Error ? error.stack : undefined }, 'internal error while deciding a key');
  return { code: 'INTERNAL', message: `internal error: ${errorMessage(error)}` };
}

function outcomeOf(decision: { value: unknown } | { error: KeyError }, operation: 'verify' | 'mutate'): KeyOutcome {
  if ('error' in decision) return decision.error.code;
  if (operation === 'mutate') return 'PINNED';
  const value = decision.value as VerificationResult;
  return value.verified ? 'VERIFIED' : (value.reasons[0]?.code ?? 'INVALID_SIGNATURE');
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new VouchError('INVALID_CONFIG', `${name} must be a positive integer, got ${String(value)}`, { reason: 'BAD_CONTENT' });
  }
  return value;
}

function nonNegative(name: string, value: number): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new VouchError('INVALID_CONFIG', `${name} must be a non-negative number, got ${String(value)}`, { reason: 'BAD_CONTENT' });
  }
  return value;
}
