// Grace periods as the upstream kubelet computes them (pod_workers.go calculateEffectiveGracePeriod,
// kuberuntime_container.go setTerminationGracePeriod/killContainer): the deletion's grace period is
// the API server's word and overrides the spec's (also when larger); once termination started the
// grace can only shrink; never below 1 s at pod level; a liveness/startup-probe kill uses that probe's
// terminationGracePeriodSeconds; after a preStop hook a container still gets at least 2 s.
import type { Container, Pod } from '../../kube/api.js';

/** kuberuntime minimumGracePeriodInSeconds: the least a container gets after its preStop hook. */
export const MIN_CONTAINER_GRACE_SECONDS = 2;
/** upstream's pod-level floor ("no matter what, we always supply a grace period of 1"). */
export const MIN_POD_GRACE_SECONDS = 1;
export const DEFAULT_GRACE_SECONDS = 30;

/**
 * The grace period for terminating a pod. `previous` is the value already in force (undefined before
 * termination started): it can only go down from there. `removed` = the pod left its source (force
 * delete): the deletion object carries deletionGracePeriodSeconds 0, which clamps to the floor.
 */
export function effectiveGraceSeconds(pod: Pod, previous: number | undefined): number {
  let grace = previous ?? 0;
  const override = pod.metadata.deletionGracePeriodSeconds;
  if (override !== undefined && override !== null) {
    if (previous === undefined || override < grace) grace = override;
  } else if (previous === undefined) {
    grace = pod.spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
  }
  return Math.max(MIN_POD_GRACE_SECONDS, Math.floor(grace));
}

/** Why a container is killed; probe kills take the probe's own grace period when it sets one. */
export type KillCause = 'Deleting' | 'Liveness' | 'Startup' | 'SpecChanged' | 'SandboxChanged' | 'DeadlineExceeded' | 'Other';

/** setTerminationGracePeriod: the grace for killing one container outside pod deletion. */
export function containerGraceSeconds(pod: Pod, container: Container | undefined, cause: KillCause): number {
  if (pod.metadata.deletionGracePeriodSeconds !== undefined && pod.metadata.deletionGracePeriodSeconds !== null) {
    return pod.metadata.deletionGracePeriodSeconds;
  }
  const spec = pod.spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
  if (cause === 'Liveness') return container?.livenessProbe?.terminationGracePeriodSeconds ?? spec;
  if (cause === 'Startup') return container?.startupProbe?.terminationGracePeriodSeconds ?? spec;
  return spec;
}

/** What remains for the stop signal after a preStop hook took `hookSeconds` (killContainer). */
export function graceAfterHook(graceSeconds: number, hookSeconds: number): number {
  return Math.max(MIN_CONTAINER_GRACE_SECONDS, Math.ceil(graceSeconds - hookSeconds));
}
