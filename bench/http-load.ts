// HTTP load generator for the provider benchmark, run in a worker thread so the client's work does
// not share the event loop of the server it measures. `concurrency` clients over keep-alive
// connections POST the same body until `requests` answers (after `warmup` more) have arrived;
// each request's latency is reported. runLoad() starts the worker and collects the result.

import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Agent, request } from 'undici';

export interface LoadSpec {
  url: string;
  body: string;
  requests: number;
  warmup: number;
  concurrency: number;
}

export interface LoadResult {
  /** Per request, in ms, in completion order. */
  latencies: number[];
  /** Wall time of the measured requests (after warm-up), in ms. */
  elapsedMs: number;
  /** Bytes of one answer (the last one). */
  responseBytes: number;
}

async function generate(spec: LoadSpec): Promise<LoadResult> {
  const agent = new Agent({ connections: spec.concurrency, keepAliveTimeout: 60_000 });
  let responseBytes = 0;
  const once = async (): Promise<number> => {
    const started = performance.now();
    const response = await request(spec.url, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json' },
      body: spec.body,
    });
    const bytes = await response.body.arrayBuffer();
    const elapsed = performance.now() - started;
    if (response.statusCode !== 200) throw new Error(`load: HTTP ${response.statusCode}: ${Buffer.from(bytes).toString().slice(0, 200)}`);
    responseBytes = bytes.byteLength;
    return elapsed;
  };
  const run = async (total: number, latencies: number[]): Promise<void> => {
    let issued = 0;
    const client = async (): Promise<void> => {
      while (issued < total) {
        issued++;
        latencies.push(await once());
      }
    };
    await Promise.all(Array.from({ length: spec.concurrency }, client));
  };
  await run(spec.warmup, []);
  const latencies: number[] = [];
  const started = performance.now();
  await run(spec.requests, latencies);
  const elapsedMs = performance.now() - started;
  await agent.close();
  return { latencies, elapsedMs, responseBytes };
}

/** Runs one load in a fresh worker thread. */
export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  // Worker threads do not inherit tsx's loader: register it, then import this module as the worker.
  const tsx = import.meta.resolve('tsx/esm/api');
  const self = import.meta.url;
  const worker = new Worker(
    `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(self)}); });`,
    { eval: true, workerData: spec },
  );
  return new Promise<LoadResult>((resolve, reject) => {
    worker.once('message', (message: { result?: LoadResult; error?: string }) => {
      void worker.terminate();
      if (message.result !== undefined) resolve(message.result);
      else reject(new Error(message.error ?? 'load worker failed'));
    });
    worker.once('error', reject);
  });
}

if (!isMainThread && parentPort !== null && (workerData as Partial<LoadSpec> | undefined)?.url !== undefined) {
  const port = parentPort;
  generate(workerData as LoadSpec).then(
    (result) => port.postMessage({ result }),
    (error: unknown) => port.postMessage({ error: error instanceof Error ? error.message : String(error) }),
  );
}
