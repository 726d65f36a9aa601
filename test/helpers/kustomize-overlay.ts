// A temporary kustomize overlay of a copy of deploy/ with some of its components: kustomize refuses an
// overlay inside its base and absolute paths, so deploy/ is copied next to the overlay. Removed when the
// test ends.
import type { ExecutionContext } from 'ava';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './registries.js';

export interface OverlayOptions {
  /** Change the copy of deploy/ before the overlay is written (e.g. put test trust stores in). */
  prepare?: (deployCopy: string) => Promise<void>;
  /** Leave the Helm chart out of the copy (it is not part of the base; only speeds the copy). */
  withoutChart?: boolean;
}

/** Writes the overlay; returns its directory, for `kustomize build`. */
export async function writeDeployOverlay(
  t: ExecutionContext,
  components: readonly string[],
  options: OverlayOptions = {},
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-overlay-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const deploy = join(dir, 'deploy');
  await cp(join(REPO_ROOT, 'deploy'), deploy, {
    recursive: true,
    ...(options.withoutChart ? { filter: (src: string) => !src.includes(join('deploy', 'helm')) } : {}),
  });
  await options.prepare?.(deploy);
  await mkdir(join(dir, 'overlay'));
  await writeFile(
    join(dir, 'overlay', 'kustomization.yaml'),
    [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources: [../deploy]',
      `components: [${components.map((c) => `../deploy/components/${c}`).join(', ')}]`,
      '',
    ].join('\n'),
  );
  return join(dir, 'overlay');
}
