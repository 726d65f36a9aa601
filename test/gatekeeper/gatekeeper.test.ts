// Gatekeeper's own code path: the shipped template, constraints, Providers and Assign mutators run
// through Gatekeeper v3.20.1's libraries (tools/gatekeeper-harness: the frameworks rego driver with
// external data, provider cache, response cache at the default 3 min TTL, client auth with a
// certificate made by cert-controller's rotator, http.send disabled, and the mutation system),
// against a real `vouch serve` over HTTPS with mTLS. Every provider request is sent by frameworks'
// DefaultSendRequestToProvider; nothing is stubbed in the request path. One harness process serves
// a whole file, so its response cache persists across admissions, as in a Gatekeeper pod.

import test from 'ava';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { RegistryClient } from '../../src/oci/index.js';
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.js';
import { startHungServer, type HungServer } from '../helpers/hung-server.js';
import { freePort, REPO_ROOT, toolPath } from '../helpers/registries.js';
import { createTlsMaterial, type TlsMaterial } from '../helpers/tls.js';
import { createWorkspace, pushImage, signAndPush, SIGNERS, trustedIdentity, uniqueId, type Workspace } from '../e2e/support/fixtures.js';
import { startVouch, type VouchProcess } from '../e2e/support/vouch-process.js';

const RUN = uniqueId();
const GK = join(REPO_ROOT, 'deploy', 'gatekeeper');
const REQUEST_TIMEOUT_MS = 1000;
/** How long the fake registry holds manifest reads of `slow-*` repositories (longer than the budget). */
const SLOW_MS = 1800;

interface Violation {
  msg: string;
  constraint: string;
  details: { image: string; environment: string; code: string; undecided: boolean; key: string };
}
interface Answer {
  id: number;
  error?: string;
  violations?: Violation[];
  object?: Record<string, unknown>;
  mutated?: boolean;
  ms: number;
}

/** One gatekeeper-harness process, driven by JSON lines. */
class Harness {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #pending = new Map<number, (a: Answer) => void>();
  #next = 1;
  stderr = '';

  constructor(args: string[]) {
    this.#child = spawn(toolPath('gatekeeper-harness'), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      const answer = JSON.parse(line) as Answer;
      this.#pending.get(answer.id)?.(answer);
      this.#pending.delete(answer.id);
    });
  }

  send(op: string, fields: Record<string, unknown> = {}): Promise<Answer> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, resolve);
      this.#child.stdin.write(`${JSON.stringify({ id, op, ...fields })}\n`, (err) => err && reject(err));
    });
  }

  async ok(op: string, fields: Record<string, unknown> = {}): Promise<Answer> {
    const answer = await this.send(op, fields);
    if (answer.error) throw new Error(`harness ${op}: ${answer.error}\n${this.stderr}`);
    return answer;
  }

  close(): void {
    this.#child.stdin.end();
    this.#child.kill();
  }
}

let fake: FakeRegistry;
let hung: HungServer;
let tls: TlsMaterial;
let ws: Workspace;
let vouch: VouchProcess;
let certDir: string;
let gk: Harness;
const img: Record<string, string> = {};

const caBundle = () => Buffer.from(tls.clientOptions.ca).toString('base64');

async function loadShipped(h: Harness, providerOverrides: Record<string, unknown> = {}): Promise<void> {
  await h.ok('provider', {
    path: join(REPO_ROOT, 'deploy', 'provider.yaml'),
    url: `${vouch.url}{path}`,
    caBundle: caBundle(),
    ...providerOverrides,
  });
  await h.ok('template', { path: join(GK, 'template.yaml') });
  for (const c of ['prod.yaml', 'by-namespace-label.yaml']) await h.ok('constraint', { path: join(GK, 'constraints', c) });
  for (const m of ['pod.yaml', 'workloads.yaml', 'cronjob.yaml']) await h.ok('assign', { path: join(GK, 'mutation', m) });
  for (const [name, labels] of [
    ['shop', { environment: 'prod' }],
    ['sandbox', { 'vouch.dev/environment': 'staging' }],
    ['qa', { 'vouch.dev/environment': 'qa' }],
  ] as const) {
    await h.ok('namespace', { object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } } });
  }
}

