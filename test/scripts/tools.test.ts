// scripts/tools.sh --plan: says which tools a run would build and roughly how long that takes, and
// builds nothing (run against an empty install directory, so every Go tool is "to build").

import test from 'ava';
import { execFile } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../helpers/registries.js';

const run = promisify(execFile);
const SCRIPT = path.join(REPO_ROOT, 'scripts', 'tools.sh');

test('tools.sh --plan: names the tools to build with an estimate, and builds nothing', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'vouch-tools-plan-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const bin = path.join(dir, 'bin');
  const { stdout } = await run('bash', [SCRIPT, '--plan', 'olareg-serve', 'cosign', 'gator'], {
    env: { ...process.env, VOUCH_TOOLS_BIN: bin },
    timeout: 60_000,
  });
  const build = stdout.split('\n').find((line) => line.includes('build 3 of 3'));
  t.truthy(build, stdout);
  for (const name of ['olareg-serve', 'cosign', 'gator']) t.regex(build!, new RegExp(`${name} \\(~\\d+m\\d\\ds\\)`));
  t.regex(stdout, /about \d+m\d\ds/);
  await t.throwsAsync(access(bin), undefined, 'the plan created the install directory');
});

test('tools.sh --plan: an unknown tool is a usage error', async (t) => {
  const error = await t.throwsAsync(run('bash', [SCRIPT, '--plan', 'no-such-tool'], { timeout: 60_000 }));
  t.is((error as { code?: number }).code, 2);
});
