// The shared result cache's store on Redis or Valkey (cache.shared; docs/reliability.md "Several
// replicas"), through node-redis. Only this file knows Redis: the envelope, its HMAC, the timeouts
// and the circuit breaker are src/verify/shared-cache.ts. Redis is never waited for: the client does
// not queue commands while disconnected (disableOfflineQueue), its queue is bounded, every command
// has a timeout, and the runtime starts whether or not Redis answers (it connects in the background).

import { readFile } from 'node:fs/promises';
import { createClient } from 'redis';
import { VouchError, errorMessage } from '../core/index.js';
import type { SharedCacheConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { MIN_SHARED_KEY_BYTES, SharedResultCache, type SharedCacheObserver, type SharedResultStore } from '../verify/index.js';

export interface RedisSharedCache {
  cache: SharedResultCache;
  /** Whether the client is connected now (it connects and reconnects in the background). */
  isReady(): boolean;
  close(): Promise<void>;
}

/** Longest wait for a TCP (and TLS) connection to Redis; reconnects back off up to RECONNECT_MAX_MS. */
const CONNECT_TIMEOUT_MS = 2_000;
const RECONNECT_MAX_MS = 2_000;

/**
 * The shared cache on the Redis of `config`: keys read from their files (refused below
 * MIN_SHARED_KEY_BYTES), the client connecting in the background.
 */
export async function createRedisSharedCache(
  config: SharedCacheConfig,
  options: { now: () => number; logger: Logger; observer?: SharedCacheObserver; context?: string },
): Promise<RedisSharedCache> {
  const keys = await Promise.all([config.keyFile, ...(config.previousKeyFiles ?? [])].map((file) => readKey(file)));
  const password = config.passwordFile === undefined ? undefined : (await readFile(config.passwordFile, 'utf8')).replace(/\r?\n$/, '');
  const ca = config.caFile === undefined ? undefined : await readFile(config.caFile, 'utf8');
  const log = options.logger;
  const tls = config.url.startsWith('rediss:');
  const client = createClient({
    url: config.url,
    ...(config.username !== undefined ? { username: config.username } : {}),
    ...(password !== undefined ? { password } : {}),
    disableOfflineQueue: true,
    commandsQueueMaxLength: config.maxPending,
    commandOptions: { timeout: config.commandTimeoutMs },
    socket: {
      connectTimeout: CONNECT_TIMEOUT_MS,
      reconnectStrategy: (retries: number) => Math.min(RECONNECT_MAX_MS, 50 * 2 ** Math.min(retries, 6)),
      ...(tls ? { tls: true as const, ...(ca !== undefined ? { ca } : {}) } : {}),
    },
  });
  // Without a listener an 'error' event would end the process; the shared cache counts and logs failures.
  let lastError = '';
  client.on('error', (error: unknown) => {
    const message = errorMessage(error);
    if (message !== lastError) log.debug({ err: message }, 'redis connection error');
    lastError = message;
  });
  client
    .connect()
    .catch((error: unknown) => log.warn({ err: errorMessage(error) }, 'cannot connect to redis; the local cache serves alone'));
  const store: SharedResultStore = {
    async get(key, maxBytes) {
      if (!client.isReady) throw new VouchError('INTERNAL', 'redis is not connected', { reason: 'CONNECTION' });
      // GETRANGE bounds what Redis sends: a value past maxBytes shows as maxBytes + 1 bytes and is
      // refused, never read whole. A missing key reads as "" (no entry is empty).
      const value = await client.getRange(key, 0, maxBytes);
      return value === null || value === '' ? undefined : value;
    },
    async set(key, value, ttlMs) {
      if (!client.isReady) throw new VouchError('INTERNAL', 'redis is not connected', { reason: 'CONNECTION' });
      await client.set(key, value, { expiration: { type: 'PX', value: Math.ceil(ttlMs) } });
    },
  };
  const cache = new SharedResultCache({
    store,
    keys,
    keyPrefix: config.keyPrefix,
    commandTimeoutMs: config.commandTimeoutMs,
    maxPending: config.maxPending,
    failureThreshold: config.failureThreshold,
    coolDownMs: config.coolDownMs,
    now: options.now,
    logger: log,
    ...(options.context !== undefined ? { context: options.context } : {}),
    ...(options.observer !== undefined ? { observer: options.observer } : {}),
  });
  return {
    cache,
    isReady: () => client.isReady,
    close: async () => {
      try {
        client.destroy();
      } catch {
        // already closed
      }
    },
  };
}

async function readKey(file: string): Promise<Buffer> {
  const key = await readFile(file).catch((error: unknown) => {
    throw new VouchError('INVALID_CONFIG', `cache.shared: cannot read the HMAC key file ${file}: ${errorMessage(error)}`, {
      reason: 'NOT_FOUND',
      cause: error,
    });
  });
  if (key.byteLength < MIN_SHARED_KEY_BYTES) {
    throw new VouchError(
      'INVALID_CONFIG',
      `cache.shared: the HMAC key in ${file} has ${key.byteLength} bytes; at least ${MIN_SHARED_KEY_BYTES} are required (e.g. openssl rand -out ${file} 32)`,
      { reason: 'BAD_CONTENT' },
    );
  }
  return key;
}
