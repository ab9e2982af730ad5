// generatePodStatus: the pure mapping from what runs (and why things wait) to the API's PodStatus.
// Phases, conditions and reasons follow the upstream kubelet (kubelet_pods.go getPhase & friends).
// In-place resize (given by the resizer): containerStatuses[].resources and the PodResize* conditions;
// status.observedGeneration and each kubelet condition's observedGeneration are the pod's
// metadata.generation (PodObservedGenerationTracking, on by default since 1.34). allocatedResources is
// not written: it is behind InPlacePodVerticalScalingAllocatedStatus (alpha, off), and an API server
// that drops a field the kubelet writes would see the status drift on every reconcile.
import type { Container, ContainerState, ContainerStatus, Pod, PodCondition, PodPhase, PodStatus } from '../../kube/api.js';
import type { ObservedContainer } from '../../runtime/types.js';
import { exitCodeOf, isFinished, isRunning, type PodObserved } from '../pods/observed.js';
import { firstIncompleteInit, initFailedForGood, restartPolicyOf } from '../pods/plan.js';
import type { WaitingReason } from '../pods/types.js';
import { containersReadyCondition, hasAnyRegularContainerStarted, initializedCondition, isRestartableInit, readyCondition, stamp, type PodResizeStatus } from './conditions.js';

export interface StatusInput {
  pod: Pod;
  observed: PodObserved;
  waiting: ReadonlyMap<string, WaitingReason>;
  /** Termination messages read from finished containers, by container id. */
  messages: ReadonlyMap<string, string>;
  hostIP: string;
  qosClass: 'Guaranteed' | 'Burstable' | 'BestEffort';
  startTime: string;
  now: string;
  /** The pod is being deleted and nothing of it runs any more. */
  terminal: boolean;
  previous?: PodStatus;
  /** Probe results; without them a running container is started and ready. */
  probes?: { isStarted(name: string, id: string): boolean; isReady(name: string, id: string): boolean };
  /** In-place resize: conditions and per-container resources (agent/pods/resize-apply.ts). */
  resize?: PodResizeStatus;
}

function terminatedState(c: ObservedContainer, message: string | undefined): ContainerState {
  const exitCode = exitCodeOf(c);
  let reason = exitCode === 0 ? 'Completed' : 'Error';
  if (c.oomKilled) reason = 'OOMKilled';
  if (c.state === 'created') reason = 'ContainerCannotRun';
  const t: NonNullable<ContainerState['terminated']> = { exitCode, reason, containerID: `docker://${c.id}` };
  if (c.startedAt) t.startedAt = c.startedAt;
  if (c.finishedAt) t.finishedAt = c.finishedAt;
  const msg = message ?? (c.state === 'created' ? c.error : undefined);
  if (msg) t.message = msg;
  return { terminated: t };
}

function containerStatus(container: Container, input: StatusInput, defaultWaiting: string): ContainerStatus {
  const instances = input.observed.byName.get(container.name) ?? [];
  const cur = instances[0];
  const prev = instances[1];
  const waiting = input.waiting.get(container.name);
  const status: ContainerStatus = {
    name: container.name,
    ready: false,
    started: false,
    restartCount: cur?.restartCount ?? 0,
    image: container.image ?? '',
    imageID: cur?.imageRef ?? '',
  };
  if (cur) status.containerID = `docker://${cur.id}`;
  if (cur && isRunning(cur)) {
    status.state = { running: cur.startedAt ? { startedAt: cur.startedAt } : {} };
    status.started = input.probes ? input.probes.isStarted(container.name, cur.id) : true;
    status.ready = input.probes ? input.probes.isReady(container.name, cur.id) : true;
    if (prev && isFinished(prev)) status.lastState = terminatedState(prev, input.messages.get(prev.id));
  } else if (waiting && !input.terminal) {
    status.state = { waiting: waiting.message ? { reason: waiting.reason, message: waiting.message } : { reason: waiting.reason } };
    if (cur && isFinished(cur)) status.lastState = terminatedState(cur, input.messages.get(cur.id));
  } else if (cur && (isFinished(cur) || cur.state === 'created')) {
    status.state = terminatedState(cur, input.messages.get(cur.id));
    if (prev && isFinished(prev)) status.lastState = terminatedState(prev, input.messages.get(prev.id));
  } else {
    status.state = { waiting: { reason: defaultWaiting } };
  }
  status.lastState ??= {};
  return status;
}

/**
 * upstream getPhase, over already-computed container statuses. initPending/initFailed come from the
 * plan (regular init containers in the current sandbox); restartable init containers (sidecars) count
 * as upstream: running ones keep the pod Running, a not-yet-started one keeps it Pending until a regular
 * container has started, terminated ones do not count.
 */
