// Loading a policy: a bare OPA WASM module, an OPA bundle (gzipped tar with a .manifest naming the
// module's entrypoints and their annotations), or Rego compiled into such a bundle by `opa build`.
// Bundle format: https://www.openpolicyagent.org/docs/management-bundles#bundle-file-format
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { errorMessage } from '../core/index.js';
import { moduleLogger, type Logger } from '../log.js';
import { compileRego } from './opa-build.js';
import { readTar } from './tar.js';
import { webAssembly, type CompiledModule } from './worker-protocol.js';
import { DEFAULT_POLICY_LIMITS, WasmPolicy, policyError, type PolicyLimits } from './wasm-policy.js';

export interface LoadPolicyOptions extends PolicyLimits {
  /** time.now_ns comes from this clock (one reading per evaluation). Default: the system clock. */
  clock?: () => Date;
  logger?: Logger;
  /** For .rego sources: the opa binary (`opa build -t wasm`). Default: `opa` on the PATH. */
  opaPath?: string;
  /** For .rego sources: the entrypoints to compile. Default: the rules annotated `entrypoint: true`. */
  entrypoints?: string[];
}

/** Largest bundle or module accepted, compressed and uncompressed. */
const MAX_POLICY_BYTES = 64 * 1024 * 1024;

/**
 * Loads a policy file: `.wasm` (a module from `opa build -t wasm`), an OPA bundle `.tar.gz`/`.tgz`
 * (its `.manifest` names the module and entrypoints; data.json/data.yaml files become `data`),
 * or `.rego` (compiled with `opa build -t wasm`, which needs opa). Rejects POLICY_ERROR with
 * reason LOAD_FAILED or COMPILE_FAILED; every message about the file starts with its path.
 */
export async function loadPolicyFile(file: string, options: LoadPolicyOptions = {}): Promise<WasmPolicy> {
  const lower = file.toLowerCase();
  if (lower.endsWith('.rego')) {
    const bundle = await compileRego(file, { opaPath: options.opaPath, entrypoints: options.entrypoints });
    return loadBundle(bundle, file, options);
  }
  const kind = lower.endsWith('.wasm') ? 'wasm' : lower.endsWith('.tar.gz') || lower.endsWith('.tgz') ? 'bundle' : undefined;
  if (kind === undefined) {
    throw policyError('LOAD_FAILED', `${file}: a policy is a .wasm module, an OPA bundle (.tar.gz) or a .rego file`);
  }
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw policyError('LOAD_FAILED', `${file}: ${errorMessage(error)}`, error);
  }
  return kind === 'wasm' ? loadModule(bytes, undefined, new Map(), file, options) : loadBundle(bytes, file, options);
}

/** Loads a policy from memory: a WASM module, or an OPA bundle (gzipped tar). */
export function loadPolicyBytes(bytes: Uint8Array, kind: 'wasm' | 'bundle', options: LoadPolicyOptions = {}): Promise<WasmPolicy> {
  return kind === 'wasm' ? loadModule(bytes, undefined, new Map(), 'policy.wasm', options) : loadBundle(bytes, 'bundle', options);
}

interface ManifestWasmEntry {
  entrypoint?: unknown;
  module?: unknown;
  annotations?: unknown;
}

async function loadBundle(archive: Uint8Array, source: string, options: LoadPolicyOptions): Promise<WasmPolicy> {
  let files: Map<string, Uint8Array>;
  try {
    files = readTar(gunzipSync(archive, { maxOutputLength: MAX_POLICY_BYTES }));
  } catch (error) {
    throw policyError('LOAD_FAILED', `${source}: not an OPA bundle (gzipped tar): ${errorMessage(error)}`, error);
  }
  const manifest = parseManifest(files.get('.manifest'), source);
  const entries = (Array.isArray(manifest.wasm) ? manifest.wasm : []) as ManifestWasmEntry[];
  const modules = new Set(entries.map((entry) => (typeof entry.module === 'string' ? entry.module.replace(/^\/+/, '') : 'policy.wasm')));
  if (modules.size > 1) {
    throw policyError('LOAD_FAILED', `${source}: the bundle has ${modules.size} WASM modules (${[...modules].join(', ')}); vouch runs one`);
  }
  const moduleName = [...modules][0] ?? 'policy.wasm';
  const module = files.get(moduleName);
  if (module === undefined)
    throw policyError('LOAD_FAILED', `${source}: the bundle has no WASM module (${moduleName}); build it with opa build -t wasm`);
  const annotations = new Map<string, unknown>();
  for (const entry of entries) {
    if (typeof entry.entrypoint !== 'string') continue;
    const custom = customOf(entry.annotations);
    if (custom !== undefined) annotations.set(entry.entrypoint, custom);
  }
  return loadModule(module, dataOf(files, source), annotations, source, options);
}

