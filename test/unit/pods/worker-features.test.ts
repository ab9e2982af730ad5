// PodWorker (in-memory runtime, FakeClock) for issue 15a's worker-level behaviour: activeDeadlineSeconds
// on the injected clock, a pod failed at admission never starts, MissingClusterDNS Events, ephemeral
// containers reported in ephemeralContainerStatuses.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import type { ContainerStatus } from '../../../kube/api.js';
import { PodWorker } from '../../../agent/pods/worker.js';
import { apiPod, container, recordOf, world, type World } from './world.js';

let w: World;
beforeEach(async () => { w = await world(); });
afterEach(async () => { await w.close(); });

test('activeDeadlineSeconds: a requeue at the deadline, then Failed DeadlineExceeded and the containers stopped', async () => {
  const pod = apiPod([container('app')], { activeDeadlineSeconds: 30 });
  const r = recordOf(pod);
  const first = await w.worker.sync(r);
  assert.equal(w.status.get(r.uid)?.phase, 'Running');
  assert.ok(first.requeueAfterMs !== undefined && first.requeueAfterMs <= 31_000, `requeue ${first.requeueAfterMs}`);
  w.clock.advance(31_000);
  await w.worker.sync(r);
  await w.worker.sync(r);
  const s = w.status.get(r.uid);
  assert.equal(s?.phase, 'Failed');
  assert.equal(s?.reason, 'DeadlineExceeded');
  assert.equal(r.state, 'Terminated');
  assert.equal(w.runtime.containersOf(r.uid, 'app')[0]?.state, 'exited');
  assert.ok(w.events.reasons().includes('DeadlineExceeded'));
});

test('a pod refused at admission is Failed with its reason and nothing is created', async () => {
  const r = recordOf(apiPod([container('app')]));
  r.failed = { reason: 'OutOfcpu', message: 'Pod was rejected: Node didn\'t have enough resource: cpu' };
  await w.worker.sync(r);
  assert.equal(r.state, 'Terminated');
  assert.equal(w.status.get(r.uid)?.phase, 'Failed');
  assert.equal(w.status.get(r.uid)?.reason, 'OutOfcpu');
  assert.equal(w.runtime.containersOf(r.uid, 'POD').length, 0);
});

test('MissingClusterDNS for a ClusterFirst pod when the node has no cluster DNS; none for Default', async () => {
  const worker = new PodWorker({ ...w.deps, clusterDNS: [] });
  await worker.sync(recordOf(apiPod([container('app')])));
  await worker.sync(recordOf(apiPod([container('app')], { dnsPolicy: 'Default' })));
  const ev = w.events.events.filter((e) => e.reason === 'MissingClusterDNS');
  assert.equal(ev.length, 2, 'one pod event and one node event, for the ClusterFirst pod only');
  assert.ok(ev.every((e) => e.type === 'Warning' && /cannot create Pod using "ClusterFirst" policy/.test(e.message)));
});

test('an ephemeral container added to a running pod is started once and reported', async () => {
  const pod = apiPod([container('app')]);
  const r = recordOf(pod);
  await w.worker.sync(r);
  (pod.spec as { ephemeralContainers?: unknown[] }).ephemeralContainers = [container('dbg')];
  await w.worker.sync(r);
  const [dbg] = w.runtime.containersOf(r.uid, 'dbg');
  assert.equal(dbg?.state, 'running');
  assert.equal(dbg?.annotations['io.kubernetes.container.type'], 'ephemeral');
  const statuses = (w.status.get(r.uid) as { ephemeralContainerStatuses?: ContainerStatus[] }).ephemeralContainerStatuses;
  assert.equal(statuses?.[0]?.name, 'dbg');
  assert.ok(statuses?.[0]?.state?.running);
  await w.worker.sync(r);
  assert.equal(w.runtime.containersOf(r.uid, 'dbg').length, 1, 'not started again');
  assert.equal(w.runtime.containersOf(r.uid, 'app')[0]?.restartCount, 0);
});
