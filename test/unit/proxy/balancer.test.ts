import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../lib/clock.js';
import { Balancer, refusal, usableEndpoints } from '../../../proxy/balancer.js';
import type { EndpointInfo } from '../../../proxy/types.js';

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
