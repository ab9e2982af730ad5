// Pure "did this service port change" helpers and the table diff the proxier applies.
import type { EndpointInfo, ServicePortEntry } from './types.js';

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The listener must be replaced (a TCP listener cannot serve UDP). */
export function listenerChanged(a: ServicePortEntry, b: ServicePortEntry): boolean {
  return a.protocol !== b.protocol;
}

/** The iptables portals for this port differ. */
export function portalChanged(a: ServicePortEntry, b: ServicePortEntry): boolean {
  return a.protocol !== b.protocol || a.port !== b.port || a.nodePort !== b.nodePort
    || !sameList(a.clusterIPs, b.clusterIPs) || !sameList(a.externalIPs, b.externalIPs)
    || !sameList(a.sourceRanges ?? [], b.sourceRanges ?? []) || !sameList(a.firewalledIPs ?? [], b.firewalledIPs ?? []);
}

/** Selection settings (affinity, traffic policy) differ. */
export function balancerConfigChanged(a: ServicePortEntry, b: ServicePortEntry): boolean {
  return a.sessionAffinity !== b.sessionAffinity || a.affinityTimeoutSeconds !== b.affinityTimeoutSeconds
    || a.internalTrafficPolicy !== b.internalTrafficPolicy;
}

export function sameEndpoint(a: EndpointInfo, b: EndpointInfo): boolean {
  return a.ip === b.ip && a.port === b.port && a.ready === b.ready && a.serving === b.serving
    && a.terminating === b.terminating && a.nodeName === b.nodeName
    && sameList(a.zoneHints ?? [], b.zoneHints ?? []) && sameList(a.nodeHints ?? [], b.nodeHints ?? []);
}

/** Endpoint lists differ (both are sorted by the model). */
export function endpointsChanged(a: readonly EndpointInfo[], b: readonly EndpointInfo[]): boolean {
  if (a.length !== b.length) return true;
  for (let i = 0; i < a.length; i++) if (!sameEndpoint(a[i]!, b[i]!)) return true;
  return false;
}

export function serviceChanged(a: ServicePortEntry, b: ServicePortEntry): boolean {
  return portalChanged(a, b) || balancerConfigChanged(a, b);
}

export interface TableDiff {
  added: ServicePortEntry[];
  removed: ServicePortEntry[];
  /** Same key, listener must be re-created (protocol change). */
  replaced: { from: ServicePortEntry; to: ServicePortEntry }[];
  /** Same key and listener; something else changed (portal, balancer config or endpoints). */
  updated: { from: ServicePortEntry; to: ServicePortEntry }[];
  /** How many keys had a service-level / endpoint-level change (for metrics). */
  serviceChanges: number;
  endpointChanges: number;
}

export function diffTables(current: ReadonlyMap<string, ServicePortEntry>, desired: ReadonlyMap<string, ServicePortEntry>): TableDiff {
  const d: TableDiff = { added: [], removed: [], replaced: [], updated: [], serviceChanges: 0, endpointChanges: 0 };
  for (const [key, to] of desired) {
    const from = current.get(key);
    if (!from) {
      d.added.push(to);
      d.serviceChanges++;
      if (to.endpoints.length) d.endpointChanges++;
      continue;
    }
    const svcCh = serviceChanged(from, to);
    const epCh = endpointsChanged(from.endpoints, to.endpoints);
    if (svcCh) d.serviceChanges++;
    if (epCh) d.endpointChanges++;
    if (listenerChanged(from, to)) d.replaced.push({ from, to });
    else if (svcCh || epCh) d.updated.push({ from, to });
  }
  for (const [key, from] of current) {
    if (!desired.has(key)) {
      d.removed.push(from);
      d.serviceChanges++;
      if (from.endpoints.length) d.endpointChanges++;
    }
  }
  return d;
}
