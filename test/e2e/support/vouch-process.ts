// Runs `vouch serve` as a separate process, the way an operator does (`node --import tsx src/cli.ts
// serve --config FILE` from the repository root), and talks to it the way Gatekeeper and gRPC clients
// do: HTTPS with a client certificate (mTLS), and gRPC over TLS with the same client certificate.
// Every process started here is killed when the test process exits, whatever happens to the tests.

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { Agent, request } from 'undici';
import { REPO_ROOT } from '../../helpers/registries.js';
import type { TlsMaterial } from '../../helpers/tls.js';

export const VERIFIER_PROTO = join(REPO_ROOT, 'proto', 'vouch', 'v1', 'verifier.proto');

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** util-linux setpriv, so the kernel kills vouch if this test process dies without its exit hooks. */
function setpriv(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  for (const candidate of ['/usr/bin/setpriv', '/bin/setpriv']) {
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

export interface LogLine {
  level?: number;
  msg?: string;
  [key: string]: unknown;
}

export interface ExitState {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface VouchProcess {
  pid: number;
  /** https://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT */
  grpcAddress: string;
  /** http://127.0.0.1:PORT of the health/metrics listener (server.healthAddress), or ''. */
  healthUrl: string;
  /** Every stdout/stderr line so far. */
  lines(): string[];
  /** The JSON (pino) lines so far. */
  logs(): LogLine[];
  /** Waits until a JSON log line satisfies `match`; returns it. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves once the process has exited. */
  exited: Promise<ExitState>;
  hasExited(): boolean;
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs`; idempotent. */
  stop(graceMs?: number): Promise<ExitState>;
}

export interface StartVouchOptions {
  configFile: string;
  tls: TlsMaterial;
  /** Extra environment variables for the process (e.g. a passwordFromEnv secret). */
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

export async function startVouch(options: StartVouchOptions): Promise<VouchProcess> {
  installExitHook();
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env, VOUCH_LOG_LEVEL: 'info' };
  delete env['VOUCH_CONFIG'];
  const args = ['--import', 'tsx', 'src/cli.ts', 'serve', '--config', options.configFile];
  const wrapper = setpriv();
  const [file, argv] = wrapper ? [wrapper, ['--pdeathsig', 'SIGKILL', '--', process.execPath, ...args]] : [process.execPath, args];
  const child = spawn(file, argv, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);

  const lines: string[] = [];
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  const onLine = (line: string): void => {
    lines.push(line);
    if (line.startsWith('{')) {
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        // not a log line
      }
    }
    for (const wake of waiters) wake();
  };
  for (const stream of [child.stdout!, child.stderr!]) {
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) !== -1) {
        onLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
    stream.on('end', () => {
      if (pending !== '') onLine(pending);
      pending = '';
    });
  }
  let done = false;
  const exited = new Promise<ExitState>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      live.delete(child);
      for (const wake of waiters) wake();
      resolve({ code, signal });
    });
  });

  const waitFor = async <T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      if (done) throw new Error(`vouch exited while waiting for ${what}; output:\n${lines.join('\n')}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; output:\n${lines.slice(-40).join('\n')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(wake, Math.min(remaining, 250));
        function wake() {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve();
        }
        waiters.add(wake);
      });
    }
  };

  let stopped: Promise<ExitState> | undefined;
  const proc: VouchProcess = {
    pid: child.pid!,
    url: '',
    grpcAddress: '',
    healthUrl: '',
    lines: () => [...lines],
    logs: () => [...logs],
    waitForLog: (match, timeoutMs = 10_000) => waitFor(() => logs.find(match), timeoutMs, 'a log line'),
    exited,
    hasExited: () => done,
    signal: (signal) => {
      if (!done) child.kill(signal);
    },
    stop: (graceMs = 10_000) => {
      stopped ??= (async () => {
        if (!done) {
          child.kill('SIGTERM');
          const state = await Promise.race([exited, sleep(graceMs).then(() => undefined)]);
          if (state !== undefined) return state;
          child.kill('SIGKILL');
        }
        return exited;
      })();
      return stopped;
    },
  };

  try {
    const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
    // `vouch serve` announces its addresses in a JSON log line {"msg":"serving","url":...}.
    const serving = await waitFor(
      () => logs.find((l) => l.msg === 'serving' && typeof l['url'] === 'string'),
      readyTimeoutMs,
      'the "serving" log line',
    );
    proc.url = serving['url'] as string;
    proc.grpcAddress = (serving['grpcAddress'] as string | undefined) ?? '';
    proc.healthUrl = (serving['healthUrl'] as string | undefined) ?? '';
    // Ready means config and trust material loaded: poll /readyz over mTLS.
    const client = new HttpsClient(proc.url, options.tls);
    try {
      await waitForAsync(
        async () => (await client.get('/readyz')).status === 200,
        readyTimeoutMs,
        () => done,
        'GET /readyz 200',
      );
    } finally {
      await client.close();
    }
    return proc;
  } catch (error) {
    await proc.stop(2_000);
    throw error;
  }
}

