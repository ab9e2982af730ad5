import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from '../../../kube/api.js';
import { FakeClock } from '../../../lib/clock.js';
import { kubeArch, parseLoadavgTasks, parseOsRelease, readHostInfo, type HostInfo } from '../../../agent/node/hostinfo.js';
import {
  buildNodeStatus, conditionTransitions, formatBinaryQuantity, formatMillicores, nodeStatusChanged, observePressure,
  rfc3339, withTransitionPeriod, type NodeStatusInput,
} from '../../../agent/node/status.js';

const GiB = 1024 ** 3;

function host(over: Partial<HostInfo> = {}): HostInfo {
  return {
    hostname: 'node-a',
    internalIP: '192.0.2.10',
    cpuCount: 2,
    memoryBytes: 25_276_514_304,
    ephemeralStorageBytes: 100 * GiB,
    osImage: 'Debian GNU/Linux 12 (bookworm)',
    kernelVersion: '6.18.44',
    operatingSystem: 'linux',
    architecture: 'amd64',
    machineID: 'abc',
    systemUUID: 'uuid-1',
    bootID: 'boot-1',
    pressure: {
      memoryAvailableBytes: 20 * GiB, memoryTotalBytes: 24 * GiB, nodefsAvailableBytes: 50 * GiB,
      nodefsCapacityBytes: 100 * GiB, pidsInUse: 200, pidMax: 32768,
    },
    ...over,
  };
}

function input(clock: FakeClock, over: Partial<NodeStatusInput> = {}): NodeStatusInput {
  return {
    host: host(),
    runtimeVersion: '20.10.24',
    kubeletVersion: 'v1.34.4-dockerlet',
    maxPods: 110,
    port: 10250,
    pressure: { memory: false, disk: false, pid: false },
    now: clock.now(),
    ...over,
  };
}

function cond(s: { conditions?: { type: string }[] } | undefined, type: string) {
  const c = s?.conditions?.find((x) => x.type === type);
  assert.ok(c, `condition ${type}`);
  return c as NonNullable<NonNullable<Node['status']>['conditions']>[number];
}

test('quantities are canonical binary-SI / millicores', () => {
  assert.equal(formatBinaryQuantity(25_276_514_304), '24684096Ki');
  assert.equal(formatBinaryQuantity(GiB), '1Gi');
  assert.equal(formatBinaryQuantity(1000), '1000');
  assert.equal(formatBinaryQuantity(0), '0');
  assert.equal(formatBinaryQuantity(-5), '0');
  assert.equal(formatMillicores(2000), '2');
  assert.equal(formatMillicores(1500), '1500m');
});

test('capacity, allocatable, addresses, nodeInfo and endpoints', () => {
  const clock = new FakeClock();
  const s = buildNodeStatus(input(clock, { reserved: { cpuMillis: 100, memoryBytes: 512 * 1024 * 1024 } }));
  assert.deepEqual(s.capacity, { cpu: '2', memory: '24684096Ki', pods: '110', 'ephemeral-storage': '100Gi' });
  // memory − 512Mi reserved − 100Mi hard eviction; storage − 10 %.
  assert.equal(s.allocatable?.memory, formatBinaryQuantity(25_276_514_304 - 612 * 1024 * 1024));
  assert.equal(s.allocatable?.cpu, '1900m');
  assert.equal(s.allocatable?.pods, '110');
  assert.equal(s.allocatable?.['ephemeral-storage'], formatBinaryQuantity(100 * GiB - Math.floor(10 * GiB)));
  assert.deepEqual(s.addresses, [{ type: 'InternalIP', address: '192.0.2.10' }, { type: 'Hostname', address: 'node-a' }]);
  assert.deepEqual(s.daemonEndpoints, { kubeletEndpoint: { Port: 10250 } });
  assert.equal(s.nodeInfo?.containerRuntimeVersion, 'docker://20.10.24');
  assert.equal(s.nodeInfo?.kubeletVersion, 'v1.34.4-dockerlet');
  assert.equal(s.nodeInfo?.kubeProxyVersion, 'v1.34.4-dockerlet');
  assert.equal(s.nodeInfo?.operatingSystem, 'linux');
  assert.equal(s.nodeInfo?.architecture, 'amd64');
  assert.equal(s.nodeInfo?.bootID, 'boot-1');
  assert.equal(s.images, undefined);
  // --node-ip wins over the default-route address.
  const s2 = buildNodeStatus(input(clock, { nodeIP: '198.51.100.7', hostname: 'custom' }));
  assert.deepEqual(s2.addresses, [{ type: 'InternalIP', address: '198.51.100.7' }, { type: 'Hostname', address: 'custom' }]);
});

