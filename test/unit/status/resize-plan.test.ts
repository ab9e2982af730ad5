// In-place resize, the pure plan (agent/pods/resize.ts): upstream canResizePod (Infeasible / Deferred
// and their messages), computePodResizeAction (update vs RestartContainer, decreases before increases)
// and the pod cgroup's before/after (doPodResizeAction's order).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Container, Pod, ResourceRequirements } from '../../../kube/api.js';
import type { ObservedContainer } from '../../../runtime/types.js';
import { viewPod } from '../../../agent/pods/observed.js';
import {
  amountsOf, checkResize, computeResize, mergeActuated, orderedUpdates, podDirection, planIsEmpty, resizePolicyOf, type ContainerUpdate,
} from '../../../agent/pods/resize.js';

function pod(containers: Container[], extra: Partial<Pod['spec']> = {}): Pod {
  return { metadata: { name: 'p', namespace: 'ns', uid: 'u1', generation: 2 }, spec: { containers, ...extra } } as Pod;
}

function running(name: string, id: string, restartCount = 0): ObservedContainer {
  return {
    podUid: 'u1', podName: 'p', podNamespace: 'ns', containerName: name, kind: 'container', attempt: restartCount, restartCount,
    specHash: 'h', id, dockerName: `k8s_${name}`, state: 'running', image: 'img', imageRef: 'docker://img', createdAt: '2026-01-01T00:00:00.000Z',
    annotations: {},
  };
}

const sandbox: ObservedContainer = { ...running('POD', 'sb'), kind: 'sandbox' };
const g = (cpu: string, memory: string): ResourceRequirements => ({ requests: { cpu, memory }, limits: { cpu, memory } });

test('amountsOf: millicores and bytes; an unset request is its limit', () => {
  assert.deepEqual(amountsOf({ limits: { cpu: '500m', memory: '128Mi' } }), { cpuRequest: 500, cpuLimit: 500, memoryRequest: 134217728, memoryLimit: 134217728 });
  assert.deepEqual(amountsOf({ requests: { cpu: '0.1' } }), { cpuRequest: 100, cpuLimit: 0, memoryRequest: 0, memoryLimit: 0 });
  assert.deepEqual(amountsOf(undefined), { cpuRequest: 0, cpuLimit: 0, memoryRequest: 0, memoryLimit: 0 });
});

test('checkResize: Infeasible beyond allocatable with upstream messages (memory named first), Deferred beside other pods', () => {
  const alloc = { cpuMillis: 2000, memoryBytes: 4 * 2 ** 30 };
  assert.deepEqual(checkResize(pod([{ name: 'c', resources: g('3', '1Gi') }]), alloc, []), {
    reason: 'Infeasible', message: "Node didn't have enough capacity: cpu, requested: 3000, capacity: 2000",
  });
  assert.deepEqual(checkResize(pod([{ name: 'c', resources: g('3', '5Gi') }]), alloc, []), {
    reason: 'Infeasible', message: `Node didn't have enough capacity: memory, requested: ${5 * 2 ** 30}, capacity: ${4 * 2 ** 30}`,
  });
  const other = { ...pod([{ name: 'o', resources: g('1500m', '1Gi') }]), metadata: { uid: 'u2' } } as Pod;
  assert.deepEqual(checkResize(pod([{ name: 'c', resources: g('1', '1Gi') }]), alloc, [other]), {
    reason: 'Deferred', message: "Node didn't have enough resource: cpu, requested: 1000, used: 1500, capacity: 2000",
  });
  assert.equal(checkResize(pod([{ name: 'c', resources: g('500m', '1Gi') }]), alloc, [other]), undefined);
  // The pod itself among the others is not counted twice.
  const self = pod([{ name: 'c', resources: g('1', '1Gi') }]);
  assert.equal(checkResize(self, alloc, [self]), undefined);
});

test('computeResize: a CPU and memory increase of a running container is an update, with the pod cgroup from → to', () => {
  const want = pod([{ name: 'c', resources: g('400m', '256Mi') }]);
  const c = running('c', 'c1');
  const plan = computeResize({ allocated: want, observed: viewPod([sandbox, c]), actuated: () => g('200m', '128Mi') });
  assert.equal(plan.restarts.length, 0);
  assert.equal(plan.updates.length, 1);
  assert.deepEqual({ ...plan.updates[0], from: undefined, to: undefined }, { id: 'c1', name: 'c', cpu: true, memory: true, from: undefined, to: undefined });
  assert.deepEqual(plan.podFrom, { cpuShares: 204, cpuPeriod: 100000, cpuQuota: 20000, memoryLimitBytes: 134217728 });
  assert.deepEqual(plan.podTo, { cpuShares: 409, cpuPeriod: 100000, cpuQuota: 40000, memoryLimitBytes: 268435456 });
  assert.equal(planIsEmpty(plan), false);
});

