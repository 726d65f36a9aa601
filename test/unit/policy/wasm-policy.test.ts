// Evaluating compiled policies (the real opa compiles them at test time): values, the injected
// clock behind time.now_ns, and the limits: timeout, traps, memory ceiling, bad input, aborts, close.
import test from 'ava';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VouchError } from '../../../src/core/index.js';
import { loadPolicyBytes, type LoadPolicyOptions, type WasmPolicy } from '../../../src/policy/index.js';
import { compilePolicy, type CompiledPolicy } from '../../helpers/policy.js';

const REGO = `package t

# METADATA
# entrypoint: true
echo := input

# METADATA
# entrypoint: true
times := [time.now_ns(), time.now_ns()]

# METADATA
# entrypoint: true
allow if input.user == "alice"

# METADATA
# entrypoint: true
conflict := 1 if input.a

conflict := 2 if input.b

range := numbers.range(1, 3000)

# METADATA
# entrypoint: true
slow if {
	some a in range
	some b in range
	some c in range
	a > b
	b > c
	c > a
}

# METADATA
# entrypoint: true
big := count([x | some x in numbers.range(1, 200000)])
`;

let compiled: CompiledPolicy;

test.before(async () => {
  compiled = await compilePolicy(REGO);
});

test.after.always(async () => {
  await compiled?.cleanup();
});

async function load(t: { teardown: (fn: () => Promise<void>) => void }, options: LoadPolicyOptions = {}): Promise<WasmPolicy> {
  const policy = await loadPolicyBytes(compiled.wasm, 'wasm', { timeoutMs: 10_000, ...options });
  t.teardown(() => policy.close());
  return policy;
}

function codeOf(error: unknown): { code: string; reason: string } | string {
  return error instanceof VouchError ? { code: error.code, reason: error.reason } : String(error);
}

test('evaluate: the entrypoint value, or undefined when the rule is undefined', async (t) => {
  const policy = await load(t);
  t.deepEqual(await policy.evaluate('t/echo', { a: [1, 'x', null, { b: true }] }), { a: [1, 'x', null, { b: true }] });
  t.is(await policy.evaluate('t/allow', { user: 'alice' }), true);
  t.is(await policy.evaluate('t/allow', { user: 'bob' }), undefined);
  t.is(await policy.evaluate('t/echo', undefined), undefined, 'no input: input is undefined');
  t.deepEqual(
    await Promise.all([1, 2, 3].map((n) => policy.evaluate('t/echo', n))),
    [1, 2, 3],
    'concurrent calls each get their own answer',
  );
});

test('evaluate: time.now_ns is the injected clock, one reading per evaluation', async (t) => {
  const readings = [Date.UTC(2024, 0, 2, 3, 4, 5, 678), Date.UTC(2030, 5, 1)];
  let calls = 0;
  const policy = await load(t, { clock: () => new Date(readings[calls++ % readings.length]!) });
  t.deepEqual(await policy.evaluate('t/times', {}), [1704164645678000000, 1704164645678000000]);
  t.deepEqual(await policy.evaluate('t/times', {}), [Date.UTC(2030, 5, 1) * 1e6, Date.UTC(2030, 5, 1) * 1e6]);
  t.is(calls, 2);
});

test('evaluate: a policy that runs too long is TIMEOUT, and the next evaluation works', async (t) => {
  const policy = await load(t, { timeoutMs: 300 });
  const started = Date.now();
  t.deepEqual(codeOf(await t.throwsAsync(policy.evaluate('t/slow', {}))), { code: 'POLICY_ERROR', reason: 'TIMEOUT' });
  t.true(Date.now() - started < 5_000, 'rejected at the timeout, not when the loop ends');
  // a new worker, started for this call, answers
  t.is(await policy.evaluate('t/allow', { user: 'alice' }), true);
});

test('evaluate: an OPA abort (conflicting rule values) is TRAP, and the next evaluation works', async (t) => {
  const policy = await load(t);
  const error = await t.throwsAsync(policy.evaluate('t/conflict', { a: true, b: true }));
  t.deepEqual(codeOf(error), { code: 'POLICY_ERROR', reason: 'TRAP' });
  t.regex(error!.message, /policy\.rego:\d+:\d+: var assignment conflict/);
  t.is(await policy.evaluate('t/conflict', { a: true }), 1);
});

