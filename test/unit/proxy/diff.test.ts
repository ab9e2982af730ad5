import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffTables, endpointsChanged, listenerChanged, portalChanged, balancerConfigChanged } from '../../../proxy/diff.js';
import type { ServicePortEntry } from '../../../proxy/types.js';

const base: ServicePortEntry = {
  key: 'default/web:http', namespace: 'default', service: 'web', portName: 'http', protocol: 'TCP', clusterIPs: ['10.96.0.1'], externalIPs: [],
  port: 80, nodePort: 0, sessionAffinity: 'None', affinityTimeoutSeconds: 10800, internalTrafficPolicy: 'Cluster',
  endpoints: [{ ip: '10.0.0.1', port: 8080, ready: true, serving: true, terminating: false }],
};

test('change helpers', () => {
  assert.equal(listenerChanged(base, { ...base, protocol: 'UDP' }), true);
  assert.equal(listenerChanged(base, { ...base, port: 81 }), false);
  assert.equal(portalChanged(base, { ...base, port: 81 }), true);
  assert.equal(portalChanged(base, { ...base, nodePort: 30000 }), true);
  assert.equal(portalChanged(base, { ...base, externalIPs: ['192.0.2.1'] }), true);
  assert.equal(portalChanged(base, { ...base, sessionAffinity: 'ClientIP' }), false);
  assert.equal(balancerConfigChanged(base, { ...base, sessionAffinity: 'ClientIP' }), true);
  assert.equal(balancerConfigChanged(base, { ...base, internalTrafficPolicy: 'Local' }), true);
  assert.equal(endpointsChanged(base.endpoints, [{ ...base.endpoints[0]!, ready: false }]), true);
  assert.equal(endpointsChanged(base.endpoints, [{ ...base.endpoints[0]! }]), false);
});

test('diffTables classifies added, removed, replaced and updated ports', () => {
  const other = { ...base, key: 'default/other:', service: 'other', portName: '' };
  const cur = new Map([[base.key, base], [other.key, other]]);
  const dns = { ...base, key: 'kube-system/dns:dns' };
  const d = diffTables(cur, new Map([[base.key, { ...base, endpoints: [] }], [dns.key, dns]]));
  assert.deepEqual(d.added.map((e) => e.key), ['kube-system/dns:dns']);
  assert.deepEqual(d.removed.map((e) => e.key), ['default/other:']);
  assert.deepEqual(d.updated.map((u) => u.to.key), ['default/web:http']);
  assert.equal(d.replaced.length, 0);
  assert.equal(diffTables(cur, new Map([[base.key, { ...base, protocol: 'UDP' as const }]])).replaced.length, 1);
  assert.equal(diffTables(cur, cur).updated.length, 0);
});
