import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from '../../../kube/api.js';
import { FakeClock } from '../../../lib/clock.js';
import { ErrorCodes, isCode } from '../../../lib/errors.js';
import {
  initialNode, isKubeletLabel, reconcilePatch, registerNode, validateNodeLabels, type DesiredNode,
} from '../../../agent/node/register.js';
import { FakeKube, settle } from './fake-kube.js';

const NODES = '/api/v1/nodes';

function desired(over: Partial<DesiredNode> = {}): DesiredNode {
  return {
    name: 'node-a',
    architecture: 'amd64',
    labels: { 'example.com/role': 'edge', 'node.kubernetes.io/pool': 'blue' },
    taints: [{ key: 'dedicated', value: 'x', effect: 'NoSchedule' }],
    status: (existing) => ({
      capacity: { cpu: '2' },
      conditions: [{ type: 'Ready', status: 'True', reason: existing ? 'KubeletReady' : 'Initial' }],
    }),
    ...over,
  };
}

test('isKubeletLabel / validateNodeLabels follow NodeRestriction', () => {
  assert.equal(isKubeletLabel('kubernetes.io/hostname'), true);
  assert.equal(isKubeletLabel('topology.kubernetes.io/zone'), true);
  assert.equal(isKubeletLabel('node.kubernetes.io/pool'), true);
  assert.equal(isKubeletLabel('x.kubelet.kubernetes.io/a'), true);
  assert.equal(isKubeletLabel('example.com/a'), true);
  assert.equal(isKubeletLabel('plain'), true);
  assert.equal(isKubeletLabel('node-role.kubernetes.io/worker'), false);
  assert.equal(isKubeletLabel('node-restriction.kubernetes.io/x'), false);
  assert.equal(isKubeletLabel('foo.k8s.io/x'), false);
  assert.deepEqual(validateNodeLabels({ 'example.com/a': 'b' }), []);
  assert.equal(validateNodeLabels({ 'node-role.kubernetes.io/worker': '' }).length, 1);
  assert.equal(validateNodeLabels({ 'a/b/c': 'x' }).length, 1);
  assert.equal(validateNodeLabels({ ok: 'bad value!' }).length, 1);
});

test('initialNode: default + configured labels, taints, attach-detach annotation, status', () => {
  const n = initialNode(desired());
  assert.deepEqual(n.metadata.labels, {
    'example.com/role': 'edge', 'node.kubernetes.io/pool': 'blue',
    'kubernetes.io/hostname': 'node-a', 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64',
  });
  assert.equal(n.metadata.annotations?.['volumes.kubernetes.io/controller-managed-attach-detach'], 'true');
  assert.deepEqual(n.spec?.taints, [{ key: 'dedicated', value: 'x', effect: 'NoSchedule' }]);
  assert.equal(n.status?.conditions?.[0]?.reason, 'Initial');
});

test('fresh registration: POST, then status PATCH; returns created', async () => {
  const kube = new FakeKube();
  const r = await registerNode(kube, desired());
  assert.equal(r.created, true);
  assert.equal(r.previous, undefined);
  assert.ok(r.node.metadata.uid);
  assert.deepEqual(kube.calls.map((c) => `${c.method} ${c.path}`), [`POST ${NODES}`, `PATCH ${NODES}/node-a/status`]);
  const patch = kube.callsOf('PATCH')[0];
  assert.equal(patch?.patchType, 'strategic');
  assert.equal(r.node.status?.conditions?.[0]?.reason, 'KubeletReady');
});

test('AlreadyExists: GET, reconcile labels with a strategic patch that never touches taints', async () => {
  const kube = new FakeKube();
  const existing: Node = {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: 'node-a', labels: { 'kubernetes.io/hostname': 'node-a', keep: 'me' } },
    spec: { taints: [{ key: 'other', effect: 'NoExecute' }] },
    status: { nodeInfo: { bootID: 'old' } },
  };
  await kube.create(NODES, existing);
  kube.calls.length = 0;
  const r = await registerNode(kube, desired());
  assert.equal(r.created, false);
  assert.equal(r.previous?.status?.nodeInfo?.bootID, 'old');
  assert.deepEqual(kube.calls.map((c) => `${c.method} ${c.path}`), [
    `POST ${NODES}`, `GET ${NODES}/node-a`, `PATCH ${NODES}/node-a`, `PATCH ${NODES}/node-a/status`,
  ]);
  const body = kube.callsOf('PATCH')[0]?.body as { metadata: { labels: Record<string, string> }; spec?: unknown };
  assert.equal(body.spec, undefined, 'no taint changes');
  assert.deepEqual(body.metadata.labels, {
    'example.com/role': 'edge', 'node.kubernetes.io/pool': 'blue', 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64',
  });
  assert.deepEqual(r.node.spec?.taints, [{ key: 'other', effect: 'NoExecute' }]);
  assert.equal(r.node.metadata.labels?.keep, 'me');
  // Nothing to reconcile the second time round.
  assert.equal(reconcilePatch(r.node, desired()), undefined);
});

test('transient failures retry with back-off; Forbidden does not', async () => {
  const clock = new FakeClock();
  const kube = new FakeKube();
  kube.fail('POST', /nodes$/, 503, 'ServiceUnavailable', 2);
  const p = registerNode(kube, desired(), { clock });
  await settle();
  assert.equal(kube.callsOf('POST').length, 1);
  clock.advance(99);
  await settle();
  assert.equal(kube.callsOf('POST').length, 1, 'first back-off is 100 ms');
  clock.advance(1);
  await settle();
  assert.equal(kube.callsOf('POST').length, 2);
  clock.advance(200);
  await settle();
  const r = await p;
  assert.equal(r.created, true);
  assert.equal(kube.callsOf('POST').length, 3);

  const k2 = new FakeKube();
  k2.fail('POST', /nodes$/, 403, 'Forbidden', 5);
  await assert.rejects(registerNode(k2, desired(), { clock }), (err) => isCode(err, ErrorCodes.KUBE_API) && /403/.test(String(err)));
  assert.equal(k2.callsOf('POST').length, 1);
});

test('labels a node may not set are rejected before any request', async () => {
  const kube = new FakeKube();
  await assert.rejects(
    registerNode(kube, desired({ labels: { 'node-role.kubernetes.io/worker': '' } })),
    (err) => isCode(err, ErrorCodes.CONFIG_INVALID),
  );
  assert.equal(kube.calls.length, 0);
});
