// loadBalancerSourceRanges end to end in pure code: CIDR helpers and the portal spec's firewall.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrContains, parseCidr4 } from '../../../proxy/cidr.js';
import { portalSpecs } from '../../../proxy/portal-specs.js';
import type { ServicePortEntry } from '../../../proxy/types.js';

test('parseCidr4 canonicalises and rejects what is not an IPv4 CIDR; cidrContains matches by prefix', () => {
  assert.equal(parseCidr4('10.1.2.3/8'), '10.0.0.0/8');
  assert.equal(parseCidr4(' 192.0.2.9 '), '192.0.2.9/32');
  assert.equal(parseCidr4('0.0.0.0/0'), '0.0.0.0/0');
  for (const bad of ['10.0.0.0/33', '10.0.0/8', '10.0.0.0/x', '::/0', '10.0.0.0/8/1', '']) assert.equal(parseCidr4(bad), undefined, bad);
  assert.ok(cidrContains('10.0.0.0/8', '10.255.1.1'));
  assert.ok(!cidrContains('10.0.0.0/8', '11.0.0.1'));
  assert.ok(cidrContains('0.0.0.0/0', '203.0.113.1'));
  assert.ok(cidrContains('192.0.2.9/32', '192.0.2.9'));
  assert.ok(!cidrContains('192.0.2.9/32', '192.0.2.8'));
});

const entry = (o: Partial<ServicePortEntry>): ServicePortEntry => ({
  key: 'default/lb:http', namespace: 'default', service: 'lb', portName: 'http', protocol: 'TCP', clusterIPs: ['10.96.3.1'],
  externalIPs: ['10.99.3.1', '10.99.3.2'], port: 80, nodePort: 0, sessionAffinity: 'None', affinityTimeoutSeconds: 10800,
  internalTrafficPolicy: 'Cluster', endpoints: [{ ip: '10.0.0.2', port: 8080, ready: true, serving: true, terminating: false }], ...o,
});

test('the portal spec firewalls the ingress IPs to the source ranges; a range holding a node IP lets the node use the LB IP', async () => {
  const route = async () => undefined;
  const run = (e: ServicePortEntry, nodeIPs: string[]) => portalSpecs([{ entry: e, listener: { port: 40000 } }], 'n1', true, route, () => nodeIPs);
  const [plain] = await run(entry({}), ['192.0.2.10']);
  assert.equal(plain!.firewall, undefined);
  const fenced = entry({ sourceRanges: ['198.51.100.0/24'], firewalledIPs: ['10.99.3.2', '10.99.9.9'] });
  const [outside] = await run(fenced, ['192.0.2.10']);
  // Only ingress IPs this entry serves are fenced; the node is outside the range.
  assert.deepEqual(outside!.firewall, { ips: ['10.99.3.2'], sources: ['198.51.100.0/24'] });
  const [inside] = await run(fenced, ['192.0.2.10', '198.51.100.20']);
  assert.deepEqual(inside!.firewall, { ips: ['10.99.3.2'], sources: ['198.51.100.0/24', '10.99.3.2/32'] });
});
