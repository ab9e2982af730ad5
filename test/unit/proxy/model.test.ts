import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointSlice, Service } from '../../../kube/api.js';
import { buildServicePorts, skipReason } from '../../../proxy/model.js';

function svc(name: string, spec: Partial<Service['spec']>, labels?: Record<string, string>): Service {
  return { metadata: { namespace: 'default', name, labels }, spec: { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80 }], ...spec } };
}

function slice(name: string, service: string, endpoints: EndpointSlice['endpoints'], ports: EndpointSlice['ports'] = [{ name: 'http', port: 8080, protocol: 'TCP' }], addressType: EndpointSlice['addressType'] = 'IPv4'): EndpointSlice {
  return { metadata: { namespace: 'default', name, labels: { 'kubernetes.io/service-name': service } }, addressType, endpoints, ports };
}

test('joins a Service with its EndpointSlices by service-name label and port name', () => {
  const t = buildServicePorts(
    [svc('web', { ports: [{ name: 'http', port: 80 }, { name: 'metrics', port: 9090 }] })],
    [
      slice('web-a', 'web', [{ addresses: ['10.0.0.2'] }], [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'metrics', port: 9100, protocol: 'TCP' }]),
      slice('web-b', 'web', [{ addresses: ['10.0.0.1'], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'n1' }]),
      slice('other', 'api', [{ addresses: ['10.0.0.9'] }]),
    ],
  );
  assert.deepEqual([...t.keys()], ['default/web:http', 'default/web:metrics']);
  const http = t.get('default/web:http')!;
  assert.equal(http.protocol, 'TCP');
  assert.deepEqual(http.clusterIPs, ['10.96.0.10']);
  assert.equal(http.port, 80);
  assert.equal(http.nodePort, 0);
  assert.equal(http.sessionAffinity, 'None');
  assert.equal(http.affinityTimeoutSeconds, 10800);
  assert.equal(http.internalTrafficPolicy, 'Cluster');
  assert.deepEqual(http.endpoints, [
    { ip: '10.0.0.1', port: 8080, ready: false, serving: true, terminating: true, nodeName: 'n1' },
    { ip: '10.0.0.2', port: 8080, ready: true, serving: true, terminating: false },
  ]);
  assert.deepEqual(t.get('default/web:metrics')!.endpoints.map((e) => `${e.ip}:${e.port}`), ['10.0.0.2:9100']);
});

test('nil conditions: ready ⇒ true, serving ⇒ ready, terminating ⇒ false', () => {
  const t = buildServicePorts([svc('web', {})], [slice('s', 'web', [
    { addresses: ['10.0.0.1'] },
    { addresses: ['10.0.0.2'], conditions: { ready: false } },
  ])]);
  const eps = t.get('default/web:http')!.endpoints;
  assert.deepEqual(eps.map((e) => [e.ready, e.serving, e.terminating]), [[true, true, false], [false, false, false]]);
});

