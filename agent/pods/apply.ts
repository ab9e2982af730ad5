// The apply step: carries out a PodActions plan against the runtime. Every failure becomes a
// waiting reason on the container and an Event; nothing here decides *what* to do.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Container, Pod } from '../../kube/api.js';
import { ErrorCodes, errorMessage, isCode } from '../../lib/errors.js';
import type { ObservedContainer } from '../../runtime/types.js';
import { crashKey } from './crash.js';
import type { PreparedVolume, WorkerDeps } from './deps.js';
import type { KillAction, PodActions, PodRecord, StartAction } from './types.js';

export function podRef(pod: Pod, fieldPath?: string) {
  return { kind: 'Pod', apiVersion: 'v1', namespace: pod.metadata.namespace, name: pod.metadata.name!, uid: pod.metadata.uid, fieldPath };
}

function fieldPathOf(pod: Pod, name: string): string {
  const init = (pod.spec.initContainers ?? []).findIndex((c) => c.name === name);
  if (init >= 0) return `spec.initContainers{${name}}`;
  return `spec.containers{${name}}`;
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

export async function killContainers(deps: WorkerDeps, pod: Pod, kills: KillAction[]): Promise<void> {
  await Promise.all(kills.map(async (k) => {
    deps.events.event(podRef(pod, fieldPathOf(pod, k.containerName)), 'Normal', 'Killing', `Stopping container ${k.containerName}`);
    await deps.runtime.stopContainer(k.id, k.graceSeconds);
  }));
}

export async function stopSandbox(deps: WorkerDeps, sandbox: ObservedContainer | undefined): Promise<void> {
  if (sandbox?.state === 'running') await deps.runtime.stopContainer(sandbox.id, 0);
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
  try {
    return await deps.startSlots.run(() => deps.runtime.runSandbox(deps.spec.sandboxSpec(pod, deps.pauseImage, plan.sandboxAttempt)));
  } catch (err) {
    deps.events.event(podRef(pod), 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${errorMessage(err)}`);
    throw err;
  }
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
    const image = await deps.images.ensure(`${record.uid}/${c.name}`, c, emit, record.syncAbort?.signal);
    stage = 'config';
    const env = await deps.spec.resolveEnv(pod, c, deps.envSources, { ...deps.node, podIP: sandboxIP });
    const mounts = await deps.volumes.mountsFor(pod, c, prepared, env);
    const tmPath = terminationMessageHostPath(deps.podsDir, record.uid, c.name, action.restartCount);
    await mkdir(join(tmPath, '..'), { recursive: true });
    await writeFile(tmPath, '');
    stage = 'create';
    const spec = deps.spec.containerSpec({
      pod, container: c, kind: action.kind, sandboxId, attempt: action.attempt, restartCount: action.restartCount,
      env, mounts, memoryCapacityBytes: deps.node.capacity.memoryBytes, terminationMessageHostPath: tmPath, image: c.image ?? image.id,
    });
    const id = await deps.startSlots.run(() => deps.runtime.createContainer(spec));
    emit('Normal', 'Created', `Created container: ${c.name}`);
    stage = 'start';
    await deps.startSlots.run(() => deps.runtime.startContainer(id));
    emit('Normal', 'Started', `Started container ${c.name}`);
    record.waiting.delete(c.name);
    if (action.reason === 'restart') deps.crashBackoff.next(crashKey(record.uid, c));
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
