// The kubelet-owned pod conditions, as upstream pkg/kubelet/status/generate.go computes them from the
// container statuses and the phase: Initialized (restartable init containers — sidecars — count once
// started; a pod whose regular containers have started stays initialized), ContainersReady (app
// containers and sidecars), Ready (ContainersReady, then every spec.readinessGates condition True —
// read from the conditions others wrote on the API object), with PodCompleted/PodFailed for the
// terminal phases; the in-place resize conditions PodResizePending (reason Infeasible or Deferred) and
// PodResizeInProgress (reason Error when actuating failed), each with the metadata.generation it refers
// to (status_manager SetPodResizePendingCondition / SetPodResizeInProgressCondition), while every other
// kubelet condition carries the pod's current generation (PodObservedGenerationTracking, beta in 1.34).
// Pure: no I/O.
import type { Container, ContainerStatus, Pod, PodCondition, PodPhase, ResourceRequirements } from '../../kube/api.js';

/** Reasons from upstream generate.go. */
export const Reasons = {
  UnknownContainerStatuses: 'UnknownContainerStatuses',
  PodCompleted: 'PodCompleted',
  PodFailed: 'PodFailed',
  ContainersNotReady: 'ContainersNotReady',
  ContainersNotInitialized: 'ContainersNotInitialized',
  ReadinessGatesNotReady: 'ReadinessGatesNotReady',
} as const;

/** A condition before the transition time is stamped. */
export interface ConditionValue {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  /** The pod generation the condition refers to (absent: the pod's current generation, when it has one). */
  observedGeneration?: number;
}

export const PodResizePending = 'PodResizePending';
export const PodResizeInProgress = 'PodResizeInProgress';

/** What the in-place resizer (agent/pods/resize-apply.ts) reports for a pod's status. */
export interface PodResizeStatus {
  /** PodResizePending (Infeasible/Deferred) and/or PodResizeInProgress, each status True; none when settled. */
  conditions: ConditionValue[];
  /** containerStatuses[].resources by container name: what runs (actuated), or the allocation when not running. */
  resources: ReadonlyMap<string, ResourceRequirements>;
}

/** spec.readinessGates (core/v1 PodReadinessGate). */
export function readinessGatesOf(pod: Pod): string[] {
  const gates = (pod.spec as { readinessGates?: { conditionType?: string }[] }).readinessGates ?? [];
  return gates.map((g) => g.conditionType ?? '').filter((t) => t !== '');
}

/** podutil.IsRestartableInitContainer: an init container with restartPolicy Always (a sidecar). */
export function isRestartableInit(c: Container): boolean {
  return c.restartPolicy === 'Always';
}

/** Go's %s of a []string: [a b c]. */
function goList(names: string[]): string {
  return `[${names.join(' ')}]`;
}

function statusOf(statuses: readonly ContainerStatus[], name: string): ContainerStatus | undefined {
  return statuses.find((s) => s.name === name);
}

/** kubecontainer.HasAnyRegularContainerStarted: a regular container is running or has terminated. */
export function hasAnyRegularContainerStarted(pod: Pod, statuses: readonly ContainerStatus[]): boolean {
  const names = new Set(pod.spec.containers.map((c) => c.name));
  return statuses.some((s) => names.has(s.name) && (s.state?.running !== undefined || s.state?.terminated !== undefined));
}

/** GeneratePodInitializedCondition over init + app container statuses. */
export function initializedCondition(pod: Pod, statuses: readonly ContainerStatus[], phase: PodPhase): ConditionValue {
  const inits = pod.spec.initContainers ?? [];
  if (inits.length === 0) return { type: 'Initialized', status: 'True' };
  const unknown: string[] = [];
  const incomplete: string[] = [];
  for (const c of inits) {
    const s = statusOf(statuses, c.name);
    if (!s) {
      unknown.push(c.name);
      continue;
    }
    if (isRestartableInit(c)) {
      if (!s.started) incomplete.push(c.name);
      continue;
    }
    if (s.state?.terminated?.exitCode !== 0) incomplete.push(c.name);
  }
  if (phase === 'Succeeded' && unknown.length === 0) return { type: 'Initialized', status: 'True', reason: Reasons.PodCompleted };
  if (hasAnyRegularContainerStarted(pod, statuses)) return { type: 'Initialized', status: 'True' };
  const messages: string[] = [];
  if (unknown.length) messages.push(`containers with unknown status: ${goList(unknown)}`);
  if (incomplete.length) messages.push(`containers with incomplete status: ${goList(incomplete)}`);
  if (messages.length) return { type: 'Initialized', status: 'False', reason: Reasons.ContainersNotInitialized, message: messages.join(', ') };
  return { type: 'Initialized', status: 'True' };
}

/** GenerateContainersReadyCondition: sidecars and app containers ready; terminal phases are never ready. */
export function containersReadyCondition(pod: Pod, statuses: readonly ContainerStatus[], phase: PodPhase): ConditionValue {
  const unknown: string[] = [];
  const unready: string[] = [];
  const counted = [...(pod.spec.initContainers ?? []).filter(isRestartableInit), ...pod.spec.containers];
  for (const c of counted) {
    const s = statusOf(statuses, c.name);
    if (!s) unknown.push(c.name);
    else if (!s.ready) unready.push(c.name);
  }
  if ((phase === 'Succeeded' && unknown.length === 0) || phase === 'Failed') {
    return { type: 'ContainersReady', status: 'False', reason: phase === 'Failed' ? Reasons.PodFailed : Reasons.PodCompleted };
  }
  const messages: string[] = [];
  if (unknown.length) messages.push(`containers with unknown status: ${goList(unknown)}`);
  if (unready.length) messages.push(`containers with unready status: ${goList(unready)}`);
  if (messages.length) return { type: 'ContainersReady', status: 'False', reason: Reasons.ContainersNotReady, message: messages.join(', ') };
  return { type: 'ContainersReady', status: 'True' };
}

/**
 * GeneratePodReadyCondition: as ContainersReady unless that is True; then every readiness gate's
 * condition (among `conditions`: the API object's, which other controllers write) must be True.
 */
export function readyCondition(pod: Pod, containersReady: ConditionValue, conditions: readonly { type: string; status: string }[]): ConditionValue {
  if (containersReady.status !== 'True') {
    const c: ConditionValue = { type: 'Ready', status: containersReady.status };
    if (containersReady.reason) c.reason = containersReady.reason;
    if (containersReady.message) c.message = containersReady.message;
    return c;
  }
  const unready: string[] = [];
  for (const gate of readinessGatesOf(pod)) {
    const c = conditions.find((x) => x.type === gate);
    if (!c) unready.push(`corresponding condition of pod readiness gate "${gate}" does not exist.`);
    else if (c.status !== 'True') unready.push(`the status of pod readiness gate "${gate}" is not "True", but ${c.status}`);
  }
  if (unready.length) return { type: 'Ready', status: 'False', reason: Reasons.ReadinessGatesNotReady, message: unready.join(', ') };
  return { type: 'Ready', status: 'True' };
}

/** Stamps lastTransitionTime: kept from the previous condition of the type while its status holds. */
export function stamp(v: ConditionValue, previous: readonly PodCondition[] | undefined, now: string): PodCondition {
  const prev = previous?.find((c) => c.type === v.type);
  const c: PodCondition = { type: v.type, status: v.status, lastProbeTime: null, lastTransitionTime: prev && prev.status === v.status ? prev.lastTransitionTime : now };
  if (v.reason) c.reason = v.reason;
  if (v.message) c.message = v.message;
  if (v.observedGeneration !== undefined) c.observedGeneration = v.observedGeneration;
  return c;
}
