// The provider assembled from a configuration: the runtime (trust material per environment,
// watched; the registry client; the verification engine; metrics) and, over it, the HTTP(S) and
// gRPC servers of src/server. `vouch serve` and the demo run this; tests start it in-process or as a
// real process.

import { formatAddress, type EnvironmentSet, type VouchConfig } from '../config/index.js';
import { moduleLogger, type Logger } from '../log.js';
import { ProviderGrpcServer, ProviderHttpServer, ProviderMetrics, type ProviderBackend } from '../server/index.js';
import type { VerificationEngine } from '../verify/index.js';
import { createRuntime } from './runtime.js';

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
  /** The opa binary that compiles `.rego` decision policies (default: opa on the PATH). */
  opaPath?: string;
}

export async function startProvider(config: VouchConfig, options: StartProviderOptions = {}): Promise<RunningProvider> {
  const logger = options.logger ?? moduleLogger('server');
  const metrics = new ProviderMetrics({ defaultMetrics: options.defaultMetrics ?? true });
  const stack = await createRuntime(config, {
    logger,
    watch: options.watch ?? true,
    metrics,
    ...(options.opaPath !== undefined ? { opaPath: options.opaPath } : {}),
  });
  const { engine, environments } = stack;

  // The servers answer from the engine itself; the runtime's observer counts the key outcomes.
  const backend: ProviderBackend = engine;
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
          ...(e.decisionPolicy?.error !== undefined ? { decisionPolicy: e.decisionPolicy } : {}),
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