function parseManifest(bytes: Uint8Array | undefined, source: string): { wasm?: unknown } {
  if (bytes === undefined) return {};
  try {
    const manifest: unknown = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof manifest === 'object' && manifest !== null && !Array.isArray(manifest)) return manifest as { wasm?: unknown };
  } catch (error) {
    throw policyError('LOAD_FAILED', `${source}: .manifest is not JSON: ${errorMessage(error)}`, error);
  }
  throw policyError('LOAD_FAILED', `${source}: .manifest is not a JSON object`);
}

// Annotation scopes from the most specific to the least: a rule's own `custom` wins over its
// package's (https://www.openpolicyagent.org/docs/policy-reference/metadata#scope).
const SCOPE_ORDER = ['rule', 'document', 'package', 'subpackages'];

/** The merged METADATA `custom` of one manifest wasm entry, or undefined when it has none. */
function customOf(annotations: unknown): unknown {
  if (!Array.isArray(annotations)) return undefined;
  const customs = annotations
    .filter((a): a is { scope?: unknown; custom: unknown } => typeof a === 'object' && a !== null && 'custom' in a)
    .sort((a, b) => scopeRank(b.scope) - scopeRank(a.scope));
  if (customs.length === 0) return undefined;
  if (customs.length === 1) return customs[0]!.custom;
  const merged: Record<string, unknown> = {};
  for (const { custom } of customs) if (typeof custom === 'object' && custom !== null) Object.assign(merged, custom);
  return merged;
}

function scopeRank(scope: unknown): number {
  const rank = SCOPE_ORDER.indexOf(typeof scope === 'string' ? scope : '');
  return rank < 0 ? 0 : rank;
}

/** The bundle's data document: every data.json / data.yaml placed at its directory's path. */
function dataOf(files: Map<string, Uint8Array>, source: string): string | undefined {
  let data: Record<string, unknown> | undefined;
  for (const [name, bytes] of files) {
    const base = path.posix.basename(name);
    if (base !== 'data.json' && base !== 'data.yaml' && base !== 'data.yml') continue;
    let value: unknown;
    try {
      const text = new TextDecoder().decode(bytes);
      value = base === 'data.json' ? JSON.parse(text) : parseYaml(text);
    } catch (error) {
      throw policyError('LOAD_FAILED', `${source}: ${name}: ${errorMessage(error)}`, error);
    }
    const keys = path.posix
      .dirname(name)
      .split('/')
      .filter((part) => part !== '' && part !== '.');
    data ??= {};
    if (keys.length === 0) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw policyError('LOAD_FAILED', `${source}: ${name}: the root data document must be an object`);
      }
      Object.assign(data, value);
      continue;
    }
    let node = data;
    for (const key of keys.slice(0, -1)) {
      const child = node[key];
      node = (typeof child === 'object' && child !== null ? child : (node[key] = {})) as Record<string, unknown>;
    }
    node[keys[keys.length - 1]!] = value;
  }
  return data === undefined ? undefined : JSON.stringify(data);
}

async function loadModule(
  bytes: Uint8Array,
  data: string | undefined,
  annotations: Map<string, unknown>,
  source: string,
  options: LoadPolicyOptions,
): Promise<WasmPolicy> {
  if (bytes.byteLength > MAX_POLICY_BYTES)
    throw policyError('LOAD_FAILED', `${source}: the module is larger than ${MAX_POLICY_BYTES} bytes`);
  let module: CompiledModule;
  try {
    // compiling runs none of the module's code, so it is safe on this thread
    module = await webAssembly.compile(bytes);
  } catch (error) {
    throw policyError('LOAD_FAILED', `${source}: not a WebAssembly module: ${errorMessage(error)}`, error);
  }
  const limits = {
    timeoutMs: options.timeoutMs ?? DEFAULT_POLICY_LIMITS.timeoutMs,
    maxMemoryPages: options.maxMemoryPages ?? DEFAULT_POLICY_LIMITS.maxMemoryPages,
    maxInputBytes: options.maxInputBytes ?? DEFAULT_POLICY_LIMITS.maxInputBytes,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1)
      throw policyError('LOAD_FAILED', `${name} must be a positive integer, got ${String(value)}`);
  }
  if (limits.maxMemoryPages > 65536)
    throw policyError('LOAD_FAILED', `maxMemoryPages is at most 65536 (4 GiB), got ${limits.maxMemoryPages}`);
  return WasmPolicy.start({
    module,
    data,
    annotations,
    limits,
    clock: options.clock ?? (() => new Date()),
    logger: options.logger ?? moduleLogger('policy'),
    source,
  });
}
