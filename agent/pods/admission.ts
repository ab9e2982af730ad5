// Pod admission as the upstream kubelet's admit handlers (pkg/kubelet/lifecycle/predicate.go and
// kubelet.go canAdmitPod): a chain of pure checks run once, when a pod first reaches this node; the
// first refusal wins and the pod is failed with its reason and message and never started.
//   sysctls      — unsafe sysctls not allowed on this node: SysctlForbidden (the container spec
//                  part's agent/containers/sysctls.ts sysctlsAdmit)
//   OS           — spec.os.name other than linux: PodOSNotSupported; a kubernetes.io/os node selector
//                  other than linux: PodOSSelectorNodeLabelDoesNotMatch
//   AppArmor     — a profile other than Unconfined where the host has no AppArmor (security.ts)
//   resources    — pods over maxPods, CPU/memory requests over allocatable: OutOfpods / OutOfcpu /
//                  OutOfmemory, message "Node didn't have enough resource: …" (InsufficientResourceError)
import type { Container, Pod } from '../../kube/api.js';
import { bytesOf, cpuMillis } from '../containers/quantity.js';
import { appArmorAdmit } from '../containers/security.js';
import { sysctlsAdmit } from '../containers/sysctls.js';

export interface Rejection {
  reason: string;
  message: string;
}

export interface AdmitContext {
  /** Pods already admitted here and not terminal. */
  others: readonly Pod[];
  allocatable: { cpuMillis: number; memoryBytes: number; pods: number };
  /** kubelet allowedUnsafeSysctls (names or prefixes ending in *). */
  allowedUnsafeSysctls: readonly string[];
}

export type PodAdmitter = (pod: Pod, ctx: AdmitContext) => Rejection | undefined;

type PodSpecExtra = { os?: { name?: string } };

export const osAdmit: PodAdmitter = (pod) => {
  const selector = pod.spec.nodeSelector?.['kubernetes.io/os'];
  if (selector !== undefined && selector !== 'linux') {
    return { reason: 'PodOSSelectorNodeLabelDoesNotMatch', message: "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label" };
  }
  const os = (pod.spec as PodSpecExtra).os?.name;
  if (os !== undefined && os !== 'linux') return { reason: 'PodOSNotSupported', message: "Failed to admit pod as the OS field doesn't match node OS" };
  return undefined;
};

function safe(f: () => number): number {
  try {
    const n = f();
    return Number.isFinite(n) ? n : 0;
  } catch {
    return 0;
  }
}

function requestOf(c: Container, res: 'cpu' | 'memory'): number {
  const q = c.resources?.requests?.[res];
  if (q === undefined) return 0;
  return res === 'cpu' ? safe(() => cpuMillis(q)) : safe(() => bytesOf(q));
}

/**
 * resourcehelper.PodRequests: the app containers and sidecars together, or the largest regular init
 * container plus the sidecars started before it, whichever is more; plus the pod overhead.
 */
export function podRequest(pod: Pod, res: 'cpu' | 'memory'): number {
  let sidecars = 0;
  let initMax = 0;
  for (const c of pod.spec.initContainers ?? []) {
    const r = requestOf(c, res);
    if (c.restartPolicy === 'Always') sidecars += r;
    else initMax = Math.max(initMax, sidecars + r);
  }
  const apps = pod.spec.containers.reduce((s, c) => s + requestOf(c, res), 0) + sidecars;
  const overhead = (pod.spec as { overhead?: Record<string, string | number> }).overhead?.[res];
  const extra = overhead === undefined ? 0 : res === 'cpu' ? safe(() => cpuMillis(overhead)) : safe(() => bytesOf(overhead));
  return Math.max(apps, initMax) + extra;
}

function insufficient(resource: string, requested: number, used: number, capacity: number): Rejection {
  return { reason: `OutOf${resource}`, message: `Node didn't have enough resource: ${resource}, requested: ${requested}, used: ${used}, capacity: ${capacity}` };
}

/** The scheduler's Fits, as GeneralPredicates runs it on the node: pods first, then cpu, memory. */
export const resourcesAdmit: PodAdmitter = (pod, ctx) => {
  const { allocatable: alloc, others } = ctx;
  if (others.length + 1 > alloc.pods) return insufficient('pods', 1, others.length, alloc.pods);
  for (const res of ['cpu', 'memory'] as const) {
    const requested = podRequest(pod, res);
    if (requested === 0) continue;
    const used = others.reduce((s, p) => s + podRequest(p, res), 0);
    const capacity = res === 'cpu' ? alloc.cpuMillis : alloc.memoryBytes;
    if (requested + used > capacity) return insufficient(res, requested, used, capacity);
  }
  return undefined;
};

/** Runs the chain; the first refusal wins. */
export function admitPod(pod: Pod, ctx: AdmitContext, chain: readonly PodAdmitter[]): Rejection | undefined {
  for (const admit of chain) {
    const r = admit(pod, ctx);
    if (r) return r;
  }
  return undefined;
}

/** Unsafe sysctls not allowed on this node (agent/containers/sysctls.ts): SysctlForbidden. */
export const sysctlAdmit: PodAdmitter = (pod, ctx) => sysctlsAdmit(pod, ctx.allowedUnsafeSysctls);

/** A non-Unconfined AppArmor profile on a host without AppArmor (agent/containers/security.ts): AppArmor. */
export const apparmorAdmit: PodAdmitter = (pod) => appArmorAdmit(pod);

/** The chain without the sysctl and AppArmor checks. */
export const BASE_ADMITTERS: readonly PodAdmitter[] = [osAdmit, resourcesAdmit];
/** The kubelet's order: sysctls, the predicate handler (OS, resources), then AppArmor. */
export const DEFAULT_ADMITTERS: readonly PodAdmitter[] = [sysctlAdmit, ...BASE_ADMITTERS, apparmorAdmit];