export function podPhase(pod: Pod, statuses: ContainerStatus[], initPending: boolean, initFailed: boolean, terminal: boolean, initStatuses: ContainerStatus[] = []): PodPhase {
  if (initFailed) return 'Failed';
  if (initPending && !terminal) return 'Pending';
  let running = 0, waiting = 0, stopped = 0, succeeded = 0, pendingSidecars = 0;
  for (const c of (pod.spec.initContainers ?? []).filter(isRestartableInit)) {
    const s = initStatuses.find((x) => x.name === c.name);
    if (!s) continue;
    if (s.state?.running) {
      if (!s.started) pendingSidecars++;
      running++;
    } else if (s.state?.waiting && !s.lastState?.terminated) {
      pendingSidecars++;
      waiting++;
    }
  }
  for (const s of statuses) {
    if (s.state?.running) running++;
    else if (s.state?.terminated) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.state?.waiting) {
      if (s.lastState?.terminated) stopped++;
      else waiting++;
    }
  }
  const policy = restartPolicyOf(pod);
  if (terminal) {
    if (running > 0) return 'Running';
    return stopped === succeeded && waiting === 0 && stopped > 0 ? 'Succeeded' : 'Failed';
  }
  if (pendingSidecars > 0 && !hasAnyRegularContainerStarted(pod, statuses)) return 'Pending';
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (policy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    return policy === 'Never' ? 'Failed' : 'Running';
  }
  return 'Pending';
}

export function computePodStatus(input: StatusInput): PodStatus {
  const { pod, observed } = input;
  const inits = pod.spec.initContainers ?? [];
  const initIdx = firstIncompleteInit(pod, observed, (name, c) => (input.probes ? input.probes.isStarted(name, c.id) : true));
  const initPending = initIdx >= 0;
  const initFailed = initFailedForGood(pod, observed);
  const initStatuses = inits.map((c) => containerStatus(c, input, 'PodInitializing'));
  const statuses = pod.spec.containers.map((c) => containerStatus(c, input, initPending ? 'PodInitializing' : 'ContainerCreating'));
  inits.forEach((c, i) => {
    const s = initStatuses[i]!;
    if (!isRestartableInit(c)) s.ready = s.state?.terminated?.exitCode === 0;
  });
  const phase = podPhase(pod, statuses, initPending, initFailed, input.terminal, initStatuses);

  const sandboxReady = isRunning(observed.sandbox) && !input.terminal;
  const all = [...initStatuses, ...statuses];
  const containersReady = containersReadyCondition(pod, all, phase);
  const previous = input.previous?.conditions;
  const conditions: PodCondition[] = [
    stamp({ type: 'PodReadyToStartContainers', status: sandboxReady ? 'True' : 'False' }, previous, input.now),
    stamp(initializedCondition(pod, all, phase), previous, input.now),
    stamp(readyCondition(pod, containersReady, pod.status?.conditions ?? []), previous, input.now),
    stamp(containersReady, previous, input.now),
  ];
  if (pod.metadata.annotations?.['kubernetes.io/config.source'] === 'file') conditions.push(stamp({ type: 'PodScheduled', status: 'True' }, previous, input.now));
  for (const c of input.resize?.conditions ?? []) conditions.push(stamp(c, previous, input.now));
  const generation = pod.metadata.generation;
  if (typeof generation === 'number') for (const c of conditions) c.observedGeneration ??= generation;
  const resources = input.resize?.resources;
  if (resources) {
    for (const s of [...initStatuses, ...statuses]) {
      const r = resources.get(s.name);
      if (r && (r.limits || r.requests)) (s as ContainerStatus & { resources?: typeof r }).resources = r;
    }
  }

  const status: PodStatus = {
    phase,
    conditions,
    hostIP: input.hostIP,
    hostIPs: [{ ip: input.hostIP }],
    startTime: input.startTime,
    qosClass: input.qosClass,
    containerStatuses: statuses,
  };
  const ip = pod.spec.hostNetwork ? input.hostIP : observed.sandbox?.ip;
  if (ip && (sandboxReady || input.previous?.podIP === ip)) {
    status.podIP = ip;
    status.podIPs = [{ ip }];
  } else if (input.previous?.podIP) {
    status.podIP = input.previous.podIP;
    status.podIPs = input.previous.podIPs ?? [{ ip: input.previous.podIP }];
  }
  if (inits.length > 0) status.initContainerStatuses = initStatuses;
  if (typeof generation === 'number') status.observedGeneration = generation;
  return status;
}

/** Normalised comparison: did anything an observer cares about change? (ignores transition times) */
export function podStatusEqual(a: PodStatus | undefined, b: PodStatus | undefined): boolean {
  if (!a || !b) return a === b;
  const strip = (s: PodStatus) => ({ ...s, conditions: (s.conditions ?? []).map((c) => ({ ...c, lastTransitionTime: undefined, lastProbeTime: undefined })).sort((x, y) => x.type.localeCompare(y.type)) });
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
}
