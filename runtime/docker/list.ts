// The container side of dockershim's ListContainers + ContainerStatus: one Docker list (all managed
// containers, or one pod's by its io.kubernetes.pod.uid label, as the kubelet's GetPodStatus asks the
// runtime for a single pod), then an inspect only of the containers whose state moved since the last look.
import type Dockerode from 'dockerode';
import type { Logger } from '../../lib/log.js';
import { annotationsFromLabels, identityFromLabels, Labels, parseDockerName } from '../naming.js';
import type { ObservedContainer } from '../types.js';
import { isNotFound, toDockerletError } from './errors.js';
import { changeKey, changeKeyOfInspect, imageRefFor, toObserved } from './observe.js';

interface CacheEntry {
  key: string;
  /** undefined: a labelled container that does not parse as ours (inspected once, then skipped). */
  observed: ObservedContainer | undefined;
}

const INSPECT_PARALLELISM = 8;
const IMAGE_REF_CACHE_MAX = 1000;

export class ContainerLister {
  readonly #docker: () => Dockerode;
  readonly #log: () => Logger;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #imageRefs = new Map<string, string>();
  /** Why a start failed, by container id (a created container is described from the list, not inspected). */
  readonly #startErrors = new Map<string, string>();
  /** Per container, how often it was forgotten: an inspect that a forget overtook is not kept. */
  readonly #forgets = new Map<string, number>();
  /** Containers this process started whose start event has not come yet. */
  readonly #ownStarts = new Set<string>();
  /** The pod of every container seen, kept through forgets (a stopped container is removed after its stop forgot it). */
  readonly #podOf = new Map<string, string>();
  /** Told of every inspect (the metrics collector reuses it instead of inspecting the container again). */
  onInspect: ((info: Dockerode.ContainerInspectInfo) => void) | undefined;

  constructor(docker: () => Dockerode, log: () => Logger) {
    this.#docker = docker;
    this.#log = log;
  }

  /** The container's state moved (start, stop, remove, an event): the next list inspects it again. */
  forget(id: string): void {
    this.#cache.delete(id);
    this.#forgets.set(id, (this.#forgets.get(id) ?? 0) + 1);
  }

