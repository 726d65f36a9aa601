// The README's policy author's example (examples/policy-author): the `opa test` command the README shows, run as
// written from the repository root with the real OPA, must pass every test it loads: the library's and the example's
// (counted from the *_test.rego files, so a test that stops loading fails here), plus `opa check --strict` and a clean `regal lint` (with the library's regal config, so the library resolves).
import test from 'ava';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { countRegoTests, regalViolations } from '../helpers/rego-checks.js';
import { REPO_ROOT, toolPath } from '../helpers/registries.js';
import { readmeBlocks } from '../helpers/readme.js';

const run = promisify(execFile);
const EXAMPLE_DIR = join(REPO_ROOT, 'examples', 'policy-author');
const LIB_DIR = join(REPO_ROOT, 'rego', 'lib');

test('README policy author example: its opa test command passes every library and example test', async (t) => {
  toolPath('opa');
  const blocks = (await readmeBlocks('policy-author')).filter((b) => b.lang === 'sh');
  t.is(blocks.length, 1);
  const command = blocks[0]!.body.trim();
  t.regex(command, /^\.tools\/bin\/opa test .*examples\/policy-author/);
  const exampleTests = await countRegoTests(EXAMPLE_DIR);
  t.true(exampleTests >= 4, 'the example lost its tests');
  const expected = exampleTests + (await countRegoTests(LIB_DIR));
  const { stdout } = await run('bash', ['-c', command], { cwd: REPO_ROOT, timeout: 60_000 });
  t.is(stdout.trim(), `PASS: ${expected}/${expected}`);
});

test('policy author example: opa check --strict', async (t) => {
  await run(toolPath('opa'), ['check', '--strict', '--capabilities', 'rego/capabilities.json', 'rego/lib', 'examples/policy-author'], {
    cwd: REPO_ROOT,
    timeout: 60_000,
  });
  t.pass();
});

test('policy author example: regal lint is clean', async (t) => {
  t.deepEqual(await regalViolations(['rego', 'examples/policy-author']), []);
});
