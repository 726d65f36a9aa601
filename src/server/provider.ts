// The provider assembled from a configuration: trust material per environment (watched), the
// registry client, the verification engine, and the HTTP(S) and gRPC servers. `vouch serve` and
// the demo run this; tests start it in-process or as a real process.

import { isDigest, type ImageReference } from '../core/index.js';
import {
  EnvironmentSet,
  egressRules,
  formatAddress,
  hostAllowedPredicate,
  registryHostConfigs,
  registryMetricLabel,
  type VouchConfig,
} from '../config/index.js';
import { moduleLogger, type Logger } from '../log.js';
import { OciLayoutSource, RegistryClient, type ContentSource, type Descriptor, type FetchOptions } from '../oci/index.js';
import { VerificationEngine, type ContentSourceFactory } from '../verify/index.js';
import { ProviderGrpcServer } from './grpc.js';
import { ProviderHttpServer } from './http.js';
import { ProviderMetrics, registryStatusLabel } from './metrics.js';
import type { KeyOutcome, ProviderBackend } from './provider-protocol.js';

export interface RunningProvider {
  /** Base URL of the Gatekeeper endpoints (http[s]://host:port). */
  url: string;
  /** host:port of the gRPC service, when configured. */
  grpcAddress: string | undefined;
  /** Base URL of the plain-HTTP health/metrics listener, when `server.healthAddress` is set. */
  healthUrl: string | undefined;
  engine: VerificationEngine;
  environments: EnvironmentSet;
  metrics: ProviderMetrics;
  /** Stops accepting, finishes in-flight requests, stops watchers and background work. */
  close(): Promise<void>;
}

export interface StartProviderOptions {
  logger?: Logger;
  /** Watch trust material for changes (default true). */
  watch?: boolean;
  /** Prometheus default process metrics (default true). */
  defaultMetrics?: boolean;
}

/**
 * One repository of a registry host served from an OCI image layout: tags are looked up as the
 * full reference (`host/repo:tag`, as `org.opencontainers.image.ref.name`), digests directly.
 */
class LayoutRepository implements ContentSource {
  readonly location: string;
  constructor(
    private readonly layout: OciLayoutSource,
    private readonly name: string,
  ) {
    this.location = `${layout.location} (${name})`;
  }

