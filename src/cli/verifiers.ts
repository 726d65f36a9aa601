// Where `vouch check` gets its answers: the verification engine in-process (--config), or a running
// vouch (--server) over its Gatekeeper HTTP endpoint (POST /v1/verify, docs/api.md
// "ProviderResponse") or its gRPC service (vouch.v1.Verifier/Verify, proto/vouch/v1/verifier.proto).
// Every way gives what the compiled decision takes (docs/decision.md): input.responses, provider key →
// the VerificationResult or {"error": {"code", "message"}} when vouch could not decide, and
// input.systemError when vouch could not be asked at all (as Gatekeeper's system_error: every image
// of the object is then undecided, and denied).

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { VouchError } from '../core/index.js';
import { splitKey, type KeyResult } from '../verify/index.js';

export type Answer = Record<string, unknown> | { error: { code: string; message: string } };

export interface Answers {
  responses: Record<string, Answer>;
  /** Why vouch could not be asked (transport, HTTP status, a systemError that is no undecided document). */
  systemError?: string;
}

export interface KeyVerifier {
  /** Answers for keys as the provider takes them ("[env]image" or a bare image); never throws. */
  verify(keys: readonly string[], deadline: number): Promise<Answers>;
  close(): Promise<void>;
}

/** Keys per request: below vouch's default server.maxKeys, so a large chart is several requests. */
export const KEYS_PER_REQUEST = 100;

/** The most bytes of a /v1/verify answer we read. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/** The proto from the package root, both from src/ (tsx) and from dist/. */
const PROTO_FILE = fileURLToPath(new URL('../../proto/vouch/v1/verifier.proto', import.meta.url));

export interface ServerTlsOptions {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** Answers of several requests as one; their system errors joined. */
function mergeAnswers(parts: readonly Answers[]): Answers {
  const errors = parts.flatMap((p) => (p.systemError ? [p.systemError] : []));
  return {
    responses: Object.assign({}, ...parts.map((p) => p.responses)) as Record<string, Answer>,
    ...(errors.length > 0 ? { systemError: errors.join('; ') } : {}),
  };
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** An item error is "CODE: message" (docs/api.md "ProviderResponse"). */
export function parseItemError(text: string): { code: string; message: string } {
  const match = /^([A-Z][A-Z_]*): ?([\s\S]*)$/.exec(text);
  return match ? { code: match[1]!, message: match[2]! } : { code: 'PROVIDER_ERROR', message: text };
}

/** The engine's results as answers: a VerificationResult as JSON (what /v1/verify's items carry), or the error. */
export function answersFromResults(results: readonly KeyResult[]): Answers {
  const answers: Record<string, Answer> = {};
  for (const r of results) {
    answers[r.key] =
      r.error !== undefined
        ? { error: { code: r.error.code, message: r.error.message } }
        : (JSON.parse(JSON.stringify(r.value)) as Record<string, unknown>);
  }
  return { responses: answers };
}

/**
 * A /v1/verify ProviderResponse as answers: items with a value or an error, plus the keys vouch named
 * undecided in systemError's document (README "Undecided keys"). Any other systemError is the
 * answers' systemError; a key without an answer stays absent (the decision's NO_ANSWER), as in
 * Gatekeeper's template.
 */
export function answersFromProviderResponse(body: unknown): Answers {
  const response = (body as { response?: { items?: unknown; systemError?: unknown } } | null)?.response;
  const answers: Record<string, Answer> = {};
  if (Array.isArray(response?.items)) {
    for (const item of response.items as Array<{ key?: unknown; value?: unknown; error?: unknown }>) {
      if (typeof item?.key !== 'string') continue;
      if (typeof item.error === 'string' && item.error !== '') answers[item.key] = { error: parseItemError(item.error) };
      else if (typeof item.value === 'object' && item.value !== null) answers[item.key] = item.value as Record<string, unknown>;
    }
  }
  const systemError = typeof response?.systemError === 'string' ? response.systemError : '';
  let undecided: Array<{ key?: unknown; error?: unknown }> | undefined;
  if (systemError !== '') {
    try {
      const doc = JSON.parse(systemError) as { undecided?: unknown };
      if (Array.isArray(doc.undecided)) undecided = doc.undecided as typeof undecided;
    } catch {
      // not vouch's undecided document
    }
  }
  for (const u of undecided ?? []) {
    if (typeof u.key === 'string') answers[u.key] = { error: parseItemError(String(u.error)) };
  }
  return { responses: answers, ...(systemError !== '' && undecided === undefined ? { systemError } : {}) };
}

async function readTls(tls: ServerTlsOptions): Promise<{ ca?: Buffer; cert?: Buffer; key?: Buffer }> {
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined))
    throw new VouchError('INVALID_INPUT', '--cert-file and --key-file go together (a client certificate and its key)');
  const read = async (file: string | undefined, flag: string) => {
    if (file === undefined) return undefined;
    try {
      return await readFile(file);
    } catch (error) {
      throw new VouchError('INVALID_INPUT', `${flag} ${file}: ${(error as Error).message}`);
    }
  };
  const [ca, cert, key] = await Promise.all([
    read(tls.caFile, '--ca-file'),
    read(tls.certFile, '--cert-file'),
    read(tls.keyFile, '--key-file'),
  ]);
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

/** POST /v1/verify like Gatekeeper: https:// (with --ca-file, and --cert-file/--key-file for mTLS) or http://. */
export async function httpVerifier(baseUrl: URL, tls: ServerTlsOptions): Promise<KeyVerifier> {
  const material = await readTls(tls);
  const agent = new Agent({ connect: material });
  const endpoint = new URL('v1/verify', baseUrl.href.endsWith('/') ? baseUrl : new URL(`${baseUrl.href}/`));
  return {
    async verify(keys, deadline) {
      const parts: Answers[] = [];
      for (const batch of chunks(keys, KEYS_PER_REQUEST)) {
        const body = JSON.stringify({
          apiVersion: 'externaldata.gatekeeper.sh/v1beta1',
          kind: 'ProviderRequest',
          request: { keys: batch },
        });
        let parsed: unknown;
        try {
          const res = await request(endpoint, {
            method: 'POST',
            dispatcher: agent,
            body,
            headers: { 'content-type': 'application/json' },
            signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
          });
          const text = await readLimited(res.body);
          if (res.statusCode !== 200) {
            parts.push({ responses: {}, systemError: `POST ${endpoint.href} answered ${res.statusCode}: ${text.slice(0, 300)}` });
            continue;
          }
          parsed = JSON.parse(text);
        } catch (error) {
          parts.push({ responses: {}, systemError: `POST ${endpoint.href}: ${(error as Error).message}` });
          continue;
        }
        parts.push(answersFromProviderResponse(parsed));
      }
      return mergeAnswers(parts);
    },
    close: () => agent.close(),
  };
}

async function readLimited(body: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const part of body) {
    size += part.length;
    if (size > MAX_RESPONSE_BYTES) throw new Error(`the answer exceeds ${MAX_RESPONSE_BYTES} bytes`);
    parts.push(part);
  }
  return Buffer.concat(parts).toString('utf8');
}

