// The probe results cache (upstream prober/results): the latest result per (pod, container id, probe
// type). set() notifies subscribers only when a result actually changes.

export type ProbeType = 'readiness' | 'liveness' | 'startup';
export type ProbeResult = 'success' | 'failure' | 'unknown';

export interface ResultUpdate {
  podUid: string;
  containerId: string;
  probeType: ProbeType;
  result: ProbeResult;
}

export class ResultsCache {
  readonly #byPod = new Map<string, Map<string, ProbeResult>>();
  readonly #subscribers = new Set<(u: ResultUpdate) => void>();

  get(podUid: string, containerId: string, probeType: ProbeType): ProbeResult | undefined {
    return this.#byPod.get(podUid)?.get(`${containerId}/${probeType}`);
  }

  /** Records a result; returns true (and notifies subscribers) only when it differs from the cached one. */
  set(podUid: string, containerId: string, probeType: ProbeType, result: ProbeResult): boolean {
    let pod = this.#byPod.get(podUid);
    if (!pod) {
      pod = new Map();
      this.#byPod.set(podUid, pod);
    }
    const key = `${containerId}/${probeType}`;
    if (pod.get(key) === result) return false;
    pod.set(key, result);
    const update: ResultUpdate = { podUid, containerId, probeType, result };
    for (const cb of [...this.#subscribers]) cb(update);
    return true;
  }

  /** Forgets a result without notifying (the container is gone or no longer probed). */
  remove(podUid: string, containerId: string, probeType: ProbeType): void {
    const pod = this.#byPod.get(podUid);
    if (!pod) return;
    pod.delete(`${containerId}/${probeType}`);
    if (pod.size === 0) this.#byPod.delete(podUid);
  }

  removePod(podUid: string): void {
    this.#byPod.delete(podUid);
  }

  /** Calls cb for every change; returns the unsubscribe function. */
  subscribe(cb: (u: ResultUpdate) => void): () => void {
    this.#subscribers.add(cb);
    return () => this.#subscribers.delete(cb);
  }
}
