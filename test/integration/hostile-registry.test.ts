// Egress control against a malicious registry (security issue items 3-5): redirects that leave the
// allowlist or reach link-local / cloud metadata addresses, token realms on other hosts (with and
// without the registry's credentials), and a flood of fresh scopes with huge, long-lived tokens.
// The client is wired from a parsed configuration exactly as createVerificationStack wires it; a
// canary server records every request it gets, to prove nothing reached a refused host, and the
// dispatcher records every origin a request was dispatched to (and refuses any non-loopback one,
// so a regression can never send a packet off this machine).

import test from 'ava';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LookupFunction } from 'node:net';
import { pino } from 'pino';
import { computeDigest, VouchError } from '../../src/core/index.js';
import { egressRules, hostAllowedPredicate, parseConfig, registryHostConfigs, type VouchConfig } from '../../src/config/index.js';
import { createEgressAgent, RegistryClient, type RegistryClientOptions } from '../../src/oci/index.js';
import { createVerificationStack } from '../../src/app/index.js';
import { startCanary, startHostileRegistry, startTokenService, type Canary, type HostileRegistry } from '../helpers/hostile-registry.js';
import { buildImage } from '../helpers/oci-fixtures.js';
import { writeTrustMaterial } from '../helpers/trust-material.js';
import { createTlsMaterial, keyPemOf, pemOf } from '../helpers/tls.js';

const REPO = 'team/app';
const ENVIRONMENTS = 'environments:\n  prod: { trustPolicy: policy.json, trustStore: store }\n';

type Event = Parameters<NonNullable<RegistryClientOptions['onRequest']>>[0];

function configOf(yaml: string, dir = '/tmp/vouch-hostile'): VouchConfig {
  return parseConfig(`${ENVIRONMENTS}${yaml}`, join(dir, 'vouch.yaml'));
}

/** Loopback addresses, localhost, and the reserved test names this file resolves itself (RFC 6761 ".test"). */
function mayDispatchTo(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  return /^127\./.test(host) || host === '::1' || host === 'localhost' || host.endsWith('.vouch.test');
}

interface Wired {
  client: RegistryClient;
  /** Origins requests were dispatched to, in order. */
  attempts: string[];
  events: Event[];
  close(): Promise<void>;
}

/** The registry client for a configuration, as createVerificationStack builds it, on a recording dispatcher. */
function wire(config: VouchConfig, options: { lookup?: LookupFunction; ca?: string } = {}): Wired {
  const rules = egressRules(config);
  const attempts: string[] = [];
  const events: Event[] = [];
  const agent = createEgressAgent({
    isAddressExempt: rules.isAddressExempt,
    connectTimeoutMs: 2_000,
    ...(options.lookup ? { lookup: options.lookup } : {}),
    ...(options.ca ? { tls: { ca: options.ca } } : {}),
  });
  const dispatcher = agent.compose((dispatch) => (opts, handler) => {
    const origin = String(opts.origin);
    attempts.push(origin);
    if (!mayDispatchTo(new URL(origin).hostname)) throw new Error(`test safety: refusing to dispatch to ${origin}`);
    return dispatch(opts, handler);
  });
  const client = new RegistryClient({
    hosts: registryHostConfigs(config),
    isHostAllowed: hostAllowedPredicate(config),
    egress: rules,
    dispatcher,
    requestTimeoutMs: 2_000,
    onRequest: (e) => events.push(e),
  });
  return {
    client,
    attempts,
    events,
    close: async () => {
      await client.close();
      await agent.close();
    },
  };
}

function errorOf(t: { fail: (m: string) => void }, error: unknown): { code: string; reason: string } {
  if (!(error instanceof VouchError)) {
    t.fail(`expected a VouchError, got ${String(error)}`);
    return { code: '', reason: '' };
  }
  return { code: error.code, reason: error.reason };
}

/** An image in the registry: manifest under tag v1 plus its blobs. */
function storeImage(registry: HostileRegistry) {
  const image = buildImage();
  for (const b of image.blobs) registry.putBlob(REPO, b.bytes);
  registry.putManifest(REPO, image.bytes, { mediaType: image.descriptor.mediaType, tag: 'v1' });
  return image;
}

