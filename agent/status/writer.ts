// The status manager's API side (upstream status_manager.go syncPod): a live read of the pod, and one
// write = a two-way strategic merge patch from the server's copy (skipped when the server already holds
// it); a 409/422 re-reads the pod and recomputes; NotFound or a recreated pod (other uid) ends the write.
// It also tells whether the API server is away (a failed call, or no answer for a period) so the
// manager can re-read every pod at once when it answers again.
import type { Pod } from '../../kube/api.js';
import { isConflict, isNotFound } from '../../kube/errors.js';
import type { KubeClient } from '../../kube/types.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/log.js';
import { isOutage } from './api-copy.js';
import type { Entry } from './entry.js';
import { podStatusPatch } from './patch.js';

export interface WriteCounters {
  writes: number;
  skipped: number;
  /** Writes refused (409/422) and redone from a fresh read. */
  conflicts: number;
  /** Writes made because the server's copy had drifted from the kubelet's view. */
  reconciled: number;
}

export class StatusWriter {
  readonly #client: KubeClient;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #maxAttempts: number;
  readonly counters: WriteCounters;
  /** Clock time of the last call the API server answered. */
  lastAnswer = 0;
  /** The last call failed as an outage (not reached, 5xx, 429). */
  outage = false;
  /** The server answered after an outage: every pod should be re-read. */
  recovering = false;

  constructor(client: KubeClient, log: Logger, clock: Clock, maxAttempts: number, counters: WriteCounters) {
    this.#client = client;
    this.#log = log;
    this.#clock = clock;
    this.#maxAttempts = maxAttempts;
    this.counters = counters;
  }

  /** The API server answered (any HTTP status but 5xx/429). */
  answered(): void {
    this.lastAnswer = this.#clock.now();
    if (!this.outage) return;
    this.outage = false;
    this.recovering = true;
    this.#log.info('API server reachable again; re-reading every pod\'s status');
  }

  failed(err: unknown): void {
    if (!isOutage(err)) return this.answered();
    if (!this.outage) this.#log.info({ err }, 'API server unreachable; pod statuses will be re-read when it answers');
    this.outage = true;
  }

  #path(e: Entry): string {
    return `/api/v1/namespaces/${e.namespace}/pods/${e.name}`;
  }

  /** A live GET of the entry's pod; undefined when it is gone. */
  async read(e: Entry): Promise<Pod | undefined> {
    try {
      const pod = await this.#client.get<Pod>(this.#path(e), { timeoutMs: 10_000 });
      this.answered();
      return pod;
    } catch (err) {
      this.failed(err);
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** One write, re-reading and recomputing after a refusal; true when the server holds the status (or the pod is gone). */
  async write(e: Entry, pod: string): Promise<boolean> {
    const drift = e.sentVersion >= e.version;
    for (let attempt = 0; attempt < this.#maxAttempts; attempt++) {
      if (!e.server || e.server.metadata.uid !== e.uid) {
        const fresh = await this.read(e);
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
        this.counters.skipped++;
        return true;
      }
      try {
        const updated = await this.#client.patch<Pod>(`${this.#path(e)}/status`, patch.body, 'strategic', { timeoutMs: 15_000 });
        this.answered();
        this.counters.writes++;
        if (drift) this.counters.reconciled++;
        e.server = updated;
        e.writtenRV = updated.metadata.resourceVersion;
        return true;
      } catch (err) {
        this.failed(err);
        if (isNotFound(err)) {
          this.#log.debug({ pod }, 'pod is gone; status not written');
          return true;
        }
        const code = (err as { details?: { status?: number } }).details?.status;
        if (!isConflict(err) && code !== 422) throw err;
        this.counters.conflicts++;
        this.#log.info({ pod, code, err }, 'pod status write refused; re-reading the pod and recomputing');
        e.server = undefined; // re-read on the next attempt
      }
    }
    this.#log.warn({ pod, attempts: this.#maxAttempts }, 'pod status write still refused; will retry');
    return false;
  }
}
