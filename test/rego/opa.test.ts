// Runs the Rego library's own tests with the real, pinned OPA (README "Policies: Gatekeeper and Rego")
// and reports each Rego test as an ava test, so they count in the suite; plus the static checks: `opa check --strict`, `regal lint` and the generated
// files (ConstraintTemplates, capabilities) being current. Missing tools fail, never skip: `bash scripts/tools.sh`.
import test from 'ava';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT, toolPath } from '../helpers/registries.js';

const REGO_DIR = 'rego/';
const CAPABILITIES = join('rego', 'capabilities.json');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command in the repository root; a non-zero exit is a result, not a throw. */
function run(command: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') return reject(error);
      resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
    });
  });
}

/** One entry of `opa test --format=json`. */
interface RegoTestResult {
  location: { file: string; row: number };
  package: string;
  name: string;
  fail?: boolean;
  skip?: boolean;
  error?: { code?: string; message?: string };
  output?: string;
}

async function runRegoTests(): Promise<{ results: RegoTestResult[] } | { failure: string }> {
  let opa: string;
  try {
    opa = toolPath('opa');
  } catch (error) {
    return { failure: (error as Error).message };
  }
  const result = await run(opa, ['test', '--format=json', '--capabilities', CAPABILITIES, REGO_DIR]);
  let results: unknown;
  try {
    results = JSON.parse(result.stdout);
  } catch {
    return { failure: `opa test exited ${result.code} without a JSON report:\n${result.stderr}${result.stdout}` };
  }
  if (!Array.isArray(results) || results.length === 0) {
    return { failure: `opa test found no Rego tests under ${REGO_DIR} (exit ${result.code}):\n${result.stderr}` };
  }
  return { results: results as RegoTestResult[] };
}

const suite = await runRegoTests();

if ('failure' in suite) {
  test('rego › opa test', (t) => t.fail(suite.failure));
} else {
  for (const result of suite.results) {
    const pkg = result.package.replace(/^data\./, '');
    test(`rego › ${pkg} › ${result.name}`, async (t) => {
      if (result.skip === true) return t.fail(`${result.name} is marked todo/skipped in ${result.location.file}`);
      if (result.fail !== true && result.error === undefined) return t.pass();
      // Re-run just this test verbosely: opa explains which expression failed.
      const explained = await run(toolPath('opa'), [
        'test',
        '-v',
        '--explain=fails',
        '--capabilities',
        CAPABILITIES,
        '--run',
        `^${result.package.replace(/\./g, '\\.')}\\.${result.name}$`,
        REGO_DIR,
      ]);
      const where = `${result.location.file}:${result.location.row}`;
      const why = result.error !== undefined ? `${result.error.code ?? 'error'}: ${result.error.message ?? ''}\n` : '';
      t.fail(`${where}: ${result.name} ${result.error !== undefined ? 'errored' : 'failed'}\n${why}${explained.stdout}${explained.stderr}`);
    });
  }
}

test('rego › opa check --strict with the Gatekeeper capabilities', async (t) => {
  const result = await run(toolPath('opa'), ['check', '--strict', '--capabilities', CAPABILITIES, REGO_DIR]);
  t.is(result.code, 0, `opa check failed:\n${result.stdout}${result.stderr}`);
});

test('rego › regal lint is clean', async (t) => {
  const result = await run(toolPath('regal'), ['lint', '--format', 'json', REGO_DIR]);
  let report: { violations?: Array<{ title: string; description: string; location?: { file: string; row: number } }> };
  try {
    report = JSON.parse(result.stdout) as typeof report;
  } catch {
    return t.fail(`regal lint exited ${result.code} without a JSON report:\n${result.stderr}${result.stdout}`);
  }
  const violations = (report.violations ?? []).map(
    (v) => `${v.location?.file ?? '?'}:${v.location?.row ?? '?'} ${v.title}: ${v.description}`,
  );
  t.deepEqual(violations, []);
  t.is(result.code, 0, result.stderr);
});

test('rego › generated template and capabilities are current (scripts/build-rego.ts --check)', async (t) => {
  toolPath('opa'); // the capabilities are generated from it; fail with the install hint first
  const result = await run(process.execPath, ['--import', 'tsx', join('scripts', 'build-rego.ts'), '--check']);
  t.is(result.code, 0, result.stderr);
});
