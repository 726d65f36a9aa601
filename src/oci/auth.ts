// Registry authentication: the WWW-Authenticate challenge (RFC 7235 §4.1, with the Docker token
// parameters realm/service/scope) and the Docker registry token flow
// (distribution docs "Token Authentication Specification"). Tokens are cached per
// (host, realm, service, scope) until shortly before they expire, so one admission burst costs one
// token request per repository, not one per HTTP request.

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
        while (i < n && header[i] !== ',' && header[i] !== ' ') i++;
        value = header.slice(start, i);
      }
      challenge.params[name.toLowerCase()] = value;
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

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Token cache with in-flight de-duplication: concurrent requests for one scope share one fetch. */
export class TokenCache {
  readonly #tokens = new Map<string, CachedToken>();
  readonly #inflight = new Map<string, Promise<string>>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  get(key: string): string | undefined {
    const cached = this.#tokens.get(key);
    if (cached === undefined) return undefined;
    if (cached.expiresAt <= this.#now()) {
      this.#tokens.delete(key);
      return undefined;
    }
    return cached.token;
  }

  /** Returns a cached token or runs `fetch` once for all concurrent callers of the same key. */
  async getOrFetch(key: string, fetch: () => Promise<{ token: string; expiresInSeconds: number }>): Promise<string> {
    const cached = this.get(key);
    if (cached !== undefined) return cached;
    const pending = this.#inflight.get(key);
    if (pending !== undefined) return pending;
    const promise = (async () => {
      try {
        const { token, expiresInSeconds } = await fetch();
        // Renew a little early so a token never expires between our check and the registry's.
        const lifetimeMs = Math.max(0, expiresInSeconds * 1000 - Math.min(10_000, expiresInSeconds * 100));
        this.#tokens.set(key, { token, expiresAt: this.#now() + lifetimeMs });
        return token;
      } finally {
        this.#inflight.delete(key);
      }
    })();
    this.#inflight.set(key, promise);
    return promise;
  }

  delete(key: string): void {
    this.#tokens.delete(key);
  }
}

export function basicAuthorization(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`;
}

/** The pull scope of a repository, as Docker token auth names it. */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}
