// activeDeadlineSeconds as the upstream kubelet's activeDeadlineHandler (pkg/kubelet/active_deadline.go):
// once now − status.startTime ≥ spec.activeDeadlineSeconds the pod is failed with reason
// DeadlineExceeded and its containers are killed. The deadline is read from the current spec, so
// lowering it by an update takes effect at the next sync. Pure: the worker supplies the clock.
import type { Pod } from '../../kube/api.js';

export const DEADLINE_EXCEEDED = {
  reason: 'DeadlineExceeded',
  message: 'Pod was active on the node longer than the specified deadline',
} as const;

export interface DeadlineCheck {
  exceeded: boolean;
  /** ms until the deadline passes (when set and not yet exceeded): sync again then. */
  remainingMs?: number;
}

export function checkActiveDeadline(pod: Pod, startTime: string | undefined, nowMs: number): DeadlineCheck {
  const secs = pod.spec.activeDeadlineSeconds;
  if (secs === undefined || secs === null || !startTime) return { exceeded: false };
  const start = Date.parse(startTime);
  if (!Number.isFinite(start)) return { exceeded: false };
  const remaining = start + secs * 1000 - nowMs;
  return remaining <= 0 ? { exceeded: true } : { exceeded: false, remainingMs: remaining };
}
