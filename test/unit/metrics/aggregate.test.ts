import assert from 'node:assert/strict';
import { test } from 'node:test';
import { podCgroupId, podEntries, sumSamples } from '../../../metrics/aggregate.js';
import { identityKey, podFromLabels } from '../../../metrics/docker.js';
import type { Entry } from '../../../metrics/types.js';
import { sample, snapshot } from './snapshot.js';

test('a pod sums its containers (sandbox included) and takes the sandbox network', () => {
  const s = snapshot();
  const [pod] = podEntries(s.containers);
  assert.ok(pod);
  assert.deepEqual(pod.pod, { name: 'web', namespace: 'default', uid: 'uid-1' });
  assert.equal(pod.sample.cpu.totalNs, 30.1e9);
  assert.equal(pod.sample.memory.workingSet, ((1 << 20) + (8 << 20)) / 2);
  assert.equal(pod.network[0]?.rxBytes, 5000);
  assert.equal(pod.oomEvents, 2);
  assert.equal(pod.usageNanoCores, 500_001_000);
  assert.equal(pod.startTime, s.containers[0]!.startTime, "the sandbox's start");
});

test('a pod limit exists only when every member has one; blkio adds up per device', () => {
  const a = sample(1, 100);
  const b = sample(1, 100);
  b.spec.memoryLimit = 0;
  assert.equal(sumSamples([a, a]).spec.memoryLimit, 2 * (64 << 20));
  assert.equal(sumSamples([a, b]).spec.memoryLimit, 0);
  assert.deepEqual(sumSamples([a, a]).blkio, [{ major: 8, minor: 0, readBytes: 8192, writeBytes: 16384, reads: 2, writes: 4 }]);
});

test("the pod's id: its containers' shared pod cgroup, else /kubepods/pod<uid>", () => {
  const at = (id: string) => ({ id }) as Entry;
  assert.equal(podCgroupId([at('/kubepods/burstable/poduid-1/aaa'), at('/kubepods/burstable/poduid-1/bbb')], 'uid-1'), '/kubepods/burstable/poduid-1');
  assert.equal(podCgroupId([at('/docker/aaa'), at('/docker/bbb')], 'uid-1'), '/kubepods/poduid-1');
});

test('pod identity from Docker labels; OOM counts key on it, else on the Docker name', () => {
  const labels = { 'io.kubernetes.pod.name': 'web', 'io.kubernetes.pod.namespace': 'ns', 'io.kubernetes.pod.uid': 'u', 'io.kubernetes.container.name': 'POD' };
  const pod = podFromLabels(labels);
  assert.deepEqual(pod, { name: 'web', namespace: 'ns', uid: 'u', container: 'POD', sandbox: true });
  assert.equal(podFromLabels({ 'io.kubernetes.pod.name': 'web' }), undefined);
  const base = { id: 'x', name: 'k8s_POD_web_ns_u_0', image: '', createdAt: 0, pid: 0, cgroupPath: '', networkMode: '', labels };
  assert.equal(identityKey({ ...base, pod: pod! }), 'pod:ns/web/POD');
  assert.equal(identityKey({ ...base, name: 'redis' }), 'docker:redis');
});
