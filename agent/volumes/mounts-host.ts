// Host mount helpers: tmpfs mounts for memory-backed volumes (the kubelet's emptyDir setupTmpfs), the
// mount-point test of mount-utils (IsLikelyNotMountPoint: st_dev differs from the parent's), /proc/mounts
// lookups, unmounting (CleanupMountPoint). mount/umount are mount(2)/umount2(2) calls through the
// native addon (./mount-native.ts); mount(8)/umount(8) only where the addon is not built.
import { execFile } from 'node:child_process';
import { realpathSync, statfsSync, statSync } from 'node:fs';
import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import { nativeMount, syscallError } from './mount-native.js';

const run = promisify(execFile);

export interface MountEntry {
  source: string;
  mountpoint: string;
  fstype: string;
  options: string;
}

/** /proc/mounts escapes space, tab, newline and backslash as \ooo octal. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

export function parseProcMounts(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 4) continue;
    out.push({
      source: unescapeMountField(f[0] ?? ''),
      mountpoint: unescapeMountField(f[1] ?? ''),
      fstype: f[2] ?? '',
      options: f[3] ?? '',
    });
  }
  return out;
}

export async function readMounts(): Promise<MountEntry[]> {
  return parseProcMounts(await readFile('/proc/mounts', 'utf8'));
}

/** The mount entry whose mountpoint is exactly dir (the last one when stacked). */
export async function mountAt(dir: string): Promise<MountEntry | undefined> {
  const all = await readMounts();
  const abs = path.resolve(dir);
  const real = await realpath(abs).catch(() => abs);
  return all.filter((m) => m.mountpoint === abs || m.mountpoint === real).pop();
}

/** Mounts under (or at) any of the prefixes, deepest first. */
export async function mountsUnder(prefixes: string[]): Promise<MountEntry[]> {
  const all = await readMounts();
  const norm = prefixes.map((p) => path.resolve(p));
  const hits = all.filter((m) => norm.some((p) => m.mountpoint === p || m.mountpoint.startsWith(`${p}/`)));
  return hits.sort((a, b) => b.mountpoint.length - a.mountpoint.length);
}

/** statfs f_type of tmpfs (linux/magic.h TMPFS_MAGIC). */
export const TMPFS_MAGIC = 0x01021994;

export interface MountOptions {
  /** The agent's root dir: the real path of the target must be inside it (never a mount elsewhere). */
  root: string;
  sizeBytes?: number;
}

/** The real path of dir, refused unless it is inside the real path of root. */
export async function realPathUnder(root: string, dir: string): Promise<string> {
  const realRoot = realpathSync(path.resolve(root));
  const real = realpathSync(path.resolve(dir));
  if (real === realRoot || !real.startsWith(realRoot.endsWith('/') ? realRoot : `${realRoot}/`)) {
    throw new DockerletError(ErrorCodes.VOLUME, `refusing to mount or unmount ${dir}: not inside ${root}`, { details: { reason: 'mount' } });
  }
  return real;
}

/** `mount -t tmpfs [-o size=N] tmpfs <dir>` inside opts.root: one mount(2) call, or mount(8) without the addon. */
export async function mountTmpfs(dir: string, opts: MountOptions): Promise<void> {
  const target = await realPathUnder(opts.root, dir);
  const data = opts.sizeBytes && opts.sizeBytes > 0 ? `size=${opts.sizeBytes}` : '';
  const native = nativeMount();
  if (native) {
    const rc = await native.mountTmpfs(target, data);
    if (rc < 0) throw syscallError(rc, 'mount', target);
    return;
  }
  const args = ['-t', 'tmpfs'];
  if (data) args.push('-o', data);
  args.push('tmpfs', target);
  await run('mount', args, { timeout: 30_000 });
}

/** mount-utils IsLikelyNotMountPoint, inverted: dir is on another device than its parent. */
export async function isMountPoint(dir: string): Promise<boolean> {
  const abs = path.resolve(dir);
  const self = statSync(abs);
  const parent = statSync(path.dirname(abs));
  return self.dev !== parent.dev;
}

/** Mounts a tmpfs at dir unless one is already there (a mount point whose filesystem is tmpfs). */
export async function ensureTmpfs(dir: string, opts: MountOptions): Promise<boolean> {
  if ((await isMountPoint(dir)) && statfsSync(dir).type === TMPFS_MAGIC) return false;
  await mountTmpfs(dir, opts);
  return true;
}

/**
 * umount, falling back to a lazy unmount when the mount is busy; a no-op when nothing is mounted there.
 * With opts.root (the agent) the real path must be inside it and the addon makes the call; without
 * (tools cleaning up after a run) it is umount(8).
 */
export async function unmount(dir: string, opts: { root?: string } = {}): Promise<void> {
  const native = opts.root ? nativeMount() : null;
  if (opts.root) {
    const real = await realPathUnder(opts.root, dir).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    });
    if (real === undefined) return;
    dir = real;
  }
  if (native) {
    const target = dir;
    let rc = await native.unmount(target, false);
    if (rc === -16 /* EBUSY */) rc = await native.unmount(target, true);
    if (rc === 0 || rc === -22 /* EINVAL: not a mount point */ || rc === -2 /* ENOENT */) return;
    throw syscallError(rc, 'umount', target);
  }
  try {
    await run('umount', [dir], { timeout: 30_000 });
  } catch (err) {
    if (!(await mountAt(dir))) return;
    try {
      await run('umount', ['-l', dir], { timeout: 30_000 });
    } catch {
      throw err;
    }
  }
}
