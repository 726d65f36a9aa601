// The gRPC face of the provider (docs/api.md "gRPC"): vouch.v1.Verifier/Verify, loaded from
// proto/vouch/v1/verifier.proto at run time, plus the standard grpc.health.v1.Health service.
// Same backend and same results as the HTTP endpoints; TLS files are watched and reloaded.

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { HealthImplementation } from 'grpc-health-check';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.js';
import type { KeyResult, Reason } from '../verify/index.js';
import type { TlsFiles } from './http.js';
import { countOutcomes, type ProviderMetrics } from './metrics.js';
import type { ProviderBackend } from './provider-protocol.js';

/** Where the proto lives: `<package root>/proto`, both from src/ (tsx) and from dist/. */
export const PROTO_FILE = fileURLToPath(new URL('../../proto/vouch/v1/verifier.proto', import.meta.url));

/** A gRPC connection with no call for this long is closed (GOAWAY); its client reconnects on demand. */
const GRPC_MAX_CONNECTION_IDLE_MS = 5 * 60_000;

export interface GrpcServerOptions {
  backend: ProviderBackend;
  address: string;
  tls?: TlsFiles;
  requestTimeoutMs: number;
  maxKeys: number;
  logger: Logger;
  metrics: ProviderMetrics;
  tlsReloadIntervalMs?: number;
}

interface VerifyRequestMessage {
  environment?: string;
  references?: string[];
}

/** vouch.v1.VerifyResult as proto-loader takes it (reasons keep their extra fields; the encoder drops unknown ones). */
export interface VerifyResultMessage {
  verified: boolean;
  environment?: string;
  reference: string;
  digest?: string;
  signatures: Array<{
    type: string;
    digest: string;
    verified: boolean;
    trustPolicy: string;
    signer: string;
    signingTime: string;
    reasons: readonly Reason[];
    plugin?: { name: string; version: string; checks: readonly string[] };
    undecided?: { code: string; reason: string; message: string };
  }>;
  reasons: readonly Reason[];
  error?: { code: string; message: string };
}

/**
 * A key's result → VerifyResult message (camelCase fields; proto-loader maps them to the proto's,
 * proto/vouch/v1/verifier.proto). Absent optional fields become proto3 defaults ("").
 */
export function toVerifyResult(reference: string, result: KeyResult): VerifyResultMessage {
  if (result.error !== undefined) {
    return { verified: false, reference, signatures: [], reasons: [], error: { code: result.error.code, message: result.error.message } };
  }
  const value = result.value;
  return {
    verified: value.verified,
    environment: value.environment,
    reference: value.reference,
    digest: value.digest ?? '',
    signatures: value.signatures.map((s) => ({
      type: s.type,
      digest: s.digest,
      verified: s.verified,
      trustPolicy: s.type === 'notation' ? s.trustPolicy : '',
      signer: s.signer ?? '',
      signingTime: (s.type === 'notation' ? s.signingTime : undefined) ?? '',
      reasons: s.reasons,
      ...(s.type === 'notation' && s.plugin !== undefined ? { plugin: s.plugin } : {}),
      ...(s.type === 'notation' && s.undecided !== undefined ? { undecided: s.undecided } : {}),
    })),
    reasons: value.reasons,
  };
}

export class ProviderGrpcServer {
  readonly #options: GrpcServerOptions;
  // gRPC clients keep one HTTP/2 connection per channel and multiplex calls on it, so the problem of
  // Gatekeeper's one-connection-per-call client does not arise here; still, a client that goes away
  // without closing must not hold a connection for ever (grpc-js's default idle limit is none).
  readonly #server = new grpc.Server({ 'grpc.max_connection_idle_ms': GRPC_MAX_CONNECTION_IDLE_MS });
  readonly #health = new HealthImplementation({ '': 'NOT_SERVING', 'vouch.v1.Verifier': 'NOT_SERVING' });
  #certificates: grpc.experimental.FileWatcherCertificateProvider | undefined;

  constructor(options: GrpcServerOptions) {
    this.#options = options;
  }

