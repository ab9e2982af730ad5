// Killing containers as kuberuntime killContainer/killContainersWithSyncResult: a Killing Event, the
// preStop hook (when the grace period is > 0) bounded by the grace period, then the stop signal with
// what is left of it (at least 2 s). During pod termination the app and ephemeral containers stop
// together first, then the sidecars one by one in reverse order. A GraceBudget lets a later, shorter
// grace period (a second delete, a force delete) cut a stop in progress short: the preStop hook is
// abandoned and the container is stopped again with the shorter period.
import type { Container, Pod } from '../../kube/api.js';
import { errorMessage } from '../../lib/errors.js';
import { podRef } from './apply.js';
import type { WorkerDeps } from './deps.js';
import { ephemeralContainersOf } from './ephemeral.js';
import { graceAfterHook, MIN_CONTAINER_GRACE_SECONDS } from './grace.js';
import { runHook } from './hooks.js';
import { isSidecar } from './plan.js';
import type { KillAction } from './types.js';

/** The grace period in force for a pod's termination; shorten() wakes every kill waiting on it. */
export class GraceBudget {
  #seconds: number;
  #ac = new AbortController();

  constructor(seconds: number) {
    this.#seconds = seconds;
  }

  get seconds(): number {
    return this.#seconds;
  }

  /** Aborted when the budget is shortened (a new signal follows for the next shortening). */
  get signal(): AbortSignal {
    return this.#ac.signal;
  }

  /** Lowers the budget; true when it went down. */
  shorten(seconds: number): boolean {
    if (seconds >= this.#seconds) return false;
    this.#seconds = seconds;
    const old = this.#ac;
    this.#ac = new AbortController();
    old.abort();
    return true;
  }
}

export function containerSpecOf(pod: Pod, name: string): Container | undefined {
  return pod.spec.containers.find((c) => c.name === name)
    ?? (pod.spec.initContainers ?? []).find((c) => c.name === name)
    ?? ephemeralContainersOf(pod).find((c) => c.name === name);
}

export function fieldPathOf(pod: Pod, name: string): string {
  if (pod.spec.containers.some((c) => c.name === name)) return `spec.containers{${name}}`;
  if ((pod.spec.initContainers ?? []).some((c) => c.name === name)) return `spec.initContainers{${name}}`;
  if (ephemeralContainersOf(pod).some((c) => c.name === name)) return `spec.ephemeralContainers{${name}}`;
  return `spec.containers{${name}}`;
}

/** Kills one container: Event, preStop within the grace period, stop signal, SIGKILL at the end. */
export async function killContainer(deps: WorkerDeps, pod: Pod, k: KillAction, podIP: string | undefined, budget?: GraceBudget): Promise<void> {
  const spec = containerSpecOf(pod, k.containerName);
  const ref = podRef(pod, fieldPathOf(pod, k.containerName));
  deps.events.event(ref, 'Normal', 'Killing', k.message ?? `Stopping container ${k.containerName}`);
  let grace = k.graceSeconds;
  const preStop = spec?.lifecycle?.preStop;
  if (preStop && spec && grace > 0) {
    const t0 = deps.clock.now();
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), grace * 1000);
    const cut = () => ac.abort();
    const budgetSignal = budget?.signal;
    budgetSignal?.addEventListener('abort', cut, { once: true });
    try {
      const failure = await runHook(deps.runtime, preStop, { pod, container: spec, containerId: k.id, podIP }, { signal: ac.signal, timeoutMs: grace * 1000 });
      if (failure) {
        deps.events.event(ref, 'Warning', 'FailedPreStopHook', failure);
        deps.log.info({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, container: k.containerName, message: failure }, 'preStop hook failed');
      }
    } finally {
      clearTimeout(timer);
      budgetSignal?.removeEventListener('abort', cut);
    }
    if (budget && budgetSignal?.aborted) grace = budget.seconds; // cut short: start over with the shorter period
    else grace = graceAfterHook(grace, (deps.clock.now() - t0) / 1000);
  }
  await stopWithBudget(deps, k.id, Math.max(MIN_CONTAINER_GRACE_SECONDS, grace), budget);
}

/** docker stop; when the budget is shortened meanwhile, a second stop with the shorter period overtakes it. */
async function stopWithBudget(deps: WorkerDeps, id: string, grace: number, budget?: GraceBudget): Promise<void> {
  const first = deps.runtime.stopContainer(id, grace);
  if (!budget) return first;
  const signal = budget.signal;
  let onCut: (() => void) | undefined;
  const cut = new Promise<void>((resolve, reject) => {
    onCut = () => {
      deps.runtime.stopContainer(id, Math.max(MIN_CONTAINER_GRACE_SECONDS, budget.seconds)).then(resolve, reject);
    };
    signal.addEventListener('abort', onCut, { once: true });
  });
  cut.catch(() => {});
  try {
    await Promise.race([first, cut]);
  } catch (err) {
    deps.log.warn({ id, err: errorMessage(err) }, 'stop failed');
    throw err;
  } finally {
    if (onCut) signal.removeEventListener('abort', onCut);
  }
}

/**
 * Kills for a pod's termination in upstream order: app and ephemeral containers in parallel, then
 * sidecars one at a time, last declared first.
 */
export async function killPodContainers(deps: WorkerDeps, pod: Pod, kills: KillAction[], podIP: string | undefined, budget?: GraceBudget): Promise<void> {
  const sidecarOrder = (pod.spec.initContainers ?? []).filter(isSidecar).map((c) => c.name).reverse();
  const sidecars = kills.filter((k) => sidecarOrder.includes(k.containerName))
    .sort((a, b) => sidecarOrder.indexOf(a.containerName) - sidecarOrder.indexOf(b.containerName));
  const rest = kills.filter((k) => !sidecarOrder.includes(k.containerName));
  const results = await Promise.allSettled(rest.map((k) => killContainer(deps, pod, k, podIP, budget)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  for (const k of sidecars) {
    const grace = budget ? { ...k, graceSeconds: budget.seconds } : k;
    await killContainer(deps, pod, grace, podIP, budget);
  }
  if (failed) throw failed.reason;
}
