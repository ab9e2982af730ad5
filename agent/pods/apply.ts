// The apply step (kuberuntime SyncPod/startContainer): carries out a PodActions plan against the
// runtime — sandbox, then containers, each followed by its postStart hook; ephemeral containers are
// marked with io.kubernetes.container.type=ephemeral. Every failure becomes a waiting reason on the
// container and an Event; nothing here decides *what* to do.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Container, Pod } from '../../kube/api.js';
import { ErrorCodes, errorMessage, isCode } from '../../lib/errors.js';
import { Annotations } from '../containers/container.js';
import { missingClusterDns } from '../containers/dns.js';
import type { ObservedContainer } from '../../runtime/types.js';
import { crashKey } from './crash.js';
import { EPHEMERAL_TYPE, type EphemeralContainer } from './ephemeral.js';
import { runHook } from './hooks.js';
import { fieldPathOf, killContainer } from './kill.js';
import type { PreparedVolume, WorkerDeps } from './deps.js';
import type { KillAction, PodActions, PodRecord, StartAction } from './types.js';

export function podRef(pod: Pod, fieldPath?: string) {
  return { kind: 'Pod', apiVersion: 'v1', namespace: pod.metadata.namespace, name: pod.metadata.name!, uid: pod.metadata.uid, fieldPath };
}


export function terminationMessageHostPath(podsDir: string, uid: string, name: string, restartCount: number): string {
  return join(podsDir, uid, 'containers', name, String(restartCount), 'termination-log');
}

/** Maps an error from image/env/create/start to the upstream waiting reason. */
export function waitingReasonFor(err: unknown, stage: 'image' | 'config' | 'create' | 'start'): string {
  if (isCode(err, ErrorCodes.INVALID_IMAGE_NAME)) return 'InvalidImageName';
  if (isCode(err, ErrorCodes.IMAGE_NEVER_PULL)) return 'ErrImageNeverPull';
  if (isCode(err, ErrorCodes.IMAGE_PULL)) {
    const details = findDetails(err);
    return details?.backoff ? 'ImagePullBackOff' : 'ErrImagePull';
  }
  if (stage === 'config' || isCode(err, ErrorCodes.CONTAINER_CONFIG)) return 'CreateContainerConfigError';
  if (stage === 'create') return 'CreateContainerError';
  return 'RunContainerError';
}

