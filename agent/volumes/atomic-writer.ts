// The kubelet AtomicWriter scheme (pkg/volume/util/atomic_writer.go): files live in a timestamped
// `..YYYY_MM_DD_HH_MM_SS.<rand>` directory, `..data` is a symlink to it, and each top-level name is a
// symlink `<name> → ..data/<name>`. An update writes a new timestamped dir and renames a fresh symlink
// over `..data`, so readers see the old or the new set of files, never a mix.
// Synchronous calls: these are small files and directories on a tmpfs or the local disk, where a thread-pool
// round trip per call costs more than the call itself (a token volume takes ~15 of them).
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import type { Payload } from './payload.js';

const DATA_DIR = '..data';
const DATA_TMP = '..data_tmp';
const MAX_PATH = 4096;
const MAX_NAME = 255;
const RO_MASK = 0o440;
const DIR_MASK = 0o110 | 0o2000; // exec for group/other + setgid

/** An invalid payload path: VOLUME with details.reason 'path'. */
function pathError(message: string): DockerletError {
  return new DockerletError(ErrorCodes.VOLUME, message, { details: { reason: 'path' } });
}

export interface WriteOptions {
  /** Epoch ms used to name the timestamped directory. */
  now: number;
  /** pod.spec.securityContext.fsGroup: files get this group and g+r (read-only volume mask). */
  fsGroup?: number;
}

/** validatePath: relative, no '..' element, no leading '..' name, length limits. */
export function validatePayloadPath(p: string): void {
  if (p === '') throw pathError(`invalid path: must not be empty: ""`);
  if (path.posix.isAbsolute(p)) throw pathError(`invalid path: must be relative path: ${p}`);
  if (p.length > MAX_PATH) throw pathError(`invalid path: must be less than or equal to ${MAX_PATH} characters`);
  const items = p.split('/');
  for (const it of items) {
    if (it === '..') throw pathError(`invalid path: must not contain '..': ${p}`);
    if (it.length > MAX_NAME) throw pathError(`invalid path: filenames must be less than or equal to ${MAX_NAME} characters`);
  }
  if ((items[0] ?? '').startsWith('..') && (items[0] ?? '').length > 2) {
    throw pathError(`invalid path: must not start with '..': ${p}`);
  }
}

function cleanPayload(payload: Payload): Payload {
  const out: Payload = new Map();
  for (const [p, f] of payload) {
    validatePayloadPath(p);
    out.set(path.posix.normalize(p), f);
  }
  return out;
}

function effectiveMode(mode: number, fsGroup: number | undefined): number {
  return (fsGroup === undefined ? mode : mode | RO_MASK) & 0o7777;
}

function tsDirPrefix(now: number): string {
  const d = new Date(now);
  const p = (n: number) => String(n).padStart(2, '0');
  return `..${d.getUTCFullYear()}_${p(d.getUTCMonth() + 1)}_${p(d.getUTCDate())}_${p(d.getUTCHours())}_${p(d.getUTCMinutes())}_${p(d.getUTCSeconds())}.`;
}

async function listFiles(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(root, r)));
    else out.push(r);
  }
  return out;
}

/** The name of the current timestamped directory, if any. */
export async function currentDataDir(targetDir: string): Promise<string | undefined> {
  const link = path.join(targetDir, DATA_DIR);
  if (!lstatSync(link, { throwIfNoEntry: false })) return undefined; // a new volume: no exception to find that out
  try {
    return readlinkSync(link);
  } catch {
    return undefined;
  }
}

async function matches(tsDir: string, payload: Payload, fsGroup: number | undefined): Promise<boolean> {
  let files: string[];
  try {
    files = await listFiles(tsDir);
  } catch {
    return false;
  }
  if (files.length !== payload.size || files.some((f) => !payload.has(f))) return false;
  for (const [p, f] of payload) {
    const full = path.join(tsDir, p);
    const content = readFileSync(full);
    const st = statSync(full);
    if (!content.equals(f.data) || (st.mode & 0o7777) !== effectiveMode(f.mode, fsGroup)) return false;
    if (fsGroup !== undefined && st.gid !== fsGroup) return false;
  }
  return true;
}

async function applyGroup(p: string, fsGroup: number | undefined, isDir: boolean, baseMode: number): Promise<void> {
  if (fsGroup === undefined) {
    chmodSync(p, baseMode);
    return;
  }
  chownSync(p, -1, fsGroup);
  chmodSync(p, baseMode | RO_MASK | (isDir ? DIR_MASK : 0));
}

async function writePayload(tsDir: string, payload: Payload, fsGroup: number | undefined): Promise<void> {
  await applyGroup(tsDir, fsGroup, true, 0o755);
  for (const [p, f] of payload) {
    const full = path.join(tsDir, p);
    const dir = path.dirname(full);
    if (dir !== tsDir) {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      // Fix up every directory level created below the timestamped dir.
      for (let d = dir; d !== tsDir && d.startsWith(tsDir); d = path.dirname(d)) await applyGroup(d, fsGroup, true, 0o755);
    }
    writeFileSync(full, f.data, { mode: f.mode & 0o7777 });
    await applyGroup(full, fsGroup, false, f.mode & 0o7777);
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    return lstatSync(p, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false;
  }
}

/**
 * Writes payload into targetDir atomically. Returns false (and touches nothing but missing
 * user-visible links) when the current content and modes already match.
 */
export async function writeAtomic(targetDir: string, rawPayload: Payload, opts: WriteOptions): Promise<boolean> {
  const payload = cleanPayload(rawPayload);
  const oldTsName = await currentDataDir(targetDir);
  const oldTsDir = oldTsName ? path.join(targetDir, oldTsName) : undefined;
  const topLevel = new Set([...payload.keys()].map((p) => p.split('/')[0] ?? p));

  if (oldTsDir && (await matches(oldTsDir, payload, opts.fsGroup))) {
    await createVisibleLinks(targetDir, topLevel);
    return false;
  }

  const tsDir = mkdtempSync(path.join(targetDir, tsDirPrefix(opts.now)));
  try {
    await writePayload(tsDir, payload, opts.fsGroup);
    const tmpLink = path.join(targetDir, DATA_TMP);
    rmSync(tmpLink, { force: true });
    symlinkSync(path.basename(tsDir), tmpLink);
    renameSync(tmpLink, path.join(targetDir, DATA_DIR));
  } catch (err) {
    rmSync(tsDir, { recursive: true, force: true });
    throw err;
  }

  await createVisibleLinks(targetDir, topLevel);
  // Remove user-visible links of names that left the payload, then every stale timestamped dir.
  for (const e of readdirSync(targetDir, { withFileTypes: true })) {
    if (e.name.startsWith('..')) continue;
    if (!topLevel.has(e.name) && e.isSymbolicLink()) {
      const to = readlinkSync(path.join(targetDir, e.name));
      if (to.startsWith(`${DATA_DIR}/`)) rmSync(path.join(targetDir, e.name), { force: true });
    }
  }
  const keep = path.basename(tsDir);
  for (const e of readdirSync(targetDir, { withFileTypes: true })) {
    if (e.isDirectory() && e.name.startsWith('..') && e.name !== keep && e.name !== DATA_DIR) {
      rmSync(path.join(targetDir, e.name), { recursive: true, force: true });
    }
  }
  return true;
}

async function createVisibleLinks(targetDir: string, names: Set<string>): Promise<void> {
  for (const name of names) {
    const p = path.join(targetDir, name);
    if (!(await exists(p))) symlinkSync(path.posix.join(DATA_DIR, name), p);
  }
}
