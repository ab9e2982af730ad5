// The kubelet's cache-based configMap/secret manager (pkg/kubelet/util/manager/cache_based_manager.go,
// configMapAndSecretChangeDetectionStrategy: Cache): one GET of an object serves every pod that uses it.
// A pod being set up gets an object fetched after its set-up began (upstream invalidates the cached
// copy when a pod registers, so a new pod never sees data older than itself); the periodic refresh
// takes a copy fetched within the TTL. Concurrent asks share one request; errors are not kept; an
// object is dropped when the last pod using it is torn down.
import { systemClock, type Clock } from '../../lib/clock.js';

/** What copy an ask accepts: fetched (started) after the mark, and/or at most maxAgeMs old. */
export interface Freshness {
  afterMark?: number;
  maxAgeMs?: number;
}

interface Fetch {
  seq: number;
  /** Clock time the request started. */
  at: number;
}

interface Entry {
  value?: Fetch & { data: unknown };
  inflight?: Fetch & { promise: Promise<unknown> };
  users: Set<string>;
}

export class ObjectCache {
  readonly #clock: Clock;
  readonly #entries = new Map<string, Entry>();
  #seq = 0;
  /** Requests made (each a GET). */
  fetches = 0;

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  /** A mark for Freshness.afterMark: copies whose request starts after this call qualify. */
  mark(): number {
    return this.#seq;
  }

  /** The object under key for pod podUid: a qualifying cached or in-flight copy, else fetch() once. */
  get<T>(key: string, podUid: string, fresh: Freshness, fetch: () => Promise<T>): Promise<T> {
    let e = this.#entries.get(key);
    if (!e) {
      e = { users: new Set() };
      this.#entries.set(key, e);
    }
    e.users.add(podUid);
    const now = this.#clock.now();
    const ok = (f: Fetch) => f.seq > (fresh.afterMark ?? 0) && (fresh.maxAgeMs === undefined || now - f.at <= fresh.maxAgeMs);
    if (e.value && ok(e.value)) return Promise.resolve(e.value.data as T);
    if (e.inflight && ok(e.inflight)) return e.inflight.promise as Promise<T>;
    const entry = e;
    const f: Fetch = { seq: ++this.#seq, at: now };
    this.fetches++;
    const promise = fetch().then((data) => {
      if (!entry.value || entry.value.seq < f.seq) entry.value = { ...f, data };
      return data;
    }).finally(() => {
      if (entry.inflight?.seq === f.seq) entry.inflight = undefined;
    });
    entry.inflight = { ...f, promise };
    return promise;
  }

  /** The pod is gone: objects no other pod uses are dropped. */
  release(podUid: string): void {
    for (const [k, e] of this.#entries) {
      e.users.delete(podUid);
      if (e.users.size === 0) this.#entries.delete(k);
    }
  }

  /** Objects held (memory-bound checks). */
  size(): number {
    return this.#entries.size;
  }
}
