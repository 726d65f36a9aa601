// The time builtins vouch adds to OPA's WASM (src/policy/time-builtins.ts): time.parse_rfc3339_ns,
// nanosecond-exact, compiled with the real opa, checked against hand-computed values and, for a
// table of timestamps, against the same Rego evaluated by `opa eval` (OPA's Go implementation).
import test from 'ava';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { loadPolicyBytes, type WasmPolicy } from '../../../src/policy/index.js';
import { parseRfc3339Ns } from '../../../src/policy/time-builtins.js';
import { compilePolicy, type CompiledPolicy } from '../../helpers/policy.js';
import { toolPath } from '../../helpers/registries.js';

const run = promisify(execFile);

// json.marshal turns the number into its exact text inside the policy (JS would round it).
const REGO = `package t

# METADATA
# entrypoint: true
parsed[value] := json.marshal(time.parse_rfc3339_ns(value)) if some value in input

# METADATA
# entrypoint: true
successive if time.parse_rfc3339_ns(input[0]) + 1 == time.parse_rfc3339_ns(input[1])

# METADATA
# entrypoint: true
valid if time.parse_rfc3339_ns(input)
`;

const TIMESTAMPS = [
  '2024-01-02T03:04:05Z',
  '2024-01-02T03:04:05.678Z',
  '2024-01-02T03:04:05.123456789Z',
  '2024-01-02T03:04:05.1234567891Z', // past nine digits: dropped
  '2024-01-02T03:04:05,5Z', // Go's layout parser takes a comma
  '2024-01-02T03:04:05+02:00',
  '2024-01-02T03:04:05.000000001-07:30',
  '2024-01-02T3:04:05Z', // one-digit hour (layout parser)
  '2024-01-02T23:59:59+24:00',
  '2024-02-29T12:00:00Z',
  '2000-02-29T00:00:00Z',
  '1900-02-28T23:59:59.999999999Z',
  '1969-12-31T23:59:59.999999999Z',
  '1970-01-01T00:00:00Z',
  '1960-06-15T08:00:00-05:00',
  '1677-09-21T00:12:43.145224192Z', // int64 minimum
  '2262-04-11T23:47:16.854775807Z', // int64 maximum
  // undefined in OPA (its builtin errors)
  '1677-09-21T00:12:43.145224191Z',
  '2262-04-11T23:47:16.854775808Z',
  '0001-01-01T00:00:00Z',
  '2023-02-29T00:00:00Z',
  '1900-02-29T00:00:00Z',
  '2024-04-31T00:00:00Z',
  '2024-13-01T00:00:00Z',
  '2024-01-02T24:00:00Z',
  '2024-01-02T03:60:00Z',
  '2024-01-02T03:04:60Z',
  '2024-01-02t03:04:05Z',
  '2024-01-02T03:04:05z',
  '2024-01-02 03:04:05Z',
  '2024-01-02T03:04:05',
  '2024-01-02T03:04:05.Z',
  '2024-01-02T03:04:05+0200',
  '2024-01-02T03:04:05+25:00',
  '2024-01-02T03:04:05+02:61',
  '2024-1-02T03:04:05Z',
  '24-01-02T03:04:05Z',
  '2024-01-02',
  '',
];

let compiled: CompiledPolicy;
test.before(async () => {
  compiled = await compilePolicy(REGO);
});
test.after.always(async () => {
  await compiled?.cleanup();
});

async function load(t: { teardown: (fn: () => Promise<void>) => void }): Promise<WasmPolicy> {
  const policy = await loadPolicyBytes(compiled.wasm, 'wasm', { timeoutMs: 10_000 });
  t.teardown(() => policy.close());
  return policy;
}

/** Nanoseconds of a UTC instant given as Date.UTC's fields plus nanoseconds within the second. */
function ns(year: number, month: number, day: number, hour: number, minute: number, second: number, nanos = 0n): bigint {
  return BigInt(Date.UTC(year, month - 1, day, hour, minute, second)) * 1_000_000n + nanos;
}

