// The uniform shape of every long-running part: a constructor without side effects,
// start(signal) to begin, stop() to end and release everything (as fastify's build()/listen()
// and Virtual Kubelet's Run(ctx)).

export interface Lifecycle {
  /** Begins work; resolves once the part is ready to serve (not when it ends). */
  start(signal: AbortSignal): Promise<void>;
  /** Ends work and releases resources; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Ties a child's end to its parent's signal: when `parent` aborts, `onAbort` runs once (by default
 * it aborts the returned controller). Runs at once when the parent has already aborted. The
 * returned `unlink()` removes the listener, so long-lived parent signals collect no listeners.
 */
export function linkAbort(parent: AbortSignal, onAbort?: () => void): { controller: AbortController; signal: AbortSignal; unlink: () => void } {
  const controller = new AbortController();
  const fire = () => {
    if (onAbort) onAbort();
    else controller.abort(parent.reason);
  };
  if (parent.aborted) {
    fire();
    return { controller, signal: controller.signal, unlink: () => {} };
  }
  parent.addEventListener('abort', fire, { once: true });
  return { controller, signal: controller.signal, unlink: () => parent.removeEventListener('abort', fire) };
}

/** Resolves after ms, or at once when the signal aborts. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
