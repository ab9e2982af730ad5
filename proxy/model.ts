// Pure join of Services and EndpointSlices into the desired table of service ports
// (mirrors kube-proxy's endpointslicecache.go: service-name label, port match by name+protocol,
// addresses[0], nil-condition defaults, dedup by ip:port preferring non-terminating endpoints).
import type { EndpointSlice, Service } from '../kube/api.js';
import { DEFAULT_AFFINITY_TIMEOUT_SECONDS, type EndpointInfo, type Protocol, type ServicePortEntry } from './types.js';
import { isIPv4, parseCidr4 } from './cidr.js';

export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
export const LABEL_SERVICE_PROXY_NAME = 'service.kubernetes.io/service-proxy-name';
export const LABEL_HEADLESS = 'service.kubernetes.io/headless';
/** The label selector kube-proxy puts on both informers. */
export const PROXY_LABEL_SELECTOR = `!${LABEL_SERVICE_PROXY_NAME},!${LABEL_HEADLESS}`;

export { isIPv4 };

export function servicePortKey(ns: string, svc: string, portName: string): string {
  return `${ns}/${svc}:${portName}`;
}

/** Why a Service is not proxied at all, or undefined when it is. */
export function skipReason(svc: Service): string | undefined {
  if (!svc.spec) return 'no spec';
  if (svc.metadata.labels?.[LABEL_SERVICE_PROXY_NAME] !== undefined) return 'service-proxy-name';
  if (svc.spec.type === 'ExternalName') return 'ExternalName';
  if (svc.spec.clusterIP === 'None' || svc.spec.clusterIPs?.[0] === 'None') return 'headless';
  if (clusterIPv4s(svc).length === 0) return 'no IPv4 cluster IP';
  return undefined;
}

function clusterIPv4s(svc: Service): string[] {
  const ips = svc.spec.clusterIPs?.length ? svc.spec.clusterIPs : svc.spec.clusterIP ? [svc.spec.clusterIP] : [];
  return ips.filter(isIPv4);
}

/**
 * The addresses outside traffic arrives on: spec.externalIPs, and for a LoadBalancer the ingress IPs
 * in its status (not those with ipMode Proxy: that load balancer delivers to the node itself).
 */
function externalIPv4s(svc: Service): string[] {
  return [...new Set([...(svc.spec.externalIPs ?? []), ...loadBalancerIPv4s(svc)])].filter(isIPv4);
}

function loadBalancerIPv4s(svc: Service): string[] {
  if (svc.spec.type !== 'LoadBalancer') return [];
  return (svc.status?.loadBalancer?.ingress ?? []).filter((i) => i.ipMode !== 'Proxy').map((i) => i.ip).filter(isIPv4);
}

/** The legacy form of spec.loadBalancerSourceRanges, used when the field is empty (as upstream does). */
export const ANNOTATION_SOURCE_RANGES = 'service.beta.kubernetes.io/load-balancer-source-ranges';

/** A LoadBalancer's source ranges as canonical IPv4 CIDRs (IPv6 and malformed ones are skipped). */
function sourceRanges(svc: Service): string[] {
  if (svc.spec.type !== 'LoadBalancer') return [];
  const field = svc.spec.loadBalancerSourceRanges ?? [];
  const raw = field.length ? field : (svc.metadata.annotations?.[ANNOTATION_SOURCE_RANGES] ?? '').split(',');
  return [...new Set(raw.map(parseCidr4).filter((c): c is string => c !== undefined))];
}

/** Endpoints of all slices that belong to one service, grouped by `portName/protocol`. */
type PortEndpoints = Map<string, Map<string, EndpointInfo>>;

function endpointFromSlice(ep: EndpointSlice['endpoints'][number], port: number): EndpointInfo | undefined {
  const ip = ep.addresses?.[0];
  if (!isIPv4(ip)) return undefined;
  const ready = ep.conditions?.ready ?? true;
  const serving = ep.conditions?.serving ?? ready;
  const terminating = ep.conditions?.terminating ?? false;
  const info: EndpointInfo = { ip, port, ready, serving, terminating };
  if (ep.nodeName) info.nodeName = ep.nodeName;
  const zones = (ep.hints?.forZones ?? []).map((z) => z.name).filter(Boolean);
  const nodes = (ep.hints?.forNodes ?? []).map((n) => n.name).filter(Boolean);
  if (zones.length) info.zoneHints = zones;
  if (nodes.length) info.nodeHints = nodes;
  return info;
}

