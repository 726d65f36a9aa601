// Registry authentication: the WWW-Authenticate challenge (RFC 7235 §4.1, with the Docker token
// parameters realm/service/scope) and the Docker registry token flow
// (distribution docs "Token Authentication Specification"). Tokens are cached per
// (host, realm, service, scope) until shortly before they expire, so one admission burst costs one
// token request per repository, not one per HTTP request.

import { BoundedCache } from '../core/index.js';

export interface Challenge {
  scheme: string; // lowercased: "bearer", "basic"
  params: Record<string, string>; // keys lowercased
}

export interface Credentials {
  username: string;
  password: string;
}

/**
 * Parses a WWW-Authenticate header value into challenges. Handles quoted values containing
 * commas (`scope="repository:a:pull,push"`), escaped quotes, and several challenges in one header.
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpace = () => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const readToken = () => {
    const start = i;
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  while (i < n) {
    skipSpace();
    while (i < n && header[i] === ',') {
      i++;
      skipSpace();
    }
    const scheme = readToken();
    if (!scheme) {
      i++;
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    // auth-params: name=value pairs separated by commas, until the next scheme token
    for (;;) {
      skipSpace();
      const save = i;
      const name = readToken();
      skipSpace();
      if (!name || header[i] !== '=') {
        i = save;
        break;
      }
      i++; // '='
      skipSpace();
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++; // closing quote
      } else {
        const start = i;
        // a token ends at a comma or at OWS (RFC 9110 §5.6.3: SP or HTAB; the tab was kept in the value before, found by fuzzing)
        while (i < n && header[i] !== ',' && header[i] !== ' ' && header[i] !== '\t') i++;
        value = header.slice(start, i);
      }
      // an own property even for "__proto__", which assignment would turn into a prototype change (found by fuzzing)
      Object.defineProperty(challenge.params, name.toLowerCase(), { value, enumerable: true, writable: true, configurable: true });
      skipSpace();
      if (header[i] === ',') {
        i++;
        continue;
      }
      break;
    }
  }
  return challenges;
}

/** Bounds of the token cache: tokens come from registries and are as untrusted as any content. */
export interface TokenCacheLimits {
  /** Tokens kept (one per registry, realm, service and scope). */
  maxEntries: number;
  /** Total size of the cached tokens and their keys, in bytes (UTF-16 code units, which is bytes for the ASCII tokens accepted). */
  maxBytes: number;
  /** Longest token accepted (Docker Hub's JWTs are ~1-2 KiB; cloud registries' a few KiB). */
  maxTokenBytes: number;
  /** Longest time a token is reused, whatever its expires_in says. */
  maxLifetimeSeconds: number;
}

export const DEFAULT_TOKEN_CACHE_LIMITS: Readonly<TokenCacheLimits> = Object.freeze({
  maxEntries: 1000,
  maxBytes: 8 * 1024 * 1024,
  maxTokenBytes: 16 * 1024,
  maxLifetimeSeconds: 3600,
});

/** Largest token response body read (the token is capped at 16 KiB; the rest is a few fields). */
export const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;

/** Docker token spec: a token without expires_in lives 60 s. */
export const DEFAULT_TOKEN_LIFETIME_SECONDS = 60;

export interface TokenCacheOptions extends Partial<TokenCacheLimits> {
  /** Clock in ms (tests); default the cache's monotonic clock. */
  now?: () => number;
}

/**
 * Token cache with in-flight de-duplication: concurrent requests for one scope share one fetch.
 * Bounded in entries and bytes (least recently used evicted first); each entry lives until
 * shortly before its expires_in, capped at maxLifetimeSeconds; expired entries are purged
 * whenever a token is added, so a registry handing out a new scope with every answer cannot
 * grow memory (docs/security.md "Egress").
 */
export class TokenCache {
  readonly limits: TokenCacheLimits;
  readonly #tokens: BoundedCache<string>;

  constructor(options: TokenCacheOptions = {}) {
    const { now, ...limits } = options;
    this.limits = { ...DEFAULT_TOKEN_CACHE_LIMITS, ...limits };
    this.#tokens = new BoundedCache<string>({
      maxEntries: this.limits.maxEntries,
      maxBytes: this.limits.maxBytes,
      sizeOf: (token, key) => Math.max(1, token.length + key.length),
      now: now ?? (() => performance.now()),
    });
  }

  get(key: string): string | undefined {
    return this.#tokens.get(key);
  }

  /** Returns a cached token or runs `fetch` once for all concurrent callers of the same key. */
  async getOrFetch(key: string, fetch: () => Promise<{ token: string; expiresInSeconds: number }>): Promise<string> {
    let lifetimeMs = 0;
    return this.#tokens.getOrCompute(
      key,
      async () => {
        const { token, expiresInSeconds } = await fetch();
        const seconds = Math.min(expiresInSeconds, this.limits.maxLifetimeSeconds);
        // Renew a little early so a token never expires between our check and the registry's.
        lifetimeMs = Math.floor(seconds * 1000 - Math.min(10_000, seconds * 100));
        return token;
      },
      (token) => {
        if (!(lifetimeMs >= 1) || token.length > this.limits.maxTokenBytes) return undefined;
        this.#tokens.purgeExpired();
        return { ttlMs: lifetimeMs };
      },
    );
  }

  delete(key: string): void {
    this.#tokens.delete(key);
  }

  /** Cached tokens and their accounted size in bytes. */
  stats(): { entries: number; bytes: number } {
    return { entries: this.#tokens.size, bytes: this.#tokens.bytes };
  }
}

export function basicAuthorization(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`;
}

/** The pull scope of a repository, as Docker token auth names it. */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}
