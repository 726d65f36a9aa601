import test from 'ava';
import { parseChallenges, TokenCache } from '../../../src/oci/auth.js';

test('auth: parses a Docker Hub bearer challenge', (t) => {
  const [c] = parseChallenges(
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
  );
  t.is(c?.scheme, 'bearer');
  t.deepEqual(c?.params, { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' });
});

test('auth: keeps commas inside quoted values and unescapes quotes', (t) => {
  const [c] = parseChallenges('Bearer realm="https://r/t",scope="repository:a:pull,push",error="insufficient_scope",x="say \\"hi\\""');
  t.is(c?.params['scope'], 'repository:a:pull,push');
  t.is(c?.params['error'], 'insufficient_scope');
  t.is(c?.params['x'], 'say "hi"');
});

test('auth: several challenges in one header, unquoted values, mixed case', (t) => {
  const cs = parseChallenges('Basic realm="registry", BEARER Realm=https://r/token, service=svc');
  t.is(cs.length, 2);
  t.is(cs[0]?.scheme, 'basic');
  t.is(cs[0]?.params['realm'], 'registry');
  t.is(cs[1]?.scheme, 'bearer');
  t.deepEqual(cs[1]?.params, { realm: 'https://r/token', service: 'svc' });
});

test('auth: garbage yields no usable challenge instead of throwing', (t) => {
  t.deepEqual(parseChallenges(''), []);
  t.notThrows(() => parseChallenges('=,,=="'));
  t.notThrows(() => parseChallenges('Bearer realm="unterminated'));
});

test('auth: token cache reuses until shortly before expiry and de-duplicates fetches', async (t) => {
  let now = 1_000_000;
  const cache = new TokenCache({ now: () => now });
  let fetches = 0;
  const fetch = async () => {
    fetches++;
    await new Promise((r) => setTimeout(r, 5));
    return { token: `t${fetches}`, expiresInSeconds: 300 };
  };
  const [a, b] = await Promise.all([cache.getOrFetch('k', fetch), cache.getOrFetch('k', fetch)]);
  t.is(a, 't1');
  t.is(b, 't1');
  t.is(fetches, 1);
  now += 280_000;
  t.is(await cache.getOrFetch('k', fetch), 't1');
  now += 15_000; // within the renewal margin before expiry
  t.is(await cache.getOrFetch('k', fetch), 't2');
  cache.delete('k');
  t.is(await cache.getOrFetch('k', fetch), 't3');
});

test('auth: a failed token fetch is not cached', async (t) => {
  const cache = new TokenCache();
  await t.throwsAsync(cache.getOrFetch('k', async () => Promise.reject(new Error('boom'))));
  t.is(await cache.getOrFetch('k', async () => ({ token: 'ok', expiresInSeconds: 60 })), 'ok');
});

test('auth: the token cache is bounded in entries and bytes, least recently used first out', async (t) => {
  const byEntries = new TokenCache({ maxEntries: 3 });
  for (let i = 0; i < 10; i++) await byEntries.getOrFetch(`k${i}`, async () => ({ token: `t${i}`, expiresInSeconds: 1e9 }));
  t.is(byEntries.stats().entries, 3);
  t.is(byEntries.get('k9'), 't9');
  t.is(byEntries.get('k0'), undefined);

  const byBytes = new TokenCache({ maxBytes: 1000 });
  for (let i = 0; i < 100; i++) await byBytes.getOrFetch(`k${i}`, async () => ({ token: 'x'.repeat(100), expiresInSeconds: 1e9 }));
  t.true(byBytes.stats().bytes <= 1000, `${byBytes.stats().bytes} bytes`);
  t.true(byBytes.stats().entries <= 10);
});

test('auth: token lifetimes are capped at an hour, default to 60 s, and expired entries are purged', async (t) => {
  let now = 1_000_000;
  const cache = new TokenCache({ now: () => now });
  await cache.getOrFetch('long', async () => ({ token: 'forever', expiresInSeconds: 1e9 }));
  now += 3_590_000 - 1; // 1 h minus the 10 s renewal margin
  t.is(cache.get('long'), 'forever');
  now += 2;
  t.is(cache.get('long'), undefined);

  await cache.getOrFetch('short', async () => ({ token: 'minute', expiresInSeconds: 60 }));
  await cache.getOrFetch('other', async () => ({ token: 'other', expiresInSeconds: 3600 }));
  now += 55_000; // past 60 s minus the 6 s margin
  t.is(cache.stats().entries, 2);
  // adding a token purges what has expired, without anyone reading it
  await cache.getOrFetch('new', async () => ({ token: 'new', expiresInSeconds: 60 }));
  t.is(cache.stats().entries, 2);
  t.is(cache.get('short'), undefined);
  t.is(cache.get('other'), 'other');
});

test('auth: a token over the size cap is handed back but never cached', async (t) => {
  const cache = new TokenCache({ maxTokenBytes: 16 });
  t.is(await cache.getOrFetch('k', async () => ({ token: 'x'.repeat(17), expiresInSeconds: 60 })), 'x'.repeat(17));
  t.deepEqual(cache.stats(), { entries: 0, bytes: 0 });
});

// found by fuzzing: an unquoted value ended at a space or comma but not at a tab (also OWS), so the
// tab before the comma became part of the realm
test('auth: an unquoted value ends at a tab as at a space', (t) => {
  const [c] = parseChallenges('Bearer realm=https://r/token\t,\tservice=svc\t');
  t.deepEqual(c?.params, { realm: 'https://r/token', service: 'svc' });
});

// found by fuzzing: params were assigned, so a param named __proto__ was lost
test('auth: a param named __proto__ is an ordinary param', (t) => {
  const [c] = parseChallenges('Bearer __proto__="x",realm="https://r/token"');
  t.deepEqual(Object.keys(c?.params ?? {}), ['__proto__', 'realm']);
  t.is(Object.getPrototypeOf(c?.params), Object.prototype);
});
