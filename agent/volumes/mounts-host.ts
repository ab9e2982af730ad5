// Host mount helpers: tmpfs mounts for memory-backed volumes, /proc/mounts lookups, unmounting.
import { execFile } from 'node:child_process';
import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

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

/** `mount -t tmpfs [-o size=N] tmpfs <dir>`. */
export async function mountTmpfs(dir: string, sizeBytes?: number): Promise<void> {
  const args = ['-t', 'tmpfs'];
  if (sizeBytes && sizeBytes > 0) args.push('-o', `size=${sizeBytes}`);
  args.push('tmpfs', dir);
  await run('mount', args, { timeout: 30_000 });
}

/** Mounts a tmpfs at dir unless one is already there. */
export async function ensureTmpfs(dir: string, sizeBytes?: number): Promise<boolean> {
  const m = await mountAt(dir);
  if (m && m.fstype === 'tmpfs') return false;
  await mountTmpfs(dir, sizeBytes);
  return true;
}

/** umount, falling back to a lazy unmount when the mount is busy. */
export async function unmount(dir: string): Promise<void> {
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
