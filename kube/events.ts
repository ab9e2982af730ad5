// core/v1 Event recorder, as client-go's record package for the kubelet: event() never blocks; a writer
// POSTs Events named <object>.<hex unix-nanos>, and repeats of the same (object, type, reason, message)
// within 10 minutes PATCH the earlier Event's count and lastTimestamp instead (the correlator's
// EventLogger, simplified). Without a client (standalone) events are only logged.
import type { CoreEvent } from './api.js';
import { isNotFound, isTransient } from './errors.js';
import type { KubeClient } from './types.js';
import { sleepFor, systemClock, type Clock } from '../lib/clock.js';
import { linkAbort, type Lifecycle } from '../lib/lifecycle.js';
import { partLogger, type Logger } from '../lib/log.js';

export interface EventObject {
  kind: string;
  name: string;
  /** '' or absent for cluster-scoped objects (their events go to "default"). */
  namespace?: string;
  uid?: string;
  apiVersion?: string;
  resourceVersion?: string;
  fieldPath?: string;
}

export type EventType = 'Normal' | 'Warning';

/**
 * The one event-sink interface: where agent, prober, node and proxy parts send core/v1 Events
 * (client-go's record.EventRecorder.Event). EventRecorder implements it; unit tests record into it.
 */
export interface EventSink {
  event(obj: EventObject, type: EventType, reason: string, message: string): void;
}

export interface EventRecorderDeps {
  client?: KubeClient;
  component?: string;
  /** The node name: source.host and reportingInstance. */
  host: string;
  clock?: Clock;
  log?: Logger;
  /** Queue bound (default 1000); the oldest pending event is dropped beyond it. */
  maxQueue?: number;
  /** Repeats within this window are aggregated (default 10 min). */
  aggregateWindowMs?: number;
  /** Attempts per event on transient API failures (default 3). */
  maxTries?: number;
}

interface Pending {
  key: string;
  namespace: string;
  obj: EventObject;
  type: EventType;
  reason: string;
  message: string;
  at: number;
}

interface Seen {
  name: string;
  namespace: string;
  count: number;
  firstTimestamp: string;
  lastSeen: number;
}

const MAX_SEEN = 4096; // client-go maxLruCacheEntries

function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** <name>.<hex unix nanoseconds>, as client-go names events. */
export function eventName(objName: string, ms: number, seq = 0): string {
  const nanos = BigInt(Math.floor(ms)) * 1_000_000n + BigInt(seq % 1_000_000);
  return `${objName}.${nanos.toString(16)}`;
}

export class EventRecorder implements Lifecycle, EventSink {
  readonly #client: KubeClient | undefined;
  readonly #component: string;
  readonly #host: string;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #maxQueue: number;
  readonly #windowMs: number;
  readonly #maxTries: number;
  #queue: Pending[] = [];
  readonly #seen = new Map<string, Seen>();
  #seq = 0;
  #running = false;
  #stopped = false;
  #signal: AbortSignal | undefined;
  #link: ReturnType<typeof linkAbort> | undefined;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #idle: (() => void)[] = [];
  #dropped = 0;

  constructor(deps: EventRecorderDeps) {
    this.#client = deps.client;
    this.#component = deps.component ?? 'kubelet';
    this.#host = deps.host;
    this.#clock = deps.clock ?? systemClock;
    this.#log = partLogger(deps.log, 'events');
    this.#maxQueue = deps.maxQueue ?? 1000;
    this.#windowMs = deps.aggregateWindowMs ?? 10 * 60_000;
    this.#maxTries = deps.maxTries ?? 3;
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    this.#link = linkAbort(signal);
    this.#signal = this.#link.signal;
    this.#signal.addEventListener('abort', () => this.#wake?.(), { once: true });
    this.#loop = this.#run();
  }

  /** Stops the writer after the event being written; events still queued are dropped. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#link?.unlink();
    this.#link?.controller.abort();
    await this.#loop;
    this.#running = false;
    if (this.#queue.length) this.#log.info({ dropped: this.#queue.length }, 'event recorder stopped with events unsent');
    this.#queue = [];
    for (const f of this.#idle.splice(0)) f();
  }

  /** Events waiting to be written. */
  pending(): number {
    return this.#queue.length;
  }

  /** Events dropped because the queue was full. */
  dropped(): number {
    return this.#dropped;
  }