/** Indexes slices by `ns/service` → `portName/protocol` → `ip:port` → endpoint. */
export function indexSlices(slices: Iterable<EndpointSlice>): Map<string, PortEndpoints> {
  const bySvc = new Map<string, PortEndpoints>();
  for (const slice of slices) {
    const svcName = slice.metadata.labels?.[LABEL_SERVICE_NAME];
    if (!svcName || slice.addressType !== 'IPv4') continue;
    const svcKey = `${slice.metadata.namespace ?? ''}/${svcName}`;
    let ports = bySvc.get(svcKey);
    if (!ports) bySvc.set(svcKey, (ports = new Map()));
    for (const p of slice.ports ?? []) {
      if (p.name === undefined || p.name === null || !p.port) continue;
      const pk = `${p.name}/${p.protocol ?? 'TCP'}`;
      let eps = ports.get(pk);
      if (!eps) ports.set(pk, (eps = new Map()));
      for (const ep of slice.endpoints ?? []) {
        const info = endpointFromSlice(ep, p.port);
        if (!info) continue;
        const k = `${info.ip}:${info.port}`;
        const prev = eps.get(k);
        // The same ip:port in two slices (pod IP reuse): a non-terminating endpoint wins.
        if (!prev || (prev.terminating && !info.terminating)) eps.set(k, info);
      }
    }
  }
  return bySvc;
}

function compareEndpoints(a: EndpointInfo, b: EndpointInfo): number {
  return a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.port - b.port;
}

/** The desired table: one entry per proxied (TCP/UDP) service port, keyed `ns/svc:portName`. */
export function buildServicePorts(services: Iterable<Service>, slices: Iterable<EndpointSlice>): Map<string, ServicePortEntry> {
  const index = indexSlices(slices);
  const out = new Map<string, ServicePortEntry>();
  for (const svc of services) {
    if (skipReason(svc)) continue;
    const ns = svc.metadata.namespace ?? '';
    const name = svc.metadata.name ?? '';
    const portsIndex = index.get(`${ns}/${name}`);
    const affinity = svc.spec.sessionAffinity === 'ClientIP' ? 'ClientIP' : 'None';
    const timeout = svc.spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
    for (const sp of svc.spec.ports ?? []) {
      const protocol = sp.protocol ?? 'TCP';
      if (protocol !== 'TCP' && protocol !== 'UDP') continue;
      const portName = sp.name ?? '';
      const eps = portsIndex?.get(`${portName}/${protocol}`);
      const entry: ServicePortEntry = {
        key: servicePortKey(ns, name, portName),
        namespace: ns,
        service: name,
        portName,
        protocol: protocol as Protocol,
        clusterIPs: clusterIPv4s(svc),
        externalIPs: externalIPv4s(svc),
        port: sp.port,
        nodePort: svc.spec.type === 'NodePort' || svc.spec.type === 'LoadBalancer' ? (sp.nodePort ?? 0) : 0,
        sessionAffinity: affinity,
        affinityTimeoutSeconds: timeout && timeout > 0 ? timeout : DEFAULT_AFFINITY_TIMEOUT_SECONDS,
        internalTrafficPolicy: svc.spec.internalTrafficPolicy === 'Local' ? 'Local' : 'Cluster',
        endpoints: eps ? [...eps.values()].sort(compareEndpoints) : [],
      };
      const ranges = sourceRanges(svc);
      if (ranges.length) {
        entry.sourceRanges = ranges;
        entry.firewalledIPs = loadBalancerIPv4s(svc);
      }
      out.set(entry.key, entry);
      const external = externalEntry(svc, entry);
      if (external) {
        out.set(external.key, external);
        entry.externalIPs = [];
        entry.nodePort = 0;
        delete entry.sourceRanges;
        delete entry.firewalledIPs;
      }
    }
  }
  return out;
}

const EXTERNAL_KEY_SUFFIX = '/external';

/**
 * Under externalTrafficPolicy Local, the NodePort and externalIPs of a service port move to an entry
 * of their own that selects only this node's endpoints (none ⇒ dropped, so a load balancer's health
 * check moves traffic elsewhere); the cluster entry keeps the ClusterIPs.
 */
function externalEntry(svc: Service, entry: ServicePortEntry): ServicePortEntry | undefined {
  if (svc.spec.externalTrafficPolicy !== 'Local' || (entry.nodePort === 0 && entry.externalIPs.length === 0)) return undefined;
  const ext: ServicePortEntry = {
    ...entry, key: `${entry.key}${EXTERNAL_KEY_SUFFIX}`, clusterIPs: [], internalTrafficPolicy: 'Local', clusterKey: entry.key,
  };
  const hc = svc.spec.healthCheckNodePort;
  if (hc && hc > 0) ext.healthCheckNodePort = hc;
  return ext;
}
