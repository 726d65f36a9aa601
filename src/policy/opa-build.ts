// Rego → OPA WASM bundle with the real compiler: `opa build -t wasm` (there is no other). Errors
// name file:line:col, from `opa check --format json` (opa build's own messages give only the line).
// https://www.openpolicyagent.org/docs/cli#opa-build
import { execFile } from 'node:child_process';
import { access, constants, mkdtemp, readFile, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorMessage } from '../core/index.js';
import { policyError } from './wasm-policy.js';

const OPA_TIMEOUT_MS = 120_000;

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
  spawnError?: NodeJS.ErrnoException;
}

function run(file: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: OPA_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code === 'string') {
        resolve({ exitCode: -1, stdout, stderr, spawnError: error as NodeJS.ErrnoException });
        return;
      }
      resolve({ exitCode: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

/** The opa binary: the given path, else the first executable `opa` on the PATH. */
async function findOpa(opaPath: string | undefined): Promise<string | undefined> {
  if (opaPath !== undefined) return opaPath;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, process.platform === 'win32' ? 'opa.exe' : 'opa');
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

interface CheckError {
  message?: string;
  code?: string;
  location?: { file?: string; row?: number; col?: number };
}

/** `file:line:col: code: message` lines from `opa check --format json`, or undefined when it passes. */
async function checkErrors(opa: string, file: string): Promise<string | undefined> {
  const result = await run(opa, ['check', '--format', 'json', file]);
  if (result.exitCode === 0) return undefined;
  try {
    const report = JSON.parse(result.stderr.trim() || result.stdout.trim()) as { errors?: CheckError[] };
    const lines = (report.errors ?? []).map((error) => {
      const where = error.location;
      const position = where === undefined ? file : `${where.file ?? file}:${where.row ?? 0}:${where.col ?? 0}`;
      return `${position}: ${error.code ?? 'error'}: ${error.message ?? ''}`;
    });
    return lines.length > 0 ? lines.join('\n') : undefined;
  } catch {
    return undefined;
  }
}

/** Compiles a .rego file into an OPA bundle (gzipped tar) holding policy.wasm and its .manifest. */
export async function compileRego(
  file: string,
  options: { opaPath?: string | undefined; entrypoints?: string[] | undefined } = {},
): Promise<Uint8Array> {
  const opa = await findOpa(options.opaPath);
  const hint =
    'install OPA (https://www.openpolicyagent.org/docs#running-opa), or compile the policy with `opa build -t wasm` and name the bundle';
  if (opa === undefined) throw policyError('COMPILE_FAILED', `${file}: compiling Rego needs opa, which is not on the PATH: ${hint}`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vouch-opa-build-'));
  try {
    const output = path.join(dir, 'bundle.tar.gz');
    const args = ['build', '-t', 'wasm', '-o', output, ...(options.entrypoints ?? []).flatMap((entrypoint) => ['-e', entrypoint]), file];
    const built = await run(opa, args);
    if (built.spawnError !== undefined) {
      const reason = built.spawnError.code === 'ENOENT' ? `${opa} not found: ${hint}` : `running ${opa}: ${built.spawnError.message}`;
      throw policyError('COMPILE_FAILED', `${file}: ${reason}`, built.spawnError);
    }
    if (built.exitCode !== 0) {
      const positioned = await checkErrors(opa, file);
      const message = positioned ?? `${built.stderr}${built.stdout}`.trim().replace(/^error: /, ''); // opa build reports on stdout
      throw policyError('COMPILE_FAILED', `${file}: opa build -t wasm failed:\n${message}`);
    }
    try {
      return await readFile(output);
    } catch (error) {
      throw policyError('COMPILE_FAILED', `${file}: opa build wrote no bundle: ${errorMessage(error)}`, error);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
