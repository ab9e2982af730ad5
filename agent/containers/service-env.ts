// Service environment variables, as the kubelet builds them (pkg/kubelet/kubelet_pods.go
// getServiceEnvVarMap, pkg/kubelet/envvars/envvars.go FromServices): for every Service with a cluster
// IP in the pod's namespace (only when enableServiceLinks) plus default/kubernetes (always),
// {NAME}_SERVICE_HOST, {NAME}_SERVICE_PORT, {NAME}_SERVICE_PORT_{PORTNAME} and the Docker link
// variables {NAME}_PORT, {NAME}_PORT_{port}_{PROTO}[_PROTO|_PORT|_ADDR]. Until the Service informer
// has synced once the pod cannot start (upstream: "services have not yet been read at least once").
import { isIPv6 } from 'node:net';
import type { Service } from '../../kube/api-network.js';
import type { Informer } from '../../kube/types.js';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';

/** Services from the default namespace that every pod sees (upstream masterServices). */
const MASTER_SERVICES = new Set(['kubernetes']);

function isServiceIPSet(s: Service): boolean {
  const ip = s.spec.clusterIP;
  return ip !== undefined && ip !== '' && ip !== 'None';
}

function envName(s: string): string {
  return s.replace(/-/g, '_').toUpperCase();
}

function joinHostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** envvars.FromServices for one service, in upstream's order. */
export function serviceVars(s: Service): [string, string][] {
  const ports = s.spec.ports ?? [];
  const ip = s.spec.clusterIP;
  if (!isServiceIPSet(s) || !ip || ports.length === 0) return [];
  const prefix = envName(s.metadata.name ?? '');
  const out: [string, string][] = [];
  out.push([`${prefix}_SERVICE_HOST`, ip]);
  out.push([`${prefix}_SERVICE_PORT`, String(ports[0]!.port)]);
  for (const p of ports) if (p.name) out.push([`${prefix}_SERVICE_PORT_${envName(p.name)}`, String(p.port)]);
  ports.forEach((p, i) => {
    const proto = p.protocol ?? 'TCP';
    const url = `${proto.toLowerCase()}://${joinHostPort(ip, p.port)}`;
    if (i === 0) out.push([`${prefix}_PORT`, url]);
    const pp = `${prefix}_PORT_${p.port}_${proto.toUpperCase()}`;
    out.push([pp, url], [`${pp}_PROTO`, proto.toLowerCase()], [`${pp}_PORT`, String(p.port)], [`${pp}_ADDR`, ip]);
  });
  return out;
}

/** getServiceEnvVarMap over a list of every Service. */
export function serviceEnvFor(services: readonly Service[], namespace: string, enableServiceLinks: boolean): Record<string, string> {
  const chosen = new Map<string, Service>();
  for (const s of services) {
    if (!isServiceIPSet(s)) continue;
    const name = s.metadata.name ?? '';
    if (s.metadata.namespace === 'default' && MASTER_SERVICES.has(name)) {
      if (!chosen.has(name)) chosen.set(name, s);
    } else if (s.metadata.namespace === namespace && enableServiceLinks) {
      chosen.set(name, s);
    }
  }
  const env: Record<string, string> = {};
  for (const s of chosen.values()) for (const [k, v] of serviceVars(s)) env[k] = v;
  return env;
}

/** The EnvSources.serviceEnv hook over a Service informer (all namespaces). */
export function informerServiceEnv(inf: Pick<Informer<Service>, 'list' | 'hasSynced'>): (namespace: string, enableServiceLinks: boolean, isStatic?: boolean) => Promise<Record<string, string>> {
  return async (namespace, enableServiceLinks, isStatic = false) => {
    // Upstream: an API pod waits for the first Service list; a static pod (which may run before there
    // is an API server) goes on with what is known.
    if (!inf.hasSynced() && !isStatic) {
      throw new DockerletError(ErrorCodes.CONTAINER_CONFIG, 'services have not yet been read at least once, cannot construct envvars', {
        details: { reason: 'CreateContainerConfigError' },
      });
    }
    return serviceEnvFor(inf.list(), namespace, enableServiceLinks);
  };
}
