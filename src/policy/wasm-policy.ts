// A compiled OPA policy evaluated in a worker thread (policy-worker.ts). The main thread owns the
// limits: it serialises and bounds the input, times each evaluation and, when one runs over,
// terminates the worker (the only way to stop a WASM loop) and starts a new one for the next call.
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VouchError, errorMessage, type ErrorReason } from '../core/index.js';
import type { Logger } from '../log.js';
import {
  HOST_BUILTINS,
  SDK_BUILTINS,
  type CompiledModule,
  type EvaluateRequest,
  type EvaluateResponse,
  type WorkerInit,
  type WorkerReady,
} from './worker-protocol.js';

export interface PolicyLimits {
  /** Per evaluation, from the moment the worker is given the input. Default 500. */
  timeoutMs?: number;
  /** Ceiling of the policy's WebAssembly.Memory in 64 KiB pages. Default 1024 (64 MiB). */
  maxMemoryPages?: number;
  /** Largest input, as UTF-8 JSON. Default 4 MiB. */
  maxInputBytes?: number;
}

export const DEFAULT_POLICY_LIMITS: Readonly<Required<PolicyLimits>> = Object.freeze({
  timeoutMs: 500,
  maxMemoryPages: 1024,
  maxInputBytes: 4 * 1024 * 1024,
});

/** How long a new worker may take to start and instantiate the module (tsx compiles it in tests). */
const START_TIMEOUT_MS = 30_000;
/** The SDK's default first memory size (opa.js loadPolicy). */
const INITIAL_PAGES = 5;

/**
 * The worker beside this module: policy-worker.js in dist/. Under tsx (tests, benchmarks) it is
 * policy-worker.ts, and Node 20 does not hand module hooks on to workers, so the worker registers
 * tsx's ESM hooks itself before importing it.
 */
function workerEntry(): { entry: URL | string; eval: boolean } {
  if (path.extname(fileURLToPath(import.meta.url)) !== '.ts') return { entry: new URL('./policy-worker.js', import.meta.url), eval: false };
  const worker = new URL('./policy-worker.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  return {
    entry: `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(worker)}); });`,
    eval: true,
  };
}

export function policyError(reason: ErrorReason, message: string, cause?: unknown): VouchError {
  return new VouchError('POLICY_ERROR', message, { reason, ...(cause !== undefined ? { cause } : {}) });
}

interface Pending {
  request: EvaluateRequest;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

interface RunningWorker {
  worker: Worker;
  entrypoints: string[];
  builtins: string[];
}

export interface WasmPolicyInit {
  module: CompiledModule;
  data: string | undefined;
  annotations: ReadonlyMap<string, unknown>;
  limits: Required<PolicyLimits>;
  clock: () => Date;
  logger: Logger;
  /** Where the policy came from, for messages. */
  source: string;
}

/**
 * One loaded policy. Evaluations run one at a time, in call order, in one worker thread. Create
 * with loadPolicyFile / loadPolicyBytes; close() when done (an idle worker does not keep the
 * process alive, but it holds the module's memory).
 */
export class WasmPolicy {
  /** Entrypoint paths the module exports, e.g. `vouch/decision/violations`. */
  readonly entrypoints: readonly string[];
  /** Per entrypoint: its METADATA `custom` object (bundles and .rego only; absent when none). */
  readonly annotations: ReadonlyMap<string, unknown>;
  /** Host builtins the module calls (not native in WASM), e.g. `time.now_ns`, `sprintf`. */
  readonly builtins: readonly string[];

  readonly #init: WasmPolicyInit;
  #worker: RunningWorker | undefined;
  #starting: Promise<RunningWorker> | undefined;
  #queue: Pending[] = [];
  #running: (Pending & { timer: NodeJS.Timeout }) | undefined;
  #nextId = 1;
  #closed = false;

