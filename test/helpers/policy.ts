// Compiles small Rego fixtures with the real OPA (`opa build -t wasm`, .tools/bin/opa) at test
// time, so no compiled module is committed: returns the bundle, its policy.wasm, and the paths.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readTar } from '../../src/policy/tar.js';
import { toolPath } from './registries.js';

export interface CompiledPolicy {
  dir: string;
  regoFile: string;
  bundleFile: string;
  bundle: Uint8Array;
  wasm: Uint8Array;
  cleanup: () => Promise<void>;
}

/** Writes `rego` to a temp dir as policy.rego (plus extra files), for loadPolicyFile or opa. */
export async function writeRego(
  rego: string,
  extra: Record<string, string> = {},
): Promise<{ dir: string; regoFile: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vouch-policy-test-'));
  const regoFile = path.join(dir, 'policy.rego');
  await writeFile(regoFile, rego);
  for (const [name, text] of Object.entries(extra)) await writeFile(path.join(dir, name), text);
  return { dir, regoFile, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** `opa build -t wasm [-e entrypoint]... policy.rego [data.json]` into bundle.tar.gz. */
export async function compilePolicy(rego: string, entrypoints: string[] = [], extra: Record<string, string> = {}): Promise<CompiledPolicy> {
  const written = await writeRego(rego, extra);
  const bundleFile = path.join(written.dir, 'bundle.tar.gz');
  const inputs = [written.regoFile, ...Object.keys(extra).map((name) => path.join(written.dir, name))];
  const args = ['build', '-t', 'wasm', '-o', bundleFile, ...entrypoints.flatMap((e) => ['-e', e]), ...inputs];
  await new Promise<void>((resolve, reject) => {
    execFile(toolPath('opa'), args, { cwd: written.dir }, (error, stdout, stderr) =>
      error === null ? resolve() : reject(new Error(`opa build failed: ${stdout}${stderr}`)),
    );
  });
  const bundle = await readFile(bundleFile);
  const wasm = readTar(gunzipSync(bundle)).get('policy.wasm');
  if (wasm === undefined) throw new Error('opa build wrote no policy.wasm');
  return { ...written, bundleFile, bundle, wasm };
}
