// kubelet_pod_start_sli_duration_seconds as upstream's pod startup latency tracker: creation → all
// containers running, minus the image pulling window, once per pod, only for pods first seen unstarted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod, PodStatus } from '../../../kube/api.js';
import { PodStartTracker } from '../../../agent/status/start-sli.js';
import { StatusManager } from '../../../agent/status/manager.js';
import { register } from 'prom-client';

const created = Date.parse('2026-01-01T00:00:00Z');
const pod = (uid: string, startTime?: string): Pod => ({
  metadata: { name: uid, namespace: 'ns', uid, creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: { containers: [{ name: 'a' }, { name: 'b' }] },
  status: startTime ? { startTime } : {},
});
const running = (names: string[]): PodStatus => ({
  containerStatuses: names.map((name) => ({ name, ready: true, restartCount: 0, image: '', imageID: '', state: { running: { startedAt: '2026-01-01T00:00:09Z' } } })),
});
const waitingB: PodStatus = { containerStatuses: [running(['a']).containerStatuses![0]!, { name: 'b', ready: false, restartCount: 0, image: '', imageID: '', state: { waiting: { reason: 'ContainerCreating' } } }] };

test('observed once, when every container runs, without the image pulling window', () => {
  const seen: number[] = [];
  const t = new PodStartTracker((s) => seen.push(s));
  assert.equal(t.observe(pod('u1'), {}, created + 1000), undefined, 'first sight: tracked, nothing observed');
  t.pullStarted('u1', created + 2000);
  t.pullStarted('u1', created + 2500);
  t.pullFinished('u1', created + 4000);
  t.pullFinished('u1', created + 6000);
  assert.equal(t.observe(pod('u1'), waitingB, created + 7000), undefined);
  assert.equal(t.observe(pod('u1'), running(['a', 'b']), created + 10_000), 6, '10 s minus 4 s of pulling');
  assert.equal(t.observe(pod('u1'), running(['a', 'b']), created + 20_000), undefined, 'once per pod');
  assert.deepEqual(seen, [6]);
  t.forget('u1');
  assert.equal(t.size(), 0);
});

test('pods already started when first seen (agent restart) are not observed', () => {
  const seen: number[] = [];
  const t = new PodStartTracker((s) => seen.push(s));
  t.observe(pod('u2', '2026-01-01T00:00:01Z'), running(['a', 'b']), created + 5000);
  t.observe(pod('u2', '2026-01-01T00:00:01Z'), running(['a', 'b']), created + 6000);
  assert.deepEqual(seen, []);
});

test('the status manager reports to the tracker and the histogram gets the sample', async () => {
  const count = async () => {
    const text = await register.getSingleMetricAsString('kubelet_pod_start_sli_duration_seconds');
    return Number(/^kubelet_pod_start_sli_duration_seconds_count (\d+)$/m.exec(text)?.[1] ?? 0);
  };
  const before = await count();
  const m = new StatusManager();
  const p = pod(`u3-${Date.now()}`);
  m.set(p, {});
  m.set(p, running(['a', 'b']));
  assert.equal(await count(), before + 1);
  m.remove(p.metadata.uid!);
});
