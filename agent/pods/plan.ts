// computePodActions: the pure plan of one pod sync — what to kill, what to create and start —
// from the desired pod, what the runtime shows, and the crash-loop back-off. No I/O here.
import type { Container, Pod } from '../../kube/api.js';
import type { ObservedContainer } from '../../runtime/types.js';
import { exitCodeOf, isFinished, isRunning, type PodObserved } from './observed.js';
import type { KillAction, PodActions, StartAction } from './types.js';

export interface PlanInput {
  pod: Pod;
  observed: PodObserved;
  /** The pod is being deleted or was removed from its source. */
  terminating: boolean;
  /** Spec hash of a container (agent/containers/hash.ts). */
  specHash(container: Container): string;
  /** Remaining crash-loop back-off in ms for a container whose last instance finished at finishedAtMs (0 = may restart now). */
  backoffRemaining(containerName: string, finishedAtMs: number): number;
  /** Grace period (s) for kills during deletion. */
  graceSeconds: number;
}

export function restartPolicyOf(pod: Pod): 'Always' | 'OnFailure' | 'Never' {
  return pod.spec.restartPolicy ?? 'Always';
}

/** Whether a finished container should be started again under the pod's restart policy. */
export function shouldRestart(pod: Pod, last: ObservedContainer): boolean {
  const policy = restartPolicyOf(pod);
  if (policy === 'Always') return true;
  if (policy === 'OnFailure') return exitCodeOf(last) !== 0;
  return false;
}

function emptyPlan(observed: PodObserved): PodActions {
  return {
    killPod: false,
    createSandbox: false,
    sandboxAttempt: observed.sandbox ? observed.sandbox.attempt + 1 : 0,
    sandboxId: isRunning(observed.sandbox) ? observed.sandbox?.id : undefined,
    containersToKill: [],
    containersToStart: [],
    backingOff: new Map(),
  };
}

function timeMs(iso: string | undefined): number {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(t) ? t : 0;
}

function nextInstance(container: Container, kind: 'init' | 'container', last: ObservedContainer | undefined, reason: StartAction['reason']): StartAction {
  const restartCount = last ? last.restartCount + 1 : 0;
  return { container, kind, attempt: restartCount, restartCount, reason };
}

/** Every running container (and the sandbox) of the pod, as kills. */
export function killAll(observed: PodObserved, graceSeconds: number, reason: string): KillAction[] {
  const kills: KillAction[] = [];
  for (const c of observed.all) {
    if (c.kind === 'sandbox' || !isRunning(c)) continue;
    kills.push({ id: c.id, containerName: c.containerName, reason, graceSeconds });
  }
  return kills;
}

/**
 * Whether an instance ran in the pod's current sandbox. Init containers count only there: a new sandbox
 * runs them again from the first (kuberuntime computePodActions, InitContainersToStart=[0]).
 */
function inCurrentSandbox(observed: PodObserved, c: ObservedContainer): boolean {
  const sandbox = observed.sandbox;
  return !sandbox || !c.sandboxId || c.sandboxId === sandbox.id;
}

/** Init containers: the index of the first one not yet succeeded (in the current sandbox), or -1 when all are done. */
export function firstIncompleteInit(pod: Pod, observed: PodObserved): number {
  const inits = pod.spec.initContainers ?? [];
  for (let i = 0; i < inits.length; i++) {
    const instances = observed.byName.get(inits[i]!.name) ?? [];
    if (!instances.some((c) => isFinished(c) && exitCodeOf(c) === 0 && inCurrentSandbox(observed, c))) return i;
  }
  return -1;
}

/**
 * restartPolicy Never and the sandbox died after the pod had run (kuberuntime: attempt ≠ 0 and container
 * statuses exist): no new sandbox; what still runs is killed and the pod ends.
 */
export function sandboxLostForGood(pod: Pod, observed: PodObserved): boolean {
  if (restartPolicyOf(pod) !== 'Never' || !observed.sandbox || isRunning(observed.sandbox)) return false;
  return observed.all.some((c) => c.kind !== 'sandbox');
}

/** An init container failed and the policy forbids retrying: the pod has failed. */
export function initFailedForGood(pod: Pod, observed: PodObserved): boolean {
  const idx = firstIncompleteInit(pod, observed);
  if (idx < 0 || restartPolicyOf(pod) !== 'Never') return false;
  const last = observed.byName.get(pod.spec.initContainers![idx]!.name)?.[0];
  return last !== undefined && isFinished(last) && exitCodeOf(last) !== 0;
}

