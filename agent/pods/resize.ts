// In-place pod resize, the pure part (upstream InPlacePodVerticalScaling, beta and on by default since
// 1.33). Three views of a container's requests/limits, as upstream keeps them:
//   desired   — the pod spec (the API server's `resize` subresource writes it);
//   allocated — what the node accepted (allocation manager handlePodResourcesResize / canResizePod):
//               the desired resources once they fit, otherwise the last accepted ones, with the pod's
//               PodResizePending condition: Infeasible when the pod's requests exceed the node's
//               allocatable ("Node didn't have enough capacity: cpu, requested: …, capacity: …"), Deferred
//               when they do not fit beside the other pods (the admission message);
//   actuated  — what the running container was created with or last updated to (the annotation
//               io.dockerlet.container.resources, then the resizer's own record after each update).
// computeResize is kuberuntime computePodResizeAction: per running container, allocated vs actuated CPU
// request/limit and memory limit; a changed resource whose resizePolicy is RestartContainer restarts the
// container, anything else is a `docker update`; and the pod cgroup before (raised) or after (lowered)
// its containers, memory first and then CPU, decreases before increases (doPodResizeAction).
import type { Container, Pod, ResourceRequirements } from '../../kube/api.js';
import type { ObservedContainer, Resources } from '../../runtime/types.js';
import { podCgroupResources } from '../containers/cgroups.js';
import { bytesOf, cpuMillis } from '../containers/quantity.js';
import { resourcesAdmit, podRequest } from './admission.js';
import { isRunning, type PodObserved } from './observed.js';
import { isSidecar } from './plan.js';

export type ResizeResource = 'cpu' | 'memory';

/** CPU in millicores, memory in bytes; 0 = not set. */
export interface Amounts {
  cpuRequest: number;
  cpuLimit: number;
  memoryRequest: number;
  memoryLimit: number;
}

export interface PendingResize {
  reason: 'Infeasible' | 'Deferred';
  message: string;
}

/** A resizable container: app containers and sidecars (allocation.IsResizableContainer). */
export interface ResizableContainer {
  container: Container;
  kind: 'init' | 'container';
}

export interface ContainerUpdate {
  id: string;
  name: string;
  from: ResourceRequirements;
  to: ResourceRequirements;
  /** CPU request or limit changes. */
  cpu: boolean;
  /** The memory limit changes. */
  memory: boolean;
}

export interface ContainerRestart {
  id: string;
  name: string;
  container: Container;
  kind: 'init' | 'container';
  restartCount: number;
}

export interface ResizePlan {
  /** Running containers to update in place (docker update). */
  updates: ContainerUpdate[];
  /** Running containers whose resizePolicy asks for a restart. */
  restarts: ContainerRestart[];
  /** Containers whose only change needs no runtime call (a memory request): recorded as actuated. */
  recordOnly: { id: string; to: ResourceRequirements }[];
  /** The pod cgroup as the running containers have it, and as the allocation wants it. */
  podFrom: Resources;
  podTo: Resources;
}

const NUM = (f: () => number): number => {
  try {
    const n = f();
    return Number.isFinite(n) ? n : 0;
  } catch {
    return 0;
  }
};

export function amountsOf(r: ResourceRequirements | undefined): Amounts {
  const req = r?.requests ?? {};
  const lim = r?.limits ?? {};
  return {
    // A request left unset defaults to the limit (API defaulting).
    cpuRequest: NUM(() => cpuMillis(req.cpu ?? lim.cpu)),
    cpuLimit: NUM(() => cpuMillis(lim.cpu)),
    memoryRequest: NUM(() => bytesOf(req.memory ?? lim.memory)),
    memoryLimit: NUM(() => bytesOf(lim.memory)),
  };
}

export function sameAmounts(a: Amounts, b: Amounts): boolean {
  return a.cpuRequest === b.cpuRequest && a.cpuLimit === b.cpuLimit && a.memoryRequest === b.memoryRequest && a.memoryLimit === b.memoryLimit;
}

export function resizableContainers(pod: Pod): ResizableContainer[] {
  return [
    ...(pod.spec.initContainers ?? []).filter(isSidecar).map((container) => ({ container, kind: 'init' as const })),
    ...pod.spec.containers.map((container) => ({ container, kind: 'container' as const })),
  ];
}