test('evaluate: running out of the memory ceiling is TRAP, and the next evaluation works', async (t) => {
  const policy = await load(t, { maxMemoryPages: 64 });
  t.deepEqual(codeOf(await t.throwsAsync(policy.evaluate('t/big', {}))), { code: 'POLICY_ERROR', reason: 'TRAP' });
  t.is(await policy.evaluate('t/allow', { user: 'alice' }), true);
  // the same computation fits under a higher ceiling
  const roomy = await load(t, { maxMemoryPages: 8192 });
  t.is(await roomy.evaluate('t/big', {}), 200000);
});

test('evaluate: input JSON cannot carry, or too large, is BAD_INPUT without reaching the worker', async (t) => {
  const policy = await load(t, { maxInputBytes: 1024 });
  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  for (const [name, input] of [
    ['cycle', cyclic],
    ['bigint', { n: 1n }],
    ['too large', { s: 'x'.repeat(2000) }],
    ['too large in UTF-8', { s: '€'.repeat(400) }],
    ['a function', () => 1],
  ] as Array<[string, unknown]>) {
    t.deepEqual(codeOf(await t.throwsAsync(policy.evaluate('t/echo', input))), { code: 'POLICY_ERROR', reason: 'BAD_INPUT' }, name);
  }
  t.deepEqual(await policy.evaluate('t/echo', { s: 'x'.repeat(900) }), { s: 'x'.repeat(900) });
});

test('evaluate: an entrypoint the module lacks is an error', async (t) => {
  const policy = await load(t);
  t.deepEqual(codeOf(await t.throwsAsync(policy.evaluate('t/nope', {}))), { code: 'POLICY_ERROR', reason: 'NOT_FOUND' });
});

test('evaluate: an aborted signal rejects with its reason and stops a running evaluation', async (t) => {
  const policy = await load(t, { timeoutMs: 60_000 });
  const deadline = new VouchError('DEADLINE_EXCEEDED', 'budget spent', { reason: 'ABORTED' });
  const controller = new AbortController();
  const running = policy.evaluate('t/slow', {}, { signal: controller.signal });
  const queued = policy.evaluate('t/echo', 1, { signal: controller.signal });
  setTimeout(() => controller.abort(deadline), 200);
  t.is(await t.throwsAsync(running), deadline);
  t.is(await t.throwsAsync(queued), deadline);
  t.is(await t.throwsAsync(policy.evaluate('t/echo', 1, { signal: controller.signal })), deadline);
  t.is(await policy.evaluate('t/echo', 2), 2);
});

test('close: ends the worker; evaluations after it reject', async (t) => {
  const policy = await load(t);
  const pending = policy.evaluate('t/slow', {});
  await policy.close();
  t.deepEqual(codeOf(await t.throwsAsync(pending)), { code: 'POLICY_ERROR', reason: 'LOAD_FAILED' });
  t.deepEqual(codeOf(await t.throwsAsync(policy.evaluate('t/echo', 1))), { code: 'POLICY_ERROR', reason: 'LOAD_FAILED' });
  await policy.close(); // twice is fine
});

// A process that loads a policy and returns from main must exit on its own: with close(), and
// also when the caller forgets it (an idle worker is unref'd).
for (const closes of [true, false]) {
  test(`close: a process using a policy exits by itself (${closes ? 'closed' : 'not closed'})`, async (t) => {
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const script = `
      import { readFile } from 'node:fs/promises';
      import { loadPolicyBytes } from ${JSON.stringify(path.join(root, 'src/policy/index.ts'))};
      const policy = await loadPolicyBytes(await readFile(${JSON.stringify(path.join(compiled.dir, 'policy.wasm'))}), 'wasm', { timeoutMs: 10000 });
      console.log(JSON.stringify(await policy.evaluate('t/allow', { user: 'alice' })));
      ${closes ? 'await policy.close();' : ''}
    `;
    await writeFile(path.join(compiled.dir, 'policy.wasm'), compiled.wasm);
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--import=tsx', '--input-type=module', '-e', script],
        { cwd: root, timeout: 60_000, env: { ...process.env, VOUCH_LOG_LEVEL: 'silent' } },
        (error, stdout, stderr) => resolve({ code: error === null ? 0 : (child.exitCode ?? -1), stdout, stderr }),
      );
    });
    t.is(result.code, 0, result.stderr);
    t.is(result.stdout.trim(), 'true');
  });
}
