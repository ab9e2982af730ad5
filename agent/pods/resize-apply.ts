// In-place pod resize, the stateful part the pod worker calls once per sync (upstream kubelet:
// allocation manager handlePodResourcesResize, then kuberuntime SyncPod's computePodResizeAction and
// doPodResizeAction, then the status manager's PodResize* conditions):
//   plan()   — accepts the desired resources (or marks the resize PodResizePending Infeasible/Deferred,
//              with ResizeInfeasible/ResizeDeferred Events), computes what to update, and adds containers
//              whose resizePolicy is RestartContainer to the sync's kills/starts ("Container X resize
//              requires restart");
//   apply()  — memory first, then CPU: the pod cgroup raised before its containers, lowered after; the
//              containers' decreases before increases; a memory limit is lowered only while usage is below
//              it (else PodResizeInProgress reason Error, retried); each `docker update` is recorded;
//   status() — PodResizePending / PodResizeInProgress and containerStatuses[].resources.
// Static pods are not resized (upstream isInPlacePodVerticalScalingAllowed).
import type { Container, Pod, ResourceRequirements } from '../../kube/api.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { ContainerRuntime, ObservedContainer } from '../../runtime/types.js';
import { memoryWorkingSet } from '../containers/cgroups.js';
import { containerResources, parseResourcesSnapshot, RESOURCES_ANNOTATION, resourcesSnapshot } from '../containers/resources.js';
import { sandboxCgroupParent } from '../containers/sandbox.js';
import { PodResizeInProgress, PodResizePending, type ConditionValue, type PodResizeStatus } from '../status/conditions.js';
import { podRef } from './apply.js';
import type { EventSink } from './deps.js';
import type { PodObserved } from './observed.js';
import {
  amountsOf, checkResize, computeResize, mergeActuated, orderedUpdates, planIsEmpty, podDirection, podFields, podWithResources,
  resizableContainers, runningInstance, sameAmounts, updateFields, type ResizePlan, type ResizeResource,
} from './resize.js';
import { loadActuated, saveActuated, type PodResizeState } from './resize-state.js';
import type { PodActions } from './types.js';

export interface PodResizerOptions {
  runtime: ContainerRuntime;
  podsDir: string;
  /** The node's allocatable CPU and memory (Infeasible beyond it). */
  allocatable: { cpuMillis: number; memoryBytes: number };
  events: EventSink;
  log: Logger;
  /** The other admitted pods (Deferred when the resize does not fit beside them); none given: not checked. */
  otherPods?: () => readonly Pod[];
  /** Memory working set of a cgroupfs cgroup (default: read from /sys/fs/cgroup). */
  memoryUsage?: (cgroup: string) => Promise<number | undefined>;
}

/** What plan() decided for one sync; apply() carries it out. */
export interface ResizeActions {
  uid: string;
  plan: ResizePlan;
  generation?: number;
}

/** Wait before retrying a failed actuation (upstream: the next pod sync) and a Deferred resize (30 s at first). */
export const RESIZE_RETRY_MS = 10_000;
export const DEFERRED_RETRY_MS = 30_000;

class ResizeError extends Error {}

function isStatic(pod: Pod): boolean {
  const src = pod.metadata.annotations?.['kubernetes.io/config.source'];
  return src !== undefined && src !== 'api';
}

/** events.podResizeMessage: "<prefix>: {"containers":[{"name":…,"resources":…}],"generation":N[,"error":…]}". */
function resizeMessage(prefix: string, pod: Pod, generation: number | undefined, error?: string): string {
  const list = (cs: Container[] | undefined) => cs?.map((c) => ({ name: c.name, resources: resourcesSnapshot(c.resources) }));
  const summary: Record<string, unknown> = {};
  const inits = list(pod.spec.initContainers);
  if (inits?.length) summary.initContainers = inits;
  summary.containers = list(pod.spec.containers);
  summary.generation = generation ?? 0;
  if (error) summary.error = error;
  return `${prefix}: ${JSON.stringify(summary)}`;
}

