// The runtime cache (kubelet's PLEG relist): one list of every managed container, grouped by pod.
// refresh() is single-flight but never stale: a caller always gets a list that started after it asked.
import type { ContainerRuntime, ObservedContainer } from '../../runtime/types.js';
import { groupByPod } from './observed.js';

export class RuntimeCache {
  readonly #runtime: ContainerRuntime;
  #snapshot = new Map<string, ObservedContainer[]>();
  #inflight: Promise<Map<string, ObservedContainer[]>> | undefined;
  #next: Promise<Map<string, ObservedContainer[]>> | undefined;
  relists = 0;

  constructor(runtime: ContainerRuntime) {
    this.#runtime = runtime;
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

  async #list(): Promise<Map<string, ObservedContainer[]>> {
    const all = await this.#runtime.listManaged();
    this.relists++;
    this.#snapshot = groupByPod(all);
    return this.#snapshot;
  }
}
