// Public face of server: the provider assembled from a configuration (HTTP(S) and gRPC servers over
// the verification engine) and Gatekeeper's external data protocol. The CLI imports from here only.

export {
  startProvider,
  createVerificationStack,
  type RunningProvider,
  type StartProviderOptions,
  type VerificationStack,
} from './provider.js';
export { ProviderHttpServer, type HttpServerOptions, type TlsFiles } from './http.js';
export { ProviderGrpcServer, PROTO_FILE, type GrpcServerOptions } from './grpc.js';
export { ProviderMetrics, type TrustMaterialState } from './metrics.js';
export {
  PROVIDER_API_VERSION,
  type ProviderBackend,
  type ProviderItem,
  type ProviderResponse,
  type UndecidedDocument,
} from './provider-protocol.js';
