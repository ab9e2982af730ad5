// Clock sleep that returns at once when the signal is already aborted and leaves no listener behind on a
// long-lived signal (each sleep gets its own short-lived child signal).
import type { Clock } from '../../lib/clock.js';

export async function sleepFor(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  if (!signal) return clock.sleep(ms);
  const child = new AbortController();
  const onAbort = () => child.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await clock.sleep(ms, child.signal);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