async function closeAll(...items: Array<{ close(): Promise<unknown> } | undefined>): Promise<void> {
  await Promise.allSettled(items.map((i) => i?.close()));
}

// ---- redirects -------------------------------------------------------------------------------------

for (const target of ['127.0.0.1', 'localhost'] as const) {
  test(`redirect: a manifest redirected to ${target}:<port>, not allowed, is refused before any request reaches it`, async (t) => {
    const registry = await startHostileRegistry();
    const canary = await startCanary();
    storeImage(registry);
    registry.redirect(/\/manifests\//, `http://${target}:${canary.port}/steal`);
    const wired = wire(configOf(`allowedRegistries: ["${registry.host}"]\nregistries:\n  "${registry.host}": { plainHttp: true }\n`));
    try {
      const error = await t.throwsAsync(wired.client.repository(registry.host, REPO).fetchManifest('v1'));
      t.deepEqual(errorOf(t, error), { code: 'REGISTRY_NOT_ALLOWED', reason: 'REDIRECT_NOT_ALLOWED' });
      t.regex(error?.message ?? '', /allowedRedirects/);
      t.deepEqual(canary.requests, []);
      t.deepEqual(wired.attempts, [registry.url]);
    } finally {
      await closeAll(wired, registry, canary);
    }
  });
}

test('redirect: 169.254.169.254 in any spelling is refused for every request, also when every host is allowed', async (t) => {
  const registry = await startHostileRegistry();
  storeImage(registry);
  const targets = [
    'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
    'http://0xa9fea9fe/latest/',
    'http://2852039166/latest/',
    'http://0251.0376.0251.0376/latest/',
    'http://169.254.43518/latest/',
    'http://[::ffff:169.254.169.254]/latest/',
    'http://[::ffff:a9fe:a9fe]/latest/',
    'http://[fd00:ec2::254]/latest/',
    'http://[fe80::1]/latest/',
    'http://100.100.100.200/latest/',
    'http://192.0.0.192/latest/',
    'http://metadata.google.internal/computeMetadata/v1/',
    'http://METADATA.google.internal./computeMetadata/v1/',
  ];
  targets.forEach((to, i) => registry.redirect(new RegExp(`/manifests/t${i}$`), to));
  // allow-all mode, and a wildcard that would match anything: neither exempts a metadata address
  for (const yaml of [
    `registries:\n  "${registry.host}": { plainHttp: true }\n`,
    `allowedRegistries: ["*"]\nallowedRedirects: ["*"]\nregistries:\n  "${registry.host}": { plainHttp: true }\n`,
  ]) {
    const wired = wire(configOf(yaml));
    try {
      for (const [i, to] of targets.entries()) {
        const error = await t.throwsAsync(wired.client.repository(registry.host, REPO).fetchManifest(`t${i}`));
        t.deepEqual(errorOf(t, error), { code: 'REGISTRY_NOT_ALLOWED', reason: 'ADDRESS_NOT_ALLOWED' }, to);
      }
      t.true(
        wired.attempts.every((origin) => origin === registry.url),
        wired.attempts.join(' '),
      );
    } finally {
      await wired.close();
    }
  }
  // A key naming the metadata service as its registry never leaves vouch either.
  const wired = wire(configOf(''));
  try {
    for (const host of ['169.254.169.254', '169.254.169.254:80', 'metadata.google.internal', '[fd00:ec2::254]']) {
      const error = await t.throwsAsync(wired.client.repository(host, REPO).fetchManifest('v1'));
      t.deepEqual(errorOf(t, error), { code: 'REGISTRY_NOT_ALLOWED', reason: 'ADDRESS_NOT_ALLOWED' }, host);
    }
    t.deepEqual(wired.attempts, []);
  } finally {
    await closeAll(wired, registry);
  }
});

test('redirect: a name that resolves to a link-local address is refused at connect time, before any connection', async (t) => {
  const registry = await startHostileRegistry();
  storeImage(registry);
  const resolved: string[] = [];
  const answers: Record<string, string> = { 'imds.vouch.test': '169.254.169.254', 'mapped.vouch.test': '::ffff:169.254.169.254' };
  // A resolver for the reserved .test names (RFC 6761); anything else is not resolvable here.
  const lookup: LookupFunction = (hostname, options, callback) => {
    resolved.push(hostname);
    const address = answers[hostname];
    if (address === undefined) {
      callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      return;
    }
    const family = address.includes(':') ? 6 : 4;
    if (options.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };
  // Safety gate: the connect-time guard must refuse these answers in isolation before a connection
  // can even be attempted with them (never send a packet to a metadata address from a test).
  const { guardedLookup, specialAddressBlockList } = await import('../../src/oci/egress.js');
  const gate = await new Promise<unknown>((resolve) =>
    guardedLookup(lookup, specialAddressBlockList())('imds.vouch.test', { all: true }, (error) => resolve(error)),
  );
  if (!(gate instanceof VouchError) || gate.reason !== 'ADDRESS_NOT_ALLOWED') {
    t.fail('the connect-time guard does not refuse a link-local answer; not running the connection test');
    await registry.close();
    return;
  }
  resolved.length = 0;

  const connected: string[] = [];
  const onConnected = (message: unknown) => {
    connected.push((message as { connectParams: { hostname: string } }).connectParams.hostname);
  };
  subscribe('undici:client:connected', onConnected);
  registry.redirect(/\/manifests\/v1$/, 'http://imds.vouch.test:8080/latest/meta-data/');
  registry.redirect(/\/manifests\/v2$/, 'http://mapped.vouch.test/latest/meta-data/');
  const wired = wire(configOf(`registries:\n  "${registry.host}": { plainHttp: true }\n`), { lookup });
  try {
    for (const tag of ['v1', 'v2']) {
      const error = await t.throwsAsync(wired.client.repository(registry.host, REPO).fetchManifest(tag));
      t.deepEqual(errorOf(t, error), { code: 'REGISTRY_NOT_ALLOWED', reason: 'ADDRESS_NOT_ALLOWED' }, tag);
    }
    // the registry host itself resolving there
    const error = await t.throwsAsync(wired.client.repository('imds.vouch.test:5000', REPO).fetchManifest('v1'));
    t.deepEqual(errorOf(t, error), { code: 'REGISTRY_NOT_ALLOWED', reason: 'ADDRESS_NOT_ALLOWED' });
    t.deepEqual(resolved.sort(), ['imds.vouch.test', 'imds.vouch.test', 'mapped.vouch.test']);
    t.false(
      connected.some((h) => h.endsWith('.vouch.test')),
      connected.join(' '),
    );
  } finally {
    unsubscribe('undici:client:connected', onConnected);
    await closeAll(wired, registry);
  }
});

test('redirect: a chain whose later hop leaves the allowlist is refused at that hop', async (t) => {
  const registry = await startHostileRegistry();
  const canary = await startCanary();
  // an allowed storage host that itself redirects onwards to the canary
  const storage = await startCanary((_req, res) => {
    res.writeHead(302, { location: `${canary.url}/second-hop` });
    res.end();
  });
  const image = storeImage(registry);
  const layer = image.blobs[0]!;
  registry.redirect(/\/blobs\//, (path) => `${storage.url}/bucket${path}`);
  const wired = wire(
    configOf(
      `allowedRegistries: ["${registry.host}"]\nallowedRedirects: ["${storage.host}"]\nregistries:\n  "${registry.host}": { plainHttp: true }\n`,
    ),
  );
  try {
    const error = await t.throwsAsync(wired.client.repository(registry.host, REPO).fetchBlob(layer.descriptor));
    t.deepEqual(errorOf(t, error), { code: 'REGISTRY_NOT_ALLOWED', reason: 'REDIRECT_NOT_ALLOWED' });
    t.is(storage.requests.length, 1);
    t.deepEqual(canary.requests, []);
    t.deepEqual(wired.attempts, [registry.url, storage.url]);
  } finally {
    await closeAll(wired, registry, storage, canary);
  }
});

test('redirect: https to http is refused even to an allowed host (DOWNGRADE)', async (t) => {
  const tls = await createTlsMaterial();
  const registry = await startHostileRegistry({ tls: { cert: pemOf(tls.server), key: keyPemOf(tls.server) } });
  const canary = await startCanary();
  const image = storeImage(registry);
  registry.redirect(/\/manifests\/v1$/, `${canary.url}/plain`);
  const wired = wire(configOf(`allowedRegistries: ["${registry.host}", "${canary.host}"]\nallowedRedirects: ["${canary.host}"]\n`), {
    ca: pemOf(tls.ca),
  });
  try {
    // the TLS set-up works: a manifest that is not redirected is served
    await wired.client.repository(registry.host, REPO).fetchManifest(image.descriptor.digest);
    const error = await t.throwsAsync(wired.client.repository(registry.host, REPO).fetchManifest('v1'));
    t.deepEqual(errorOf(t, error), { code: 'REGISTRY_NOT_ALLOWED', reason: 'DOWNGRADE' });
    t.deepEqual(canary.requests, []);
  } finally {
    await closeAll(wired, registry, canary);
  }
});

test('redirect: a blob redirected to an allowed storage host is fetched, without the registry credentials', async (t) => {
  const registry = await startHostileRegistry({ auth: { kind: 'basic', username: 'alice', password: 's3cret' } });
  const bytes = new TextEncoder().encode('layer bytes served by object storage');
  const digest = computeDigest(bytes);
  const storage = await startCanary((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(bytes);
  });
  registry.redirect(new RegExp(`/blobs/${digest}$`), `${storage.url}/bucket/${digest.slice(7)}?X-Amz-Signature=abc`, {
    authenticated: true,
  });
  const wired = wire(
    configOf(
      `allowedRegistries: ["${registry.host}"]\nallowedRedirects: ["${storage.host}"]\n` +
        `registries:\n  "${registry.host}": { plainHttp: true, username: alice, password: s3cret }\n`,
    ),
  );
  try {
    // the registry wants credentials first; the redirect comes once they are sent
    const fetched = await wired.client
      .repository(registry.host, REPO)
      .fetchBlob({ mediaType: 'application/octet-stream', digest, size: bytes.length });
    t.is(Buffer.from(fetched).toString(), 'layer bytes served by object storage');
    t.is(storage.requests.length, 1);
    t.is(storage.requests[0]?.headers['authorization'], undefined);
    t.true(registry.requests.some((r) => r.headers['authorization'] !== undefined));
  } finally {
    await closeAll(wired, registry, storage);
  }
});

// ---- token realms ----------------------------------------------------------------------------------

test('realm: a realm on a host that is not allowed is never contacted, with or without credentials', async (t) => {
  const registry = await startHostileRegistry();
  const canary = await startCanary();
  storeImage(registry);
  registry.bearerRealm(`${canary.url}/token-realm`, () => false);
  for (const credentials of ['', ', username: alice, password: s3cret']) {
    const wired = wire(
      configOf(`allowedRegistries: ["${registry.host}"]\nregistries:\n  "${registry.host}": { plainHttp: true${credentials} }\n`),
    );
    try {
      const error = await t.throwsAsync(wired.client.repository(registry.host, REPO).fetchManifest('v1'));
      t.deepEqual(errorOf(t, error), { code: 'REGISTRY_NOT_ALLOWED', reason: 'REALM_NOT_ALLOWED' });
      t.regex(error?.message ?? '', /allowedTokenRealms/);
      t.deepEqual(wired.attempts, [registry.url]);
    } finally {
      await wired.close();
    }
  }
  t.deepEqual(canary.requests, []);
  await closeAll(registry, canary);
});

test('realm: credentials never go to a realm on another host unless allowedTokenRealms names it', async (t) => {
  // allow-all mode: the realm may be asked, but not with the registry's credentials
  const registry = await startHostileRegistry();
  const canary = await startCanary();
  storeImage(registry);
  registry.bearerRealm(`${canary.url}/token-realm`, () => false);
  const wired = wire(
    configOf(
      `registries:\n  "${registry.host}": { plainHttp: true, username: alice, password: s3cret }\n  "${canary.host}": { plainHttp: true }\n`,
    ),
  );
  try {
    const error = await t.throwsAsync(wired.client.repository(registry.host, REPO).fetchManifest('v1'));
    t.deepEqual(errorOf(t, error), { code: 'REGISTRY_AUTH', reason: 'REALM_NOT_ALLOWED' });
    t.deepEqual(canary.requests, []);
  } finally {
    await closeAll(wired, registry, canary);
  }
});

test('realm: credentials never go over plain http unless that exact realm host is configured plainHttp', async (t) => {
  const tokens = await startTokenService();
  // 1. a plain-http registry whose realm is on another, allowed, host that is not configured plainHttp
  const plain = await startHostileRegistry();
  storeImage(plain);
  plain.bearerRealm(`${tokens.url}/token`, (token) => tokens.issued.has(token));
  const wiredPlain = wire(
    configOf(
      `allowedRegistries: ["${plain.host}"]\nallowedTokenRealms: ["${tokens.host}"]\n` +
        `registries:\n  "${plain.host}": { plainHttp: true, username: alice, password: s3cret }\n`,
    ),
  );
  // 2. an https registry whose realm is http on an allowed host
  const tls = await createTlsMaterial();
  const secure = await startHostileRegistry({ tls: { cert: pemOf(tls.server), key: keyPemOf(tls.server) } });
  storeImage(secure);
  secure.bearerRealm(`${tokens.url}/token`, (token) => tokens.issued.has(token));
  const wiredSecure = wire(
    configOf(
      `allowedRegistries: ["${secure.host}"]\nallowedTokenRealms: ["${tokens.host}"]\n` +
        `registries:\n  "${secure.host}": { username: alice, password: s3cret }\n`,
    ),
    { ca: pemOf(tls.ca) },
  );
  try {
    for (const [wired, registry] of [
      [wiredPlain, plain],
      [wiredSecure, secure],
    ] as const) {
      const error = await t.throwsAsync(wired.client.repository(registry.host, REPO).fetchManifest('v1'));
      t.deepEqual(errorOf(t, error), { code: 'REGISTRY_AUTH', reason: 'INSECURE_CREDENTIALS' }, registry.url);
    }
    t.deepEqual(tokens.requests, []);
  } finally {
    await closeAll(wiredPlain, wiredSecure, plain, secure, tokens);
  }
});

test('realm: a realm on an allowedTokenRealms host gets the credentials; metrics see the registry host', async (t) => {
  const registry = await startHostileRegistry();
  const tokens = await startTokenService();
  const image = storeImage(registry);
  registry.bearerRealm(`${tokens.url}/token`, (token) => tokens.issued.has(token), 'registry.vouch.test');
  const wired = wire(
    configOf(
      `allowedRegistries: ["${registry.host}"]\nallowedTokenRealms: ["${tokens.host}"]\n` +
        `registries:\n  "${registry.host}": { plainHttp: true, username: alice, password: s3cret }\n  "${tokens.host}": { plainHttp: true }\n`,
    ),
  );
  try {
    const fetched = await wired.client.repository(registry.host, REPO).fetchManifest('v1');
    t.is(fetched.descriptor.digest, image.descriptor.digest);
    t.is(tokens.requests.length, 1);
    t.is(tokens.requests[0]?.headers['authorization'], `Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
    t.regex(tokens.requests[0]?.url ?? '', /service=registry\.vouch\.test/);
    const token = wired.events.filter((e) => e.kind === 'token');
    t.deepEqual(
      token.map((e) => [e.host, e.status]),
      [[registry.host, 200]],
    );
    t.true(wired.events.every((e) => e.host === registry.host));
  } finally {
    await closeAll(wired, registry, tokens);
  }
});

test('realm: an anonymous realm on another host works when every registry is allowed', async (t) => {
  const registry = await startHostileRegistry();
  const tokens = await startTokenService();
  const image = storeImage(registry);
  registry.bearerRealm(`${tokens.url}/token`, (token) => tokens.issued.has(token));
  const wired = wire(configOf(`registries:\n  "${registry.host}": { plainHttp: true }\n`));
  try {
    const fetched = await wired.client.repository(registry.host, REPO).fetchManifest('v1');
    t.is(fetched.descriptor.digest, image.descriptor.digest);
    t.is(tokens.requests.length, 1);
    t.is(tokens.requests[0]?.headers['authorization'], undefined);
  } finally {
    await closeAll(wired, registry, tokens);
  }
});

// ---- hostile tokens -------------------------------------------------------------------------------

test('tokens: a 60 KB token is refused (REGISTRY_AUTH SIZE_LIMIT) and not cached', async (t) => {
  const registry = await startHostileRegistry();
  storeImage(registry);
  registry.rotatingTokens({ tokenBytes: 60 * 1024, expiresIn: 1e9 });
  const wired = wire(configOf(`registries:\n  "${registry.host}": { plainHttp: true }\n`));
  try {
    const error = await t.throwsAsync(wired.client.repository(registry.host, REPO).fetchManifest('v1'));
    t.deepEqual(errorOf(t, error), { code: 'REGISTRY_AUTH', reason: 'SIZE_LIMIT' });
    t.deepEqual(wired.client.stats().tokens, { entries: 0, bytes: 0 });
    // a body over the 64 KiB response cap is refused the same way
    registry.rotatingTokens({ tokenBytes: 70 * 1024, expiresIn: 1e9 });
    const big = await t.throwsAsync(wired.client.repository(registry.host, REPO).fetchManifest('v1'));
    t.deepEqual(errorOf(t, big), { code: 'REGISTRY_AUTH', reason: 'SIZE_LIMIT' });
  } finally {
    await closeAll(wired, registry);
  }
});

test('tokens: a new scope and a long-lived token with every answer cannot grow the token cache past its bounds', async (t) => {
  const registry = await startHostileRegistry();
  const image = storeImage(registry);
  // 15 KiB tokens (under the 16 KiB cap), expires_in 1e9 s
  registry.rotatingTokens({ tokenBytes: 15 * 1024, expiresIn: 1e9 });
  const wired = wire(configOf(`registries:\n  "${registry.host}": { plainHttp: true }\n`));
  const repo = wired.client.repository(registry.host, REPO);
  try {
    const rounds = 1_100;
    let maxEntries = 0;
    let maxBytes = 0;
    for (let i = 0; i < rounds; i++) {
      await repo.fetchManifest(image.descriptor.digest);
      const { entries, bytes } = wired.client.stats().tokens;
      maxEntries = Math.max(maxEntries, entries);
      maxBytes = Math.max(maxBytes, bytes);
    }
    t.true(registry.flood.tokensIssued >= rounds, `${registry.flood.tokensIssued} tokens issued`);
    t.true(maxEntries <= 1_000, `${maxEntries} entries`);
    t.true(maxBytes <= 8 * 1024 * 1024, `${maxBytes} bytes`);
    // 8 MiB / ~15 KiB: the byte bound is what holds here
    t.true(maxEntries < 600, `${maxEntries} entries`);
    t.log(`${rounds} rounds, ${registry.flood.tokensIssued} tokens: cache peaked at ${maxEntries} entries, ${maxBytes} bytes`);
  } finally {
    await closeAll(wired, registry);
  }
});

// ---- end to end through the configuration ---------------------------------------------------------

test('engine: a redirect off the allowlist is answered REGISTRY_NOT_ALLOWED through createVerificationStack', async (t) => {
  const registry = await startHostileRegistry();
  const canary = await startCanary();
  const image = storeImage(registry);
  registry.redirect(/\/manifests\/|\/referrers\//, `${canary.url}/steal`);
  const dir = await mkdtemp(join(tmpdir(), 'vouch-hostile-'));
  await writeTrustMaterial(dir, { subject: 'CN=hostile test root' });
  const config = configOf(`allowedRegistries: ["${registry.host}"]\nregistries:\n  "${registry.host}": { plainHttp: true }\n`, dir);
  const stack = await createVerificationStack(config, { logger: pino({ level: 'silent' }), watch: false });
  try {
    const [result] = await stack.engine.verify([`${registry.host}/${REPO}@${image.descriptor.digest}`], { deadline: Date.now() + 10_000 });
    t.is(result?.error?.code, 'REGISTRY_NOT_ALLOWED');
    t.deepEqual(canary.requests, []);
  } finally {
    await stack.close();
    await closeAll(registry, canary);
  }
});
