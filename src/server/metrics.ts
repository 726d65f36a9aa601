// Prometheus metrics (prom-client) for the provider: request latency, outcomes per code, registry
// requests by host and status, cache hits and misses. One Registry per server instance, so tests
// and embedded servers never share global state.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class ProviderMetrics {
  readonly registry = new Registry();
  readonly requestDuration: Histogram<'route' | 'status'>;
  readonly keyOutcomes: Counter<'route' | 'outcome'>;
  readonly registryRequests: Counter<'host' | 'method' | 'status'>;
  readonly cacheLookups: Counter<'result'>;
  readonly cacheEntries: Gauge;
  /** Read when /metrics is scraped: the number of cached verification results. */
  cacheEntriesSource: () => number = () => 0;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'vouch_' });
    this.requestDuration = new Histogram({
      name: 'vouch_request_duration_seconds',
      help: 'Provider request latency by route and HTTP/gRPC status.',
      labelNames: ['route', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    this.keyOutcomes = new Counter({
      name: 'vouch_key_outcomes_total',
      help: 'Keys answered, by route and outcome (verified, or the stable code of the reason or error).',
      labelNames: ['route', 'outcome'],
      registers: [this.registry],
    });
    this.registryRequests = new Counter({
      name: 'vouch_registry_requests_total',
      help: 'HTTP requests made to registries, by host, method and status ("error" when no answer).',
      labelNames: ['host', 'method', 'status'],
      registers: [this.registry],
    });
    this.cacheLookups = new Counter({
      name: 'vouch_cache_lookups_total',
      help: 'Verification result cache lookups, by result (hit or miss).',
      labelNames: ['result'],
      registers: [this.registry],
    });
    this.cacheEntries = new Gauge({
      name: 'vouch_cache_entries',
      help: 'Verification results currently cached.',
      registers: [this.registry],
    });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
