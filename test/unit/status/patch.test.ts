// The pod status patch against upstream's outputs (status-truth.md §2, produced by apimachinery's
// CreateTwoWayMergePatch) and mergePodStatus's rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PodStatus } from '../../../kube/api.js';
import { mergePodStatus, normalizeStatus, podStatusPatch } from '../../../agent/status/patch.js';
import { applyMerge } from './fake-pods.js';

const T0 = '2026-12-04T10:00:00Z';

test('a new pod IP: the old one is deleted and the order set, exactly as CreateTwoWayMergePatch', () => {
  const p = podStatusPatch('U', { podIP: '10.244.1.5', podIPs: [{ ip: '10.244.1.5' }] }, { podIP: '10.244.1.9', podIPs: [{ ip: '10.244.1.9' }] });
  assert.deepEqual(p?.body, {
    metadata: { uid: 'U' },
    status: {
      '$setElementOrder/podIPs': [{ ip: '10.244.1.9' }],
      podIP: '10.244.1.9',
      podIPs: [{ ip: '10.244.1.9' }, { $patch: 'delete', ip: '10.244.1.5' }],
    },
  });
  const applied = applyMerge({ podIP: '10.244.1.5', podIPs: [{ ip: '10.244.1.5' }] }, p?.body.status);
  assert.deepEqual(applied, { podIP: '10.244.1.9', podIPs: [{ ip: '10.244.1.9' }] });
});

test('IPs cleared: podIP and podIPs become null', () => {
  const p = podStatusPatch('U', { phase: 'Running', podIP: '10.244.1.5', podIPs: [{ ip: '10.244.1.5' }] }, { phase: 'Running' });
  assert.deepEqual(p?.body.status, { podIP: null, podIPs: null });
});

test('Ready True→False: only the changed fields of the condition, with the merge key and the order', () => {
  const server: PodStatus = { conditions: [{ type: 'Initialized', status: 'True', lastTransitionTime: T0 }, { type: 'Ready', status: 'True', lastTransitionTime: T0 }] };
  const desired: PodStatus = { conditions: [{ type: 'Initialized', status: 'True', lastTransitionTime: T0 }, { type: 'Ready', status: 'False', reason: 'X', lastTransitionTime: T0 }] };
  assert.deepEqual(podStatusPatch('U', server, desired)?.body.status, {
    '$setElementOrder/conditions': [{ type: 'Initialized' }, { type: 'Ready' }],
    conditions: [{ type: 'Ready', reason: 'X', status: 'False' }],
  });
});

test('a restart count bump sends the whole containerStatuses list', () => {
  const cs = (n: number) => [{ name: 'a', ready: true, restartCount: n, image: 'i', imageID: 'x', state: { running: { startedAt: T0 } }, lastState: {} }];
  const p = podStatusPatch('U', { containerStatuses: cs(0) }, { containerStatuses: cs(1) });
  assert.deepEqual(p?.body.status, { containerStatuses: cs(1) });
});

test('equal after normalization (ms vs s timestamps, lastProbeTime null, empty lists): no patch', () => {
  const server: PodStatus = { phase: 'Running', startTime: T0, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: T0 }] };
  const desired: PodStatus = {
    phase: 'Running', startTime: '2026-12-04T10:00:00.734Z', podIPs: [],
    conditions: [{ type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: '2026-12-04T10:00:00.123456789Z' }],
  };
  assert.equal(podStatusPatch('U', server, desired), undefined);
});

test('the node lifecycle controller\'s Ready=False is patched back to True', () => {
  const mine: PodStatus = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: T0 }] };
  const server: PodStatus = { phase: 'Running', conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: '2026-12-04T10:05:00Z', observedGeneration: 1 }] };
  const p = podStatusPatch('U', server, mine);
  assert.deepEqual(p?.body.status, {
    '$setElementOrder/conditions': [{ type: 'Ready' }],
    conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: T0, observedGeneration: null }],
  });
  assert.deepEqual(applyMerge(server, p?.body.status), normalizeStatus(mine));
});

test('mergePodStatus keeps other writers\' conditions and fields, and the scheduler\'s PodScheduled', () => {
  const server: PodStatus & { nominatedNodeName?: string } = {
    nominatedNodeName: 'n1',
    conditions: [
      { type: 'PodScheduled', status: 'True', lastTransitionTime: T0 },
      { type: 'example.com/gate', status: 'True', lastTransitionTime: T0 },
      { type: 'Ready', status: 'False', lastTransitionTime: T0 },
    ],
  };
  const merged = mergePodStatus(server, { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: T0 }] }) as PodStatus & { nominatedNodeName?: string };
  assert.deepEqual(merged.conditions?.map((c) => `${c.type}=${c.status}`), ['PodScheduled=True', 'example.com/gate=True', 'Ready=True']);
  assert.equal(merged.nominatedNodeName, 'n1');
  const p = podStatusPatch('U', server, { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: T0 }] });
  assert.ok(!JSON.stringify(p?.body).includes('delete'), 'nothing of theirs is deleted');
});

test('a terminal phase on the server is final; Ready and ContainersReady turn False with it', () => {
  const merged = mergePodStatus(
    { phase: 'Succeeded' },
    { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }, { type: 'ContainersReady', status: 'True' }] },
  );
  assert.equal(merged.phase, 'Succeeded');
  assert.deepEqual(merged.conditions?.map((c) => c.status), ['False', 'False']);
});

test('container statuses are sorted by name (upstream normalizeStatus)', () => {
  const s = normalizeStatus({ containerStatuses: [{ name: 'b', ready: true, restartCount: 0, image: '', imageID: '' }, { name: 'a', ready: true, restartCount: 0, image: '', imageID: '' }] });
  assert.deepEqual(s.containerStatuses?.map((c) => c.name), ['a', 'b']);
});

test('a kubelet-owned condition the kubelet no longer computes is deleted (a cleared PodResizePending); PodScheduled stays', () => {
  const server: PodStatus = {
    phase: 'Running',
    conditions: [
      { type: 'PodScheduled', status: 'True', lastTransitionTime: T0 },
      { type: 'PodResizePending', status: 'True', reason: 'Deferred', lastTransitionTime: T0 },
      { type: 'PodResizeInProgress', status: 'True', lastTransitionTime: T0 },
      { type: 'Ready', status: 'True', lastTransitionTime: T0 },
    ],
  };
  const mine: PodStatus = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: T0 }] };
  const merged = mergePodStatus(server, mine);
  assert.deepEqual(merged.conditions?.map((c) => c.type), ['PodScheduled', 'Ready']);
  const p = podStatusPatch('U', server, mine);
  const conds = (p?.body.status.conditions ?? []) as Record<string, unknown>[];
  assert.deepEqual(conds.filter((c) => c.$patch === 'delete').map((c) => c.type), ['PodResizePending', 'PodResizeInProgress']);
  assert.deepEqual(applyMerge(server, p?.body.status), merged);
  assert.equal(podStatusPatch('U', merged, mine), undefined, 'nothing more to write once the server holds it');
});
