// The node heartbeat Lease (kube-node-lease/<node>), as upstream pkg/kubelet/nodelease: renewed every
// 0.25 × leaseDurationSeconds; optimistic update from the last lease written (no GET), re-read on
// conflict, at most 5 tries; ensuring the lease (GET, create when missing) backs off 100 ms → 7 s.
import type { Lease, Node } from '../../kube/api.js';
import { isConflict, isNotFound } from '../../kube/errors.js';
import type { KubeClient } from '../../kube/types.js';
import { sleepFor, systemClock, type Clock } from '../../lib/clock.js';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import type { Lifecycle } from '../../lib/lifecycle.js';
import { partLogger, type Logger } from '../../lib/log.js';

export const LEASE_NAMESPACE = 'kube-node-lease';
export const DEFAULT_LEASE_DURATION_SECONDS = 40;
export const RENEW_INTERVAL_FRACTION = 0.25;
export const MAX_UPDATE_RETRIES = 5;
export const ENSURE_BACKOFF_INITIAL_MS = 100;
export const ENSURE_BACKOFF_MAX_MS = 7000;

export interface NodeLeaseDeps {
  client: KubeClient;
  nodeName: string;
  clock?: Clock;
  log?: Logger;
  leaseDurationSeconds?: number;
  /** Default 0.25 × leaseDurationSeconds. */
  renewIntervalMs?: number;
  /** The Node's uid when the caller knows it; otherwise the lease GETs the Node to learn it. */
  nodeUid?: () => string | undefined;
}

