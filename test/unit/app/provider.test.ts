// The assembled provider (startProvider) with real trust material files, an OCI layout standing in
// for the registry (nothing goes to the network) and real HTTP listeners: trust withdrawal seen
// through /v1/verify, /readyz on the main and the health listener, and /metrics.

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import test from 'ava';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../../src/config/index.js';
import { OciLayoutWriter } from '../../../src/oci/oci-layout-writer.js';
import { startProvider, type RunningProvider } from '../../../src/app/index.js';
import { PROTO_FILE } from '../../../src/server/index.js';
import { writeSignedImage } from '../../helpers/oci-fixtures.js';
import { generateChain, type GeneratedChain } from '../../helpers/pki.js';

const HOST = 'registry.airgap.example';
const REPO = 'team/app';
const silent = pino({ level: 'silent' });

interface Setup {
  dir: string;
  provider: RunningProvider;
  storeDir: string;
  policyFile: string;
  keys: string[];
}

async function setup(t: import('ava').ExecutionContext, options: { grpc?: boolean } = {}): Promise<Setup> {
  const signer: GeneratedChain = await generateChain({ length: 2, leafKey: 'ec-p256', root: { key: 'ec-p256' } });
  const dir = await mkdtemp(join(tmpdir(), 'vouch-provider-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const env of ['prod', 'staging']) {
    const storeDir = join(dir, `truststore-${env}`, 'x509', 'ca', `acme-${env}`);
    await mkdir(storeDir, { recursive: true });
    await writeFile(join(storeDir, 'root.pem'), signer.root.certificate.toPem());
    await writeFile(
      join(dir, `trustpolicy.${env}.json`),
      JSON.stringify({
        version: '1.0',
        trustPolicies: [
          {
            name: `${env}-images`,
            registryScopes: [`${HOST}/${REPO}`],
            signatureVerification: { level: 'strict' },
            trustStores: [`ca:acme-${env}`],
            trustedIdentities: ['*'],
          },
        ],
      }),
    );
  }
  const layout = await OciLayoutWriter.create(join(dir, 'layout'));
  const keys: string[] = [];
  for (let i = 0; i < 2; i++) {
    keys.push(`[prod]${HOST}/${REPO}@${await writeSignedImage(layout, signer)}`);
  }
  const configFile = join(dir, 'vouch.yaml');
  await writeFile(
    configFile,
    [
      'server:',
      '  address: 127.0.0.1:0',
      '  healthAddress: 127.0.0.1:0',
      ...(options.grpc ? ['  grpcAddress: 127.0.0.1:0'] : []),
      'defaultEnvironment: prod',
      'environments:',
      '  prod: { trustPolicy: trustpolicy.prod.json, trustStore: truststore-prod }',
      '  staging: { trustPolicy: trustpolicy.staging.json, trustStore: truststore-staging }',
      'registries:',
      `  ${HOST}: { ociLayout: layout }`,
      'revocation: { offline: true }',
      '',
    ].join('\n'),
  );
  const provider = await startProvider(await loadConfig(configFile), { logger: silent, watch: false, defaultMetrics: false });
  t.teardown(() => provider.close());
  return {
    dir,
    provider,
    storeDir: join(dir, 'truststore-prod', 'x509', 'ca', 'acme-prod'),
    policyFile: join(dir, 'trustpolicy.prod.json'),
    keys,
  };
}

async function verify(s: Setup, keys: string[]): Promise<string[]> {
  const response = await fetch(`${s.provider.url}/v1/verify`, {
    method: 'POST',
    body: JSON.stringify({ apiVersion: 'externaldata.gatekeeper.sh/v1beta1', kind: 'ProviderRequest', request: { keys } }),
  });
  const body = (await response.json()) as {
    response: { items: Array<{ value?: { verified: boolean; reasons: Array<{ code: string }> }; error?: string }> };
  };
  return body.response.items.map(
    (item) => (item.error ?? (item.value!.verified ? 'verified' : item.value!.reasons[0]!.code)).split(':')[0]!,
  );
}

async function readyz(url: string): Promise<{ status: number; text: string; json: Record<string, unknown> }> {
  const response = await fetch(`${url}/readyz`);
  const text = await response.text();
  return { status: response.status, text, json: JSON.parse(text) as Record<string, unknown> };
}

async function metrics(s: Setup): Promise<string> {
  return (await fetch(`${s.provider.healthUrl}/metrics`)).text();
}

test('provider: a removed root is untrusted at once through /v1/verify; /readyz stays 200 and says degraded; restoring restores', async (t) => {
  const s = await setup(t);
  const [seen, unseen] = s.keys as [string, string];
  t.deepEqual(await verify(s, [seen]), ['verified']);
  t.deepEqual(await verify(s, [seen]), ['verified'], 'cached');
  const ok = await readyz(s.provider.url);
  t.is(ok.status, 200);
  t.is(ok.json['status'], 'ok');

  const pem = await readFile(join(s.storeDir, 'root.pem'));
  await rm(join(s.storeDir, 'root.pem'));
  await s.provider.environments.checkNow();
  t.deepEqual(await verify(s, [seen, unseen]), ['UNTRUSTED_SIGNER', 'UNTRUSTED_SIGNER']);

  // Main (authenticated) listener: the full detail, with the store, its directory and why.
  const main = await readyz(s.provider.url);
  t.is(main.status, 200, 'answers fail closed; taking every replica out of the Service would be an outage');
  t.is(main.json['ready'], true);
  t.is(main.json['status'], 'degraded');
  const prod = (main.json['detail'] as Array<Record<string, unknown>>).find((e) => e['name'] === 'prod')!;
  t.is(prod['state'], 'degraded');
  const withdrawn = prod['withdrawn'] as Array<Record<string, unknown>>;
  t.is(withdrawn.length, 1);
  t.like(withdrawn[0], { store: 'ca:acme-prod', directory: s.storeDir, state: 'withdrawn', certificates: 0, withdrawnCertificates: 1 });
  t.regex(String(withdrawn[0]?.['why']), /no x509 certificates/);
  t.is((main.json['detail'] as Array<Record<string, unknown>>).find((e) => e['name'] === 'staging')?.['state'], 'ok');

  // Health listener (no authentication): states only, no path, no error text.
  const health = await readyz(s.provider.healthUrl!);
  t.is(health.status, 200);
  t.deepEqual(health.json, {
    ready: true,
    status: 'degraded',
    detail: [
      { name: 'prod', state: 'degraded' },
      { name: 'staging', state: 'ok' },
    ],
  });
  t.false(health.text.includes(s.dir), 'no file path');
  t.false(health.text.includes('x509'), 'no error text');

  const scraped = await metrics(s);
  t.regex(scraped, /vouch_trust_store_withdrawn\{environment="prod",store="ca:acme-prod"\} 1/);
  t.regex(scraped, /vouch_trust_store_withdrawn\{environment="staging",store="ca:acme-staging"\} 0/);
  t.regex(scraped, /vouch_trust_store_withdrawn_certificates\{environment="prod",store="ca:acme-prod"\} 1/);
  t.regex(scraped, /vouch_trust_material_reload_failing\{environment="prod"\} 1/);
  t.regex(scraped, /vouch_trust_policy_withdrawn\{environment="prod"\} 0/);

  await writeFile(join(s.storeDir, 'root.pem'), pem);
  await s.provider.environments.checkNow();
  t.deepEqual(await verify(s, [seen, unseen]), ['verified', 'verified']);
  t.is((await readyz(s.provider.url)).json['status'], 'ok');
  t.deepEqual((await readyz(s.provider.healthUrl!)).json['status'], 'ok');
  const after = await metrics(s);
  t.regex(after, /vouch_trust_store_withdrawn\{environment="prod",store="ca:acme-prod"\} 0/);
  t.regex(after, /vouch_trust_material_reload_failing\{environment="prod"\} 0/);
});

test('provider: a removed trust policy answers NO_TRUST_POLICY and shows in /readyz and the metrics', async (t) => {
  const s = await setup(t);
  t.deepEqual(await verify(s, [s.keys[0]!]), ['verified']);
  await rm(s.policyFile);
  await s.provider.environments.checkNow();
  t.deepEqual(await verify(s, s.keys), ['NO_TRUST_POLICY', 'NO_TRUST_POLICY']);
  const main = await readyz(s.provider.url);
  t.is(main.status, 200);
  const prod = (main.json['detail'] as Array<Record<string, unknown>>).find((e) => e['name'] === 'prod')!;
  t.like(prod['policyWithdrawn'], { path: s.policyFile });
  const health = await readyz(s.provider.healthUrl!);
  t.false(health.text.includes(s.dir));
  t.regex(await metrics(s), /vouch_trust_policy_withdrawn\{environment="prod"\} 1/);
});

test('provider: key outcomes are counted once, by the engine observer, for /v1/verify, /v1/mutate and gRPC Verify', async (t) => {
  const s = await setup(t, { grpc: true });
  const [first, second] = s.keys as [string, string];
  // A repeated key is decided once and counted as often as it was asked (as the servers answer it).
  t.deepEqual(await verify(s, [first, first, second, '[prod]not a reference']), ['verified', 'verified', 'verified', 'INVALID_REFERENCE']);
  const mutate = await fetch(`${s.provider.url}/v1/mutate`, {
    method: 'POST',
    body: JSON.stringify({ apiVersion: 'externaldata.gatekeeper.sh/v1beta1', kind: 'ProviderRequest', request: { keys: [first] } }),
  });
  t.is(mutate.status, 200);

  const definition = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO_FILE, { defaults: true })) as unknown as {
    vouch: { v1: { Verifier: grpc.ServiceClientConstructor } };
  };
  const client = new definition.vouch.v1.Verifier(s.provider.grpcAddress!, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    verify: (req: unknown, cb: (err: grpc.ServiceError | null, res: { results: Array<{ verified: boolean }> }) => void) => void;
  };
  t.teardown(() => client.close());
  const answer = await new Promise<{ results: Array<{ verified: boolean }> }>((resolve, reject) =>
    client.verify({ environment: 'prod', references: [first.slice('[prod]'.length)] }, (err, res) => (err ? reject(err) : resolve(res))),
  );
  t.deepEqual(
    answer.results.map((r) => r.verified),
    [true],
  );
  // The engine used as a library (no route) is not a provider request: not counted.
  await s.provider.engine.verify([first], { deadline: Date.now() + 2000 });

  const exposition = await metrics(s);
  const counted = exposition
    .split('\n')
    .filter((line) => line.startsWith('vouch_key_outcomes_total{'))
    .sort();
  t.deepEqual(counted, [
    // The environment of a key that names none vouch knows (or a mutate key) is "": label values stay bounded.
    'vouch_key_outcomes_total{route="/v1/mutate",outcome="pinned",environment=""} 1',
    'vouch_key_outcomes_total{route="/v1/verify",outcome="INVALID_REFERENCE",environment=""} 1',
    'vouch_key_outcomes_total{route="/v1/verify",outcome="verified",environment="prod"} 3',
    'vouch_key_outcomes_total{route="grpc:Verify",outcome="verified",environment="prod"} 1',
  ]);
});