test('computeResize: nothing to do when what runs is the allocation, or for an older agent\'s container (no record)', () => {
  const want = pod([{ name: 'c', resources: g('400m', '256Mi') }]);
  const observed = viewPod([sandbox, running('c', 'c1')]);
  assert.equal(planIsEmpty(computeResize({ allocated: want, observed, actuated: () => g('0.4', '256Mi') })), true);
  assert.equal(planIsEmpty(computeResize({ allocated: want, observed, actuated: () => undefined })), true);
  // A container not running is started later with the allocation: nothing to update now.
  assert.equal(planIsEmpty(computeResize({ allocated: want, observed: viewPod([sandbox]), actuated: () => g('1', '1Gi') })), true);
});

test('computeResize: resizePolicy RestartContainer for a changed resource restarts the container (restartCount + 1)', () => {
  const spec: Container = {
    name: 'c', resources: g('200m', '256Mi'),
    resizePolicy: [{ resourceName: 'cpu', restartPolicy: 'NotRequired' }, { resourceName: 'memory', restartPolicy: 'RestartContainer' }],
  } as Container;
  assert.equal(resizePolicyOf(spec, 'memory'), 'RestartContainer');
  assert.equal(resizePolicyOf(spec, 'cpu'), 'NotRequired');
  const observed = viewPod([sandbox, running('c', 'c1', 3)]);
  const memChange = computeResize({ allocated: pod([spec]), observed, actuated: () => g('200m', '128Mi') });
  assert.deepEqual(memChange.restarts.map((r) => [r.id, r.name, r.kind, r.restartCount]), [['c1', 'c', 'container', 4]]);
  assert.equal(memChange.updates.length, 0);
  // Only CPU changed: NotRequired, updated in place.
  const cpuChange = computeResize({ allocated: pod([spec]), observed, actuated: () => g('100m', '256Mi') });
  assert.equal(cpuChange.restarts.length, 0);
  assert.deepEqual(cpuChange.updates.map((u) => [u.cpu, u.memory]), [[true, false]]);
});

test('computeResize: a sidecar is resizable; a memory request alone needs no runtime call', () => {
  const p = pod([{ name: 'c', resources: { requests: { cpu: '100m', memory: '100Mi' } } }], {
    initContainers: [{ name: 's', restartPolicy: 'Always', resources: { requests: { cpu: '300m' } } }],
  });
  const s: ObservedContainer = { ...running('s', 's1'), kind: 'init' };
  const plan = computeResize({
    allocated: p, observed: viewPod([sandbox, running('c', 'c1'), s]),
    actuated: (o): ResourceRequirements => (o.id === 's1' ? { requests: { cpu: '100m' } } : { requests: { cpu: '100m', memory: '50Mi' } }),
  });
  assert.deepEqual(plan.updates.map((u) => u.name), ['s']);
  assert.deepEqual(plan.recordOnly.map((r) => r.id), ['c1']);
});

test('orderedUpdates: decreases before increases, per resource', () => {
  const u = (name: string, from: string, to: string): ContainerUpdate => ({ id: name, name, from: g(from, '1Gi'), to: g(to, '1Gi'), cpu: true, memory: false });
  const list = [u('up', '100m', '200m'), u('down', '300m', '100m'), u('up2', '100m', '150m')];
  assert.deepEqual(orderedUpdates(list, 'cpu').map((x) => x.name), ['down', 'up', 'up2']);
  assert.deepEqual(orderedUpdates(list, 'memory'), []);
});

test('mergeActuated: one resource taken from the target, the other kept', () => {
  assert.deepEqual(mergeActuated(g('100m', '128Mi'), g('200m', '256Mi'), 'memory'), {
    limits: { cpu: '100m', memory: '256Mi' }, requests: { cpu: '100m', memory: '256Mi' },
  });
  assert.deepEqual(mergeActuated(g('100m', '128Mi'), g('200m', '256Mi'), 'cpu'), {
    limits: { cpu: '200m', memory: '128Mi' }, requests: { cpu: '200m', memory: '128Mi' },
  });
});

test('podDirection: raised, lowered, unchanged; no quota is unlimited', () => {
  assert.equal(podDirection({ memoryLimitBytes: 1 }, { memoryLimitBytes: 2 }, 'memory', 'limit'), 1);
  assert.equal(podDirection({ memoryLimitBytes: 2 }, { memoryLimitBytes: 1 }, 'memory', 'limit'), -1);
  assert.equal(podDirection({ cpuShares: 100 }, { cpuShares: 100 }, 'cpu', 'request'), 0);
  assert.equal(podDirection({ cpuQuota: 20000 }, {}, 'cpu', 'limit'), 1);
});
