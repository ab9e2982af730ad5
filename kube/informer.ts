// list → watch → local store, as client-go's reflector: paged LIST, watch from the list's RV,
// resume from the last seen RV (bookmarks included) after any non-gone end, relist on 410 with a
// store diff, jittered exponential back-off on failures. Handlers run synchronously, in order.
import { Backoff, jittered } from '../lib/backoff.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { DockerletError, ErrorCodes } from '../lib/errors.js';
import { linkAbort } from '../lib/lifecycle.js';
import { partLogger, type Logger } from '../lib/log.js';
import type { KubeObject, List, WatchEvent } from './api.js';
import { isForbidden, isGone } from './errors.js';
import { diffStore } from './store.js';
import { objectKey, type Informer, type InformerEventHandler, type InformerOptions, type KubeClient, type WatchEnd } from './types.js';

export { SharedInformers } from './shared-informers.js';

export interface InformerDeps {
  clock?: Clock;
  log?: Logger;
  /** Random source in [0,1) for jitter and the watch timeout (tests pin it). */
  random?: () => number;
}

export interface InformerStats {
  lists: number;
  watches: number;
  /** Relists caused by 410 Gone. */
  relistsAfterGone: number;
  lastTransport?: WatchEnd['transport'];
  lastEnd?: WatchEnd['reason'];
}

export interface DockerletInformer<T extends KubeObject> extends Informer<T> {
  stats(): Readonly<InformerStats>;
}

const PAGE = 500;
const BACKOFF = { initialMs: 200, maxMs: 30_000, resetAfterMs: 120_000 };
const DEFAULT_SILENCE_MS = 150_000; // bookmarks come about every minute
const ESTABLISHED_MS = 5_000;

class InformerImpl<T extends KubeObject> implements DockerletInformer<T> {
  #store = new Map<string, T>();
  readonly #handlers = new Set<InformerEventHandler<T>>();
  #rv: string | undefined;
  #synced = false;
  #link: ReturnType<typeof linkAbort> | undefined;
  #loop: Promise<void> | undefined;
  #syncPromise: Promise<void> | undefined;
  readonly #stats: InformerStats = { lists: 0, watches: 0, relistsAfterGone: 0 };
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #random: () => number;
  readonly #backoff: Backoff;

  constructor(readonly client: KubeClient, readonly opts: InformerOptions, deps: InformerDeps) {
    this.#clock = deps.clock ?? systemClock;
    this.#log = partLogger(deps.log, 'informer', { path: opts.path, fieldSelector: opts.fieldSelector, labelSelector: opts.labelSelector });
    this.#random = deps.random ?? Math.random;
    this.#backoff = new Backoff(BACKOFF, this.#clock);
  }

