// Pod cgroup removal: a pod's own after its last container (podContainerManager.Destroy), and the
// kubelet's cleanupOrphanedPodCgroups (kubelet_pods.go, with pod_container_manager_linux.go
// GetAllPodsFromCgroups) for pods that are gone. Docker removes a container's own cgroup, never the pod
// cgroup above it (cgroupfs layout: /kubepods/pod<uid>, /kubepods/burstable/pod<uid>,
// /kubepods/besteffort/pod<uid>); these are removed under every v1 controller or in the unified v2
// hierarchy. Left behind they pile up by the thousand on a node that churns pods, and every read of a
// hierarchical total (memory.stat of /kubepods) walks them all.
import { readdir, rmdir, stat } from 'node:fs/promises';

const QOS_DIRS = ['', '/burstable', '/besteffort'];

/** A pod's cgroup under each QoS level (cgroupfs-relative); it lives under one of them. */
export function podCgroupPaths(podUid: string, root = '/kubepods'): string[] {
  return QOS_DIRS.map((q) => `${root.replace(/\/+$/, '')}${q}/pod${podUid}`);
}

const POD_DIR = /^pod([0-9a-fA-F][0-9a-fA-F-]{0,63})$/;

export interface OrphanCgroupOptions {
  /** Where cgroupfs is mounted (default /sys/fs/cgroup). */
  mount?: string;
  /** The per-QoS root (default /kubepods). */
  root?: string;
  /**
   * A pod cgroup made more recently than this (its mtime: cgroupfs does not change it when a container's
   * cgroup comes or goes under it) is left for the next pass: a sandbox starting right now, of a pod
   * this agent does not know (another agent's on the same host), may be about to use it (default 60 s).
   */
  minAgeMs?: number;
  /** Epoch ms (default Date.now()). */
  now?: number;
}

/** The hierarchies to look in: the unified one (v2), or every v1 controller's. */
async function hierarchies(mount: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(mount, { withFileTypes: true });
  } catch {
    return [];
  }
  if (entries.some((e) => e.name === 'cgroup.controllers')) return [mount];
  return entries.filter((e) => e.isDirectory() && !e.isSymbolicLink()).map((e) => `${mount}/${e.name}`);
}

/**
 * rmdir of each cgroupfs-relative dir in every hierarchy; absent or busy dirs are left. True when none
 * of them exists any more.
 */
export async function removeEmptyCgroups(rels: readonly string[], mount = '/sys/fs/cgroup'): Promise<boolean> {
  let left = false;
  for (const h of await hierarchies(mount)) {
    for (const rel of rels) {
      try {
        await rmdir(`${h}${rel}`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') left = true;
      }
    }
  }
  return !left;
}

/**
 * Removes the empty pod cgroups of pods not in `keep` made at least minAgeMs ago. Busy ones (a
 * process or a container cgroup still in them) are left: rmdir refuses them. Returns how many
 * directories were removed.
 */
export async function removeOrphanPodCgroups(keep: ReadonlySet<string>, opts: OrphanCgroupOptions = {}): Promise<number> {
  const mount = opts.mount ?? '/sys/fs/cgroup';
  const root = (opts.root ?? '/kubepods').replace(/\/+$/, '');
  const minAgeMs = opts.minAgeMs ?? 60_000;
  const now = opts.now ?? Date.now();
  let removed = 0;
  for (const h of await hierarchies(mount)) {
    for (const qos of QOS_DIRS) {
      const dir = `${h}${root}${qos}`;
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        continue; // this controller has no such level
      }
      for (const name of names) {
        const m = POD_DIR.exec(name);
        if (!m || keep.has(m[1]!)) continue;
        const path = `${dir}/${name}`;
        try {
          if (now - (await stat(path)).mtimeMs < minAgeMs) continue;
          await rmdir(path);
          removed++;
        } catch {
          // busy (processes or a container's cgroup under it), or removed meanwhile
        }
      }
    }
  }
  return removed;
}