function findDetails(err: unknown): Record<string, unknown> | undefined {
  for (let e: unknown = err, i = 0; e && i < 5; i++) {
    const d = (e as { details?: Record<string, unknown> }).details;
    if (d && Object.keys(d).length) return d;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export async function killContainers(deps: WorkerDeps, pod: Pod, kills: KillAction[], podIP?: string): Promise<void> {
  await Promise.all(kills.map((k) => killContainer(deps, pod, k, podIP)));
}

export async function stopSandbox(deps: WorkerDeps, sandbox: ObservedContainer | undefined): Promise<void> {
  if (sandbox?.state !== 'running') return;
  const stop = () => deps.runtime.stopContainer(sandbox.id, 0);
  await (deps.stopSlots ? deps.stopSlots.run(stop) : stop());
}

/** Creates the sandbox (volumes first). Returns its id, or undefined after recording why not. */
export async function createSandbox(deps: WorkerDeps, record: PodRecord, plan: PodActions, volumes: () => Promise<Map<string, PreparedVolume>>): Promise<string | undefined> {
  const pod = record.pod;
  try {
    await volumes();
  } catch (err) {
    deps.events.event(podRef(pod), 'Warning', 'FailedMount', errorMessage(err));
    throw err;
  }
  await deps.images.ensure(`${record.uid}/POD`, { name: 'POD', image: deps.pauseImage, imagePullPolicy: 'IfNotPresent' }, () => {}, record.syncAbort?.signal);
  if (plan.sandboxAttempt > 0) deps.events.event(podRef(pod), 'Normal', 'SandboxChanged', 'Pod sandbox changed, it will be killed and re-created.');
  const missingDNS = deps.clusterDNS ? missingClusterDns(pod, { clusterDNS: [...deps.clusterDNS] }) : undefined;
  if (missingDNS) {
    // dns.go: the pod event and the node event, as the kubelet records both.
    deps.events.event(podRef(pod), 'Warning', 'MissingClusterDNS', missingDNS.pod);
    deps.events.event({ kind: 'Node', apiVersion: 'v1', name: deps.node.nodeName, uid: deps.node.nodeName }, 'Warning', 'MissingClusterDNS', missingDNS.node);
  }
  try {
    // After the app containers of pods already under way (priority 1 > 0): pods finish in turn.
    return await deps.startSlots.run(() => deps.runtime.runSandbox(deps.spec.sandboxSpec(pod, deps.pauseImage, plan.sandboxAttempt)), 'sandbox', 1);
  } catch (err) {
    deps.events.event(podRef(pod), 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${errorMessage(err)}`);
    throw err;
  }
}

/** Annotation naming the container whose PID namespace an ephemeral container joins. */
export const TARGET_ANNOTATION = 'io.dockerlet.ephemeral.target';
/** postStart hooks have no timeout upstream; ours stop waiting after this long. */
const POST_START_TIMEOUT_MS = 5 * 60_000;

/**
 * kuberuntime startContainer's postStart step: the hook runs right after the start; when it fails
 * the Event FailedPostStartHook is recorded, the container is killed (Killing "FailedPostStartHook")
 * and waits with reason PostStartHookError, then restarts under the pod's policy and back-off.
 */
async function postStart(deps: WorkerDeps, record: PodRecord, c: Container, id: string, podIP: string | undefined): Promise<boolean> {
  const pod = record.pod;
  const failure = await runHook(deps.runtime, c.lifecycle!.postStart!, { pod, container: c, containerId: id, podIP }, { timeoutMs: POST_START_TIMEOUT_MS, signal: record.syncAbort?.signal });
  if (!failure) return true;
  deps.events.event(podRef(pod, fieldPathOf(pod, c.name)), 'Warning', 'FailedPostStartHook', failure);
  const grace = pod.spec.terminationGracePeriodSeconds ?? 30;
  await killContainer(deps, pod, { id, containerName: c.name, reason: 'FailedPostStartHook', message: 'FailedPostStartHook', graceSeconds: grace }, podIP);
  record.waiting.set(c.name, { reason: 'PostStartHookError', message: failure });
  deps.crashBackoff.next(crashKey(record.uid, c));
  deps.log.warn({ pod: record.key, container: c.name, message: failure }, 'postStart hook failed');
  return false;
}

/**
 * Starts one container instance. Returns true when it runs; false when it could not start (the
 * waiting reason and an Event are recorded).
 */
export async function startContainer(
  deps: WorkerDeps,
  record: PodRecord,
  action: StartAction,
  sandboxId: string,
  sandboxIP: string | undefined,
  prepared: Map<string, PreparedVolume>,
): Promise<boolean> {
  const pod = record.pod;
  const c: Container = action.container;
  const ref = podRef(pod, fieldPathOf(pod, c.name));
  const emit = (type: 'Normal' | 'Warning', reason: string, message: string) => deps.events.event(ref, type, reason, message);
  let stage: 'image' | 'config' | 'create' | 'start' = 'image';
  try {
    const image = await deps.images.ensure(`${record.uid}/${c.name}`, c, emit, record.syncAbort?.signal, pod);
    stage = 'config';
    const env = await deps.spec.resolveEnv(pod, c, deps.envSources, { ...deps.node, podIP: sandboxIP });
    const mounts = await deps.volumes.mountsFor(pod, c, prepared, env);
    const tmPath = terminationMessageHostPath(deps.podsDir, record.uid, c.name, action.restartCount);
    // Small local files: synchronous calls cost less than a thread-pool round trip each.
    mkdirSync(join(tmPath, '..'), { recursive: true });
    writeFileSync(tmPath, '');
    stage = 'create';
    const spec = deps.spec.containerSpec({
      pod, container: c, kind: action.kind === 'init' ? 'init' : 'container', sandboxId, attempt: action.attempt, restartCount: action.restartCount,
      env, mounts, memoryCapacityBytes: deps.node.capacity.memoryBytes, terminationMessageHostPath: tmPath, image: c.image ?? image.id,
      podIP: pod.spec.hostNetwork ? deps.node.hostIP : sandboxIP,
      podDir: join(deps.podsDir, record.uid),
    });
    if (action.kind === 'ephemeral') {
      spec.annotations[Annotations.type] = EPHEMERAL_TYPE;
      const target = (c as EphemeralContainer).targetContainerName;
      if (target) {
        spec.annotations[TARGET_ANNOTATION] = target;
        // kubectl debug --target: the target's PID namespace (dockershim: PidMode container:<target id>).
        const running = deps.cache.containersOf(record.uid).find((o) => o.kind !== 'sandbox' && o.containerName === target && o.state === 'running');
        if (running) spec.pidContainerId = running.id;
      }
    }
    const id = await deps.startSlots.run(() => deps.runtime.createContainer(spec), 'create');
    record.created?.push(id);
    emit('Normal', 'Created', `Created container: ${c.name}`);
    stage = 'start';
    await deps.startSlots.run(() => deps.runtime.startContainer(id), 'start');
    emit('Normal', 'Started', `Started container ${c.name}`);
    if (action.reason === 'restart') deps.crashBackoff.next(crashKey(record.uid, c));
    const podIP = pod.spec.hostNetwork ? deps.node.hostIP : sandboxIP;
    if (c.lifecycle?.postStart && !(await postStart(deps, record, c, id, podIP))) return false;
    record.waiting.delete(c.name);
    return true;
  } catch (err) {
    const reason = waitingReasonFor(err, stage);
    const message = errorMessage(err);
    record.waiting.set(c.name, { reason, message });
    if (stage !== 'image') emit('Warning', 'Failed', `Error: ${message}`);
    if (reason === 'ErrImagePull' || reason === 'ImagePullBackOff') emit('Warning', 'Failed', `Error: ${reason}`);
    if (stage === 'start') deps.crashBackoff.next(crashKey(record.uid, c));
    deps.log.warn({ pod: record.key, container: c.name, reason, err }, 'container did not start');
    return false;
  }
}
