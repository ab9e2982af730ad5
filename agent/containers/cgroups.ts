// Pod-level cgroups as the kubelet's cgroupfs layout with cgroupsPerQOS (pkg/kubelet/cm
// pod_container_manager_linux.go GetPodContainerName, qos_container_manager_linux.go): Guaranteed pods
// under /kubepods/pod<uid>, Burstable under /kubepods/burstable/pod<uid>, BestEffort under
// /kubepods/besteffort/pod<uid>. The sandbox and every container of the pod take it as their cgroup
// parent, so the pod's totals can be read from one directory (metrics/ reads HostConfig.CgroupParent).
// With Docker's systemd cgroup driver the runtime turns the path into slices (runtime/docker/specs.ts).
import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pod } from '../../kube/api.js';
import { qosClass } from './qos.js';

/** The kubelet's default --cgroup-root '/' with cgroupsPerQOS: the node-allocatable cgroup "kubepods". */
export const KUBEPODS_CGROUP = '/kubepods';

export function podCgroupParent(pod: Pod, root: string = KUBEPODS_CGROUP): string {
  const uid = pod.metadata.uid ?? '';
  const base = root.replace(/\/+$/, '');
  switch (qosClass(pod)) {
    case 'Guaranteed': return `${base}/pod${uid}`;
    case 'Burstable': return `${base}/burstable/pod${uid}`;
    default: return `${base}/besteffort/pod${uid}`;
  }
}

/** Where the cgroup v1 controllers / the v2 unified hierarchy are mounted. */
export const CGROUP_MOUNT = '/sys/fs/cgroup';

/**
 * Removes a gone pod's (empty) pod cgroups under every controller, as the kubelet's
 * podContainerManager.Destroy after its containers are removed (Docker removes only the containers'
 * own cgroups). Non-empty or absent directories are left alone; returns how many were removed.
 */
export async function removePodCgroups(podUid: string, root: string = KUBEPODS_CGROUP, mount: string = CGROUP_MOUNT): Promise<number> {
  if (!podUid || podUid.includes('/') || podUid.startsWith('.')) return 0;
  const base = root.replace(/^\/+|\/+$/g, '');
  const rels = [`${base}/pod${podUid}`, `${base}/burstable/pod${podUid}`, `${base}/besteffort/pod${podUid}`];
  let controllers: string[];
  try {
    controllers = (await readdir(mount, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return 0;
  }
  const dirs = [...rels.map((r) => join(mount, r)), ...controllers.flatMap((c) => rels.map((r) => join(mount, c, r)))];
  let removed = 0;
  for (const d of dirs) {
    try {
      await rmdir(d);
      removed++;
    } catch {
      // absent, or still has processes/children
    }
  }
  return removed;
}
