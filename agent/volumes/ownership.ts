// fsGroup ownership of a volume as the kubelet's SetVolumeOwnership (pkg/volume/volume_linux.go): every
// file and directory gets group fsGroup and g+rw (g+r when the volume is read-only), directories also
// setgid and g+x, symlinks only their group; fsGroupChangePolicy OnRootMismatch skips the walk when the
// root already has that group, setgid and the permission bits (skipPermissionChange).
import { chmod, lchown, lstat, readdir } from 'node:fs/promises';
import path from 'node:path';

const RW_MASK = 0o660;
const RO_MASK = 0o440;
const EXEC_MASK = 0o110;
const SETGID = 0o2000;

export type FsGroupChangePolicy = 'OnRootMismatch' | 'Always';

/** skipPermissionChange: the root's group, setgid bit and (rw|ro) mask already as they would be set. */
export async function rootMatches(dir: string, fsGroup: number, readOnly: boolean): Promise<boolean> {
  const st = await lstat(dir);
  if (st.gid !== fsGroup) return false;
  const mask = (readOnly ? RO_MASK : RW_MASK) | EXEC_MASK | SETGID;
  return (st.mode & mask) === mask;
}

async function changeOne(p: string, fsGroup: number, readOnly: boolean): Promise<void> {
  const st = await lstat(p);
  await lchown(p, -1, fsGroup);
  if (st.isSymbolicLink()) return;
  let mask = readOnly ? RO_MASK : RW_MASK;
  if (st.isDirectory()) mask |= SETGID | EXEC_MASK;
  await chmod(p, (st.mode & 0o7777) | mask);
}

async function walk(p: string, fsGroup: number, readOnly: boolean): Promise<number> {
  await changeOne(p, fsGroup, readOnly);
  let n = 1;
  const st = await lstat(p);
  if (!st.isDirectory()) return n;
  for (const e of await readdir(p)) n += await walk(path.join(p, e), fsGroup, readOnly);
  return n;
}

/** Applies fsGroup to dir and everything under it; returns the number of entries changed (0 when skipped). */
export async function setVolumeOwnership(dir: string, fsGroup: number | undefined, opts: { readOnly?: boolean; policy?: FsGroupChangePolicy } = {}): Promise<number> {
  if (fsGroup === undefined) return 0;
  const readOnly = opts.readOnly === true;
  if (opts.policy === 'OnRootMismatch' && (await rootMatches(dir, fsGroup, readOnly))) return 0;
  return walk(dir, fsGroup, readOnly);
}
