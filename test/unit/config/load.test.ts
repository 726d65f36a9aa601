import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { VouchError } from '../../../src/core/index.js';
import {
  CONFIG_ENV_VAR,
  configPathFrom,
  hostAllowedPredicate,
  loadConfig,
  parseConfig,
  registryHostConfigs,
} from '../../../src/config/index.js';

async function tempDir(t: import('ava').ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vouch-config-load-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const ENVIRONMENTS = 'environments:\n  prod: { trustPolicy: tp.json, trustStore: store }\n';

test('configPathFrom: --config wins over VOUCH_CONFIG', (t) => {
  t.is(configPathFrom('a.yaml', { [CONFIG_ENV_VAR]: 'b.yaml' }), 'a.yaml');
  t.is(configPathFrom(undefined, { [CONFIG_ENV_VAR]: 'b.yaml' }), 'b.yaml');
});

test('configPathFrom: neither set is INVALID_CONFIG with a clear message', (t) => {
  const error = t.throws(() => configPathFrom(undefined, {}), { instanceOf: VouchError });
  t.is(error?.code, 'INVALID_CONFIG');
  t.is(error?.message, 'no configuration file: pass --config FILE or set VOUCH_CONFIG');
  t.throws(() => configPathFrom(undefined, { [CONFIG_ENV_VAR]: '' }), { instanceOf: VouchError });
  t.throws(() => configPathFrom('', {}), { instanceOf: VouchError, message: /--config/ });
});

test('loadConfig: reads a YAML file and resolves paths against its directory', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'vouch.yaml');
  await writeFile(file, ENVIRONMENTS);
  const config = await loadConfig(file);
  t.is(config.file, file);
  t.is(config.environments.get('prod')?.trustPolicy, path.join(dir, 'tp.json'));
});

test('loadConfig: reads a JSON file', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'vouch.json');
  await writeFile(file, JSON.stringify({ environments: { prod: { trustPolicy: 'tp.json', trustStore: 'store' } } }));
  const config = await loadConfig(file);
  t.is(config.environments.get('prod')?.trustStore, path.join(dir, 'store'));
});

test('loadConfig: JSON syntax errors carry file:line:col', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'vouch.json');
  await writeFile(file, '{\n  "environments": {\n    "prod": {"trustPolicy": "a", "trustStore": "b",}\n  }\n}\n');
  const error = await t.throwsAsync(loadConfig(file), { instanceOf: VouchError });
  t.is(error?.code, 'INVALID_CONFIG');
  t.true(error?.message.startsWith(`${file}:3:52: JSON syntax error: trailing comma`), error?.message);
});

test('loadConfig: a missing file is INVALID_CONFIG naming it', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'nope.yaml');
  const error = await t.throwsAsync(loadConfig(file), { instanceOf: VouchError });
  t.is(error?.code, 'INVALID_CONFIG');
  t.is(error?.reason, 'NOT_FOUND');
  t.is(error?.message, `${file}: configuration file not found`);
});

test('loadConfig: a directory is not a configuration file', async (t) => {
  const dir = await tempDir(t);
  await t.throwsAsync(loadConfig(dir), { instanceOf: VouchError, message: /not a regular file/ });
});

test('loadConfig: bytes that are not UTF-8 are refused', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'vouch.yaml');
  await writeFile(file, Buffer.from([0x65, 0x6e, 0xff, 0xfe, 0x0a]));
  await t.throwsAsync(loadConfig(file), { instanceOf: VouchError, message: /not UTF-8/ });
});

test('loadConfig: TLS files, ociLayout and crlDirectory must exist with the right kind', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'vouch.yaml');
  await writeFile(path.join(dir, 'tls.crt'), 'x');
  await writeFile(path.join(dir, 'tls.key'), 'x');
  await mkdir(path.join(dir, 'layout'));
  await mkdir(path.join(dir, 'crls'));

  const good = `${ENVIRONMENTS}server: { tls: { certFile: tls.crt, keyFile: tls.key } }\nregistries:\n  local.test: { ociLayout: layout }\nrevocation: { crlDirectory: crls }\n`;
  await writeFile(file, good);
  const config = await loadConfig(file);
  t.is(config.registries.get('local.test')?.ociLayout, path.join(dir, 'layout'));

  const cases: Array<[string, string]> = [
    [
      `${ENVIRONMENTS}server: { tls: { certFile: tls.crt, keyFile: missing.key } }\n`,
      `${file}: server.tls.keyFile: ${path.join(dir, 'missing.key')}: no such file`,
    ],
    [
      `${ENVIRONMENTS}server: { tls: { certFile: tls.crt, keyFile: tls.key, clientCAFile: layout } }\n`,
      `${file}: server.tls.clientCAFile: ${path.join(dir, 'layout')}: not a regular file`,
    ],
    [
      `${ENVIRONMENTS}registries:\n  local.test: { ociLayout: tls.crt }\n`,
      `${file}: registries["local.test"].ociLayout: ${path.join(dir, 'tls.crt')}: not a directory`,
    ],
    [
      `${ENVIRONMENTS}revocation: { crlDirectory: nope }\n`,
      `${file}: revocation.crlDirectory: ${path.join(dir, 'nope')}: no such directory`,
    ],
  ];
  for (const [text, message] of cases) {
    await writeFile(file, text);
    const error = await t.throwsAsync(loadConfig(file), { instanceOf: VouchError });
    t.is(error?.code, 'INVALID_CONFIG');
    t.is(error?.message, message);
  }
  // checkFiles: false skips the checks.
  await t.notThrowsAsync(loadConfig(file, { checkFiles: false }));
});

test('registryHostConfigs: the client shape, without ociLayout hosts', (t) => {
  const config = parseConfig(
    `${ENVIRONMENTS}registries:\n  "127.0.0.1:5000": { plainHttp: true, username: u, passwordFromEnv: P }\n  ghcr.io: {}\n  offline.test: { ociLayout: dir }\n`,
    '/c/vouch.yaml',
    { env: { P: 'pw' } },
  );
  const hosts = registryHostConfigs(config);
  t.deepEqual({ ...hosts }, { '127.0.0.1:5000': { plainHttp: true, username: 'u', password: 'pw' }, 'ghcr.io': {} });
  t.is(Object.getPrototypeOf(hosts), null);
});

test('hostAllowedPredicate: follows allowedRegistries', (t) => {
  const all = hostAllowedPredicate(parseConfig(ENVIRONMENTS, '/c/vouch.yaml'));
  t.true(all('anything.io'));
  const some = hostAllowedPredicate(parseConfig(`${ENVIRONMENTS}allowedRegistries: ["*.corp.example", docker.io]\n`, '/c/vouch.yaml'));
  t.true(some('registry.corp.example'));
  t.true(some('registry-1.docker.io'));
  t.false(some('ghcr.io'));
});
