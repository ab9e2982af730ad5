// An in-memory Informer for tests and for driving the proxy from plain objects.
import type { KubeObject } from '../../kube/api.js';
import { objectKey, type Informer, type InformerEventHandler } from '../../kube/types.js';

export class FakeInformer<T extends KubeObject> implements Informer<T> {
  #store = new Map<string, T>();
  #handlers = new Set<InformerEventHandler<T>>();
  #synced: boolean;

  constructor(initial: T[] = [], opts: { synced?: boolean } = {}) {
    for (const o of initial) this.#store.set(objectKey(o), o);
    this.#synced = opts.synced ?? true;
  }

  on(handlers: InformerEventHandler<T>): () => void {
    this.#handlers.add(handlers);
    return () => { this.#handlers.delete(handlers); };
  }

  async start(): Promise<void> {
    this.#synced = true;
  }

  async stop(): Promise<void> {}

  hasSynced(): boolean {
    return this.#synced;
  }

  get(key: string): T | undefined {
    return this.#store.get(key);
  }

  list(): T[] {
    return [...this.#store.values()];
  }

  lastResourceVersion(): string | undefined {
    return undefined;
  }

  /** Adds or updates an object and notifies handlers. */
  upsert(o: T): void {
    const k = objectKey(o);
    const old = this.#store.get(k);
    this.#store.set(k, o);
    for (const h of this.#handlers) {
      if (old) h.update?.(old, o);
      else h.add?.(o);
    }
  }

  remove(key: string): void {
    const old = this.#store.get(key);
    if (!old) return;
    this.#store.delete(key);
    for (const h of this.#handlers) h.delete?.(old);
  }
}
