// A small bounded TTL cache with single-flight loads, as client-go's webhook authn/authz caches
// (k8s.io/apiserver/pkg/authentication/token/cache, pkg/authorization/authorizerfactory): a result is
// kept for a TTL chosen per result (allowed vs denied), errors are never cached, and concurrent
// lookups of one key share one request.
import type { Clock } from '../../lib/clock.js';

export class TtlCache<V> {
  readonly #clock: Clock;
  readonly #max: number;
  readonly #entries = new Map<string, { value: V; expires: number }>();
  readonly #inflight = new Map<string, Promise<V>>();
  loads = 0;

  constructor(clock: Clock, max = 4096) {
    this.#clock = clock;
    this.#max = max;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The cached value for key, or load() once (shared by concurrent callers), kept for ttl(value) ms. */
  async get(key: string, load: () => Promise<V>, ttl: (v: V) => number): Promise<V> {
    const hit = this.#entries.get(key);
    if (hit && hit.expires > this.#clock.now()) return hit.value;
    if (hit) this.#entries.delete(key);
    const pending = this.#inflight.get(key);
    if (pending) return pending;
    this.loads++;
    const p = load().then((value) => {
      const ms = ttl(value);
      if (ms > 0) {
        if (this.#entries.size >= this.#max) {
          const oldest = this.#entries.keys().next();
          if (!oldest.done) this.#entries.delete(oldest.value);
        }
        this.#entries.set(key, { value, expires: this.#clock.now() + ms });
      }
      return value;
    }).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }

  clear(): void {
    this.#entries.clear();
  }
}
