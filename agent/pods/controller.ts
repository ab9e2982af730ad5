// The pod controller: pod sources (API informer, static manifests) only upsert records and enqueue
// pod UIDs; a keyed queue runs one sync per pod at a time; a relist loop (PLEG) enqueues pods whose
// containers changed; GC and volume refresh run on their own timers.
import { readdir } from 'node:fs/promises';
import type { Pod } from '../../kube/api.js';
import type { Informer } from '../../kube/types.js';
import { delay, type Lifecycle } from '../../lib/lifecycle.js';
import { KeyedQueue } from '../../lib/queue.js';
import { podSyncs } from '../../metrics/agent-metrics.js';
import type { RuntimeEvent } from '../../runtime/types.js';
import { admitPod, DEFAULT_ADMITTERS, type Rejection } from './admission.js';
import { podRef } from './apply.js';
import type { WorkerDeps } from './deps.js';
import { selectGarbage } from './gc.js';
import { podFingerprint } from './observed.js';
import type { PodRecord } from './types.js';
import { PodWorker } from './worker.js';

/** The first GC pass after start (pods deleted while the agent was away). */
const FIRST_GC_MS = 2000;
/** How long start() waits for the API server's pod list. */
const SOURCE_WAIT_MS = 5000;
/**
 * The node-wide relist while the runtime's event stream is up (Evented PLEG: events drive the syncs, the
 * relist is only a safety net; upstream's is 300 s); relistMs (1 s, Generic PLEG) while it is down.
 */
const EVENTED_RELIST_MS = 10_000;

export interface PodControllerOptions {
  workers?: number;
  relistMs?: number;
  gcMs?: number;
  volumeRefreshMs?: number;
}

/** A source of desired pods: the API informer or the static manifest directory. */
export interface PodSource {
  readonly name: 'api' | 'file';
  on(handlers: { add?(p: Pod): void; update?(o: Pod, n: Pod): void; delete?(p: Pod): void }): () => void;
  start(signal: AbortSignal): Promise<void>;
  list(): Pod[];
}

export function informerSource(inf: Informer<Pod>): PodSource {
  return { name: 'api', on: (h) => inf.on(h), start: (s) => inf.start(s), list: () => inf.list() };
}

export class PodController implements Lifecycle {
  readonly #deps: WorkerDeps;
  readonly #sources: PodSource[];
  readonly #opts: Required<PodControllerOptions>;
  readonly #records = new Map<string, PodRecord>();
  readonly #worker: PodWorker;
  readonly #queue: KeyedQueue;
  #abort = new AbortController();
  #loops: Promise<void>[] = [];
  #unsubscribe: (() => void)[] = [];
  #synced = false;
  /** The runtime's event stream is connected (a lost one makes the relist run every relistMs again). */
  #eventsLive = false;
  /** Relist at the next tick (the event stream reconnected: catch up on what it may have missed). */
  #relistSoon = false;
  /** Runtime events for pods whose sync is running (mostly the echoes of that sync's own creates/starts). */
  readonly #heldEvents = new Map<string, RuntimeEvent[]>();

  constructor(deps: WorkerDeps, sources: PodSource[], opts: PodControllerOptions = {}) {
    this.#deps = deps;
    this.#sources = sources;
    this.#opts = { workers: opts.workers ?? 8, relistMs: opts.relistMs ?? 1000, gcMs: opts.gcMs ?? 60_000, volumeRefreshMs: opts.volumeRefreshMs ?? 60_000 };
    this.#worker = new PodWorker(deps);
    this.#worker.setActivePods(() => [...this.#records.values()].filter((r) => !r.failed && r.state !== 'Terminated' && !r.removed).map((r) => r.pod));
    this.#queue = new KeyedQueue((uid) => this.#sync(uid), {
      workers: this.#opts.workers,
      clock: deps.clock,
      retryInitialMs: 1000,
      retryMaxMs: 30_000,
      onError: (uid, err, retryInMs) => deps.log.warn({ pod: this.#records.get(uid)?.key ?? uid, err, retryInMs }, 'pod sync failed; retrying'),
    });
  }

