// The bench's own view of pods: an admin informer (list + WebSocket watch) on one namespace that
// stamps, per pod UID, the client-side time of the first event showing each milestone.
import type { Pod } from '../../kube/api.js';
import { createInformer, type DockerletInformer } from '../../kube/informer.js';
import type { KubeClient } from '../../kube/types.js';
import { silentLogger } from '../../lib/log.js';

export interface PodTimes {
  uid: string;
  name: string;
  labels: Record<string, string>;
  /** creationTimestamp (second precision), ms since epoch. */
  createdServerMs: number;
  firstSeenMs: number;
  scheduledSeenMs?: number;
  runningSeenMs?: number;
  deletedSeenMs?: number;
  restarts: number;
}

/** Phase Running and every app container running (started). */
export function allStarted(p: Pod): boolean {
  const st = p.status;
  if (st?.phase !== 'Running') return false;
  const cs = st.containerStatuses ?? [];
  if (cs.length !== p.spec.containers.length) return false;
  return cs.every((c) => c.state?.running !== undefined && c.started !== false);
}

interface Waiter {
  check(): boolean;
  resolve(): void;
}

export class PodWatch {
  readonly #inf: DockerletInformer<Pod>;
  readonly #times = new Map<string, PodTimes>();
  #waiters: Waiter[] = [];
  #abort = new AbortController();

  constructor(client: KubeClient, namespace: string) {
    this.#inf = createInformer<Pod>(client, { path: `/api/v1/namespaces/${namespace}/pods` }, { log: silentLogger() });
  }

  async start(): Promise<void> {
    this.#inf.on({ add: (p) => this.#see(p), update: (_o, n) => this.#see(n), delete: (p) => this.#see(p, true) });
    await this.#inf.start(this.#abort.signal);
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#inf.stop();
  }

  times(uid: string): PodTimes | undefined {
    return this.#times.get(uid);
  }

  all(): PodTimes[] {
    return [...this.#times.values()];
  }

  pods(): Pod[] {
    return this.#inf.list();
  }

  #see(p: Pod, deleted = false): void {
    const now = Date.now();
    const uid = p.metadata.uid;
    if (!uid) return;
    let t = this.#times.get(uid);
    if (!t) {
      t = {
        uid, name: p.metadata.name ?? '', labels: { ...(p.metadata.labels ?? {}) },
        createdServerMs: Date.parse(p.metadata.creationTimestamp ?? '') || NaN, firstSeenMs: now, restarts: 0,
      };
      this.#times.set(uid, t);
    }
    if (p.spec.nodeName && t.scheduledSeenMs === undefined) t.scheduledSeenMs = now;
    if (t.runningSeenMs === undefined && allStarted(p)) t.runningSeenMs = now;
    t.restarts = Math.max(t.restarts, ...(p.status?.containerStatuses ?? []).map((c) => c.restartCount ?? 0));
    if (deleted && t.deletedSeenMs === undefined) t.deletedSeenMs = now;
    this.#wake();
  }

  #wake(): void {
    if (this.#waiters.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.check()) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves once check() holds (re-checked after every watch event); rejects after timeoutMs. */
  until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((x) => x !== w);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.#waiters.push(w);
    });
  }

  running(uid: string): boolean {
    return this.#times.get(uid)?.runningSeenMs !== undefined;
  }

  deleted(uid: string): boolean {
    return this.#times.get(uid)?.deletedSeenMs !== undefined;
  }
}