  #ref(reference: string): string {
    return isDigest(reference) ? reference : `${this.name}:${reference}`;
  }

  resolve(reference: string, options?: FetchOptions) {
    return this.layout.resolve(this.#ref(reference), options);
  }

  fetchManifest(reference: string | Descriptor, options?: FetchOptions) {
    return this.layout.fetchManifest(typeof reference === 'string' ? this.#ref(reference) : reference, options);
  }

  fetchBlob(...args: Parameters<OciLayoutSource['fetchBlob']>) {
    return this.layout.fetchBlob(...args);
  }

  listReferrers(...args: Parameters<OciLayoutSource['listReferrers']>) {
    return this.layout.listReferrers(...args);
  }
}

export interface VerificationStack {
  engine: VerificationEngine;
  environments: EnvironmentSet;
  client: RegistryClient;
  close(): Promise<void>;
}

/**
 * Trust material, registry client and engine for a configuration, without any server: what
 * `vouch verify` uses, and the core of `startProvider`.
 */
export async function createVerificationStack(
  config: VouchConfig,
  options: { logger: Logger; watch: boolean; metrics?: ProviderMetrics },
): Promise<VerificationStack> {
  const { logger, metrics } = options;
  const environments = await EnvironmentSet.load(config, { watch: options.watch, logger: logger.child({ module: 'config' }) });
  const isRegistryAllowed = hostAllowedPredicate(config);
  // Label values bounded by the configuration (docs/security.md "Metrics"); other event fields are ignored.
  const hostLabel = registryMetricLabel(config);
  const client = new RegistryClient({
    hosts: registryHostConfigs(config),
    isHostAllowed: isRegistryAllowed,
    egress: egressRules(config),
    logger: logger.child({ module: 'oci.registry' }),
    ...(metrics
      ? {
          onRequest: (e) =>
            metrics.registryRequests.inc({ host: hostLabel(e.host), method: e.method, status: registryStatusLabel(e.status) }),
        }
      : {}),
  });
  const layouts = new Map<string, OciLayoutSource>();
  try {
    for (const [host, registry] of config.registries) {
      if (registry.ociLayout !== undefined) layouts.set(host, await OciLayoutSource.open(registry.ociLayout));
    }
  } catch (error) {
    await Promise.allSettled([environments.close(), client.close()]);
    throw error;
  }
  const sourceFor = (host: string): ContentSourceFactory | undefined => {
    const layout = layouts.get(host);
    return layout === undefined ? undefined : (ref: ImageReference) => new LayoutRepository(layout, `${ref.registry}/${ref.repository}`);
  };
  const engine = new VerificationEngine({
    environments,
    client,
    sourceFor,
    isRegistryAllowed,
    revocation: {
      offline: config.revocation.offline,
      ...(config.revocation.crlDirectory ? { localCrls: config.revocation.crlDirectory } : {}),
    },
    timestampRevocation: config.revocation.timestampRevocation,
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
    ...(metrics
      ? {
          observer: {
            cacheLookup: (e: { hit: boolean }) => metrics.cacheLookups.inc({ result: e.hit ? 'hit' : 'miss' }),
            overloaded: (e: { limit: 'registry' | 'total' }) => metrics.overloadedKeys.inc({ limit: e.limit }),
          },
        }
      : {}),
    logger: logger.child({ module: 'verify' }),
  });
  return {
    engine,
    environments,
    client,
    close: async () => {
      await Promise.allSettled([engine.close(), environments.close()]);
      await client.close();
    },
  };
}

export async function startProvider(config: VouchConfig, options: StartProviderOptions = {}): Promise<RunningProvider> {
  const logger = options.logger ?? moduleLogger('server');
  const metrics = new ProviderMetrics({ defaultMetrics: options.defaultMetrics ?? true });
  const stack = await createVerificationStack(config, { logger, watch: options.watch ?? true, metrics });
  const { engine, environments } = stack;
  metrics.cacheEntriesSource = () => engine.stats().entries;
  metrics.trustStateSource = () => environments.status();
  metrics.backgroundJobsSource = () => engine.stats().pending;
  metrics.backgroundJobsRunningSource = () => engine.stats().running;

  const backend: ProviderBackend = {
    verify: async (keys, { deadline }) => (await engine.verify(keys, { deadline })) as KeyOutcome[],
    mutate: async (keys, { deadline }) => (await engine.mutate(keys, { deadline })) as Array<KeyOutcome<string>>,
  };
  const { server } = config;
  // Withdrawn trust (a trust store or policy file removed or emptied) keeps /readyz at 200 with
  // status "degraded": every replica reads the same ConfigMap, so a 503 would take all of them out
  // of the Service and turn one withdrawn store into an outage of every environment, while the
  // answers under the withdrawn trust already fail closed. 503 stays for material not loaded.
  const readiness = () => {
    const status = environments.status();
    return {
      ready: status.ready,
      status: !status.ready ? 'not-ready' : status.degraded ? 'degraded' : 'ok',
      detail: status.environments.map((e) => {
        const withdrawn = e.trustStores.filter((s) => s.state !== 'trusted');
        return {
          name: e.name,
          state: e.state,
          loaded: e.loaded,
          generation: e.generation,
          ...(e.error ? { error: e.error } : {}),
          ...(e.policyWithdrawn ? { policyWithdrawn: e.policyWithdrawn } : {}),
          ...(withdrawn.length > 0 ? { withdrawn } : {}),
        };
      }),
      publicDetail: status.environments.map((e) => ({ name: e.name, state: e.state })),
    };
  };
  // Both transports serve with the same certificate (and the same client CA for mTLS).
  const tls = server.tls
    ? {
        tls: {
          certFile: server.tls.certFile,
          keyFile: server.tls.keyFile,
          ...(server.tls.clientCAFile ? { clientCAFile: server.tls.clientCAFile } : {}),
        },
      }
    : {};
  const http = new ProviderHttpServer({
    backend,
    address: formatAddress(server.address),
    ...tls,
    requestTimeoutMs: server.requestTimeoutMs,
    mutateTimeoutMs: server.mutateTimeoutMs,
    keepAliveTimeoutMs: server.keepAliveTimeoutMs,
    maxConnections: server.maxConnections,
    maxRequestBytes: server.maxRequestBytes,
    maxKeys: server.maxKeys,
    logger: logger.child({ module: 'server.http' }),
    metrics,
    readiness,
  });
  metrics.openConnectionsSource = () => http.connections;
  const grpc = server.grpcAddress
    ? new ProviderGrpcServer({
        backend,
        address: formatAddress(server.grpcAddress),
        ...tls,
        requestTimeoutMs: server.requestTimeoutMs,
        maxKeys: server.maxKeys,
        logger: logger.child({ module: 'server.grpc' }),
        metrics,
      })
    : undefined;

  const health = server.healthAddress
    ? new ProviderHttpServer({
        backend,
        address: formatAddress(server.healthAddress),
        routes: 'health',
        requestTimeoutMs: server.requestTimeoutMs,
        maxRequestBytes: server.maxRequestBytes,
        maxKeys: server.maxKeys,
        logger: logger.child({ module: 'server.health' }),
        metrics,
        readiness,
      })
    : undefined;

  let started: { url: string; grpcAddress: string | undefined; healthUrl: string | undefined };
  try {
    const { url } = await http.listen();
    const grpcAddress = grpc ? (await grpc.listen()).address : undefined;
    const healthUrl = health ? (await health.listen()).url : undefined;
    started = { url, grpcAddress, healthUrl };
  } catch (error) {
    await Promise.allSettled([http.close(), grpc?.close(), health?.close()]);
    await stack.close();
    throw error;
  }

  return {
    ...started,
    engine,
    environments,
    metrics,
    close: async () => {
      // Stop accepting and drain both transports first; then stop background work and watchers.
      // The health listener closes last, so probes see the pod until it stops serving.
      await Promise.allSettled([http.close(), grpc?.close()]);
      await health?.close();
      await stack.close();
    },
  };
}