  /**
   * A Docker event for the container: a create never invalidates (created containers are not cached),
   * nor does a start of one last seen running (the entry was inspected after that start: a restart's die
   * came first and forgot it) or the echo of our own start; every other event does.
   */
  eventFor(id: string, action: string): void {
    if (action === 'create') return;
    // The echo of our own start (Docker logs it before answering the call): an inspect made after the
    // call returned already shows what it reports, so it must not lose that inspect's cache entry.
    if (action === 'start' && (this.#ownStarts.delete(id) || this.#cache.get(id)?.observed?.state === 'running')) return;
    this.#ownStarts.delete(id);
    this.forget(id);
  }

  /** This process's start of the container returned: its coming start event is an echo (see eventFor). */
  started(id: string): void {
    this.#ownStarts.add(id);
  }

  /** The pod a container seen by this lister belongs to (for the pod cgroup's removal). */
  podUidOf(id: string): string | undefined {
    return this.#podOf.get(id);
  }

  /** The container was removed (its removal forgot its inspect already): its pod is dropped too. */
  removed(id: string): void {
    this.#podOf.delete(id);
  }

  startFailed(id: string, message: string): void {
    this.#startErrors.set(id, message);
  }

  /**
   * One list call with the owner labels (plus podUid when given); only containers whose state/status
   * changed since the last call are inspected. With podUid, only that pod's cache entries are pruned.
   */
  async list(owned: string[], podUid?: string): Promise<ObservedContainer[]> {
    const label = podUid === undefined ? owned : [...owned.filter((l) => l !== Labels.podUid), `${Labels.podUid}=${podUid}`];
    let list: Dockerode.ContainerInfo[];
    try {
      list = await this.#docker().listContainers({ all: true, filters: { label } });
    } catch (err) {
      throw toDockerletError('list', err);
    }
    const seen = new Set<string>();
    const out: ObservedContainer[] = [];
    const stale: { id: string; key: string }[] = [];
    for (const c of list) {
      if (podUid !== undefined && c.Labels?.[Labels.podUid] !== podUid) continue; // Docker filtered; never trust a proxy's answer
      seen.add(c.Id);
      const uid = c.Labels?.[Labels.podUid];
      if (uid) this.#podOf.set(c.Id, uid);
      // A container not yet started is described from the list entry, never inspected: Docker holds
      // the container lock for the whole of a start, so inspecting another pod's container while it
      // starts would stall this caller for seconds (measured by bench/pod-startup).
      if (c.State === 'created') {
        const o = this.#fromListEntry(c);
        if (o) out.push(o);
        this.#cache.delete(c.Id);
        continue;
      }
      const key = changeKey(c);
      const hit = this.#cache.get(c.Id);
      if (hit && hit.key === key) {
        if (hit.observed) out.push(hit.observed);
      } else stale.push({ id: c.Id, key });
    }
    const inScope = (uid: string | undefined) => podUid === undefined || uid === podUid;
    for (const [id, e] of this.#cache) if (!seen.has(id) && inScope(e.observed?.podUid)) this.#cache.delete(id);
    if (podUid === undefined) {
      for (const id of this.#startErrors.keys()) if (!seen.has(id)) this.#startErrors.delete(id);
      for (const id of this.#forgets.keys()) if (!seen.has(id)) this.#forgets.delete(id);
      for (const id of this.#ownStarts) if (!seen.has(id)) this.#ownStarts.delete(id);
      for (const id of this.#podOf.keys()) if (!seen.has(id)) this.#podOf.delete(id);
    }
    await forEachLimit(stale, INSPECT_PARALLELISM, async ({ id, key }) => {
      const forgets = this.#forgets.get(id);
      const got = await this.#observe(id);
      if (got === null) return; // removed between list and inspect
      const observed = got.observed;
      if (this.#forgets.get(id) === forgets) this.#cache.set(id, { key, observed });
      if (observed) out.push(observed);
    });
    return out.map((o) => ({ ...o, annotations: { ...o.annotations } }));
  }

  /**
   * Inspects the given containers (gone or foreign ones left out). A result whose list change key is
   * known from the inspect alone is cached, so the next list does not inspect the container again.
   */
  async inspect(ids: readonly string[]): Promise<ObservedContainer[]> {
    const out: ObservedContainer[] = [];
    await forEachLimit([...ids], INSPECT_PARALLELISM, async (id) => {
      const forgets = this.#forgets.get(id);
      const got = await this.#observe(id);
      if (!got) return;
      if (got.key !== undefined && this.#forgets.get(id) === forgets) this.#cache.set(id, { key: got.key, observed: got.observed });
      if (got.observed) out.push(got.observed);
    });
    return out.map((o) => ({ ...o, annotations: { ...o.annotations } }));
  }

  #fromListEntry(c: Dockerode.ContainerInfo): ObservedContainer | undefined {
    const identity = identityFromLabels(c.Labels, parseDockerName(c.Names?.[0] ?? ''));
    if (!identity) return undefined;
    const o: ObservedContainer = {
      ...identity, id: c.Id, dockerName: (c.Names?.[0] ?? '').replace(/^\//, ''), state: 'created',
      image: c.Image, imageRef: this.#imageRefs.get(c.ImageID) ?? `docker://${c.ImageID}`,
      createdAt: new Date(c.Created * 1000).toISOString(), annotations: annotationsFromLabels(c.Labels),
    };
    const sb = c.Labels[Labels.sandboxId];
    if (sb) o.sandboxId = sb;
    const startError = this.#startErrors.get(c.Id);
    if (startError) o.error = startError;
    return o;
  }

  /** Inspect → ObservedContainer (undefined when not ours) and its list change key when known; null when gone. */
  async #observe(id: string): Promise<{ observed: ObservedContainer | undefined; key: string | undefined } | null> {
    let info: Dockerode.ContainerInspectInfo;
    try {
      info = await this.#docker().getContainer(id).inspect();
    } catch (err) {
      if (isNotFound(err)) return null;
      throw toDockerletError('inspect', err, { id });
    }
    try {
      this.onInspect?.(info);
    } catch (err) {
      this.#log().warn({ err }, 'inspect listener failed');
    }
    const observed = toObserved(info, await this.#imageRef(info.Image));
    if (observed?.podUid) this.#podOf.set(id, observed.podUid);
    if (!observed) this.#log().debug({ id, name: info.Name }, 'labelled container without a pod identity; ignored');
    return { observed, key: changeKeyOfInspect(info) };
  }

  async #imageRef(imageId: string): Promise<string> {
    const hit = this.#imageRefs.get(imageId);
    if (hit) return hit;
    let digests: string[] | undefined;
    try {
      digests = (await this.#docker().getImage(imageId).inspect()).RepoDigests;
    } catch (err) {
      if (!isNotFound(err)) throw toDockerletError('inspect-image', err, { image: imageId });
    }
    const ref = imageRefFor(imageId, digests);
    if (this.#imageRefs.size >= IMAGE_REF_CACHE_MAX) this.#imageRefs.clear();
    this.#imageRefs.set(imageId, ref);
    return ref;
  }
}

async function forEachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
