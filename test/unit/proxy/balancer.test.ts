import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../lib/clock.js';
import { Balancer, refusal, topologyMode, usableEndpoints } from '../../../proxy/balancer.js';
import type { EndpointInfo, ServicePortEntry } from '../../../proxy/types.js';

const ep = (ip: string, o: Partial<EndpointInfo> = {}): EndpointInfo => ({ ip, port: 80, ready: true, serving: true, terminating: false, ...o });
const cluster = { nodeName: 'n1', internalTrafficPolicy: 'Cluster' as const };

test('usable endpoints: ready ones; none ready ⇒ serving+terminating; none ⇒ empty (reject)', () => {
  const eps = [ep('1'), ep('2', { ready: false, serving: true, terminating: true }), ep('3', { ready: false, serving: false })];
  assert.deepEqual(usableEndpoints(eps, cluster).map((e) => e.ip), ['1']);
  const noReady = [ep('2', { ready: false, serving: true, terminating: true }), ep('3', { ready: false, serving: false }), ep('4', { ready: false, serving: true, terminating: false })];
  assert.deepEqual(usableEndpoints(noReady, cluster).map((e) => e.ip), ['2']);
  assert.deepEqual(usableEndpoints([ep('3', { ready: false, serving: false })], cluster), []);
  assert.deepEqual(usableEndpoints([], cluster), []);
});

test('internalTrafficPolicy Local keeps only endpoints on this node', () => {
  const eps = [ep('1', { nodeName: 'n1' }), ep('2', { nodeName: 'n2' }), ep('3')];
  assert.deepEqual(usableEndpoints(eps, { nodeName: 'n1', internalTrafficPolicy: 'Local' }).map((e) => e.ip), ['1']);
  assert.deepEqual(usableEndpoints(eps, { nodeName: 'n9', internalTrafficPolicy: 'Local' }), []);
});

test('refusal: REJECT with no usable endpoint anywhere, DROP with none on this node under Local, else none', () => {
  const local = { nodeName: 'n1', internalTrafficPolicy: 'Local' as const };
  assert.equal(refusal([], cluster), 'REJECT');
  assert.equal(refusal([ep('1', { ready: false, serving: false })], cluster), 'REJECT');
  assert.equal(refusal([ep('1', { ready: false, serving: true, terminating: true })], cluster), undefined, 'serving+terminating still serves');
  assert.equal(refusal([ep('1', { nodeName: 'n2' })], cluster), undefined);
  assert.equal(refusal([ep('1', { nodeName: 'n2' })], local), 'DROP');
  assert.equal(refusal([ep('1', { nodeName: 'n1' })], local), undefined);
  assert.equal(refusal([], local), 'REJECT');
});

test('round robin cycles over usable targets; empty ⇒ undefined', () => {
  const b = new Balancer({ ...cluster, sessionAffinity: 'None', affinityTimeoutSeconds: 0 });
  assert.equal(b.next('c'), undefined);
  b.update([ep('1'), ep('2'), ep('3'), ep('4', { ready: false, serving: false })]);
  const seen = Array.from({ length: 6 }, () => b.next('c')!.ip);
  assert.deepEqual(seen, ['1', '2', '3', '1', '2', '3']);
  b.update([ep('2')]);
  assert.equal(b.next('c')!.key, '2:80');
});

test('ClientIP affinity sticks within the timeout (sliding), expires after it, and reset moves on', () => {
  const clock = new FakeClock();
  const b = new Balancer({ ...cluster, sessionAffinity: 'ClientIP', affinityTimeoutSeconds: 10 }, clock);
  b.update([ep('1'), ep('2'), ep('3')]);
  const first = b.next('client-a')!.ip;
  const other = b.next('client-b')!.ip;
  assert.notEqual(first, other);
  for (let i = 0; i < 5; i++) {
    clock.advance(9_000); // sliding window: each use refreshes lastUsed
    assert.equal(b.next('client-a')!.ip, first);
  }
  clock.advance(10_000);
  assert.notEqual(b.next('client-a')!.ip, first, 'expired affinity falls back to round robin');
  const pinned = b.next('client-a')!.ip;
  assert.notEqual(b.next('client-a', true)!.ip, pinned, 'reset (after a failed dial) ignores stickiness');
});

test('affinity to a removed endpoint is dropped; stale records are cleaned up', () => {
  const clock = new FakeClock();
  const b = new Balancer({ ...cluster, sessionAffinity: 'ClientIP', affinityTimeoutSeconds: 0 }, clock);
  assert.equal(b.ttlMs(), 10_800_000, 'timeout 0 ⇒ default 10800 s');
  b.update([ep('1'), ep('2')]);
  const t = b.next('x')!;
  b.update([ep(t.ip === '1' ? '2' : '1')]);
  assert.notEqual(b.next('x')!.ip, t.ip);
  b.next('y');
  assert.equal(b.affinityCount(), 2);
  clock.advance(10_800_000);
  assert.equal(b.cleanupStaleAffinity(), 2);
  assert.equal(b.affinityCount(), 0);
});

