// The pod start SLI, as upstream pkg/kubelet/util/pod_startup_latency_tracker.go: a pod is tracked only
// when first seen before the kubelet acknowledged it (no status.startTime: scheduled after this agent
// started); once every app container is running with a start time, kubelet_pod_start_sli_duration_seconds
// observes (now − creationTimestamp) − (last image pull finished − first image pull started), once per pod.
import type { Pod, PodStatus } from '../../kube/api.js';
import { podStartSliDuration } from '../../metrics/agent-metrics.js';

interface PodState {
  firstPullStartMs?: number;
  lastPullEndMs?: number;
  observed: boolean;
}

export class PodStartTracker {
  readonly #pods = new Map<string, PodState>();
  readonly #observe: (seconds: number) => void;

  constructor(observe: (seconds: number) => void = (s) => podStartSliDuration.observe(s)) {
    this.#observe = observe;
  }

  /** A pull for a container of the pod began (RecordImageStartedPulling: the first one counts). */
  pullStarted(podUid: string, atMs: number): void {
    const s = this.#pods.get(podUid);
    if (s && s.firstPullStartMs === undefined) s.firstPullStartMs = atMs;
  }

  /** A pull ended (RecordImageFinishedPulling: the last one counts). */
  pullFinished(podUid: string, atMs: number): void {
    const s = this.#pods.get(podUid);
    if (s) s.lastPullEndMs = atMs;
  }

  /**
   * The status just computed for pod (its informer copy). Returns the observed seconds when this call
   * recorded the pod's start.
   */
  observe(pod: Pod, status: PodStatus, nowMs: number): number | undefined {
    const uid = pod.metadata.uid;
    if (!uid) return undefined;
    let s = this.#pods.get(uid);
    if (!s) {
      if (!pod.status?.startTime) this.#pods.set(uid, { observed: false });
      return undefined;
    }
    if (s.observed || !allStarted(status)) return undefined;
    const created = Date.parse(pod.metadata.creationTimestamp ?? '');
    s = { ...s, observed: true };
    this.#pods.set(uid, s);
    if (!Number.isFinite(created)) return undefined;
    const pulling = s.firstPullStartMs !== undefined && s.lastPullEndMs !== undefined ? Math.max(0, s.lastPullEndMs - s.firstPullStartMs) : 0;
    const seconds = Math.max(0, (nowMs - created - pulling) / 1000);
    this.#observe(seconds);
    return seconds;
  }

  forget(podUid: string): void {
    this.#pods.delete(podUid);
  }

  /** Pods tracked (memory bound checks). */
  size(): number {
    return this.#pods.size;
  }
}

/** hasPodStartedSLO: every app container running with a start time. */
function allStarted(status: PodStatus): boolean {
  const list = status.containerStatuses ?? [];
  return list.length > 0 && list.every((c) => c.state?.running?.startedAt);
}

/** The agent's tracker (the image manager and the status manager report to it). */
export const podStartTracker = new PodStartTracker();