/** All app containers finished and none will be restarted. */
export function allContainersDone(pod: Pod, observed: PodObserved): boolean {
  if (restartPolicyOf(pod) === 'Always') return false;
  return pod.spec.containers.every((c) => {
    const last = observed.byName.get(c.name)?.[0];
    return last !== undefined && isFinished(last) && !shouldRestart(pod, last);
  });
}

export function computePodActions(input: PlanInput): PodActions {
  const { pod, observed } = input;
  const plan = emptyPlan(observed);

  if (input.terminating) {
    plan.killPod = true;
    plan.containersToKill = killAll(observed, input.graceSeconds, 'Deleting');
    return plan;
  }

  // The sandbox is gone or dead: everything restarts in a new one (kubelet: "sandbox changed").
  if (!isRunning(observed.sandbox)) {
    const anyRunning = observed.all.some((c) => c.kind !== 'sandbox' && isRunning(c));
    if (sandboxLostForGood(pod, observed)) {
      plan.killPod = anyRunning;
      plan.containersToKill = killAll(observed, pod.spec.terminationGracePeriodSeconds ?? 30, 'SandboxChanged');
      return plan;
    }
    if (allContainersDone(pod, observed) || initFailedForGood(pod, observed)) return plan;
    plan.createSandbox = true;
    if (anyRunning) {
      plan.killPod = true;
      plan.containersToKill = killAll(observed, pod.spec.terminationGracePeriodSeconds ?? 30, 'SandboxChanged');
    }
    const first = pod.spec.initContainers?.[0];
    if (first) {
      // A new sandbox runs the init containers again from the first; app containers wait for them.
      const last = observed.byName.get(first.name)?.[0];
      plan.containersToStart.push(nextInstance(first, 'init', last, last ? 'restart' : 'new'));
      return plan;
    }
  }

  // Init containers, one at a time, in order.
  const initIdx = firstIncompleteInit(pod, observed);
  if (initIdx >= 0) {
    const init = pod.spec.initContainers![initIdx]!;
    const last = observed.byName.get(init.name)?.[0];
    if (last && isRunning(last) && !plan.createSandbox) return plan; // wait for it
    if (last && isFinished(last) && !plan.createSandbox) {
      if (restartPolicyOf(pod) === 'Never') return plan; // pod failed
      const remaining = input.backoffRemaining(init.name, timeMs(last.finishedAt));
      if (remaining > 0) {
        plan.backingOff.set(init.name, remaining);
        plan.requeueAfterMs = remaining;
        return plan;
      }
      plan.containersToStart.push(nextInstance(init, 'init', last, 'restart'));
      return plan;
    }
    plan.containersToStart.push(nextInstance(init, 'init', last, 'new'));
    return plan;
  }

  // App containers.
  for (const container of pod.spec.containers) {
    const instances = observed.byName.get(container.name) ?? [];
    const last = instances[0];
    if (!last || plan.createSandbox) {
      const ever = last !== undefined;
      if (ever && isFinished(last) && !shouldRestart(pod, last)) continue;
      plan.containersToStart.push(nextInstance(container, 'container', last, ever ? 'restart' : 'new'));
      continue;
    }
    if (isRunning(last)) {
      if (last.specHash !== input.specHash(container)) {
        plan.containersToKill.push({ id: last.id, containerName: container.name, reason: 'SpecChanged', graceSeconds: pod.spec.terminationGracePeriodSeconds ?? 30 });
        plan.containersToStart.push(nextInstance(container, 'container', last, 'spec-changed'));
      }
      continue;
    }
    if (!isFinished(last) && last.state !== 'created') continue; // unknown state: look again later
    if (!shouldRestart(pod, last)) continue;
    const remaining = input.backoffRemaining(container.name, timeMs(last.finishedAt) || timeMs(last.createdAt));
    if (remaining > 0) {
      plan.backingOff.set(container.name, remaining);
      plan.requeueAfterMs = Math.min(plan.requeueAfterMs ?? Infinity, remaining);
      continue;
    }
    plan.containersToStart.push(nextInstance(container, 'container', last, 'restart'));
  }
  return plan;
}
