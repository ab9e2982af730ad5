// Exponential back-off per key, as the kubelet's flowcontrol.Backoff: initial, doubling, capped,
// reset after a stretch of clean running.
import type { Clock } from './clock.js';

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** An entry untouched this long starts again from initialMs. */
  resetAfterMs: number;
}

interface Entry {
  delayMs: number;
  lastUpdate: number;
}

export class Backoff {
  readonly #opts: BackoffOptions;
  readonly #clock: Clock;
  readonly #entries = new Map<string, Entry>();
  constructor(opts: BackoffOptions, clock: Clock) {
    this.#opts = Object.freeze({ ...opts });
    this.#clock = clock;
  }
  /** Records a failure for key and returns the delay before the next try. */
  next(key: string): number {
    const now = this.#clock.now();
    const e = this.#entries.get(key);
    let delayMs: number;
    if (!e || now - e.lastUpdate > this.#opts.resetAfterMs) delayMs = this.#opts.initialMs;
    else delayMs = Math.min(e.delayMs * 2, this.#opts.maxMs);
    this.#entries.set(key, { delayMs, lastUpdate: now });
    return delayMs;
  }
  /** The current delay for key (0 when none). */
  current(key: string): number {
    return this.#entries.get(key)?.delayMs ?? 0;
  }
  /**
   * True while key is still inside its back-off window measured from `since` (client-go
   * IsInBackOffSince): an entry last updated more than resetAfterMs before `since` has expired (the
   * container ran well that long), so it is not in back-off and its next() starts over.
   */
  inBackoff(key: string, since: number): boolean {
    const e = this.#entries.get(key);
    if (!e) return false;
    if (since - e.lastUpdate > this.#opts.resetAfterMs) return false;
    return this.#clock.now() < since + e.delayMs;
  }
  reset(key: string): void {
    this.#entries.delete(key);
  }
  /** Drops every entry whose key starts with prefix (a pod's containers when it goes). */
  forget(prefix: string): void {
    for (const k of [...this.#entries.keys()]) if (k.startsWith(prefix)) this.#entries.delete(k);
  }
  /** Entries held (for memory-bound checks). */
  size(): number {
    return this.#entries.size;
  }
  /** Drops entries idle for longer than resetAfterMs. */
  gc(): void {
    const now = this.#clock.now();
    for (const [k, e] of this.#entries) if (now - e.lastUpdate > this.#opts.resetAfterMs) this.#entries.delete(k);
  }
}

/** Full-jitter delay for reconnect loops: a random value in [base/2, base]. */
export function jittered(baseMs: number): number {
  return Math.round(baseMs / 2 + Math.random() * (baseMs / 2));
}
