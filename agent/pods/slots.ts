// Adaptive concurrency for the Docker calls that start pods (create/start), so that Docker, not the agent,
// is the bottleneck without the agent queueing work inside dockerd. The kubelet has no such limiter (it
// relies on the CRI runtime); this follows TCP Vegas as Netflix's concurrency-limits VegasLimit applies it
// to RPCs: the no-load latency (per kind of call: a sandbox run, a create and a start differ tenfold) is the
// smallest one seen lately; each round (as many calls as the limit) estimates how many calls wait inside
// Docker from the mean of latency / no-load latency r: queue = limit × (1 − 1 / r); below alpha
// and with callers waiting the limit grows by one, above beta it shrinks by one, within [min, max].
// A free slot goes to the waiting call of the lowest priority number, in arrival order among equals: the
// worker ranks a pod's app containers before new sandboxes, so pods finish one after another (as the
// kubelet's per-pod workers run a pod's SyncPod to its end) instead of every sandbox first and every
// app container last, and Docker keeps serving a mix of network set-ups and plain starts.

export interface SlotsOptions {
  /** The highest limit (the config's runtimeParallelism). */
  max: number;
  /** The lowest limit; default 2. */
  min?: number;
  /** The starting limit; default min(max, 4). */
  initial?: number;
  /** Grow while fewer calls than this wait inside Docker; default 2. */
  alpha?: number;
  /** Shrink when more than this wait; default 4. */
  beta?: number;
  /** Monotonic milliseconds (default performance.now). */
  now?: () => number;
}

/**
 * The no-load latency is forgotten very slowly (+0.2 % per round) so that one fast outlier does not pin it
 * for ever; faster would let a long busy spell pass for no load (Vegas' baseline drift).
 */
const NO_LOAD_DRIFT = 1.002;

export class AdaptiveSlots {
  readonly #max: number;
  readonly #min: number;
  readonly #alpha: number;
  readonly #beta: number;
  readonly #now: () => number;
  #limit: number;
  #held = 0;
  readonly #waiters: { go: () => void; priority: number }[] = [];
  readonly #noLoadMs = new Map<string, number>();
  #roundCalls = 0;
  /** Sum over the round of latency / the kind's no-load latency. */
  #roundRatio = 0;
  /** Whether callers waited for a slot during the round (growing only helps then). */
  #roundStarved = false;

  constructor(opts: SlotsOptions) {
    if (!Number.isInteger(opts.max) || opts.max < 1) throw new RangeError(`slots max must be a positive integer, got ${opts.max}`);
    this.#max = opts.max;
    this.#min = Math.min(opts.min ?? 2, this.#max);
    this.#limit = Math.max(this.#min, Math.min(opts.initial ?? 4, this.#max));
    this.#alpha = opts.alpha ?? 2;
    this.#beta = opts.beta ?? 4;
    this.#now = opts.now ?? (() => performance.now());
  }

  get limit(): number {
    return this.#limit;
  }

  get inFlight(): number {
    return this.#held;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Runs fn within a slot; kind groups calls of like cost (their latencies are compared with each other);
   * a lower priority number is served first when callers wait.
   */
  async run<T>(fn: () => Promise<T>, kind = 'call', priority = 0): Promise<T> {
    if (this.#held >= this.#limit) {
      this.#roundStarved = true;
      await new Promise<void>((resolve) => this.#waiters.push({ go: resolve, priority }));
    } else this.#held++;
    const started = this.#now();
    let ok = false;
    try {
      const out = await fn();
      ok = true;
      return out;
    } finally {
      if (ok) this.#sample(kind, this.#now() - started);
      this.#release();
    }
  }

  #release(): void {
    // A lowered limit takes effect as calls finish: the slot passes on only while under it.
    if (this.#held <= this.#limit) {
      const next = this.#next();
      if (next) return next();
    }
    this.#held--;
    while (this.#held < this.#limit && this.#waiters.length) {
      this.#held++;
      this.#next()!();
    }
  }

  /** Takes the first waiter of the lowest priority number. */
  #next(): (() => void) | undefined {
    let best = -1;
    for (let i = 0; i < this.#waiters.length; i++) {
      if (best < 0 || this.#waiters[i]!.priority < this.#waiters[best]!.priority) best = i;
    }
    return best < 0 ? undefined : this.#waiters.splice(best, 1)[0]!.go;
  }

  #sample(kind: string, ms: number): void {
    const latency = Math.max(ms, 0.001);
    const noLoad = Math.min(this.#noLoadMs.get(kind) ?? Infinity, latency);
    this.#noLoadMs.set(kind, noLoad);
    this.#roundCalls++;
    this.#roundRatio += latency / noLoad;
    if (this.#roundCalls < this.#limit) return;
    const queue = this.#limit * (1 - this.#roundCalls / this.#roundRatio);
    if (queue < this.#alpha && this.#roundStarved) this.#limit = Math.min(this.#max, this.#limit + 1);
    else if (queue > this.#beta) this.#limit = Math.max(this.#min, this.#limit - 1);
    for (const [k, v] of this.#noLoadMs) this.#noLoadMs.set(k, v * NO_LOAD_DRIFT);
    this.#roundCalls = 0;
    this.#roundRatio = 0;
    this.#roundStarved = this.#waiters.length > 0;
    // A raised limit lets waiters in at once.
    while (this.#held < this.#limit && this.#waiters.length) {
      this.#held++;
      this.#next()!();
    }
  }
}
