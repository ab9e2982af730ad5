import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Container, Pod } from '../../../kube/api.js';
import { computeQosClass, oomScoreAdj, qosClass } from '../../../agent/containers/qos.js';

function pod(containers: Container[], init: Container[] = [], extra: Partial<Pod['spec']> = {}): Pod {
  return { metadata: { name: 'p', namespace: 'default', uid: 'u1' }, spec: { containers, initContainers: init, ...extra } };
}
const c = (name: string, resources?: Container['resources'], more: Partial<Container> = {}): Container => ({ name, image: 'x', resources, ...more });
const guaranteed = { limits: { cpu: '500m', memory: '128Mi' } };

test('BestEffort when nothing is requested or limited anywhere', () => {
  assert.equal(computeQosClass(pod([c('a'), c('b', {})])), 'BestEffort');
  // zero quantities do not count
  assert.equal(computeQosClass(pod([c('a', { requests: { cpu: '0' } })])), 'BestEffort');
});

test('Guaranteed needs cpu+memory limits equal to requests in every container, init included', () => {
  assert.equal(computeQosClass(pod([c('a', guaranteed)])), 'Guaranteed'); // requests default to limits
  assert.equal(computeQosClass(pod([c('a', { limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '1000m', memory: '1Gi' } })])), 'Guaranteed');
  assert.equal(computeQosClass(pod([c('a', guaranteed)], [c('init', guaranteed)])), 'Guaranteed');
  assert.equal(computeQosClass(pod([c('a', guaranteed)], [c('init')])), 'Burstable');
  assert.equal(computeQosClass(pod([c('a', guaranteed), c('b')])), 'Burstable');
});

test('Burstable otherwise', () => {
  assert.equal(computeQosClass(pod([c('a', { requests: { cpu: '100m' } })])), 'Burstable');
  assert.equal(computeQosClass(pod([c('a', { limits: { memory: '1Gi' } })])), 'Burstable');
  assert.equal(computeQosClass(pod([c('a', { limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '500m', memory: '1Gi' } })])), 'Burstable');
  // non-QoS resources are ignored
  assert.equal(computeQosClass(pod([c('a', { limits: { ...guaranteed.limits, 'ephemeral-storage': '1Gi' }, requests: { 'ephemeral-storage': '1Mi' } })])), 'Guaranteed');
});

test('qosClass prefers the API server status', () => {
  const p = pod([c('a')]);
  p.status = { qosClass: 'Burstable' };
  assert.equal(qosClass(p), 'Burstable');
  assert.equal(computeQosClass(p), 'BestEffort');
});

test('oom_score_adj per QoS class', () => {
  const cap = 1000 * 1024 * 1024;
  const g = pod([c('a', guaranteed)]);
  assert.equal(oomScoreAdj(g, g.spec.containers[0]!, cap), -997);
  const be = pod([c('a')]);
  assert.equal(oomScoreAdj(be, be.spec.containers[0]!, cap), 1000);

  const half = pod([c('a', { requests: { memory: String(cap / 2) } })]);
  assert.equal(oomScoreAdj(half, half.spec.containers[0]!, cap), 500);
  const tenth = pod([c('a', { requests: { memory: String(cap / 10) } })]);
  assert.equal(oomScoreAdj(tenth, tenth.spec.containers[0]!, cap), 900);
  // Burstable without a memory request would equal BestEffort: 999 instead
  const cpuOnly = pod([c('a', { requests: { cpu: '100m' } })]);
  assert.equal(oomScoreAdj(cpuOnly, cpuOnly.spec.containers[0]!, cap), 999);
  // requesting (nearly) the whole node clamps at 1000 + (-997) = 3
  const all = pod([c('a', { requests: { memory: String(cap) }, limits: { memory: String(cap * 2) } })]);
  assert.equal(oomScoreAdj(all, all.spec.containers[0]!, cap), 3);
});

test('node-critical pods get the Guaranteed score regardless of class', () => {
  const p = pod([c('a')], [], { priorityClassName: 'system-node-critical', priority: 2000001000 });
  assert.equal(oomScoreAdj(p, p.spec.containers[0]!, 1 << 30), -997);
  const notCritical = pod([c('a')], [], { priorityClassName: 'system-node-critical', priority: 1000 });
  assert.equal(oomScoreAdj(notCritical, notCritical.spec.containers[0]!, 1 << 30), 1000);
});

test('a sidecar scores no higher than the smallest regular container', () => {
  const cap = 1000;
  const sidecar = c('side', { requests: { memory: '100' } }, { restartPolicy: 'Always' });
  const p = pod([c('a', { requests: { memory: '500' } }), c('b', { requests: { memory: '300' } })], [sidecar]);
  assert.equal(oomScoreAdj(p, sidecar, cap), 700);
  assert.equal(oomScoreAdj(p, p.spec.containers[0]!, cap), 500);
});
