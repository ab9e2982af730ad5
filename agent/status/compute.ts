// generatePodStatus: the pure mapping from what runs (and why things wait) to the API's PodStatus.
// Phases, conditions and reasons follow the upstream kubelet (kubelet_pods.go getPhase & friends).
import type { Container, ContainerState, ContainerStatus, Pod, PodCondition, PodPhase, PodStatus } from '../../kube/api.js';
import type { ObservedContainer } from '../../runtime/types.js';
import { exitCodeOf, isFinished, isRunning, type PodObserved } from '../pods/observed.js';
import { firstIncompleteInit, initFailedForGood, restartPolicyOf } from '../pods/plan.js';
import type { WaitingReason } from '../pods/types.js';

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

/** upstream getPhase, over already-computed container statuses. */
export function podPhase(pod: Pod, statuses: ContainerStatus[], initPending: boolean, initFailed: boolean, terminal: boolean): PodPhase {
  if (initFailed) return 'Failed';
  if (initPending && !terminal) return 'Pending';
  let running = 0, waiting = 0, stopped = 0, succeeded = 0;
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
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (policy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    return policy === 'Never' ? 'Failed' : 'Running';
  }
  return 'Pending';
}

function condition(type: string, ok: boolean, reason: string | undefined, message: string | undefined, input: StatusInput): PodCondition {
  const status = ok ? 'True' : 'False';
  const prev = input.previous?.conditions?.find((c) => c.type === type);
  const c: PodCondition = { type, status, lastProbeTime: null, lastTransitionTime: prev && prev.status === status ? prev.lastTransitionTime : input.now };
  if (reason) c.reason = reason;
  if (message) c.message = message;
  return c;
}

export function computePodStatus(input: StatusInput): PodStatus {
  const { pod, observed } = input;
  const inits = pod.spec.initContainers ?? [];
  const initIdx = firstIncompleteInit(pod, observed);
  const initPending = initIdx >= 0;
  const initFailed = initFailedForGood(pod, observed);
  const initStatuses = inits.map((c) => containerStatus(c, input, 'PodInitializing'));
  const statuses = pod.spec.containers.map((c) => containerStatus(c, input, initPending ? 'PodInitializing' : 'ContainerCreating'));
  for (const s of initStatuses) s.ready = s.state?.terminated?.exitCode === 0;
  const phase = podPhase(pod, statuses, initPending, initFailed, input.terminal);
  const completed = phase === 'Succeeded' || phase === 'Failed';

  const sandboxReady = isRunning(observed.sandbox) && !input.terminal;
  const unready = statuses.filter((s) => !s.ready).map((s) => s.name);
  const incomplete = inits.slice(Math.max(initIdx, 0)).map((c) => c.name);
  const notReadyReason = completed ? 'PodCompleted' : 'ContainersNotReady';
  const notReadyMsg = completed ? undefined : `containers with unready status: [${unready.join(' ')}]`;
  const conditions: PodCondition[] = [
    condition('PodReadyToStartContainers', sandboxReady, undefined, undefined, input),
    initPending && !completed
      ? condition('Initialized', false, 'ContainersNotInitialized', `containers with incomplete status: [${incomplete.join(' ')}]`, input)
      : condition('Initialized', true, completed && inits.length > 0 ? 'PodCompleted' : undefined, undefined, input),
    unready.length === 0 ? condition('Ready', true, undefined, undefined, input) : condition('Ready', false, notReadyReason, notReadyMsg, input),
    unready.length === 0 ? condition('ContainersReady', true, undefined, undefined, input) : condition('ContainersReady', false, notReadyReason, notReadyMsg, input),
  ];
  if (pod.metadata.annotations?.['kubernetes.io/config.source'] === 'file') conditions.push(condition('PodScheduled', true, undefined, undefined, input));

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
  return status;
}

/** Normalised comparison: did anything an observer cares about change? (ignores transition times) */
export function podStatusEqual(a: PodStatus | undefined, b: PodStatus | undefined): boolean {
  if (!a || !b) return a === b;
  const strip = (s: PodStatus) => ({ ...s, conditions: (s.conditions ?? []).map((c) => ({ ...c, lastTransitionTime: undefined, lastProbeTime: undefined })).sort((x, y) => x.type.localeCompare(y.type)) });
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
}
