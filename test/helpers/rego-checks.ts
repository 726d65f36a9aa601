// Static checks the Rego test files share: how many `test_` rules a directory's *_test.rego files
// define (so a test that stops loading fails the count), and regal's findings as `file:row title`
// lines (an empty list is a clean lint). Paths are relative to the repository root.
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, toolPath } from './registries.js';

const run = promisify(execFile);

export async function countRegoTests(dir: string): Promise<number> {
  let count = 0;
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('_test.rego'))) {
    count += (await readFile(join(dir, name), 'utf8')).match(/^test_\w+(?: |$)/gm)?.length ?? 0;
  }
  return count;
}

/** `regal lint` with the library's config (rego/.regal/config.yaml, so lib.vouch resolves) over `paths`. */
export async function regalViolations(paths: string[]): Promise<string[]> {
  const { stdout } = await run(toolPath('regal'), ['lint', '--format', 'json', '--config-file', 'rego/.regal/config.yaml', ...paths], {
    cwd: REPO_ROOT,
    timeout: 60_000,
  }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
  const report = JSON.parse(stdout) as { violations?: Array<{ title: string; location?: { file: string; row: number } }> };
  return (report.violations ?? []).map((v) => `${v.location?.file ?? '?'}:${v.location?.row ?? '?'} ${v.title}`);
}
