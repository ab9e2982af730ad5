// Pod QoS class (pkg/apis/core/v1/helper/qos) and container oom_score_adj (pkg/kubelet/qos/policy.go).
import type { Container, Pod } from '../../kube/api.js';
import { addQuantity, compareQuantity, parseQuantity, value, ZERO, type Quantity } from './quantity.js';

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

const QOS_RESOURCES = ['cpu', 'memory'] as const;
export const GUARANTEED_OOM_SCORE_ADJ = -997;
export const BESTEFFORT_OOM_SCORE_ADJ = 1000;
const SYSTEM_CRITICAL_PRIORITY = 2_000_000_000;

/** Requests as the API server defaults them: a resource with a limit but no request requests its limit. */
export function effectiveRequests(c: Container): Record<string, string | number> {
  const out: Record<string, string | number> = { ...(c.resources?.requests ?? {}) };
  for (const [k, v] of Object.entries(c.resources?.limits ?? {})) if (out[k] === undefined) out[k] = v;
  return out;
}

/** Computes the QoS class from the spec (ignores status.qosClass). */
export function computeQosClass(pod: Pod): QosClass {
  const requests = new Map<string, Quantity>();
  const limits = new Map<string, Quantity>();
  let guaranteed = true;
  const all = [...(pod.spec.containers ?? []), ...(pod.spec.initContainers ?? [])];
  for (const c of all) {
    for (const [name, raw] of Object.entries(effectiveRequests(c))) {
      if (!(QOS_RESOURCES as readonly string[]).includes(name)) continue;
      const q = parseQuantity(raw);
      if (compareQuantity(q, ZERO) > 0) requests.set(name, addQuantity(requests.get(name) ?? ZERO, q));
    }
    const found = new Set<string>();
    for (const [name, raw] of Object.entries(c.resources?.limits ?? {})) {
      if (!(QOS_RESOURCES as readonly string[]).includes(name)) continue;
      const q = parseQuantity(raw);
      if (compareQuantity(q, ZERO) > 0) {
        found.add(name);
        limits.set(name, addQuantity(limits.get(name) ?? ZERO, q));
      }
    }
    if (!found.has('cpu') || !found.has('memory')) guaranteed = false;
  }
  if (requests.size === 0 && limits.size === 0) return 'BestEffort';
  if (guaranteed) {
    for (const [name, req] of requests) {
      const lim = limits.get(name);
      if (!lim || compareQuantity(lim, req) !== 0) {
        guaranteed = false;
        break;
      }
    }
  }
  return guaranteed && requests.size === limits.size ? 'Guaranteed' : 'Burstable';
}

/** GetPodQOS: status.qosClass when the API server already set it, else computed. */
export function qosClass(pod: Pod): QosClass {
  return pod.status?.qosClass ?? computeQosClass(pod);
}

function isStaticOrMirror(pod: Pod): boolean {
  const a = pod.metadata.annotations ?? {};
  const src = a['kubernetes.io/config.source'];
  return (src !== undefined && src !== 'api') || a['kubernetes.io/config.mirror'] !== undefined;
}

/** types.IsNodeCriticalPod: a critical pod (static, mirror or priority ≥ system-critical) of class system-node-critical. */
export function isNodeCriticalPod(pod: Pod): boolean {
  const critical = isStaticOrMirror(pod) || (pod.spec.priority ?? 0) >= SYSTEM_CRITICAL_PRIORITY;
  return critical && pod.spec.priorityClassName === 'system-node-critical';
}

function memoryRequest(c: Container): number {
  const r = effectiveRequests(c).memory;
  return r === undefined ? 0 : value(r);
}

/**
 * oom_score_adj for a container (kubelet GetContainerOOMScoreAdjust): node-critical and Guaranteed −997,
 * BestEffort 1000, Burstable 1000 − 1000·memRequest/capacity clamped to [3, 999]; a sidecar (restartable
 * init container) never scores above the regular container with the smallest memory request.
 * Note: upstream code clamps at 1000 + (−997) = 3; the docs' "max(2, …)" is off by one.
 */
export function oomScoreAdj(pod: Pod, container: Container, memoryCapacityBytes: number): number {
  if (isNodeCriticalPod(pod)) return GUARANTEED_OOM_SCORE_ADJ;
  const cls = qosClass(pod);
  if (cls === 'Guaranteed') return GUARANTEED_OOM_SCORE_ADJ;
  if (cls === 'BestEffort') return BESTEFFORT_OOM_SCORE_ADJ;
  const cap = Math.max(1, Math.trunc(memoryCapacityBytes));
  const score = (req: number) => 1000 - Math.trunc((1000 * req) / cap);
  let adj = score(memoryRequest(container));
  const isSidecar = container.restartPolicy === 'Always' && (pod.spec.initContainers ?? []).some((c) => c.name === container.name);
  if (isSidecar && pod.spec.containers.length > 0) {
    const minReq = Math.min(...pod.spec.containers.map(memoryRequest));
    adj = Math.min(adj, score(minReq));
  }
  if (adj < 1000 + GUARANTEED_OOM_SCORE_ADJ) return 1000 + GUARANTEED_OOM_SCORE_ADJ;
  if (adj === BESTEFFORT_OOM_SCORE_ADJ) return adj - 1;
  return adj;
}