async function waitForAsync(check: () => Promise<boolean>, timeoutMs: number, gone: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gone()) throw new Error(`vouch exited while waiting for ${what}`);
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Polls `fn` until it returns a value `accept` takes, or throws with the last value. */
export async function eventually<T>(fn: () => Promise<T>, accept: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (accept(last)) return last;
    } catch (error) {
      lastError = error;
    }
    await sleep(150);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}; last: ${last === undefined ? String(lastError) : JSON.stringify(last).slice(0, 2000)}`,
  );
}

// ---- HTTPS (Gatekeeper's side) ------------------------------------------------------------------

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON, when it is JSON. */
  json: unknown;
  durationMs: number;
}

export interface ProviderItem {
  key: string;
  value?: VerificationResultJson | string;
  error?: string;
}

export interface VerificationResultJson {
  verified: boolean;
  environment: string;
  reference: string;
  digest?: string;
  signatures: Array<{ type: string; digest: string; verified: boolean; trustPolicy: string; signer?: string; reasons: Reason[] }>;
  reasons: Reason[];
  [key: string]: unknown;
}

export interface Reason {
  code: string;
  message: string;
}

export interface ProviderResponseJson {
  apiVersion: string;
  kind: string;
  response: { idempotent?: boolean; items?: ProviderItem[]; systemError?: string };
}

/**
 * The keys a /v1/verify systemError names as undecided for now (vouch leaves them out of the items,
 * which Gatekeeper caches): {} when systemError is absent or not that document.
 */
export function undecidedOf(body: ProviderResponseJson): Record<string, string> {
  const text = body.response.systemError;
  if (text === undefined) return {};
  try {
    const doc = JSON.parse(text) as { undecided?: Array<{ key: string; error: string }> };
    return Object.fromEntries((doc.undecided ?? []).map((u) => [u.key, u.error]));
  } catch {
    return {};
  }
}

/** One item per key in request order, from the items and the undecided document (missing keys are absent). */
export function answersOf(keys: string[], body: ProviderResponseJson): ProviderItem[] {
  const items = new Map((body.response.items ?? []).map((i) => [i.key, i]));
  const undecided = undecidedOf(body);
  return keys.flatMap((key) => {
    const item = items.get(key) ?? (undecided[key] !== undefined ? { key, error: undecided[key] } : undefined);
    return item ? [item] : [];
  });
}

/** An HTTPS client presenting the test client certificate; one connection pool per instance. */
export class HttpsClient {
  readonly #agent: Agent;
  /** POST /v1/verify requests answered 200, by every client of this test process (what the request log should count). */
  static verifyRequests = 0;

  constructor(
    readonly baseUrl: string,
    tls: TlsMaterial,
    options: { clientCertificate?: boolean; connections?: number; headersTimeoutMs?: number } = {},
  ) {
    const { ca, cert, key } = tls.clientOptions;
    this.#agent = new Agent({
      connect: options.clientCertificate === false ? { ca } : { ca, cert, key },
      headersTimeout: options.headersTimeoutMs ?? 30_000,
      bodyTimeout: 30_000,
      ...(options.connections !== undefined ? { connections: options.connections } : {}),
    });
  }

  async send(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    body?: string | Uint8Array | AsyncIterable<Uint8Array>,
    headers: Record<string, string> = {},
  ): Promise<HttpAnswer> {
    const started = performance.now();
    const res = await request(`${this.baseUrl}${path}`, {
      method,
      dispatcher: this.#agent,
      ...(body !== undefined ? { body: body as string } : {}),
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    });
    const text = await res.body.text();
    const durationMs = performance.now() - started;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.statusCode, headers: res.headers, text, json, durationMs };
  }

  get(path: string): Promise<HttpAnswer> {
    return this.send('GET', path);
  }

  /** POST a ProviderRequest with these keys to /v1/verify or /v1/mutate. */
  async provider(
    route: '/v1/verify' | '/v1/mutate',
    keys: string[],
  ): Promise<{ status: number; body: ProviderResponseJson; durationMs: number; headers: HttpAnswer['headers'] }> {
    const answer = await this.send(
      'POST',
      route,
      JSON.stringify({ apiVersion: 'externaldata.gatekeeper.sh/v1beta1', kind: 'ProviderRequest', request: { keys } }),
    );
    if (route === '/v1/verify' && answer.status === 200) HttpsClient.verifyRequests++;
    return { status: answer.status, body: answer.json as ProviderResponseJson, durationMs: answer.durationMs, headers: answer.headers };
  }

  /**
   * POST /v1/verify. `items` is one answer per requested key in request order: the response's items,
   * and for each key vouch left out as undecided for now, an item made from the systemError document.
   * `body` is the answer as sent.
   */
  async verify(
    keys: string[],
  ): Promise<{ items: ProviderItem[]; durationMs: number; body: ProviderResponseJson; headers: HttpAnswer['headers'] }> {
    const { status, body, durationMs, headers } = await this.provider('/v1/verify', keys);
    if (status !== 200) throw new Error(`POST /v1/verify answered ${status}: ${JSON.stringify(body)}`);
    return { items: answersOf(keys, body), durationMs, body, headers };
  }

  #closed: Promise<void> | undefined;

  /** Closes the connections; idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#agent.close();
    return this.#closed;
  }
}

/**
 * What a provider item came to: `verified`, the first reason's code of a negative answer, or the code
 * of an error ("CODE: message"). Throws when the item is neither an answer nor an error.
 */
export function codeOf(item: ProviderItem): string {
  if (item.error !== undefined) {
    if (item.value !== undefined) throw new Error(`item ${item.key} has both value and error`);
    const match = /^([A-Z_]+): /.exec(item.error);
    if (!match) throw new Error(`item error does not start with "CODE: ": ${item.error}`);
    return match[1]!;
  }
  const value = item.value as VerificationResultJson | undefined;
  if (value === undefined || typeof value !== 'object') throw new Error(`item ${item.key} has no value: ${JSON.stringify(item)}`);
  return value.verified ? 'verified' : (value.reasons[0]?.code ?? 'not verified, no reason');
}

// ---- gRPC ----------------------------------------------------------------------------------------

export interface GrpcVerifyResult {
  verified: boolean;
  environment: string;
  reference: string;
  digest: string;
  signatures: Array<Record<string, unknown>>;
  reasons: Reason[];
  error: Reason | null;
}

type Unary<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

type VerifierClient = grpc.Client & {
  verify: Unary<{ environment?: string; references: string[] }, { results: GrpcVerifyResult[] }>;
};
type HealthClient = grpc.Client & { check: Unary<{ service: string }, { status: string }> };

const LOADER_OPTIONS = { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true } as const;

export class GrpcClient {
  readonly #verifier: VerifierClient;
  readonly #health: HealthClient;

  constructor(address: string, tls: TlsMaterial, options: { clientCertificate?: boolean } = {}) {
    const verifierPackage = grpc.loadPackageDefinition(protoLoader.loadSync(VERIFIER_PROTO, LOADER_OPTIONS)) as unknown as {
      vouch: { v1: { Verifier: grpc.ServiceClientConstructor } };
    };
    const healthPackage = grpc.loadPackageDefinition(protoLoader.loadSync(healthProtoPath, LOADER_OPTIONS)) as unknown as {
      grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
    };
    const { ca, cert, key } = tls.clientOptions;
    const credentials =
      options.clientCertificate === false
        ? grpc.credentials.createSsl(Buffer.from(ca))
        : grpc.credentials.createSsl(Buffer.from(ca), Buffer.from(key), Buffer.from(cert));
    // The server certificate names 127.0.0.1 and localhost; SNI with an IP address is deprecated in node.
    const channelOptions = { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' };
    this.#verifier = new verifierPackage.vouch.v1.Verifier(address, credentials, channelOptions) as unknown as VerifierClient;
    this.#health = new healthPackage.grpc.health.v1.Health(address, credentials, channelOptions) as unknown as HealthClient;
  }

  verify(environment: string, references: string[], deadlineMs = 15_000): Promise<{ results: GrpcVerifyResult[]; durationMs: number }> {
    const started = performance.now();
    return new Promise((resolve, reject) =>
      this.#verifier.verify({ environment, references }, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (error, response) =>
        error ? reject(error) : resolve({ results: response.results, durationMs: performance.now() - started }),
      ),
    );
  }

  health(service: string, deadlineMs = 5_000): Promise<string> {
    return new Promise((resolve, reject) =>
      this.#health.check({ service }, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (error, response) =>
        error ? reject(error) : resolve(response.status),
      ),
    );
  }

  close(): void {
    this.#verifier.close();
    this.#health.close();
  }
}

/** The gRPC counterpart of codeOf. */
export function grpcCodeOf(result: GrpcVerifyResult): string {
  if (result.error !== null && result.error !== undefined && result.error.code !== '') return result.error.code;
  return result.verified ? 'verified' : (result.reasons[0]?.code ?? 'not verified, no reason');
}
