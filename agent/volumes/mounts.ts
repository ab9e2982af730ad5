// volumeMounts → runtime bind mounts (kubelet makeMounts): subPath / subPathExpr resolution with the
// sub-directory created safely inside the volume, readOnly from the mount or the volume.
import { chmodSync, lstatSync, mkdirSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Container, Pod } from '../../kube/api.js';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import type { Mount } from '../../runtime/types.js';
import { expandSubPathExpr } from '../containers/expansion.js';

export type VolumeKind = 'emptyDir' | 'hostPath' | 'configMap' | 'secret' | 'downwardAPI' | 'projected';

export interface PreparedVolume {
  hostPath: string;
  /** configMap/secret/downwardAPI/projected volumes are always mounted read-only. */
  readOnly?: boolean;
  kind?: VolumeKind;
}

function configError(message: string): DockerletError {
  return new DockerletError(ErrorCodes.CONTAINER_CONFIG, message, { details: { reason: 'CreateContainerConfigError' } });
}

function within(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith('/') ? root : `${root}/`);
}

/**
 * SafeMakeDir: creates root/sub one component at a time, refusing to follow a symlink that leaves
 * the volume. New directories take the volume root's permission bits.
 */
export function safeMakeDir(root: string, sub: string, mode: number): void {
  const realRoot = realpathSync(root);
  let cur = realRoot;
  for (const part of sub.split('/').filter((x) => x && x !== '.')) {
    const next = path.join(cur, part);
    let st;
    try {
      st = lstatSync(next);
    } catch {
      mkdirSync(next, { mode });
      chmodSync(next, mode); // mkdir is subject to the umask
      cur = next;
      continue;
    }
    if (st.isSymbolicLink()) {
      const target = realpathSync(next);
      if (!within(realRoot, target)) throw new DockerletError(ErrorCodes.VOLUME, `subpath ${sub} escapes the volume`);
      cur = target;
    } else {
      cur = next;
    }
  }
}

function resolveSubPath(m: NonNullable<Container['volumeMounts']>[number], env?: ReadonlyMap<string, string>): string {
  let sub = m.subPath ?? '';
  if (m.subPathExpr) {
    const r = expandSubPathExpr(m.subPathExpr, env ?? new Map());
    if ('missing' in r) throw configError(`missing value for ${r.missing.join(', ')}`);
    sub = r.value;
  }
  if (!sub) return '';
  if (path.posix.isAbsolute(sub)) throw configError(`error SubPath \`${sub}\` must not be an absolute path`);
  if (sub.split('/').includes('..')) throw configError(`unable to provision SubPath \`${sub}\`: must not contain '..'`);
  return sub;
}

/**
 * The bind mounts for one container. A subPath that does not exist yet is created as a directory
 * (with the volume root's mode) as upstream does; the host side is the real path, so a configMap/secret
 * key bound through subPath is the file of the current `..data` generation and does not see updates.
 */
export function mountsFor(
  _pod: Pod,
  container: Container,
  prepared: ReadonlyMap<string, PreparedVolume>,
  env?: ReadonlyMap<string, string>,
): Mount[] {
  const out: Mount[] = [];
  for (const m of container.volumeMounts ?? []) {
    const vol = prepared.get(m.name);
    if (!vol) throw configError(`cannot find volume "${m.name}" to mount into container "${container.name}"`);
    let hostPath = vol.hostPath;
    const sub = resolveSubPath(m, env);
    if (sub) {
      try {
        const root = realpathSync(vol.hostPath);
        const wanted = path.join(vol.hostPath, sub);
        let exists = true;
        try {
          lstatSync(wanted);
        } catch {
          exists = false;
        }
        if (!exists) safeMakeDir(vol.hostPath, sub, statSync(vol.hostPath).mode & 0o7777);
        const real = realpathSync(wanted);
        if (!within(root, real)) throw new DockerletError(ErrorCodes.VOLUME, 'escapes the volume');
        hostPath = real;
      } catch {
        throw configError(`failed to prepare subPath for volumeMount "${m.name}" of container "${container.name}"`);
      }
    }
    const containerPath = path.posix.isAbsolute(m.mountPath) ? m.mountPath : `/${m.mountPath}`;
    out.push({ hostPath, containerPath, readOnly: m.readOnly === true || vol.readOnly === true });
  }
  return out;
}
