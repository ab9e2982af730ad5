// computePodActions: the pure plan of one pod sync — what to kill, what to create and start —
// from the desired pod, what the runtime shows, and the crash-loop back-off. No I/O here.
// Follows kuberuntime computePodActions/computeInitContainerActions: init containers in order; a
// sidecar (init container with restartPolicy Always) counts as done once it runs and its startup
// probe passed, keeps running, and is restarted whenever it exits (whatever the pod's policy);
// ephemeral containers are started once and never restarted (agent/pods/ephemeral.ts).
import type { Container, Pod } from '../../kube/api.js';
import type { ObservedContainer } from '../../runtime/types.js';
import { specHashMatches } from '../containers/hash.js';
import { exitCodeOf, isFinished, isRunning, type PodObserved } from './observed.js';
import { ephemeralToStart } from './ephemeral.js';
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
  /** Whether a running container passed its startup probe (default: running means started). */
  started?(name: string, c: ObservedContainer): boolean;
}

/** A restartable init container (KEP-753 sidecar). */
export function isSidecar(c: Container): boolean {
  return c.restartPolicy === 'Always';
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

/** Some app container was created in the current sandbox: initialization finished there before. */
function appsStarted(pod: Pod, observed: PodObserved): boolean {
  return pod.spec.containers.some((c) => (observed.byName.get(c.name) ?? []).some((i) => inCurrentSandbox(observed, i)));
}

/**
 * Init containers: the index of the first one not yet done (in the current sandbox), or -1 when all
 * are. A regular one is done when it succeeded; a sidecar when it runs and has started.
 */
export function firstIncompleteInit(pod: Pod, observed: PodObserved, started: (name: string, c: ObservedContainer) => boolean = () => true): number {
  const inits = pod.spec.initContainers ?? [];
  let appsChecked: boolean | undefined;
  for (let i = 0; i < inits.length; i++) {
    const init = inits[i]!;
    const instances = (observed.byName.get(init.name) ?? []).filter((c) => inCurrentSandbox(observed, c));
    if (isSidecar(init)) {
      const cur = instances[0];
      if (cur && isRunning(cur) && started(init.name, cur)) continue;
      appsChecked ??= appsStarted(pod, observed);
      if (cur && appsChecked) continue; // it ran and initialization finished; it is restarted on its own
      return i;
    }
    if (!instances.some((c) => isFinished(c) && exitCodeOf(c) === 0)) return i;
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
  if (idx < 0 || restartPolicyOf(pod) !== 'Never' || isSidecar(pod.spec.initContainers![idx]!)) return false;
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

/** Restarts a finished container now, or records its remaining crash-loop back-off. */
function restartAfterBackoff(plan: PodActions, input: PlanInput, c: Container, kind: 'init' | 'container', last: ObservedContainer): void {
  const remaining = input.backoffRemaining(c.name, timeMs(last.finishedAt) || timeMs(last.createdAt));
  if (remaining > 0) {
    plan.backingOff.set(c.name, remaining);
    plan.requeueAfterMs = Math.min(plan.requeueAfterMs ?? Infinity, remaining);
    return;
  }
  plan.containersToStart.push(nextInstance(c, kind, last, 'restart'));
}

export function computePodActions(input: PlanInput): PodActions {
  const plan = computeContainerActions(input);
  // Ephemeral containers may start before initialization is complete (kuberuntime), in a running sandbox.
  if (!input.terminating && !plan.createSandbox && plan.sandboxId) plan.ephemeralToStart = ephemeralToStart(input.pod, input.observed);
  return plan;
}

function computeContainerActions(input: PlanInput): PodActions {
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

  // Sidecars already past (or all, once initialization is done) that exited: restarted, under back-off.
  const initIdx = firstIncompleteInit(pod, observed, input.started);
  const inits = pod.spec.initContainers ?? [];
  const before = initIdx < 0 ? inits.length : initIdx;
  for (let j = 0; j < before && !plan.createSandbox; j++) {
    const sidecar = inits[j]!;
    if (!isSidecar(sidecar)) continue;
    const last = observed.byName.get(sidecar.name)?.[0];
    if (last && isFinished(last)) restartAfterBackoff(plan, input, sidecar, 'init', last);
  }

  // Init containers, one at a time, in order.
  if (initIdx >= 0) {
    const init = inits[initIdx]!;
    const last = observed.byName.get(init.name)?.[0];
    if (last && isRunning(last) && !plan.createSandbox) return plan; // wait for it (to finish, or a sidecar to start)
    if (last && isFinished(last) && !plan.createSandbox) {
      if (restartPolicyOf(pod) === 'Never' && !isSidecar(init)) return plan; // pod failed
      restartAfterBackoff(plan, input, init, 'init', last);
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
      if (!specHashMatches(last.specHash, input.specHash(container), container)) {
        plan.containersToKill.push({ id: last.id, containerName: container.name, reason: 'SpecChanged', graceSeconds: pod.spec.terminationGracePeriodSeconds ?? 30 });
        plan.containersToStart.push(nextInstance(container, 'container', last, 'spec-changed'));
      }
      continue;
    }
    if (!isFinished(last) && last.state !== 'created') continue; // unknown state: look again later
    if (!shouldRestart(pod, last)) continue;
    restartAfterBackoff(plan, input, container, 'container', last);
  }
  return plan;
}
