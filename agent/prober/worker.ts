// One probe worker per (pod, container, probe type), as upstream prober/worker.go: probe at start and
// then every periodSeconds; skip during initialDelaySeconds (counted from the container's start);
// liveness/readiness wait for the startup probe; a result only lands in the cache after
// successThreshold / failureThreshold consecutive equal results; after a liveness/startup failure the
// worker holds until the container is replaced (the manager then starts a new worker).
// Lifecycle: start(signal) publishes the initial result and schedules the first probe; stop() (or the
// signal) ends probing and resolves once a probe in flight has finished.
import type { Container, Pod, Probe } from '../../kube/api.js';
import type { Clock, Timer } from '../../lib/clock.js';
import { linkAbort, type Lifecycle } from '../../lib/lifecycle.js';
import type { ProbeOutcome, ProbeRunner } from './probe.js';
import type { ProbeResult, ProbeType, ResultsCache } from './results.js';

export interface ProbeTiming {
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

/** API defaults and minimums (successThreshold is always 1 for liveness and startup). */
export function probeTiming(p: Probe, type: ProbeType): ProbeTiming {
  const atLeast = (v: number | undefined, def: number, min: number) => (v === undefined || !Number.isFinite(v) ? def : Math.max(min, Math.trunc(v)));
  return {
    initialDelaySeconds: atLeast(p.initialDelaySeconds, 0, 0),
    periodSeconds: atLeast(p.periodSeconds, 10, 1),
    timeoutSeconds: atLeast(p.timeoutSeconds, 1, 1),
    successThreshold: type === 'readiness' ? atLeast(p.successThreshold, 1, 1) : 1,
    failureThreshold: atLeast(p.failureThreshold, 3, 1),
  };
}

/** The result a worker publishes before its first probe (upstream worker.initialValue). */
export const INITIAL_RESULT: Record<ProbeType, ProbeResult> = { readiness: 'failure', liveness: 'success', startup: 'unknown' };

export interface WorkerTarget {
  pod: Pod;
  container: Container;
  containerId: string;
  podIP?: string;
  startedAtMs: number;
}

export interface WorkerContext {
  clock: Clock;
  runner: ProbeRunner;
  results: ResultsCache;
  /** Whether this worker's container counts as started (startup probe passed, or none). */
  isStarted(): boolean;
  /** Every completed probe (events and metrics). */
  report(worker: ProbeWorker, outcome: ProbeOutcome): void;
  onError(worker: ProbeWorker, err: unknown): void;
}

export class ProbeWorker implements Lifecycle {
  readonly type: ProbeType;
  readonly probe: Probe;
  readonly timing: ProbeTiming;
  #target: WorkerTarget;
  readonly #ctx: WorkerContext;
  #timer: Timer | undefined;
  #inflight: Promise<void> | undefined;
  #unlink: (() => void) | undefined;
  #running = false;
  #stopped = false;
  #triggered = false;
  #onHold = false;
  #lastResult: ProbeResult | undefined;
  #resultRun = 0;

  constructor(ctx: WorkerContext, type: ProbeType, probe: Probe, target: WorkerTarget) {
    this.#ctx = ctx;
    this.type = type;
    this.probe = probe;
    this.timing = probeTiming(probe, type);
    this.#target = target;
  }

  get target(): WorkerTarget {
    return this.#target;
  }

  get podUid(): string {
    return this.#target.pod.metadata.uid ?? '';
  }

  get containerId(): string {
    return this.#target.containerId;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * Publishes the initial result (synchronously, before the returned promise settles) and schedules
   * the first probe now; the signal's abort stops the worker.
   */
  async start(signal: AbortSignal): Promise<void> {
    if (this.#stopped || this.#unlink) return;
    this.#unlink = linkAbort(signal, () => void this.stop()).unlink;
    if (this.#stopped) return;
    this.#ctx.results.set(this.podUid, this.containerId, this.type, INITIAL_RESULT[this.type]);
    this.#schedule(0);
  }

  /** Newer pod object / pod IP for the same container. */
  update(pod: Pod, container: Container, podIP: string | undefined): void {
    this.#target = { ...this.#target, pod, container, podIP };
  }

  /** Probe as soon as possible (e.g. readiness right after the startup probe passed). */
  trigger(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#triggered = true;
      return;
    }
    this.#timer?.cancel();
    this.#schedule(0);
  }

  /**
   * Stops probing and forgets this container's result (synchronously), then resolves once a probe in
   * flight has finished. Safe to call twice.
   */
  async stop(): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = true;
      this.#unlink?.();
      this.#timer?.cancel();
      this.#timer = undefined;
      this.#ctx.results.remove(this.podUid, this.containerId, this.type);
    }
    await this.#inflight;
  }

  #schedule(ms: number): void {
    this.#timer = this.#ctx.clock.setTimeout(() => {
      const p = this.#tick();
      this.#inflight = p;
      void p.finally(() => { if (this.#inflight === p) this.#inflight = undefined; });
    }, ms);
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    this.#timer = undefined;
    const startedAt = this.#ctx.clock.now();
    this.#running = true;
    try {
      await this.#doProbe();
    } catch (err) {
      this.#ctx.onError(this, err);
    } finally {
      this.#running = false;
    }
    if (this.#stopped) return;
    if (this.#triggered) {
      this.#triggered = false;
      this.#schedule(0);
      return;
    }
    this.#schedule(Math.max(0, startedAt + this.timing.periodSeconds * 1000 - this.#ctx.clock.now()));
  }

  async #doProbe(): Promise<void> {
    if (this.#onHold) return;
    const t = this.#target;
    if (Math.trunc((this.#ctx.clock.now() - t.startedAtMs) / 1000) < this.timing.initialDelaySeconds) return;
    const started = this.#ctx.isStarted();
    if (this.type === 'startup' ? started : !started) return;

    const outcome = await this.#ctx.runner.run(this.probe, t, this.timing.timeoutSeconds * 1000);
    if (this.#stopped) return; // the container went away while we probed
    this.#ctx.report(this, outcome);
    if (outcome.result === 'unknown') return; // prober error: throw the result away

    const result = outcome.result;
    if (this.#lastResult === result) this.#resultRun++;
    else {
      this.#lastResult = result;
      this.#resultRun = 1;
    }
    if ((result === 'failure' && this.#resultRun < this.timing.failureThreshold)
      || (result === 'success' && this.#resultRun < this.timing.successThreshold)) return;

    this.#ctx.results.set(this.podUid, this.containerId, this.type, result);
    if (result === 'failure' && this.type !== 'readiness') {
      // The container will be restarted: hold until a new container replaces this one.
      this.#onHold = true;
      this.#resultRun = 0;
    }
  }
}
