// The uniform shape of every long-running part: a constructor without side effects,
// start(signal) to begin, stop() to end and release everything.

export interface Service {
  /** Begins work; resolves once the part is ready to serve (not when it ends). */
  start(signal: AbortSignal): Promise<void>;
  /** Ends work and releases resources; safe to call twice. */
  stop(): Promise<void>;
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