  /** @internal use loadPolicyFile / loadPolicyBytes */
  static async start(init: WasmPolicyInit): Promise<WasmPolicy> {
    const first = await startWorker(init);
    const missing = first.builtins.filter((name) => !SDK_BUILTINS.includes(name) && !HOST_BUILTINS.includes(name));
    if (missing.length > 0) {
      await first.worker.terminate();
      throw policyError(
        'LOAD_FAILED',
        `${init.source}: the policy calls builtins no WASM host here provides: ${missing.join(', ')} ` +
          `(supported beside OPA's native WASM builtins: ${[...SDK_BUILTINS, ...HOST_BUILTINS].sort().join(', ')})`,
      );
    }
    return new WasmPolicy(init, first);
  }

  private constructor(init: WasmPolicyInit, first: RunningWorker) {
    this.#init = init;
    this.#worker = first;
    this.entrypoints = Object.freeze([...first.entrypoints]);
    this.builtins = Object.freeze([...first.builtins]);
    this.annotations = init.annotations;
    first.worker.unref();
    this.#watch(first);
  }

  /**
   * Evaluates one entrypoint on `input` (any JSON value; undefined = no input). Resolves to the
   * entrypoint's value, or undefined when the rule is undefined. Rejects POLICY_ERROR (reasons
   * NOT_FOUND, BAD_INPUT, BAD_OUTPUT, TRAP, TIMEOUT), or the signal's reason when it aborts.
   */
  evaluate(entrypoint: string, input: unknown, options: { signal?: AbortSignal } = {}): Promise<unknown> {
    const { signal } = options;
    if (this.#closed) return Promise.reject(policyError('LOAD_FAILED', `${this.#init.source}: the policy is closed`));
    if (!this.entrypoints.includes(entrypoint)) {
      return Promise.reject(
        policyError(
          'NOT_FOUND',
          `${this.#init.source}: no entrypoint ${JSON.stringify(entrypoint)} (it has ${this.entrypoints.join(', ') || 'none'})`,
        ),
      );
    }
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    let encoded: ArrayBuffer | undefined;
    try {
      encoded = encodeInput(input, this.#init.limits.maxInputBytes, this.#init.source);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        request: { id: this.#nextId++, entrypoint, input: encoded, nowNs: '0' },
        resolve,
        reject,
        signal,
        onAbort: undefined,
      };
      if (signal !== undefined) {
        pending.onAbort = () => this.#abort(pending);
        signal.addEventListener('abort', pending.onAbort, { once: true });
      }
      this.#queue.push(pending);
      this.#pump();
    });
  }