test.before(async () => {
  [fake, hung, tls, ws] = await Promise.all([startFakeRegistry(), startHungServer(), createTlsMaterial(), createWorkspace()]);
  const pusher = new RegistryClient({ hosts: { [fake.host]: { plainHttp: true } } });
  try {
    const at = (name: string) => pusher.repository(fake.host, `gk-${RUN}/${name}`);
    for (const name of ['signed', 'signed2', 'slow-then-signed'])
      await signAndPush(at(name), await pushImage(at(name), 'v1'), ws.identities.prod);
    await signAndPush(at('staging-signed'), await pushImage(at('staging-signed'), 'v1'), ws.identities.staging);
    await pushImage(at('unsigned'), 'v1');
  } finally {
    await pusher.close();
  }
  for (const n of ['signed', 'signed2', 'slow-then-signed', 'staging-signed', 'unsigned']) img[n] = `${fake.host}/gk-${RUN}/${n}:v1`;
  img['not-found'] = `${fake.host}/gk-${RUN}/signed:no-such-tag`;
  const closed = `127.0.0.1:${await freePort()}`;
  img['unreachable'] = `${closed}/gk-${RUN}/app:v1`;
  img['hung'] = `${hung.host}/gk-${RUN}/app:v1`;
  img['invalid'] = 'UPPER/Case::x';
  fake.intercept(async (req) => {
    if ((req.method === 'GET' || req.method === 'HEAD') && /\/slow-[^/]*\/manifests\//.test(req.url ?? '')) await sleep(SLOW_MS);
    return false;
  });
  for (const env of ['prod', 'staging'] as const) {
    await ws.writePolicy(env, [
      { name: `${env}-all`, registryScopes: ['*'], trustStores: [`ca:${env}`], trustedIdentities: [trustedIdentity(SIGNERS[env])] },
    ]);
  }

  // Gatekeeper's client certificate, made by cert-controller's rotator; vouch trusts its CA (and the
  // test CA, whose client the readiness check uses).
  certDir = await mkdtemp(join(tmpdir(), 'vouch-gk-cert-'));
  const make = spawn(toolPath('gatekeeper-harness'), ['-make-cert', certDir]);
  await new Promise<void>((resolve, reject) =>
    make.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`-make-cert exited ${code}`)))),
  );
  const clientCAs = join(certDir, 'client-cas.pem');
  await writeFile(clientCAs, `${tls.clientOptions.ca}\n${await readFile(join(certDir, 'ca.crt'), 'utf8')}`);

  const configFile = await ws.writeConfig({
    server: { address: '127.0.0.1:0', tls: { ...tls.files, clientCAFile: clientCAs }, requestTimeoutMs: REQUEST_TIMEOUT_MS },
    defaultEnvironment: 'prod',
    environments: {
      prod: { trustPolicy: ws.trustPolicy('prod'), trustStore: ws.trustStore('prod') },
      staging: { trustPolicy: ws.trustPolicy('staging'), trustStore: ws.trustStore('staging') },
    },
    registries: { [fake.host]: { plainHttp: true }, [closed]: { plainHttp: true }, [hung.host]: { plainHttp: true } },
  });
  vouch = await startVouch({ configFile, tls });
  gk = new Harness(['-cert-dir', certDir]);
  await loadShipped(gk);
});

test.after.always(async () => {
  gk?.close();
  await vouch?.stop();
  await Promise.allSettled([fake?.close(), hung?.close(), ws?.remove(), tls && rm(tls.dir, { recursive: true, force: true })]);
  if (certDir) await rm(certDir, { recursive: true, force: true });
});

const pod = (ns: string, spec: Record<string, unknown>) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: `p-${uniqueId()}`, namespace: ns },
  spec,
});
const containers = (...images: string[]) => images.map((image, i) => ({ name: `c${i}`, image }));