export class PodResizer {
  readonly #opts: PodResizerOptions;
  #otherPods: (() => readonly Pod[]) | undefined;
  readonly #pods = new Map<string, PodResizeState>();
  readonly #loading = new Map<string, Promise<PodResizeState>>();

  constructor(opts: PodResizerOptions) {
    this.#opts = opts;
    this.#otherPods = opts.otherPods;
  }

  /** The admitted pods of the node (the pod controller's active records), for the Deferred check. */
  setOtherPods(fn: () => readonly Pod[]): void {
    this.#otherPods = fn;
  }

  async #state(uid: string): Promise<PodResizeState> {
    const have = this.#pods.get(uid);
    if (have) return have;
    let p = this.#loading.get(uid);
    if (!p) {
      p = loadActuated(this.#opts.podsDir, uid).then((actuated) => {
        const st = this.#pods.get(uid) ?? { actuated };
        this.#pods.set(uid, st);
        this.#loading.delete(uid);
        return st;
      });
      this.#loading.set(uid, p);
    }
    return p;
  }

  /** What a running container runs with: our last update, else what it was created with. */
  #actuated(st: PodResizeState | undefined, c: ObservedContainer): ResourceRequirements | undefined {
    return st?.actuated.get(c.id) ?? parseResourcesSnapshot(c.annotations[RESOURCES_ANNOTATION]);
  }

  /**
   * Decides the allocation and what to change; RestartContainer resizes are added to `actions` (kill,
   * then start with the new resources). Undefined when the pod is not resized in place this sync.
   */
  async plan(pod: Pod, observed: PodObserved, actions: PodActions): Promise<ResizeActions | undefined> {
    const uid = pod.metadata.uid;
    if (!uid || isStatic(pod)) return undefined;
    if (actions.killPod || actions.createSandbox || !actions.sandboxId) {
      startWithAllocation(actions, this.#pods.get(uid)?.allocated);
      return undefined;
    }
    const st = await this.#state(uid);
    const generation = pod.metadata.generation;
    // Records of containers that are gone are dropped.
    const live = new Set(observed.all.map((c) => c.id));
    for (const id of [...st.actuated.keys()]) {
      if (!live.has(id)) {
        st.actuated.delete(id);
        st.dirty = true;
      }
    }

    const desired = new Map(resizableContainers(pod).map(({ container }) => [container.name, resourcesSnapshot(container.resources)]));
    if (!st.allocated) {
      // First look (or after an agent restart): the allocation is what runs; a difference is a resize.
      st.allocated = new Map();
      for (const [name, want] of desired) {
        const running = runningInstance(observed, name);
        st.allocated.set(name, (running && this.#actuated(st, running)) ?? want);
      }
    }
    const allocated = st.allocated;
    const changed = [...desired].some(([name, want]) => !sameAmounts(amountsOf(want), amountsOf(allocated.get(name))));
    if (changed) this.#allocate(pod, st, desired, generation);
    else st.pending = undefined;

    startWithAllocation(actions, st.allocated);
    const allocatedPod = podWithResources(pod, st.allocated);
    const plan = computeResize({ allocated: allocatedPod, observed, actuated: (c) => this.#actuated(st, c) });
    const grace = pod.spec.terminationGracePeriodSeconds ?? 30;
    for (const r of plan.restarts) {
      if (actions.containersToKill.some((k) => k.id === r.id)) continue;
      actions.containersToKill.push({ id: r.id, containerName: r.name, reason: 'ResizeRequiresRestart', graceSeconds: grace, message: `Container ${r.name} resize requires restart` });
      actions.containersToStart.push({ container: r.container, kind: r.kind, attempt: r.restartCount, restartCount: r.restartCount, reason: 'spec-changed' });
    }
    return { uid, plan, ...(generation !== undefined ? { generation } : {}) };
  }

  /** handlePodResourcesResize: accept the desired resources, or record why not. */
  #allocate(pod: Pod, st: PodResizeState, desired: Map<string, ResourceRequirements>, generation: number | undefined): void {
    const others = this.#otherPods?.() ?? [];
    const pending = checkResize(pod, this.#opts.allocatable, others);
    const ref = podRef(pod);
    if (pending) {
      const same = st.pending?.reason === pending.reason && st.pending.message === pending.message && st.pending.generation === generation;
      if (!same) {
        this.#opts.events.event(ref, 'Warning', pending.reason === 'Infeasible' ? 'ResizeInfeasible' : 'ResizeDeferred',
          resizeMessage(`Pod resize ${pending.reason}`, pod, generation, pending.message));
        this.#opts.log.info({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, reason: pending.reason, message: pending.message }, 'pod resize pending');
      }
      st.pending = { ...pending, ...(generation !== undefined ? { generation } : {}) };
      return;
    }
    st.allocated = desired;
    st.pending = undefined;
    st.inProgress = generation !== undefined ? { generation } : {};
    this.#opts.events.event(ref, 'Normal', 'ResizeStarted', resizeMessage('Pod resize started', pod, generation));
  }

  /** doPodResizeAction; returns when to sync again (a failed step, a Deferred resize), if ever. */
  async apply(pod: Pod, actions: ResizeActions | undefined): Promise<number | undefined> {
    if (!actions) return undefined;
    const st = await this.#state(actions.uid);
    if (planIsEmpty(actions.plan) && !st.dirty) return st.pending?.reason === 'Deferred' ? DEFERRED_RETRY_MS : undefined;
    try {
      await this.#actuate(pod, st, actions.plan);
      if (st.inProgress?.error) st.inProgress = { ...st.inProgress, error: undefined };
    } catch (err) {
      const message = errorMessage(err);
      const generation = st.inProgress?.generation ?? actions.generation;
      if (st.inProgress?.error !== message) {
        this.#opts.events.event(podRef(pod), 'Warning', 'ResizeError', resizeMessage('Pod resize error', pod, generation, message));
      }
      st.inProgress = { ...(generation !== undefined ? { generation } : {}), error: message };
      this.#opts.log.warn({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, err: message }, 'pod resize not actuated; will retry');
      return RESIZE_RETRY_MS;
    } finally {
      if (st.dirty) {
        st.dirty = false;
        await saveActuated(this.#opts.podsDir, actions.uid, st.actuated).catch((err: unknown) => this.#opts.log.warn({ err }, 'cannot record actuated resources'));
      }
    }
    return st.pending?.reason === 'Deferred' ? DEFERRED_RETRY_MS : undefined;
  }

  async #actuate(pod: Pod, st: PodResizeState, plan: ResizePlan): Promise<void> {
    const runtime = this.#opts.runtime;
    const parent = sandboxCgroupParent(pod);
    const setPod = async (res: ResizeResource, part: 'limit' | 'request') => {
      const fields = podFields(plan.podTo, res, part);
      if (parent && runtime.updatePodResources && Object.keys(fields).length) await runtime.updatePodResources(parent, fields);
    };
    for (const res of ['memory', 'cpu'] as const) {
      const updates = orderedUpdates(plan.updates, res);
      const limitDir = podDirection(plan.podFrom, plan.podTo, res, 'limit');
      const reqDir = res === 'cpu' ? podDirection(plan.podFrom, plan.podTo, res, 'request') : 0;
      if (updates.length === 0 && limitDir === 0 && reqDir === 0) continue;
      if (res === 'memory' && limitDir < 0 && parent) await this.#checkUsage(parent, plan.podTo.memoryLimitBytes ?? Infinity, 'pod');
      if (limitDir > 0) await setPod(res, 'limit');
      if (reqDir > 0) await setPod(res, 'request');
      for (const u of updates) {
        if (!runtime.updateContainerResources) throw new ResizeError('the container runtime cannot update container resources');
        const to = containerResources({ name: u.name, resources: u.to });
        if (res === 'memory' && parent && amountsOf(u.to).memoryLimit < amountsOf(u.from).memoryLimit) {
          await this.#checkUsage(`${parent}/${u.id}`, to.memoryLimitBytes ?? Infinity, `container "${u.name}"`);
        }
        await runtime.updateContainerResources(u.id, updateFields(to, res));
        u.from = mergeActuated(u.from, u.to, res);
        st.actuated.set(u.id, u.from);
        st.dirty = true;
      }
      if (limitDir < 0) await setPod(res, 'limit');
      if (reqDir < 0) await setPod(res, 'request');
    }
    for (const r of plan.recordOnly) {
      st.actuated.set(r.id, resourcesSnapshot(r.to));
      st.dirty = true;
    }
  }

  /** The best-effort guard before lowering a memory limit: the working set must be below the new limit. */
  async #checkUsage(cgroup: string, limit: number, what: string): Promise<void> {
    const usage = await (this.#opts.memoryUsage ?? memoryWorkingSet)(cgroup);
    if (usage !== undefined && usage >= limit) {
      throw new ResizeError(`attempting to set ${what} memory limit (${limit}) below current usage (${usage})`);
    }
  }

  /** PodResizePending / PodResizeInProgress and containerStatuses[].resources for the pod's status. */
  status(pod: Pod, observed: PodObserved): PodResizeStatus | undefined {
    const uid = pod.metadata.uid;
    if (!uid) return undefined;
    const st = this.#pods.get(uid);
    const resources = new Map<string, ResourceRequirements>();
    let actuating = false;
    for (const { container } of resizableContainers(pod)) {
      const allocated = st?.allocated?.get(container.name) ?? resourcesSnapshot(container.resources);
      const running = runningInstance(observed, container.name);
      const actual = running ? this.#actuated(st, running) : undefined;
      resources.set(container.name, actual ?? allocated);
      if (actual && !sameAmounts(amountsOf(actual), amountsOf(allocated))) actuating = true;
    }
    const conditions: ConditionValue[] = [];
    if (st?.pending) {
      conditions.push({ type: PodResizePending, status: 'True', reason: st.pending.reason, message: st.pending.message, ...gen(st.pending.generation) });
    }
    if (st && (actuating || st.inProgress?.error)) {
      const c: ConditionValue = { type: PodResizeInProgress, status: 'True', ...gen(st.inProgress?.generation) };
      if (st.inProgress?.error) {
        c.reason = 'Error';
        c.message = st.inProgress.error;
      }
      conditions.push(c);
    } else if (st?.inProgress && !actuating) {
      this.#opts.events.event(podRef(pod), 'Normal', 'ResizeCompleted', resizeMessage('Pod resize completed', pod, st.inProgress.generation));
      st.inProgress = undefined;
    }
    return { conditions, resources };
  }

  /** Drops a deleted pod's records. */
  async forget(uid: string): Promise<void> {
    this.#pods.delete(uid);
    await saveActuated(this.#opts.podsDir, uid, new Map()).catch(() => undefined);
  }
}

/**
 * Containers (re)started while a resize is pending start with the allocation, not the desired
 * resources (upstream SyncPod runs on allocationManager.UpdatePodFromAllocation(pod)).
 */
function startWithAllocation(actions: PodActions, allocated: ReadonlyMap<string, ResourceRequirements> | undefined): void {
  if (!allocated) return;
  for (const a of actions.containersToStart) {
    const r = allocated.get(a.container.name);
    if (r && a.kind !== 'ephemeral') a.container = { ...a.container, resources: r };
  }
}

function gen(generation: number | undefined): { observedGeneration?: number } {
  return generation !== undefined ? { observedGeneration: generation } : {};
}
