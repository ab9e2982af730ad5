import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from '../../../kube/api.js';
import { FakeClock } from '../../../lib/clock.js';
import type { HostInfo } from '../../../agent/node/hostinfo.js';
import { NodeController, RUNTIME_DOWN, type NodeControllerDeps } from '../../../agent/node/controller.js';
import { leasePath } from '../../../agent/node/lease.js';
import { FakeKube, settle } from './fake-kube.js';

const GiB = 1024 ** 3;
const NODE = '/api/v1/nodes/node-a';

function host(bootID = 'boot-1'): HostInfo {
  return {
    hostname: 'node-a', internalIP: '192.0.2.10', cpuCount: 2, memoryBytes: 8 * GiB, ephemeralStorageBytes: 100 * GiB,
    osImage: 'Test Linux', kernelVersion: '6.1.0', operatingSystem: 'linux', architecture: 'amd64',
    machineID: 'm', systemUUID: 's', bootID,
    pressure: {
      memoryAvailableBytes: 6 * GiB, memoryTotalBytes: 8 * GiB, nodefsAvailableBytes: 60 * GiB,
      nodefsCapacityBytes: 100 * GiB, pidsInUse: 100, pidMax: 32768,
    },
  };
}

function setup(over: Partial<NodeControllerDeps> = {}) {
  const kube = new FakeKube();
  const clock = new FakeClock();
  const runtime = { up: true, version: async () => { if (!runtime.up) throw new Error('connect ENOENT /var/run/docker.sock'); return { version: '20.10.24' }; } };
  const events: { type: string; reason: string; message: string; kind: string }[] = [];
  let memAvail = 6 * GiB;
  const ctl = new NodeController({
    client: kube,
    nodeName: 'node-a',
    runtime,
    config: { labels: { 'example.com/a': 'b' }, taints: [{ key: 'k', effect: 'NoSchedule' }] },
    clock,
    events: { event: (obj, type, reason, message) => events.push({ type, reason, message, kind: obj.kind }) },
    readHost: async () => host(),
    readPressure: async () => ({ ...host().pressure, memoryAvailableBytes: memAvail }),
    ...over,
  });
  return { kube, clock, runtime, events, ctl, setMem: (v: number) => { memAvail = v; } };
}

function ready(n: Node | undefined) {
  return n?.status?.conditions?.find((c) => c.type === 'Ready');
}

test('start registers the node, posts status, starts the lease; unchanged status is not re-posted until 5 min', async () => {
  const { kube, clock, events, ctl } = setup();
  const ac = new AbortController();
  try {
    await ctl.start(ac.signal);
    await settle();
    assert.equal(ctl.ready(), true);
    const node = ctl.node();
    assert.ok(node?.metadata.uid);
    assert.equal(node?.metadata.labels?.['example.com/a'], 'b');
    assert.deepEqual(node?.spec?.taints, [{ key: 'k', effect: 'NoSchedule' }]);
    assert.equal(ready(node)?.reason, 'KubeletReady');
    assert.equal(node?.status?.capacity?.pods, '110');
    assert.equal(node?.status?.nodeInfo?.kubeletVersion, 'v1.34.4-dockerlet');
    assert.ok(kube.objects.has(leasePath('node-a')), 'lease created');
    assert.deepEqual(
      events.map((e) => e.reason),
      ['Starting', 'NodeHasSufficientMemory', 'NodeHasNoDiskPressure', 'NodeHasSufficientPID', 'NodeReady'],
    );
    assert.equal(events[4]?.message, 'Node node-a status is now: NodeReady');

    const statusPatches = () => kube.callsOf('PATCH', /\/status$/).length;
    assert.equal(statusPatches(), 1);
    for (let i = 0; i < 29; i++) {
      clock.advance(10_000);
      await settle();
    }
    assert.equal(statusPatches(), 1, 'no change → no PATCH within the report frequency');
    assert.ok(kube.callsOf('GET', /nodes\/node-a$/).length >= 29, 'status computed every 10 s');
    clock.advance(10_000);
    await settle();
    assert.equal(statusPatches(), 2, 'reported after 5 min');
  } finally {
    ac.abort();
    await ctl.stop();
  }
});

test('runtime down → Ready=False posted at the next update, and back', async () => {
  const { kube, clock, runtime, events, ctl } = setup();
  const ac = new AbortController();
  try {
    await ctl.start(ac.signal);
    await settle();
    events.length = 0;
    runtime.up = false;
    clock.advance(10_000);
    await settle();
    assert.equal(ctl.ready(), false);
    const r = ready(kube.objects.get(NODE) as Node);
    assert.equal(r?.status, 'False');
    assert.equal(r?.reason, 'KubeletNotReady');
    assert.equal(r?.message, RUNTIME_DOWN);
    assert.equal((kube.objects.get(NODE) as Node).status?.nodeInfo?.containerRuntimeVersion, 'docker://20.10.24');
    assert.deepEqual(events.map((e) => e.reason), ['NodeNotReady']);
    runtime.up = true;
    clock.advance(10_000);
    await settle();
    assert.equal(ctl.ready(), true);
    assert.equal(ready(kube.objects.get(NODE) as Node)?.status, 'True');
  } finally {
    ac.abort();
    await ctl.stop();
  }
});

test('memory pressure is posted and held for the transition period', async () => {
  const { kube, clock, ctl, setMem } = setup();
  const ac = new AbortController();
  const mp = () => (kube.objects.get(NODE) as Node).status?.conditions?.find((c) => c.type === 'MemoryPressure');
  try {
    await ctl.start(ac.signal);
    await settle();
    setMem(10 * 1024 * 1024);
    clock.advance(10_000);
    await settle();
    assert.equal(mp()?.status, 'True');
    assert.equal(mp()?.reason, 'KubeletHasInsufficientMemory');
    setMem(6 * GiB);
    clock.advance(10_000);
    await settle();
    assert.equal(mp()?.status, 'True', 'held');
    for (let i = 0; i < 30; i++) {
      clock.advance(10_000);
      await settle();
    }
    assert.equal(mp()?.status, 'False');
  } finally {
    ac.abort();
    await ctl.stop();
  }
});

test('a deleted Node is registered again; stop() leaves the Node and stops all calls', async () => {
  const { kube, clock, ctl } = setup();
  const ac = new AbortController();
  await ctl.start(ac.signal);
  await settle();
  const firstUid = ctl.node()?.metadata.uid;
  kube.objects.delete(NODE);
  clock.advance(10_000);
  await settle();
  assert.ok(kube.objects.has(NODE));
  assert.notEqual(ctl.node()?.metadata.uid, firstUid);
  await ctl.stop();
  assert.equal(ctl.ready(), false);
  assert.ok(kube.objects.has(NODE), 'the Node is not deleted');
  kube.calls.length = 0;
  clock.advance(120_000);
  await settle();
  assert.equal(kube.calls.length, 0);
  assert.equal(clock.pending(), 0);
});

test('an existing Node with another boot id yields a Rebooted warning', async () => {
  const { kube, ctl, events } = setup();
  await kube.create('/api/v1/nodes', { metadata: { name: 'node-a' }, status: { nodeInfo: { bootID: 'boot-0' } } });
  const ac = new AbortController();
  try {
    await ctl.start(ac.signal);
    await settle();
    const w = events.find((e) => e.reason === 'Rebooted');
    assert.equal(w?.type, 'Warning');
    assert.equal(w?.message, 'Node node-a has been rebooted, boot id: boot-1');
  } finally {
    ac.abort();
    await ctl.stop();
  }
});
