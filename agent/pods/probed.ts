// The worker's side of probing (kubelet syncPod + prober manager): which running containers are
// probed (app containers and sidecars), and the kills a failed liveness or startup probe asks for,
// with that probe's terminationGracePeriodSeconds when set (setTerminationGracePeriod).
import type { Container, Pod } from '../../kube/api.js';
import type { Probes } from './deps.js';
import { containerGraceSeconds } from './grace.js';
import { isRunning, type PodObserved } from './observed.js';
import { isSidecar } from './plan.js';
import type { KillAction } from './types.js';

/** App containers and sidecars: the containers that are probed and restarted on probe failure. */
export function probedContainers(pod: Pod): Container[] {
  return [...(pod.spec.initContainers ?? []).filter(isSidecar), ...pod.spec.containers];
}

export function runningForProbes(pod: Pod, observed: PodObserved, podIP: string | undefined) {
  const running = [];
  for (const c of probedContainers(pod)) {
    const cur = observed.byName.get(c.name)?.[0];
    if (cur && isRunning(cur)) running.push({ containerName: c.name, containerId: cur.id, podIP, startedAtMs: Date.parse(cur.startedAt ?? cur.createdAt) });
  }
  return running;
}

/** Kills for containers whose liveness or startup probe failed (the restart policy decides the rest). */
export function unhealthyKills(pod: Pod, observed: PodObserved, probes: Probes): KillAction[] {
  const uid = pod.metadata.uid ?? '';
  const kills: KillAction[] = [];
  for (const c of probedContainers(pod)) {
    const cur = observed.byName.get(c.name)?.[0];
    const message = cur && isRunning(cur) ? probes.restartMessage(uid, c.name, cur.id) : undefined;
    if (!cur || !message) continue;
    const failed = probes.failedProbe?.(uid, c.name, cur.id) ?? (/failed startup probe/.test(message) ? 'startup' : 'liveness');
    const cause = failed === 'startup' ? 'Startup' : 'Liveness';
    kills.push({ id: cur.id, containerName: c.name, reason: cause, message, graceSeconds: containerGraceSeconds(pod, c, cause) });
  }
  return kills;
}
