// The single pod-status writer, as the kubelet's status_manager: callers set() the status they computed;
// one loop writes it. Versioned per pod and coalesced (many sets → one write). Every write is a two-way
// patch from the API server's copy of the pod (the informer's, or the answer to our last write), so lists
// shrink and change; a write equal to the server's copy is skipped; a 409/422 re-reads the pod and
// recomputes. A periodic reconcile (needsReconcile) rewrites a status that someone else changed on the
// server (the node lifecycle controller's Ready=False after an outage) while the kubelet's view holds.
// The API server going away is noticed (a failed call, or an idle probe each period); once it answers
// again every pod is re-read at once, rather than waiting for the informer's reconnect back-off.
import type { Pod, PodStatus } from '../../kube/api.js';
import { isConflict, isNotFound } from '../../kube/errors.js';
import type { KubeClient } from '../../kube/types.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import type { Lifecycle } from '../../lib/lifecycle.js';
import { partLogger, type Logger } from '../../lib/log.js';
import { podStatusEqual } from './compute.js';
import { isOutage, laterRV } from './api-copy.js';
import { isTerminal, normalizeStatus, podStatusPatch } from './patch.js';

interface Entry {
  namespace: string;
  /** The API object's name (for static pods: the mirror pod's name). */
  name: string;
  /** The API object's uid (for static pods: the mirror pod's). */
  uid: string;
  isStatic: boolean;
  version: number;
  /** What the kubelet believes (normalized). */
  status: PodStatus;
  sentVersion: number;
  /** The freshest copy of the API object known: from the informer, a live GET, or a write's answer. */
  server?: Pod;
  /** resourceVersion of the answer to our last write (a later server copy means someone else wrote). */
  writtenRV?: string;
  /** Static pods write to their mirror pod, which may not exist yet (see setTarget). */
  awaitingTarget: boolean;
  /** A retry timer is pending for this pod. */
  retrying: boolean;
  /** Failed syncs in a row (retry back-off). */
  failures: number;
  waiters: { version: number; resolve: () => void }[];
}

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
}

export class StatusManager implements Lifecycle {
  readonly #client: KubeClient | undefined;
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
  /** Clock time of the last call the API server answered. */
  #lastAnswer = 0;
  #outage = false;
  #recovering = false;
  #probeNext = 0;
  writes = 0;
  skipped = 0;
  /** Writes refused (409/422) and redone from a fresh read. */
  conflicts = 0;
  /** Writes made because the server's copy had drifted from the kubelet's view. */
  reconciled = 0;

