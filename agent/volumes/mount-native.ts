// The mount(2)/umount2(2) calls the kubelet's mount-utils makes for memory-backed volumes (emptyDir
// setupTmpfs; CleanupMountPoint), through build/mount.node (agent/volumes/native/build.sh) so a pod's
// tmpfs volumes cost no process spawn each. Optional, as the proxy's relay: where the addon was not
// built (no compiler) or does not load, nativeMount() is null and mounts-host.ts runs mount(8).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';

export interface NativeMount {
  /** mount("tmpfs", target, "tmpfs", 0, data): 0 or -errno. */
  mountTmpfs(target: string, data: string): Promise<number>;
  /** umount2(target, detach ? MNT_DETACH : 0): 0 or -errno. */
  unmount(target: string, detach: boolean): Promise<number>;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** DOCKERLET_NATIVE_MOUNT overrides the path; empty turns the addon off (mount(8) is used). */
export const NATIVE_MOUNT_PATH = process.env.DOCKERLET_NATIVE_MOUNT ?? path.join(root, 'build', 'mount.node');

let cached: NativeMount | null | undefined;
let why = '';

export function nativeMount(): NativeMount | null {
  if (cached !== undefined) return cached;
  cached = null;
  if (!NATIVE_MOUNT_PATH) why = 'turned off (DOCKERLET_NATIVE_MOUNT is empty)';
  else if (process.platform !== 'linux') why = `not built for ${process.platform}`;
  else if (!existsSync(NATIVE_MOUNT_PATH)) why = `${NATIVE_MOUNT_PATH} is not built (agent/volumes/native/build.sh)`;
  else {
    try {
      const m = createRequire(import.meta.url)(NATIVE_MOUNT_PATH) as Partial<NativeMount>;
      if (typeof m.mountTmpfs === 'function' && typeof m.unmount === 'function') cached = m as NativeMount;
      else why = `${NATIVE_MOUNT_PATH} lacks mountTmpfs/unmount`;
    } catch (err) {
      why = `${NATIVE_MOUNT_PATH} did not load: ${(err as Error).message}`;
    }
  }
  return cached;
}

/** Why nativeMount() is null ('' when it loaded). */
export function nativeMountUnavailable(): string {
  nativeMount();
  return why;
}

/** A -errno result as a VOLUME error naming the call, the errno name and the path. */
export function syscallError(rc: number, syscall: string, target: string): DockerletError {
  const code = getSystemErrorName(rc);
  return new DockerletError(ErrorCodes.VOLUME, `${syscall} ${target}: ${code}`, { details: { reason: 'mount', errno: code, syscall, path: target } });
}
