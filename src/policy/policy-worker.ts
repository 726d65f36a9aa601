// The worker thread that runs one compiled OPA policy (WasmPolicy starts it). A WASM loop cannot be
// interrupted on the thread that runs it, so evaluation lives here and the main thread enforces
// the timeout by terminating this worker. Host side of OPA's WASM ABI through
// @open-policy-agent/opa-wasm: https://www.openpolicyagent.org/docs/wasm#evaluation
import { parentPort, workerData } from 'node:worker_threads';
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { parseRfc3339Ns } from './time-builtins.js';
import type { EvaluateRequest, EvaluateResponse, WorkerInit, WorkerReady } from './worker-protocol.js';

const init = workerData as WorkerInit;
const port = parentPort!;

/** time.now_ns of the evaluation under way: one value per evaluation, as OPA's topdown does. */
let nowNs = '0';

const encoder = new TextEncoder();

/** JSON text of a nanosecond count, or undefined (the call is undefined). */
function exactNs(ns: bigint | undefined): ArrayBuffer | undefined {
  return ns === undefined ? undefined : encoder.encode(ns.toString()).buffer;
}

// A custom builtin returning an ArrayBuffer hands the SDK JSON text as is (opa.js _loadJSON), so
// a nanosecond count beyond 2^53 stays exact; returning undefined makes the call undefined. The
// SDK gives arguments as JSON.parse'd values, so only builtins whose arguments are not large
// numbers are exact here (time.date/time.add_date would get nanoseconds rounded to a double).
const hostBuiltins: Record<string, (...args: unknown[]) => unknown> = {
  'time.now_ns': () => encoder.encode(nowNs).buffer,
  'time.parse_rfc3339_ns': (value) => exactNs(parseRfc3339Ns(value)),
};

async function instantiate(): Promise<LoadedPolicy> {
  const custom = Object.fromEntries(init.hostBuiltins.map((name) => [name, hostBuiltins[name]!]));
  // loadPolicy mutates the descriptor (sets `initial`): a fresh one each time
  return loadPolicy(
    init.module as Parameters<typeof loadPolicy>[0],
    { initial: init.memory.initial, maximum: init.memory.maximum },
    custom,
  );
}

/** The module's host builtins, {name: id} from its `builtins` export (dumped as JSON text). */
function declaredBuiltins(policy: LoadedPolicy): string[] {
  const instance = policy.wasmInstance as { exports: Record<string, (...args: number[]) => number> };
  const exports = instance.exports;
  const address = exports.opa_json_dump!(exports.builtins!());
  const memory = new Uint8Array((policy.mem as { buffer: ArrayBuffer }).buffer);
  const end = memory.indexOf(0, address);
  const map = JSON.parse(new TextDecoder().decode(memory.subarray(address, end))) as Record<string, number>;
  return Object.keys(map).sort();
}

function describe(error: unknown): string {
  if (typeof error === 'string') return error;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  if (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string') {
    return (error as { message: string }).message;
  }
  return String(error);
}

async function start(): Promise<void> {
  let policy: LoadedPolicy;
  try {
    policy = await instantiate();
    const builtins = declaredBuiltins(policy);
    if (init.data !== undefined) policy.setData(encoder.encode(init.data).buffer);
    const entrypoints = Object.keys(policy.entrypoints as Record<string, number>);
    port.postMessage({ type: 'ready', entrypoints, builtins } satisfies WorkerReady);
  } catch (error) {
    port.postMessage({ type: 'failed', message: describe(error) } satisfies WorkerReady);
    return;
  }

  // WasmPolicy sends one request at a time and waits for its response, so a trap's response can
  // wait until the fresh instance is in place.
  port.on('message', (request: EvaluateRequest) => {
    nowNs = request.nowNs;
    try {
      const resultSet: unknown = policy.evaluate(request.input ?? undefined, request.entrypoint);
      port.postMessage({ id: request.id, ok: true, resultSet } satisfies EvaluateResponse);
    } catch (error) {
      // opa_abort (eval conflicts, out of memory), a host builtin that threw, a WASM trap: the
      // module's heap is undefined afterwards (OPA's ABI), so the next evaluation gets a new instance.
      const response: EvaluateResponse = { id: request.id, ok: false, reason: 'TRAP', message: describe(error) };
      fresh()
        .then((replacement) => {
          policy = replacement;
          port.postMessage(response);
        })
        .catch(() => process.exit(1)); // the main thread sees the exit and starts a new worker
    }
  });
}

async function fresh(): Promise<LoadedPolicy> {
  const policy = await instantiate();
  if (init.data !== undefined) policy.setData(encoder.encode(init.data).buffer);
  return policy;
}

void start();
