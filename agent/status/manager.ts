// The single pod-status writer (kubelet status_manager): callers set() the status they computed;
// one loop writes it. Versioned per pod, coalesced (many sets → one write), unchanged writes skipped,
// and a periodic resync retries anything whose write failed.
import type { Pod, PodStatus } from '../../kube/api.js';
import type { KubeClient } from '../../kube/types.js';
import { errorMessage } from '../../lib/errors.js';
import { delay, type Lifecycle } from '../../lib/lifecycle.js';
import { component, type Logger } from '../../lib/log.js';
import { podStatusEqual } from './compute.js';

interface Entry {
  namespace: string;
  /** The API object's name (for static pods: the mirror pod's name). */
  name: string;
  uid: string;
  version: number;
  status: PodStatus;
  sentVersion: number;
  sent?: PodStatus;
  /** Static pods write to their mirror pod, which may not exist yet (see setTarget). */
  awaitingTarget: boolean;
  waiters: { version: number; resolve: () => void }[];
}

export interface StatusManagerOptions {
  client?: KubeClient;
  log?: Logger;
  resyncMs?: number;
  concurrency?: number;
}

export class StatusManager implements Lifecycle {
  readonly #client: KubeClient | undefined;
  readonly #log: Logger;
  readonly #resyncMs: number;
  readonly #concurrency: number;
  readonly #entries = new Map<string, Entry>();
  readonly #dirty = new Set<string>();
  /** Targets named before the pod's first status (static pods whose mirror came first). */
  readonly #targets = new Map<string, { name: string; uid: string }>();
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #abort = new AbortController();
  writes = 0;
  skipped = 0;

  constructor(opts: StatusManagerOptions = {}) {
    this.#client = opts.client;
    this.#log = opts.log ?? component('status-manager');
    this.#resyncMs = opts.resyncMs ?? 10_000;
    this.#concurrency = opts.concurrency ?? 4;
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

  /** Records the status computed for pod; returns false when nothing changed. */
  set(pod: Pod, status: PodStatus, apiName?: string): boolean {
    const uid = pod.metadata.uid!;
    const e = this.#entries.get(uid);
    if (e && podStatusEqual(e.status, status)) {
      this.skipped++;
      return false;
    }
    const isStatic = pod.metadata.annotations?.['kubernetes.io/config.source'] === 'file';
    const entry: Entry = e ?? { namespace: pod.metadata.namespace ?? 'default', name: apiName ?? pod.metadata.name!, uid, version: 0, status, sentVersion: 0, awaitingTarget: isStatic, waiters: [] };
    entry.version++;
    entry.status = status;
    if (apiName) entry.name = apiName;
    this.#entries.set(uid, entry);
    const target = this.#targets.get(uid);
    if (target && entry.awaitingTarget) {
      entry.name = target.name;
      entry.uid = target.uid;
      entry.awaitingTarget = false;
    }
    this.#markDirty(uid);
    return true;
  }

  /** Retargets writes for a pod (static pods: once the mirror pod exists). */
  setTarget(uid: string, name: string, apiUid: string): void {
    this.#targets.set(uid, { name, uid: apiUid });
    const e = this.#entries.get(uid);
    if (!e || (e.name === name && e.uid === apiUid && !e.awaitingTarget)) return;
    e.name = name;
    e.uid = apiUid;
    e.awaitingTarget = false;
    e.sentVersion = 0;
    e.sent = undefined;
    this.#markDirty(uid);
  }

  /** Resolves once the status set so far for uid has been written (or the manager stops). */
  flushed(uid: string): Promise<void> {
    const e = this.#entries.get(uid);
    if (!e || !this.#client || e.awaitingTarget || e.sentVersion >= e.version) return Promise.resolve();
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

  #markDirty(uid: string): void {
    this.#dirty.add(uid);
    this.#wake?.();
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let lastResync = Date.now();
    while (!signal.aborted) {
      if (this.#dirty.size === 0) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          void delay(this.#resyncMs, signal).then(resolve);
        });
        this.#wake = undefined;
      }
      if (signal.aborted) break;
      if (Date.now() - lastResync >= this.#resyncMs) {
        lastResync = Date.now();
        for (const [uid, e] of this.#entries) if (e.sentVersion < e.version) this.#dirty.add(uid);
      }
      const batch = [...this.#dirty];
      this.#dirty.clear();
      for (let i = 0; i < batch.length; i += this.#concurrency) {
        await Promise.all(batch.slice(i, i + this.#concurrency).map((uid) => this.#sync(uid)));
      }
    }
    for (const e of this.#entries.values()) for (const w of e.waiters) w.resolve();
  }

  async #sync(uid: string): Promise<void> {
    const e = this.#entries.get(uid);
    if (!e) return;
    const version = e.version;
    const status = e.status;
    if (!this.#client || e.awaitingTarget) {
      e.sentVersion = version;
    } else if (e.sent && podStatusEqual(e.sent, status) && e.sentVersion > 0) {
      e.sentVersion = version;
      this.skipped++;
    } else {
      try {
        const path = `/api/v1/namespaces/${e.namespace}/pods/${e.name}/status`;
        await this.#client.patch(path, { metadata: { uid: e.uid }, status }, 'strategic');
        this.writes++;
        e.sent = status;
        e.sentVersion = version;
      } catch (err) {
        const code = (err as { details?: { status?: number } }).details?.status;
        if (code === 404) {
          this.#log.debug({ pod: `${e.namespace}/${e.name}` }, 'pod is gone; status not written');
          e.sentVersion = version;
        } else if (code === 409 || code === 422) {
          this.#log.warn({ pod: `${e.namespace}/${e.name}`, err: errorMessage(err) }, 'pod status write refused');
          e.sentVersion = version; // replaced, or refused: retrying the same write cannot help
        } else {
          this.#log.warn({ pod: `${e.namespace}/${e.name}`, err: errorMessage(err) }, 'pod status write failed; will retry');
          setTimeout(() => this.#markDirty(uid), 1000).unref();
        }
      }
    }
    e.waiters = e.waiters.filter((w) => {
      if (w.version <= e.sentVersion) w.resolve();
      return w.version > e.sentVersion;
    });
  }
}