  constructor(opts: StatusManagerOptions = {}) {
    this.#client = opts.client;
    this.#log = partLogger(opts.log, 'status-manager');
    this.#clock = opts.clock ?? systemClock;
    this.#resyncMs = opts.resyncMs ?? 10_000;
    this.#concurrency = opts.concurrency ?? 4;
    this.#maxAttempts = opts.maxAttempts ?? 3;
    this.#retryMs = opts.retryMs ?? 1000;
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
    const isStatic = pod.metadata.annotations?.['kubernetes.io/config.source'] === 'file';
    if (!e) {
      e = {
        namespace: pod.metadata.namespace ?? 'default', name: apiName ?? pod.metadata.name!, uid, isStatic, version: 0,
        status: {}, sentVersion: 0, awaitingTarget: isStatic, retrying: false, failures: 0, waiters: [],
      };
      this.#entries.set(uid, e);
      const target = this.#targets.get(uid);
      if (target) this.#retarget(e, target);
    }
    if (apiName) e.name = apiName;
    if (!isStatic) this.#see(e, pod);
    let next = normalizeStatus(status);
    // Terminal phases are final (updateStatusInternal: "attempted illegal phase transition").
    const before = e.version > 0 ? e.status.phase : e.server?.status?.phase;
    if (isTerminal(before) && next.phase !== before) {
      this.#log.warn({ pod: `${e.namespace}/${e.name}`, from: before, to: next.phase }, 'pod attempted an illegal phase transition; keeping the terminal phase');
      next = { ...next, phase: before };
    }
    if (e.version > 0 && podStatusEqual(e.status, next)) {
      this.skipped++;
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
      const hit = [...this.#entries].find(([, x]) => x.isStatic && x.uid === uid);
      if (!hit) return;
      [key, e] = hit;
    }
    this.#see(e, pod);
    if (this.#drifted(e)) this.#markDirty(key);
  }

  /** Retargets writes for a pod (static pods: once the mirror pod exists). */
  setTarget(uid: string, name: string, apiUid: string): void {
    this.#targets.set(uid, { name, uid: apiUid });
    const e = this.#entries.get(uid);
    if (!e || (e.name === name && e.uid === apiUid && !e.awaitingTarget)) return;
    this.#retarget(e, { name, uid: apiUid });
    this.#markDirty(uid);
  }

  /** Resolves once the status set so far for uid has been written (or the manager stops). */
  flushed(uid: string): Promise<void> {
    const e = this.#entries.get(uid);
    if (!e || !this.#client || e.awaitingTarget || e.sentVersion >= e.version || this.#abort.signal.aborted) return Promise.resolve();
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
    this.#dirty.delete(uid);
  }

  #retarget(e: Entry, t: { name: string; uid: string }): void {
    e.name = t.name;
    e.uid = t.uid;
    e.awaitingTarget = false;
    e.sentVersion = 0;
    e.server = undefined;
    e.writtenRV = undefined;
  }

  /** Takes pod as the server's copy when it is this entry's object and not older than the one held. */
  #see(e: Entry, pod: Pod): void {
    if (pod.metadata.uid !== e.uid) return;
    if (e.server && !laterRV(e.server.metadata.resourceVersion, pod.metadata.resourceVersion)) return;
    e.server = pod;
  }

  /**
   * upstream needsReconcile: the server's copy was written by someone else since our last write and no
   * longer says what the kubelet says.
   */
  #drifted(e: Entry): boolean {
    if (!this.#client || e.awaitingTarget || !e.server || e.version === 0 || e.sentVersion < e.version) return false;
    if (e.writtenRV !== undefined && e.server.metadata.resourceVersion === e.writtenRV) return false;
    return podStatusPatch(e.uid, e.server.status, e.status) !== undefined;
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

  /** The API server answered (any HTTP status but 5xx/429). */
  #answered(): void {
    this.#lastAnswer = this.#clock.now();
    if (!this.#outage) return;
    this.#outage = false;
    this.#recovering = true;
    this.#log.info('API server reachable again; re-reading every pod\'s status');
  }

  #failed(err: unknown): void {
    if (!isOutage(err)) return this.#answered();
    if (!this.#outage) this.#log.info({ err }, 'API server unreachable; pod statuses will be re-read when it answers');
    this.#outage = true;
  }

  /** After an outage: a live read of every API pod; when idle for a period: one read to notice an outage. */
  async #checkServer(): Promise<void> {
    if (!this.#client) return;
    const apiPods = [...this.#entries.values()].filter((e) => !e.isStatic && !e.awaitingTarget);
    if (this.#recovering) {
      this.#recovering = false;
      for (let i = 0; i < apiPods.length && !this.#outage; i += this.#concurrency) {
        await Promise.all(apiPods.slice(i, i + this.#concurrency).map(async (e) => {
          const fresh = await this.#read(e).catch(() => undefined);
          if (fresh) this.#see(e, fresh);
        }));
      }
      if (this.#outage) this.#recovering = false; // gone again: the next answer starts over
      return;
    }
    if (this.#clock.now() - this.#lastAnswer < this.#resyncMs || apiPods.length === 0) return;
    const e = apiPods[this.#probeNext++ % apiPods.length]!;
    const fresh = await this.#read(e).catch(() => undefined);
    if (fresh) this.#see(e, fresh);
    if (this.#recovering) await this.#checkServer();
  }

  /** The periodic pass: unsent versions, drifted server copies; mirror pods (no informer) are re-read. */
  async #resync(): Promise<void> {
    await this.#checkServer();
    for (const [uid, e] of this.#entries) {
      if (e.sentVersion < e.version) this.#dirty.add(uid);
      else if (e.isStatic && !e.awaitingTarget && this.#client) {
        const fresh = await this.#read(e).catch(() => undefined);
        if (fresh) this.#see(e, fresh);
        if (this.#drifted(e)) this.#dirty.add(uid);
      } else if (this.#drifted(e)) this.#dirty.add(uid);
    }
  }

  #path(e: Entry): string {
    return `/api/v1/namespaces/${e.namespace}/pods/${e.name}`;
  }

  async #read(e: Entry): Promise<Pod | undefined> {
    try {
      const pod = await this.#client!.get<Pod>(this.#path(e), { timeoutMs: 10_000 });
      this.#answered();
      return pod;
    } catch (err) {
      this.#failed(err);
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async #sync(uid: string): Promise<void> {
    const e = this.#entries.get(uid);
    if (!e) return;
    const version = e.version;
    if (!this.#client || e.awaitingTarget) {
      e.sentVersion = version;
      this.#resolveWaiters(e);
      return;
    }
    const pod = `${e.namespace}/${e.name}`;
    try {
      const done = await this.#write(e, pod);
      if (done) {
        e.sentVersion = Math.max(e.sentVersion, version);
        e.failures = 0;
      } else this.#retryLater(uid, e);
    } catch (err) {
      this.#log.warn({ pod, err }, 'pod status write failed; will retry');
      this.#retryLater(uid, e);
    }
    this.#resolveWaiters(e);
  }

  /** One write, re-reading and recomputing after a refusal; true when the server holds the status (or the pod is gone). */
  async #write(e: Entry, pod: string): Promise<boolean> {
    const drift = e.sentVersion >= e.version;
    for (let attempt = 0; attempt < this.#maxAttempts; attempt++) {
      if (!e.server || e.server.metadata.uid !== e.uid) {
        const fresh = await this.#read(e);
        if (!fresh) {
          this.#log.debug({ pod }, 'pod is gone; status not written');
          return true;
        }
        if (fresh.metadata.uid !== e.uid) {
          this.#log.debug({ pod, uid: e.uid, now: fresh.metadata.uid }, 'pod was deleted and recreated; status not written');
          return true;
        }
        e.server = fresh;
      }
      const patch = podStatusPatch(e.uid, e.server.status, e.status);
      if (!patch) {
        this.skipped++;
        return true;
      }
      try {
        const updated = await this.#client!.patch<Pod>(`${this.#path(e)}/status`, patch.body, 'strategic', { timeoutMs: 15_000 });
        this.#answered();
        this.writes++;
        if (drift) this.reconciled++;
        e.server = updated;
        e.writtenRV = updated.metadata.resourceVersion;
        return true;
      } catch (err) {
        this.#failed(err);
        if (isNotFound(err)) {
          this.#log.debug({ pod }, 'pod is gone; status not written');
          return true;
        }
        const code = (err as { details?: { status?: number } }).details?.status;
        if (!isConflict(err) && code !== 422) throw err;
        this.conflicts++;
        this.#log.info({ pod, code, err }, 'pod status write refused; re-reading the pod and recomputing');
        e.server = undefined; // re-read on the next attempt
      }
    }
    this.#log.warn({ pod, attempts: this.#maxAttempts }, 'pod status write still refused; will retry');
    return false;
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

  #resolveWaiters(e: Entry): void {
    e.waiters = e.waiters.filter((w) => {
      if (w.version <= e.sentVersion) w.resolve();
      return w.version > e.sentVersion;
    });
  }
}
