// End to end: two `vouch serve` processes (two replicas) with the same configuration and
// cache.shared on a real redis-server: the second answers what the first verified without asking the
// registry, /metrics counts it, and a configuration whose HMAC key is too short does not start.

import test from 'ava';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RegistryClient } from '../../src/oci/index.js';
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.js';
import { startRedis, type RunningRedis } from '../helpers/redis.js';
import { createTlsMaterial, type TlsMaterial } from '../helpers/tls.js';
import { createWorkspace, pushImage, signAndPush, SIGNERS, trustedIdentity, uniqueId, type Workspace } from './support/fixtures.js';
import { codeOf, HttpsClient, startVouch, type VouchProcess } from './support/vouch-process.js';

const RUN = uniqueId();

let fake: FakeRegistry;
let redis: RunningRedis;
let tls: TlsMaterial;
let ws: Workspace;
const replicas: VouchProcess[] = [];
const clients: HttpsClient[] = [];

const repo = (name: string) => `e2e-${RUN}/${name}`;
const ref = (name: string) => `${fake.host}/${repo(name)}:v1`;

function configOf(keyFile: string): Record<string, unknown> {
  return {
    server: { address: '127.0.0.1:0', grpcAddress: '127.0.0.1:0', tls: tls.files },
    environments: { prod: { trustPolicy: 'trustpolicy.prod.json', trustStore: 'truststore-prod' } },
    registries: { [fake.host]: { plainHttp: true } },
    cache: { shared: { url: redis.url, keyFile, keyPrefix: `e2e-${RUN}:` } },
  };
}

test.before(async () => {
  [fake, redis, tls, ws] = await Promise.all([startFakeRegistry(), startRedis(), createTlsMaterial(), createWorkspace()]);
  const pusher = new RegistryClient({ hosts: { [fake.host]: { plainHttp: true } } });
  try {
    const at = (name: string) => pusher.repository(fake.host, repo(name));
    await signAndPush(at('signed'), await pushImage(at('signed'), 'v1'), ws.identities.prod);
    await pushImage(at('unsigned'), 'v1');
  } finally {
    await pusher.close();
  }
  await ws.writePolicy('prod', [
    { name: 'prod-all', registryScopes: ['*'], trustStores: ['ca:prod'], trustedIdentities: [trustedIdentity(SIGNERS.prod)] },
  ]);
});

test.after.always(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await Promise.allSettled(replicas.map((r) => r.stop()));
  await Promise.allSettled([fake?.close(), redis?.stop(), ws?.remove(), tls && rm(tls.dir, { recursive: true, force: true })]);
});

test.serial('vouch serve ×2 with cache.shared: the second replica answers from Redis without registry requests', async (t) => {
  await writeFile(join(ws.dir, 'shared.key'), randomBytes(32));
  const configFile = await ws.writeConfig(configOf('shared.key'));
  for (let i = 0; i < 2; i++) {
    const vouch = await startVouch({ configFile, tls });
    replicas.push(vouch);
    clients.push(new HttpsClient(vouch.url, tls));
  }
  const [a, b] = clients as [HttpsClient, HttpsClient];
  const keys = [ref('signed'), ref('unsigned')];
  t.deepEqual((await a.verify(keys)).items.map(codeOf), ['verified', 'NO_SIGNATURE']);
  // A's writes are fire-and-forget: wait until both entries are in Redis.
  const deadline = Date.now() + 5_000;
  while ((await redis.command('DBSIZE')) !== ':2\r\n') {
    if (Date.now() > deadline) t.fail('entries not written to Redis');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  // Tags are resolved by each replica (not shared); manifests, referrers and blobs come from Redis.
  const manifestOrBlob = () => fake.requests.filter((r) => r.method === 'GET' && !/\/manifests\/v1$/.test(r.path)).length;
  const before = manifestOrBlob();
  t.deepEqual((await b.verify(keys)).items.map(codeOf), ['verified', 'NO_SIGNATURE']);
  t.is(manifestOrBlob(), before, 'replica B fetched no manifest, referrer or blob');
  const metrics = (await b.get('/metrics')).text;
  t.regex(metrics, /vouch_shared_cache_lookups_total\{result="hit"\} 2/);
  t.regex(metrics, /vouch_shared_cache_circuit\{state="closed"\} 1/);
});

test.serial('vouch serve with cache.shared: an HMAC key shorter than 32 bytes is refused at start', async (t) => {
  await writeFile(join(ws.dir, 'short.key'), randomBytes(16));
  const configFile = await ws.writeConfig(configOf('short.key'), 'short.yaml');
  const error = await t.throwsAsync(startVouch({ configFile, tls, readyTimeoutMs: 15_000 }));
  // The process exits saying why (its output is in the error).
  t.regex(error!.message, /has 16 bytes; at least 32 are required/);
});
