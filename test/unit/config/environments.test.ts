import test from 'ava';
import { copyFile, mkdir, mkdtemp, rename, rm, writeFile, readFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { VouchError } from '../../../src/core/index.js';
import { EnvironmentSet, loadConfig, type EnvironmentSetOptions, type VouchConfig } from '../../../src/config/index.js';
import { writeKubernetesVolume } from '../../helpers/kubernetes-volume.js';
import { NOTATION_VECTORS } from '../../helpers/fixtures.js';
import { toolPath } from '../../helpers/registries.js';

const LOCALKEYS = path.join(NOTATION_VECTORS, 'notation-cli-e2e/localkeys');
const E2E_CERT = path.join(LOCALKEYS, 'e2e.crt');
const NEW_E2E_CERT = path.join(LOCALKEYS, 'new_e2e.crt');

function trustPolicy(statementName: string, stores: string[] = ['ca:e2e']): string {
  return JSON.stringify(
    {
      version: '1.0',
      trustPolicies: [
        {
          name: statementName,
          registryScopes: ['*'],
          signatureVerification: { level: 'strict' },
          trustStores: stores,
          trustedIdentities: ['*'],
        },
      ],
    },
    null,
    2,
  );
}

interface Fixture {
  dir: string;
  configFile: string;
  policyFile: string;
  storeDir: string;
  config: VouchConfig;
}

/** A temp dir with vouch.yaml, trustpolicy.json and truststore/x509/ca/e2e/e2e.crt (copied from the vectors). */
async function fixture(t: import('ava').ExecutionContext, policy = trustPolicy('prod-images')): Promise<Fixture> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vouch-config-env-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const storeDir = path.join(dir, 'truststore', 'x509', 'ca', 'e2e');
  await mkdir(storeDir, { recursive: true });
  await copyFile(E2E_CERT, path.join(storeDir, 'e2e.crt'));
  const policyFile = path.join(dir, 'trustpolicy.json');
  await writeFile(policyFile, policy);
  const configFile = path.join(dir, 'vouch.yaml');
  await writeFile(
    configFile,
    [
      'defaultEnvironment: prod',
      'environments:',
      '  prod:',
      '    trustPolicy: trustpolicy.json',
      '    trustStore: truststore',
      '  staging:',
      '    trustPolicy: trustpolicy.json',
      '    trustStore: truststore',
      '',
    ].join('\n'),
  );
  return { dir, configFile, policyFile, storeDir, config: await loadConfig(configFile) };
}

async function open(t: import('ava').ExecutionContext, config: VouchConfig, options: EnvironmentSetOptions): Promise<EnvironmentSet> {
  const set = await EnvironmentSet.load(config, options);
  t.teardown(() => set.close());
  return set;
}

