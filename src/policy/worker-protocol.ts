// Messages between WasmPolicy (main thread) and policy-worker.ts. Only JSON-ish values, a compiled
// WebAssembly.Module (shared, not copied) and transferred ArrayBuffers cross the boundary.

/**
 * The part of the WebAssembly JS API used here; this project's TypeScript lib has no DOM types.
 * https://webassembly.github.io/spec/js-api/#dom-webassembly-compile
 */
export interface WebAssemblyApi {
  compile(bytes: Uint8Array): Promise<CompiledModule>;
}

/** A WebAssembly.Module: compiled once, shared with each worker (structured clone, not a copy). */
export type CompiledModule = object & { readonly __compiledModule?: never };

export const webAssembly = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

export interface WorkerInit {
  module: CompiledModule;
  /** The bundle's data document as JSON text (setData), or undefined for none. */
  data: string | undefined;
  memory: { initial: number; maximum: number };
  /** Builtins the host supplies beside the SDK's own JS ones (the worker implements them). */
  hostBuiltins: readonly string[];
}

export type WorkerReady = { type: 'ready'; entrypoints: string[]; builtins: string[] } | { type: 'failed'; message: string };

export interface EvaluateRequest {
  id: number;
  entrypoint: string;
  /** The input as JSON text (UTF-8, transferred), or undefined for no input. */
  input: ArrayBuffer | undefined;
  /** time.now_ns for this evaluation, as decimal text (exceeds 2^53). */
  nowNs: string;
}

export type EvaluateResponse =
  { id: number; ok: true; resultSet: unknown } | { id: number; ok: false; reason: 'TRAP' | 'BAD_OUTPUT'; message: string };

/** The JS builtins @open-policy-agent/opa-wasm 1.10 implements itself (its src/builtins/*.js). */
export const SDK_BUILTINS: readonly string[] = [
  'json.is_valid',
  'regex.split',
  'sprintf',
  'yaml.is_valid',
  'yaml.marshal',
  'yaml.unmarshal',
];

/** The builtins vouch supplies to every policy (policy-worker.ts implements them). */
export const HOST_BUILTINS: readonly string[] = ['time.now_ns', 'time.parse_rfc3339_ns'];
