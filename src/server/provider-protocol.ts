// Gatekeeper external data wire format (externaldata.gatekeeper.sh/v1beta1; frameworks
// constraint/pkg/externaldata/{request,response}.go) and the one place where vouch's per-key
// outcomes become ProviderResponse items (interface.md §3).

import type { ErrorCode } from '../core/index.js';

export const PROVIDER_API_VERSION = 'externaldata.gatekeeper.sh/v1beta1';

/** What a backend answers per key: a definitive value, or an error (undecided). */
export type KeyOutcome<V = unknown> = { key: string; value: V } | { key: string; error: { code: ErrorCode; message: string } };

export interface ProviderBackend {
  /** One outcome per key, in order; must return by `deadline` (epoch ms) and never throw. */
  verify(keys: string[], options: { deadline: number }): Promise<Array<KeyOutcome>>;
  /** Tag → digest pinning for /v1/mutate: the value is the pinned reference string. */
  mutate(keys: string[], options: { deadline: number }): Promise<Array<KeyOutcome<string>>>;
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
    throw new BadProviderRequest(400, `kind must be "ProviderRequest", got ${JSON.stringify(record['kind'])}`);
  }
  if (record['apiVersion'] !== undefined && record['apiVersion'] !== PROVIDER_API_VERSION) {
    throw new BadProviderRequest(400, `apiVersion must be "${PROVIDER_API_VERSION}", got ${JSON.stringify(record['apiVersion'])}`);
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

/** Outcomes → ProviderResponse, one item per key in order; an item error is "CODE: message". */
export function toProviderResponse(outcomes: KeyOutcome[]): ProviderResponse {
  return {
    apiVersion: PROVIDER_API_VERSION,
    kind: 'ProviderResponse',
    response: {
      idempotent: true,
      items: outcomes.map((o) =>
        'error' in o ? { key: o.key, error: `${o.error.code}: ${o.error.message}` } : { key: o.key, value: o.value },
      ),
    },
  };
}

export function systemErrorResponse(message: string): ProviderResponse {
  return { apiVersion: PROVIDER_API_VERSION, kind: 'ProviderResponse', response: { systemError: message } };
}
