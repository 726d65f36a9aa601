// Writes a directory the way the kubelet's atomic writer (kubernetes pkg/volume/util/atomic_writer.go)
// lays out ConfigMap and Secret volumes: files in `..<timestamp>/`, `..data -> ..<timestamp>`, and
// `name -> ..data/name`; an update writes a new timestamped directory and swaps `..data` by rename,
// then removes the links of names the update no longer has (a key removed from the ConfigMap).
import { mkdir, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';

let sequence = 0;

export async function writeKubernetesVolume(dir: string, files: Record<string, string | Uint8Array>): Promise<void> {
  await mkdir(dir, { recursive: true });
  const payload = `..2026_11_25_00_00_00.${process.pid}${String(++sequence).padStart(6, '0')}`;
  await mkdir(path.join(dir, payload));
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(dir, payload, name), content);
  let previous: string | undefined;
  try {
    previous = await readlink(path.join(dir, '..data'));
  } catch {
    previous = undefined;
  }
  await symlink(payload, path.join(dir, '..data_tmp'));
  await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  for (const name of Object.keys(files)) {
    await symlink(`..data/${name}`, path.join(dir, name)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
  if (previous !== undefined) {
    for (const name of await readdir(path.join(dir, previous))) {
      if (!Object.hasOwn(files, name)) await rm(path.join(dir, name), { force: true });
    }
    await rm(path.join(dir, previous), { recursive: true, force: true });
  }
}
