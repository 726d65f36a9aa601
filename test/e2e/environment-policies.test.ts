// Environment decision policies end to end (docs/policies.md): images signed with vouch's own signer
// pushed to a real registry (olareg), verified by vouch's runtime whose environments name the shipped
// example policies (examples/environment-policies) as `.rego` (compiled at start with the real opa)
// and as prebuilt bundles (`opa build -t wasm`); a policy's reload, a broken reload and a broken start.
import test from 'ava';
import { execFile } from 'node:child_process';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createRuntime, type Runtime } from '../../src/app/index.js';
import { loadConfig } from '../../src/config/index.js';
import { VouchError } from '../../src/core/index.js';
import { createLogger } from '../../src/log.js';
import { buildSignatureManifest, signEnvelope } from '../../src/notation/sign.js';
import { RegistryClient, type Descriptor } from '../../src/oci/index.js';
import type { RegistryRepository } from '../../src/oci/registry-client.js';
import type { KeyResult } from '../../src/verify/index.js';
import { buildSbomReferrer, pushReferrer } from '../helpers/oci-fixtures.js';
import { REPO_ROOT, startReferrersRegistry, toolPath, type RunningRegistry } from '../helpers/registries.js';
import { createWorkspace, pushImage, signAndPush, uniqueId, type Signer, type Workspace } from './support/fixtures.js';

const run = promisify(execFile);
const EXAMPLES = join(REPO_ROOT, 'examples', 'environment-policies');
const DAY_MS = 86_400_000;

let olareg: RunningRegistry;
let ws: Workspace;
let runtime: Runtime;
const refs = new Map<string, string>();

/** A notation signature made `ageDays` ago (no expiry), pushed as a referrer of `subject`. */
async function signOld(repo: RegistryRepository, subject: Descriptor, by: Signer, ageDays: number): Promise<void> {
  const envelope = signEnvelope({
    format: 'jws',
    privateKey: by.privateKey,
    certificateChain: by.certificateChain,
    payload: { targetArtifact: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size } },
    signingTime: new Date(Date.now() - ageDays * DAY_MS),
  });
  await pushReferrer(repo, buildSignatureManifest(envelope, subject, { form: 'legacy' }));
}

async function buildBundle(name: string): Promise<string> {
  const out = join(ws.dir, `${name}.tar.gz`);
  await run(toolPath('opa'), ['build', '-t', 'wasm', '-o', out, join(EXAMPLES, `${name}.rego`)], { timeout: 60_000 });
  return out;
}

const POLICY_ENVIRONMENTS = {
  plain: undefined,
  two: join(EXAMPLES, 'two_signers.rego'),
  recent: join(EXAMPLES, 'recent_signature.rego'),
  sbom: join(EXAMPLES, 'signed_sbom.rego'),
} as const;

function environments(extra: Record<string, string | undefined>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, policy] of Object.entries({ ...POLICY_ENVIRONMENTS, ...extra })) {
    out[name] = { trustPolicy: ws.trustPolicy('prod'), trustStore: ws.trustStore('prod'), ...(policy ? { policy } : {}) };
  }
  return out;
}

test.before(async () => {
  [olareg, ws] = await Promise.all([startReferrersRegistry(), createWorkspace()]);
  // prod trusts both identities' CAs, so an image can carry two trusted signers.
  await ws.addCa('prod', 'staging', [ws.identities.staging.root]);
  await ws.writePolicy('prod', [{ name: 'all', registryScopes: ['*'], trustStores: ['ca:prod', 'ca:staging'], trustedIdentities: ['*'] }]);
  const { prod, staging } = ws.identities;
  const pusher = new RegistryClient({ hosts: { [olareg.host]: { plainHttp: true } } });
  try {
    const id = uniqueId();
    const image = async (name: string): Promise<{ repo: RegistryRepository; subject: Descriptor }> => {
      const repo = pusher.repository(olareg.host, `policies-${id}/${name}`);
      const subject = await pushImage(repo, 'v1');
      refs.set(name, `${olareg.host}/policies-${id}/${name}@${subject.digest}`);
      return { repo, subject };
    };
    const two = await image('two');
    await signAndPush(two.repo, two.subject, prod);
    await signAndPush(two.repo, two.subject, staging);
    const one = await image('one');
    await signAndPush(one.repo, one.subject, prod);
    await image('unsigned');
    const old = await image('old');
    await signOld(old.repo, old.subject, prod, 200);
    for (const [name, signed] of [
      ['sbom-signed', true],
      ['sbom-unsigned', false],
    ] as const) {
      const { repo, subject } = await image(name);
      await signAndPush(repo, subject, prod);
      const sbom = await pushReferrer(repo, buildSbomReferrer(subject));
      if (signed) await signAndPush(repo, sbom, prod);
    }
  } finally {
    await pusher.close();
  }
  // A policy that allows everything it is asked about: it must still not admit an unsigned image.
  const allowAll = join(ws.dir, 'allow_all.rego');
  await writeFile(allowAll, 'package vouch.environment\n\n# METADATA\n# entrypoint: true\ndecision := {"allow": true}\n');
  const bundles = {
    'two-bundle': await buildBundle('two_signers'),
    'sbom-bundle': await buildBundle('signed_sbom'),
    'allow-all': allowAll,
  };
  const file = await ws.writeConfig({
    environments: environments(bundles),
    defaultEnvironment: 'plain',
    registries: { [olareg.host]: { plainHttp: true } },
  });
  runtime = await createRuntime(await loadConfig(file), {
    logger: createLogger({ level: 'silent' }),
    watch: false,
    opaPath: toolPath('opa'),
  });
});