  /** Resolves once every queued event has been written (or given up on), or the recorder stops. */
  flush(): Promise<void> {
    if (!this.#busy()) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #writing = false;
  #busy(): boolean {
    return this.#running && !this.#stopped && (this.#queue.length > 0 || this.#writing);
  }

  /**
   * Records an event: logs it as a JSON line and queues it for the API. Never throws or blocks. The log
   * line is info when it is the only record (no API server) or a Warning, else debug (the kubelet logs
   * events at verbosity 3: a 100-pod start wrote 300 Normal lines).
   */
  event(obj: EventObject, type: EventType, reason: string, message: string): void {
    const namespace = obj.namespace || 'default';
    this.#log[!this.#client || type === 'Warning' ? 'info' : 'debug'](
      { event: { type, reason, message, object: { kind: obj.kind, namespace: obj.namespace ?? '', name: obj.name, fieldPath: obj.fieldPath } } },
      'event',
    );
    if (!this.#client || this.#stopped || this.#signal?.aborted) return;
    const key = [
      this.#component, this.#host, obj.kind, obj.namespace ?? '', obj.name, obj.fieldPath ?? '', obj.uid ?? '',
      obj.apiVersion ?? '', type, reason, message,
    ].join('\u0000');
    this.#queue.push({ key, namespace, obj, type, reason, message, at: this.#clock.now() });
    if (this.#queue.length > this.#maxQueue) {
      const old = this.#queue.shift() as Pending;
      this.#dropped++;
      this.#log.warn({ reason: old.reason, object: `${old.obj.kind}/${old.obj.name}`, dropped: this.#dropped }, 'event queue full; dropped the oldest event');
    }
    this.#wake?.();
  }

  async #run(): Promise<void> {
    for (;;) {
      if (this.#stopped || this.#signal?.aborted) break;
      const next = this.#queue.shift();
      if (!next) {
        for (const f of this.#idle.splice(0)) f();
        await new Promise<void>((resolve) => { this.#wake = resolve; });
        this.#wake = undefined;
        continue;
      }
      this.#writing = true;
      try {
        await this.#write(next);
      } catch (err) {
        // Nothing about one event (not even a failure to log it) may end the writer or the process.
        try {
          this.#log.warn({ reason: next.reason, error: String(err) }, 'event writer failed; event dropped');
        } catch {
          /* logging itself failed */
        }
      } finally {
        this.#writing = false;
      }
    }
    for (const f of this.#idle.splice(0)) f();
  }

  async #write(p: Pending): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#writeOnce(p);
        return;
      } catch (err) {
        const retry = isTransient(err) && attempt < this.#maxTries && !this.#stopped && !this.#signal?.aborted;
        if (!retry) {
          this.#log.warn({ reason: p.reason, object: `${p.obj.kind}/${p.obj.name}`, err }, 'could not write event; dropped');
          return;
        }
        await sleepFor(this.#clock, 500 * 2 ** (attempt - 1), this.#signal);
      }
    }
  }

  async #writeOnce(p: Pending): Promise<void> {
    const client = this.#client as KubeClient;
    const base = `/api/v1/namespaces/${encodeURIComponent(p.namespace)}/events`;
    const seen = this.#seen.get(p.key);
    const last = rfc3339(p.at);
    if (seen && p.at - seen.lastSeen <= this.#windowMs) {
      const count = seen.count + 1;
      try {
        await client.patch(`${base}/${encodeURIComponent(seen.name)}`, { count, lastTimestamp: last, message: p.message }, 'strategic');
        this.#remember(p.key, { ...seen, count, lastSeen: p.at });
        return;
      } catch (err) {
        if (!isNotFound(err)) throw err;
        // The event expired (events have a TTL): create it again under the same name, keeping the count.
        await this.#create(base, p, seen.name, count, seen.firstTimestamp, last);
        this.#remember(p.key, { ...seen, count, lastSeen: p.at });
        return;
      }
    }
    const name = eventName(p.obj.name, p.at, this.#seq++);
    await this.#create(base, p, name, 1, last, last);
    this.#remember(p.key, { name, namespace: p.namespace, count: 1, firstTimestamp: last, lastSeen: p.at });
  }

  async #create(base: string, p: Pending, name: string, count: number, first: string, last: string): Promise<void> {
    const involved: CoreEvent['involvedObject'] = { kind: p.obj.kind, name: p.obj.name };
    if (p.obj.namespace) involved.namespace = p.obj.namespace;
    if (p.obj.uid) involved.uid = p.obj.uid;
    if (p.obj.apiVersion) involved.apiVersion = p.obj.apiVersion;
    if (p.obj.resourceVersion) involved.resourceVersion = p.obj.resourceVersion;
    if (p.obj.fieldPath) involved.fieldPath = p.obj.fieldPath;
    const ev: CoreEvent = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: p.namespace },
      involvedObject: involved,
      reason: p.reason,
      message: p.message,
      type: p.type,
      source: { component: this.#component, host: this.#host },
      firstTimestamp: first,
      lastTimestamp: last,
      count,
      reportingComponent: this.#component,
      reportingInstance: this.#host,
    };
    await (this.#client as KubeClient).create(base, ev);
  }

  #remember(key: string, s: Seen): void {
    this.#seen.delete(key);
    this.#seen.set(key, s);
    if (this.#seen.size > MAX_SEEN) {
      const oldest = this.#seen.keys().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
  }
}
