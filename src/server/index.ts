// Public face of server: the transports over a verification backend (HTTP(S) and gRPC servers),
// Gatekeeper's external data protocol and the Prometheus metrics. src/app assembles a provider from
// a configuration with these; the app imports from here only.

export {
  ProviderHttpServer,
  DEFAULT_SERVER_ADDRESS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  MAX_REQUEST_TIMEOUT_MS,
  DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_REQUEST_BYTES,
  DEFAULT_MAX_KEYS,
  type HttpServerOptions,
  type TlsFiles,
} from './http.js';
export { ProviderGrpcServer, PROTO_FILE, type GrpcServerOptions } from './grpc.js';
export { ProviderMetrics, registryStatusLabel, outcomeLabel, type TrustMaterialState } from './metrics.js';
export {
  PROVIDER_API_VERSION,
  type ProviderBackend,
  type ProviderItem,
  type ProviderResponse,
  type UndecidedDocument,
} from './provider-protocol.js';
