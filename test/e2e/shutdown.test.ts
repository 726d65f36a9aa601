// End to end: graceful shutdown of `vouch serve` (docs/api.md "Commands": runs until SIGTERM/SIGINT, then
// drains in-flight requests and exits 0). Requests held up by a slow registry are in flight over
// HTTPS and gRPC when SIGTERM arrives: they still get their answers, new connections are refused
// from then on, and the process exits with code 0.
//
// The tests are steps of one shutdown and run serially on one process.

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
  grpcCodeOf,
  HttpsClient,
  startVouch,
  type ExitState,
  type VouchProcess,
} from './support/vouch-process.js';

const RUN = uniqueId();
/** How long the fake registry holds tag lookups in `slow-*` repositories. */
const SLOW_MS = 2500;
/** How soon after its last in-flight answer the process should be gone. */
const EXIT_WITHIN_MS = 5_000;

let fake: FakeRegistry;
let tls: TlsMaterial;
let ws: Workspace;
let vouch: VouchProcess;
/** The clients that had requests in flight; they keep their (keep-alive) connections open. */
let http: HttpsClient | undefined;
let rpc: GrpcClient | undefined;
let signalled = 0;
let answered = 0;

const repo = (name: string) => `e2e-${RUN}/${name}`;
const ref = (name: string) => `${fake.host}/${repo(name)}:v1`;

test.before(async () => {
  [fake, tls, ws] = await Promise.all([startFakeRegistry(), createTlsMaterial(), createWorkspace()]);
  const pusher = new RegistryClient({ hosts: { [fake.host]: { plainHttp: true } } });
  try {
    const at = (name: string) => pusher.repository(fake.host, repo(name));
    for (const name of ['signed', 'slow-http', 'slow-grpc']) {
      await signAndPush(at(name), await pushImage(at(name), 'v1'), ws.identities.prod);
    }
  } finally {
    await pusher.close();
  }
  fake.intercept(async (req) => {
    if ((req.method === 'GET' || req.method === 'HEAD') && /\/slow-[^/]*\/manifests\/v1$/.test(req.url ?? '')) await sleep(SLOW_MS);
    return false;
  });
  await ws.writePolicy('prod', [
    { name: 'prod-all', registryScopes: ['*'], trustStores: ['ca:prod'], trustedIdentities: [trustedIdentity(SIGNERS.prod)] },
  ]);
  const configFile = await ws.writeConfig({
    server: { address: '127.0.0.1:0', grpcAddress: '127.0.0.1:0', tls: tls.files, requestTimeoutMs: 10_000 },
    environments: { prod: { trustPolicy: 'trustpolicy.prod.json', trustStore: 'truststore-prod' } },
    registries: { [fake.host]: { plainHttp: true } },
  });
  vouch = await startVouch({ configFile, tls });
});

test.after.always(async () => {
  rpc?.close();
  await http?.close();
  await vouch?.stop();
  await Promise.allSettled([fake?.close(), ws?.remove(), tls && rm(tls.dir, { recursive: true, force: true })]);
});

test.serial('SIGTERM: in-flight HTTPS and gRPC requests get their answers; new connections are refused', async (t) => {
  http = new HttpsClient(vouch.url, tls);
  rpc = new GrpcClient(vouch.grpcAddress, tls);
  t.is(codeOf((await http.verify([ref('signed')])).items[0]!), 'verified');
  t.is(await rpc.health(''), 'SERVING');

  // Two requests that wait on the slow registry.
  const seen = fake.requests.length;
  let settled = 0;
  const settle = <T>(promise: Promise<T>) =>
    promise
      .then(
        (value) => ({ value }),
        (error: unknown) => ({ error: String(error) }),
      )
      .finally(() => settled++);
  const inflightHttp = settle(http.verify([ref('slow-http'), ref('signed')]));
  const inflightGrpc = settle(rpc.verify('prod', [ref('slow-grpc')]));
  const slowReads = (name: string) =>
    fake.requests.slice(seen).filter((r) => r.method !== 'PUT' && r.path.endsWith(`/${name}/manifests/v1`)).length;
  await eventually(
    async () => [slowReads('slow-http'), slowReads('slow-grpc')],
    ([viaHttp, viaGrpc]) => viaHttp! > 0 && viaGrpc! > 0,
    5_000,
    'vouch asking the registry for both slow images',
  );

  signalled = Date.now();
  vouch.signal('SIGTERM');
  await vouch.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('shutting down'), 5_000);

  // While draining: new HTTPS connections and new gRPC channels are refused.
  await eventually(
    async () => {
      const fresh = new HttpsClient(vouch.url, tls);
      try {
        await fresh.get('/healthz');
        return 'answered';
      } catch (error) {
        return String((error as { code?: string }).code ?? (error as Error).message);
      } finally {
        await fresh.close();
      }
    },
    (outcome) => outcome === 'ECONNREFUSED',
    3_000,
    'a new HTTPS connection refused',
  );
  const freshRpc = new GrpcClient(vouch.grpcAddress, tls);
  await t.throwsAsync(freshRpc.health('', 1_000));
  freshRpc.close();
  t.is(settled, 0, 'the in-flight requests were still running while new connections were refused');
  t.false(vouch.hasExited());

  // The in-flight requests get their real answers, not an error.
  const httpAnswer = await inflightHttp;
  const grpcAnswer = await inflightGrpc;
  answered = Date.now();
  t.deepEqual('value' in httpAnswer ? httpAnswer.value.items.map(codeOf) : httpAnswer.error, ['verified', 'verified']);
  t.deepEqual('value' in grpcAnswer ? grpcAnswer.value.results.map(grpcCodeOf) : grpcAnswer.error, ['verified']);
  t.true(answered - signalled >= SLOW_MS - 1000, 'the answers came after SIGTERM, from the drain');
});

// A client may keep its connection open indefinitely (Gatekeeper's per-call Go transport has no idle
// timeout and never closes it): once closing, the server answers
// with `Connection: close` and closes idle connections, so the process exits right after the drain
// instead of waiting for the client or keepAliveTimeout.
test.serial('the process exits soon after the drain, although the client keeps its idle keep-alive connection', async (t) => {
  t.truthy(answered, 'the previous step ran');
  const exit = await Promise.race([vouch.exited, sleep(Math.max(0, answered + EXIT_WITHIN_MS - Date.now())).then(() => undefined)]);
  t.truthy(exit, `still running ${Date.now() - answered} ms after the last in-flight answer`);
});

test.serial('once the clients have hung up, the process exits with code 0 and logs "stopped"', async (t) => {
  t.truthy(answered, 'the previous steps ran');
  rpc?.close();
  await http?.close();
  const exit = await Promise.race([vouch.exited, sleep(EXIT_WITHIN_MS).then((): ExitState | 'running' => 'running')]);
  t.deepEqual(exit, { code: 0, signal: null });
  const afterExit = new HttpsClient(vouch.url, tls);
  await t.throwsAsync(afterExit.get('/healthz'), { code: 'ECONNREFUSED' });
  await afterExit.close();
  t.truthy(
    vouch.logs().find((l) => l.msg === 'stopped'),
    'the last log line ("stopped") is written before exit',
  );
});
