// Per-service health check servers (kube-proxy's pkg/proxy/healthcheck/service_health.go): a Service
// with externalTrafficPolicy Local and a spec.healthCheckNodePort gets an HTTP server on that port.
// Any path answers JSON {service: {namespace, name}, localEndpoints, serviceProxyHealthy}, with 200
// when this node has a ready endpoint of the service and the proxy is healthy, else 503, so an
// external load balancer only sends traffic to nodes that can serve it locally.
import { errorMessage } from '../lib/errors.js';
import { partLogger, type Logger } from '../lib/log.js';
import { SmallHttpServer } from './health.js';
import type { ServicePortEntry } from './types.js';

export interface ServiceHealthTarget {
  namespace: string;
  name: string;
  /** Ready endpoints of the service on this node (distinct IPs over its ports). */
  localEndpoints: number;
}

/** The wanted servers: health check node port → service and its local ready endpoints (pure). */
export function serviceHealthTargets(entries: Iterable<ServicePortEntry>, nodeName: string): Map<number, ServiceHealthTarget> {
  const ips = new Map<number, { namespace: string; name: string; ips: Set<string> }>();
  for (const e of entries) {
    const port = e.healthCheckNodePort;
    if (!port) continue;
    let t = ips.get(port);
    if (!t) ips.set(port, (t = { namespace: e.namespace, name: e.service, ips: new Set() }));
    for (const ep of e.endpoints) if (ep.ready && ep.nodeName === nodeName) t.ips.add(ep.ip);
  }
  return new Map([...ips].map(([port, t]) => [port, { namespace: t.namespace, name: t.name, localEndpoints: t.ips.size }]));
}

/** The body upstream writes (tab-indented JSON). */
export function serviceHealthBody(t: ServiceHealthTarget, proxyHealthy: boolean): string {
  return JSON.stringify({ service: { namespace: t.namespace, name: t.name }, localEndpoints: t.localEndpoints, serviceProxyHealthy: proxyHealthy }, null, '\t');
}

interface Served {
  target: ServiceHealthTarget;
  server: SmallHttpServer;
}

export class ServiceHealthServers {
  readonly #host: string;
  readonly #proxyHealthy: () => boolean;
  readonly #log: Logger;
  readonly #servers = new Map<number, Served>();
  readonly #failed = new Map<number, string>();

  constructor(opts: { host?: string; proxyHealthy: () => boolean; log?: Logger }) {
    this.#host = opts.host ?? '0.0.0.0';
    this.#proxyHealthy = opts.proxyHealthy;
    this.#log = partLogger(opts.log, 'service-health');
  }

  /** Opens, updates and closes servers to match; returns false when a port could not be opened (retried next sync). */
  async sync(wanted: ReadonlyMap<number, ServiceHealthTarget>): Promise<boolean> {
    for (const [port, s] of this.#servers) {
      const t = wanted.get(port);
      if (t && t.namespace === s.target.namespace && t.name === s.target.name) continue;
      this.#servers.delete(port);
      await s.server.stop();
      this.#log.info({ healthCheckNodePort: port, service: `${s.target.namespace}/${s.target.name}` }, 'closed service health check server');
    }
    let ok = true;
    this.#failed.clear();
    for (const [port, target] of wanted) {
      const have = this.#servers.get(port);
      if (have) { have.target = target; continue; }
      const served: Served = { target, server: new SmallHttpServer('service health check', { host: this.#host, port, log: this.#log }, (_req, res) => {
        const healthy = this.#proxyHealthy();
        const t = served.target;
        res.writeHead(t.localEndpoints > 0 && healthy ? 200 : 503, {
          'content-type': 'application/json', 'x-content-type-options': 'nosniff', 'x-load-balancing-endpoint-weight': String(t.localEndpoints),
        });
        res.end(serviceHealthBody(t, healthy));
      }) };
      try {
        await served.server.start();
        this.#servers.set(port, served);
        this.#log.info({ healthCheckNodePort: port, service: `${target.namespace}/${target.name}` }, 'opened service health check server');
      } catch (err) {
        ok = false;
        this.#failed.set(port, errorMessage(err));
        this.#log.error({ healthCheckNodePort: port, err }, 'could not open a service health check server; will retry at the next sync');
      }
    }
    return ok;
  }

  /** Ports that could not be opened at the last sync → the error. */
  failed(): ReadonlyMap<number, string> {
    return this.#failed;
  }

  ports(): number[] {
    return [...this.#servers.keys()];
  }

  async stop(): Promise<void> {
    const all = [...this.#servers.values()];
    this.#servers.clear();
    await Promise.all(all.map((s) => s.server.stop()));
  }
}
