// The runtime cache (kubelet's PLEG cache): what the runtime last said, grouped by pod. A pod sync looks
// at its own pod only (refreshPod: the kubelet's GetPodStatus for one pod, a Docker list filtered by the
// pod's uid label), so a sync costs the same with 1 or 250 pods; the node-wide relist (refresh) is the
// PLEG's periodic safety net and the GC's view. Neither is ever stale for its caller: refresh() gives a
// list that started after it was asked, refreshPod() its own list. In the shared snapshot a pod's entry
// only moves forward: an answer from a list that started before the entry's own source is not applied.
// While the runtime's event stream is up, a pod with no event since its last list is looked at from the
// snapshot (lookPod; the Evented PLEG's cache): the event of any change will bring it back for a new list.
// So is a pod absent from a node-wide list that began while the stream was up (it has no containers),
// and a sync's look after its own creates/starts inspects only those containers (lookAfter).
import type { ContainerRuntime, ObservedContainer } from '../../runtime/types.js';
import { groupByPod } from './observed.js';

export class RuntimeCache {
  readonly #runtime: ContainerRuntime;
  #snapshot = new Map<string, ObservedContainer[]>();
  /** Per pod: the sequence number of the list its snapshot entry came from. */
  #stamps = new Map<string, number>();
  /** The sequence number of the last node-wide list applied (pods absent from it carry no stamp). */
  #fullStamp = 0;
  #seq = 0;
  #inflight: Promise<Map<string, ObservedContainer[]>> | undefined;
  #next: Promise<Map<string, ObservedContainer[]>> | undefined;
  /** Node-wide lists done. */
  relists = 0;
  /** Single-pod lists done. */
  podLists = 0;
  /** Looks answered from the snapshot (no list). */
  cachedLooks = 0;
  /** Looks after a sync's own actions answered by inspecting only those containers (no list). */
  partialLooks = 0;
  #eventsLive = false;
  /** The list sequence number when the event stream last came up. */
  #liveSince = 0;
  /** Pods with a runtime event since their last list started: the sequence number at the event. */
  readonly #dirty = new Map<string, number>();

  constructor(runtime: ContainerRuntime) {
    this.#runtime = runtime;
  }

  /** The runtime's event stream is connected (set by the pod controller). */
  get eventsLive(): boolean {
    return this.#eventsLive;
  }

  set eventsLive(live: boolean) {
    if (live && !this.#eventsLive) this.#liveSince = this.#seq;
    this.#eventsLive = live;
  }

  snapshot(): ReadonlyMap<string, ObservedContainer[]> {
    return this.#snapshot;
  }

  containersOf(uid: string): ObservedContainer[] {
    return this.#snapshot.get(uid) ?? [];
  }

  refresh(): Promise<Map<string, ObservedContainer[]>> {
    if (!this.#inflight) {
      this.#inflight = this.#list().finally(() => { this.#inflight = undefined; });
      return this.#inflight;
    }
    // A list is running but may have started before our caller's change: queue one more after it.
    this.#next ??= this.#inflight.then(
      () => { this.#next = undefined; return this.refresh(); },
      () => { this.#next = undefined; return this.refresh(); },
    );
    return this.#next;
  }

  /** A runtime event for the pod: its next look lists again. */
  touch(uid: string): void {
    this.#dirty.set(uid, this.#seq);
  }

  /**
   * The pod's snapshot entry when it is known to be current without a list: the event stream is up, no
   * event came for the pod since its entry's list began, and that list (or a node-wide one, which would
   * have shown its containers) began while the stream was up.
   */
  #current(uid: string): ObservedContainer[] | undefined {
    if (!this.#eventsLive || this.#dirty.has(uid)) return undefined;
    if ((this.#stamps.get(uid) ?? 0) > this.#liveSince || this.#fullStamp > this.#liveSince) return this.#snapshot.get(uid) ?? [];
    return undefined;
  }

  /**
   * The pod's containers as they are now: from the snapshot when the event stream is up, the pod already
   * has an entry and no event came since that entry's list started; otherwise from a new list.
   */
  async lookPod(uid: string): Promise<ObservedContainer[]> {
    const known = this.#current(uid);
    if (known) {
      this.cachedLooks++;
      return copy(known);
    }
    return this.refreshPod(uid);
  }

  /**
   * The pod's containers after the caller's own creates/starts of `ids`: when its entry is current
   * (see #current), only those containers are inspected and merged into it; otherwise a new list.
   * An event arriving meanwhile marks the pod, so its next look lists again.
   */
  async lookAfter(uid: string, ids: readonly string[]): Promise<ObservedContainer[]> {
    const base = this.#current(uid);
    if (!base || !this.#runtime.inspectContainers) return this.refreshPod(uid);
    const seq = ++this.#seq;
    const fresh = await this.#runtime.inspectContainers(ids);
    this.partialLooks++;
    const merged = [...base.filter((c) => !ids.includes(c.id)), ...fresh];
    if (seq > (this.#stamps.get(uid) ?? this.#fullStamp)) {
      if (merged.length) this.#snapshot.set(uid, merged);
      else this.#snapshot.delete(uid);
      this.#stamps.set(uid, seq);
    }
    return copy(merged);
  }

  /** The containers of one pod, from a list that starts now (a node-wide one when the runtime has no per-pod list). */
  async refreshPod(uid: string): Promise<ObservedContainer[]> {
    this.#dirty.delete(uid); // an event from now on is after this list began
    if (!this.#runtime.listPod) return (await this.refresh()).get(uid) ?? [];
    const seq = ++this.#seq;
    let containers: ObservedContainer[];
    try {
      containers = await this.#runtime.listPod(uid);
    } catch (err) {
      this.#dirty.set(uid, this.#seq);
      throw err;
    }
    this.podLists++;
    if (seq > (this.#stamps.get(uid) ?? this.#fullStamp)) {
      if (containers.length) this.#snapshot.set(uid, containers);
      else this.#snapshot.delete(uid);
      this.#stamps.set(uid, seq);
    }
    return containers;
  }

  async #list(): Promise<Map<string, ObservedContainer[]>> {
    const seq = ++this.#seq;
    const all = await this.#runtime.listManaged();
    this.relists++;
    const fresh = groupByPod(all);
    const snapshot = new Map<string, ObservedContainer[]>();
    const stamps = new Map<string, number>();
    // A pod looked at on its own after this list started keeps that newer entry.
    for (const [uid, stamp] of this.#stamps) {
      if (stamp <= seq) continue;
      stamps.set(uid, stamp);
      const mine = this.#snapshot.get(uid);
      if (mine) snapshot.set(uid, mine);
    }
    for (const [uid, containers] of fresh) {
      if (stamps.has(uid)) continue;
      snapshot.set(uid, containers);
      stamps.set(uid, seq);
    }
    this.#snapshot = snapshot;
    this.#stamps = stamps;
    this.#fullStamp = Math.max(this.#fullStamp, seq);
    for (const [uid, at] of this.#dirty) if (at < seq) this.#dirty.delete(uid); // this list began after that event
    return fresh;
  }
}

function copy(list: readonly ObservedContainer[]): ObservedContainer[] {
  return list.map((c) => ({ ...c, annotations: { ...c.annotations } }));
}
