// Ephemeral containers (kubectl debug; KEP-277) as the upstream kubelet runs them: added to a running
// pod through the pods/ephemeralcontainers subresource, each started once in the pod's sandbox
// (network/IPC; with targetContainerName in that container's PID namespace), never restarted, no
// probes, ports or lifecycle; reported in status.ephemeralContainerStatuses. Pure helpers here.
import type { Container, ContainerStatus, Pod } from '../../kube/api.js';
import type { ObservedContainer } from '../../runtime/types.js';
import { exitCodeOf, isFinished, isRunning, type PodObserved } from './observed.js';
import type { StartAction, WaitingReason } from './types.js';

/** The fields the kubelet reads; the API's EphemeralContainer is a Container plus a target. */
export interface EphemeralContainer extends Container {
  targetContainerName?: string;
}

/** Container annotation value (io.kubernetes.container.type) marking an ephemeral container. */
export const EPHEMERAL_TYPE = 'ephemeral';

export function ephemeralContainersOf(pod: Pod): EphemeralContainer[] {
  return (pod.spec as { ephemeralContainers?: EphemeralContainer[] }).ephemeralContainers ?? [];
}

/** Ephemeral containers with no instance yet. */
export function ephemeralToStart(pod: Pod, observed: PodObserved): StartAction[] {
  const out: StartAction[] = [];
  for (const c of ephemeralContainersOf(pod)) {
    if ((observed.byName.get(c.name) ?? []).length > 0) continue;
    out.push({ container: c, kind: 'ephemeral', attempt: 0, restartCount: 0, reason: 'new' });
  }
  return out;
}

function terminated(c: ObservedContainer): ContainerStatus['state'] {
  const exitCode = exitCodeOf(c);
  const t: Record<string, unknown> = { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', containerID: `docker://${c.id}` };
  if (c.state === 'created') t.reason = 'ContainerCannotRun';
  if (c.startedAt) t.startedAt = c.startedAt;
  if (c.finishedAt) t.finishedAt = c.finishedAt;
  if (c.state === 'created' && c.error) t.message = c.error;
  return { terminated: t as NonNullable<ContainerStatus['state']>['terminated'] };
}

/** status.ephemeralContainerStatuses, in spec order (never ready; restartCount 0). */
export function ephemeralStatuses(pod: Pod, observed: PodObserved, waiting: ReadonlyMap<string, WaitingReason>): ContainerStatus[] {
  return ephemeralContainersOf(pod).map((c) => {
    const cur = observed.byName.get(c.name)?.[0];
    const s: ContainerStatus = { name: c.name, ready: false, restartCount: 0, image: c.image ?? '', imageID: cur?.imageRef ?? '' };
    if (cur) s.containerID = `docker://${cur.id}`;
    const w = waiting.get(c.name);
    if (cur && isRunning(cur)) s.state = { running: cur.startedAt ? { startedAt: cur.startedAt } : {} };
    else if (cur && (isFinished(cur) || cur.state === 'created')) s.state = terminated(cur);
    else s.state = { waiting: w ? (w.message ? { reason: w.reason, message: w.message } : { reason: w.reason }) : { reason: 'ContainerCreating' } };
    s.lastState = {};
    return s;
  });
}
