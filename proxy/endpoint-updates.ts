// Endpoint changes applied straight to the running listeners, as upstream's userspace proxier did
// (OnEndpointsUpdate went to LoadBalancerRR directly, no sync round): an EndpointSlice change whose
// service ports all run already, with the same Service settings, the same refusal (REJECT/DROP rules)
// and no Local traffic policy or health check port (whose health servers and metrics a sync keeps),
// needs no iptables change, so the new endpoints take effect for the next connection. Anything else
// waits for the coalesced sync. Also the per-Service index of slices this needs (kept from events).
import type { EndpointSlice, Service } from '../kube/api.js';
import { refusal } from './balancer.js';
import { listenerChanged, serviceChanged } from './diff.js';
import { buildServicePorts, LABEL_SERVICE_NAME } from './model.js';
import type { ServicePortEntry } from './types.js';

/** `ns/service` → slice name → slice. */
export class SliceIndex {
  readonly #bySvc = new Map<string, Map<string, EndpointSlice>>();

  static serviceKey(s: EndpointSlice): string | undefined {
    const svc = s.metadata.labels?.[LABEL_SERVICE_NAME];
    return svc ? `${s.metadata.namespace ?? ''}/${svc}` : undefined;
  }

  /** Rebuilt from a full list (the informer's store at a sync). */
  reset(slices: Iterable<EndpointSlice>): void {
    this.#bySvc.clear();
    for (const s of slices) this.put(s);
  }

  put(s: EndpointSlice): void {
    const key = SliceIndex.serviceKey(s);
    if (!key) return;
    let m = this.#bySvc.get(key);
    if (!m) this.#bySvc.set(key, (m = new Map()));
    m.set(s.metadata.name ?? '', s);
  }

  remove(s: EndpointSlice): void {
    const key = SliceIndex.serviceKey(s);
    if (!key) return;
    const m = this.#bySvc.get(key);
    m?.delete(s.metadata.name ?? '');
    if (m && m.size === 0) this.#bySvc.delete(key);
  }

  of(serviceKey: string): EndpointSlice[] {
    return [...(this.#bySvc.get(serviceKey)?.values() ?? [])];
  }
}

/**
 * The new entries of the Service's ports when its endpoint change can be applied in place, or
 * undefined when it needs a sync. `running(key)` is the entry a listener currently serves.
 */
export function planEndpointUpdate(
  svc: Service | undefined, slices: readonly EndpointSlice[], running: (key: string) => ServicePortEntry | undefined, nodeName: string,
): ServicePortEntry[] | undefined {
  if (!svc) return undefined;
  const desired = [...buildServicePorts([svc], slices).values()];
  if (desired.length === 0) return undefined;
  for (const to of desired) {
    const from = running(to.key);
    if (!from || listenerChanged(from, to) || serviceChanged(from, to)) return undefined;
    if (to.internalTrafficPolicy === 'Local' || to.healthCheckNodePort || to.clusterKey) return undefined;
    const policy = { nodeName, internalTrafficPolicy: to.internalTrafficPolicy };
    if (refusal(from.endpoints, policy) !== refusal(to.endpoints, policy)) return undefined;
  }
  return desired;
}
