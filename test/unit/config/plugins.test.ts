// `plugins:` (extension): where Notary Project plugins are installed, the bounds their processes run
// under, and the plugin configuration per environment, secrets read from the environment at load and
// never echoed. Issues are asserted by code and path (ConfigError.issues), messages only where they
// must name something (the other key, the variable).

import test from 'ava';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { VouchError } from '../../../src/core/index.js';
import {
  ConfigError,
  DEFAULT_PLUGINS,
  defaultPluginTimeoutMs,
  loadConfig,
  parseConfig,
  redactPluginConfig,
  type ConfigIssueCode,
} from '../../../src/config/index.js';

const FILE = '/etc/vouch/config.yaml';
const ENVIRONMENTS = `
defaultEnvironment: prod
environments:
  prod:
    trustPolicy: trustpolicy.json
    trustStore: truststore
  staging:
    trustPolicy: trustpolicy.json
    trustStore: truststore
`;

const FULL = `${ENVIRONMENTS}
server:
  requestTimeoutMs: 5000
plugins:
  directory: plugins
  timeoutMs: 2000
  maxConcurrent: 8
  maxOutputBytes: 65536
  metadataTtlMs: 1000
  passEnvironment: [AWS_REGION, AWS_WEB_IDENTITY_TOKEN_FILE, AWS_REGION]
  config:
    prod:
      vouch-test:
        region: eu-west-1
        token: { fromEnv: KMS_TOKEN }
    staging:
      vouch-test:
        region: eu-central-1
      other.plugin_2: {}
`;

function issuesOf(t: import('ava').ExecutionContext, text: string, env: Record<string, string> = {}): ConfigError['issues'] {
  const error = t.throws(() => parseConfig(text, FILE, { env }), { instanceOf: ConfigError });
  t.is(error?.code, 'INVALID_CONFIG');
  t.is(error?.reason, 'BAD_CONTENT');
  return error?.issues ?? [];
}

/** The one issue at `at` has code `code` (and, when given, a message matching `what`). */
function rejects(t: import('ava').ExecutionContext, text: string, at: string, code: ConfigIssueCode, what?: RegExp): void {
  const issues = issuesOf(t, text);
  const found = issues.filter((i) => i.path.join('/') === at);
  t.is(found.length, 1, `expected one issue at ${at}, got: ${JSON.stringify(issues)}`);
  t.is(found[0]?.code, code);
  t.true(found[0]?.line !== undefined, 'the issue has a position');
  if (what !== undefined) t.regex(found[0]?.message ?? '', what);
}

const withPlugins = (section: string, server = ''): string => `${ENVIRONMENTS}${server}plugins:\n${section}`;

test('plugins: undefined when the section is absent', (t) => {
  t.is(parseConfig(ENVIRONMENTS, FILE, { env: {} }).plugins, undefined);
});

test('plugins: every key, the directory absolute, secrets read, duplicates in passEnvironment dropped', (t) => {
  const config = parseConfig(FULL, FILE, { env: { KMS_TOKEN: 's3cret-token' } });
  const plugins = config.plugins!;
  t.is(plugins.directory, '/etc/vouch/plugins');
  t.is(plugins.timeoutMs, 2000);
  t.is(plugins.maxConcurrent, 8);
  t.is(plugins.maxOutputBytes, 65536);
  t.is(plugins.metadataTtlMs, 1000);
  t.deepEqual(plugins.passEnvironment, ['AWS_REGION', 'AWS_WEB_IDENTITY_TOKEN_FILE']);
  t.deepEqual([...plugins.config.keys()], ['prod', 'staging']);
  t.deepEqual(plugins.config.get('prod')?.get('vouch-test'), { region: 'eu-west-1', token: 's3cret-token' });
  t.deepEqual(plugins.config.get('staging')?.get('vouch-test'), { region: 'eu-central-1' });
  t.deepEqual(plugins.config.get('staging')?.get('other.plugin_2'), {});
  t.deepEqual(plugins.secretKeys.get('prod')?.get('vouch-test'), new Set(['token']));
  t.is(plugins.secretKeys.get('staging'), undefined);
  t.true(Object.isFrozen(plugins.config.get('prod')?.get('vouch-test')));
  t.deepEqual(redactPluginConfig(plugins, 'prod', 'vouch-test'), { region: 'eu-west-1', token: '(secret)' });
  t.deepEqual(redactPluginConfig(plugins, 'staging', 'vouch-test'), { region: 'eu-central-1' });
  t.deepEqual(redactPluginConfig(plugins, 'prod', 'absent'), {});
});