  on(handlers: InformerEventHandler<T>): () => void {
    // Each registration gets its own wrapper so the same object can be registered twice.
    const h: InformerEventHandler<T> = { ...handlers };
    this.#handlers.add(h);
    if (this.#synced && h.add) for (const obj of this.#store.values()) this.#call(h, 'add', () => h.add?.(obj));
    return () => {
      this.#handlers.delete(h);
    };
  }

  start(signal: AbortSignal): Promise<void> {
    if (this.#syncPromise) return this.#syncPromise;
    const link = linkAbort(signal);
    this.#link = link;
    let resolveSync!: () => void;
    let rejectSync!: (e: Error) => void;
    this.#syncPromise = new Promise<void>((res, rej) => {
      resolveSync = res;
      rejectSync = rej;
    });
    this.#syncPromise.catch(() => undefined); // callers that never await start() must not crash the process
    this.#loop = this.#run(link.signal, resolveSync).then(
      () => rejectSync(new DockerletError(ErrorCodes.WATCH_FAILED, `informer ${this.#describe()} stopped before its first list`)),
      (err: unknown) => {
        this.#log.error({ err }, 'informer loop failed');
        rejectSync(err instanceof DockerletError ? err : new DockerletError(ErrorCodes.WATCH_FAILED, `informer ${this.#describe()} failed`, { cause: err }));
      },
    ).finally(() => link.unlink());
    return this.#syncPromise;
  }

  async stop(): Promise<void> {
    this.#link?.unlink();
    this.#link?.controller.abort();
    await this.#loop;
  }

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
    return this.#rv;
  }

  stats(): Readonly<InformerStats> {
    return { ...this.#stats };
  }

  #describe(): string {
    const sel = [this.opts.fieldSelector, this.opts.labelSelector].filter(Boolean).join(',');
    return sel ? `${this.opts.path}?${sel}` : this.opts.path;
  }

  #selectors(): Record<string, string> {
    const q: Record<string, string> = {};
    if (this.opts.labelSelector) q.labelSelector = this.opts.labelSelector;
    if (this.opts.fieldSelector) q.fieldSelector = this.opts.fieldSelector;
    return q;
  }

  async #sleepBackoff(key: string, signal: AbortSignal): Promise<void> {
    await this.#clock.sleep(jittered(this.#backoff.next(key)), signal);
  }

  async #run(signal: AbortSignal, onSynced: () => void): Promise<void> {
    let needList = true;
    let eventsSinceList = 0;
    while (!signal.aborted) {
      if (needList) {
        try {
          await this.#relist(signal);
        } catch (err) {
          if (signal.aborted) break;
          if (isForbidden(err)) {
            this.#log.error({ err, path: this.opts.path }, 'list forbidden: these credentials lack RBAC permission to list this resource; retrying');
          } else this.#log.warn({ err }, 'list failed; retrying');
          await this.#sleepBackoff('list', signal);
          continue;
        }
        this.#backoff.reset('list');
        needList = false;
        eventsSinceList = 0;
        if (!this.#synced) {
          this.#synced = true;
          onSynced();
        }
      }
      const timeoutSeconds = this.opts.timeoutSeconds ?? 300 + Math.floor(this.#random() * 300);
      const started = this.#clock.now();
      let events = 0;
      let end: WatchEnd | undefined;
      let failure: unknown;
      this.#stats.watches++;
      try {
        end = await this.client.watchOnce<T>(this.opts.path, {
          query: this.#selectors(),
          ...(this.#rv !== undefined ? { resourceVersion: this.#rv } : {}),
          allowWatchBookmarks: true,
          timeoutSeconds,
          silenceTimeoutMs: this.opts.silenceTimeoutMs ?? DEFAULT_SILENCE_MS,
          signal,
          onEvent: (ev) => {
            events++;
            this.#apply(ev);
          },
        });
        this.#stats.lastTransport = end.transport;
        this.#stats.lastEnd = end.reason;
      } catch (err) {
        failure = err;
      }
      eventsSinceList += events;
      if (signal.aborted || end?.reason === 'aborted') break;
      if (end?.reason === 'gone' || (failure !== undefined && isGone(failure))) {
        this.#log.info({ rv: this.#rv }, 'watch resourceVersion expired (410); relisting');
        this.#stats.relistsAfterGone++;
        needList = true;
        // A gone right after a fresh list with nothing in between would spin: back off then.
        if (eventsSinceList === 0) await this.#sleepBackoff('gone', signal);
        else this.#backoff.reset('gone');
        continue;
      }
      const healthy = end !== undefined && (end.reason === 'closed' || end.reason === 'timeout') && !end.error;
      if (healthy && (events > 0 || this.#clock.now() - started >= 1000)) {
        this.#backoff.reset('watch');
        continue;
      }
      // A stream that was up (delivered events or lasted a while) and then broke starts the back-off
      // afresh; only repeated failures to get a working stream escalate it.
      if (end && (events > 0 || this.#clock.now() - started >= ESTABLISHED_MS)) this.#backoff.reset('watch');
      this.#log.warn({ rv: this.#rv, end: end?.reason, err: failure ?? end?.error }, 'watch ended; resuming after back-off');
      await this.#sleepBackoff('watch', signal);
    }
  }

  async #relist(signal: AbortSignal): Promise<void> {
    this.#stats.lists++;
    const items: T[] = [];
    let cont: string | undefined;
    let rv: string | undefined;
    for (let page = 0; ; page++) {
      if (page > 100_000) throw new DockerletError(ErrorCodes.WATCH_FAILED, `list ${this.#describe()}: too many pages`);
      let res: List<T>;
      try {
        res = await this.client.list<T>(this.opts.path, {
          query: { ...this.#selectors(), limit: PAGE, ...(cont ? { continue: cont } : {}) },
          signal,
        });
      } catch (err) {
        if (cont && isGone(err)) {
          // The continue token expired mid-list: start over.
          this.#log.info('list continue token expired; restarting the list');
          items.length = 0;
          cont = undefined;
          continue;
        }
        throw err;
      }
      items.push(...res.items);
      rv = res.metadata.resourceVersion;
      cont = res.metadata.continue || undefined;
      if (!cont) break;
    }
    const diff = diffStore(this.#store, items);
    this.#store = diff.next;
    this.#rv = rv;
    for (const o of diff.deleted) this.#emit('delete', o);
    for (const o of diff.added) this.#emit('add', o);
    for (const [a, b] of diff.updated) this.#emit('update', a, b);
    this.#log.debug({ items: items.length, rv, added: diff.added.length, updated: diff.updated.length, deleted: diff.deleted.length }, 'listed');
  }

  #apply(ev: WatchEvent<T>): void {
    const obj = ev.object;
    const rv = obj.metadata?.resourceVersion;
    if (ev.type === 'BOOKMARK') {
      if (rv) this.#rv = rv;
      return;
    }
    const key = objectKey(obj);
    const old = this.#store.get(key);
    if (ev.type === 'ADDED' || ev.type === 'MODIFIED') {
      if (old && old.metadata.resourceVersion === rv && old.metadata.uid === obj.metadata.uid) {
        if (rv) this.#rv = rv;
        return; // already seen (replayed): never deliver twice
      }
      this.#store.set(key, obj);
      if (old) this.#emit('update', old, obj);
      else this.#emit('add', obj);
    } else if (ev.type === 'DELETED') {
      if (old) {
        this.#store.delete(key);
        this.#emit('delete', obj);
      }
    }
    if (rv) this.#rv = rv;
  }

  #emit(kind: 'add' | 'delete', obj: T): void;
  #emit(kind: 'update', oldObj: T, newObj: T): void;
  #emit(kind: 'add' | 'update' | 'delete', a: T, b?: T): void {
    for (const h of [...this.#handlers]) {
      if (kind === 'add') this.#call(h, kind, () => h.add?.(a));
      else if (kind === 'delete') this.#call(h, kind, () => h.delete?.(a));
      else this.#call(h, kind, () => h.update?.(a, b as T));
    }
  }

  #call(_h: InformerEventHandler<T>, kind: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error({ err, kind }, 'informer handler threw');
    }
  }
}

/** A list+watch cache of one collection (path + selectors). Nothing happens until start(). */
export function createInformer<T extends KubeObject>(
  client: KubeClient, opts: InformerOptions, deps: InformerDeps = {},
): DockerletInformer<T> {
  return new InformerImpl<T>(client, Object.freeze({ ...opts }), deps);
}
