// Node status after an outage (upstream tryUpdateNodeStatus compares with the server's Node): the node
// lifecycle controller's Unknown is replaced by the truth at the next update, not after the 5 min
// report frequency, and a failed round is retried within seconds rather than at the next 10 s tick.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from '../../../kube/api.js';
import { FakeClock } from '../../../lib/clock.js';
import type { HostInfo } from '../../../agent/node/hostinfo.js';
import { NodeController } from '../../../agent/node/controller.js';
import { FakeKube, settle } from './fake-kube.js';

const GiB = 1024 ** 3;
const NODE = '/api/v1/nodes/node-a';

function host(): HostInfo {
  return {
    hostname: 'node-a', internalIP: '192.0.2.10', cpuCount: 2, memoryBytes: 8 * GiB, ephemeralStorageBytes: 100 * GiB,
    osImage: 'Test Linux', kernelVersion: '6.1.0', operatingSystem: 'linux', architecture: 'amd64',
    machineID: 'm', systemUUID: 's', bootID: 'b',
    pressure: {
      memoryAvailableBytes: 6 * GiB, memoryTotalBytes: 8 * GiB, nodefsAvailableBytes: 60 * GiB,
      nodefsCapacityBytes: 100 * GiB, pidsInUse: 100, pidMax: 32768,
    },
  };
}

function setup() {
  const kube = new FakeKube();
  const clock = new FakeClock();
  const ctl = new NodeController({
    client: kube, nodeName: 'node-a', config: {}, clock,
    runtime: { version: async () => ({ version: '20.10.24' }) },
    readHost: async () => host(), readPressure: async () => host().pressure,
  });
  return { kube, clock, ctl };
}

/** What kube-controller-manager's node lifecycle controller writes after the grace period. */
function markUnknown(kube: FakeKube): void {
  const n = kube.objects.get(NODE) as Node;
  for (const c of n.status?.conditions ?? []) {
    c.status = 'Unknown';
    c.reason = 'NodeStatusUnknown';
    c.message = 'Kubelet stopped posting node status.';
    c.lastTransitionTime = '2026-12-04T10:00:00Z';
  }
}

const cond = (kube: FakeKube, type: string) => (kube.objects.get(NODE) as Node).status?.conditions?.find((c) => c.type === type);

test('conditions the node controller set to Unknown are rewritten at the next update', async () => {
  const { kube, clock, ctl } = setup();
  const ac = new AbortController();
  try {
    await ctl.start(ac.signal);
    await settle();
    clock.advance(10_000);
    await settle();
    const patches = kube.callsOf('PATCH', /\/status$/).length;
    markUnknown(kube);
    clock.advance(10_000);
    await settle();
    assert.equal(kube.callsOf('PATCH', /\/status$/).length, patches + 1, 'written at once, not after the report frequency');
    assert.equal(cond(kube, 'Ready')?.status, 'True');
    assert.equal(cond(kube, 'Ready')?.reason, 'KubeletReady');
    assert.notEqual(cond(kube, 'Ready')?.lastTransitionTime, '2026-12-04T10:00:00Z', 'a transition from Unknown');
    for (const t of ['MemoryPressure', 'DiskPressure', 'PIDPressure']) assert.equal(cond(kube, t)?.status, 'False', t);
  } finally {
    ac.abort();
    await ctl.stop();
  }
});

test('after a failed round (API server away) the next one comes within seconds', async () => {
  const { kube, clock, ctl } = setup();
  const ac = new AbortController();
  try {
    await ctl.start(ac.signal);
    await settle();
    kube.fail('GET', /nodes\/node-a$/, 503, 'ServiceUnavailable', 3);
    clock.advance(10_000); // fails
    await settle();
    markUnknown(kube);
    clock.advance(1000); // fails
    await settle();
    clock.advance(2000); // fails
    await settle();
    assert.equal(cond(kube, 'Ready')?.status, 'Unknown');
    clock.advance(4000); // the server is back
    await settle();
    assert.equal(cond(kube, 'Ready')?.status, 'True', 'written 7 s after the first failure, not 10 s after the last');
  } finally {
    ac.abort();
    await ctl.stop();
  }
});
