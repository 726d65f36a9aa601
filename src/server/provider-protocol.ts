// Gatekeeper external data wire format (externaldata.gatekeeper.sh/v1beta1; frameworks
// constraint/pkg/externaldata/{request,response}.go) and the one place where vouch's per-key
// outcomes become ProviderResponse items (docs/api.md "ProviderResponse", "Undecided keys").

import type { ErrorCode } from '../core/index.js';
import {
  verificationResultJson,
  type KeyResult,
  type MutateResult,
  type RequestOptions,
  type VerificationResult,
} from '../verify/index.js';

export const PROVIDER_API_VERSION = 'externaldata.gatekeeper.sh/v1beta1';

/**
 * What the servers answer from: the verification engine's `verify` and `mutate` (src/app passes the
 * engine itself). `options.caller` names the route (`/v1/verify`, `/v1/mutate`, `grpc:Verify`), which
 * the engine hands back to its observer, where the key outcome metrics are counted once for every route.
 */
export interface ProviderBackend {
  /** One result per key, in order; must return by `deadline` (epoch ms) and never throw. */
  verify(keys: string[], options: RequestOptions): Promise<KeyResult[]>;
  /** Tag → digest pinning for /v1/mutate: the value is the pinned reference string. */
  mutate(keys: string[], options: RequestOptions): Promise<MutateResult[]>;
}

export interface ProviderItem {
  key: string;
  value?: unknown;
  error?: string;
}

export interface ProviderResponse {
  apiVersion: typeof PROVIDER_API_VERSION;
  kind: 'ProviderResponse';
  response: { idempotent?: boolean; items?: ProviderItem[]; systemError?: string };
}

/** A request that cannot be read at all: the reason goes to `systemError`, with an HTTP status. */
export class BadProviderRequest extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Validates a ProviderRequest body (already size-checked) and returns its keys. Gatekeeper sends
 * `{apiVersion, kind: "ProviderRequest", request: {keys: [...]}}`; anything else is refused with
 * a message saying what is wrong, never a crash.
 */
