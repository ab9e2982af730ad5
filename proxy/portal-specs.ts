// What the portals need from the running listeners: per service port its IPs, ports, the listener
// (and the cluster listener for host traffic under externalTrafficPolicy Local), the route source
// of each UDP IP, and whether new connections are refused.
import { refusal } from './balancer.js';
import type { PortalSpec } from './portals.js';
import type { ServicePortEntry } from './types.js';

export interface RunningPort {
  entry: ServicePortEntry;
  listener: { readonly port: number };
}

/**
 * One spec per running listener. With wildcard listeners (bound to 0.0.0.0) each UDP IP gets the
 * source address of its route (see PortalSpec.replySources); a bound listener is DNATed to directly.
 */
export async function portalSpecs(
  running: Iterable<RunningPort>, nodeName: string, wildcard: boolean, routeSource: (ip: string) => Promise<string | undefined>,
): Promise<PortalSpec[]> {
  const all = [...running];
  const byKey = new Map(all.map((r) => [r.entry.key, r]));
  const specs: PortalSpec[] = [];
  for (const { entry: e, listener } of all) {
    const ips = [...e.clusterIPs, ...e.externalIPs];
    const spec: PortalSpec = { key: e.key, protocol: e.protocol, ips, port: e.port, nodePort: e.nodePort, listenerPort: listener.port };
    const hostPort = e.clusterKey ? byKey.get(e.clusterKey)?.listener.port : undefined;
    if (hostPort) spec.hostListenerPort = hostPort;
    if (e.protocol === 'UDP' && wildcard) {
      const replySources: Record<string, string> = {};
      for (const ip of ips) {
        const src = await routeSource(ip);
        if (src) replySources[ip] = src;
      }
      spec.replySources = replySources;
    }
    const refuse = refusal(e.endpoints, { nodeName, internalTrafficPolicy: e.internalTrafficPolicy });
    if (refuse) spec.refuse = refuse;
    specs.push(spec);
  }
  return specs;
}
