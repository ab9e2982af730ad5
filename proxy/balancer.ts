// Pure endpoint selection: which endpoints are usable (ready → serving+terminating fallback,
// internalTrafficPolicy Local), round robin over them, and ClientIP affinity with a sliding timeout.
import { systemClock, type Clock } from '../lib/clock.js';
import { DEFAULT_AFFINITY_TIMEOUT_SECONDS, type EndpointInfo, type ServicePortEntry, type Target } from './types.js';

export interface SelectionPolicy {
  nodeName: string;
  internalTrafficPolicy: 'Cluster' | 'Local';
  /** This node's topology.kubernetes.io/zone label ('' or absent: none). */
  zone?: string;
}

export type TopologyMode = 'PreferSameNode' | 'PreferSameZone' | '';

/**
 * kube-proxy's topologyModeFromHints: PreferSameNode when every ready endpoint has node hints and one
 * is for this node; else PreferSameZone when every ready endpoint has zone hints and one is for this
 * node's zone; else none (hints are ignored, every endpoint is used).
 */
export function topologyMode(endpoints: readonly EndpointInfo[], nodeName: string, zone: string): TopologyMode {
  const ready = endpoints.filter((e) => e.ready);
  if (ready.length === 0) return '';
  if (ready.every((e) => e.nodeHints?.length) && ready.some((e) => e.nodeHints!.includes(nodeName))) return 'PreferSameNode';
  if (zone && ready.every((e) => e.zoneHints?.length) && ready.some((e) => e.zoneHints!.includes(zone))) return 'PreferSameZone';
  return '';
}

function availableForTopology(e: EndpointInfo, mode: TopologyMode, nodeName: string, zone: string): boolean {
  if (mode === 'PreferSameNode') return e.nodeHints?.includes(nodeName) ?? false;
  if (mode === 'PreferSameZone') return e.zoneHints?.includes(zone) ?? false;
  return true;
}

/**
 * kube-proxy's CategorizeEndpoints for cluster traffic: ready endpoints (narrowed by topology hints
 * when they apply); if there are none, the serving-and-terminating ones; with internalTrafficPolicy
 * Local only endpoints on this node (hints do not apply there). An empty result means "reject".
 */
export function usableEndpoints(endpoints: readonly EndpointInfo[], policy: SelectionPolicy): EndpointInfo[] {
  const local = policy.internalTrafficPolicy === 'Local';
  const candidates = local ? endpoints.filter((e) => e.nodeName === policy.nodeName) : endpoints;
  const zone = policy.zone ?? '';
  const mode = local ? '' : topologyMode(candidates, policy.nodeName, zone);
  const fits = (e: EndpointInfo) => availableForTopology(e, mode, policy.nodeName, zone);
  const ready = candidates.filter((e) => e.ready && fits(e));
  if (ready.length > 0) return ready;
  return candidates.filter((e) => e.serving && e.terminating && fits(e));
}

/**
 * What the packet filter does with new connections (kube-proxy's filter KUBE-SERVICES): REJECT when
 * the service port has no usable endpoint anywhere, DROP when it has some but none on this node under
 * internalTrafficPolicy Local, nothing (undefined) when the listener has somewhere to send them.
 */
export function refusal(endpoints: readonly EndpointInfo[], policy: SelectionPolicy): 'REJECT' | 'DROP' | undefined {
  if (usableEndpoints(endpoints, { ...policy, internalTrafficPolicy: 'Cluster' }).length === 0) return 'REJECT';
  if (policy.internalTrafficPolicy === 'Local' && usableEndpoints(endpoints, policy).length === 0) return 'DROP';
  return undefined;
}

/**
 * kubeproxy_sync_proxy_rules_no_local_endpoints_total: service ports whose Local policy leaves them
 * without endpoints here while they have some elsewhere (traffic is dropped), by internal (a cluster
 * entry under internalTrafficPolicy Local) and external (an externalTrafficPolicy Local entry).
 */
export function noLocalEndpoints(entries: Iterable<ServicePortEntry>, nodeName: string): { internal: number; external: number } {
  const out = { internal: 0, external: 0 };
  for (const e of entries) {
    if (e.internalTrafficPolicy !== 'Local' || refusal(e.endpoints, { nodeName, internalTrafficPolicy: 'Local' }) !== 'DROP') continue;
    if (e.clusterKey) out.external++;
    else out.internal++;
  }
  return out;
}

