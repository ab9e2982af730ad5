// Which EndpointSlice changes go straight to the running listeners (as upstream's userspace proxier's
// endpoint handler did) and which wait for a sync (iptables, health servers, new listeners).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointSlice, Service } from '../../../kube/api.js';
import { planEndpointUpdate, SliceIndex } from '../../../proxy/endpoint-updates.js';
import { buildServicePorts } from '../../../proxy/model.js';
import type { ServicePortEntry } from '../../../proxy/types.js';

const svc = (spec: Partial<Service['spec']> = {}): Service => ({
  metadata: { namespace: 'default', name: 'web' },
  spec: { type: 'ClusterIP', clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, protocol: 'TCP' }], ...spec },
});
const slice = (name: string, ips: string[], extra: Partial<EndpointSlice['endpoints'][number]> = {}): EndpointSlice => ({
  metadata: { namespace: 'default', name, labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true }, ...extra })),
});
/** What a listener serves after a sync of (service, slices). */
const runningOf = (s: Service, slices: EndpointSlice[]) => {
  const m = buildServicePorts([s], slices);
  return (k: string): ServicePortEntry | undefined => m.get(k);
};

test('new endpoints of a running Cluster service port apply in place, from every slice of the Service', () => {
  const running = runningOf(svc(), [slice('a', ['10.0.0.1'])]);
  const plan = planEndpointUpdate(svc(), [slice('a', ['10.0.0.2']), slice('b', ['10.0.0.3'])], running, 'n1');
  assert.ok(plan);
  assert.deepEqual(plan.map((e) => e.key), ['default/web:http']);
  assert.deepEqual(plan[0]!.endpoints.map((e) => e.ip), ['10.0.0.2', '10.0.0.3']);
});

test('changes that need iptables, a new listener, or health/metrics a sync keeps wait for the sync', () => {
  const one = [slice('a', ['10.0.0.1'])];
  const next = [slice('a', ['10.0.0.2'])];
  assert.equal(planEndpointUpdate(undefined, next, runningOf(svc(), one), 'n1'), undefined, 'Service gone');
  assert.equal(planEndpointUpdate(svc(), next, () => undefined, 'n1'), undefined, 'no listener yet');
  // The last endpoint leaves: the REJECT rule must be written; and the first one back removes it.
  assert.equal(planEndpointUpdate(svc(), [slice('a', [])], runningOf(svc(), one), 'n1'), undefined);
  assert.equal(planEndpointUpdate(svc(), next, runningOf(svc(), [slice('a', [])]), 'n1'), undefined);
  // Only not-ready endpoints left is a refusal too.
  assert.equal(planEndpointUpdate(svc(), [slice('a', ['10.0.0.2'], { conditions: { ready: false, serving: false } })], runningOf(svc(), one), 'n1'), undefined);
  // The Service itself changed since the listener's entry (port, affinity): a sync.
  assert.equal(planEndpointUpdate(svc({ ports: [{ name: 'http', port: 81, protocol: 'TCP' }] }), next, runningOf(svc(), one), 'n1'), undefined);
  assert.equal(planEndpointUpdate(svc({ sessionAffinity: 'ClientIP' }), next, runningOf(svc(), one), 'n1'), undefined);
  // Local policies: the no-local-endpoints metric and health check servers follow endpoints.
  const local = svc({ internalTrafficPolicy: 'Local' });
  assert.equal(planEndpointUpdate(local, next, runningOf(local, one), 'n1'), undefined);
  const lb = svc({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }] });
  assert.equal(planEndpointUpdate(lb, next, runningOf(lb, one), 'n1'), undefined);
});

test('SliceIndex keeps slices per Service across put/remove/reset', () => {
  const idx = new SliceIndex();
  idx.put(slice('a', ['10.0.0.1']));
  idx.put(slice('b', ['10.0.0.2']));
  idx.put(slice('a', ['10.0.0.3']));
  assert.deepEqual(idx.of('default/web').map((s) => s.endpoints[0]!.addresses[0]), ['10.0.0.3', '10.0.0.2']);
  idx.remove(slice('a', []));
  assert.deepEqual(idx.of('default/web').map((s) => s.metadata.name), ['b']);
  idx.put({ ...slice('x', ['10.0.0.9']), metadata: { namespace: 'default', name: 'x' } });
  assert.deepEqual(idx.of('default/web').map((s) => s.metadata.name), ['b'], 'a slice without the service-name label is not indexed');
  idx.reset([slice('c', ['10.0.0.4'])]);
  assert.deepEqual(idx.of('default/web').map((s) => s.metadata.name), ['c']);
  assert.deepEqual(idx.of('default/other'), []);
});