/** Polls `predicate` until it holds or the deadline passes; no fixed sleeps. */
async function eventually(t: import('ava').ExecutionContext, what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) {
      t.fail(`timed out after ${timeoutMs} ms waiting for: ${what}`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// Atomic replace, as editors and ConfigMap updaters do it.
async function replaceFile(file: string, content: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, content);
  await rename(tmp, file);
}

const STATIC: EnvironmentSetOptions = { watch: false };

// ---- loading -----------------------------------------------------------------------------------------

test('EnvironmentSet: loads every environment with its policy and trust store', async (t) => {
  const f = await fixture(t);
  const set = await open(t, f.config, STATIC);
  t.deepEqual(set.names(), ['prod', 'staging']);
  t.is(set.defaultEnvironment, 'prod');
  const prod = set.get('prod');
  t.truthy(prod);
  t.is(prod?.name, 'prod');
  t.is(prod?.policy?.source, f.policyFile);
  t.deepEqual(
    prod?.policy?.statements.map((s) => s.name),
    ['prod-images'],
  );
  const certs = await prod!.trustStore!.getCertificates('ca', 'e2e');
  t.is(certs.length, 1);
  t.regex(certs[0]!.subject, /CN=e2e/);
  t.is(set.get('nope'), undefined);
  t.is(set.get('constructor'), undefined);
  t.not(set.get('staging')?.generation, prod?.generation, 'generations are never shared');
});

test('EnvironmentSet: status() reports every environment loaded', async (t) => {
  const f = await fixture(t);
  const set = await open(t, f.config, STATIC);
  const status = set.status();
  t.true(status.ready);
  t.deepEqual(
    status.environments.map((e) => [e.name, e.loaded, e.error]),
    [
      ['prod', true, undefined],
      ['staging', true, undefined],
    ],
  );
  t.is(status.environments[0]?.generation, set.get('prod')?.generation);
  t.true(status.environments[0]?.loadedAt instanceof Date);
});

test('EnvironmentSet: sets sharing a generation source never reuse a generation; each set has its own by default', async (t) => {
  const f = await fixture(t);
  let last = 0;
  const shared: EnvironmentSetOptions = { ...STATIC, nextGeneration: () => ++last };
  const a = await open(t, f.config, shared);
  const b = await open(t, f.config, shared);
  const generations = [a, b].flatMap((set) => ['prod', 'staging'].map((name) => set.get(name)?.generation));
  t.deepEqual([...generations].sort(), [1, 2, 3, 4]);
  // No module-global counter: a set without a source starts its own.
  const c = await open(t, f.config, STATIC);
  const d = await open(t, f.config, STATIC);
  t.is(c.get('prod')?.generation, d.get('prod')?.generation);
});

test('EnvironmentSet: a broken trust policy at start is INVALID_CONFIG naming the config field and the policy file', async (t) => {
  const f = await fixture(t, '{"version": "1.0", "trustPolicies": []}');
  const error = await t.throwsAsync(EnvironmentSet.load(f.config, STATIC), { instanceOf: VouchError });
  t.is(error?.code, 'INVALID_CONFIG');
  t.is(
    error?.message,
    `${f.configFile}: environments.prod.trustPolicy: ${f.policyFile}: oci trust policy document can not have zero trust policy statements`,
  );
});

test('EnvironmentSet: malformed JSON in the trust policy at start names the file', async (t) => {
  const f = await fixture(t, '{"version": "1.0", ');
  const error = await t.throwsAsync(EnvironmentSet.load(f.config, STATIC), { instanceOf: VouchError });
  t.is(error?.code, 'INVALID_CONFIG');
  t.true(error?.message.startsWith(`${f.configFile}: environments.prod.trustPolicy: ${f.policyFile}: `), error?.message);
});

test('EnvironmentSet: a missing trust policy file at start is INVALID_CONFIG', async (t) => {
  const f = await fixture(t);
  await rm(f.policyFile);
  const error = await t.throwsAsync(EnvironmentSet.load(f.config, STATIC), { instanceOf: VouchError });
  t.is(error?.code, 'INVALID_CONFIG');
  t.regex(error?.message ?? '', /environments\.prod\.trustPolicy: .*trustpolicy\.json: trust policy is not present/);
});

test('EnvironmentSet: a trust store the policy references but that does not exist fails at start', async (t) => {
  const f = await fixture(t, trustPolicy('prod-images', ['ca:e2e', 'signingAuthority:missing']));
  const error = await t.throwsAsync(EnvironmentSet.load(f.config, STATIC), { instanceOf: VouchError });
  t.is(error?.code, 'INVALID_CONFIG');
  t.is(error?.reason, 'NOT_FOUND');
  t.true(error?.message.startsWith(`${f.configFile}: environments.prod.trustStore: ${path.join(f.dir, 'truststore')}: `), error?.message);
  t.regex(error?.message ?? '', /missing/);
  t.regex(error?.message ?? '', /referenced by .*trustpolicy\.json/);
});

test('EnvironmentSet: an invalid certificate in a referenced store fails at start', async (t) => {
  const f = await fixture(t);
  await writeFile(path.join(f.storeDir, 'junk.pem'), 'not a certificate');
  const error = await t.throwsAsync(EnvironmentSet.load(f.config, STATIC), { instanceOf: VouchError });
  t.is(error?.code, 'INVALID_CONFIG');
  t.regex(error?.message ?? '', /environments\.prod\.trustStore: .*junk\.pem/);
});

// ---- reloading -----------------------------------------------------------------------------------------

test('EnvironmentSet: checkNow() picks up a changed trust policy; unchanged bytes keep the generation', async (t) => {
  const f = await fixture(t);
  const set = await open(t, f.config, STATIC);
  const before = set.get('prod')!;

  await writeFile(f.policyFile, trustPolicy('prod-images'));
  await set.checkNow();
  t.is(set.get('prod'), before, 'same bytes rewritten: same material, same generation');

  await writeFile(f.policyFile, trustPolicy('renamed'));
  await set.checkNow();
  const after = set.get('prod')!;
  t.true(after.generation > before.generation);
  t.is(after.policy!.statements[0]?.name, 'renamed');
  t.is(before.policy!.statements[0]?.name, 'prod-images', 'the old snapshot is untouched');
});

test('EnvironmentSet: fs.watch picks up a changed trust policy (atomic replace)', async (t) => {
  const f = await fixture(t);
  const set = await open(t, f.config, { pollIntervalMs: 0, debounceMs: 20 });
  const before = set.get('prod')!.generation;
  await replaceFile(f.policyFile, trustPolicy('from-watch'));
  await eventually(t, 'the new policy in both environments', () =>
    ['prod', 'staging'].every((name) => set.get(name)?.policy?.statements[0]?.name === 'from-watch'),
  );
  t.true(set.get('prod')!.generation > before);
});

test('EnvironmentSet: the periodic check alone picks up a changed trust policy', async (t) => {
  const f = await fixture(t);
  const set = await open(t, f.config, { fsWatch: false, pollIntervalMs: 50 });
  const before = set.get('prod')!.generation;
  await writeFile(f.policyFile, trustPolicy('from-poll'));
  await eventually(t, 'the new policy', () => set.get('prod')?.policy?.statements[0]?.name === 'from-poll');
  t.true(set.get('prod')!.generation > before);
});

test('EnvironmentSet: a broken reload keeps the last good material and reports the error until fixed', async (t) => {
  const f = await fixture(t);
  const set = await open(t, f.config, { pollIntervalMs: 50, debounceMs: 10 });
  const good = set.get('prod')!;

  await writeFile(f.policyFile, '{"version": "2.0", "trustPolicies": []}');
  await eventually(t, 'an error in status()', () => set.status().environments[0]?.error !== undefined);
  t.is(set.get('prod'), good, 'the last good material is still served');
  const status = set.status();
  t.true(status.ready, 'still ready: material is loaded');
  const prod = status.environments.find((e) => e.name === 'prod')!;
  t.true(prod.loaded);
  t.is(prod.generation, good.generation);
  t.true(prod.errorSince instanceof Date);
  t.is(
    prod.error,
    `${f.configFile}: environments.prod.trustPolicy: ${f.policyFile}: oci trust policy document uses unsupported version "2.0"`,
  );

  await writeFile(f.policyFile, trustPolicy('fixed'));
  await eventually(t, 'the fixed policy', () => set.get('prod')?.policy?.statements[0]?.name === 'fixed');
  t.is(set.status().environments[0]?.error, undefined);
  t.true(set.get('prod')!.generation > good.generation);
});

test('EnvironmentSet: restoring the exact last good file clears the error without a new generation', async (t) => {
  const f = await fixture(t);
  const set = await open(t, f.config, STATIC);
  const good = set.get('prod')!;
  const original = await readFile(f.policyFile, 'utf8');
  await writeFile(f.policyFile, 'garbage');
  await set.checkNow();
  t.truthy(set.status().environments[0]?.error);
  await writeFile(f.policyFile, original);
  await set.checkNow();
  t.is(set.status().environments[0]?.error, undefined);
  t.is(set.get('prod'), good);
});

test('EnvironmentSet: adding a certificate to the trust store changes the generation', async (t) => {
  const f = await fixture(t);
  const set = await open(t, f.config, { pollIntervalMs: 0, debounceMs: 20 });
  const before = set.get('prod')!;
  await copyFile(NEW_E2E_CERT, path.join(f.storeDir, 'new_e2e.crt'));
  await eventually(t, 'a new generation', () => set.get('prod')!.generation !== before.generation);
  const certs = await set.get('prod')!.trustStore!.getCertificates('ca', 'e2e');
  t.is(certs.length, 2);
  t.is((await before.trustStore!.getCertificates('ca', 'e2e')).length, 1, 'the old snapshot is untouched');
});

test('EnvironmentSet: a new store directory is noticed (and watched) too', async (t) => {
  const f = await fixture(t);
  const set = await open(t, f.config, { pollIntervalMs: 0, debounceMs: 20 });
  const before = set.get('prod')!.generation;
  const other = path.join(f.dir, 'truststore', 'x509', 'ca', 'other');
  await mkdir(other);
  await copyFile(NEW_E2E_CERT, path.join(other, 'new_e2e.crt'));
  await writeFile(f.policyFile, trustPolicy('two-stores', ['ca:e2e', 'ca:other']));
  await eventually(t, 'the two-store policy', () => set.get('prod')?.policy?.statements[0]?.name === 'two-stores');
  t.true(set.get('prod')!.generation > before);
  const mid = set.get('prod')!.generation;
  // A change inside the store directory created after start.
  await copyFile(E2E_CERT, path.join(other, 'e2e.crt'));
  await eventually(t, 'a generation for the new store file', () => set.get('prod')!.generation !== mid);
  t.is((await set.get('prod')!.trustStore!.getCertificates('ca', 'other')).length, 2);
});

test('EnvironmentSet: a broken trust store on disk does not affect the material served', async (t) => {
  const f = await fixture(t);
  const set = await open(t, f.config, STATIC);
  const good = set.get('prod')!;
  await writeFile(path.join(f.storeDir, 'junk.crt'), 'not a certificate');
  await set.checkNow();
  t.is(set.get('prod'), good);
  t.regex(set.status().environments[0]?.error ?? '', /environments\.prod\.trustStore: .*junk\.crt/);
  // The served store does not look at the filesystem again.
  t.is((await good.trustStore!.getCertificates('ca', 'e2e', { recheck: false })).length, 1);

  await rm(path.join(f.storeDir, 'junk.crt'));
  await set.checkNow();
  t.is(set.status().environments[0]?.error, undefined);
});

test('EnvironmentSet: close() stops watching; later changes are not picked up', async (t) => {
  const f = await fixture(t);
  const set = await EnvironmentSet.load(f.config, { pollIntervalMs: 20, debounceMs: 5 });
  const before = set.get('prod')!;
  await set.close();
  await writeFile(f.policyFile, trustPolicy('after-close'));
  await set.checkNow();
  t.is(set.get('prod'), before);
  await set.close(); // idempotent
});

test('EnvironmentSet: concurrent checkNow() calls coalesce and all resolve', async (t) => {
  const f = await fixture(t);
  const set = await open(t, f.config, STATIC);
  await writeFile(f.policyFile, trustPolicy('concurrent'));
  await Promise.all([set.checkNow(), set.checkNow(), set.checkNow()]);
  t.is(set.get('prod')?.policy?.statements[0]?.name, 'concurrent');
});

test('EnvironmentSet: trust material in Kubernetes ConfigMap volumes reloads when the kubelet swaps the payload', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vouch-config-volume-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const policyDir = path.join(dir, 'policy');
  const storeDir = path.join(dir, 'truststore', 'x509', 'ca', 'e2e');
  await writeKubernetesVolume(policyDir, { 'trustpolicy.json': trustPolicy('prod-images') });
  await writeKubernetesVolume(storeDir, { 'e2e.crt': await readFile(E2E_CERT) });
  const configFile = path.join(dir, 'vouch.yaml');
  await writeFile(configFile, 'environments:\n  prod:\n    trustPolicy: policy/trustpolicy.json\n    trustStore: truststore\n');
  const set = await open(t, await loadConfig(configFile), STATIC);
  const before = set.get('prod')!;
  t.is(before.policy!.statements[0]?.name, 'prod-images');

  await writeKubernetesVolume(policyDir, { 'trustpolicy.json': trustPolicy('renamed') });
  await set.checkNow();
  const renamed = set.get('prod')!;
  t.true(renamed.generation > before.generation);
  t.is(renamed.policy!.statements[0]?.name, 'renamed');

  await writeKubernetesVolume(storeDir, { 'e2e.crt': await readFile(NEW_E2E_CERT) });
  await set.checkNow();
  t.true(set.get('prod')!.generation > renamed.generation, 'a new certificate in the store volume is a new generation');
});