export function parseProviderRequest(body: Uint8Array, maxKeys: number): string[] {
  if (nestsDeeperThan(body, MAX_REQUEST_NESTING)) {
    throw new BadProviderRequest(400, `request body nests arrays or objects deeper than ${MAX_REQUEST_NESTING} levels`);
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch (error) {
    throw new BadProviderRequest(400, `request body is not JSON: ${(error as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new BadProviderRequest(400, 'request body must be a JSON object');
  const record = json as Record<string, unknown>;
  if (record['kind'] !== undefined && record['kind'] !== 'ProviderRequest') {
    throw new BadProviderRequest(400, `kind must be "ProviderRequest", got ${describe(record['kind'])}`);
  }
  if (record['apiVersion'] !== undefined && record['apiVersion'] !== PROVIDER_API_VERSION) {
    throw new BadProviderRequest(400, `apiVersion must be "${PROVIDER_API_VERSION}", got ${describe(record['apiVersion'])}`);
  }
  const request = record['request'];
  if (typeof request !== 'object' || request === null) throw new BadProviderRequest(400, 'request.keys is missing');
  const keys = (request as Record<string, unknown>)['keys'];
  if (!Array.isArray(keys)) throw new BadProviderRequest(400, 'request.keys must be an array of strings');
  if (keys.length > maxKeys) throw new BadProviderRequest(413, `request has ${keys.length} keys, more than the limit of ${maxKeys}`);
  keys.forEach((key, i) => {
    if (typeof key !== 'string') throw new BadProviderRequest(400, `request.keys[${i}] must be a string`);
  });
  return keys as string[];
}

/** A ProviderRequest nests 3 levels; the bound leaves room for members Gatekeeper may add. */
const MAX_REQUEST_NESTING = 32;

/**
 * Whether JSON text nests arrays and objects deeper than `max`, by one pass over the bytes (strings
 * skipped). Checked before JSON.parse, whose time grows faster than linearly with nesting: a 1 MiB
 * body of nested arrays took ~0.5 s of the event loop, a flat one ~5 ms (found by fuzzing).
 */
function nestsDeeperThan(body: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const byte = body[i];
    if (inString) {
      if (byte === 0x5c)
        i++; // backslash: skip the escaped byte
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) inString = true;
    else if (byte === 0x5b || byte === 0x7b) {
      if (++depth > max) return true;
    } else if (byte === 0x5d || byte === 0x7d) depth--;
  }
  return false;
}

/**
 * A wrong value named in a message: a string quoted and shortened, anything else by its JSON type.
 * Never JSON.stringify of the value itself: it recurses, and a 20 KB body of nested arrays made it
 * throw a RangeError instead of a 400 (found by fuzzing); it also echoed the whole value.
 */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

/**
 * Outcomes → ProviderResponse, one item per key in order; an item error is "CODE: message". This is
 * the /v1/mutate answer: Gatekeeper's mutation system has no response cache, and a systemError
 * fails every key of the batch (gatekeeper pkg/mutation/system_external_data.go,
 * validateExternalDataResponse), so undecided keys stay items there.
 */
export function toProviderResponse(outcomes: ReadonlyArray<KeyResult | MutateResult>): ProviderResponse {
  return {
    apiVersion: PROVIDER_API_VERSION,
    kind: 'ProviderResponse',
    response: {
      idempotent: true,
      items: outcomes.map((o) =>
        o.error !== undefined ? { key: o.key, error: `${o.error.code}: ${o.error.message}` } : { key: o.key, value: o.value },
      ),
    },
  };
}

/**
 * Error codes that are decided for good: Gatekeeper may cache them like verdicts, because asking
 * again gives the same answer (the reference, the environment or the registry allow-list would
 * have to change first). Every other error code is undecided *for now*.
 */
export const CACHEABLE_ERROR_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'INVALID_REFERENCE',
  'UNKNOWN_ENVIRONMENT',
  'REGISTRY_NOT_ALLOWED',
]);

/** The systemError document of a /v1/verify answer that leaves undecided keys out of its items. */
export interface UndecidedDocument {
  message: string;
  undecided: Array<{ key: string; error: string }>;
}

/**
 * Outcomes → the /v1/verify ProviderResponse. Gatekeeper's `external_data` builtin (frameworks
 * constraint/pkg/client/drivers/rego/builtin.go, externalDataBuiltin) stores every returned item,
 * errors included, in its response cache for --external-data-provider-response-cache-ttl (3 min)
 * and asks the provider only for keys not cached; it never caches `systemError`, and it still
 * hands the items of a response that also has a systemError to the template
 * (externaldata.NewRegoResponse → {responses, errors, system_error}). So verdicts and permanent
 * errors are items (cacheable), and a key vouch could not decide for now is left out of the items
 * and named in `systemError` as a JSON document (UndecidedDocument), which the Rego library
 * (lib.vouch.decision) reads per key: the next admission asks vouch again, whose own cache
 * (`cache.undecidedTtlMs`) then answers.
 */
export function toVerifyResponse(outcomes: readonly KeyResult[]): ProviderResponse {
  const items: ProviderItem[] = [];
  const undecided: UndecidedDocument['undecided'] = [];
  for (const o of outcomes) {
    if (o.error === undefined) items.push({ key: o.key, value: o.value });
    else if (CACHEABLE_ERROR_CODES.has(o.error.code)) items.push({ key: o.key, error: `${o.error.code}: ${o.error.message}` });
    else undecided.push({ key: o.key, error: `${o.error.code}: ${o.error.message}` });
  }
  const response: ProviderResponse['response'] = { idempotent: true, items };
  if (undecided.length > 0) {
    const n = undecided.length;
    const document: UndecidedDocument = {
      message: `vouch could not decide ${n} key${n === 1 ? '' : 's'} for now; they are not in items, so ask again`,
      undecided,
    };
    response.systemError = JSON.stringify(document);
  }
  return { apiVersion: PROVIDER_API_VERSION, kind: 'ProviderResponse', response };
}

/**
 * JSON.stringify(response), written by hand around the items: a verify item's value comes as the
 * JSON the engine keeps with a cached answer (verificationResultJson), so a cached 100-key answer
 * is mostly concatenation rather than a walk of 100 objects (bench/provider.ts part (b)).
 */
export function providerResponseJson(response: ProviderResponse): string {
  const body = response.response;
  const fields: string[] = [];
  for (const [name, field] of Object.entries(body)) {
    if (field === undefined) continue;
    const json = name === 'items' ? `[${(field as ProviderItem[]).map(providerItemJson).join(',')}]` : JSON.stringify(field);
    fields.push(`${JSON.stringify(name)}:${json}`);
  }
  return `{"apiVersion":${JSON.stringify(response.apiVersion)},"kind":${JSON.stringify(response.kind)},"response":{${fields.join(',')}}}`;
}

function providerItemJson(item: ProviderItem): string {
  const value = item.value as VerificationResult | undefined;
  // Items are {key, value} or {key, error} (toVerifyResponse, toProviderResponse).
  if (value === null || typeof value !== 'object' || item.error !== undefined) return JSON.stringify(item);
  return `{"key":${JSON.stringify(item.key)},"value":${verificationResultJson(value)}}`;
}

export function systemErrorResponse(message: string): ProviderResponse {
  return { apiVersion: PROVIDER_API_VERSION, kind: 'ProviderResponse', response: { systemError: message } };
}
