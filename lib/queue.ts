// A keyed, de-duplicating work queue (client-go workqueue / Virtual Kubelet queue semantics):
// - a key waiting in the queue is held once, however often it is added;
// - a key added while being processed is marked dirty and processed again afterwards;
// - a handler that throws is retried with per-key exponential back-off;
// - at most `workers` keys are processed at once, and never the same key twice at once.
// Lifecycle: start(signal) begins processing; stop() (or the signal) ends it and waits for the keys
// being processed.
import { Backoff } from './backoff.js';
import type { Clock, Timer } from './clock.js';
import { systemClock } from './clock.js';
import { linkAbort, type Lifecycle } from './lifecycle.js';

export type Handler = (key: string, signal: AbortSignal) => Promise<void>;

export interface QueueOptions {
  workers: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  clock?: Clock;
  onError?: (key: string, err: unknown, retryInMs: number) => void;
}

export class KeyedQueue implements Lifecycle {
  readonly #handler: Handler;
  readonly #opts: Required<Omit<QueueOptions, 'onError'>> & Pick<QueueOptions, 'onError'>;
  readonly #backoff: Backoff;
  readonly #waiting: string[] = [];
  readonly #queued = new Set<string>();
  readonly #active = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #delayed = new Map<string, { at: number; timer: Timer }>();
  readonly #inflight = new Set<Promise<void>>();
  #running = 0;
  #signal: AbortSignal | undefined;
  #unlink: (() => void) | undefined;
  #controller: AbortController | undefined;
  #idleWaiters: (() => void)[] = [];

  constructor(handler: Handler, opts: QueueOptions) {
    this.#handler = handler;
    this.#opts = {
      workers: opts.workers,
      retryInitialMs: opts.retryInitialMs ?? 500,
      retryMaxMs: opts.retryMaxMs ?? 60_000,
      clock: opts.clock ?? systemClock,
      onError: opts.onError,
    };
    this.#backoff = new Backoff(
      { initialMs: this.#opts.retryInitialMs, maxMs: this.#opts.retryMaxMs, resetAfterMs: 10 * 60_000 },
      this.#opts.clock,
    );
  }

  /** Starts processing; processing ends when the signal aborts or stop() is called. */
  async start(signal: AbortSignal): Promise<void> {
    if (this.#signal) return;
    const link = linkAbort(signal);
    this.#controller = link.controller;
    this.#unlink = link.unlink;
    this.#signal = link.signal;
    link.signal.addEventListener('abort', () => {
      for (const d of this.#delayed.values()) d.timer.cancel();
      this.#delayed.clear();
      this.#notifyIdle();
    }, { once: true });
    this.#pump();
  }

  /** Ends processing (delayed keys are dropped) and waits for the keys being processed. Safe to call twice. */
  async stop(): Promise<void> {
    this.#unlink?.();
    this.#controller?.abort();
    await Promise.all([...this.#inflight]);
  }

  add(key: string): void {
    if (this.#active.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#waiting.push(key);
    this.#pump();
  }

  /** Adds key after delayMs; an earlier pending delay for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (delayMs <= 0) return this.add(key);
    const at = this.#opts.clock.now() + delayMs;
    const prev = this.#delayed.get(key);
    if (prev && prev.at <= at) return;
    prev?.timer.cancel();
    const timer = this.#opts.clock.setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, delayMs);
    this.#delayed.set(key, { at, timer });
  }

  /** Clears retry back-off for key (after a success the queue does this itself). */
  forget(key: string): void {
    this.#backoff.reset(key);
  }

  get length(): number {
    return this.#waiting.length;
  }

  /** Resolves when nothing is queued, active or delayed (tests, shutdown). */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  #isIdle(): boolean {
    return this.#waiting.length === 0 && this.#running === 0 && this.#delayed.size === 0;
  }

  #notifyIdle(): void {
    if (!this.#isIdle() && !this.#signal?.aborted) return;
    const ws = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of ws) w();
  }

  #pump(): void {
    const signal = this.#signal;
    if (!signal || signal.aborted) return;
    while (this.#running < this.#opts.workers && this.#waiting.length > 0) {
      const key = this.#waiting.shift()!;
      this.#queued.delete(key);
      this.#active.add(key);
      this.#running++;
      const p = this.#process(key, signal);
      this.#inflight.add(p);
      void p.finally(() => this.#inflight.delete(p));
    }
  }

  async #process(key: string, signal: AbortSignal): Promise<void> {
    try {
      await this.#handler(key, signal);
      this.#backoff.reset(key);
    } catch (err) {
      if (!signal.aborted) {
        const delay = this.#backoff.next(key);
        this.#opts.onError?.(key, err, delay);
        this.addAfter(key, delay);
      }
    } finally {
      this.#active.delete(key);
      this.#running--;
      if (this.#dirty.delete(key)) this.add(key);
      this.#pump();
      this.#notifyIdle();
    }
  }
}
