// Kubernetes mounts ConfigMap, Secret and projected volumes through its "atomic writer"
// (kubernetes pkg/volume/util/atomic_writer.go): the files live in a hidden, timestamped directory
// such as `..2026_11_25_10_00_00.123456789`, `..data` is a symlink to it, and each visible name is a
// symlink `name -> ..data/name`. An update writes a new timestamped directory and swaps `..data`.
// notation refuses symlinks for trust policies and in trust stores so that a link cannot pull in a
// file from elsewhere; these links cannot leave the directory, so exactly this shape is accepted.

import { lstat, readlink } from 'node:fs/promises';
import * as path from 'node:path';

const DATA_LINK = '..data';
/** The timestamped directory `..data` points at: one hidden path component in the same directory. */
const PAYLOAD_DIR = /^\.\.[^/\\]+$/;

/** True for the atomic writer's own entries (`..data`, `..<timestamp>`), which are not content. */
export function isVolumeBookkeeping(name: string): boolean {
  return name.startsWith('..');
}

/** True when `dir` is laid out by the atomic writer (it holds a `..data` symlink). */
export async function hasVolumeLayout(dir: string): Promise<boolean> {
  try {
    return (await lstat(path.join(dir, DATA_LINK))).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * The regular file that `dir/name` stands for when `dir/name` is exactly an atomic-writer link
 * (`name -> ..data/name`, `..data -> ..<timestamp>`, a real directory, holding a regular file
 * `name`); undefined for any other symlink, so callers keep refusing those.
 */
export async function volumeFileTarget(dir: string, name: string): Promise<string | undefined> {
  if (isVolumeBookkeeping(name) || name.includes('/') || name.includes('\\')) return undefined;
  try {
    if ((await readlink(path.join(dir, name))) !== `${DATA_LINK}/${name}`) return undefined;
    const payload = await readlink(path.join(dir, DATA_LINK));
    if (!PAYLOAD_DIR.test(payload) || payload === DATA_LINK) return undefined;
    const payloadInfo = await lstat(path.join(dir, payload));
    if (!payloadInfo.isDirectory()) return undefined;
    const target = path.join(dir, payload, name);
    return (await lstat(target)).isFile() ? target : undefined;
  } catch {
    return undefined;
  }
}