/** Violations of one constraint, as [image, code] sorted. */
function codes(answer: Answer, constraint = 'vouch-prod'): Array<[string, string]> {
  return (answer.violations ?? [])
    .filter((v) => v.constraint === constraint)
    .map((v): [string, string] => [v.details.image, v.details.code])
    .sort();
}

/** Admits twice with the response cache on: the second answer must be the same. */
async function admitTwice(t: import('ava').ExecutionContext, object: unknown, constraint = 'vouch-prod') {
  const first = await gk.ok('review', { object });
  const second = await gk.ok('review', { object });
  t.deepEqual(codes(second, constraint), codes(first, constraint), 'the repeated admission (response cache on) decides alike');
  return codes(first, constraint);
}

const CODE_CASES: Array<[string, string, string | undefined]> = [
  ['verified', 'signed', undefined],
  ['NO_SIGNATURE', 'unsigned', 'NO_SIGNATURE'],
  ['UNTRUSTED_SIGNER', 'staging-signed', 'UNTRUSTED_SIGNER'],
  ['NOT_FOUND', 'not-found', 'NOT_FOUND'],
  ['INVALID_REFERENCE', 'invalid', 'INVALID_REFERENCE'],
  ['REGISTRY_UNAVAILABLE (unreachable registry)', 'unreachable', 'REGISTRY_UNAVAILABLE'],
  ['DEADLINE_EXCEEDED (hung registry)', 'hung', 'DEADLINE_EXCEEDED'],
];

for (const [name, image, code] of CODE_CASES) {
  test.serial(`gatekeeper › code ${name}: Pod in a prod namespace, admitted twice`, async (t) => {
    const got = await admitTwice(t, pod('shop', { containers: containers(img[image]!) }));
    t.deepEqual(got, code ? [[img[image]!, code]] : []);
  });
}

test.serial('gatekeeper › UNKNOWN_ENVIRONMENT: namespace label names an environment vouch does not know', async (t) => {
  const got = await admitTwice(t, pod('qa', { containers: containers(img['signed']!) }), 'vouch-by-namespace-label');
  t.deepEqual(got, [[img['signed']!, 'UNKNOWN_ENVIRONMENT']]);
});

test.serial('gatekeeper › namespace label mapping (Namespace in data.inventory): staging signer trusted in sandbox', async (t) => {
  t.deepEqual(await admitTwice(t, pod('sandbox', { containers: containers(img['staging-signed']!) }), 'vouch-by-namespace-label'), []);
  t.deepEqual(await admitTwice(t, pod('sandbox', { containers: containers(img['signed']!) }), 'vouch-by-namespace-label'), [
    [img['signed']!, 'UNTRUSTED_SIGNER'],
  ]);
});

test.serial('gatekeeper › mixed containers, init and ephemeral containers, exemptions', async (t) => {
  const spec = {
    initContainers: containers(img['unsigned']!),
    containers: [...containers(img['signed']!, 'registry.k8s.io/pause:3.10'), { name: 'x', image: img['signed2']! }],
    ephemeralContainers: [{ name: 'debug', image: img['staging-signed']! }],
  };
  t.deepEqual(await admitTwice(t, pod('shop', spec)), [
    [img['staging-signed']!, 'UNTRUSTED_SIGNER'],
    [img['unsigned']!, 'NO_SIGNATURE'],
  ]);
});

