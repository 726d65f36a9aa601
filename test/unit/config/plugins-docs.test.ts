// The `plugins:` examples users copy, from README.md "Plugins: keys in a KMS or HSM" and docs/plugins.md
// "Configuration", are valid configuration as written (next to the minimal rest of a file), with their
// secrets read from the environment: a doc example that drifts from the schema fails here.

import test from 'ava';
import { readFile } from 'node:fs/promises';
import { parseConfig } from '../../../src/config/index.js';

const ROOT = new URL('../../../', import.meta.url);

/** The yaml fenced blocks of `file` that configure plugins. */
async function pluginExamples(file: string): Promise<string[]> {
  const text = await readFile(new URL(file, ROOT), 'utf8');
  return [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((block) => /^plugins:/m.test(block));
}

const REST = `
server:
  requestTimeoutMs: 1500
environments:
  prod:
    trustPolicy: trustpolicy.json
    trustStore: truststore
`;

for (const file of ['README.md', 'docs/plugins.md']) {
  test(`${file}: its plugins examples parse, secrets from the environment`, async (t) => {
    const examples = await pluginExamples(file);
    t.true(examples.length > 0, `${file} shows a plugins: example`);
    for (const example of examples) {
      const config = parseConfig(`${REST}${example}`, '/etc/vouch/config.yaml', { env: { KMS_TOKEN: 'secret-token' } });
      const plugins = config.plugins!;
      t.true(plugins.directory.startsWith('/'));
      t.true(plugins.timeoutMs < config.server.requestTimeoutMs);
      const prod = plugins.config.get('prod');
      t.is(prod?.get('com.example.kms')?.['token'], 'secret-token', 'the fromEnv value is read at load');
      t.true(plugins.secretKeys.get('prod')?.get('com.example.kms')?.has('token') ?? false, 'and known to be a secret');
    }
  });
}
