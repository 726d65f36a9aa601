// One runtime built from a configuration, wired in this one place: clock, logger, metrics, the
// registry client (its HTTP transport, allowlist and egress rules), the trust material per
// environment (EnvironmentSet, watched) and the verification engine over them. `vouch serve`,
// `vouch verify`, the demo and the benchmarks all build it here; the servers only receive it.
// Layers and the path of one request: docs/architecture.md.

import { createHash } from 'node:crypto';
import type { ImageReference } from '../core/index.js';
import {
  EnvironmentSet,
  hostAllowedPredicate,
  redactPluginConfig,
  registryMetricLabel,
  revocationEgressRules,
  type VouchConfig,
} from '../config/index.js';
import type { Logger } from '../log.js';
import { PluginHost, pluginEnvironment } from '../notation/index.js';
import { HttpTransport, LayoutRepository, OciLayoutSource, type ContentSource, type RegistryClient } from '../oci/index.js';
import { outcomeLabel, registryStatusLabel, type ProviderMetrics } from '../server/index.js';
import { VerificationEngine, type ContentSourceFactory, type EnginePlugins, type SharedCacheObserver } from '../verify/index.js';
import { createRegistryClient } from './registry-client.js';
import { createRedisSharedCache, type RedisSharedCache } from './shared-cache-redis.js';

/** Trust material, registry client and engine: what `vouch verify` needs, without any server. */
export interface VerificationStack {
  engine: VerificationEngine;
  environments: EnvironmentSet;
  client: RegistryClient;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  logger: Logger;
  /** Watch trust material for changes (the server does; a one-shot `vouch verify` does not). */
  watch: boolean;
  /** Prometheus metrics fed by the registry client and the engine's observer, when serving. */
  metrics?: ProviderMetrics;
  /** Clock in epoch ms for deadlines, cache expiry and certificate validity (default Date.now). */
  now?: () => number;
  /** The opa binary that compiles `.rego` decision policies (default: opa on the PATH). */
  opaPath?: string;
  /**
   * Content served for a registry host instead of the registry (before `ociLayout` registries):
   * promotion checks a signature it has not pushed yet against the destination's trust this way.
   */
  sourceFor?: (host: string) => ContentSourceFactory | undefined;
}

/** The built runtime: the stack plus the injected clock, logger and metrics it was built with. */
export interface Runtime extends VerificationStack {
  config: VouchConfig;
  now: () => number;
  logger: Logger;
  metrics: ProviderMetrics | undefined;
  /**
   * Where the engine reads `ref` from: the OCI layout configured for its host (`registries.<host>.ociLayout`),
   * else the registry client. For commands that look at the same content the engine verifies (`vouch referrers`).
   */
  sourceOf(ref: ImageReference): ContentSource;
}

/**
 * Per-phase timeout of the revocation transport; each OCSP (2 s) or CRL (5 s) request has its own,
 * shorter deadline for the whole exchange (RevocationOptions).
 */
const REVOCATION_TRANSPORT_TIMEOUT_MS = 10_000;

