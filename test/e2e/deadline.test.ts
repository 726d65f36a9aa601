// End to end: the request budget (server.requestTimeoutMs) of `vouch serve` running as a separate
// process. A registry that answers slowly (the in-process fake registry, delaying manifest reads of
// some repositories) makes keys DEADLINE_EXCEEDED over HTTP and gRPC, answered in time, while the
// other keys of the same request are decided; the work goes on and a retry is answered from the
// cache. A request of 10,000 keys (maxKeys raised) gets one item per key before the deadline.

import test from 'ava';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { RegistryClient } from '../../src/oci/index.js';
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.js';
import { createTlsMaterial, type TlsMaterial } from '../helpers/tls.js';
import { createWorkspace, pushImage, signAndPush, SIGNERS, trustedIdentity, uniqueId, type Workspace } from './support/fixtures.js';
import {
  codeOf,
  eventually,
  GrpcClient,
  undecidedOf,
  grpcCodeOf,
  HttpsClient,
  startVouch,
  type VouchProcess,
} from './support/vouch-process.js';

const RUN = uniqueId();
const REQUEST_TIMEOUT_MS = 700;
/** How long the fake registry holds manifest reads of `slow-*` repositories. */
const SLOW_MS = 1500;
/** What an answer may take beyond the budget: response transfer, JSON, a loaded CI machine. */
const SLACK_MS = 1000;

let fake: FakeRegistry;
let tls: TlsMaterial;
let ws: Workspace;
let vouch: VouchProcess;
let http: HttpsClient;
let rpc: GrpcClient;
let slowHttpDigest = '';

const repo = (name: string) => `e2e-${RUN}/${name}`;
const ref = (name: string, tag = ':v1') => `${fake.host}/${repo(name)}${tag}`;