export interface BalancerConfig extends SelectionPolicy {
  sessionAffinity: 'None' | 'ClientIP';
  affinityTimeoutSeconds: number;
}

interface Affinity {
  target: Target;
  lastUsed: number;
}

export class Balancer {
  #config: BalancerConfig;
  readonly #clock: Clock;
  #targets: Target[] = [];
  #byKey = new Map<string, Target>();
  #index = 0;
  #affinity = new Map<string, Affinity>();
  #lastInput: readonly EndpointInfo[] | undefined;

  constructor(config: BalancerConfig, clock: Clock = systemClock) {
    this.#config = { ...config };
    this.#clock = clock;
  }

  /** ClientIP affinity is on (the caller must pass real client addresses). */
  get sticky(): boolean {
    return this.#config.sessionAffinity === 'ClientIP';
  }

  get config(): Readonly<BalancerConfig> {
    return this.#config;
  }

  setConfig(config: BalancerConfig): void {
    const policyChanged = config.nodeName !== this.#config.nodeName
      || config.internalTrafficPolicy !== this.#config.internalTrafficPolicy || (config.zone ?? '') !== (this.#config.zone ?? '');
    if (config.sessionAffinity !== 'ClientIP' || config.affinityTimeoutSeconds !== this.#config.affinityTimeoutSeconds) {
      this.#affinity.clear();
    }
    this.#config = { ...config };
    if (policyChanged) this.refresh();
  }

  /** Replaces the endpoint list (all endpoints of the slice; selection is applied here). */
  update(endpoints: readonly EndpointInfo[]): void {
    this.#lastInput = endpoints;
    const usable = usableEndpoints(endpoints, this.#config);
    const next: Target[] = [];
    const byKey = new Map<string, Target>();
    for (const e of usable) {
      const key = `${e.ip}:${e.port}`;
      const t = this.#byKey.get(key) ?? { ip: e.ip, port: e.port, key };
      next.push(t);
      byKey.set(key, t);
    }
    this.#targets = next;
    this.#byKey = byKey;
    if (this.#index >= next.length) this.#index = 0;
    for (const [ip, a] of this.#affinity) if (!byKey.has(a.target.key)) this.#affinity.delete(ip);
  }

  /** Re-applies the selection to the last endpoint list (after a policy change). */
  refresh(): void {
    if (this.#lastInput) this.update(this.#lastInput);
  }

  /** The usable targets, in round-robin order. */
  targets(): readonly Target[] {
    return this.#targets;
  }

  get size(): number {
    return this.#targets.length;
  }

  /**
   * The next target for a client, or undefined when there is none (reject).
   * resetAffinity: ignore stickiness (a previous dial failed) and move on in round robin.
   */
  next(clientIP: string, resetAffinity = false): Target | undefined {
    const n = this.#targets.length;
    if (n === 0) return undefined;
    const sticky = this.#config.sessionAffinity === 'ClientIP';
    let now = 0;
    if (sticky) {
      now = this.#clock.now();
      const a = this.#affinity.get(clientIP);
      if (a && !resetAffinity && now - a.lastUsed < this.ttlMs()) {
        a.lastUsed = now;
        return a.target;
      }
    }
    if (this.#index >= n) this.#index = 0;
    const t = this.#targets[this.#index]!;
    this.#index = this.#index + 1 === n ? 0 : this.#index + 1;
    if (sticky) {
      const a = this.#affinity.get(clientIP);
      if (a) { a.target = t; a.lastUsed = now; } else this.#affinity.set(clientIP, { target: t, lastUsed: now });
    }
    return t;
  }

  ttlMs(): number {
    const s = this.#config.affinityTimeoutSeconds > 0 ? this.#config.affinityTimeoutSeconds : DEFAULT_AFFINITY_TIMEOUT_SECONDS;
    return s * 1000;
  }

  /** Drops expired ClientIP affinity records (run at every sync). Returns how many were dropped. */
  cleanupStaleAffinity(): number {
    const now = this.#clock.now();
    const ttl = this.ttlMs();
    let n = 0;
    for (const [ip, a] of this.#affinity) {
      if (now - a.lastUsed >= ttl) { this.#affinity.delete(ip); n++; }
    }
    return n;
  }

  affinityCount(): number {
    return this.#affinity.size;
  }
}