type ResizePolicyEntry = { resourceName?: string; restartPolicy?: string };

/** resizePolicy[].restartPolicy of a resource; NotRequired when not given. */
export function resizePolicyOf(c: Container, res: ResizeResource): 'NotRequired' | 'RestartContainer' {
  const list = (c as Container & { resizePolicy?: ResizePolicyEntry[] }).resizePolicy ?? [];
  return list.find((p) => p.resourceName === res)?.restartPolicy === 'RestartContainer' ? 'RestartContainer' : 'NotRequired';
}

/** The pod with each resizable container's resources replaced (allocation.updatePodFromAllocation). */
export function podWithResources(pod: Pod, byName: ReadonlyMap<string, ResourceRequirements>): Pod {
  const swap = (c: Container): Container => (byName.has(c.name) ? { ...c, resources: byName.get(c.name)! } : c);
  const spec = { ...pod.spec, containers: pod.spec.containers.map(swap) };
  if (pod.spec.initContainers) spec.initContainers = pod.spec.initContainers.map(swap);
  return { ...pod, spec };
}

/**
 * canResizePod: Infeasible when the pod's requests exceed the node's allocatable (memory named first, as
 * upstream); Deferred when they do not fit beside the other admitted pods (the admission's message).
 */
export function checkResize(desired: Pod, allocatable: { cpuMillis: number; memoryBytes: number }, others: readonly Pod[]): PendingResize | undefined {
  const cpu = NUM(() => podRequest(desired, 'cpu'));
  const memory = NUM(() => podRequest(desired, 'memory'));
  if (cpu > allocatable.cpuMillis || memory > allocatable.memoryBytes) {
    const what = memory > allocatable.memoryBytes
      ? `memory, requested: ${memory}, capacity: ${allocatable.memoryBytes}`
      : `cpu, requested: ${cpu}, capacity: ${allocatable.cpuMillis}`;
    return { reason: 'Infeasible', message: `Node didn't have enough capacity: ${what}` };
  }
  const uid = desired.metadata.uid;
  const rest = others.filter((p) => p.metadata.uid !== uid);
  const rejected = resourcesAdmit(desired, { others: rest, allocatable: { ...allocatable, pods: Number.MAX_SAFE_INTEGER }, allowedUnsafeSysctls: [] });
  return rejected ? { reason: 'Deferred', message: rejected.message } : undefined;
}

export interface ComputeResizeInput {
  /** The pod with its allocated resources (podWithResources of the accepted allocation). */
  allocated: Pod;
  observed: PodObserved;
  /** What a running container was created with / last updated to; undefined for an older agent's container. */
  actuated(c: ObservedContainer): ResourceRequirements | undefined;
}

/** The running instance of a container (newest first per name), if it runs. */
export function runningInstance(observed: PodObserved, name: string): ObservedContainer | undefined {
  const cur = observed.byName.get(name)?.[0];
  return isRunning(cur) ? cur : undefined;
}

/** computePodResizeAction over every resizable container, and the pod cgroup's before/after. */
export function computeResize(input: ComputeResizeInput): ResizePlan {
  const plan: ResizePlan = { updates: [], restarts: [], recordOnly: [], podFrom: {}, podTo: {} };
  const current = new Map<string, ResourceRequirements>();
  for (const { container, kind } of resizableContainers(input.allocated)) {
    const running = runningInstance(input.observed, container.name);
    if (!running) continue;
    const actual = input.actuated(running);
    if (!actual) continue; // an older agent's container: it runs what its (matching) spec says
    current.set(container.name, actual);
    const want = amountsOf(container.resources);
    const have = amountsOf(actual);
    if (sameAmounts(want, have)) continue;
    const cpu = want.cpuLimit !== have.cpuLimit || want.cpuRequest !== have.cpuRequest;
    const memory = want.memoryLimit !== have.memoryLimit;
    const memoryRequest = want.memoryRequest !== have.memoryRequest;
    const restart = (cpu && resizePolicyOf(container, 'cpu') === 'RestartContainer')
      || ((memory || memoryRequest) && resizePolicyOf(container, 'memory') === 'RestartContainer');
    const to = container.resources ?? {};
    if (restart) {
      // The old instance is killed first; the pod cgroup goes from what it ran with to the allocation
      // (raised before the new instance starts, lowered once it was killed).
      plan.restarts.push({ id: running.id, name: container.name, container, kind, restartCount: running.restartCount + 1 });
    } else if (cpu || memory) {
      plan.updates.push({ id: running.id, name: container.name, from: actual, to, cpu, memory });
    } else {
      plan.recordOnly.push({ id: running.id, to });
    }
  }
  plan.podFrom = podCgroupResources(podWithResources(input.allocated, current));
  plan.podTo = podCgroupResources(input.allocated);
  return plan;
}