test.after.always(async () => {
  await runtime?.close();
  await olareg?.stop();
  await ws?.remove();
});

async function verify(environment: string, image: string, using: Runtime = runtime): Promise<KeyResult> {
  const [result] = await using.engine.verify([`[${environment}]${refs.get(image)!}`], { deadline: Date.now() + 30_000 });
  return result!;
}

/** `verified`, or the code of the first reason or of the error. */
async function outcome(environment: string, image: string, using?: Runtime): Promise<string> {
  const result = await verify(environment, image, using);
  if (result.error !== undefined) return result.error.code;
  return result.value.verified ? 'verified' : result.value.reasons[0]!.code;
}

const expectations: Array<[string, string, string]> = [
  ['plain', 'one', 'verified'],
  ['plain', 'old', 'verified'],
  ['two', 'two', 'verified'],
  ['two', 'one', 'POLICY_DENIED'],
  ['two-bundle', 'two', 'verified'],
  ['two-bundle', 'one', 'POLICY_DENIED'],
  ['recent', 'one', 'verified'],
  ['recent', 'old', 'POLICY_DENIED'],
  ['sbom', 'sbom-signed', 'verified'],
  ['sbom', 'sbom-unsigned', 'POLICY_DENIED'],
  ['sbom', 'one', 'POLICY_DENIED'],
  ['sbom-bundle', 'sbom-signed', 'verified'],
  ['sbom-bundle', 'sbom-unsigned', 'POLICY_DENIED'],
  // A policy narrows, never widens: an image no trusted signature verifies is not the policy's to admit.
  ['allow-all', 'one', 'verified'],
  ['allow-all', 'unsigned', 'NO_SIGNATURE'],
  ['two', 'unsigned', 'NO_SIGNATURE'],
];

for (const [environment, image, expected] of expectations) {
  test(`environment policy ${environment}: image ${image} is ${expected}`, async (t) => {
    t.is(await outcome(environment, image), expected);
  });
}

test('a denial carries the policy message first, naming the environment, then what the trust policy found', async (t) => {
  const result = await verify('two', 'one');
  t.like(result.value?.reasons[0], {
    code: 'POLICY_DENIED',
    message: 'signatures from 1 distinct trusted signers verify, 2 are required (environment two)',
    detail: 'signatures from 1 distinct trusted signers verify, 2 are required',
  });
  t.is(result.value?.signatures.length, 1);
  // With a policy every signature is verified, not only up to the first that satisfies the trust policy.
  t.deepEqual(
    (await verify('two', 'two')).value?.signatures.map((s) => s.verified),
    [true, true],
  );
});

test.serial(
  'a policy reloads when its file changes (a new generation: the cached answer goes); a broken file keeps the last good one',
  async (t) => {
    const policy = join(ws.dir, 'reloading.rego');
    await copyFile(join(EXAMPLES, 'two_signers.rego'), policy);
    const file = await ws.writeConfig(
      {
        environments: environments({ reloading: policy }),
        defaultEnvironment: 'plain',
        registries: { [olareg.host]: { plainHttp: true } },
      },
      'reloading.yaml',
    );
    const own = await createRuntime(await loadConfig(file), {
      logger: createLogger({ level: 'silent' }),
      watch: false,
      opaPath: toolPath('opa'),
    });
    try {
      t.is(await outcome('reloading', 'one', own), 'POLICY_DENIED');
      const generation = own.environments.get('reloading')!.generation;

      await writeFile(policy, (await readFile(policy, 'utf8')).replace('required_signers := 2', 'required_signers := 1'));
      await own.environments.checkNow();
      t.not(own.environments.get('reloading')!.generation, generation);
      t.is(await outcome('reloading', 'one', own), 'verified');
      t.false(own.environments.status().degraded);

      const good = own.environments.get('reloading')!.generation;
      await writeFile(policy, 'package broken\n\ndecision := {"allow": true\n');
      await own.environments.checkNow();
      t.is(own.environments.get('reloading')!.generation, good, 'the last good policy is served');
      t.is(await outcome('reloading', 'one', own), 'verified');
      const status = own.environments.status();
      t.true(status.degraded);
      const reloading = status.environments.find((e) => e.name === 'reloading')!;
      t.is(reloading.state, 'degraded');
      t.regex(reloading.error ?? '', /reloading\.rego/);
      t.regex(reloading.decisionPolicy?.error ?? '', /environments\.reloading\.policy: .*reloading\.rego/);
    } finally {
      await own.close();
    }
  },
);

test.serial('a policy that cannot be loaded at start stops the start with INVALID_CONFIG naming the field and the file', async (t) => {
  const policy = join(ws.dir, 'broken.rego');
  await writeFile(policy, 'package broken\n\ndecision := {"allow": \n');
  const file = await ws.writeConfig({ environments: environments({ broken: policy }), defaultEnvironment: 'plain' }, 'broken.yaml');
  const error = await t.throwsAsync(
    createRuntime(await loadConfig(file), { logger: createLogger({ level: 'silent' }), watch: false, opaPath: toolPath('opa') }),
    {
      instanceOf: VouchError,
    },
  );
  t.is(error?.code, 'INVALID_CONFIG');
  t.true(error?.message.includes('environments.broken.policy'));
  t.true(error?.message.includes(policy));
});