test('policy change re-applies selection to the last endpoint list', () => {
  const b = new Balancer({ nodeName: 'n1', internalTrafficPolicy: 'Cluster', sessionAffinity: 'None', affinityTimeoutSeconds: 0 });
  b.update([ep('1', { nodeName: 'n1' }), ep('2', { nodeName: 'n2' })]);
  assert.equal(b.size, 2);
  b.setConfig({ nodeName: 'n1', internalTrafficPolicy: 'Local', sessionAffinity: 'None', affinityTimeoutSeconds: 0 });
  b.refresh();
  assert.deepEqual(b.targets().map((t) => t.ip), ['1']);
});

test('topology hints (CategorizeEndpoints): same node, then same zone, only when every ready endpoint is hinted and one fits', () => {
  const e = (ip: string, o: Partial<EndpointInfo> = {}): EndpointInfo => ({ ip, port: 80, ready: true, serving: true, terminating: false, ...o });
  const policy = { nodeName: 'n1', internalTrafficPolicy: 'Cluster' as const, zone: 'a' };
  const ips = (l: EndpointInfo[]) => l.map((x) => x.ip);
  const zoned = [e('10.0.0.1', { zoneHints: ['a'] }), e('10.0.0.2', { zoneHints: ['b'] }), e('10.0.0.3', { zoneHints: ['a', 'b'] })];
  assert.equal(topologyMode(zoned, 'n1', 'a'), 'PreferSameZone');
  assert.deepEqual(ips(usableEndpoints(zoned, policy)), ['10.0.0.1', '10.0.0.3']);
  // One ready endpoint without hints, a zone nobody is hinted for, or no zone label: all of them.
  assert.deepEqual(ips(usableEndpoints([...zoned, e('10.0.0.4')], policy)), ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
  assert.equal(topologyMode(zoned, 'n1', 'c'), '');
  assert.equal(topologyMode(zoned, 'n1', ''), '');
  // Not-ready endpoints neither need hints nor count.
  assert.deepEqual(ips(usableEndpoints([...zoned, e('10.0.0.5', { ready: false })], policy)), ['10.0.0.1', '10.0.0.3']);
  // Node hints win over zone hints when every ready endpoint has them and one is for this node.
  const noded = [e('10.0.0.1', { zoneHints: ['a'], nodeHints: ['n2'] }), e('10.0.0.2', { zoneHints: ['a'], nodeHints: ['n1'] })];
  assert.equal(topologyMode(noded, 'n1', 'a'), 'PreferSameNode');
  assert.deepEqual(ips(usableEndpoints(noded, policy)), ['10.0.0.2']);
  // internalTrafficPolicy Local ignores hints (local endpoints only).
  const local = [e('10.0.0.1', { zoneHints: ['b'], nodeName: 'n1' }), e('10.0.0.2', { zoneHints: ['a'], nodeName: 'n2' })];
  assert.deepEqual(ips(usableEndpoints(local, { ...policy, internalTrafficPolicy: 'Local' })), ['10.0.0.1']);
  // The terminating fallback keeps to the topology too.
  const term = [e('10.0.0.1', { ready: false, serving: true, terminating: true, zoneHints: ['a'] }), e('10.0.0.2', { ready: false, serving: true, terminating: true, zoneHints: ['b'] })];
  assert.deepEqual(ips(usableEndpoints(term, policy)), ['10.0.0.1', '10.0.0.2'], 'no ready endpoint: no topology mode, both serve');
});

test('a Balancer whose zone changes re-applies its selection', () => {
  const eps: EndpointInfo[] = [
    { ip: '10.0.0.1', port: 80, ready: true, serving: true, terminating: false, zoneHints: ['a'] },
    { ip: '10.0.0.2', port: 80, ready: true, serving: true, terminating: false, zoneHints: ['b'] },
  ];
  const b = new Balancer({ nodeName: 'n1', internalTrafficPolicy: 'Cluster', sessionAffinity: 'None', affinityTimeoutSeconds: 0, zone: 'a' });
  b.update(eps);
  assert.deepEqual(b.targets().map((t) => t.ip), ['10.0.0.1']);
  b.setConfig({ ...b.config, zone: 'b' });
  assert.deepEqual(b.targets().map((t) => t.ip), ['10.0.0.2']);
});

test('noLocalEndpoints: Local policies with endpoints elsewhere but none here, by internal and external', async () => {
  const { noLocalEndpoints } = await import('../../../proxy/balancer.js');
  const e = (key: string, nodes: string[], o: Partial<ServicePortEntry> = {}): ServicePortEntry => ({
    key, namespace: 'ns', service: 's', portName: 'p', protocol: 'TCP', clusterIPs: [], externalIPs: [], port: 80, nodePort: 0,
    sessionAffinity: 'None', affinityTimeoutSeconds: 10800, internalTrafficPolicy: 'Local',
    endpoints: nodes.map((n, i) => ({ ip: `10.0.0.${i + 1}`, port: 80, ready: true, serving: true, terminating: false, nodeName: n })), ...o,
  });
  assert.deepEqual(noLocalEndpoints([
    e('ns/a:p', ['n2']), // internal Local, none here → counted
    e('ns/b:p', ['n1', 'n2']), // one here → not
    e('ns/c:p', []), // none anywhere: REJECT, not counted
    e('ns/d:p', ['n2'], { internalTrafficPolicy: 'Cluster' }), // Cluster policy → not
    e('ns/e:p/external', ['n2'], { clusterKey: 'ns/e:p' }), // external Local, none here → counted as external
  ], 'n1'), { internal: 1, external: 1 });
});