  /** Ends the worker; pending and later evaluations reject. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closed = policyError('LOAD_FAILED', `${this.#init.source}: the policy was closed`);
    for (const pending of this.#queue.splice(0)) this.#settle(pending, closed);
    if (this.#running !== undefined) {
      clearTimeout(this.#running.timer);
      this.#settle(this.#running, closed);
      this.#running = undefined;
    }
    const worker = this.#worker ?? (await this.#starting?.catch(() => undefined));
    this.#worker = undefined;
    await worker?.worker.terminate();
  }

  #pump(): void {
    if (this.#running !== undefined || this.#closed) return;
    const next = this.#queue.shift();
    if (next === undefined) {
      this.#worker?.worker.unref();
      return;
    }
    const running = this.#worker;
    if (running === undefined) {
      this.#queue.unshift(next);
      this.#restart();
      return;
    }
    // time.now_ns: one value per evaluation, taken when it starts (as OPA's topdown does)
    next.request.nowNs = (BigInt(this.#init.clock().getTime()) * 1_000_000n).toString();
    const timer = setTimeout(() => this.#timeout(), this.#init.limits.timeoutMs);
    this.#running = { ...next, timer };
    running.worker.ref();
    const transfer = next.request.input !== undefined ? [next.request.input] : [];
    running.worker.postMessage(next.request, transfer);
  }

  #restart(): void {
    if (this.#starting !== undefined || this.#closed) return;
    this.#starting = startWorker(this.#init);
    this.#starting.then(
      (started) => {
        this.#starting = undefined;
        if (this.#closed) {
          void started.worker.terminate();
          return;
        }
        this.#worker = started;
        this.#watch(started);
        this.#pump();
      },
      (error: unknown) => {
        this.#starting = undefined;
        // a module that loaded once fails to start again only when resources ran out
        const failure = policyError('TRAP', `${this.#init.source}: could not restart the policy worker: ${errorMessage(error)}`, error);
        for (const pending of this.#queue.splice(0)) this.#settle(pending, failure);
      },
    );
  }

  #watch(running: RunningWorker): void {
    running.worker.on('message', (response: EvaluateResponse) => this.#respond(running, response));
    running.worker.on('error', (error) => this.#lost(running, `the policy worker failed: ${errorMessage(error)}`, error));
    running.worker.on('exit', (code) => this.#lost(running, `the policy worker exited (code ${code})`));
  }

  #respond(from: RunningWorker, response: EvaluateResponse): void {
    const current = this.#running;
    if (from !== this.#worker || current === undefined || current.request.id !== response.id) return;
    clearTimeout(current.timer);
    this.#running = undefined;
    if (response.ok) {
      try {
        this.#settle(current, undefined, resultOf(response.resultSet, this.#init.source, current.request.entrypoint));
      } catch (error) {
        this.#settle(current, error);
      }
    } else {
      this.#init.logger.warn({ entrypoint: current.request.entrypoint, err: response.message }, 'policy evaluation trapped');
      this.#settle(current, policyError(response.reason, `${this.#init.source}: ${current.request.entrypoint}: ${response.message}`));
    }
    this.#pump();
  }

  /** The worker died under us (uncaught error, resource limits): fail the running call, start anew. */
  #lost(running: RunningWorker, message: string, cause?: unknown): void {
    if (running !== this.#worker) return;
    this.#worker = undefined;
    const current = this.#running;
    this.#running = undefined;
    if (current !== undefined) {
      clearTimeout(current.timer);
      this.#settle(current, policyError('TRAP', `${this.#init.source}: ${current.request.entrypoint}: ${message}`, cause));
    }
    this.#pump();
  }

  #timeout(): void {
    const current = this.#running;
    const running = this.#worker;
    if (current === undefined || running === undefined) return;
    this.#running = undefined;
    this.#worker = undefined;
    void running.worker.terminate();
    this.#init.logger.warn(
      { entrypoint: current.request.entrypoint, timeoutMs: this.#init.limits.timeoutMs },
      'policy evaluation timed out',
    );
    this.#settle(
      current,
      policyError(
        'TIMEOUT',
        `${this.#init.source}: ${current.request.entrypoint}: evaluation took longer than ${this.#init.limits.timeoutMs} ms`,
      ),
    );
    this.#pump();
  }

  #abort(pending: Pending): void {
    const queued = this.#queue.indexOf(pending);
    if (queued >= 0) {
      this.#queue.splice(queued, 1);
      this.#settle(pending, abortReason(pending.signal!));
      return;
    }
    if (this.#running?.request.id !== pending.request.id) return;
    // running: only terminating the worker stops it
    const running = this.#worker;
    clearTimeout(this.#running.timer);
    this.#running = undefined;
    this.#worker = undefined;
    void running?.worker.terminate();
    this.#settle(pending, abortReason(pending.signal!));
    this.#pump();
  }

  #settle(pending: Pending, error: unknown, value?: unknown): void {
    if (pending.onAbort !== undefined) pending.signal?.removeEventListener('abort', pending.onAbort);
    if (error !== undefined) pending.reject(error);
    else pending.resolve(value);
  }
}

function abortReason(signal: AbortSignal): unknown {
  if (signal.reason instanceof VouchError) return signal.reason;
  return new VouchError('DEADLINE_EXCEEDED', 'policy evaluation: operation aborted', { reason: 'ABORTED', cause: signal.reason });
}

