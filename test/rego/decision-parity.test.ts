// The compiled shared decision (docs/decision.md): the committed artifacts are current (scripts/build-wasm.ts
// --check), and the same decision cases through the real `opa eval` on the Rego and through the committed WASM in
// Node give identical results, compared as sets, for both entrypoints. Missing tools fail, never skip.
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ENTRYPOINTS, tarEntry } from '../../scripts/build-wasm.js';
import { REPO_ROOT, toolPath } from '../helpers/registries.js';
import { decisionCases } from './decision-cases.js';

const DIST = join(REPO_ROOT, 'wasm');

function run(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') return reject(error);
      resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
    });
  });
}

/** JSON with object keys sorted, so equal values print alike whatever order a host built them in. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** An entrypoint's value (a set, so a JSON array in any order) as a sorted list of canonical elements. */
function asSet(value: unknown): string[] {
  if (!Array.isArray(value)) throw new Error(`expected a set (JSON array), got ${canonical(value)}`);
  return value.map(canonical).sort();
}

/** Both entrypoints through `opa eval` on the Rego sources (not the bundle). */
async function opaEval(dir: string, name: string, input: unknown): Promise<Record<string, unknown>> {
  const file = join(dir, `${name.replace(/\W+/g, '-')}.json`);
  await writeFile(file, JSON.stringify(input));
  const result = await run(toolPath('opa'), [
    'eval',
    '-f',
    'json',
    '--capabilities',
    'rego/capabilities.json',
    '-d',
    'rego/lib',
    '-d',
    'rego/decision',
    '-i',
    file,
    'data.vouch.decision',
  ]);
  if (result.code !== 0) throw new Error(`opa eval exited ${result.code}: ${result.stderr}${result.stdout}`);
  const value = (JSON.parse(result.stdout) as { result: Array<{ expressions: Array<{ value: Record<string, unknown> }> }> }).result[0]!
    .expressions[0]!.value;
  return { 'vouch/decision/keys': value.keys, 'vouch/decision/violations': value.violations };
}

test('build-wasm › committed wasm/ is current (scripts/build-wasm.ts --check)', async (t) => {
  toolPath('opa');
  const result = await run(process.execPath, ['--import', 'tsx', join('scripts', 'build-wasm.ts'), '--check']);
  t.is(result.code, 0, result.stderr);
});

test('build-wasm › the bundle holds the same policy.wasm and names both entrypoints in its manifest', async (t) => {
  const tar = gunzipSync(await readFile(join(DIST, 'bundle.tar.gz')));
  t.true(tarEntry(tar, '/policy.wasm').equals(await readFile(join(DIST, 'policy.wasm'))));
  const manifest = JSON.parse(tarEntry(tar, '/.manifest').toString('utf8')) as { wasm: Array<{ entrypoint: string; module: string }> };
  t.deepEqual(
    manifest.wasm.map((w) => [w.entrypoint, w.module]),
    ENTRYPOINTS.map((e) => [e, '/policy.wasm']),
  );
});

test('build-wasm › the module declares no host builtin (any OPA WASM host runs it)', async (t) => {
  const policy = await loadPolicy(await readFile(join(DIST, 'policy.wasm')));
  // The module's `builtins` export (OPA WASM ABI, https://www.openpolicyagent.org/docs/wasm#exports) is the JSON
  // object name -> id of every builtin it leaves to its host; LoadedPolicy keeps the instance and memory.
  const loaded = policy as unknown as {
    wasmInstance: { exports: unknown };
    mem: { buffer: ArrayBuffer };
    entrypoints: Record<string, number>;
  };
  const exports = loaded.wasmInstance.exports as { builtins(): number; opa_json_dump(address: number): number };
  const address = exports.opa_json_dump(exports.builtins());
  const bytes = new Uint8Array(loaded.mem.buffer);
  const builtins = new TextDecoder().decode(bytes.subarray(address, bytes.indexOf(0, address)));
  t.deepEqual(JSON.parse(builtins), {});
  t.deepEqual(Object.keys(loaded.entrypoints).sort(), [...ENTRYPOINTS].sort());
});

test('decision parity › opa eval on the Rego and the committed WASM agree on every case', async (t) => {
  const policy = await loadPolicy(await readFile(join(DIST, 'policy.wasm')));
  const dir = await mkdtemp(join(tmpdir(), 'vouch-decision-parity-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const c of decisionCases) {
    const rego = await opaEval(dir, c.name, c.input);
    for (const entrypoint of ENTRYPOINTS) {
      const wasm = policy.evaluate(c.input, entrypoint) as Array<{ result: unknown }>;
      t.is(wasm.length, 1, `${c.name}: ${entrypoint} has one result`);
      t.deepEqual(asSet(wasm[0]!.result), asSet(rego[entrypoint]), `${c.name}: ${entrypoint}`);
    }
    // What each case is about, so that agreeing on a wrong answer fails too.
    const violations = rego['vouch/decision/violations'] as Array<{ details: { image: string; code: string } }>;
    t.deepEqual(violations.map((v) => `${v.details.image} ${v.details.code}`).sort(), [...c.expect].sort(), `${c.name}: violations`);
  }
});