test("plugins: defaults; timeoutMs is the plugin host's default (1 s) when below server.requestTimeoutMs, else half of it", (t) => {
  const plugins = parseConfig(withPlugins('  directory: /opt/notation/plugins\n'), FILE, { env: {} }).plugins!;
  t.deepEqual(
    { ...plugins, config: [...plugins.config], secretKeys: [...plugins.secretKeys] },
    {
      directory: '/opt/notation/plugins',
      timeoutMs: 1000, // below the default requestTimeoutMs, 1500
      maxConcurrent: DEFAULT_PLUGINS.maxConcurrent,
      maxOutputBytes: DEFAULT_PLUGINS.maxOutputBytes,
      metadataTtlMs: DEFAULT_PLUGINS.metadataTtlMs,
      passEnvironment: [],
      config: [],
      secretKeys: [],
    },
  );
  const slow = parseConfig(withPlugins('  directory: p\n', 'server: { requestTimeoutMs: 10000 }\n'), FILE, { env: {} });
  t.is(slow.plugins?.timeoutMs, DEFAULT_PLUGINS.timeoutMs);
  const tight = parseConfig(withPlugins('  directory: p\n', 'server: { requestTimeoutMs: 800 }\n'), FILE, { env: {} });
  t.is(tight.plugins?.timeoutMs, 400);
  t.is(DEFAULT_PLUGINS.timeoutMs, 1000);
  t.is(defaultPluginTimeoutMs(1), 1);
  t.is(defaultPluginTimeoutMs(1000), 500);
  t.is(defaultPluginTimeoutMs(1001), 1000);
  t.is(defaultPluginTimeoutMs(60_000), 1000);
});

test('plugins: a plugin configuration key "__proto__" is refused, not silently dropped', (t) => {
  rejects(
    t,
    withPlugins('  directory: p\n  config:\n    prod:\n      x:\n        __proto__: a\n'),
    'plugins/config/prod/x/__proto__',
    'invalid_value',
  );
  const issues = issuesOf(t, withPlugins('  directory: p\n  bogus: 1\n  config:\n    prod:\n      x:\n        __proto__: a\n'));
  t.deepEqual(
    issues.map((i) => i.path.join('/')),
    ['plugins/bogus', 'plugins/config/prod/x/__proto__'],
    'reported with the other issues, in file order',
  );
});

test('plugins: directory is required in the section, and not empty', (t) => {
  rejects(t, withPlugins('  timeoutMs: 100\n'), 'plugins/directory', 'missing_key', /required key is missing/);
  rejects(t, withPlugins('  directory: ""\n'), 'plugins/directory', 'invalid_value');
  rejects(t, `${ENVIRONMENTS}plugins:\n`, 'plugins', 'no_value');
  rejects(t, `${ENVIRONMENTS}plugins: [a]\n`, 'plugins', 'wrong_type');
});

test('plugins: each bound, and integers only', (t) => {
  const server = 'server: { requestTimeoutMs: 60000 }\n';
  for (const [key, value, code] of [
    ['timeoutMs', '0', 'out_of_range'],
    ['timeoutMs', '60001', 'out_of_range'],
    ['timeoutMs', '1.5', 'wrong_type'],
    ['maxConcurrent', '0', 'out_of_range'],
    ['maxConcurrent', '257', 'out_of_range'],
    ['maxOutputBytes', '4095', 'out_of_range'],
    ['maxOutputBytes', String(64 * 1024 * 1024 + 1), 'out_of_range'],
    ['metadataTtlMs', '-1', 'out_of_range'],
    ['metadataTtlMs', '"60000"', 'wrong_type'],
    ['passEnvironment', 'AWS_REGION', 'wrong_type'],
  ] as const) {
    rejects(t, withPlugins(`  directory: p\n  ${key}: ${value}\n`, server), `plugins/${key}`, code);
  }
  for (const [key, value] of [
    ['timeoutMs', '1'],
    ['maxConcurrent', '256'],
    ['maxOutputBytes', '4096'],
    ['maxOutputBytes', String(64 * 1024 * 1024)],
    ['metadataTtlMs', '0'],
  ] as const) {
    t.notThrows(() => parseConfig(withPlugins(`  directory: p\n  ${key}: ${value}\n`, server), FILE, { env: {} }), `${key}: ${value}`);
  }
});