/** Builds the runtime for `config`; on failure, whatever was already started is closed again. */
export async function createRuntime(config: VouchConfig, options: RuntimeOptions): Promise<Runtime> {
  const { logger, metrics } = options;
  const now = options.now ?? Date.now;
  const environments = await EnvironmentSet.load(config, {
    watch: options.watch,
    logger: logger.child({ module: 'config' }),
    // Decision policies see the runtime's clock (time.now_ns), like certificate validity does.
    policy: {
      clock: () => new Date(now()),
      logger: logger.child({ module: 'policy' }),
      ...(options.opaPath ? { opaPath: options.opaPath } : {}),
    },
  });
  const isRegistryAllowed = hostAllowedPredicate(config);
  // Label values bounded by the configuration (docs/security.md "Metrics"); other event fields are ignored.
  const hostLabel = registryMetricLabel(config);
  const client = createRegistryClient(config, {
    logger: logger.child({ module: 'oci.registry' }),
    now,
    ...(metrics
      ? {
          onRequest: (e) =>
            metrics.registryRequests.inc({ host: hostLabel(e.host), method: e.method, status: registryStatusLabel(e.status) }),
          onThrottled: (e) => metrics.registryThrottled.inc({ host: hostLabel(e.host), outcome: e.retried ? 'retried' : 'gave_up' }),
          onConcurrencyLimit: (host, limit) => metrics.registryConcurrencyLimit.set({ host: hostLabel(host) }, limit),
        }
      : {}),
  });
  // Revocation gets its own transport: its redirect rule differs (revocation.allowedHosts counts),
  // and OCSP/CRL traffic has its own connection pool, timeouts and limits apart from registries'.
  const revocationEgress = revocationEgressRules(config);
  const revocationTransport = new HttpTransport({
    timeoutMs: REVOCATION_TRANSPORT_TIMEOUT_MS,
    maxRedirects: 3,
    connectionsPerOrigin: 4,
    isRedirectAllowed: revocationEgress.isRedirectAllowed,
    isAddressExempt: revocationEgress.isAddressExempt,
  });
  const layouts = new Map<string, OciLayoutSource>();
  try {
    for (const [host, registry] of config.registries) {
      if (registry.ociLayout !== undefined) layouts.set(host, await OciLayoutSource.open(registry.ociLayout));
    }
  } catch (error) {
    await Promise.allSettled([environments.close(), client.close(), revocationTransport.close()]);
    throw error;
  }
  const plugins = verificationPlugins(config, logger, now, metrics);
  let shared: RedisSharedCache | undefined;
  const sharedConfig = config.cache.shared;
  if (sharedConfig !== undefined) {
    try {
      shared = await createRedisSharedCache(sharedConfig, {
        now,
        logger: logger.child({ module: 'verify.shared-cache' }),
        // Settings outside the environments that change verdicts: replicas differing in them share nothing.
        context: JSON.stringify({
          revocation: { offline: config.revocation.offline, crlDirectory: config.revocation.crlDirectory ?? null },
          // Plugins decide verdicts too: replicas with other plugins or plugin configuration share nothing.
          ...(config.plugins !== undefined ? { plugins: pluginsFingerprint(config.plugins) } : {}),
        }),
        ...(metrics ? { observer: sharedCacheObserver(metrics) } : {}),
      });
    } catch (error) {
      await Promise.allSettled([environments.close(), client.close(), revocationTransport.close()]);
      throw error;
    }
  }
  const sourceFor = (host: string): ContentSourceFactory | undefined => {
    const override = options.sourceFor?.(host);
    if (override !== undefined) return override;
    const layout = layouts.get(host);
    return layout === undefined ? undefined : (ref: ImageReference) => new LayoutRepository(layout, `${ref.registry}/${ref.repository}`);
  };
  const engine = new VerificationEngine({
    environments,
    client,
    sourceFor,
    isRegistryAllowed,
    now,
    revocation: {
      offline: config.revocation.offline,
      ...(config.revocation.crlDirectory ? { localCrls: config.revocation.crlDirectory } : {}),
      transport: revocationTransport,
      isHostAllowed: revocationEgress.isHostAllowed,
      logger: logger.child({ module: 'notation.revocation' }),
    },
    timestampRevocation: config.revocation.timestampRevocation,
    ...(plugins !== undefined ? { plugins } : {}),
    concurrencyPerRegistry: config.limits.concurrencyPerRegistry,
    maxConcurrent: config.limits.maxConcurrent,
    maxPendingPerRegistry: config.limits.maxPendingPerRegistry,
    maxPending: config.limits.maxPending,
    cache: {
      maxEntries: config.cache.maxEntries,
      maxBytes: config.cache.maxBytes,
      undecidedTtlMs: config.cache.undecidedTtlMs,
      tagTtlMs: config.cache.tagTtlMs,
    },
    ...(shared ? { sharedCache: shared.cache } : {}),
    ...(metrics
      ? {
          // The one place key outcomes are counted, for every route (HTTP and gRPC): the servers pass
          observer: {
            // their route as the request's `caller` (a library call on the engine passes none: not counted).
            keyDecided: (e) => {
              // The environment label only ever takes a configured environment's name (keys name any string).
              if (e.caller !== undefined) {
                const environment = e.environment !== undefined && config.environments.has(e.environment) ? e.environment : '';
                metrics.countKeyOutcome(e.caller, outcomeLabel(e.outcome), e.count, environment);
              }
            },
            cacheLookup: (e: { hit: boolean }) => metrics.cacheLookups.inc({ result: e.hit ? 'hit' : 'miss' }),
            overloaded: (e: { limit: 'registry' | 'total' }) => metrics.overloadedKeys.inc({ limit: e.limit }),
          },
        }
      : {}),
    logger: logger.child({ module: 'verify' }),
  });
  if (metrics) {
    metrics.cacheEntriesSource = () => engine.stats().entries;
    metrics.trustStateSource = () => environments.status();
    metrics.backgroundJobsSource = () => engine.stats().pending;
    metrics.backgroundJobsRunningSource = () => engine.stats().running;
    if (shared) {
      const cache = shared.cache;
      metrics.sharedCacheCircuitSource = () => cache.state;
    }
  }
  return {
    config,
    now,
    logger,
    metrics,
    engine,
    environments,
    client,
    sourceOf: (ref) => sourceFor(ref.registry)?.(ref) ?? client.repositoryFor(ref),
    close: async () => {
      await Promise.allSettled([engine.close(), environments.close()]);
      await Promise.allSettled([client.close(), revocationTransport.close(), shared?.close()]);
    },
  };
}

