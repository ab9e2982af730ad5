// One sync of one pod (kubelet SyncPod/SyncTerminatingPod): observe, check activeDeadlineSeconds,
// choose the lifecycle state, plan (pure), apply, observe again, publish the status (with ephemeral
// container statuses and a node-made failure's reason). Terminating pods are stopped within a grace
// budget that a later, shorter deletion cuts short. Returns what the controller should do next.
import { readFile } from 'node:fs/promises';
import type { Container, Pod } from '../../kube/api.js';
import { errorMessage } from '../../lib/errors.js';
import { computePodStatus } from '../status/compute.js';
import { createSandbox, killContainers, podRef, startContainer, stopSandbox, terminationMessageHostPath } from './apply.js';
import { crashBackoffRemaining, crashKey } from './crash.js';
import { checkActiveDeadline, DEADLINE_EXCEEDED } from './deadline.js';
import type { PreparedVolume, WorkerDeps } from './deps.js';
import { ephemeralStatuses } from './ephemeral.js';
import { effectiveGraceSeconds } from './grace.js';
import { GraceBudget, killPodContainers } from './kill.js';
import { isFinished, isRunning, podFingerprint, viewPod, type PodObserved } from './observed.js';
import { allContainersDone, computePodActions, firstIncompleteInit, initFailedForGood, killAll } from './plan.js';
import { runningForProbes, unhealthyKills } from './probed.js';
import { PodResizer } from './resize-apply.js';
import { settle, STATES, type PodFacts } from './states/index.js';
import type { PodRecord } from './types.js';

export interface SyncResult {
  /** Sync again after this many ms (back-off expiry, image retry…). */
  requeueAfterMs?: number;
  /** The pod is finished with and its record can be dropped. */
  done: boolean;
}

export interface WorkerState {
  volumes: Map<string, Map<string, PreparedVolume>>;
  messages: Map<string, string>;
  /** The grace period in force per terminating pod (it only shrinks). */
  budgets: Map<string, GraceBudget>;
}

export function isDeleting(r: PodRecord): boolean {
  return r.removed || r.pod.metadata.deletionTimestamp !== undefined;
}

/** The grace period for terminating a pod now (pod_workers calculateEffectiveGracePeriod). */
export function graceSecondsOf(pod: Pod, previous?: number): number {
  return effectiveGraceSeconds(pod, previous);
}

export function factsOf(r: PodRecord, o: PodObserved): PodFacts {
  const nothingRunning = !o.all.some((c) => isRunning(c));
  const apiTerminal = r.pod.status?.phase === 'Succeeded' || r.pod.status?.phase === 'Failed';
  return {
    deleting: isDeleting(r),
    hasInitContainers: (r.pod.spec.initContainers ?? []).length > 0,
    initDone: firstIncompleteInit(r.pod, o) < 0,
    initFailedForGood: initFailedForGood(r.pod, o),
    allContainersDone: allContainersDone(r.pod, o) || (apiTerminal && o.all.length === 0),
    nothingRunning,
    failed: r.failed !== undefined,
  };
}

/** The longest single wait for a far activeDeadlineSeconds (every sync computes it again). */
const MAX_DEADLINE_WAIT_MS = 10 * 60_000;

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

export class PodWorker {
  readonly #deps: WorkerDeps;
  readonly #state: WorkerState = { volumes: new Map(), messages: new Map(), budgets: new Map() };
  readonly #resize: PodResizer;
  readonly #specHashes = new WeakMap<Container, string>();

  constructor(deps: WorkerDeps) {
    this.#deps = deps;
    this.#resize = new PodResizer({ runtime: deps.runtime, podsDir: deps.podsDir, allocatable: deps.admission?.allocatable ?? deps.node.capacity, events: deps.events, log: deps.log });
  }