/** MicroTime: RFC 3339 with microseconds, as metav1.MicroTime is serialised. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

export function leasePath(nodeName: string): string {
  return `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases/${encodeURIComponent(nodeName)}`;
}

export class NodeLease implements Lifecycle {
  readonly #client: KubeClient;
  readonly #name: string;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #durationSec: number;
  readonly #renewMs: number;
  readonly #uidFn: (() => string | undefined) | undefined;
  #uid: string | undefined;
  #latest: Lease | undefined;
  #lastRenew: number | undefined;
  #abort: AbortController | undefined;
  #loop: Promise<void> | undefined;

  constructor(deps: NodeLeaseDeps) {
    this.#client = deps.client;
    this.#name = deps.nodeName;
    this.#clock = deps.clock ?? systemClock;
    this.#log = partLogger(deps.log, 'node-lease');
    this.#durationSec = deps.leaseDurationSeconds ?? DEFAULT_LEASE_DURATION_SECONDS;
    this.#renewMs = deps.renewIntervalMs ?? this.#durationSec * 1000 * RENEW_INTERVAL_FRACTION;
    this.#uidFn = deps.nodeUid;
  }

  /** Starts the renew loop (first renewal at once) and returns without waiting for it. */
  async start(signal: AbortSignal): Promise<void> {
    if (this.#loop) return;
    const ac = new AbortController();
    this.#abort = ac;
    const onAbort = () => ac.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) ac.abort();
    this.#loop = this.#run(ac.signal).finally(() => signal.removeEventListener('abort', onAbort));
  }

  async stop(): Promise<void> {
    this.#abort?.abort();
    await this.#loop;
  }

  /** The last lease written or read. */
  latest(): Lease | undefined {
    return this.#latest;
  }

  /** Clock time of the last successful renewal. */
  lastRenewed(): number | undefined {
    return this.#lastRenew;
  }

  /** Tells the lease the Node's uid (for the ownerReference). */
  setNodeUid(uid: string): void {
    this.#uid = uid;
  }

  async #run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.sync(signal);
      } catch (err) {
        if (!signal.aborted) this.#log.warn({ node: this.#name, err }, 'node lease renewal failed');
      }
      await sleepFor(this.#clock, this.#renewMs, signal);
    }
  }

  /** One renewal round (upstream controller.sync). Throws when the update finally fails. */
  async sync(signal?: AbortSignal): Promise<void> {
    if (this.#latest) {
      try {
        await this.#retryUpdate(this.#latest, signal);
        return;
      } catch (err) {
        if (signal?.aborted) return;
        this.#log.info({ node: this.#name, err }, 'updating the lease from the latest copy failed; ensuring it');
      }
    }
    const ensured = await this.#backoffEnsure(signal);
    if (!ensured) return; // aborted
    this.#latest = ensured.lease;
    if (ensured.created) this.#lastRenew = this.#clock.now();
    else await this.#retryUpdate(ensured.lease, signal);
  }

  async #nodeUid(signal?: AbortSignal): Promise<string | undefined> {
    const known = this.#uidFn?.() ?? this.#uid;
    if (known) return known;
    try {
      const node = await this.#client.get<Node>(`/api/v1/nodes/${encodeURIComponent(this.#name)}`, signal ? { signal } : undefined);
      if (node.metadata.uid) this.#uid = node.metadata.uid;
    } catch (err) {
      this.#log.warn({ node: this.#name, err }, 'cannot read the Node to set the lease owner');
    }
    return this.#uid;
  }

  /** A lease to write: a copy of base (or a new one) with renewTime now and the Node owner reference. */
  async #newLease(base: Lease | undefined, signal?: AbortSignal): Promise<Lease> {
    const lease: Lease = base
      ? structuredClone(base)
      : {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.#name, namespace: LEASE_NAMESPACE },
        spec: {},
      };
    lease.spec.holderIdentity = this.#name;
    lease.spec.leaseDurationSeconds = this.#durationSec;
    lease.spec.renewTime = microTime(this.#clock.now());
    if (!lease.metadata.ownerReferences?.length) {
      const uid = await this.#nodeUid(signal);
      if (uid) lease.metadata.ownerReferences = [{ apiVersion: 'v1', kind: 'Node', name: this.#name, uid }];
      else if (!base) {
        // As upstream: the lease is not created until the Node (its uid) can be read.
        throw new DockerletError(ErrorCodes.KUBE_API, `node ${this.#name} uid unknown; not creating its lease yet`, {
          details: { node: this.#name },
        });
      }
    }
    return lease;
  }

  /** GET the lease, creating it when missing. */
  async #ensure(signal?: AbortSignal): Promise<{ lease: Lease; created: boolean }> {
    const opts = signal ? { signal } : undefined;
    try {
      return { lease: await this.#client.get<Lease>(leasePath(this.#name), opts), created: false };
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const body = await this.#newLease(undefined, signal);
    const lease = await this.#client.create<Lease>(
      `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases`, body, opts,
    );
    this.#log.info({ node: this.#name }, 'node lease created');
    return { lease, created: true };
  }

  /** ensure with back-off 100 ms doubling to 7 s, until it works or the signal aborts. */
  async #backoffEnsure(signal?: AbortSignal): Promise<{ lease: Lease; created: boolean } | undefined> {
    let delayMs = ENSURE_BACKOFF_INITIAL_MS;
    for (;;) {
      if (signal?.aborted) return undefined;
      try {
        return await this.#ensure(signal);
      } catch (err) {
        if (signal?.aborted) return undefined;
        this.#log.warn({ node: this.#name, delayMs, err }, 'failed to ensure the node lease exists; will retry');
      }
      if (signal?.aborted) return undefined;
      await sleepFor(this.#clock, delayMs, signal);
      delayMs = Math.min(delayMs * 2, ENSURE_BACKOFF_MAX_MS);
    }
  }

  async #retryUpdate(base: Lease, signal?: AbortSignal): Promise<void> {
    let current: Lease | undefined = base;
    let lastErr: unknown;
    for (let i = 0; i < MAX_UPDATE_RETRIES && current; i++) {
      if (signal?.aborted) return;
      try {
        const lease = await this.#newLease(current, signal);
        this.#latest = await this.#client.update<Lease>(leasePath(this.#name), lease, signal ? { signal } : undefined);
        this.#lastRenew = this.#clock.now();
        return;
      } catch (err) {
        lastErr = err;
        this.#log.debug({ node: this.#name, attempt: i + 1, err }, 'lease update failed');
        // A conflict means our copy is stale: re-read (ensure) and try again from the fresh one.
        if (isConflict(err)) current = (await this.#backoffEnsure(signal))?.lease;
      }
    }
    if (signal?.aborted) return;
    throw new DockerletError(ErrorCodes.KUBE_API, `failed ${MAX_UPDATE_RETRIES} attempts to update lease ${LEASE_NAMESPACE}/${this.#name}`, {
      cause: lastErr, details: { node: this.#name },
    });
  }
}
