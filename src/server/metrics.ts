// Prometheus metrics (prom-client) for the provider: request latency, outcomes per code, registry
// requests by host and status, cache hits and misses, background work, trust material state. One
// Registry per server instance, so tests and embedded servers never share global state. Label values
// never come straight from a registry or a key: each series costs memory here and in Prometheus, so
// hosts are bucketed by the configuration (config registryMetricLabel) and statuses by
// registryStatusLabel.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { KeyOutcome, KeyResult, MutateResult } from '../verify/index.js';

/**
 * The trust material state the trust gauges are read from at scrape time (EnvironmentSet.status()
 * has this shape). Labels come from configuration only: environment names and the stores the served
 * trust policies name, so their number is bounded by the configuration.
 */
export interface TrustMaterialState {
  environments: ReadonlyArray<{
    name: string;
    error: string | undefined;
    policyWithdrawn: unknown;
    trustStores: ReadonlyArray<{ store: string; state: string; withdrawnCertificates: number }>;
  }>;
}

export class ProviderMetrics {
  readonly registry = new Registry();
  readonly requestDuration: Histogram<'route' | 'status'>;
  readonly keyOutcomes: Counter<'route' | 'outcome' | 'environment'>;
  readonly registryRequests: Counter<'host' | 'method' | 'status'>;
  readonly registryThrottled: Counter<'host' | 'outcome'>;
  readonly registryConcurrencyLimit: Gauge<'host'>;
  readonly cacheLookups: Counter<'result'>;
  readonly cacheEntries: Gauge;
  /** Read when /metrics is scraped: the number of cached verification results. */
  cacheEntriesSource: () => number = () => 0;
  readonly trustStoreWithdrawn: Gauge<'environment' | 'store'>;
  readonly trustStoreWithdrawnCertificates: Gauge<'environment' | 'store'>;
  readonly trustPolicyWithdrawn: Gauge<'environment'>;
  readonly trustReloadFailing: Gauge<'environment'>;
  /** Read when /metrics is scraped: the trust material of every environment. */
  trustStateSource: () => TrustMaterialState = () => ({ environments: [] });
  readonly backgroundJobs: Gauge;
  /** Read when /metrics is scraped: background jobs (verifications, tag resolutions) running or queued. */
  backgroundJobsSource: () => number = () => 0;
  readonly backgroundJobsRunning: Gauge;
  /** Read when /metrics is scraped: background jobs running (holding a slot of limits.maxConcurrent). */
  backgroundJobsRunningSource: () => number = () => 0;
  readonly overloadedKeys: Counter<'limit'>;
  readonly pluginCommands: Counter<'plugin' | 'command' | 'outcome'>;
  readonly pluginCommandDuration: Histogram<'plugin' | 'command'>;
  readonly sharedCacheLookups: Counter<'result'>;
  readonly sharedCacheRejected: Counter<'reason'>;
  readonly sharedCacheWrites: Counter<'result'>;
  readonly sharedCacheCircuit: Gauge<'state'>;
  /** Read when /metrics is scraped: the shared cache's circuit state, undefined without a shared cache. */
  sharedCacheCircuitSource: () => string | undefined = () => undefined;
  readonly connectionsRefused: Counter;
  readonly openConnections: Gauge;
  /** Read when /metrics is scraped: TCP connections open on the provider listener. */
  openConnectionsSource: () => number = () => 0;