/** JSON text of the input, refusing what JSON cannot carry (cycles, BigInt) and oversize input. */
function encodeInput(input: unknown, maxBytes: number, source: string): ArrayBuffer | undefined {
  if (input === undefined) return undefined;
  let text: string | undefined;
  try {
    text = JSON.stringify(input);
  } catch (error) {
    throw policyError('BAD_INPUT', `${source}: the policy input is not JSON: ${errorMessage(error)}`, error);
  }
  if (text === undefined) throw policyError('BAD_INPUT', `${source}: the policy input is not JSON (a ${typeof input})`);
  // a UTF-16 string is at most 3 UTF-8 bytes per unit: skip encoding what is sure to be too large
  if (text.length > maxBytes) throw policyError('BAD_INPUT', `${source}: the policy input is larger than ${maxBytes} bytes`);
  const bytes = new TextEncoder().encode(text);
  if (bytes.byteLength > maxBytes)
    throw policyError('BAD_INPUT', `${source}: the policy input is ${bytes.byteLength} bytes, more than ${maxBytes}`);
  return bytes.buffer;
}

/** The entrypoint's value from OPA's WASM result set: `[]` (undefined) or `[{"result": value}]`. */
function resultOf(resultSet: unknown, source: string, entrypoint: string): unknown {
  if (!Array.isArray(resultSet) || resultSet.length > 1) {
    throw policyError('BAD_OUTPUT', `${source}: ${entrypoint}: the module returned no result set (${describeShape(resultSet)})`);
  }
  if (resultSet.length === 0) return undefined;
  const [first] = resultSet as unknown[];
  if (typeof first !== 'object' || first === null || !Object.hasOwn(first, 'result')) {
    throw policyError('BAD_OUTPUT', `${source}: ${entrypoint}: a result set entry without "result" (${describeShape(first)})`);
  }
  return (first as { result: unknown }).result;
}

function describeShape(value: unknown): string {
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return value === null ? 'null' : typeof value;
}

function startWorker(init: WasmPolicyInit): Promise<RunningWorker> {
  const memory = { initial: Math.min(INITIAL_PAGES, init.limits.maxMemoryPages), maximum: init.limits.maxMemoryPages };
  const workerInit: WorkerInit = { module: init.module, data: init.data, memory, hostBuiltins: HOST_BUILTINS };
  return new Promise((resolve, reject) => {
    const { entry, eval: isCode } = workerEntry();
    const worker = new Worker(entry, {
      eval: isCode,
      workerData: workerInit,
      // the JS side holds only the input and output JSON; the module's memory is bounded above
      resourceLimits: { maxOldGenerationSizeMb: 128, maxYoungGenerationSizeMb: 16 },
      stdout: false,
      stderr: false,
    });
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(policyError('LOAD_FAILED', `${init.source}: the policy worker did not start within ${START_TIMEOUT_MS} ms`));
    }, START_TIMEOUT_MS);
    // only our own listeners go: Worker attaches internal ones of its own
    const detach = () => {
      clearTimeout(timer);
      worker.off('message', onReady);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    const fail = (message: string, cause?: unknown) => {
      detach();
      void worker.terminate();
      reject(policyError('LOAD_FAILED', `${init.source}: ${message}`, cause));
    };
    const onReady = (ready: WorkerReady) => {
      if (ready.type === 'failed') {
        fail(`the module could not be instantiated: ${ready.message}`);
        return;
      }
      detach();
      resolve({ worker, entrypoints: ready.entrypoints, builtins: ready.builtins });
    };
    const onError = (error: Error) => fail(`the policy worker failed to start: ${errorMessage(error)}`, error);
    const onExit = (code: number) => fail(`the policy worker exited while starting (code ${code})`);
    worker.on('message', onReady);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}