test('parseRfc3339Ns: exact nanoseconds, offsets, leap years, before 1970', (t) => {
  t.is(parseRfc3339Ns('2024-01-02T03:04:05Z'), ns(2024, 1, 2, 3, 4, 5));
  t.is(parseRfc3339Ns('2024-01-02T03:04:05.123456789Z'), ns(2024, 1, 2, 3, 4, 5, 123_456_789n));
  t.is(parseRfc3339Ns('2024-01-02T03:04:05.5Z'), ns(2024, 1, 2, 3, 4, 5, 500_000_000n));
  t.is(parseRfc3339Ns('2024-01-02T03:04:05+02:00'), ns(2024, 1, 2, 1, 4, 5));
  t.is(parseRfc3339Ns('2024-01-02T03:04:05.000000001-07:30'), ns(2024, 1, 2, 10, 34, 5, 1n));
  t.is(parseRfc3339Ns('2024-02-29T12:00:00Z'), ns(2024, 2, 29, 12, 0, 0));
  t.is(parseRfc3339Ns('2000-02-29T00:00:00Z'), ns(2000, 2, 29, 0, 0, 0));
  t.is(parseRfc3339Ns('1969-12-31T23:59:59.999999999Z'), -1n);
  t.is(parseRfc3339Ns('1960-06-15T08:00:00-05:00'), ns(1960, 6, 15, 13, 0, 0));
  t.is(parseRfc3339Ns('1677-09-21T00:12:43.145224192Z'), -(2n ** 63n));
  t.is(parseRfc3339Ns('2262-04-11T23:47:16.854775807Z'), 2n ** 63n - 1n);
  for (const invalid of ['2023-02-29T00:00:00Z', '1900-02-29T00:00:00Z', '2262-04-11T23:47:16.854775808Z', '2024-01-02T03:04:05', 'x']) {
    t.is(parseRfc3339Ns(invalid), undefined, invalid);
  }
  t.is(parseRfc3339Ns(1704164645), undefined, 'not a string');
});

test('time.parse_rfc3339_ns in WASM: exact beyond 2^53, undefined when OPA errors', async (t) => {
  const policy = await load(t);
  t.true(policy.builtins.includes('time.parse_rfc3339_ns'));
  const value = '2024-01-02T03:04:05.123456789Z';
  const exact = ns(2024, 1, 2, 3, 4, 5, 123_456_789n);
  t.deepEqual(await policy.evaluate('t/parsed', [value]), { [value]: exact.toString() });
  // one nanosecond apart, compared inside the policy (JS numbers could not tell them apart)
  const successive = ['2024-01-02T03:04:05.123456789Z', '2024-01-02T03:04:05.12345679Z'];
  t.is(await policy.evaluate('t/successive', successive), true);
  t.is(await policy.evaluate('t/successive', [successive[0], '2024-01-02T03:04:05.123456791Z']), undefined);
  t.is(await policy.evaluate('t/valid', '2024-02-30T00:00:00Z'), undefined);
  t.is(await policy.evaluate('t/valid', 42), undefined);
});

test('time.parse_rfc3339_ns: WASM and opa eval agree on every timestamp of the table', async (t) => {
  const policy = await load(t);
  const wasm = await policy.evaluate('t/parsed', TIMESTAMPS);
  const inputFile = path.join(compiled.dir, 'timestamps.json');
  await writeFile(inputFile, JSON.stringify(TIMESTAMPS));
  const { stdout } = await run(
    toolPath('opa'),
    ['eval', '--format', 'json', '--input', inputFile, '--data', compiled.regoFile, 'data.t.parsed'],
    {
      timeout: 60_000,
    },
  );
  const opa = (JSON.parse(stdout) as { result: Array<{ expressions: Array<{ value: unknown }> }> }).result[0]!.expressions[0]!.value;
  t.deepEqual(wasm, opa);
  // the table is not vacuous: both sides parse the first 17 and refuse the rest
  t.deepEqual(Object.keys(opa as object).sort(), TIMESTAMPS.slice(0, 17).sort());
  for (const [value, text] of Object.entries(opa as Record<string, string>)) t.is(parseRfc3339Ns(value)?.toString(), text, value);
});
