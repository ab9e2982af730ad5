// The single pod-status writer, as the kubelet's status_manager: callers set() the status they computed;
// one loop writes it. Versioned per pod and coalesced (many sets → one write). Every write is a two-way
// patch from the API server's copy of the pod (the informer's, or the answer to our last write), so lists
// shrink and change; a write equal to the server's copy is skipped; a 409/422 re-reads the pod and
// recomputes. A periodic reconcile (needsReconcile) rewrites a status that someone else changed on the
// server (the node lifecycle controller's Ready=False after an outage) while the kubelet's view holds.
// The API server going away is noticed (a failed call, or an idle probe each period); once it answers
// again every pod is re-read at once, rather than waiting for the informer's reconnect back-off.
// Parts: ./entry.ts (one pod's record, needsReconcile), ./writer.ts (reads, patches, outage tracking).
import type { Pod, PodStatus } from '../../kube/api.js';
import type { KubeClient } from '../../kube/types.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import type { Lifecycle } from '../../lib/lifecycle.js';
import { partLogger, type Logger } from '../../lib/log.js';
import { podStatusEqual } from './compute.js';
import { drifted, newEntry, resolveWaiters, retarget, see, type Entry } from './entry.js';
import { isTerminal, normalizeStatus } from './patch.js';
import { podStartTracker, type PodStartTracker } from './start-sli.js';
import { StatusWriter, type WriteCounters } from './writer.js';

export interface StatusManagerOptions {
  client?: KubeClient;
  log?: Logger;
  clock?: Clock;
  /** Reconcile period (upstream syncPeriod, 10 s). */
  resyncMs?: number;
  concurrency?: number;
  /** Writes per pod per sync before giving up until the next retry (409/422 → re-read → recompute). */
  maxAttempts?: number;
  retryMs?: number;
  /** The pod start SLI (kubelet_pod_start_sli_duration_seconds); the agent's tracker by default. */
  startTracker?: PodStartTracker;
}

export class StatusManager implements Lifecycle {
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #resyncMs: number;
  readonly #concurrency: number;
  readonly #maxAttempts: number;
  readonly #retryMs: number;
  readonly #entries = new Map<string, Entry>();
  readonly #dirty = new Set<string>();
  /** Targets named before the pod's first status (static pods whose mirror came first). */
  readonly #targets = new Map<string, { name: string; uid: string }>();
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #abort = new AbortController();
  readonly #counters: WriteCounters = { writes: 0, skipped: 0, conflicts: 0, reconciled: 0 };
  /** The API side (reads, patches, outage tracking); absent without a client (static pods only). */
  readonly #writer: StatusWriter | undefined;
  #probeNext = 0;
  readonly #startTracker: PodStartTracker;

  constructor(opts: StatusManagerOptions = {}) {
    this.#log = partLogger(opts.log, 'status-manager');
    this.#clock = opts.clock ?? systemClock;
    this.#resyncMs = opts.resyncMs ?? 10_000;
    this.#concurrency = opts.concurrency ?? 4;
    this.#maxAttempts = opts.maxAttempts ?? 3;
    this.#retryMs = opts.retryMs ?? 1000;
    this.#startTracker = opts.startTracker ?? podStartTracker;
    this.#writer = opts.client ? new StatusWriter(opts.client, this.#log, this.#clock, this.#maxAttempts, this.#counters) : undefined;
  }

  get writes(): number {
    return this.#counters.writes;
  }

  /** Statuses not written because nothing changed (set) or the server already held them (write). */
  get skipped(): number {
    return this.#counters.skipped;
  }

  /** Writes refused (409/422) and redone from a fresh read. */
  get conflicts(): number {
    return this.#counters.conflicts;
  }

  /** Writes made because the server's copy had drifted from the kubelet's view. */
  get reconciled(): number {
    return this.#counters.reconciled;
  }

