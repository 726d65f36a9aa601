// The OPA helper for hosts that are not Gatekeeper (examples/opa-http-send): the `opa test` command the
// README shows, run as written with the real OPA, passes every test it loads (http.send mocked with
// `with`), plus `opa check --strict` and a clean `regal lint`. test/e2e/check.test.ts runs it with
// `opa eval` against a running vouch.
import test from 'ava';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { countRegoTests, regalViolations } from '../helpers/rego-checks.js';
import { REPO_ROOT, toolPath } from '../helpers/registries.js';
import { readmeBlocks } from '../helpers/readme.js';

const run = promisify(execFile);
const EXAMPLE_DIR = join(REPO_ROOT, 'examples', 'opa-http-send');
const LIB_DIR = join(REPO_ROOT, 'rego', 'lib');

test('README OPA http.send helper: its opa test command passes every library and helper test', async (t) => {
  toolPath('opa');
  const blocks = (await readmeBlocks('opa-http-send')).filter((b) => b.lang === 'sh');
  t.is(blocks.length, 1);
  const command = blocks[0]!.body.trim();
  t.regex(command, /^\.tools\/bin\/opa test .*examples\/opa-http-send/);
  const helperTests = await countRegoTests(EXAMPLE_DIR);
  t.true(helperTests >= 6, 'the helper lost its tests');
  const expected = helperTests + (await countRegoTests(LIB_DIR));
  const { stdout } = await run('bash', ['-c', command], { cwd: REPO_ROOT, timeout: 60_000 });
  t.is(stdout.trim(), `PASS: ${expected}/${expected}`);
});

test('OPA http.send helper: opa check --strict and a clean regal lint', async (t) => {
  await run(toolPath('opa'), ['check', '--strict', '--capabilities', 'rego/capabilities.json', 'rego/lib', 'examples/opa-http-send'], {
    cwd: REPO_ROOT,
    timeout: 60_000,
  });
  t.deepEqual(await regalViolations(['rego', 'examples/opa-http-send']), []);
});
