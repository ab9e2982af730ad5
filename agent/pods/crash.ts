// Crash-loop back-off per container, as kuberuntime doBackOff: the key names the pod, the container
// and its image (GetBackoffKey), so a spec change (a new image) starts without waiting; a container
// whose last back-off update is more than 10 minutes before it finished has run well and restarts at
// once, its back-off back at the first step (10 s).
import type { Container } from '../../kube/api.js';
import type { Backoff } from '../../lib/backoff.js';

export function crashKey(podUid: string, container: Pick<Container, 'name' | 'image'>): string {
  return `${podUid}/${container.name}/${container.image ?? ''}`;
}

/** ms the container must still wait before a restart (0 = may restart now). */
export function crashBackoffRemaining(backoff: Backoff, now: number, key: string, finishedAtMs: number): number {
  if (!backoff.inBackoff(key, finishedAtMs)) return 0;
  return Math.max(1, finishedAtMs + backoff.current(key) - now);
}