  /**
   * Keys counted by {@link countKeyOutcome} since the last scrape, by route, then outcome. The engine
   * reports every key; a Map update costs a tenth of a prom-client `inc` (about 270 ns), which on a
   * 100-key cached request is a few percent of the answer time. Two levels rather than one joined
   * key: the route and outcome strings are the same few every time, so no string is built or hashed
   * per key.
   */
  readonly #pendingOutcomes = new Map<string, Map<string, Map<string, number>>>();

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'vouch_' });
    this.requestDuration = new Histogram({
      name: 'vouch_request_duration_seconds',
      help: 'Provider request latency by route and HTTP/gRPC status.',
      labelNames: ['route', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    const pendingOutcomes = this.#pendingOutcomes;
    this.keyOutcomes = new Counter({
      name: 'vouch_key_outcomes_total',
      help: 'Keys answered, by route, outcome (verified, or the stable code of the reason or error) and environment ("" when the key names none vouch knows).',
      labelNames: ['route', 'outcome', 'environment'],
      registers: [this.registry],
      // prom-client calls `collect` with the counter as `this` on every scrape.
      collect() {
        for (const [route, environments] of pendingOutcomes) {
          for (const [environment, outcomes] of environments) {
            for (const [outcome, count] of outcomes) this.inc({ route, outcome, environment }, count);
          }
        }
        pendingOutcomes.clear();
      },
    });
    this.registryRequests = new Counter({
      name: 'vouch_registry_requests_total',
      help: 'HTTP requests made to registries, by host, method and status ("error" when no answer).',
      labelNames: ['host', 'method', 'status'],
      registers: [this.registry],
    });
    this.registryThrottled = new Counter({
      name: 'vouch_registry_throttled_total',
      help: 'Throttling answers from registries (429, or 503 with Retry-After), by host and outcome: retried, or gave_up (the request failed REGISTRY_UNAVAILABLE, reason RATE_LIMITED).',
      labelNames: ['host', 'outcome'],
      registers: [this.registry],
    });
    this.registryConcurrencyLimit = new Gauge({
      name: 'vouch_registry_concurrency_limit',
      help: 'Adaptive limit of HTTP requests in flight to a registry host, as last changed (halved on throttling, up to limits.registryRequests.maxInFlight); hosts without a label of their own share "other".',
      labelNames: ['host'],
      registers: [this.registry],
    });
    this.cacheLookups = new Counter({
      name: 'vouch_cache_lookups_total',
      help: 'Verification result cache lookups, by result (hit or miss).',
      labelNames: ['result'],
      registers: [this.registry],
    });
    // prom-client calls `collect` with the gauge as `this` on every scrape.
    const sources = this;
    this.cacheEntries = new Gauge({
      name: 'vouch_cache_entries',
      help: 'Verification results currently cached.',
      registers: [this.registry],
      collect() {
        this.set(sources.cacheEntriesSource());
      },
    });
    this.backgroundJobs = new Gauge({
      name: 'vouch_background_jobs',
      help: 'Background jobs (verifications and tag resolutions) running or queued; at most limits.maxPending.',
      registers: [this.registry],
      collect() {
        this.set(sources.backgroundJobsSource());
      },
    });
    this.backgroundJobsRunning = new Gauge({
      name: 'vouch_background_jobs_running',
      help: 'Background jobs running (the rest of vouch_background_jobs is queued for a slot); at most limits.maxConcurrent.',
      registers: [this.registry],
      collect() {
        this.set(sources.backgroundJobsRunningSource());
      },
    });
    this.overloadedKeys = new Counter({
      name: 'vouch_overloaded_keys_total',
      help: 'Keys answered DEADLINE_EXCEEDED (reason OVERLOADED) without starting work, by the limit reached: registry (limits.maxPendingPerRegistry) or total (limits.maxPending).',
      labelNames: ['limit'],
      registers: [this.registry],
    });
    // Notary Project plugins (docs/plugins.md): `plugin` is an installed plugin's name, or "" when the
    // one a signature named could not be run (names in signatures are anyone's to choose).
    this.pluginCommands = new Counter({
      name: 'vouch_plugin_commands_total',
      help: 'Notary Project plugin commands run, by plugin, command and outcome: ok, or the PLUGIN_ERROR reason (TIMEOUT, PLUGIN_CRASHED, BAD_OUTPUT, …).',
      labelNames: ['plugin', 'command', 'outcome'],
      registers: [this.registry],
    });
    this.pluginCommandDuration = new Histogram({
      name: 'vouch_plugin_command_duration_seconds',
      help: 'Time of one Notary Project plugin command, including the wait for a free plugin slot.',
      labelNames: ['plugin', 'command'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    this.sharedCacheLookups = new Counter({
      name: 'vouch_shared_cache_lookups_total',
      help: 'Shared (Redis) result cache look-ups after a local miss, by result: hit, miss, rejected (entry not authentic, expired, malformed, too large), error (failed or timed out), skipped (circuit open or too many commands in flight).',
      labelNames: ['result'],
      registers: [this.registry],
    });
    this.sharedCacheRejected = new Counter({
      name: 'vouch_shared_cache_rejected_total',
      help: 'Shared cache entries refused (served as misses), by reason: mac, expired, version, malformed, too-large.',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    this.sharedCacheWrites = new Counter({
      name: 'vouch_shared_cache_writes_total',
      help: 'Shared cache writes after a verification, by result: stored, error, skipped.',
      labelNames: ['result'],
      registers: [this.registry],
    });
    this.sharedCacheCircuit = new Gauge({
      name: 'vouch_shared_cache_circuit',
      help: "The shared cache circuit breaker's state (1 for the current one): closed (Redis used), open (skipped for a cool-down), half-open (one probe).",
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        this.reset();
        const state = sources.sharedCacheCircuitSource();
        if (state === undefined) return;
        for (const s of ['closed', 'open', 'half-open']) this.set({ state: s }, s === state ? 1 : 0);
      },
    });
    this.connectionsRefused = new Counter({
      name: 'vouch_connections_refused_total',
      help: 'Connections closed on arrival, before the TLS handshake, because server.maxConnections were open and none was idle.',
      registers: [this.registry],
    });
    this.openConnections = new Gauge({
      name: 'vouch_open_connections',
      help: 'TCP connections open on the provider listener (handshaking, busy or idle); at most server.maxConnections.',
      registers: [this.registry],
      collect() {
        this.set(sources.openConnectionsSource());
      },
    });
    // The trust gauges are set from trustStateSource on every scrape (a cheap in-memory summary).
    const trustState = (): TrustMaterialState => this.trustStateSource();
    this.trustStoreWithdrawn = new Gauge({
      name: 'vouch_trust_store_withdrawn',
      help: 'Trust stores named by a served trust policy whose trust is withdrawn (1): files removed, emptied or broken after the last good load, no certificate left.',
      labelNames: ['environment', 'store'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const env of trustState().environments) {
          for (const s of env.trustStores) this.set({ environment: env.name, store: s.store }, s.state === 'withdrawn' ? 1 : 0);
        }
      },
    });
    this.trustStoreWithdrawnCertificates = new Gauge({
      name: 'vouch_trust_store_withdrawn_certificates',
      help: 'Certificates of the last good load of a trust store that are no longer trusted (removed, emptied or broken on disk).',
      labelNames: ['environment', 'store'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const env of trustState().environments) {
          for (const s of env.trustStores) this.set({ environment: env.name, store: s.store }, s.withdrawnCertificates);
        }
      },
    });
    this.trustPolicyWithdrawn = new Gauge({
      name: 'vouch_trust_policy_withdrawn',
      help: 'Environments whose trust policy file is removed or empty (1): every image answers NO_TRUST_POLICY.',
      labelNames: ['environment'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const env of trustState().environments) this.set({ environment: env.name }, env.policyWithdrawn === undefined ? 0 : 1);
      },
    });
    this.trustReloadFailing = new Gauge({
      name: 'vouch_trust_material_reload_failing',
      help: 'Environments whose trust policy or trust store files cannot be loaded as they are (1); details in /readyz and the log.',
      labelNames: ['environment'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const env of trustState().environments) this.set({ environment: env.name }, env.error === undefined ? 0 : 1);
      },
    });
  }

  /**
   * Counts `count` keys answered on `route` with `outcome` (an {@link outcomeLabel}) in `environment`
   * (a configured environment's name, or "" for keys that name none: the caller bounds the values);
   * shown from the next scrape on.
   */
  countKeyOutcome(route: string, outcome: string, count = 1, environment = ''): void {
    let environments = this.#pendingOutcomes.get(route);
    if (environments === undefined) this.#pendingOutcomes.set(route, (environments = new Map()));
    let outcomes = environments.get(environment);
    if (outcomes === undefined) environments.set(environment, (outcomes = new Map()));
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + count);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** HTTP statuses a registry commonly answers (distribution-spec v1.1 and RFC 9110), kept as they are. */
const KNOWN_STATUSES = new Set([
  200, 201, 202, 204, 206, 301, 302, 303, 307, 308, 400, 401, 403, 404, 405, 409, 416, 429, 500, 502, 503, 504,
]);

/**
 * The `status` label of vouch_registry_requests_total: a common status as is, any other by its class
 * (`2xx`…`5xx`, `other` outside 100..599), `error` when no answer came. A registry chooses the status
 * it sends, so an unbounded label would let it create series at will.
 */
export function registryStatusLabel(status: number | 'error'): string {
  if (status === 'error') return 'error';
  if (KNOWN_STATUSES.has(status)) return String(status);
  return Number.isInteger(status) && status >= 100 && status <= 599 ? `${Math.floor(status / 100)}xx` : 'other';
}

/**
 * The outcome label of a key for the request log line and `vouch_key_outcomes_total`: "verified",
 * "pinned" (mutate), or the code of the decisive reason or of the error (docs/api.md "Metrics").
 */
export function outcomeLabel(outcome: KeyOutcome): string {
  return outcome === 'VERIFIED' ? 'verified' : outcome === 'PINNED' ? 'pinned' : outcome;
}

/** What a key came to, from the result the server answers with (as the engine reports it to its observer). */
export function keyOutcome(result: KeyResult | MutateResult): KeyOutcome {
  if (result.error !== undefined) return result.error.code;
  if (typeof result.value === 'string') return 'PINNED';
  return result.value.verified ? 'VERIFIED' : (result.value.reasons[0]?.code ?? 'INVALID_SIGNATURE');
}

/** Outcome label → number of keys, for the one log line per request. */
export function countOutcomes(results: ReadonlyArray<KeyResult | MutateResult>): Record<string, number> {
  const byCode: Record<string, number> = {};
  for (const result of results) {
    const label = outcomeLabel(keyOutcome(result));
    byCode[label] = (byCode[label] ?? 0) + 1;
  }
  return byCode;
}