test('plugins: passEnvironment names variables, at most 256', (t) => {
  rejects(t, withPlugins('  directory: p\n  passEnvironment: [AWS_REGION, "A-B"]\n'), 'plugins/passEnvironment/1', 'invalid_value');
  rejects(t, withPlugins('  directory: p\n  passEnvironment: [1]\n'), 'plugins/passEnvironment/0', 'wrong_type');
  const many = Array.from({ length: 257 }, (_, i) => `V${i}`).join(', ');
  rejects(t, withPlugins(`  directory: p\n  passEnvironment: [${many}]\n`), 'plugins/passEnvironment', 'invalid_value');
});

test('plugins: timeoutMs must be less than server.requestTimeoutMs, naming both', (t) => {
  rejects(t, withPlugins('  directory: p\n  timeoutMs: 1500\n'), 'plugins/timeoutMs', 'invalid_value', /server\.requestTimeoutMs \(1500\)/);
  rejects(
    t,
    withPlugins('  directory: p\n  timeoutMs: 3000\n', 'server: { requestTimeoutMs: 2000 }\n'),
    'plugins/timeoutMs',
    'invalid_value',
    /less than server\.requestTimeoutMs \(2000\)/,
  );
  t.is(
    parseConfig(withPlugins('  directory: p\n  timeoutMs: 1499\n'), FILE, { env: {} }).plugins?.timeoutMs,
    1499,
    'one below the request budget is accepted',
  );
});

test('plugins: unknown keys are errors with their path, and a suggestion', (t) => {
  rejects(t, withPlugins('  directory: p\n  timeoutMS: 100\n'), 'plugins/timeoutMS', 'unknown_key', /did you mean timeoutMs\?/);
  rejects(
    t,
    withPlugins('  directory: p\n  config:\n    prod:\n      x:\n        token: { fromEnv: T, fromFile: f }\n'),
    'plugins/config/prod/x/token/fromFile',
    'unknown_key',
    /known keys here: fromEnv/,
  );
  rejects(
    t,
    withPlugins('  directory: p\n  config:\n    prod:\n      x:\n        token: { fromenv: T }\n'),
    'plugins/config/prod/x/token/fromenv',
    'unknown_key',
    /did you mean fromEnv\?/,
  );
});

test('plugins: config names configured environments only', (t) => {
  rejects(
    t,
    withPlugins('  directory: p\n  config:\n    dev:\n      x: { a: b }\n'),
    'plugins/config/dev',
    'invalid_value',
    /"dev" is not a configured environment \(configured: prod, staging\)/,
  );
  rejects(t, withPlugins('  directory: p\n  config:\n    Prod:\n      x: { a: b }\n'), 'plugins/config/Prod', 'invalid_value');
});

test('plugins: plugin names and configuration keys', (t) => {
  for (const name of ['../escape', '.hidden', 'a/b', '-x', 'x'.repeat(129), 'with space']) {
    rejects(
      t,
      withPlugins(`  directory: p\n  config:\n    prod:\n      ${JSON.stringify(name)}: { a: b }\n`),
      `plugins/config/prod/${name}`,
      'invalid_value',
    );
  }
  for (const key of ['a=b', '', 'tab\there', 'k'.repeat(257)]) {
    rejects(
      t,
      withPlugins(`  directory: p\n  config:\n    prod:\n      x:\n        ${JSON.stringify(key)}: v\n`),
      `plugins/config/prod/x/${key}`,
      'invalid_value',
    );
  }
  rejects(t, withPlugins('  directory: p\n  config:\n    prod: [x]\n'), 'plugins/config/prod', 'wrong_type');
  rejects(t, withPlugins('  directory: p\n  config:\n    prod:\n      x: value\n'), 'plugins/config/prod/x', 'wrong_type');
});