  async sync(record: PodRecord): Promise<SyncResult> {
    const deps = this.#deps;
    const uid = record.uid;
    if (!record.syncAbort || record.syncAbort.signal.aborted) record.syncAbort = new AbortController();
    // The first look may come from the runtime cache (event stream up, no event for the pod since its last list).
    let observed = viewPod(await deps.cache.lookPod(uid));
    let requeueAfterMs = this.#checkDeadline(record);
    record.state = settle(record.state, factsOf(record, observed));

    let acted = true;
    if (STATES[record.state].runsContainers) {
      const ran = await this.#runContainers(record, observed);
      requeueAfterMs = minDefined(requeueAfterMs, ran.requeueAfterMs);
      acted = ran.acted;
    } else if (record.state === 'Terminating' || (record.state === 'Terminated' && observed.all.some((c) => c.kind !== 'sandbox' && isRunning(c)))) {
      // Terminated with something still running: sidecars (and ephemeral containers) after the app containers finished.
      await this.#terminate(record, observed);
      observed = viewPod(await deps.cache.refreshPod(uid));
      await stopSandbox(deps, observed.sandbox);
    } else if (record.state === 'Terminated') {
      await stopSandbox(deps, observed.sandbox);
    }

    // A sync that changed nothing in the runtime keeps its first look (a list that started in this sync).
    // After only its own creates/starts, a look at those containers; after anything else, a new list.
    if (acted) observed = viewPod(record.created ? await deps.cache.lookAfter(uid, record.created) : await deps.cache.refreshPod(uid));
    record.created = undefined;
    record.state = settle(record.state, factsOf(record, observed));
    record.lastFingerprint = podFingerprint(observed.all); // seen: the relist need not bring this pod back for it
    deps.probes?.syncPod(record.pod, runningForProbes(record.pod, observed, this.#podIP(record, observed)));
    await this.#readMessages(record, observed);
    const status = this.#status(record, observed);
    deps.status.set(record.pod, status);
    if (record.state === 'Terminated' && !isDeleting(record)) record.terminalPhase ??= status.phase === 'Succeeded' ? 'Succeeded' : status.phase === 'Failed' ? 'Failed' : undefined;

    if (record.state === 'Terminated' && isDeleting(record)) {
      await this.#finishDeletion(record);
      return { done: true };
    }
    if (record.state === 'Terminating') requeueAfterMs = 1000;
    // The start time is known now (set with the first status): come back when the deadline passes.
    else if (!record.failed && record.state !== 'Terminated') requeueAfterMs = minDefined(requeueAfterMs, this.#deadlineRemaining(record));
    return { requeueAfterMs, done: false };
  }

  /** The node's admitted pods (in-place resize: Deferred when a resize does not fit beside them). */
  setActivePods(fn: () => readonly Pod[]): void {
    this.#resize.setOtherPods(fn);
  }

  /**
   * A new version of the pod arrived (informer update or removal): when it is terminating with a
   * shorter grace period than the one in force, the stop in progress is cut short.
   */
  podUpdated(record: PodRecord): void {
    const budget = this.#state.budgets.get(record.uid);
    if (!budget) return;
    if (budget.shorten(graceSecondsOf(record.pod, budget.seconds))) {
      this.#deps.log.info({ pod: record.key, graceSeconds: budget.seconds }, 'grace period shortened; stopping sooner');
    }
  }

  /** Stops what runs of a terminating (or terminal) pod within its grace period, in upstream order. */
  async #terminate(record: PodRecord, observed: PodObserved): Promise<void> {
    let budget = this.#state.budgets.get(record.uid);
    if (budget) budget.shorten(graceSecondsOf(record.pod, budget.seconds));
    else {
      budget = new GraceBudget(graceSecondsOf(record.pod));
      this.#state.budgets.set(record.uid, budget);
    }
    const kills = killAll(observed, budget.seconds, isDeleting(record) ? 'Deleting' : 'Terminated');
    await killPodContainers(this.#deps, record.pod, kills, this.#podIP(record, observed), budget);
  }

  #deadlineRemaining(record: PodRecord): number | undefined {
    if (isDeleting(record)) return undefined;
    const ms = checkActiveDeadline(record.pod, record.startTime ?? record.pod.status?.startTime, this.#deps.clock.now()).remainingMs;
    return ms === undefined ? undefined : Math.min(ms + 50, MAX_DEADLINE_WAIT_MS); // timers beyond 2^31 ms overflow; look again later
  }

  /** activeDeadlineSeconds: fails the pod once past it; otherwise how long until it passes. */
  #checkDeadline(record: PodRecord): number | undefined {
    if (record.failed || isDeleting(record) || record.state === 'Terminated') return undefined;
    const startTime = record.startTime ?? record.pod.status?.startTime;
    const check = checkActiveDeadline(record.pod, startTime, this.#deps.clock.now());
    if (!check.exceeded) return check.remainingMs === undefined ? undefined : Math.min(check.remainingMs + 50, MAX_DEADLINE_WAIT_MS);
    record.failed = { ...DEADLINE_EXCEEDED };
    this.#deps.events.event(podRef(record.pod), 'Normal', DEADLINE_EXCEEDED.reason, DEADLINE_EXCEEDED.message);
    this.#deps.log.info({ pod: record.key }, 'pod past its activeDeadlineSeconds; stopping it');
    return undefined;
  }

  #podIP(record: PodRecord, observed: PodObserved): string | undefined {
    return record.pod.spec.hostNetwork ? this.#deps.node.hostIP : observed.sandbox?.ip ?? record.pod.status?.podIP;
  }

  /** Drops what the worker keeps per container (termination messages) for containers that are gone. */
  pruneContainers(liveIds: ReadonlySet<string>): void {
    for (const id of [...this.#state.messages.keys()]) if (!liveIds.has(id)) this.#state.messages.delete(id);
  }

  /** Per-container records held (memory-bound checks). */
  containerRecords(): number {
    return this.#state.messages.size;
  }

  /** Volume refresh (configMap/secret updates, token rotation) for a live pod. */
  async refreshVolumes(record: PodRecord): Promise<void> {
    if (!this.#state.volumes.has(record.uid) || isDeleting(record)) return;
    await this.#deps.volumes.refresh(record.pod);
  }

  #planInput(record: PodRecord, observed: PodObserved, terminating: boolean) {
    const deps = this.#deps;
    return {
      pod: record.pod,
      observed,
      terminating,
      graceSeconds: graceSecondsOf(record.pod),
      specHash: (c: Container) => {
        // A pod version's container objects never change (an update brings new objects): hash each once.
        let h = this.#specHashes.get(c);
        if (h === undefined) this.#specHashes.set(c, (h = deps.spec.specHash(c)));
        return h;
      },
      started: (name: string, c: { id: string }) => deps.probes?.isStarted(record.uid, name, c.id) ?? true,
      backoffRemaining: (name: string, finishedAtMs: number) =>
        crashBackoffRemaining(deps.crashBackoff, deps.clock.now(), this.#crashKey(record, name), finishedAtMs),
    };
  }

  #crashKey(record: PodRecord, name: string): string {
    const spec = [...(record.pod.spec.initContainers ?? []), ...record.pod.spec.containers].find((c) => c.name === name);
    return crashKey(record.uid, spec ?? { name });
  }

  async #prepared(record: PodRecord): Promise<Map<string, PreparedVolume>> {
    let v = this.#state.volumes.get(record.uid);
    if (!v) {
      v = await this.#deps.volumes.setup(record.pod);
      this.#state.volumes.set(record.uid, v);
    }
    return v;
  }

  /** Kills containers whose liveness or startup probe failed; the restart policy decides the rest. */
  async #killUnhealthy(record: PodRecord, observed: PodObserved): Promise<boolean> {
    const probes = this.#deps.probes;
    if (!probes) return false;
    const kills = unhealthyKills(record.pod, observed, probes);
    if (kills.length) await killContainers(this.#deps, record.pod, kills, this.#podIP(record, observed));
    return kills.length > 0;
  }

  /** Runs what the plan says; acted: whether anything was asked of the runtime (the status needs a new look). */
  async #runContainers(record: PodRecord, observedBefore: PodObserved): Promise<{ requeueAfterMs: number | undefined; acted: boolean }> {
    const deps = this.#deps;
    let observed = observedBefore;
    record.created = [];
    const killed = await this.#killUnhealthy(record, observed);
    if (killed) observed = viewPod(await deps.cache.refreshPod(record.uid));
    const plan = computePodActions(this.#planInput(record, observed, false));
    const resize = await this.#resize.plan(record.pod, observed, plan); // in-place resize: RestartContainer resizes join plan's kills/starts
    const resized = resize !== undefined && (resize.plan.updates.length > 0 || resize.plan.restarts.length > 0 || resize.plan.recordOnly.length > 0);
    const acted = killed || resized || plan.killPod || plan.createSandbox || plan.containersToKill.length > 0 || plan.containersToStart.length > 0 || (plan.ephemeralToStart ?? []).length > 0;
    if (killed || resized || plan.killPod || plan.containersToKill.length > 0) record.created = undefined;
    const requeueAfterMs = await this.#applyPlan(record, observed, plan, resize);
    return { requeueAfterMs, acted };
  }

  async #applyPlan(record: PodRecord, observed: PodObserved, plan: ReturnType<typeof computePodActions>, resize: Awaited<ReturnType<PodResizer['plan']>>): Promise<number | undefined> {
    const deps = this.#deps;
    for (const name of plan.backingOff.keys()) {
      const secs = Math.round(deps.crashBackoff.current(this.#crashKey(record, name)) / 1000);
      const podDesc = `${record.pod.metadata.name}_${record.pod.metadata.namespace}(${record.uid})`;
      const already = record.waiting.get(name)?.reason === 'CrashLoopBackOff';
      record.waiting.set(name, { reason: 'CrashLoopBackOff', message: `back-off ${secs}s restarting failed container=${name} pod=${podDesc}` });
      if (!already) deps.events.event(podRef(record.pod), 'Warning', 'BackOff', `Back-off restarting failed container ${name} in pod ${podDesc}`);
    }
    if (plan.containersToKill.length) await killContainers(deps, record.pod, plan.containersToKill, this.#podIP(record, observed));
    let sandboxId = plan.sandboxId;
    let sandboxIP = observed.sandbox?.ip;
    if (plan.createSandbox) {
      if (plan.killPod) await stopSandbox(deps, observed.sandbox);
      try {
        sandboxId = await createSandbox(deps, record, plan, () => this.#prepared(record));
      } catch (err) {
        record.created = undefined;
        deps.log.warn({ pod: record.key, err }, 'sandbox not created; will retry');
        return 2000;
      }
      // The sandbox's IP: a look at the new sandbox only (a list when the pod's entry is not current).
      sandboxIP = viewPod(sandboxId && record.created ? await deps.cache.lookAfter(record.uid, [sandboxId]) : await deps.cache.refreshPod(record.uid)).sandbox?.ip;
    }
    if (!sandboxId) return plan.requeueAfterMs;
    let prepared: Map<string, PreparedVolume>;
    try {
      prepared = await this.#prepared(record);
    } catch (err) {
      deps.events.event(podRef(record.pod), 'Warning', 'FailedMount', errorMessage(err));
      return 5000;
    }
    let retry = plan.requeueAfterMs;
    retry = minDefined(retry, await this.#resize.apply(record.pod, resize));
    for (const action of plan.ephemeralToStart ?? []) {
      if (!(await startContainer(deps, record, action, sandboxId, sandboxIP, prepared))) {
        record.created = undefined;
        retry = Math.min(retry ?? Infinity, 5000);
      }
    }
    for (const action of plan.containersToStart) {
      const ok = await startContainer(deps, record, action, sandboxId, sandboxIP, prepared);
      if (!ok) {
        record.created = undefined;
        const reason = record.waiting.get(action.container.name)?.reason;
        const wait = reason === 'ErrImagePull' || reason === 'ImagePullBackOff' ? 10_000 : 5000;
        retry = Math.min(retry ?? Infinity, wait);
        if (action.kind === 'init') break;
      }
    }
    for (const name of record.waiting.keys()) {
      const stillBacking = plan.backingOff.has(name) || plan.containersToStart.some((a) => a.container.name === name);
      const running = isRunning(observed.byName.get(name)?.[0]);
      if (!stillBacking && running) record.waiting.delete(name);
    }
    return retry;
  }

  async #readMessages(record: PodRecord, observed: PodObserved): Promise<void> {
    for (const [name, instances] of observed.byName) {
      for (const c of instances.slice(0, 2)) {
        if (!isFinished(c) || this.#state.messages.has(c.id)) continue;
        let msg = await readFile(terminationMessageHostPath(this.#deps.podsDir, record.uid, name, c.restartCount), 'utf8')
          .then((t) => t.slice(0, 4096), () => '');
        const spec = [...(record.pod.spec.initContainers ?? []), ...record.pod.spec.containers].find((s) => s.name === name);
        if (!msg && spec?.terminationMessagePolicy === 'FallbackToLogsOnError' && (c.exitCode ?? 0) !== 0) {
          msg = await this.#tailLogs(c.id);
        }
        this.#state.messages.set(c.id, msg.trimEnd());
      }
    }
  }

  async #tailLogs(id: string): Promise<string> {
    try {
      const stream = await this.#deps.runtime.logs(id, { tailLines: 80 });
      const chunks: Buffer[] = [];
      for await (const chunk of stream as AsyncIterable<Buffer | string>) chunks.push(Buffer.from(chunk));
      const text = Buffer.concat(chunks).toString('utf8');
      return text.length > 2048 ? text.slice(text.length - 2048) : text;
    } catch {
      return '';
    }
  }

  #status(record: PodRecord, observed: PodObserved) {
    const deps = this.#deps;
    record.startTime ??= record.pod.status?.startTime ?? new Date(deps.clock.now()).toISOString();
    const messages = new Map<string, string>();
    for (const c of observed.all) {
      const m = this.#state.messages.get(c.id);
      if (m) messages.set(c.id, m);
    }
    const status = computePodStatus({
      pod: record.pod,
      observed,
      waiting: record.waiting,
      messages,
      hostIP: deps.node.hostIP,
      qosClass: deps.spec.qosClass(record.pod),
      startTime: record.startTime,
      now: new Date(deps.clock.now()).toISOString(),
      terminal: isDeleting(record) && record.state === 'Terminated',
      previous: deps.status.get(record.uid) ?? record.pod.status,
      resize: this.#resize.status(record.pod, observed),
      probes: deps.probes && {
        isStarted: (name, id) => deps.probes!.isStarted(record.uid, name, id),
        isReady: (name, id) => deps.probes!.isReady(record.uid, name, id),
      },
    });
    const ephemeral = ephemeralStatuses(record.pod, observed, record.waiting);
    if (ephemeral.length) (status as { ephemeralContainerStatuses?: unknown }).ephemeralContainerStatuses = ephemeral;
    if (record.failed) {
      // The node failed the pod (kubelet generateAPIPodStatus with a PodSyncHandler's eviction, or rejectPod).
      status.phase = 'Failed';
      status.reason = record.failed.reason;
      status.message = record.failed.message;
    }
    return status;
  }

  async #finishDeletion(record: PodRecord): Promise<void> {
    const deps = this.#deps;
    const { uid, pod } = record;
    await deps.status.flushed(uid);
    if (deps.client && !record.removed && !record.static) {
      try {
        await deps.client.delete(`/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`, {
          body: { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0, preconditions: { uid } },
        });
      } catch (err) {
        const status = (err as { details?: { status?: number } }).details?.status;
        if (status !== 404 && status !== 409) throw err;
      }
    }
    deps.probes?.removePod(uid);
    this.#state.budgets.delete(uid);
    await deps.volumes.teardown(uid);
    this.#state.volumes.delete(uid);
    for (const c of deps.cache.containersOf(uid)) this.#state.messages.delete(c.id);
    deps.status.remove(uid);
    deps.images.forget(`${uid}/`);
    deps.crashBackoff.forget(`${uid}/`);
    await this.#resize.forget(uid);
  }
}