/** Whether the plan changes anything on the node. */
export function planIsEmpty(p: ResizePlan): boolean {
  const podSame = p.podFrom.cpuShares === p.podTo.cpuShares && p.podFrom.cpuQuota === p.podTo.cpuQuota
    && p.podFrom.memoryLimitBytes === p.podTo.memoryLimitBytes;
  return p.updates.length === 0 && p.restarts.length === 0 && p.recordOnly.length === 0 && podSame;
}

/**
 * The order of one resource's container updates: decreases first, then increases (so the pod's sum
 * never overshoots), as computePodResizeAction's prepend/append.
 */
export function orderedUpdates(updates: readonly ContainerUpdate[], res: ResizeResource): ContainerUpdate[] {
  const key = (u: ContainerUpdate) => (res === 'memory'
    ? amountsOf(u.to).memoryLimit - amountsOf(u.from).memoryLimit
    : (amountsOf(u.to).cpuLimit - amountsOf(u.from).cpuLimit) || (amountsOf(u.to).cpuRequest - amountsOf(u.from).cpuRequest));
  const list = updates.filter((u) => (res === 'memory' ? u.memory : u.cpu));
  return [...list.filter((u) => key(u) < 0), ...list.filter((u) => key(u) >= 0)];
}

/** The runtime fields of one resource for a container's update (the other resource is left as it is). */
export function updateFields(to: Resources, res: ResizeResource): Resources {
  if (res === 'memory') return to.memoryLimitBytes !== undefined ? { memoryLimitBytes: to.memoryLimitBytes } : {};
  const out: Resources = {};
  if (to.cpuShares !== undefined) out.cpuShares = to.cpuShares;
  if (to.cpuQuota !== undefined) out.cpuQuota = to.cpuQuota;
  if (to.cpuPeriod !== undefined) out.cpuPeriod = to.cpuPeriod;
  return out;
}

/** The actuated snapshot after one resource's update went through: that resource from `to`, the rest from `from`. */
export function mergeActuated(from: ResourceRequirements, to: ResourceRequirements, res: ResizeResource): ResourceRequirements {
  const pick = (m: Record<string, string | number> | undefined, other: Record<string, string | number> | undefined) => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(other ?? {})) if (k !== res) out[k] = String(v);
    const mine = m?.[res];
    if (mine !== undefined) out[res] = String(mine);
    return Object.keys(out).length ? out : undefined;
  };
  const out: ResourceRequirements = {};
  const limits = pick(to.limits, from.limits);
  const requests = pick(to.requests, from.requests);
  if (limits) out.limits = limits;
  if (requests) out.requests = requests;
  return out;
}

/** The pod cgroup's fields of one resource: limit (quota/memory) or request (shares). */
export function podFields(r: Resources, res: ResizeResource, part: 'limit' | 'request'): Resources {
  if (res === 'memory') return r.memoryLimitBytes !== undefined ? { memoryLimitBytes: r.memoryLimitBytes } : {};
  if (part === 'request') return r.cpuShares !== undefined ? { cpuShares: r.cpuShares } : {};
  return r.cpuQuota !== undefined ? { cpuQuota: r.cpuQuota, cpuPeriod: r.cpuPeriod ?? 100000 } : {};
}

/** -1, 0, 1: whether the pod cgroup's value of a resource part goes down, stays, goes up. An absent limit is unlimited. */
export function podDirection(from: Resources, to: Resources, res: ResizeResource, part: 'limit' | 'request'): -1 | 0 | 1 {
  const val = (r: Resources): number => {
    if (res === 'memory') return r.memoryLimitBytes ?? Infinity;
    if (part === 'request') return r.cpuShares ?? 0;
    return r.cpuQuota === undefined || r.cpuQuota <= 0 ? Infinity : r.cpuQuota;
  };
  const a = val(from);
  const b = val(to);
  return a === b ? 0 : b > a ? 1 : -1;
}