/**
 * The one plugin host of the runtime (docs/configuration.md "plugins"), shared by every environment,
 * each of which sends its own plugin configuration. Plugins get a scrubbed environment: only the
 * variables `passEnvironment` names. Their answers are cached with the verifications (the engine's
 * result cache), their metadata by the host for metadataTtlMs.
 */
function verificationPlugins(
  config: VouchConfig,
  logger: Logger,
  now: () => number,
  metrics: ProviderMetrics | undefined,
): EnginePlugins | undefined {
  const section = config.plugins;
  if (section === undefined) return undefined;
  const host = new PluginHost({
    directory: section.directory,
    timeoutMs: section.timeoutMs,
    maxConcurrent: section.maxConcurrent,
    maxOutputBytes: section.maxOutputBytes,
    metadataTtlMs: section.metadataTtlMs,
    environment: pluginEnvironment(section.passEnvironment),
    logger: logger.child({ module: 'notation.plugins' }),
    now,
    ...(metrics
      ? {
          // Labels bounded: installed plugins' names (else ""), the contract's commands, "ok" or a reason.
          observer: {
            commandFinished: (e) => {
              metrics.pluginCommands.inc({ plugin: e.plugin, command: e.command, outcome: e.outcome });
              metrics.pluginCommandDuration.observe({ plugin: e.plugin, command: e.command }, e.durationMs / 1000);
            },
          },
        }
      : {}),
  });
  // What an operator needs to check the setup, once: secrets (fromEnv values) never reach the log.
  logger.info(
    {
      directory: section.directory,
      timeoutMs: section.timeoutMs,
      maxConcurrent: section.maxConcurrent,
      passEnvironment: section.passEnvironment,
      config: Object.fromEntries(
        [...section.config].map(([environment, byPlugin]) => [
          environment,
          Object.fromEntries([...byPlugin.keys()].map((plugin) => [plugin, redactPluginConfig(section, environment, plugin)])),
        ]),
      ),
    },
    'notation plugins configured',
  );
  return { host, configFor: (environment) => section.config.get(environment) };
}

/**
 * What of the plugins section decides verdicts, as a digest (plugin configuration may hold secrets:
 * never in a key as such): the directory and every environment's plugin configuration.
 */
function pluginsFingerprint(plugins: NonNullable<VouchConfig['plugins']>): string {
  const config = [...plugins.config].map(([environment, byPlugin]) => [
    environment,
    [...byPlugin].map(([plugin, values]) => [plugin, Object.entries(values).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]),
  ]);
  return createHash('sha256')
    .update(JSON.stringify({ directory: plugins.directory, config }))
    .digest('hex');
}

function sharedCacheObserver(metrics: ProviderMetrics): SharedCacheObserver {
  return {
    lookup: (e) => {
      metrics.sharedCacheLookups.inc({ result: e.result });
      if (e.reason !== undefined) metrics.sharedCacheRejected.inc({ reason: e.reason });
    },
    write: (e) => metrics.sharedCacheWrites.inc({ result: e.result }),
  };
}

/**
 * Trust material, registry client and engine for a configuration, without any server: what
 * `vouch verify` uses, and the core of `startProvider` (kept as the public name of {@link createRuntime}).
 */
export function createVerificationStack(config: VouchConfig, options: RuntimeOptions): Promise<VerificationStack> {
  return createRuntime(config, options);
}
