// The bench's writes to the bed's API server: selector-less ClusterIP Services (one TCP port) and
// their EndpointSlices written directly (managed-by the bench, so the EndpointSlice controller leaves
// them alone), stamped with endpoints.kubernetes.io/last-change-trigger-time as the controller would,
// over one keep-alive HTTPS agent with a bounded number of requests in flight.
import { Agent, request } from 'node:https';
import { loadKubeconfig } from '../../kube/kubeconfig.js';
import { tlsOptions } from '../../kube/connection.js';

export const NAMESPACE = 'proxy-scale';
export const SERVICE_PORT = 80;
export const ENDPOINT_PORT = 8080;
const TRIGGER = 'endpoints.kubernetes.io/last-change-trigger-time';

export interface Api {
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }>;
  close(): void;
}

export function apiFor(kubeconfigPath: string, maxSockets = 16): Api {
  const conn = loadKubeconfig(kubeconfigPath);
  const agent = new Agent({ keepAlive: true, maxSockets, ...tlsOptions(conn) });
  const call = <T>(method: string, path: string, body?: unknown) => new Promise<{ status: number; json: T }>((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    // 'PATCH-MERGE': a JSON merge patch.
    const merge = method === 'PATCH-MERGE';
    const req = request(`${conn.server}${path}`, {
      method: merge ? 'PATCH' : method, agent, timeout: 30_000,
      headers: { accept: 'application/json', ...(payload ? { 'content-type': merge ? 'application/merge-patch+json' : 'application/json' } : {}) },
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${path}`)));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try { json = JSON.parse(text); } catch { json = text; }
        resolve({ status: res.statusCode ?? 0, json: json as T });
      });
    });
    req.end(payload);
  });
  return { call, close: () => agent.destroy() };
}

async function must(api: Api, method: string, path: string, body?: unknown): Promise<unknown> {
  const r = await api.call(method, path, body);
  if (r.status >= 300) throw new Error(`${method} ${path}: HTTP ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
  return r.json;
}

export function serviceName(i: number): string {
  return `s${i}`;
}

export function sliceBody(i: number, ips: readonly string[], resourceVersion?: string): unknown {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: {
      name: `${serviceName(i)}-bench`, namespace: NAMESPACE,
      labels: { 'kubernetes.io/service-name': serviceName(i), 'endpointslice.kubernetes.io/managed-by': 'proxy-scale.bench.dockerlet.invalid' },
      annotations: { [TRIGGER]: new Date().toISOString() },
      ...(resourceVersion ? { resourceVersion } : {}),
    },
    addressType: 'IPv4',
    ports: [{ name: 'tcp', port: ENDPOINT_PORT, protocol: 'TCP' }],
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true, serving: true, terminating: false } })),
  };
}

/** Runs fn(i) for i in [from, to) with at most `parallel` in flight. */
export async function forEach(from: number, to: number, parallel: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = from;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < to) await fn(next++);
  }));
}

export async function ensureNamespace(api: Api): Promise<void> {
  const r = await api.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
  if (r.status >= 300 && r.status !== 409) throw new Error(`namespace: HTTP ${r.status}`);
}

/** Creates Services [from, to) with their slices; returns each new Service's ClusterIP by index. */
export async function createServices(api: Api, from: number, to: number, ips: (i: number) => string[], parallel = 12): Promise<Map<number, string>> {
  const clusterIPs = new Map<number, string>();
  await forEach(from, to, parallel, async (i) => {
    const svc = await must(api, 'POST', `/api/v1/namespaces/${NAMESPACE}/services`, {
      apiVersion: 'v1', kind: 'Service', metadata: { name: serviceName(i), namespace: NAMESPACE },
      spec: { type: 'ClusterIP', ports: [{ name: 'tcp', port: SERVICE_PORT, targetPort: ENDPOINT_PORT, protocol: 'TCP' }] },
    }) as { spec: { clusterIP: string } };
    clusterIPs.set(i, svc.spec.clusterIP);
    await must(api, 'POST', `/apis/discovery.k8s.io/v1/namespaces/${NAMESPACE}/endpointslices`, sliceBody(i, ips(i)));
  });
  return clusterIPs;
}

/** Replaces the endpoints of service i's slice (no resourceVersion: last writer wins); resolves at the API's answer. */
export async function updateSlice(api: Api, i: number, ips: readonly string[]): Promise<void> {
  await must(api, 'PUT', `/apis/discovery.k8s.io/v1/namespaces/${NAMESPACE}/endpointslices/${serviceName(i)}-bench`, sliceBody(i, ips));
}

export async function deleteNamespace(api: Api): Promise<void> {
  await api.call('DELETE', `/api/v1/namespaces/${NAMESPACE}`);
}

/** A Node object for a proxy under test (kube-proxy waits up to 31 s for its node's addresses otherwise). */
export async function ensureNode(api: Api, name: string, address: string): Promise<void> {
  const r = await api.call('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name } });
  if (r.status >= 300 && r.status !== 409) throw new Error(`node ${name}: HTTP ${r.status}`);
  const status = { status: { addresses: [{ type: 'InternalIP', address }, { type: 'Hostname', address: name }] } };
  const p = (await api.call('PATCH-MERGE', `/api/v1/nodes/${name}/status`, status)).status;
  if (p >= 300) throw new Error(`node ${name} status: HTTP ${p}`);
}
