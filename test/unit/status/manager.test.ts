// The status writer against a pods API with the API server's patch semantics (fake-pods.ts): it writes
// from the server's copy so lists shrink, rewrites what another writer changed, re-reads after a 422/409,
// coalesces, skips writes the server already holds, and keeps terminal phases final.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod, PodStatus } from '../../../kube/api.js';
import { silentLogger } from '../../../lib/log.js';
import { StatusManager } from '../../../agent/status/manager.js';
import { FakePods } from './fake-pods.js';

const T0 = '2026-12-04T10:00:00Z';
let stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops) await s();
  stops = [];
});

function basePod(uid = 'u1'): Pod {
  return {
    metadata: { name: 'p', namespace: 'ns', uid },
    spec: { containers: [{ name: 'a', image: 'img' }] },
    status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: T0 }] },
  };
}

function running(ip: string, ready = true): PodStatus {
  return {
    phase: 'Running',
    podIP: ip,
    podIPs: [{ ip }],
    hostIP: '192.168.1.2',
    hostIPs: [{ ip: '192.168.1.2' }],
    startTime: '2026-12-04T10:00:00.512Z',
    conditions: [
      { type: 'Initialized', status: 'True', lastProbeTime: null, lastTransitionTime: T0 },
      { type: 'Ready', status: ready ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: T0 },
    ],
    containerStatuses: [{ name: 'a', ready, restartCount: 0, image: 'img', imageID: 'x', state: { running: { startedAt: '2026-12-04T10:00:01.123456789Z' } }, lastState: {} }],
  };
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function setup(pod = basePod()) {
  const api = new FakePods();
  const stored = api.add(pod);
  const m = new StatusManager({ client: api, log: silentLogger(), resyncMs: 100, retryMs: 20 });
  const ac = new AbortController();
  await m.start(ac.signal);
  stops.push(async () => { ac.abort(); await m.stop(); });
  return { api, m, stored };
}

test('a new sandbox IP replaces the old one on the server (no 422: the old IP is deleted)', async () => {
  const { api, m, stored } = await setup();
  m.set(stored, running('172.17.0.5'));
  await m.flushed('u1');
  assert.deepEqual(api.current('ns', 'p').status?.podIPs, [{ ip: '172.17.0.5' }]);
  m.set(api.current('ns', 'p'), running('172.17.0.9'));
  await m.flushed('u1');
  const s = api.current('ns', 'p').status!;
  assert.equal(s.podIP, '172.17.0.9');
  assert.deepEqual(s.podIPs, [{ ip: '172.17.0.9' }]);
  assert.equal(m.conflicts, 0);
});

test('a Ready=False written by another (node lifecycle controller) is put back while the kubelet sees Ready', async () => {
  const { api, m, stored } = await setup();
  m.set(stored, running('172.17.0.5'));
  await m.flushed('u1');
  const writes = m.writes;
  const changed = api.writeStatus('ns', 'p', (p) => {
    const ready = p.status!.conditions!.find((c) => c.type === 'Ready')!;
    ready.status = 'False';
    ready.lastTransitionTime = '2026-12-04T10:09:00Z';
  });
  m.observe(changed); // the informer's update
  assert.equal(m.set(changed, running('172.17.0.5')), false, 'the kubelet\'s own view did not change');
  await until('Ready=True on the server', () => api.current('ns', 'p').status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True');
  assert.ok(m.writes > writes);
  assert.ok(m.reconciled >= 1);
  const conds = api.current('ns', 'p').status!.conditions!.map((c) => c.type);
  assert.ok(conds.includes('PodScheduled'), 'the scheduler\'s condition stays');
});

test('without an informer event the periodic reconcile finds the drift in the copy it holds', async () => {
  const { api, m, stored } = await setup();
  m.set(stored, running('172.17.0.5'));
  await m.flushed('u1');
  // The server changes and only a later set() (a sync with the informer's pod) carries the copy.
  const changed = api.writeStatus('ns', 'p', (p) => { p.status!.conditions!.find((c) => c.type === 'Ready')!.status = 'False'; });
  m.set(changed, running('172.17.0.5'));
  await until('Ready=True on the server', () => api.current('ns', 'p').status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True');
});

test('a 422 from a stale copy: the pod is re-read and the patch recomputed', async () => {
  const { api, m, stored } = await setup();
  m.set(stored, running('172.17.0.5'));
  await m.flushed('u1');
  const stale = api.current('ns', 'p');
  // Someone else moved the IP on the server; the writer's copy still has .5.
  api.writeStatus('ns', 'p', (p) => { p.status!.podIP = '172.17.0.7'; p.status!.podIPs = [{ ip: '172.17.0.7' }]; });
  m.set(stale, running('172.17.0.9'));
  await m.flushed('u1');
  assert.deepEqual(api.current('ns', 'p').status?.podIPs, [{ ip: '172.17.0.9' }]);
  // The first write merged .9 with .7 (refused); a GET followed.
  assert.ok(m.conflicts >= 1, 'the merged write was refused and redone');
});

test('a 409 is retried from a fresh read instead of being dropped', async () => {
  const { api, m, stored } = await setup();
  api.fail('PATCH', 409, 'Conflict', 2);
  m.set(stored, running('172.17.0.5'));
  await m.flushed('u1');
  assert.equal(api.current('ns', 'p').status?.podIP, '172.17.0.5');
  assert.equal(m.conflicts, 2);
});

test('a failure that is not a refusal is retried later (API server away)', async () => {
  const { api, m, stored } = await setup();
  api.fail('PATCH', 503, 'ServiceUnavailable', 3);
  m.set(stored, running('172.17.0.5'));
  await until('written after the outage', () => api.current('ns', 'p').status?.podIP === '172.17.0.5');
});

test('many sets before the loop runs are one write; a status the server holds is not written', async () => {
  const { api, m, stored } = await setup();
  for (let i = 1; i <= 20; i++) m.set(stored, running(`172.17.0.${i}`));
  await m.flushed('u1');
  assert.ok(api.patches.length <= 2, `coalesced: ${api.patches.length} patches`);
  assert.equal(api.current('ns', 'p').status?.podIP, '172.17.0.20');
  const before = api.patches.length;
  m.observe(api.current('ns', 'p'));
  m.set(api.current('ns', 'p'), { ...running('172.17.0.20'), startTime: '2026-12-04T10:00:00.999Z' });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(api.patches.length, before, 'no write: equal to the server\'s copy after normalization');
});

test('a terminal phase is final: Running after Succeeded is refused', async () => {
  const { api, m, stored } = await setup();
  m.set(stored, { ...running('172.17.0.5', false), phase: 'Succeeded' });
  await m.flushed('u1');
  m.set(api.current('ns', 'p'), running('172.17.0.5'));
  await m.flushed('u1');
  assert.equal(m.get('u1')?.phase, 'Succeeded');
  assert.equal(api.current('ns', 'p').status?.phase, 'Succeeded');
});

test('a pod deleted and recreated under the same name is not written (uid precondition)', async () => {
  const { api, m, stored } = await setup();
  api.pods.clear();
  api.add(basePod('u2'));
  m.set(stored, running('172.17.0.5'));
  await m.flushed('u1');
  assert.equal(api.current('ns', 'p').status?.podIP, undefined);
});

test('remove() drops the pod\'s record', async () => {
  const { m, stored } = await setup();
  m.set(stored, running('172.17.0.5'));
  await m.flushed('u1');
  m.remove('u1');
  assert.equal(m.size(), 0);
});

test('after an API server outage every pod is re-read and a Ready=False written meanwhile is put back (no informer event)', async () => {
  const { api, m, stored } = await setup();
  m.set(stored, running('172.17.0.5'));
  await m.flushed('u1');
  api.down = true;
  // The idle probe notices the outage.
  await new Promise((r) => setTimeout(r, 350));
  // The node lifecycle controller marks the pod while this node cannot reach the server; the informer is
  // still in its reconnect back-off, so no copy of that reaches the writer.
  api.writeStatus('ns', 'p', (p) => { p.status!.conditions!.find((c) => c.type === 'Ready')!.status = 'False'; });
  const gets = api.gets;
  api.down = false;
  await until('Ready=True on the server', () => api.current('ns', 'p').status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True');
  assert.ok(api.gets > gets, 're-read live');
});

test('a static pod writes to its mirror once it exists, and a mirror status changed by another is put back', async () => {
  const api = new FakePods();
  const mirror = api.add({ ...basePod('mirror-uid'), metadata: { name: 'web-node', namespace: 'ns', uid: 'mirror-uid', annotations: { 'kubernetes.io/config.mirror': 'h' } } });
  const m = new StatusManager({ client: api, log: silentLogger(), resyncMs: 100, retryMs: 20 });
  const ac = new AbortController();
  await m.start(ac.signal);
  stops.push(async () => { ac.abort(); await m.stop(); });
  const staticPod: Pod = { metadata: { name: 'web', namespace: 'ns', uid: 'static-uid', annotations: { 'kubernetes.io/config.source': 'file' } }, spec: { containers: [] } };
  m.set(staticPod, running('172.17.0.5'), 'web-node');
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(api.patches.length, 0, 'no mirror yet: nothing written');
  m.setTarget('static-uid', 'web-node', mirror.metadata.uid!);
  await until('written to the mirror', () => api.current('ns', 'web-node').status?.podIP === '172.17.0.5');
  api.writeStatus('ns', 'web-node', (p) => { p.status!.conditions!.find((c) => c.type === 'Ready')!.status = 'False'; });
  // No informer for mirror pods: the periodic pass reads the mirror live.
  await until('Ready=True on the mirror again', () => api.current('ns', 'web-node').status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True');
});

test('a mirror pod copy handed to observe() reaches its static pod\'s entry; an unknown pod is ignored', async () => {
  const api = new FakePods();
  const mirror = api.add({ ...basePod('mirror-uid2'), metadata: { name: 'db-node', namespace: 'ns', uid: 'mirror-uid2', annotations: { 'kubernetes.io/config.mirror': 'h' } } });
  api.add(basePod('other-uid'));
  const m = new StatusManager({ client: api, log: silentLogger(), resyncMs: 600_000, retryMs: 20 }); // no periodic pass in this test
  const ac = new AbortController();
  await m.start(ac.signal);
  stops.push(async () => { ac.abort(); await m.stop(); });
  const staticPod: Pod = { metadata: { name: 'db', namespace: 'ns', uid: 'static-uid2', annotations: { 'kubernetes.io/config.source': 'file' } }, spec: { containers: [] } };
  m.set(staticPod, running('172.17.0.6'), 'db-node');
  m.setTarget('static-uid2', 'db-node', mirror.metadata.uid!);
  await until('written to the mirror', () => api.current('ns', 'db-node').status?.podIP === '172.17.0.6');
  const writes = m.writes;
  m.observe(api.current('ns', 'p')); // a pod with no entry: nothing to do
  api.writeStatus('ns', 'db-node', (p) => { p.status!.conditions!.find((c) => c.type === 'Ready')!.status = 'False'; });
  m.observe(api.current('ns', 'db-node'));
  await until('Ready=True on the mirror again', () => api.current('ns', 'db-node').status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True');
  assert.equal(m.writes, writes + 1);
});
