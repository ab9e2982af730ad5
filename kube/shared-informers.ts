// One informer per (path + selectors) per process: the agent and the proxy ask the registry and
// get views onto the same list+watch. The underlying informer runs while at least one view is started.
import { linkAbort } from '../lib/lifecycle.js';
import { partLogger, type Logger } from '../lib/log.js';
import type { KubeObject } from './api.js';
import { createInformer, type DockerletInformer, type InformerDeps, type InformerStats } from './informer.js';
import type { Informer, InformerEventHandler, InformerOptions, KubeClient } from './types.js';

interface Entry {
  opts: InformerOptions;
  inf: DockerletInformer<KubeObject>;
  ctl: AbortController;
  users: number;
  sync?: Promise<void>;
}

/** The registry key of an informer: path plus both selectors. */
export function informerKey(opts: InformerOptions): string {
  return `${opts.path}?labelSelector=${opts.labelSelector ?? ''}&fieldSelector=${opts.fieldSelector ?? ''}`;
}

class View<T extends KubeObject> implements DockerletInformer<T> {
  #started = false;
  /** Handlers registered through this view → how to detach them (attached only while started). */
  readonly #regs = new Map<InformerEventHandler<T>, (() => void) | undefined>();
  #unlink: (() => void) | undefined;

  constructor(readonly registry: SharedInformers, readonly key: string, private entry: Entry) {}

  get #inf(): DockerletInformer<T> {
    return this.entry.inf as unknown as DockerletInformer<T>;
  }

  on(handlers: InformerEventHandler<T>): () => void {
    const h: InformerEventHandler<T> = { ...handlers };
    this.#regs.set(h, this.#started ? this.#inf.on(h) : undefined);
    return () => {
      this.#regs.get(h)?.();
      this.#regs.delete(h);
    };
  }

  start(signal: AbortSignal): Promise<void> {
    if (this.#started) return this.entry.sync ?? Promise.resolve();
    this.#started = true;
    // The shared informer may have been released (all users stopped) since this view was made.
    if (this.entry.ctl.signal.aborted) this.entry = this.registry.entry(this.entry.opts);
    this.entry.users++;
    for (const h of this.#regs.keys()) this.#regs.set(h, this.#inf.on(h));
    this.entry.sync ??= this.entry.inf.start(this.entry.ctl.signal);
    const sync = this.entry.sync;
    this.#unlink = linkAbort(signal, () => {
      this.stop().catch((err: unknown) => this.registry.log.warn({ err, informer: this.key }, 'informer view failed to stop'));
    }).unlink;
    return sync;
  }

  async stop(): Promise<void> {
    for (const off of this.#regs.values()) off?.();
    this.#regs.clear();
    if (!this.#started) return;
    this.#started = false;
    this.#unlink?.();
    this.entry.users--;
    if (this.entry.users <= 0) await this.registry.release(this.key, this.entry);
  }

  hasSynced(): boolean {
    return this.#inf.hasSynced();
  }

  get(key: string): T | undefined {
    return this.#inf.get(key);
  }

  list(): T[] {
    return this.#inf.list();
  }

  lastResourceVersion(): string | undefined {
    return this.#inf.lastResourceVersion();
  }

  stats(): Readonly<InformerStats> {
    return this.#inf.stats();
  }
}

/**
 * The per-process informer registry. `get(opts)` returns a view: start()/stop() count users of the
 * shared informer. Handlers registered through a view are attached while it is started (on start
 * they get the current store as adds); stop() drops them. Options other than path and selectors
 * (timeouts) are taken from the first caller.
 */
export class SharedInformers {
  readonly #entries = new Map<string, Entry>();
  readonly log: Logger;

  constructor(readonly client: KubeClient, readonly deps: InformerDeps = {}) {
    this.log = partLogger(deps.log, 'informer');
  }

  get<T extends KubeObject>(opts: InformerOptions): DockerletInformer<T> & Informer<T> {
    return new View<T>(this, informerKey(opts), this.entry(opts));
  }

  /** @internal The live entry for opts, created on demand. */
  entry(opts: InformerOptions): Entry {
    const key = informerKey(opts);
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = { opts, inf: createInformer<KubeObject>(this.client, opts, this.deps), ctl: new AbortController(), users: 0 };
      this.#entries.set(key, entry);
    }
    return entry;
  }

  /** Number of distinct informers held. */
  get size(): number {
    return this.#entries.size;
  }

  /** @internal Called by a view when the last user stops. */
  async release(key: string, entry: Entry): Promise<void> {
    if (this.#entries.get(key) === entry) this.#entries.delete(key);
    entry.ctl.abort();
    await entry.inf.stop();
  }

  /** Stops every informer (process shutdown). */
  async stopAll(): Promise<void> {
    const all = [...this.#entries.entries()];
    this.#entries.clear();
    await Promise.all(all.map(([, e]) => {
      e.ctl.abort();
      return e.inf.stop();
    }));
  }
}