  async listen(): Promise<{ port: number; address: string }> {
    const definition = protoLoader.loadSync(PROTO_FILE, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
    const loaded = grpc.loadPackageDefinition(definition) as unknown as { vouch: { v1: { Verifier: grpc.ServiceClientConstructor } } };
    this.#server.addService(loaded.vouch.v1.Verifier.service, { verify: this.#verify.bind(this) });
    this.#health.addToServer(this.#server);

    let credentials: grpc.ServerCredentials;
    const { tls } = this.#options;
    if (tls) {
      this.#certificates = new grpc.experimental.FileWatcherCertificateProvider({
        certificateFile: tls.certFile,
        privateKeyFile: tls.keyFile,
        ...(tls.clientCAFile ? { caCertificateFile: tls.clientCAFile } : {}),
        refreshIntervalMs: this.#options.tlsReloadIntervalMs ?? 5000,
      });
      // grpc-js takes (identity provider, CA provider | null, require client certificates).
      credentials = grpc.experimental.createCertificateProviderServerCredentials(
        this.#certificates,
        tls.clientCAFile ? this.#certificates : null,
        tls.clientCAFile !== undefined,
      );
    } else {
      credentials = grpc.ServerCredentials.createInsecure();
    }
    const port = await new Promise<number>((resolve, reject) =>
      this.#server.bindAsync(this.#options.address, credentials, (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    this.#health.setStatus('', 'SERVING');
    this.#health.setStatus('vouch.v1.Verifier', 'SERVING');
    const host = this.#options.address.slice(0, this.#options.address.lastIndexOf(':'));
    this.#options.logger.info({ address: `${host}:${port}`, tls: tls !== undefined }, 'gRPC server listening');
    return { port, address: `${host}:${port}` };
  }

  /** Marks the service NOT_SERVING, then drains: no new calls, in-flight calls finish. */
  async close(): Promise<void> {
    this.#health.setStatus('', 'NOT_SERVING');
    this.#health.setStatus('vouch.v1.Verifier', 'NOT_SERVING');
    await new Promise<void>((resolve) => this.#server.tryShutdown(() => resolve()));
  }

  async #verify(call: grpc.ServerUnaryCall<VerifyRequestMessage, unknown>, callback: grpc.sendUnaryData<unknown>): Promise<void> {
    const started = performance.now();
    const { backend, requestTimeoutMs, maxKeys, logger, metrics } = this.#options;
    const references = call.request.references ?? [];
    const environment = call.request.environment ?? '';
    const finish = (status: grpc.status) =>
      metrics.requestDuration.observe({ route: 'grpc:Verify', status: grpc.status[status] }, (performance.now() - started) / 1000);
    if (references.length > maxKeys) {
      finish(grpc.status.RESOURCE_EXHAUSTED);
      callback({
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: `request has ${references.length} references, more than the limit of ${maxKeys}`,
      });
      return;
    }
    // The caller's deadline, when earlier than ours, wins.
    const callDeadline = call.getDeadline();
    const callDeadlineMs =
      callDeadline instanceof Date ? callDeadline.getTime() : Number.isFinite(callDeadline) ? Number(callDeadline) : Infinity;
    const deadline = Math.min(Date.now() + requestTimeoutMs, callDeadlineMs - 20);
    const keys = references.map((r) => (environment ? `[${environment}]${r}` : r));
    try {
      // vouch_key_outcomes_total is counted by the engine's observer (src/app), once for every route.
      const results = await backend.verify(keys, { deadline, caller: 'grpc:Verify' });
      logger.info(
        {
          route: 'grpc:Verify',
          keys: keys.length,
          durationMs: Math.round((performance.now() - started) * 10) / 10,
          outcomes: countOutcomes(results),
        },
        'provider request',
      );
      finish(grpc.status.OK);
      callback(null, { results: results.map((r, i) => toVerifyResult(references[i]!, r)) });
    } catch (error) {
      logger.error({ err: (error as Error).stack ?? String(error) }, 'gRPC Verify failed');
      finish(grpc.status.INTERNAL);
      callback({ code: grpc.status.INTERNAL, details: 'internal error' });
    }
  }
}