  /** Records by UID (read-only view for the kubelet API and tests). */
  pods(): PodRecord[] {
    return [...this.#records.values()];
  }

  async start(signal: AbortSignal): Promise<void> {
    signal.addEventListener('abort', () => this.#abort.abort(), { once: true });
    const s = this.#abort.signal;
    await this.#deps.cache.refresh(); // adopt what runs before any sync
    for (const src of this.#sources) {
      this.#unsubscribe.push(src.on({
        add: (p) => this.#upsert(p, src.name === 'file'),
        update: (_o, n) => this.#upsert(n, src.name === 'file'),
        delete: (p) => this.#removed(p),
      }));
    }
    // Admission in creation order, as the kubelet's HandlePodAdditions sorts a batch.
    const byCreation = (a: Pod, b: Pod) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '');
    const started = (src: PodSource) => src.start(s).then(() => { for (const p of [...src.list()].sort(byCreation)) this.#upsert(p, src.name === 'file'); });
    // Static manifests first and in full; the API source gets a bounded wait (the kubelet runs a control
    // plane's static pods before there is an API server). GC waits until every source has synced.
    await Promise.all(this.#sources.filter((src) => src.name === 'file').map(started));
    const api = Promise.all(this.#sources.filter((src) => src.name !== 'file').map(started)).then(() => { this.#synced = true; });
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), SOURCE_WAIT_MS); });
    const synced = await Promise.race([api.then(() => true), waited]).finally(() => clearTimeout(timer));
    if (!synced) this.#deps.log.warn('API pods not listed yet (API server unreachable?); static pods start now, API pods when it answers');
    api.catch((err: unknown) => { if (!s.aborted) this.#deps.log.error({ err }, 'pod source failed'); });
    this.#queue.start(s);
    const unsubProbes = this.#deps.probes?.onChange?.((uid) => { if (this.#records.has(uid)) this.#queue.add(uid); });
    if (unsubProbes) this.#unsubscribe.push(unsubProbes);
    this.#loops.push(this.#relistLoop(s), this.#gcLoop(s), this.#volumeLoop(s));
    if (this.#deps.runtime.watchEvents) {
      const onEvent = (e: RuntimeEvent) => {
        if (!e.podUid) return;
        if (!this.#records.has(e.podUid)) {
          this.#deps.cache.touch(e.podUid); // a pod not known yet: its first look must list
          return;
        }
        const held = this.#heldEvents.get(e.podUid);
        if (held) held.push(e); // the pod's sync is running: judged against its last look when it ends
        else if (!this.#alreadySeen(e)) this.#changed(e.podUid);
      };
      const onConnected = (live: boolean) => {
        this.#eventsLive = live;
        this.#deps.cache.eventsLive = live;
        this.#relistSoon = true;
      };
      this.#loops.push(this.#deps.runtime.watchEvents(s, onEvent, onConnected).catch(() => {}));
    }
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    for (const u of this.#unsubscribe) u();
    await Promise.all(this.#loops);
    await this.#queue.stop(); // waits for syncs in flight: none runs after stop() returned
  }

  /**
   * An event the pod's last look already shows (mostly the echo of the worker's own create/start): no sync.
   * Every other event (die, oom, stop, kill, destroy, …, or a container not seen yet) syncs the pod.
   */
  #alreadySeen(e: RuntimeEvent): boolean {
    if (e.action !== 'create' && e.action !== 'start') return false;
    const seen = this.#deps.cache.containersOf(e.podUid!).find((c) => c.id === e.id);
    return seen !== undefined && (e.action === 'create' || seen.state === 'running');
  }

  /** The runtime changed something of the pod that its last look does not show: list it again, and sync. */
  #changed(uid: string): void {
    this.#deps.cache.touch(uid);
    this.#queue.add(uid);
  }

  #upsert(pod: Pod, isStatic: boolean): void {
    const uid = pod.metadata.uid;
    if (!uid) return;
    if (!isStatic) this.#deps.status.observe(pod); // the server's copy: a drifted status is rewritten
    const existing = this.#records.get(uid);
    if (existing) {
      existing.pod = pod;
      existing.removed = false;
      if (pod.metadata.deletionTimestamp) existing.syncAbort?.abort(); // a pull in progress must not hold up deletion
      this.#worker.podUpdated(existing);
    } else {
      const record: PodRecord = {
        uid, key: `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`, pod, static: isStatic,
        waiting: new Map(), removed: false, state: 'Registered',
      };
      // kubelet.go's "SyncLoop ADD" (bench/pod-startup reads its time as "first seen by the agent").
      this.#deps.log.info({ podUid: uid, pod: record.key, source: isStatic ? 'file' : 'api' }, 'SyncLoop ADD');
      const failed = this.#admit(pod);
      if (failed) record.failed = failed;
      this.#records.set(uid, record);
    }
    this.#queue.add(uid);
  }

  #removed(pod: Pod): void {
    const r = pod.metadata.uid ? this.#records.get(pod.metadata.uid) : undefined;
    if (!r) return;
    r.removed = true;
    r.pod = pod;
    r.syncAbort?.abort();
    this.#worker.podUpdated(r);
    this.#queue.add(r.uid);
  }

  async #sync(uid: string): Promise<void> {
    const record = this.#records.get(uid);
    if (!record) return;
    let result;
    this.#heldEvents.set(uid, []);
    try {
      result = await this.#worker.sync(record);
      podSyncs.inc({ result: 'success' });
    } catch (err) {
      podSyncs.inc({ result: 'error' });
      throw err;
    } finally {
      // Events that came during the sync and that its last look does not show ask for another sync.
      const held = this.#heldEvents.get(uid) ?? [];
      this.#heldEvents.delete(uid);
      if (held.some((e) => !this.#alreadySeen(e))) this.#changed(uid);
    }
    if (result.done) {
      if (record.removed || record.static) this.#records.delete(uid);
      else record.removed = true; // deleted from the API by us; the informer's DELETE will follow
      return;
    }
    if (result.requeueAfterMs !== undefined) this.#queue.addAfter(uid, result.requeueAfterMs);
  }

  /**
   * canAdmitPod, once per pod when it first reaches this node. Pods that already ran here (adopted
   * containers after a restart) or are already terminal are not judged again; a pod the API already
   * shows Failed by the node keeps its reason.
   */
  #admit(pod: Pod): Rejection | undefined {
    const uid = pod.metadata.uid!;
    const phase = pod.status?.phase;
    if (phase === 'Failed' && pod.status?.reason) return { reason: pod.status.reason, message: pod.status.message ?? '' };
    if (phase === 'Failed' || phase === 'Succeeded' || pod.metadata.deletionTimestamp) return undefined;
    if (this.#deps.cache.containersOf(uid).length > 0) return undefined;
    const cfg = this.#deps.admission ?? {};
    const others = [...this.#records.values()].filter((r) => !r.failed && r.state !== 'Terminated' && !r.removed).map((r) => r.pod);
    const allocatable = cfg.allocatable ?? this.#deps.node.capacity;
    const rejected = admitPod(pod, {
      others,
      allocatable: { cpuMillis: allocatable.cpuMillis, memoryBytes: allocatable.memoryBytes, pods: cfg.maxPods ?? 110 },
      allowedUnsafeSysctls: cfg.allowedUnsafeSysctls ?? [],
    }, cfg.admitters ?? DEFAULT_ADMITTERS);
    if (!rejected) return undefined;
    this.#deps.events.event(podRef(pod), 'Warning', rejected.reason, rejected.message);
    this.#deps.log.info({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, reason: rejected.reason }, 'pod rejected at admission');
    return { reason: rejected.reason, message: `Pod was rejected: ${rejected.message}` };
  }

  async #relistLoop(signal: AbortSignal): Promise<void> {
    let last = performance.now(); // the cadence runs on real timers (delay), as does relistMs
    while (!signal.aborted) {
      await delay(this.#opts.relistMs, signal);
      if (signal.aborted) break;
      const every = this.#eventsLive ? Math.max(this.#opts.relistMs, EVENTED_RELIST_MS) : this.#opts.relistMs;
      if (!this.#relistSoon && performance.now() - last < every - this.#opts.relistMs / 2) continue;
      this.#relistSoon = false;
      last = performance.now();
      try {
        const snap = await this.#deps.cache.refresh();
        for (const [uid, r] of this.#records) {
          const fp = podFingerprint(snap.get(uid) ?? []);
          if (fp !== r.lastFingerprint) {
            r.lastFingerprint = fp;
            this.#queue.add(uid);
          }
        }
      } catch (err) {
        this.#deps.log.warn({ err }, 'relist failed');
      }
    }
  }

  /** The first pass soon after the sources synced (pods deleted while the agent was down), then every gcMs. */
  async #gcLoop(signal: AbortSignal): Promise<void> {
    let first = true;
    while (!signal.aborted) {
      await delay(first ? Math.min(FIRST_GC_MS, this.#opts.gcMs) : this.#opts.gcMs, signal);
      first = false;
      if (signal.aborted || !this.#synced) continue;
      await this.collectGarbage().catch((err) => this.#deps.log.warn({ err }, 'container GC failed'));
    }
  }

  /** One GC pass (exported for tests and shutdown). */
  async collectGarbage(): Promise<number> {
    const snap = await this.#deps.cache.refresh();
    const { orphans, dead } = selectGarbage(snap, new Set(this.#records.keys()));
    for (const c of orphans) {
      if (c.state === 'running') await this.#deps.runtime.stopContainer(c.id, 2);
      await this.#deps.runtime.removeContainer(c.id);
    }
    for (const c of dead) await this.#deps.runtime.removeContainer(c.id);
    if (orphans.length || dead.length) this.#deps.log.info({ orphans: orphans.length, dead: dead.length }, 'garbage-collected containers');
    await this.#cleanupOrphanedPodDirs(); // their containers are gone now
    const gone = new Set([...orphans, ...dead].map((c) => c.id));
    // kubelet cleanupOrphanedPodCgroups: the pod cgroups of pods this node no longer has and of which no container is left.
    const live = [...snap.values()].flat().filter((c) => !gone.has(c.id));
    const keep = new Set([...this.#records.keys(), ...live.map((c) => c.podUid)]);
    const cgroups = await this.#deps.runtime.removeOrphanPodCgroups?.(keep).catch((err: unknown) => {
      this.#deps.log.warn({ err }, 'orphaned pod cgroups not removed; will retry');
      return 0;
    });
    if (cgroups) this.#deps.log.info({ dirs: cgroups }, 'removed the cgroups of orphaned pods');
    this.#worker.pruneContainers(new Set(live.map((c) => c.id)));
    this.#deps.crashBackoff.gc();
    return orphans.length + dead.length;
  }

  /**
   * kubelet cleanupOrphanedPodDirs: the directory (volumes, tmpfs token/secret mounts, termination
   * messages) of a pod this node no longer has and of which nothing runs is torn down.
   */
  async #cleanupOrphanedPodDirs(): Promise<void> {
    let uids: string[];
    try {
      uids = await readdir(this.#deps.podsDir);
    } catch {
      return; // no pod has run here yet
    }
    for (const uid of uids) {
      if (this.#records.has(uid)) continue;
      try {
        await this.#deps.volumes.teardown(uid); // unmounts, then removes the directory
        this.#deps.log.info({ podUid: uid }, 'removed the directory and volumes of an orphaned pod');
      } catch (err) {
        this.#deps.log.warn({ podUid: uid, err }, 'orphaned pod directory not removed; will retry');
      }
    }
  }

  async #volumeLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await delay(this.#opts.volumeRefreshMs, signal);
      for (const r of this.#records.values()) {
        if (signal.aborted) break;
        await this.#worker.refreshVolumes(r).catch((err) => this.#deps.log.warn({ pod: r.key, err }, 'volume refresh failed'));
      }
    }
  }
}