test('unnamed ports match slice ports named ""; protocol must match; slice ports without a name are ignored', () => {
  const t = buildServicePorts(
    [svc('dns', { ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP', name: 'tcp' }] })],
    [slice('d', 'dns', [{ addresses: ['10.0.0.5'] }], [{ name: '', port: 5353, protocol: 'UDP' }, { port: 1, protocol: 'TCP' }])],
  );
  assert.deepEqual(t.get('default/dns:')!.endpoints.map((e) => e.port), [5353]);
  assert.equal(t.get('default/dns:')!.protocol, 'UDP');
  assert.deepEqual(t.get('default/dns:tcp')!.endpoints, []);
});

test('skips headless, ExternalName, service-proxy-name and SCTP; ignores IPv6/FQDN slices', () => {
  assert.equal(skipReason(svc('h', { clusterIP: 'None' })), 'headless');
  assert.equal(skipReason(svc('e', { type: 'ExternalName', clusterIP: undefined })), 'ExternalName');
  assert.equal(skipReason(svc('p', {}, { 'service.kubernetes.io/service-proxy-name': 'other' })), 'service-proxy-name');
  const t = buildServicePorts(
    [svc('h', { clusterIP: 'None' }), svc('s', { ports: [{ name: 'x', port: 1, protocol: 'SCTP' }, { name: 'http', port: 80 }] })],
    [slice('v6', 's', [{ addresses: ['fd00::1'] }], undefined, 'IPv6')],
  );
  assert.deepEqual([...t.keys()], ['default/s:http']);
  assert.deepEqual(t.get('default/s:http')!.endpoints, []);
});

test('dedups ip:port across slices, a non-terminating endpoint wins', () => {
  const t = buildServicePorts([svc('web', {})], [
    slice('a', 'web', [{ addresses: ['10.0.0.1'], conditions: { ready: false, serving: false, terminating: true } }]),
    slice('b', 'web', [{ addresses: ['10.0.0.1'], conditions: { ready: true } }]),
  ]);
  assert.deepEqual(t.get('default/web:http')!.endpoints, [{ ip: '10.0.0.1', port: 8080, ready: true, serving: true, terminating: false }]);
});

test('NodePort, externalIPs, affinity and traffic policy are carried over', () => {
  const t = buildServicePorts([svc('np', {
    type: 'NodePort', clusterIPs: ['10.96.1.1', 'fd00::1'], externalIPs: ['192.0.2.10'],
    ports: [{ name: 'http', port: 80, nodePort: 30080 }],
    sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } }, internalTrafficPolicy: 'Local',
  })], []);
  const e = t.get('default/np:http')!;
  assert.deepEqual(e.clusterIPs, ['10.96.1.1']);
  assert.deepEqual(e.externalIPs, ['192.0.2.10']);
  assert.equal(e.nodePort, 30080);
  assert.equal(e.sessionAffinity, 'ClientIP');
  assert.equal(e.affinityTimeoutSeconds, 60);
  assert.equal(e.internalTrafficPolicy, 'Local');
});

test('externalTrafficPolicy Local: NodePort and externalIPs move to an external entry that selects local endpoints', () => {
  const eps = [{ addresses: ['10.0.0.1'], nodeName: 'n1' }, { addresses: ['10.0.0.2'], nodeName: 'n2' }];
  const t = buildServicePorts([svc('lb', {
    type: 'LoadBalancer', clusterIP: '10.96.1.2', externalIPs: ['10.99.0.1'], externalTrafficPolicy: 'Local', healthCheckNodePort: 31999,
    ports: [{ name: 'http', port: 80, nodePort: 30081 }],
  })], [slice('lb-a', 'lb', eps)]);
  assert.deepEqual([...t.keys()].sort(), ['default/lb:http', 'default/lb:http/external']);
  const cluster = t.get('default/lb:http')!;
  assert.deepEqual([cluster.clusterIPs, cluster.externalIPs, cluster.nodePort, cluster.internalTrafficPolicy], [['10.96.1.2'], [], 0, 'Cluster']);
  assert.equal(cluster.healthCheckNodePort, undefined);
  const ext = t.get('default/lb:http/external')!;
  assert.deepEqual([ext.clusterIPs, ext.externalIPs, ext.nodePort, ext.internalTrafficPolicy], [[], ['10.99.0.1'], 30081, 'Local']);
  assert.equal(ext.clusterKey, 'default/lb:http');
  assert.equal(ext.healthCheckNodePort, 31999);
  assert.equal(ext.endpoints.length, 2, 'selection happens in the balancer');

  // Cluster policy, or nothing external to split: one entry.
  assert.deepEqual([...buildServicePorts([svc('c', { type: 'NodePort', clusterIP: '10.96.1.3', ports: [{ name: 'http', port: 80, nodePort: 30082 }] })], []).keys()], ['default/c:http']);
  assert.deepEqual([...buildServicePorts([svc('i', { clusterIP: '10.96.1.4', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80 }] })], []).keys()], ['default/i:http']);
});

