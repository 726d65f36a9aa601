// Generates docs/vouch.schema.json, the JSON Schema of the configuration file, from the zod schema
// that validates it (src/config/schema.ts; the same document `vouch config schema` prints).
//
//   npx tsx scripts/build-config-schema.ts           # write it
//   npx tsx scripts/build-config-schema.ts --check   # compare instead of writing; exit 1 when stale
//
// Output goes through prettier so that `npm run lint` (prettier --check .) accepts the committed file as it is.
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { configJsonSchema } from '../src/config/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CONFIG_SCHEMA_FILE = join(ROOT, 'docs', 'vouch.schema.json');

/** The file's expected content. */
export async function renderConfigSchema(): Promise<string> {
  const options = (await prettier.resolveConfig(CONFIG_SCHEMA_FILE)) ?? {};
  return prettier.format(JSON.stringify(configJsonSchema(), null, 2), { ...options, filepath: CONFIG_SCHEMA_FILE });
}

async function main(argv: string[]): Promise<number> {
  const expected = await renderConfigSchema();
  if (argv.includes('--check')) {
    const actual = await readFile(CONFIG_SCHEMA_FILE, 'utf8').catch(() => '');
    if (actual === expected) return 0;
    process.stderr.write(`${CONFIG_SCHEMA_FILE} is stale: run npx tsx scripts/build-config-schema.ts\n`);
    return 1;
  }
  await writeFile(CONFIG_SCHEMA_FILE, expected);
  process.stdout.write(`wrote ${CONFIG_SCHEMA_FILE}\n`);
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