test('plugins: values are strings or { fromEnv }; a wrong one is described by type only', (t) => {
  for (const [value, code] of [
    ['443', 'wrong_type'],
    ['true', 'wrong_type'],
    ['[hunter2]', 'wrong_type'],
    ['', 'no_value'],
  ] as const) {
    const text = withPlugins(`  directory: p\n  config:\n    prod:\n      x:\n        token: ${value}\n`);
    rejects(t, text, 'plugins/config/prod/x/token', code);
    const error = t.throws(() => parseConfig(text, FILE, { env: {} }), { instanceOf: ConfigError });
    if (value === '443') t.regex(error?.message ?? '', /got a number$/m);
    if (value === '[hunter2]') t.false(error?.message.includes('hunter2'));
  }
  rejects(
    t,
    withPlugins('  directory: p\n  config:\n    prod:\n      x:\n        token: {}\n'),
    'plugins/config/prod/x/token/fromEnv',
    'missing_key',
  );
  rejects(
    t,
    withPlugins('  directory: p\n  config:\n    prod:\n      x:\n        token: { fromEnv: "NOT-A-NAME" }\n'),
    'plugins/config/prod/x/token/fromEnv',
    'invalid_value',
  );
});

test('plugins: a fromEnv variable unset or empty is an error naming its path and variable, never a value', (t) => {
  const text = withPlugins(
    '  directory: p\n  config:\n    prod:\n      x:\n        token: { fromEnv: KMS_TOKEN }\n        other: { fromEnv: OTHER_SECRET }\n',
  );
  for (const env of [{}, { KMS_TOKEN: '' }] as Array<Record<string, string>>) {
    const issues = issuesOf(t, text, { ...env, OTHER_SECRET: 'do-not-print-me' });
    t.deepEqual(
      issues.map((i) => [i.code, i.path.join('/')]),
      [['invalid_value', 'plugins/config/prod/x/token/fromEnv']],
    );
    t.regex(issues[0]?.message ?? '', /KMS_TOKEN is not set/);
  }
  const error = t.throws(() => parseConfig(text, FILE, { env: { OTHER_SECRET: 'do-not-print-me' } }), { instanceOf: VouchError });
  t.false(error?.message.includes('do-not-print-me'));
  const ok = parseConfig(text, FILE, { env: { KMS_TOKEN: 'k', OTHER_SECRET: 'o' } });
  t.deepEqual(ok.plugins?.config.get('prod')?.get('x'), { token: 'k', other: 'o' });
  t.deepEqual(ok.plugins?.secretKeys.get('prod')?.get('x'), new Set(['token', 'other']));
});

test('plugins: loadConfig checks that the directory exists and is one', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'vouch-plugins-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'vouch.yaml');
  const text = 'environments:\n  prod: { cosign: { keys: [k.pub] } }\nplugins:\n  directory: plugins\n';
  await writeFile(file, text);
  await writeFile(path.join(dir, 'k.pub'), '');
  const missing = await t.throwsAsync(loadConfig(file, { env: {} }), { instanceOf: VouchError });
  t.like(missing, { code: 'INVALID_CONFIG', reason: 'NOT_FOUND' });
  t.regex(missing?.message ?? '', /plugins\.directory/);
  await writeFile(path.join(dir, 'plugins'), '');
  t.like(await t.throwsAsync(loadConfig(file, { env: {} })), { code: 'INVALID_CONFIG', reason: 'BAD_CONTENT' });
  await rm(path.join(dir, 'plugins'));
  await mkdir(path.join(dir, 'plugins'));
  t.is((await loadConfig(file, { env: {} })).plugins?.directory, path.join(dir, 'plugins'));
});