test('a LoadBalancer\'s ingress IPs are external addresses, except ipMode Proxy; other types ignore status', () => {
  const status = { loadBalancer: { ingress: [{ ip: '10.99.1.1' }, { ip: '10.99.1.2', ipMode: 'VIP' as const }, { ip: '10.99.1.3', ipMode: 'Proxy' as const }, { hostname: 'lb.example' }, { ip: '10.99.0.9' }] } };
  const lb: Service = { ...svc('lb', { type: 'LoadBalancer', clusterIP: '10.96.1.5', externalIPs: ['10.99.0.9'], ports: [{ name: 'http', port: 80, nodePort: 30083 }] }), status };
  assert.deepEqual(buildServicePorts([lb], []).get('default/lb:http')!.externalIPs, ['10.99.0.9', '10.99.1.1', '10.99.1.2']);
  const np: Service = { ...svc('np', { type: 'NodePort', clusterIP: '10.96.1.6', ports: [{ name: 'http', port: 80, nodePort: 30084 }] }), status };
  assert.deepEqual(buildServicePorts([np], []).get('default/np:http')!.externalIPs, []);
});

test('loadBalancerSourceRanges: canonical IPv4 CIDRs firewall only the ingress IPs; the annotation when the field is empty; other types none', () => {
  const status = { loadBalancer: { ingress: [{ ip: '10.99.2.1' }] } };
  const base = { type: 'LoadBalancer' as const, clusterIP: '10.96.2.5', externalIPs: ['10.99.2.9'], ports: [{ name: 'http', port: 80, nodePort: 30085 }] };
  const lb: Service = { ...svc('lb', { ...base, loadBalancerSourceRanges: ['198.51.100.77/24', '203.0.113.7', 'bogus', '2001:db8::/32', '198.51.100.0/24'] }), status };
  const e = buildServicePorts([lb], []).get('default/lb:http')!;
  assert.deepEqual(e.sourceRanges, ['198.51.100.0/24', '203.0.113.7/32']);
  assert.deepEqual(e.firewalledIPs, ['10.99.2.1']);
  const annotated: Service = { ...svc('lb', base), status };
  annotated.metadata.annotations = { 'service.beta.kubernetes.io/load-balancer-source-ranges': '192.0.2.0/25, 192.0.2.128/25' };
  assert.deepEqual(buildServicePorts([annotated], []).get('default/lb:http')!.sourceRanges, ['192.0.2.0/25', '192.0.2.128/25']);
  const none = buildServicePorts([{ ...svc('lb', base), status }], []).get('default/lb:http')!;
  assert.equal(none.sourceRanges, undefined);
  const np = buildServicePorts([svc('np', { ...base, type: 'NodePort', loadBalancerSourceRanges: ['10.0.0.0/8'] })], []).get('default/np:http')!;
  assert.equal(np.sourceRanges, undefined);
  // Under externalTrafficPolicy Local the firewall moves with the external addresses.
  const local = buildServicePorts([{ ...svc('lb', { ...base, externalTrafficPolicy: 'Local', loadBalancerSourceRanges: ['10.0.0.0/8'] }), status }], []);
  assert.equal(local.get('default/lb:http')!.sourceRanges, undefined);
  assert.deepEqual(local.get('default/lb:http/external')!.sourceRanges, ['10.0.0.0/8']);
  assert.deepEqual(local.get('default/lb:http/external')!.firewalledIPs, ['10.99.2.1']);
});

test('topology hints of an endpoint are carried over (zones and nodes); absent ones stay absent', () => {
  const t = buildServicePorts([svc('web', {})], [slice('s', 'web', [
    { addresses: ['10.0.0.1'], zone: 'a', hints: { forZones: [{ name: 'a' }, { name: 'b' }], forNodes: [{ name: 'n1' }] } },
    { addresses: ['10.0.0.2'], hints: {} },
  ])]);
  const [one, two] = t.get('default/web:http')!.endpoints;
  assert.deepEqual(one!.zoneHints, ['a', 'b']);
  assert.deepEqual(one!.nodeHints, ['n1']);
  assert.equal(two!.zoneHints, undefined);
  assert.equal(two!.nodeHints, undefined);
});
