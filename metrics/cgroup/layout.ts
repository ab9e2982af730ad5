// Where cgroups live: v1 (one hierarchy per controller, maybe co-mounted as cpu,cpuacct) or v2 (unified,
// detected by <root>/cgroup.controllers as cAdvisor and runc do), and where Docker puts a container's
// cgroup for the cgroupfs and systemd drivers (runc libcontainer/cgroups/systemd ExpandSlice;
// Docker's daemon/oci_linux.go: cgroupfs "<parent|/docker>/<id>", systemd "<slice>:docker:<id>"
// → "/<expanded slice>/docker-<id>.scope").
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import { parseProcCgroup } from './parse.js';

export type CgroupLayout =
  | { version: 1; mounts: Record<string, string> }
  | { version: 2; root: string };

export const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'blkio', 'pids', 'cpuset'] as const;

/**
 * Reads the layout from a mountinfo text (/proc/self/mountinfo). `hostRoot` prefixes mount points,
 * for an agent that sees the host's cgroupfs under another path (or a fixture tree).
 */
export function layoutFromMountinfo(mountinfo: string, hostRoot = ''): CgroupLayout {
  const mounts: Record<string, string> = {};
  let unified: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const mountPoint = left[4];
    if (!mountPoint) continue;
    if (right[0] === 'cgroup2') unified ??= mountPoint;
    if (right[0] !== 'cgroup') continue;
    for (const opt of (right[2] ?? '').split(',')) {
      if ((V1_CONTROLLERS as readonly string[]).includes(opt)) mounts[opt] ??= hostRoot + mountPoint;
    }
  }
  if (Object.keys(mounts).length === 0 && unified) return { version: 2, root: hostRoot + unified };
  return { version: 1, mounts };
}

/** Detects this host's layout: v2 when <root>/cgroup.controllers exists, else v1 from mountinfo. */
export function detectLayout(root = '/sys/fs/cgroup', mountinfoPath = '/proc/self/mountinfo'): CgroupLayout {
  if (existsSync(join(root, 'cgroup.controllers'))) return { version: 2, root };
  let text = '';
  try { text = readFileSync(mountinfoPath, 'utf8'); } catch { /* fall back to the conventional layout */ }
  const found = layoutFromMountinfo(text);
  if (found.version === 1 && Object.keys(found.mounts).length > 0) return found;
  const mounts: Record<string, string> = {};
  for (const c of V1_CONTROLLERS) mounts[c] = join(root, c);
  return { version: 1, mounts };
}

/** `base` + cgroup path by concatenation (both already clean; path.join is dear on the hot path). */
function under(base: string, path: string): string {
  return path === '/' || path === '' ? base : `${base}${path.startsWith('/') ? '' : '/'}${path}`;
}

/** The directory of a cgroup for one controller ('' for v2). Undefined when the controller is not mounted. */
export function cgroupDir(layout: CgroupLayout, controller: string, path: string): string | undefined {
  if (layout.version === 2) return under(layout.root, path);
  const m = layout.mounts[controller];
  return m === undefined ? undefined : under(m, path);
}

/**
 * systemd slice name → path: "a-b-c.slice" → "/a.slice/a-b.slice/a-b-c.slice", "-.slice" → "/"
 * (runc's ExpandSlice). Throws on a name that is not a slice.
 */
export function expandSlice(slice: string): string {
  if (!slice.endsWith('.slice') || slice.includes('/')) throw new DockerletError(ErrorCodes.CGROUP, `invalid slice name "${slice}"`);
  const name = slice.slice(0, -'.slice'.length);
  if (name === '-') return '/';
  if (name.startsWith('-') || name.endsWith('-') || name.includes('--')) throw new DockerletError(ErrorCodes.CGROUP, `invalid slice name "${slice}"`);
  let path = '';
  let prefix = '';
  for (const part of name.split('-')) {
    prefix = prefix ? `${prefix}-${part}` : part;
    path += `/${prefix}.slice`;
  }
  return path;
}

/** A Docker container's cgroup path from its inspect data and the daemon's cgroup driver. */
export function dockerCgroupPath(id: string, driver: string, cgroupParent?: string): string {
  if (driver === 'systemd') {
    const parent = cgroupParent || 'system.slice';
    // Docker accepts "slice:prefix:name" as well as a plain slice for the systemd driver.
    const [slice, prefix = 'docker', unit = id] = parent.split(':');
    return `${expandSlice(slice!)}/${prefix}-${unit}.scope`.replace(/^\/\//, '/');
  }
  const parent = cgroupParent || '/docker';
  return `${parent.startsWith('/') ? parent : `/${parent}`}/${id}`.replace(/\/+/g, '/');
}

/**
 * A pid's cgroup path from /proc/<pid>/cgroup text: the v2 line on v2, the memory (else cpu) line on v1.
 * Undefined when the text names neither.
 */
export function pathFromProcCgroup(text: string, version: 1 | 2): string | undefined {
  const m = parseProcCgroup(text);
  if (version === 2) return m.get('');
  return m.get('memory') ?? m.get('cpu') ?? m.get('cpuacct');
}
