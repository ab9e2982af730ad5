// Pod-level cgroups as the kubelet's cgroupfs layout with cgroupsPerQOS (pkg/kubelet/cm
// pod_container_manager_linux.go GetPodContainerName, qos_container_manager_linux.go): Guaranteed pods
// under /kubepods/pod<uid>, Burstable under /kubepods/burstable/pod<uid>, BestEffort under
// /kubepods/besteffort/pod<uid>. The sandbox and every container of the pod take it as their cgroup
// parent, so the pod's totals can be read from one directory (metrics/ reads HostConfig.CgroupParent).
// With Docker's systemd cgroup driver the runtime turns the path into slices (runtime/docker/specs.ts).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Container, Pod } from '../../kube/api.js';
import type { Resources } from '../../runtime/types.js';
import { bytesOf, cpuMillis } from './quantity.js';
import { qosClass } from './qos.js';
import { milliCpuToQuota, milliCpuToShares, MIN_SHARES, QUOTA_PERIOD_US } from './resources.js';

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

interface Amounts {
  cpu: number; // millicores
  memory: number; // bytes
}

const add = (a: Amounts, b: Amounts): Amounts => ({ cpu: a.cpu + b.cpu, memory: a.memory + b.memory });
const max = (a: Amounts, b: Amounts): Amounts => ({ cpu: Math.max(a.cpu, b.cpu), memory: Math.max(a.memory, b.memory) });

function amounts(c: Container, kind: 'requests' | 'limits'): Amounts {
  const r = c.resources?.[kind] ?? {};
  // A request left unset defaults to the limit (API defaulting); a limit never defaults.
  const l = kind === 'requests' ? c.resources?.limits ?? {} : {};
  return { cpu: cpuMillis(r.cpu ?? l.cpu), memory: bytesOf(r.memory ?? l.memory) };
}

/**
 * resource.PodRequests / PodLimits: the sum over app containers and sidecars (restartable init
 * containers), at least each regular init container plus the sidecars started before it; plus overhead.
 */
export function podAmounts(pod: Pod, kind: 'requests' | 'limits'): Amounts {
  let sum: Amounts = { cpu: 0, memory: 0 };
  for (const c of pod.spec.containers) sum = add(sum, amounts(c, kind));
  let sidecars: Amounts = { cpu: 0, memory: 0 };
  let initMax: Amounts = { cpu: 0, memory: 0 };
  for (const c of pod.spec.initContainers ?? []) {
    if (c.restartPolicy === 'Always') {
      sidecars = add(sidecars, amounts(c, kind));
      initMax = max(initMax, sidecars);
    } else {
      initMax = max(initMax, add(amounts(c, kind), sidecars));
    }
  }
  let out = max(add(sum, sidecars), initMax);
  const overhead = (pod.spec as { overhead?: Record<string, string> }).overhead;
  if (overhead) out = add(out, { cpu: cpuMillis(overhead.cpu), memory: bytesOf(overhead.memory) });
  return out;
}

/**
 * ResourceConfigForPod (pkg/kubelet/cm/helpers_linux.go): the pod cgroup's CPU shares from the pod's
 * CPU requests; Guaranteed pods also get the CFS quota and the memory limit of the summed limits;
 * Burstable pods get a quota / memory limit only when every container declares that limit; BestEffort
 * pods get the minimum shares.
 */
export function podCgroupResources(pod: Pod): Resources {
  const qos = qosClass(pod);
  if (qos === 'BestEffort') return { cpuShares: MIN_SHARES };
  const reqs = podAmounts(pod, 'requests');
  const limits = podAmounts(pod, 'limits');
  const all = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  const cpuDeclared = all.every((c) => cpuMillis(c.resources?.limits?.cpu) > 0);
  const memDeclared = all.every((c) => bytesOf(c.resources?.limits?.memory) > 0);
  const out: Resources = { cpuShares: milliCpuToShares(reqs.cpu) };
  if (qos === 'Guaranteed' || cpuDeclared) {
    out.cpuPeriod = QUOTA_PERIOD_US;
    out.cpuQuota = milliCpuToQuota(limits.cpu);
  }
  if ((qos === 'Guaranteed' || memDeclared) && limits.memory > 0) out.memoryLimitBytes = limits.memory;
  return out;
}

async function readNumber(path: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(path, 'utf8')).trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

async function inactiveFile(statPath: string, key: string): Promise<number> {
  try {
    const line = (await readFile(statPath, 'utf8')).split('\n').find((l) => l.startsWith(`${key} `));
    const n = Number(line?.split(' ')[1]);
    return Number.isFinite(n) ? n : 0;
  } catch {
    return 0;
  }
}

/**
 * The memory working set (usage minus inactive file pages, as cAdvisor and the kubelet count it) of a
 * cgroupfs cgroup: a pod cgroup (`/kubepods/burstable/pod<uid>`) or a container's under it
 * (`…/pod<uid>/<container id>`). cgroup v2 first, then v1; undefined when it cannot be read (a
 * systemd-driver layout, or gone). In-place resize checks it before lowering a memory limit.
 */
export async function memoryWorkingSet(cgroup: string, mount: string = CGROUP_MOUNT): Promise<number | undefined> {
  const rel = cgroup.startsWith('/') ? cgroup : `/${cgroup}`;
  const v2 = await readNumber(join(mount, rel, 'memory.current'));
  if (v2 !== undefined) return Math.max(0, v2 - (await inactiveFile(join(mount, rel, 'memory.stat'), 'inactive_file')));
  const v1 = await readNumber(join(mount, 'memory', rel, 'memory.usage_in_bytes'));
  if (v1 !== undefined) return Math.max(0, v1 - (await inactiveFile(join(mount, 'memory', rel, 'memory.stat'), 'total_inactive_file')));
  return undefined;
}
