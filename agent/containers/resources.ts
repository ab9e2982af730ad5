// Container resources → runtime (cgroup) settings, as kuberuntime calculateLinuxResources and
// pkg/kubelet/cm/helpers_linux.go compute them; and the snapshot of a container's requests/limits it
// was created with (in-place resize: what was actuated, as the allocation manager's actuated state).
import type { Container, ResourceRequirements } from '../../kube/api.js';
import type { Resources } from '../../runtime/types.js';
import { bytesOf, cpuMillis } from './quantity.js';

export const MIN_SHARES = 2;
export const MAX_SHARES = 262144;
export const SHARES_PER_CPU = 1024;
export const QUOTA_PERIOD_US = 100000;
export const MIN_QUOTA_PERIOD_US = 1000;

/** MilliCPUToShares: 0 → 2; otherwise milli·1024/1000 clamped to [2, 262144]. */
export function milliCpuToShares(milli: number): number {
  if (milli === 0) return MIN_SHARES;
  const shares = Math.trunc((milli * SHARES_PER_CPU) / 1000);
  return Math.min(MAX_SHARES, Math.max(MIN_SHARES, shares));
}

/** MilliCPUToQuota: 0 → 0 (no limit); otherwise milli·period/1000, at least 1000 µs. */
export function milliCpuToQuota(milli: number, periodUs = QUOTA_PERIOD_US): number {
  if (milli === 0) return 0;
  return Math.max(MIN_QUOTA_PERIOD_US, Math.trunc((milli * periodUs) / 1000));
}

/**
 * CPU shares from the request (a limit without a request counts as the request; neither → 2 shares),
 * CFS quota/period from the limit, memory limit in bytes. oomScoreAdj is left to the caller (qos.ts).
 */
export function containerResources(container: Container): Resources {
  const requests = container.resources?.requests ?? {};
  const limits = container.resources?.limits ?? {};
  const cpuLimit = cpuMillis(limits.cpu);
  const out: Resources = {};
  out.cpuShares = requests.cpu === undefined && cpuLimit > 0
    ? milliCpuToShares(cpuLimit)
    : milliCpuToShares(cpuMillis(requests.cpu));
  if (cpuLimit > 0) {
    out.cpuPeriod = QUOTA_PERIOD_US;
    out.cpuQuota = milliCpuToQuota(cpuLimit);
  }
  const mem = bytesOf(limits.memory);
  if (mem > 0) out.memoryLimitBytes = mem;
  return out;
}

/** Annotation holding the requests/limits a container was created with (JSON of resourcesSnapshot). */
export const RESOURCES_ANNOTATION = 'io.dockerlet.container.resources';

/** A copy of a container's requests and limits (quantities as strings, as the API server returned them). */
export function resourcesSnapshot(r: ResourceRequirements | undefined): ResourceRequirements {
  const out: ResourceRequirements = {};
  const copy = (m: Record<string, string | number> | undefined) => {
    const entries = Object.entries(m ?? {});
    return entries.length ? Object.fromEntries(entries.map(([k, v]) => [k, String(v)])) : undefined;
  };
  const limits = copy(r?.limits);
  const requests = copy(r?.requests);
  if (limits) out.limits = limits;
  if (requests) out.requests = requests;
  return out;
}

/** Reads the annotation back; undefined when absent (a container of an older dockerlet) or unreadable. */
export function parseResourcesSnapshot(text: string | undefined): ResourceRequirements | undefined {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    return resourcesSnapshot(v as ResourceRequirements);
  } catch {
    return undefined;
  }
}