interface GrpcVerifyResult {
  verified: boolean;
  environment: string;
  reference: string;
  digest: string;
  signatures: Array<Record<string, unknown>>;
  reasons: Array<Record<string, unknown>>;
  error?: { code: string; message: string } | null;
}

type VerifierClient = grpc.Client & {
  verify(
    request: { environment: string; references: string[] },
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, response: { results: GrpcVerifyResult[] }) => void,
  ): grpc.ClientUnaryCall;
};

/** A gRPC VerifyResult as the VerificationResult JSON /v1/verify carries (docs/api.md "VerificationResult"). */
export function answerFromGrpc(result: GrpcVerifyResult): Answer {
  if (result.error && result.error.code !== '') return { error: { code: result.error.code, message: result.error.message } };
  const { error: _, digest, ...rest } = result;
  return { ...rest, ...(digest ? { digest } : {}) };
}

/**
 * vouch.v1.Verifier/Verify, one call per environment (the request names one): grpc://host:port in
 * plain text, grpcs://host:port over TLS (--ca-file, and --cert-file/--key-file for mTLS).
 */
export async function grpcVerifier(address: string, secure: boolean, tls: ServerTlsOptions): Promise<KeyVerifier> {
  const material = await readTls(tls);
  const credentials = secure
    ? grpc.credentials.createSsl(material.ca ?? null, material.key ?? null, material.cert ?? null)
    : grpc.credentials.createInsecure();
  const definition = protoLoader.loadSync(PROTO_FILE, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as { vouch: { v1: { Verifier: grpc.ServiceClientConstructor } } };
  const client = new loaded.vouch.v1.Verifier(address, credentials) as unknown as VerifierClient;
  return {
    async verify(keys, deadline) {
      const byEnvironment = new Map<string, Array<{ key: string; reference: string }>>();
      for (const key of keys) {
        let environment = '';
        let reference = key;
        try {
          const split = splitKey(key);
          environment = split.environment ?? '';
          reference = split.reference;
        } catch {
          // vouch answers INVALID_REFERENCE for it
        }
        byEnvironment.set(environment, [...(byEnvironment.get(environment) ?? []), { key, reference }]);
      }
      const answers: Record<string, Answer> = {};
      const failures: string[] = [];
      for (const [environment, entries] of byEnvironment) {
        for (const batch of chunks(entries, KEYS_PER_REQUEST)) {
          try {
            const results = await new Promise<GrpcVerifyResult[]>((resolve, reject) =>
              client.verify(
                { environment, references: batch.map((e) => e.reference) },
                new grpc.Metadata(),
                { deadline },
                (error, response) => (error ? reject(error) : resolve(response.results)),
              ),
            );
            batch.forEach((e, i) => {
              const result = results[i];
              if (result) answers[e.key] = answerFromGrpc(result);
            });
          } catch (error) {
            failures.push(`gRPC Verify at ${address}: ${(error as Error).message}`);
          }
        }
      }
      return { responses: answers, ...(failures.length > 0 ? { systemError: failures.join('; ') } : {}) };
    },
    close: async () => client.close(),
  };
}
