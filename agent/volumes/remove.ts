// Removing a pod's directory without crossing into a mounted filesystem, as the kubelet's
// removeall.RemoveAllOneFilesystem (pkg/util/removeall): a mount point met on the way (st_dev other
// than the root's) stops the removal with an error rather than deleting what is mounted there.
import { lstat, readdir, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';

/** Thrown when the walk meets a mount point; details.mountpoint names it. */
export function mountedError(dir: string, mountpoint: string): DockerletError {
  return new DockerletError(ErrorCodes.VOLUME, `cannot remove pod directory ${dir}: still mounted at ${mountpoint}`, { details: { reason: 'mounted', mountpoint } });
}

async function removeTree(p: string, dev: number, top: string): Promise<void> {
  let st;
  try {
    st = await lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (st.dev !== dev) throw mountedError(top, p);
  if (!st.isDirectory()) {
    await unlink(p).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err; });
    return;
  }
  for (const name of await readdir(p)) await removeTree(path.join(p, name), dev, top);
  await rmdir(p).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err; });
}

/** rm -rf dir on dir's own filesystem only; a no-op when dir does not exist. */
export async function removeAllOneFilesystem(dir: string): Promise<void> {
  let st;
  try {
    st = await lstat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await removeTree(dir, st.dev, dir);
}
