// hostPath type checks (pkg/volume/hostpath checkTypeInternal).
import { mkdir, open, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';

/** A failed hostPath type check: VOLUME with details.reason 'hostPath'. */
function hostPathError(message: string, cause?: unknown): DockerletError {
  return new DockerletError(ErrorCodes.VOLUME, message, { cause, details: { reason: 'hostPath' } });
}

async function statOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await stat(p);
  } catch {
    return undefined;
  }
}

/**
 * Validates (and for *OrCreate types creates) the host path. DirectoryOrCreate creates parents with 0755;
 * FileOrCreate creates an empty 0644 file but not its parent directory, as upstream.
 */
export async function checkHostPath(p: string, type: string | undefined): Promise<void> {
  const t = type ?? '';
  let st = await statOrUndefined(p);
  if (t === 'DirectoryOrCreate' && !st) {
    await mkdir(p, { recursive: true, mode: 0o755 });
    return;
  }
  if (t === 'FileOrCreate' && !st) {
    try {
      await (await open(p, 'a', 0o644)).close();
    } catch (err) {
      throw hostPathError(`hostPath type check failed: cannot create ${p}: ${(err as Error).message}`, err);
    }
    st = await statOrUndefined(p);
  }
  const checks: Record<string, [(s: Stats) => boolean, string]> = {
    DirectoryOrCreate: [(s) => s.isDirectory(), 'is not a directory'],
    Directory: [(s) => s.isDirectory(), 'is not a directory'],
    FileOrCreate: [(s) => s.isFile(), 'is not a file'],
    File: [(s) => s.isFile(), 'is not a file'],
    Socket: [(s) => s.isSocket(), 'is not a socket file'],
    CharDevice: [(s) => s.isCharacterDevice(), 'is not a character device'],
    BlockDevice: [(s) => s.isBlockDevice(), 'is not a block device'],
  };
  if (t === '') return;
  const check = checks[t];
  if (!check) throw hostPathError(`invalid hostPath type ${JSON.stringify(t)}`);
  if (!st || !check[0](st)) throw hostPathError(`hostPath type check failed: ${p} ${check[1]}`);
}
