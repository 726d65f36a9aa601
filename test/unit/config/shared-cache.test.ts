// cache.shared in the configuration file, and the content fingerprint of an environment's trust
// material that keys the shared result cache (src/config/environments.ts trustFingerprint): equal for
// equal material in two places (two replicas), different when any part that changes verdicts differs.

import test from 'ava';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { EnvironmentSet, loadConfig, type VouchConfig } from '../../../src/config/index.js';
import { NOTATION_VECTORS } from '../../helpers/fixtures.js';

const LOCALKEYS = path.join(NOTATION_VECTORS, 'notation-cli-e2e/localkeys');
const E2E_CERT = path.join(LOCALKEYS, 'e2e.crt');
const NEW_E2E_CERT = path.join(LOCALKEYS, 'new_e2e.crt');

function policy(level = 'strict'): string {
  return JSON.stringify({
    version: '1.0',
    trustPolicies: [
      { name: 'all', registryScopes: ['*'], signatureVerification: { level }, trustStores: ['ca:e2e'], trustedIdentities: ['*'] },
    ],
  });
}

/** A directory with vouch.yaml, trustpolicy.json and a trust store holding `certs`. */
async function replicaDir(
  t: import('ava').ExecutionContext,
  options: { certs?: string[]; policy?: string; extraYaml?: string[] } = {},
): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vouch-config-shared-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = path.join(dir, 'truststore', 'x509', 'ca', 'e2e');
  await mkdir(store, { recursive: true });
  for (const cert of options.certs ?? [E2E_CERT]) await copyFile(cert, path.join(store, path.basename(cert)));
  await writeFile(path.join(dir, 'trustpolicy.json'), options.policy ?? policy());
  await writeFile(
    path.join(dir, 'vouch.yaml'),
    ['environments:', '  prod:', '    trustPolicy: trustpolicy.json', '    trustStore: truststore', ...(options.extraYaml ?? []), ''].join(
      '\n',
    ),
  );
  return dir;
}

async function fingerprintOf(t: import('ava').ExecutionContext, dir: string): Promise<string> {
  const set = await EnvironmentSet.load(await loadConfig(path.join(dir, 'vouch.yaml')), { watch: false });
  t.teardown(() => set.close());
  return set.get('prod')!.fingerprint;
}

test('fingerprint: equal material in two places gives equal fingerprints', async (t) => {
  const a = await replicaDir(t);
  const b = await replicaDir(t);
  const setA = await EnvironmentSet.load(await loadConfig(path.join(a, 'vouch.yaml')), { watch: false });
  const setB = await EnvironmentSet.load(await loadConfig(path.join(b, 'vouch.yaml')), { watch: false });
  t.teardown(() => Promise.all([setA.close(), setB.close()]));
  t.regex(setA.get('prod')!.fingerprint, /^[0-9a-f]{64}$/);
  t.is(setA.get('prod')!.fingerprint, setB.get('prod')!.fingerprint);
});

test('fingerprint: another certificate, an added one, or another trust policy changes it', async (t) => {
  const base = await fingerprintOf(t, await replicaDir(t));
  const others = [
    await fingerprintOf(t, await replicaDir(t, { certs: [NEW_E2E_CERT] })),
    await fingerprintOf(t, await replicaDir(t, { certs: [E2E_CERT, NEW_E2E_CERT] })),
    await fingerprintOf(t, await replicaDir(t, { policy: policy('permissive') })),
  ];
  for (const other of others) t.not(other, base);
  t.is(new Set(others).size, others.length);
});

test('fingerprint: a reload with changed material changes it; unchanged material keeps it', async (t) => {
  const dir = await replicaDir(t);
  const set = await EnvironmentSet.load(await loadConfig(path.join(dir, 'vouch.yaml')), { watch: false });
  t.teardown(() => set.close());
  const before = set.get('prod')!.fingerprint;
  await set.checkNow();
  t.is(set.get('prod')!.fingerprint, before);
  await copyFile(NEW_E2E_CERT, path.join(dir, 'truststore', 'x509', 'ca', 'e2e', 'new_e2e.crt'));
  await set.checkNow();
  t.not(set.get('prod')!.fingerprint, before);
});

async function configWith(t: import('ava').ExecutionContext, shared: string[], files: Record<string, Buffer> = {}): Promise<VouchConfig> {
  const dir = await replicaDir(t, { extraYaml: ['cache:', '  shared:', ...shared.map((line) => `    ${line}`)] });
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  return loadConfig(path.join(dir, 'vouch.yaml'));
}

test('cache.shared: defaults, and files resolved against the configuration file', async (t) => {
  const config = await configWith(t, ['url: redis://redis.vouch-system:6379', 'keyFile: secrets/hmac', 'previousKeyFiles: [old/hmac]'], {
    'secrets/hmac': randomBytes(32),
    'old/hmac': randomBytes(32),
  });
  const shared = config.cache.shared!;
  const dir = path.dirname(config.file);
  t.like(shared, {
    url: 'redis://redis.vouch-system:6379',
    keyFile: path.join(dir, 'secrets/hmac'),
    previousKeyFiles: [path.join(dir, 'old/hmac')],
    keyPrefix: 'vouch:result:',
    commandTimeoutMs: 100,
    failureThreshold: 5,
    coolDownMs: 5_000,
  });
});

test('cache.shared: a URL that is not redis:// or rediss://, or a missing keyFile, is refused', async (t) => {
  for (const shared of [['url: http://redis:6379', 'keyFile: k'], ['url: redis://redis:6379'], ['url: rediss://', 'keyFile: k']]) {
    const error = await t.throwsAsync(configWith(t, shared));
    t.is((error as { code?: string }).code, 'INVALID_CONFIG', shared.join(', '));
  }
});

test('cache.shared: a key, password or CA file that does not exist is refused at load, naming its key', async (t) => {
  const key = { hmac: randomBytes(32) };
  for (const [line, at] of [
    ['keyFile: missing', 'cache.shared.keyFile'],
    ['previousKeyFiles: [missing]', 'cache.shared.previousKeyFiles[0]'],
    ['passwordFile: missing', 'cache.shared.passwordFile'],
    ['caFile: missing', 'cache.shared.caFile'],
  ] as const) {
    const lines = ['url: redis://redis:6379', ...(line.startsWith('keyFile') ? [] : ['keyFile: hmac']), line];
    const error = await t.throwsAsync(configWith(t, lines, key));
    t.is((error as { code?: string }).code, 'INVALID_CONFIG');
    t.is((error as { reason?: string }).reason, 'NOT_FOUND');
    t.true(error!.message.includes(`${at}:`), error!.message);
  }
});
