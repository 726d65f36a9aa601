// End to end for the Rego side: real answers from a running `vouch serve` (images signed for prod
// and staging on a real registry) fed through the shipped ConstraintTemplate's Rego (the rego and
// libs of deploy/gatekeeper/template.yaml, exactly what Gatekeeper loads) with the real `opa eval`.
// external_data is replaced by the answer converted the way Gatekeeper converts a ProviderResponse
// (frameworks externaldata NewRegoResponse): items with an error → errors, the others → responses.

import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { RegistryClient } from '../../src/oci/index.js';
import { freePort, REPO_ROOT, startReferrersRegistry, toolPath, type RunningRegistry } from '../helpers/registries.js';
import { createTlsMaterial, type TlsMaterial } from '../helpers/tls.js';
import {
  createWorkspace,
  flipSignatureBit,
  pushImage,
  signAndPush,
  SIGNERS,
  trustedIdentity,
  uniqueId,
  type Workspace,
} from './support/fixtures.js';
import { HttpsClient, startVouch, type ProviderResponseJson, type VouchProcess } from './support/vouch-process.js';

const run = promisify(execFile);
const RUN = uniqueId();

let registry: RunningRegistry;
let tls: TlsMaterial;
let ws: Workspace;
let vouch: VouchProcess;
let http: HttpsClient;
let regoDir: string;
const image: Record<string, string> = {};

test.before(async () => {
  [registry, tls, ws] = await Promise.all([startReferrersRegistry(), createTlsMaterial(), createWorkspace()]);
  const closedHost = `127.0.0.1:${await freePort()}`;
  const client = new RegistryClient({ hosts: { [registry.host]: { plainHttp: true } } });
  try {
    const repo = client.repository(registry.host, `rego-${RUN}/app`);
    const prod = { privateKey: ws.identities.prod.privateKey, certificateChain: ws.identities.prod.certificateChain };
    const staging = { privateKey: ws.identities.staging.privateKey, certificateChain: ws.identities.staging.certificateChain };
    await signAndPush(repo, await pushImage(repo, 'prod-signed'), prod);
    await signAndPush(repo, await pushImage(repo, 'staging-signed'), staging);
    await pushImage(repo, 'unsigned');
    await signAndPush(repo, await pushImage(repo, 'tampered'), prod, { tamper: flipSignatureBit });
    for (const tag of ['prod-signed', 'staging-signed', 'unsigned', 'tampered', 'no-such-tag'])
      image[tag] = `${registry.host}/rego-${RUN}/app:${tag}`;
    image['unreachable'] = `${closedHost}/rego-${RUN}/app:v1`;
  } finally {
    await client.close();
  }
  for (const env of ['prod', 'staging'] as const) {
    await ws.writePolicy(env, [
      { name: `${env}-images`, registryScopes: ['*'], trustStores: [`ca:${env}`], trustedIdentities: [trustedIdentity(SIGNERS[env])] },
    ]);
  }
  const configFile = await ws.writeConfig({
    server: { address: '127.0.0.1:0', tls: tls.files, requestTimeoutMs: 5000 },
    defaultEnvironment: 'prod',
    environments: {
      prod: { trustPolicy: ws.trustPolicy('prod'), trustStore: ws.trustStore('prod') },
      staging: { trustPolicy: ws.trustPolicy('staging'), trustStore: ws.trustStore('staging') },
    },
    registries: { [registry.host]: { plainHttp: true }, [closedHost]: { plainHttp: true } },
  });
  vouch = await startVouch({ configFile, tls });
  http = new HttpsClient(vouch.url, tls);

  // The template exactly as shipped: its rego and libs, written out as modules for opa.
  regoDir = await mkdtemp(join(tmpdir(), 'vouch-e2e-rego-'));
  const template = parse(await readFile(join(REPO_ROOT, 'deploy', 'gatekeeper', 'template.yaml'), 'utf8')) as TemplateDoc;
  const source = template.spec.targets[0]!.code?.[0]?.source ?? {
    rego: template.spec.targets[0]!.rego!,
    libs: template.spec.targets[0]!.libs,
  };
  await writeFile(join(regoDir, 'template.rego'), source.rego);
  for (const [i, lib] of (source.libs ?? []).entries()) await writeFile(join(regoDir, `lib-${i}.rego`), lib);
  // OPA 1.x cannot replace a capabilities-only builtin with a value, only with a function.
  await writeFile(join(regoDir, 'lib-mock.rego'), 'package mock\n\nfrom_input(_) := input.external_data\n');
});

test.after.always(async () => {
  await http?.close();
  await vouch?.stop();
  await registry?.stop();
  await ws?.remove();
  if (regoDir) await rm(regoDir, { recursive: true, force: true });
});

interface TemplateDoc {
  spec: { targets: Array<{ rego?: string; libs?: string[]; code?: Array<{ source: { rego: string; libs?: string[] } }> }> };
}

interface Violation {
  msg: string;
  details: {
    image: string;
    environment: string;
    code: string;
    undecided: boolean;
    key: string;
    container: string;
    signers: string[];
    check: string;
    advice: string;
    admin_advice: string;
  };
}

/** What every message must do: name the image and container, the environment once, never the provider key, the code last. */
function assertReadable(t: ExecutionContext, v: Violation) {
  t.true(
    v.msg.includes(`image ${JSON.stringify(v.details.image)} in `) && v.msg.includes(`container ${JSON.stringify(v.details.container)}`),
    v.msg,
  );
  t.is(v.msg.split(`environment "${v.details.environment}"`).length, 2, v.msg);
  t.false(v.msg.includes(`[${v.details.environment}]`), v.msg);
  t.true(v.msg.endsWith(` (${v.details.code})`), v.msg);
  t.true(v.msg.includes(v.details.advice), v.msg);
  t.is(v.msg.includes(v.details.admin_advice), v.details.undecided || v.details.admin_advice === '', v.msg);
}

