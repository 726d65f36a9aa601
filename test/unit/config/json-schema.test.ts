// The JSON Schema of the configuration file (`vouch config schema`, docs/vouch.schema.json): current,
// accepted by a real draft 2020-12 validator, and in agreement with parseConfig on the example
// configurations of the repository and on typical mistakes.

import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { writeDemoContent } from '../../../src/cli/demo-content.js';
import { ConfigError, configJsonSchema, parseConfig } from '../../../src/config/index.js';
import { CONFIG_SCHEMA_FILE, renderConfigSchema } from '../../../scripts/build-config-schema.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

const validate = new Ajv2020({ allErrors: true, strict: true }).compile(configJsonSchema());

/** The yaml code blocks of a Markdown file that are vouch configurations (they have `environments:`). */
async function markdownConfigs(file: string): Promise<string[]> {
  const text = await readFile(path.join(ROOT, file), 'utf8');
  return [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((block) => /^environments:/m.test(block));
}

async function exampleConfigs(): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for (const file of ['README.md', 'docs/configuration.md']) {
    (await markdownConfigs(file)).forEach((text, i) => out.push([`${file} #${i + 1}`, text]));
  }
  const configMaps = parseAllDocuments(await readFile(path.join(ROOT, 'deploy/base/configmap.yaml'), 'utf8'));
  for (const doc of configMaps) {
    const data = (doc.toJS() as { data?: Record<string, string> } | null)?.data;
    if (data?.['config.yaml'] !== undefined) out.push(['deploy/base/configmap.yaml config.yaml', data['config.yaml']]);
  }
  const overlay = 'deploy/overlays/example/config.yaml';
  out.push([overlay, await readFile(path.join(ROOT, overlay), 'utf8')]);
  return out;
}

test('json schema: docs/vouch.schema.json is current (npx tsx scripts/build-config-schema.ts)', async (t) => {
  t.is(await readFile(CONFIG_SCHEMA_FILE, 'utf8'), await renderConfigSchema());
});

test('json schema: draft 2020-12, every key described, defaults where the schema has them', (t) => {
  const schema = configJsonSchema() as { $schema: string; properties: Record<string, { description?: string }> };
  t.is(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  const undescribed: string[] = [];
  const walk = (node: unknown, at: string): void => {
    if (typeof node !== 'object' || node === null) return;
    const { properties, additionalProperties, items } = node as Record<string, unknown>;
    for (const [key, value] of Object.entries((properties as Record<string, unknown>) ?? {})) {
      if ((value as { description?: unknown }).description === undefined) undescribed.push(`${at}${key}`);
      walk(value, `${at}${key}.`);
    }
    walk(additionalProperties, `${at}*.`);
    walk(items, `${at}[].`);
  };
  walk(schema, '');
  t.deepEqual(undescribed, []);
  const server = schema.properties['server'] as { properties: Record<string, { default?: unknown }> };
  t.is(server.properties['address']?.default, '127.0.0.1:8443');
  t.is(server.properties['requestTimeoutMs']?.default, 1500);
  const cache = schema.properties['cache'] as { properties: Record<string, { default?: unknown }> };
  t.is(cache.properties['maxEntries']?.default, 10_000);
  t.is(cache.properties['tagTtlMs']?.default, 10_000);
});

test('json schema: every example configuration of the repository validates, and parses', async (t) => {
  const examples = await exampleConfigs();
  t.true(examples.length >= 3, `found: ${examples.map(([name]) => name).join(', ')}`);
  for (const [name, text] of examples) {
    t.true(validate(parseYaml(text)), `${name}: ${JSON.stringify(validate.errors)}`);
    t.notThrows(
      () => parseConfig(text, path.join(ROOT, 'deploy', 'config.yaml'), { env: { REGISTRY_PASSWORD: 'x', KMS_TOKEN: 'x' } }),
      name,
    );
  }
});

test('json schema: the demo configuration validates', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'vouch-schema-demo-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { configFile } = await writeDemoContent(dir);
  t.true(validate(parseYaml(await readFile(configFile, 'utf8'))), JSON.stringify(validate.errors));
});

const MINIMAL = 'environments:\n  prod: { trustPolicy: tp.json, trustStore: store }\n';

const bad: Array<[string, string]> = [
  ['unknown top-level key', `${MINIMAL}serverr: {}\n`],
  ['unknown nested key', `${MINIMAL}server: { adress: "127.0.0.1:1" }\n`],
  ['unknown registry key', `${MINIMAL}registries:\n  ghcr.io: { plainHTTP: true }\n`],
  ['wrong type', `${MINIMAL}server: { requestTimeoutMs: "2900" }\n`],
  ['wrong type (boolean)', `${MINIMAL}revocation: { offline: "false" }\n`],
  ['out of range', `${MINIMAL}server: { requestTimeoutMs: 0 }\n`],
  ['out of range (limits)', `${MINIMAL}limits: { concurrencyPerRegistry: 257 }\n`],
  ['not an integer', `${MINIMAL}cache: { maxEntries: 1.5 }\n`],
  ['enum', `${MINIMAL}revocation: { timestampRevocation: ignore }\n`],
  ['environments missing', 'server: {}\n'],
  ['no environment', 'environments: {}\n'],
  ['bad environment name', 'environments:\n  Prod: { trustPolicy: a, trustStore: b }\n'],
  ['trustStore missing', 'environments:\n  prod: { trustPolicy: a }\n'],
  ['empty path', 'environments:\n  prod: { trustPolicy: "", trustStore: b }\n'],
  ['empty allow list', `${MINIMAL}allowedRegistries: []\n`],
  ['key without value', `${MINIMAL}server:\n  grpcAddress:\n`],
  ['neither a Notary nor a cosign part', 'environments:\n  prod: { policy: p.rego }\n'],
  ['trustPolicy without trustStore next to cosign', 'environments:\n  prod: { trustPolicy: a, cosign: { keys: [k.pub] } }\n'],
  ['cosign without keys or identities', 'environments:\n  prod: { cosign: { requireTlog: false } }\n'],
  ['cosign identities without trustedRoot', 'environments:\n  prod: { cosign: { identities: [{ subject: a, issuer: b }] } }\n'],
  [
    'cosign identity with subject and subjectRegExp',
    'environments:\n  prod: { cosign: { trustedRoot: r.json, identities: [{ subject: a, subjectRegExp: a, issuer: b }] } }\n',
  ],
  ['plugins without directory', `${MINIMAL}plugins: { timeoutMs: 100 }\n`],
  ['an unknown plugins key', `${MINIMAL}plugins: { directory: p, timeout: 100 }\n`],
  ['plugins.maxOutputBytes out of range', `${MINIMAL}plugins: { directory: p, maxOutputBytes: 1024 }\n`],
  ['a plugin name that is a path', `${MINIMAL}plugins: { directory: p, config: { prod: { ../x: { a: b } } } }\n`],
  ['a plugin configuration value that is a number', `${MINIMAL}plugins: { directory: p, config: { prod: { x: { port: 443 } } } }\n`],
  ['a plugin secret with an unknown key', `${MINIMAL}plugins: { directory: p, config: { prod: { x: { t: { fromEnv: T, x: 1 } } } } }\n`],
];

for (const [what, text] of bad) {
  test(`json schema: refuses a configuration with ${what}, as parseConfig does`, (t) => {
    t.false(validate(parseYaml(text)));
    t.throws(() => parseConfig(text, '/etc/vouch/config.yaml', { env: {} }), { instanceOf: ConfigError });
  });
}
