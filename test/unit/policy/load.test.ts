// Loading policies compiled by the real OPA (.tools/bin/opa): a bare module, a bundle, and Rego
// compiled at load; entrypoints and METADATA annotations; and each way loading fails. Tests that
// change PATH are serial (ava runs a file's other tests concurrently).
import test from 'ava';
import { chmod, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { VouchError } from '../../../src/core/index.js';
import { loadPolicyBytes, loadPolicyFile, type WasmPolicy } from '../../../src/policy/index.js';
import { compilePolicy, writeRego } from '../../helpers/policy.js';
import { toolPath } from '../../helpers/registries.js';

const REGO = `package vouch.envpolicy

# METADATA
# entrypoint: true
# custom:
#   vouch:
#     input: [referrers]
verified if count(input.signatures) >= data.vouch.envpolicy.required

# METADATA
# entrypoint: true
messages contains sprintf("only %d signatures", [count(input.signatures)]) if not verified

helper := 1
`;

const DATA = JSON.stringify({ vouch: { envpolicy: { required: 2 } } });
const LIMITS = { timeoutMs: 10_000 };

function codeOf(t: { true: (value: boolean, message?: string) => void }, error: unknown): { code: string; reason: string } {
  t.true(error instanceof VouchError, String(error));
  const { code, reason } = error as VouchError;
  return { code, reason };
}

async function usePolicy<T>(policy: WasmPolicy, use: (policy: WasmPolicy) => Promise<T>): Promise<T> {
  try {
    return await use(policy);
  } finally {
    await policy.close();
  }
}

test('load: an OPA bundle gives entrypoints, annotations and its data document', async (t) => {
  const compiled = await compilePolicy(REGO, [], { 'data.json': DATA });
  t.teardown(compiled.cleanup);
  for (const policy of [await loadPolicyFile(compiled.bundleFile, LIMITS), await loadPolicyBytes(compiled.bundle, 'bundle', LIMITS)]) {
    await usePolicy(policy, async () => {
      t.deepEqual([...policy.entrypoints].sort(), ['vouch/envpolicy/messages', 'vouch/envpolicy/verified']);
      t.deepEqual(policy.annotations.get('vouch/envpolicy/verified'), { vouch: { input: ['referrers'] } });
      t.false(policy.annotations.has('vouch/envpolicy/messages'));
      t.deepEqual(policy.builtins, ['sprintf']);
      // data.required (2) comes from the bundle's data.json
      t.is(await policy.evaluate('vouch/envpolicy/verified', { signatures: [{}, {}] }), true);
      t.is(await policy.evaluate('vouch/envpolicy/verified', { signatures: [{}] }), undefined);
      t.deepEqual(await policy.evaluate('vouch/envpolicy/messages', { signatures: [{}] }), ['only 1 signatures']);
    });
  }
});

test('load: a bare .wasm module has its entrypoints but no annotations or data', async (t) => {
  const compiled = await compilePolicy(REGO.replace('data.vouch.envpolicy.required', '2'));
  t.teardown(compiled.cleanup);
  const wasmFile = path.join(compiled.dir, 'policy.wasm');
  await writeFile(wasmFile, compiled.wasm);
  for (const policy of [await loadPolicyFile(wasmFile, LIMITS), await loadPolicyBytes(compiled.wasm, 'wasm', LIMITS)]) {
    await usePolicy(policy, async () => {
      t.deepEqual([...policy.entrypoints].sort(), ['vouch/envpolicy/messages', 'vouch/envpolicy/verified']);
      t.is(policy.annotations.size, 0);
      t.is(await policy.evaluate('vouch/envpolicy/verified', { signatures: [1, 2, 3] }), true);
    });
  }
});

test('load: a .rego file is compiled with opa build -t wasm (entrypoints from annotations, or given)', async (t) => {
  const written = await writeRego(REGO.replace('data.vouch.envpolicy.required', '1'));
  t.teardown(written.cleanup);
  const annotated = await loadPolicyFile(written.regoFile, { ...LIMITS, opaPath: toolPath('opa') });
  await usePolicy(annotated, async () => {
    t.deepEqual([...annotated.entrypoints].sort(), ['vouch/envpolicy/messages', 'vouch/envpolicy/verified']);
    t.deepEqual(annotated.annotations.get('vouch/envpolicy/verified'), { vouch: { input: ['referrers'] } });
    t.is(await annotated.evaluate('vouch/envpolicy/verified', { signatures: [{}] }), true);
  });
  const chosen = await loadPolicyFile(written.regoFile, { ...LIMITS, opaPath: toolPath('opa'), entrypoints: ['vouch/envpolicy/helper'] });
  await usePolicy(chosen, async () => {
    t.true(chosen.entrypoints.includes('vouch/envpolicy/helper'));
    t.is(await chosen.evaluate('vouch/envpolicy/helper', undefined), 1);
  });
});

test('load: a Rego syntax or type error is COMPILE_FAILED naming file:line:col', async (t) => {
  const syntax = await writeRego('package p\n\n# METADATA\n# entrypoint: true\nallow if {\n  input.a ==\n}\n');
  t.teardown(syntax.cleanup);
  const error = await t.throwsAsync(loadPolicyFile(syntax.regoFile, { opaPath: toolPath('opa') }));
  t.deepEqual(codeOf(t, error), { code: 'POLICY_ERROR', reason: 'COMPILE_FAILED' });
  t.true(error!.message.includes(`${syntax.regoFile}:7:1: rego_parse_error`), error!.message);

  const unsafe = await writeRego('package p\n\n# METADATA\n# entrypoint: true\nallow if {\n  input.a == y\n}\n');
  t.teardown(unsafe.cleanup);
  const unsafeError = await t.throwsAsync(loadPolicyFile(unsafe.regoFile, { opaPath: toolPath('opa') }));
  t.deepEqual(codeOf(t, unsafeError), { code: 'POLICY_ERROR', reason: 'COMPILE_FAILED' });
  t.true(unsafeError!.message.includes(`${unsafe.regoFile}:6:3: rego_unsafe_var_error`), unsafeError!.message);
});

test('load: Rego without entrypoints, or naming one that does not exist, is COMPILE_FAILED', async (t) => {
  const written = await writeRego('package p\n\nallow := true\n');
  t.teardown(written.cleanup);
  const none = await t.throwsAsync(loadPolicyFile(written.regoFile, { opaPath: toolPath('opa') }));
  t.deepEqual(codeOf(t, none), { code: 'POLICY_ERROR', reason: 'COMPILE_FAILED' });
  t.regex(none!.message, /entrypoint/);
  const missing = await t.throwsAsync(loadPolicyFile(written.regoFile, { opaPath: toolPath('opa'), entrypoints: ['p/nope'] }));
  t.deepEqual(codeOf(t, missing), { code: 'POLICY_ERROR', reason: 'COMPILE_FAILED' });
  t.regex(missing!.message, /p\/nope/);
});

test.serial('load: Rego without opa is COMPILE_FAILED with a hint', async (t) => {
  const written = await writeRego(REGO);
  t.teardown(written.cleanup);
  const absent = await t.throwsAsync(loadPolicyFile(written.regoFile, { opaPath: path.join(written.dir, 'no-opa-here') }));
  t.deepEqual(codeOf(t, absent), { code: 'POLICY_ERROR', reason: 'COMPILE_FAILED' });
  t.regex(absent!.message, /opa build -t wasm/);

  // and the PATH lookup: a PATH holding only an empty directory finds no opa
  const savedPath = process.env['PATH'];
  process.env['PATH'] = written.dir;
  try {
    const unset = await t.throwsAsync(loadPolicyFile(written.regoFile));
    t.deepEqual(codeOf(t, unset), { code: 'POLICY_ERROR', reason: 'COMPILE_FAILED' });
    t.regex(unset!.message, /not on the PATH/);
  } finally {
    process.env['PATH'] = savedPath;
  }
});

test.serial('load: the opa found on the PATH compiles Rego', async (t) => {
  const written = await writeRego(REGO.replace('data.vouch.envpolicy.required', '1'));
  t.teardown(written.cleanup);
  // a PATH with just an `opa` that is the real one (through a wrapper script)
  await writeFile(path.join(written.dir, 'opa'), `#!/bin/sh\nexec ${JSON.stringify(toolPath('opa'))} "$@"\n`);
  await chmod(path.join(written.dir, 'opa'), 0o755);
  const savedPath = process.env['PATH'];
  process.env['PATH'] = written.dir;
  let policy: WasmPolicy;
  try {
    policy = await loadPolicyFile(written.regoFile, LIMITS);
  } finally {
    process.env['PATH'] = savedPath;
  }
  await usePolicy(policy, async () => t.is(await policy.evaluate('vouch/envpolicy/verified', { signatures: [{}] }), true));
});

test('load: a module calling a builtin no host provides is LOAD_FAILED naming it', async (t) => {
  const compiled = await compilePolicy('package p\n\n# METADATA\n# entrypoint: true\nencoded := hex.encode(input.s)\n');
  t.teardown(compiled.cleanup);
  const error = await t.throwsAsync(loadPolicyBytes(compiled.wasm, 'wasm', LIMITS));
  t.deepEqual(codeOf(t, error), { code: 'POLICY_ERROR', reason: 'LOAD_FAILED' });
  t.regex(error!.message, /hex\.encode/);
});

test('load: what is not a module or a bundle is LOAD_FAILED', async (t) => {
  const written = await writeRego(REGO);
  t.teardown(written.cleanup);
  const cases: Array<[string, Promise<WasmPolicy>]> = [
    ['garbage wasm', loadPolicyBytes(new TextEncoder().encode('not wasm'), 'wasm')],
    ['garbage bundle', loadPolicyBytes(new TextEncoder().encode('not gzip'), 'bundle')],
    ['missing file', loadPolicyFile(path.join(written.dir, 'absent.wasm'))],
    ['unknown kind', loadPolicyFile(path.join(written.dir, 'policy.json'))],
  ];
  for (const [name, loading] of cases) {
    const error = await t.throwsAsync(loading, undefined, name);
    t.deepEqual(codeOf(t, error), { code: 'POLICY_ERROR', reason: 'LOAD_FAILED' }, name);
  }
});