test('conditions: order, reasons, messages; Ready last', () => {
  const clock = new FakeClock();
  const s = buildNodeStatus(input(clock));
  assert.deepEqual(s.conditions?.map((c) => c.type), ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready']);
  assert.deepEqual(
    s.conditions?.map((c) => [c.status, c.reason]),
    [['False', 'KubeletHasSufficientMemory'], ['False', 'KubeletHasNoDiskPressure'], ['False', 'KubeletHasSufficientPID'], ['True', 'KubeletReady']],
  );
  assert.equal(cond(s, 'Ready').message, 'kubelet is posting ready status');
  assert.equal(cond(s, 'Ready').lastHeartbeatTime, rfc3339(clock.now()));

  const p = buildNodeStatus(input(clock, { pressure: { memory: true, disk: true, pid: true } }));
  assert.deepEqual(
    p.conditions?.slice(0, 3).map((c) => [c.status, c.reason, c.message]),
    [
      ['True', 'KubeletHasInsufficientMemory', 'kubelet has insufficient memory available'],
      ['True', 'KubeletHasDiskPressure', 'kubelet has disk pressure'],
      ['True', 'KubeletHasInsufficientPID', 'kubelet has insufficient PID available'],
    ],
  );
});

test('Ready=False with upstream messages when the runtime is down or capacity is missing', () => {
  const clock = new FakeClock();
  const down = buildNodeStatus(input(clock, { runtimeVersion: undefined, runtimeErrors: ['container runtime is down'] }));
  assert.equal(cond(down, 'Ready').status, 'False');
  assert.equal(cond(down, 'Ready').reason, 'KubeletNotReady');
  assert.equal(cond(down, 'Ready').message, 'container runtime is down');
  assert.equal(down.nodeInfo?.containerRuntimeVersion, '');

  const noDisk = buildNodeStatus(input(clock, {
    host: host({ ephemeralStorageBytes: 0 }), runtimeErrors: ['container runtime is down'],
  }));
  assert.equal(cond(noDisk, 'Ready').message, '[container runtime is down, missing node capacity for resources: ephemeral-storage]');
  assert.equal(noDisk.capacity?.['ephemeral-storage'], undefined);
});

test('runtime version kept from the previous node while the runtime is down', () => {
  const clock = new FakeClock();
  const first = buildNodeStatus(input(clock));
  const s = buildNodeStatus(input(clock, { runtimeVersion: undefined, previous: { metadata: { name: 'n' }, status: first } }));
  assert.equal(s.nodeInfo?.containerRuntimeVersion, 'docker://20.10.24');
});

test('lastTransitionTime is kept until the status flips; heartbeat always moves', () => {
  const clock = new FakeClock();
  const t0 = rfc3339(clock.now());
  const first = buildNodeStatus(input(clock));
  clock.advance(10_000);
  const t1 = rfc3339(clock.now());
  const second = buildNodeStatus(input(clock, { previous: { metadata: { name: 'n' }, status: first } }));
  assert.equal(cond(second, 'Ready').lastTransitionTime, t0);
  assert.equal(cond(second, 'Ready').lastHeartbeatTime, t1);
  assert.equal(nodeStatusChanged(first, second), false, 'a heartbeat-only difference is not a change');

  clock.advance(10_000);
  const t2 = rfc3339(clock.now());
  const third = buildNodeStatus(input(clock, {
    previous: { metadata: { name: 'n' }, status: second }, runtimeErrors: ['container runtime is down'], pressure: { memory: true, disk: false, pid: false },
  }));
  assert.equal(cond(third, 'Ready').lastTransitionTime, t2);
  assert.equal(cond(third, 'MemoryPressure').lastTransitionTime, t2);
  assert.equal(cond(third, 'DiskPressure').lastTransitionTime, t0);
  assert.equal(nodeStatusChanged(second, third), true);
  assert.deepEqual(conditionTransitions(second, third).map((t) => t.eventReason), ['NodeHasInsufficientMemory', 'NodeNotReady']);
  assert.deepEqual(
    conditionTransitions(undefined, first).map((t) => t.eventReason),
    ['NodeHasSufficientMemory', 'NodeHasNoDiskPressure', 'NodeHasSufficientPID', 'NodeReady'],
  );
});

test('a condition flipping from Unknown (node-lifecycle controller) gets a new transition time', () => {
  const clock = new FakeClock();
  const prev: Node = {
    metadata: { name: 'n' },
    status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', lastTransitionTime: '2020-01-01T00:00:00Z' }] },
  };
  const s = buildNodeStatus(input(clock, { previous: prev }));
  assert.equal(cond(s, 'Ready').lastTransitionTime, rfc3339(clock.now()));
  assert.equal(nodeStatusChanged(prev.status, s), true);
});

test('nodeStatusChanged: key order and foreign conditions do not count; capacity and images do', () => {
  const clock = new FakeClock();
  const a = buildNodeStatus(input(clock));
  const reordered = JSON.parse(JSON.stringify({ ...a, capacity: { pods: '110', 'ephemeral-storage': '100Gi', memory: '24684096Ki', cpu: '2' } }));
  reordered.conditions = [...(a.conditions ?? [])].reverse();
  reordered.conditions.push({ type: 'NetworkUnavailable', status: 'False', reason: 'RouteCreated' });
  assert.equal(nodeStatusChanged(reordered, a), false);
  assert.equal(nodeStatusChanged(undefined, a), true);
  const more = buildNodeStatus(input(clock, { maxPods: 50 }));
  assert.equal(nodeStatusChanged(a, more), true);
  const withImages = buildNodeStatus(input(clock, { images: [{ names: ['busybox:1'], sizeBytes: 5 }] }));
  assert.equal(nodeStatusChanged(a, withImages), true);
  assert.equal(nodeStatusChanged(withImages, a), false, 'images are only compared when next lists them');
});

test('images: sorted by size, at most 50, at most 5 names', () => {
  const clock = new FakeClock();
  const images = Array.from({ length: 60 }, (_, i) => ({ names: Array.from({ length: 7 }, (_x, j) => `img${i}:${j}`), sizeBytes: i }));
  const s = buildNodeStatus(input(clock, { images }));
  assert.equal(s.images?.length, 50);
  assert.equal(s.images?.[0]?.sizeBytes, 59);
  assert.equal(s.images?.[0]?.names.length, 5);
});

test('pressure thresholds and the transition period', () => {
  const base = host().pressure;
  assert.deepEqual(observePressure(base), { memory: false, disk: false, pid: false });
  assert.equal(observePressure({ ...base, memoryAvailableBytes: 50 * 1024 * 1024 }).memory, true);
  assert.equal(observePressure({ ...base, nodefsAvailableBytes: 9 * GiB }).disk, true);
  assert.equal(observePressure({ ...base, pidsInUse: 32000 }).pid, false, 'no pid threshold by default');
  assert.equal(observePressure({ ...base, pidsInUse: 32000 }, { memoryAvailableBytes: 1, nodefsAvailablePercent: 10, pidAvailablePercent: 10 }).pid, true);

  const seen = {};
  const on = { memory: true, disk: false, pid: false };
  const off = { memory: false, disk: false, pid: false };
  assert.equal(withTransitionPeriod(on, seen, 1_000_000).memory, true);
  assert.equal(withTransitionPeriod(off, seen, 1_000_000 + 60_000).memory, true, 'held during the 5 min period');
  assert.equal(withTransitionPeriod(off, seen, 1_000_000 + 300_000).memory, false);
});

test('host info helpers', () => {
  assert.equal(kubeArch('x64'), 'amd64');
  assert.equal(kubeArch('arm64'), 'arm64');
  assert.equal(kubeArch('ia32'), '386');
  assert.equal(parseOsRelease('NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'), 'Debian GNU/Linux 12 (bookworm)');
  assert.equal(parseOsRelease('NAME=x'), 'Linux');
  assert.equal(parseLoadavgTasks('3.62 2.35 1.04 4/127 17448'), 127);
});

test('readHostInfo reads this host', async () => {
  const info = await readHostInfo({ version: async () => ({ version: '99.0' }) });
  assert.ok(info.cpuCount >= 1);
  assert.ok(info.memoryBytes > 0 && info.memoryBytes === info.pressure.memoryTotalBytes);
  assert.ok(info.ephemeralStorageBytes > 0);
  assert.match(info.bootID, /^[0-9a-f-]{36}$/);
  assert.equal(info.operatingSystem, 'linux');
  assert.equal(info.architecture, kubeArch(process.arch));
  assert.equal(info.runtimeVersion, '99.0');
  assert.ok(info.pressure.pidMax > 0 && info.pressure.pidsInUse > 0);
  const down = await readHostInfo({ version: async () => { throw new Error('down'); } });
  assert.equal(down.runtimeVersion, undefined);
});