test('EnvironmentSet: a decision policy is loaded with limits.policyTimeoutMs as its evaluation time limit', async (t) => {
  const f = await fixture(t);
  // 3000^3 candidate triples, none matching: seconds of work
  const slow = [
    'package slow',
    'range := numbers.range(1, 3000)',
    'slow if {',
    '\tsome a in range',
    '\tsome b in range',
    '\tsome c in range',
    '\ta > b',
    '\tb > c',
    '\tc > a',
    '}',
    '# METADATA',
    '# entrypoint: true',
    'decision := {"allow": slow}',
    '',
  ].join('\n');
  await writeFile(path.join(f.dir, 'slow.rego'), slow);
  const configFile = path.join(f.dir, 'limited.yaml');
  await writeFile(
    configFile,
    [
      'environments:',
      '  prod: { trustPolicy: trustpolicy.json, trustStore: truststore, policy: slow.rego }',
      'limits: { policyTimeoutMs: 40 }',
      '',
    ].join('\n'),
  );
  const set = await open(t, await loadConfig(configFile), { watch: false, policy: { opaPath: toolPath('opa') } });
  const decision = set.get('prod')?.decisionPolicy;
  if (decision === undefined) return t.fail('no decision policy loaded');
  const error = await t.throwsAsync(decision.wasm.evaluate(decision.entrypoint, {}), { instanceOf: VouchError });
  t.like(error, { code: 'POLICY_ERROR', reason: 'TIMEOUT' });
  t.regex(error?.message ?? '', /longer than 40 ms/);
});
