import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Lease } from '../../../kube/api.js';
import { FakeClock } from '../../../lib/clock.js';
import { leasePath, microTime, NodeLease } from '../../../agent/node/lease.js';
import { FakeKube, settle } from './fake-kube.js';

const LEASES = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases';
const PATH = leasePath('node-a');

async function withLease(
  fn: (x: { kube: FakeKube; clock: FakeClock; lease: NodeLease }) => Promise<void>,
  prepare?: (kube: FakeKube) => void,
  uid: string | null = 'node-uid-1',
): Promise<void> {
  const kube = new FakeKube();
  prepare?.(kube);
  const clock = new FakeClock();
  const lease = new NodeLease({ client: kube, nodeName: 'node-a', clock, nodeUid: () => uid ?? undefined });
  const ac = new AbortController();
  try {
    await lease.start(ac.signal);
    await settle();
    await fn({ kube, clock, lease });
  } finally {
    ac.abort();
    await lease.stop();
  }
}

function stored(kube: FakeKube): Lease {
  const l = kube.objects.get(PATH) as Lease | undefined;
  assert.ok(l, 'lease stored');
  return l;
}

test('microTime has microseconds', () => {
  assert.equal(microTime(Date.UTC(2024, 0, 2, 3, 4, 5, 678)), '2024-01-02T03:04:05.678000Z');
});

test('creates the lease with holder, duration 40, renewTime and the Node owner reference', async () => {
  await withLease(async ({ kube, clock, lease }) => {
    assert.deepEqual(kube.calls.map((c) => `${c.method} ${c.path}`), [`GET ${PATH}`, `POST ${LEASES}`]);
    const l = stored(kube);
    assert.equal(l.spec.holderIdentity, 'node-a');
    assert.equal(l.spec.leaseDurationSeconds, 40);
    assert.equal(l.spec.renewTime, microTime(clock.now()));
    assert.deepEqual(l.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Node', name: 'node-a', uid: 'node-uid-1' }]);
    assert.equal(lease.lastRenewed(), clock.now());
  });
});

test('renews every 10 s with an optimistic PUT from the last lease (no GET)', async () => {
  await withLease(async ({ kube, clock }) => {
    kube.calls.length = 0;
    clock.advance(9_999);
    await settle();
    assert.equal(kube.calls.length, 0);
    clock.advance(1);
    await settle();
    assert.deepEqual(kube.calls.map((c) => `${c.method} ${c.path}`), [`PUT ${PATH}`]);
    assert.equal(stored(kube).spec.renewTime, microTime(clock.now()));
    for (let i = 0; i < 3; i++) {
      clock.advance(10_000);
      await settle();
    }
    assert.equal(kube.callsOf('PUT').length, 4);
    assert.equal(kube.callsOf('GET').length, 0);
    assert.equal(stored(kube).spec.renewTime, microTime(clock.now()));
  });
});

test('on conflict it re-reads the lease and updates from the fresh copy', async () => {
  await withLease(async ({ kube, clock, lease }) => {
    // Someone else writes the lease: our copy's resourceVersion is stale now.
    const other = structuredClone(stored(kube));
    other.spec.leaseTransitions = 7;
    await kube.update(PATH, other);
    kube.calls.length = 0;
    clock.advance(10_000);
    await settle();
    assert.deepEqual(kube.calls.map((c) => c.method), ['PUT', 'GET', 'PUT']);
    assert.equal(stored(kube).spec.leaseTransitions, 7);
    assert.equal(lease.lastRenewed(), clock.now());
  });
});

test('ensuring backs off 100 ms, doubling, capped at 7 s', async () => {
  await withLease(async ({ kube, clock }) => {
    const gets = () => kube.callsOf('GET').length;
    assert.equal(gets(), 1);
    const expected = [100, 200, 400, 800, 1600, 3200, 6400, 7000, 7000];
    for (const [i, d] of expected.entries()) {
      clock.advance(d - 1);
      await settle();
      assert.equal(gets(), i + 1, `still waiting before ${d} ms`);
      clock.advance(1);
      await settle();
      assert.equal(gets(), i + 2, `retried after ${d} ms`);
    }
    assert.equal(kube.objects.has(PATH), false);
  }, (kube) => kube.fail('GET', /leases\/node-a$/, 503, 'ServiceUnavailable', 100));
});

test('no lease is created while the Node uid is unknown; the Node GET supplies it', async () => {
  await withLease(async ({ kube, clock }) => {
    assert.equal(kube.objects.has(PATH), false);
    await kube.create('/api/v1/nodes', { metadata: { name: 'node-a' } });
    clock.advance(100);
    await settle();
    const l = stored(kube);
    assert.equal(l.metadata.ownerReferences?.[0]?.uid, (kube.objects.get('/api/v1/nodes/node-a'))?.metadata.uid);
  }, undefined, null);
});

test('after 5 failed updates it falls back to ensuring, and stop() ends the loop', async () => {
  const kube = new FakeKube();
  const clock = new FakeClock();
  const lease = new NodeLease({ client: kube, nodeName: 'node-a', clock, nodeUid: () => 'u' });
  const ac = new AbortController();
  await lease.start(ac.signal);
  await settle();
  kube.fail('PUT', /leases\/node-a$/, 500, 'InternalError', 5);
  kube.calls.length = 0;
  clock.advance(10_000);
  await settle();
  assert.deepEqual(kube.calls.map((c) => c.method), ['PUT', 'PUT', 'PUT', 'PUT', 'PUT', 'GET', 'PUT']);
  assert.equal(lease.lastRenewed(), clock.now());
  await lease.stop();
  assert.equal(clock.pending(), 0, 'no timers left');
  kube.calls.length = 0;
  clock.advance(60_000);
  await settle();
  assert.equal(kube.calls.length, 0);
});