/** What Gatekeeper's external_data returns for the provider's answer (frameworks NewRegoResponse). */
function regoResponse(status: number, answer: ProviderResponseJson) {
  const responses: Array<[string, unknown]> = [];
  const errors: Array<[string, string]> = [];
  for (const item of answer.response.items ?? []) {
    if (item.error) errors.push([item.key, item.error]);
    else responses.push([item.key, item.value]);
  }
  return { responses, errors, status_code: status, system_error: answer.response.systemError ?? '' };
}

/** Asks vouch about `keys` as Gatekeeper would, then evaluates the template's violations with that answer. */
async function admit(object: unknown, namespace: string, parameters: Record<string, unknown>, keys: string[]): Promise<Violation[]> {
  const answer = await http.send(
    'POST',
    '/v1/verify',
    JSON.stringify({ apiVersion: 'externaldata.gatekeeper.sh/v1beta1', kind: 'ProviderRequest', request: { keys } }),
  );
  const input = {
    review: { object, namespace, operation: 'CREATE' },
    parameters,
    external_data: regoResponse(answer.status, answer.json as ProviderResponseJson),
  };
  const inputFile = join(regoDir, `input-${uniqueId()}.json`);
  await writeFile(inputFile, JSON.stringify(input));
  const { stdout } = await run(toolPath('opa'), [
    'eval',
    '--format',
    'json',
    '--capabilities',
    join(REPO_ROOT, 'rego', 'capabilities.json'),
    '-d',
    join(regoDir, 'template.rego'),
    ...(await libArgs()),
    '-i',
    inputFile,
    'data.vouchsignedimages.violation with external_data as data.mock.from_input',
  ]);
  const result = JSON.parse(stdout) as { result?: Array<{ expressions: Array<{ value: Violation[] }> }> };
  return result.result?.[0]?.expressions[0]?.value ?? [];
}

async function libArgs(): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  return (await readdir(regoDir)).filter((f) => f.startsWith('lib-')).flatMap((f) => ['-d', join(regoDir, f)]);
}

function pod(containers: string[], initContainers: string[] = [], ephemeralContainers: string[] = []) {
  const list = (names: string[], prefix: string) => names.map((img, i) => ({ name: `${prefix}-${i}`, image: img }));
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'app', namespace: 'team-a' },
    spec: {
      containers: list(containers, 'c'),
      initContainers: list(initContainers, 'init'),
      ephemeralContainers: list(ephemeralContainers, 'debug'),
    },
  };
}

const byImage = (violations: Violation[]) => Object.fromEntries(violations.map((v) => [v.details.image, v.details.code]));

test("prod: only the prod-signed image is admitted; every other image is denied with vouch's code", async (t) => {
  const images = [image['prod-signed']!, image['staging-signed']!, image['unsigned']!, image['tampered']!, image['no-such-tag']!];
  const object = pod(images.slice(0, 2), [images[2]!], images.slice(3));
  const violations = await admit(
    object,
    'team-a',
    { environment: 'prod' },
    images.map((i) => `[prod]${i}`),
  );
  t.deepEqual(byImage(violations), {
    [image['staging-signed']!]: 'UNTRUSTED_SIGNER',
    [image['unsigned']!]: 'NO_SIGNATURE',
    [image['tampered']!]: 'INVALID_SIGNATURE',
    [image['no-such-tag']!]: 'NOT_FOUND',
  });
  for (const v of violations) {
    t.is(v.details.environment, 'prod');
    t.false(v.details.undecided);
    assertReadable(t, v);
  }
  // The signer vouch found is named: what tells the author which key to sign with instead.
  const untrusted = violations.find((v) => v.details.code === 'UNTRUSTED_SIGNER')!;
  t.is(untrusted.details.signers.length, 1);
  t.regex(untrusted.details.signers[0]!, /CN=ci-staging/);
  t.is(untrusted.details.check, 'authenticity');
  t.true(
    untrusted.msg.includes(`it is signed by ${JSON.stringify(untrusted.details.signers[0])}, not by a signer trusted there.`),
    untrusted.msg,
  );
});

test('staging (by namespace mapping): the staging signer is trusted, the prod signer is not', async (t) => {
  const images = [image['prod-signed']!, image['staging-signed']!];
  const violations = await admit(
    pod(images),
    'team-a',
    { environment: 'prod', namespaceEnvironments: { 'team-a': 'staging' } },
    images.map((i) => `[staging]${i}`),
  );
  t.deepEqual(byImage(violations), { [image['prod-signed']!]: 'UNTRUSTED_SIGNER' });
});

test('undecided: an unreachable registry denies by default, and is left to another constraint with undecided: ignore', async (t) => {
  const images = [image['prod-signed']!, image['unreachable']!];
  const keys = images.map((i) => `[prod]${i}`);
  const denied = await admit(pod(images), 'team-a', { environment: 'prod' }, keys);
  t.deepEqual(byImage(denied), { [image['unreachable']!]: 'REGISTRY_UNAVAILABLE' });
  t.true(denied[0]!.details.undecided);
  assertReadable(t, denied[0]!);
  t.is(denied[0]!.msg.split('retry').length, 2, denied[0]!.msg);
  t.deepEqual(await admit(pod(images), 'team-a', { environment: 'prod', undecided: 'ignore' }, keys), []);
  t.deepEqual(byImage(await admit(pod(images), 'team-a', { environment: 'prod', undecided: 'only' }, keys)), {
    [image['unreachable']!]: 'REGISTRY_UNAVAILABLE',
  });
});
