// `npm run build` for the tests that run the built CLI (the README walkthroughs), once per set of
// sources: test files run in parallel processes, and a second build rewriting dist/ while another
// test's script executes it breaks that script (a module half written). So builds take a lock, and
// skip when dist/ was built from the same sources (a digest of src/, proto/, wasm/ and the build's
// tsconfig, stamped into dist/).

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './registries.js';

const run = promisify(execFile);
const LOCK = join(REPO_ROOT, 'dist.build-lock');
const STAMP = join(REPO_ROOT, 'dist', '.build-stamp');
/** A lock older than this was left by a killed run. */
const STALE_LOCK_MS = 5 * 60_000;

async function sourcesDigest(): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (dir: string): Promise<void> => {
    for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else hash.update(path).update(await readFile(path));
    }
  };
  for (const dir of ['src', 'proto', 'wasm']) await walk(join(REPO_ROOT, dir));
  for (const file of ['tsconfig.json', 'tsconfig.build.json', 'package.json']) hash.update(await readFile(join(REPO_ROOT, file)));
  return hash.digest('hex');
}

async function lock(): Promise<void> {
  const deadline = Date.now() + STALE_LOCK_MS;
  for (;;) {
    try {
      await mkdir(LOCK);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const age =
        Date.now() -
        (await stat(LOCK).then(
          (s) => s.mtimeMs,
          () => Date.now(),
        ));
      if (age > STALE_LOCK_MS || Date.now() > deadline) await rm(LOCK, { recursive: true, force: true });
      else await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** Builds dist/ unless it was built from the current sources; one build at a time. */
export async function buildOnce(): Promise<void> {
  await lock();
  try {
    const digest = await sourcesDigest();
    if ((await readFile(STAMP, 'utf8').catch(() => '')) === digest) return;
    await run('npm', ['run', 'build', '--silent'], { cwd: REPO_ROOT, timeout: 120_000 });
    await writeFile(STAMP, digest);
  } finally {
    await rm(LOCK, { recursive: true, force: true });
  }
}