test.before(async () => {
  [fake, tls, ws] = await Promise.all([startFakeRegistry(), createTlsMaterial(), createWorkspace()]);
  const pusher = new RegistryClient({ hosts: { [fake.host]: { plainHttp: true } } });
  try {
    const at = (name: string) => pusher.repository(fake.host, repo(name));
    for (const name of ['signed', 'slow-http', 'slow-grpc']) {
      const image = await pushImage(at(name), 'v1');
      await signAndPush(at(name), image, ws.identities.prod);
      if (name === 'slow-http') slowHttpDigest = image.digest;
    }
    await pushImage(at('unsigned'), 'v1');
  } finally {
    await pusher.close();
  }
  // From now on, reads of manifests in slow-* repositories take SLOW_MS.
  fake.intercept(async (req) => {
    if ((req.method === 'GET' || req.method === 'HEAD') && /\/slow-[^/]*\/manifests\//.test(req.url ?? '')) await sleep(SLOW_MS);
    return false;
  });

  await ws.writePolicy('prod', [
    {
      name: 'prod-all',
      registryScopes: ['*'],
      trustStores: ['ca:prod'],
      trustedIdentities: [trustedIdentity(SIGNERS.prod)],
    },
  ]);
  const configFile = await ws.writeConfig({
    server: {
      address: '127.0.0.1:0',
      grpcAddress: '127.0.0.1:0',
      tls: tls.files,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      maxKeys: 20_000,
      maxRequestBytes: 4 * 1024 * 1024,
    },
    environments: { prod: { trustPolicy: 'trustpolicy.prod.json', trustStore: 'truststore-prod' } },
    registries: { [fake.host]: { plainHttp: true } },
    allowedRegistries: [fake.host],
  });
  vouch = await startVouch({ configFile, tls });
  http = new HttpsClient(vouch.url, tls);
  rpc = new GrpcClient(vouch.grpcAddress, tls);
  // A cold process may need more than 700 ms for its first verification: the work goes on after
  // the deadline and lands in the cache, so retry until the fast images are decided.
  await eventually(
    async () => (await http.verify([ref('signed'), ref('unsigned')])).items.map(codeOf),
    (codes) => codes.join() === 'verified,NO_SIGNATURE',
    20_000,
    'the fast images decided',
  );
});

test.after.always(async () => {
  rpc?.close();
  await http?.close();
  await vouch?.stop();
  await Promise.allSettled([fake?.close(), ws?.remove(), tls && rm(tls.dir, { recursive: true, force: true })]);
});

test.serial('DEADLINE_EXCEEDED over HTTP: the slow key is an error, answered in time; the others are decided', async (t) => {
  const keys = [ref('slow-http'), ref('signed'), `[prod]${ref('unsigned')}`];
  const { items, durationMs, body } = await http.verify(keys);
  t.deepEqual(
    items.map((i) => i.key),
    keys,
  );
  t.deepEqual(items.map(codeOf), ['DEADLINE_EXCEEDED', 'verified', 'NO_SIGNATURE']);
  t.is(items[0]!.value, undefined);
  t.regex(items[0]!.error!, /^DEADLINE_EXCEEDED: /);
  // On the wire the undecided key is not an item (Gatekeeper would cache it for 3 minutes) but is
  // named in systemError, which Gatekeeper never caches; the decided keys are items.
  t.deepEqual(
    (body.response.items ?? []).map((i) => i.key),
    keys.slice(1),
  );
  t.deepEqual(Object.keys(undecidedOf(body)), [keys[0]]);
  t.true(durationMs < REQUEST_TIMEOUT_MS + SLACK_MS, `answered after ${Math.round(durationMs)} ms`);
  t.true(durationMs >= REQUEST_TIMEOUT_MS - 100, `the slow key was waited for until the deadline (${Math.round(durationMs)} ms)`);

  // The verification carried on after the deadline: Gatekeeper's retry is answered from the cache.
  await eventually(
    () => http.verify([ref('slow-http')]),
    (r) => codeOf(r.items[0]!) === 'verified',
    SLOW_MS * 4,
    'the slow image verified on retry',
  );
  const again = await http.verify([`[prod]${ref('slow-http', `@${slowHttpDigest}`)}`]);
  t.is(codeOf(again.items[0]!), 'verified');
  t.true((again.items[0]!.value as { cached?: boolean }).cached, 'answered from the cache');
  t.true(again.durationMs < REQUEST_TIMEOUT_MS, `cached answer after ${Math.round(again.durationMs)} ms`);
});

test.serial('DEADLINE_EXCEEDED over gRPC: the same error result, answered in time', async (t) => {
  const { results, durationMs } = await rpc.verify('prod', [ref('slow-grpc'), ref('signed')]);
  t.deepEqual(results.map(grpcCodeOf), ['DEADLINE_EXCEEDED', 'verified']);
  t.false(results[0]!.verified);
  t.truthy(results[0]!.error?.message);
  t.true(durationMs < REQUEST_TIMEOUT_MS + SLACK_MS, `answered after ${Math.round(durationMs)} ms`);
});

test.serial('10,000 keys within maxKeys: one item per key, in order, answered before the deadline', async (t) => {
  const expectations: Array<[string, string]> = [];
  for (let i = 0; i < 10_000; i++) {
    switch (i % 5) {
      case 0:
        expectations.push([ref('signed'), 'verified']); // repeated: decided once, answered per key
        break;
      case 1:
        expectations.push([`[prod]forbidden-${i}.example.com/app:1`, 'REGISTRY_NOT_ALLOWED']);
        break;
      case 2:
        expectations.push([`Not A Reference ${i}`, 'INVALID_REFERENCE']);
        break;
      case 3:
        expectations.push([`[env-${i}]${ref('signed')}`, 'UNKNOWN_ENVIRONMENT']);
        break;
      default:
        // A few distinct keys that wait on the slow registry; the rest repeat the unsigned image.
        expectations.push(i < 200 ? [ref('slow-bulk', `:t${i}`), 'DEADLINE_EXCEEDED'] : [ref('unsigned'), 'NO_SIGNATURE']);
    }
  }
  const keys = expectations.map(([key]) => key);
  const { items, durationMs } = await http.verify(keys);
  t.is(items.length, keys.length);
  t.true(
    items.every((item, i) => item.key === keys[i]),
    'items echo the keys in request order',
  );
  const mismatches = items.map((item, i) => [item.key, codeOf(item), expectations[i]![1]]).filter(([, got, want]) => got !== want);
  t.deepEqual(mismatches.slice(0, 5), []);
  t.true(durationMs < REQUEST_TIMEOUT_MS + SLACK_MS, `10,000 keys answered after ${Math.round(durationMs)} ms`);

  const line = await vouch.waitForLog((l) => l.msg === 'provider request' && l['keys'] === 10_000);
  t.deepEqual(line['outcomes'], {
    verified: 2000,
    REGISTRY_NOT_ALLOWED: 2000,
    INVALID_REFERENCE: 2000,
    UNKNOWN_ENVIRONMENT: 2000,
    DEADLINE_EXCEEDED: 40,
    NO_SIGNATURE: 1960,
  });
});
