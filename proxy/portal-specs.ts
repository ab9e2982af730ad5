// What the portals need from the running listeners: per service port its IPs, ports, the listener
// (and the cluster listener for host traffic under externalTrafficPolicy Local), the node address
// the host's own traffic to each IP is DNATed to (its route source, as upstream's userspace proxier
// DNATed to the node IP rather than loopback), and whether new connections are refused.
import { networkInterfaces } from 'node:os';
import { refusal } from './balancer.js';
import { cidrContains } from './cidr.js';
import type { RouteSourceLookup } from './host.js';
import type { PortalSpec } from './portals.js';
import type { ServicePortEntry } from './types.js';

export interface RunningPort {
  entry: ServicePortEntry;
  listener: { readonly port: number };
}

/**
 * One spec per running listener. With wildcard listeners (bound to 0.0.0.0) each IP gets the source
 * address of its route unless that is a loopback one, else the first of nodeIPs (see
 * PortalSpec.hostAddresses); a bound listener is DNATed to directly.
 */
export async function portalSpecs(
  running: Iterable<RunningPort>, nodeName: string, wildcard: boolean, routeSource: (ip: string) => Promise<string | undefined>,
  nodeIPs: () => readonly string[] = () => [],
): Promise<PortalSpec[]> {
  let ownIPs: readonly string[] | undefined;
  const all = [...running];
  // Route lookups run concurrently first (a cached routeSource then answers the loop below at once).
  if (wildcard) {
    const ips = all.flatMap((r) => [...r.entry.clusterIPs, ...r.entry.externalIPs]);
    const batch = (routeSource as RouteSourceLookup).prefetch;
    if (batch) await batch(ips);
    await prefetch(ips, routeSource);
  }
  const byKey = new Map(all.map((r) => [r.entry.key, r]));
  const specs: PortalSpec[] = [];
  for (const { entry: e, listener } of all) {
    const ips = [...e.clusterIPs, ...e.externalIPs];
    const spec: PortalSpec = { key: e.key, protocol: e.protocol, ips, port: e.port, nodePort: e.nodePort, listenerPort: listener.port };
    const hostPort = e.clusterKey ? byKey.get(e.clusterKey)?.listener.port : undefined;
    if (hostPort) spec.hostListenerPort = hostPort;
    if (wildcard) {
      const hostAddresses: Record<string, string> = {};
      for (const ip of ips) {
        const src = await routeSource(ip);
        if (src && !isLoopback(src)) { hostAddresses[ip] = src; continue; }
        ownIPs ??= nodeIPs();
        if (ownIPs[0]) hostAddresses[ip] = ownIPs[0];
      }
      spec.hostAddresses = hostAddresses;
    }
    const firewalled = (e.firewalledIPs ?? []).filter((ip) => ips.includes(ip));
    if (e.sourceRanges?.length && firewalled.length) {
      // As upstream: when a range holds this node's address, traffic the node sends to a load balancer
      // IP that is also local here (it arrives with that IP as its source) is let through too.
      ownIPs ??= nodeIPs();
      const fromNode = ownIPs.some((n) => e.sourceRanges!.some((r) => cidrContains(r, n)));
      spec.firewall = { ips: firewalled, sources: [...e.sourceRanges, ...(fromNode ? firewalled.map((ip) => `${ip}/32`) : [])] };
    }
    const refuse = refusal(e.endpoints, { nodeName, internalTrafficPolicy: e.internalTrafficPolicy });
    if (refuse) spec.refuse = refuse;
    specs.push(spec);
  }
  return specs;
}

/** Calls fn for each distinct ip, at most `parallel` at a time. */
async function prefetch(ips: readonly string[], fn: (ip: string) => Promise<unknown>, parallel = 64): Promise<void> {
  const todo = [...new Set(ips)];
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(parallel, todo.length) }, async () => {
    while (next < todo.length) await fn(todo[next++]!);
  }));
}

export function isLoopback(ip: string): boolean {
  return ip.startsWith('127.');
}

/** This host's IPv4 addresses, loopback excluded (upstream compares source ranges with the node IP). */
export function localIPv4s(): string[] {
  return Object.values(networkInterfaces()).flat().filter((a) => a && a.family === 'IPv4' && !a.internal).map((a) => a!.address);
}