  async start(signal: AbortSignal): Promise<void> {
    signal.addEventListener('abort', () => this.#abort.abort(), { once: true });
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    this.#wake?.();
    await this.#loop;
  }

  /** The latest status set for a pod (what the agent believes), if any. */
  get(uid: string): PodStatus | undefined {
    return this.#entries.get(uid)?.status;
  }

  /** Pods with a status (memory bound checks). */
  size(): number {
    return this.#entries.size;
  }

  /**
   * Records the status computed for pod; returns false when nothing changed. For API pods `pod` is the
   * informer's copy, so it also refreshes the server's view (and a drifted server status is rewritten).
   */
  set(pod: Pod, status: PodStatus, apiName?: string): boolean {
    const uid = pod.metadata.uid!;
    let e = this.#entries.get(uid);
    if (!e) {
      e = newEntry(pod, apiName);
      this.#entries.set(uid, e);
      const target = this.#targets.get(uid);
      if (target) retarget(e, target);
    }
    if (apiName) e.name = apiName;
    if (!e.isStatic) see(e, pod);
    this.#startTracker.observe(pod, status, this.#clock.now());
    let next = normalizeStatus(status);
    // Terminal phases are final (updateStatusInternal: "attempted illegal phase transition").
    const before = e.version > 0 ? e.status.phase : e.server?.status?.phase;
    if (isTerminal(before) && next.phase !== before) {
      this.#log.warn({ pod: `${e.namespace}/${e.name}`, from: before, to: next.phase }, 'pod attempted an illegal phase transition; keeping the terminal phase');
      next = { ...next, phase: before };
    }
    if (e.version > 0 && podStatusEqual(e.status, next)) {
      this.#counters.skipped++;
      if (this.#drifted(e)) this.#markDirty(uid);
      return false;
    }
    e.version++;
    e.status = next;
    this.#markDirty(uid);
    return true;
  }

  /** An API server copy of a pod (informer add/update, mirror pod lookups). */
  observe(pod: Pod): void {
    const uid = pod.metadata.uid;
    if (!uid) return;
    let key = uid;
    let e = this.#entries.get(uid);
    if (!e || e.uid !== uid) {
      // A mirror pod: its static pod's entry was retargeted to it (only targeted entries change uid),
      // so the targets are searched, not every entry (this runs for each new pod's first events).
      let hit: [string, Entry] | undefined;
      for (const [k, t] of this.#targets) {
        const x: Entry | undefined = t.uid === uid ? this.#entries.get(k) : undefined;
        if (x && x.isStatic && x.uid === uid) {
          hit = [k, x];
          break;
        }
      }
      if (!hit) return;
      [key, e] = hit;
    }
    see(e, pod);
    if (this.#drifted(e)) this.#markDirty(key);
  }

  /** Retargets writes for a pod (static pods: once the mirror pod exists). */
  setTarget(uid: string, name: string, apiUid: string): void {
    this.#targets.set(uid, { name, uid: apiUid });
    const e = this.#entries.get(uid);
    if (!e || (e.name === name && e.uid === apiUid && !e.awaitingTarget)) return;
    retarget(e, { name, uid: apiUid });
    this.#markDirty(uid);
  }

  /** Resolves once the status set so far for uid has been written (or the manager stops). */
  flushed(uid: string): Promise<void> {
    const e = this.#entries.get(uid);
    if (!e || !this.#writer || e.awaitingTarget || e.sentVersion >= e.version || this.#abort.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      e.waiters.push({ version: e.version, resolve });
      this.#markDirty(uid);
    });
  }

  remove(uid: string): void {
    const e = this.#entries.get(uid);
    for (const w of e?.waiters ?? []) w.resolve();
    this.#entries.delete(uid);
    this.#targets.delete(uid);
    this.#startTracker.forget(uid);
    this.#dirty.delete(uid);
  }

  #drifted(e: Entry): boolean {
    return drifted(e, this.#writer !== undefined);
  }

  #markDirty(uid: string): void {
    this.#dirty.add(uid);
    this.#wake?.();
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let lastResync = this.#clock.now();
    while (!signal.aborted) {
      if (this.#dirty.size === 0) {
        await new Promise<void>((resolve) => {
          const t = this.#clock.setTimeout(done, this.#resyncMs);
          this.#wake = done;
          signal.addEventListener('abort', done, { once: true });
          function done() {
            t.cancel();
            signal.removeEventListener('abort', done);
            resolve();
          }
        });
        this.#wake = undefined;
      }
      if (signal.aborted) break;
      if (this.#clock.now() - lastResync >= this.#resyncMs) {
        lastResync = this.#clock.now();
        await this.#resync();
      }
      const batch = [...this.#dirty];
      this.#dirty.clear();
      for (let i = 0; i < batch.length && !signal.aborted; i += this.#concurrency) {
        await Promise.all(batch.slice(i, i + this.#concurrency).map((uid) => this.#sync(uid)));
      }
    }
    for (const e of this.#entries.values()) for (const w of e.waiters) w.resolve();
  }

  /** After an outage: a live read of every API pod; when idle for a period: one read to notice an outage. */
  async #checkServer(): Promise<void> {
    const w = this.#writer;
    if (!w) return;
    const apiPods = [...this.#entries.values()].filter((e) => !e.isStatic && !e.awaitingTarget);
    if (w.recovering) {
      w.recovering = false;
      for (let i = 0; i < apiPods.length && !w.outage; i += this.#concurrency) {
        await Promise.all(apiPods.slice(i, i + this.#concurrency).map(async (e) => {
          const fresh = await w.read(e).catch(() => undefined);
          if (fresh) see(e, fresh);
        }));
      }
      if (w.outage) w.recovering = false; // gone again: the next answer starts over
      return;
    }
    if (this.#clock.now() - w.lastAnswer < this.#resyncMs || apiPods.length === 0) return;
    const e = apiPods[this.#probeNext++ % apiPods.length]!;
    const fresh = await w.read(e).catch(() => undefined);
    if (fresh) see(e, fresh);
    if (w.recovering) await this.#checkServer();
  }

  /** The periodic pass: unsent versions, drifted server copies; mirror pods (no informer) are re-read. */
  async #resync(): Promise<void> {
    await this.#checkServer();
    for (const [uid, e] of this.#entries) {
      if (e.sentVersion < e.version) this.#dirty.add(uid);
      else if (e.isStatic && !e.awaitingTarget && this.#writer) {
        const fresh = await this.#writer.read(e).catch(() => undefined);
        if (fresh) see(e, fresh);
        if (this.#drifted(e)) this.#dirty.add(uid);
      } else if (this.#drifted(e)) this.#dirty.add(uid);
    }
  }

  async #sync(uid: string): Promise<void> {
    const e = this.#entries.get(uid);
    if (!e) return;
    const version = e.version;
    if (!this.#writer || e.awaitingTarget) {
      e.sentVersion = version;
      resolveWaiters(e);
      return;
    }
    const pod = `${e.namespace}/${e.name}`;
    try {
      const done = await this.#writer.write(e, pod);
      if (done) {
        e.sentVersion = Math.max(e.sentVersion, version);
        e.failures = 0;
      } else this.#retryLater(uid, e);
    } catch (err) {
      this.#log.warn({ pod, err }, 'pod status write failed; will retry');
      this.#retryLater(uid, e);
    }
    resolveWaiters(e);
  }

  #retryLater(uid: string, e: Entry): void {
    if (e.retrying) return;
    e.retrying = true;
    const ms = Math.min(this.#retryMs * 2 ** e.failures, this.#resyncMs);
    e.failures = Math.min(e.failures + 1, 10);
    this.#clock.setTimeout(() => {
      e.retrying = false;
      if (this.#entries.get(uid) === e) this.#markDirty(uid);
    }, ms);
  }
}
