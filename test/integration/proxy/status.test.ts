// The proxy's health and status servers as upstream's: /healthz on the health port follows the
// node's eligibility (KEP-3836), the metrics port also serves /healthz, /proxyMode and /configz, and
// a sync reports network programming latency and Local-policy services without local endpoints.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointSlice, Node, Service } from '../../../kube/api.js';
import { silentLogger } from '../../../lib/log.js';
import { Proxier } from '../../../proxy/proxier.js';
import { FakeInformer } from '../../../proxy/testing/fake-informer.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const svc = (name: string, spec: Service['spec']): Service => ({ metadata: { namespace: 'st', name }, spec });
const slice = (name: string, svcName: string, nodeName: string, trigger?: string): EndpointSlice => ({
  metadata: { namespace: 'st', name, labels: { 'kubernetes.io/service-name': svcName }, ...(trigger ? { annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': trigger } } : {}) },
  addressType: 'IPv4', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  endpoints: [{ addresses: ['127.0.0.9'], conditions: { ready: true }, nodeName }],
});

test('health follows node eligibility; 10249 serves /healthz, /proxyMode, /configz; programming latency and no-local-endpoints metrics', async () => {
  const services = new FakeInformer<Service>([
    svc('itp', { type: 'ClusterIP', clusterIP: '10.96.9.1', internalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80 }] }),
    svc('etp', { type: 'NodePort', clusterIP: '10.96.9.2', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30999 }] }),
  ]);
  const tenSecondsAgo = new Date(Date.now() - 10_000).toISOString();
  const slices = new FakeInformer<EndpointSlice>([]);
  const node = (o: Partial<Node['metadata']> = {}, taints: NonNullable<NonNullable<Node['spec']>['taints']> = []): Node => ({ metadata: { name: 'st-node', ...o }, spec: { taints } });
  const nodes = new FakeInformer<Node>([node()]);
  const proxier = new Proxier({
    services, slices, nodes, nodeName: 'st-node', log: silentLogger(), iptables: false, claimPorts: false,
    healthzPort: 0, healthzBindAddress: '127.0.0.1', metricsPort: 0, minSyncPeriodMs: 10, syncPeriodMs: 60_000, bindAddress: '127.0.0.1',
    configz: () => ({ mode: 'userspace', bindAddress: '127.0.0.1' }),
  });
  cleanups.push(() => proxier.stop());
  await proxier.start(new AbortController().signal);
  // Both services' endpoints live on another node; one slice carries the controller's trigger time.
  slices.upsert(slice('itp-1', 'itp', 'elsewhere', tenSecondsAgo));
  slices.upsert(slice('etp-1', 'etp', 'elsewhere'));
  const { health, metrics } = proxier.serverPorts();
  const get = async (port: number, path: string) => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: r.status, type: r.headers.get('content-type') ?? '', text: await r.text() };
  };
  const scrape = async () => (await get(metrics!, '/metrics')).text;
  await until(async () => /^kubeproxy_network_programming_duration_seconds_count 1$/m.test(await scrape()), 'the programming latency of the annotated slice');
  const text = await scrape();
  // 10 s ago: in the (9, 10] bucket or the next, never in the 0.5 s one.
  assert.match(text, /^kubeproxy_network_programming_duration_seconds_bucket\{le="0.5"\} 0$/m);
  assert.match(text, /^kubeproxy_network_programming_duration_seconds_bucket\{le="300"\} 1$/m);
  assert.match(text, /^kubeproxy_sync_proxy_rules_no_local_endpoints_total\{traffic_policy="internal"\} 1$/m);
  assert.match(text, /^kubeproxy_sync_proxy_rules_no_local_endpoints_total\{traffic_policy="external"\} 1$/m);

  // The metrics port's other paths.
  assert.deepEqual(await get(metrics!, '/healthz'), { status: 200, type: 'text/plain; charset=utf-8', text: 'ok' });
  assert.deepEqual(await get(metrics!, '/proxyMode'), { status: 200, type: 'text/plain; charset=utf-8', text: 'userspace' });
  const configz = await get(metrics!, '/configz');
  assert.equal(configz.status, 200);
  assert.deepEqual(JSON.parse(configz.text), { 'kubeproxy.config.k8s.io': { mode: 'userspace', bindAddress: '127.0.0.1' } });

  // The health port: eligible → 200; tainted by the autoscaler or being deleted → /healthz 503, /livez still 200.
  const healthz = async () => { const r = await get(health!, '/healthz'); return { status: r.status, eligible: (JSON.parse(r.text) as { nodeEligible: boolean }).nodeEligible }; };
  assert.deepEqual(await healthz(), { status: 200, eligible: true });
  nodes.upsert(node({}, [{ key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule' }]));
  await until(async () => (await healthz()).status === 503, 'healthz 503 for a node the autoscaler is removing');
  assert.deepEqual(await healthz(), { status: 503, eligible: false });
  assert.equal((await get(health!, '/livez')).status, 200);
  nodes.upsert(node());
  await until(async () => (await healthz()).status === 200, 'healthz 200 once the taint is gone');
  nodes.upsert(node({ deletionTimestamp: new Date().toISOString() }));
  await until(async () => (await healthz()).status === 503, 'healthz 503 for a node being deleted');

  // A local endpoint for the internal-Local service: its count goes to 0.
  slices.upsert(slice('itp-1', 'itp', 'st-node'));
  await until(async () => /^kubeproxy_sync_proxy_rules_no_local_endpoints_total\{traffic_policy="internal"\} 0$/m.test(await scrape()), 'internal count back to 0');
});
