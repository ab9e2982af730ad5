// An injectable clock: everything that depends on time takes a Clock so tests can drive it.
import { delay, linkAbort } from './lifecycle.js';

export interface Clock {
  now(): number; // epoch milliseconds
  setTimeout(fn: () => void, ms: number): Timer;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface Timer {
  cancel(): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
  sleep: delay,
};

/** A manual clock for unit tests: time moves only when advance() is called. */
export class FakeClock implements Clock {
  #now: number;
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #seq = 0;
  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): Timer {
    const id = ++this.#seq;
    this.#timers.push({ at: this.#now + Math.max(0, ms), fn, id });
    return { cancel: () => { this.#timers = this.#timers.filter((t) => t.id !== id); } };
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const onAbort = () => { t.cancel(); resolve(); };
      const t = this.setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.#timers[0];
      if (!next || next.at > target) break;
      this.#timers.shift();
      this.#now = next.at;
      next.fn();
    }
    this.#now = target;
  }
  pending(): number {
    return this.#timers.length;
  }
}

/** Clock sleep that returns at once when the signal is already aborted and leaves no listener behind on a
 * long-lived signal (each sleep gets its own short-lived child signal). */
export async function sleepFor(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  if (!signal) return clock.sleep(ms);
  const link = linkAbort(signal);
  try {
    await clock.sleep(ms, link.signal);
  } finally {
    link.unlink();
  }
}