const template = (images: string[]) => ({ metadata: { labels: { a: 'b' } }, spec: { containers: containers(...images) } });
const WORKLOADS: Array<[string, string, () => Record<string, unknown>]> = [
  ['v1', 'ReplicationController', () => ({ template: template([img['signed']!, img['unsigned']!]) })],
  ['apps/v1', 'Deployment', () => ({ template: template([img['signed']!, img['unsigned']!]) })],
  ['apps/v1', 'ReplicaSet', () => ({ template: template([img['signed']!, img['unsigned']!]) })],
  ['apps/v1', 'StatefulSet', () => ({ template: template([img['signed']!, img['unsigned']!]) })],
  ['apps/v1', 'DaemonSet', () => ({ template: template([img['signed']!, img['unsigned']!]) })],
  ['batch/v1', 'Job', () => ({ template: template([img['signed']!, img['unsigned']!]) })],
  [
    'batch/v1',
    'CronJob',
    () => ({ schedule: '* * * * *', jobTemplate: { spec: { template: template([img['signed']!, img['unsigned']!]) } } }),
  ],
];
for (const [apiVersion, kind, spec] of WORKLOADS) {
  test.serial(`gatekeeper › workload ${kind}: the pod template's images are checked`, async (t) => {
    const object = { apiVersion, kind, metadata: { name: `w-${uniqueId()}`, namespace: 'shop' }, spec: spec() };
    t.deepEqual(await admitTwice(t, object), [[img['unsigned']!, 'NO_SIGNATURE']]);
  });
}

test.serial('gatekeeper › mutation: the Assign mutators pin tags to digests through vouch-mutate', async (t) => {
  const answer = await gk.ok('mutate', {
    object: pod('shop', { initContainers: containers(img['unsigned']!), containers: containers(img['signed']!) }),
  });
  t.true(answer.mutated);
  const spec = answer.object!['spec'] as { containers: Array<{ image: string }>; initContainers: Array<{ image: string }> };
  t.regex(spec.containers[0]!.image, new RegExp(`^${fake.host}/gk-${RUN}/signed@sha256:[0-9a-f]{64}$`));
  t.regex(spec.initContainers[0]!.image, /@sha256:[0-9a-f]{64}$/);
  const failed = await gk.send('mutate', { object: pod('shop', { containers: containers(img['unreachable']!) }) });
  t.regex(failed.error ?? '', /REGISTRY_UNAVAILABLE/, 'failurePolicy Fail: an unpinnable image fails the mutation');
});

test.serial(
  'gatekeeper › undecided answers never stick: denied while the registry is slow, then decided by vouch, not by the cache',
  async (t) => {
    const object = pod('shop', { containers: containers(img['slow-then-signed']!, img['signed']!) });
    const first = await gk.ok('review', { object });
    t.deepEqual(codes(first), [[img['slow-then-signed']!, 'DEADLINE_EXCEEDED']], 'first admission: undecided, denied (fail closed)');
    t.true(first.violations!.every((v) => v.details.undecided));
    // vouch finishes in the background (SLOW_MS); Gatekeeper's response cache (3 min) holds only the decided key.
    await sleep(SLOW_MS + 700);
    const second = await gk.ok('review', { object });
    t.deepEqual(codes(second), [], 'the next admission is decided by vouch (verified)');
  },
);

test.serial('gatekeeper › provider down, wrong caBundle, missing client certificate: every image denied as SYSTEM_ERROR', async (t) => {
  const cases: Array<[string, string[], Record<string, unknown>]> = [
    ['provider down', ['-cert-dir', certDir], { url: `https://127.0.0.1:${await freePort()}{path}` }],
    [
      'wrong caBundle',
      ['-cert-dir', certDir],
      { caBundle: Buffer.from(await readFile(join(certDir, 'ca.crt'), 'utf8')).toString('base64') },
    ],
    ['missing client certificate', ['-no-client-auth'], {}],
  ];
  for (const [name, args, overrides] of cases) {
    const h = new Harness(args);
    try {
      await loadShipped(h, overrides);
      const answer = await h.ok('review', { object: pod('shop', { containers: containers(img['signed']!) }) });
      t.deepEqual(codes(answer), [[img['signed']!, 'SYSTEM_ERROR']], name);
      const again = await h.ok('review', { object: pod('shop', { containers: containers(img['signed']!) }) });
      t.deepEqual(codes(again), [[img['signed']!, 'SYSTEM_ERROR']], `${name} (repeated)`);
    } finally {
      h.close();
    }
  }
});
