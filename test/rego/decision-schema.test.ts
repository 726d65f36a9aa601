// docs/decision.md's JSON Schemas against the documented example and the real outputs of the committed WASM.
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { REPO_ROOT } from '../helpers/registries.js';
import { decisionCases } from './decision-cases.js';

const readJson = async (file: string) => JSON.parse(await readFile(join(REPO_ROOT, file), 'utf8')) as Record<string, unknown>;
const ajv = new Ajv2020({ allErrors: true, strict: false });
const inputSchema = ajv.compile(await readJson('docs/decision-input.schema.json'));
const outputSchema = await readJson('docs/decision-output.schema.json');
ajv.addSchema(outputSchema, 'output');
const keysSchema = ajv.getSchema('output#/$defs/keys')!;
const violationsSchema = ajv.getSchema('output#/$defs/violations')!;
const policy = await loadPolicy(await readFile(join(REPO_ROOT, 'wasm', 'policy.wasm')));

function evaluate(input: unknown, entrypoint: string): unknown[] {
  const results = policy.evaluate(input, entrypoint) as Array<{ result: unknown[] }>;
  if (results.length !== 1) throw new Error(`${entrypoint}: ${results.length} results`);
  return results[0]!.result;
}

/** The JSON block after `<!-- decision-example: NAME -->` in docs/decision.md. */
async function example(name: string): Promise<unknown> {
  const doc = await readFile(join(REPO_ROOT, 'docs', 'decision.md'), 'utf8');
  const match = new RegExp(`<!-- decision-example: ${name} -->\\s*\`\`\`json\\n([\\s\\S]*?)\`\`\``).exec(doc);
  if (match === null) throw new Error(`docs/decision.md has no example "${name}"`);
  return JSON.parse(match[1]!);
}

/** Elements as JSON with object keys sorted, in sorted order: sets compared regardless of order. */
const sorted = (values: unknown[]) => values.map(canonical).sort();
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

test('decision schema › the documented example validates and is what the WASM answers', async (t) => {
  const input = await example('input');
  t.true(inputSchema(input), ajv.errorsText(inputSchema.errors));
  const keys = (await example('keys')) as unknown[];
  const violations = (await example('violations')) as unknown[];
  t.true(keysSchema(keys), ajv.errorsText(keysSchema.errors));
  t.true(violationsSchema(violations), ajv.errorsText(violationsSchema.errors));
  t.deepEqual(sorted(evaluate(input, 'vouch/decision/keys')), sorted(keys));
  t.deepEqual(sorted(evaluate(input, 'vouch/decision/violations')), sorted(violations));
});

test('decision schema › real outputs of every decision case validate; well-formed inputs validate, malformed ones do not', (t) => {
  for (const c of decisionCases) {
    const keys = evaluate(c.input, 'vouch/decision/keys');
    const violations = evaluate(c.input, 'vouch/decision/violations');
    t.true(keysSchema(keys), `${c.name}: ${ajv.errorsText(keysSchema.errors)}`);
    t.true(violationsSchema(violations), `${c.name}: ${ajv.errorsText(violationsSchema.errors)}`);
    t.is(inputSchema(c.input), !c.name.startsWith('malformed'), `${c.name}: ${ajv.errorsText(inputSchema.errors)}`);
  }
});
