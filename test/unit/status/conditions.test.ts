// The kubelet-owned pod conditions against upstream generate.go's cases: readiness gates, a failed
// init container on a RestartNever pod, sidecars (restartable init containers) in Initialized/Ready.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContainerStatus, Pod, PodStatus } from '../../../kube/api.js';
import { viewPod } from '../../../agent/pods/observed.js';
import { computePodStatus, type StatusInput } from '../../../agent/status/compute.js';
import { containersReadyCondition, initializedCondition, readyCondition } from '../../../agent/status/conditions.js';
import { mergePodStatus } from '../../../agent/status/patch.js';
import { exited, obs, pod } from '../pods/fixtures.js';

const c = (name: string) => ({ name, image: 'dockerlet/busybox:1.36' });
const cond = (s: PodStatus, type: string) => s.conditions?.find((x) => x.type === type);

function status(p: Pod, containers: Parameters<typeof viewPod>[0], over: Partial<StatusInput> = {}) {
  return computePodStatus({
    pod: p, observed: viewPod(containers), waiting: new Map(), messages: new Map(), hostIP: '192.0.2.2',
    qosClass: 'BestEffort', startTime: '2026-01-01T00:00:00Z', now: '2026-01-01T00:01:00Z', terminal: false, ...over,
  });
}

function gated(conditions: { type: string; status: 'True' | 'False' }[]): Pod {
  const p = pod([c('a')]);
  (p.spec as { readinessGates?: unknown }).readinessGates = [{ conditionType: 'k8s.io/test-condition1' }, { conditionType: 'k8s.io/test-condition2' }];
  p.status = { conditions: conditions.map((x) => ({ ...x, lastTransitionTime: '2026-01-01T00:00:30Z' })) };
  return p;
}

test('readiness gates: Ready only when every gate condition is True; ContainersReady ignores gates', () => {
  const running = [obs('POD'), obs('a')];
  const none = status(gated([]), running);
  assert.equal(cond(none, 'ContainersReady')?.status, 'True');
  assert.equal(cond(none, 'Ready')?.status, 'False');
  assert.equal(cond(none, 'Ready')?.reason, 'ReadinessGatesNotReady');
  assert.equal(cond(none, 'Ready')?.message,
    'corresponding condition of pod readiness gate "k8s.io/test-condition1" does not exist., corresponding condition of pod readiness gate "k8s.io/test-condition2" does not exist.');

  const one = status(gated([{ type: 'k8s.io/test-condition1', status: 'True' }, { type: 'k8s.io/test-condition2', status: 'False' }]), running);
  assert.equal(cond(one, 'Ready')?.status, 'False');
  assert.equal(cond(one, 'Ready')?.message, 'the status of pod readiness gate "k8s.io/test-condition2" is not "True", but False');

  const both = status(gated([{ type: 'k8s.io/test-condition1', status: 'True' }, { type: 'k8s.io/test-condition2', status: 'True' }]), running);
  assert.equal(cond(both, 'Ready')?.status, 'True');
  assert.equal(cond(both, 'k8s.io/test-condition1'), undefined, 'the kubelet does not write the gate conditions');
});

test('readiness gates: a gate condition someone else wrote survives the status merge', () => {
  const server = { conditions: [
    { type: 'Ready', status: 'False' as const }, { type: 'k8s.io/test-condition1', status: 'True' as const, reason: 'Mine' },
  ] };
  const merged = mergePodStatus(server, status(gated([{ type: 'k8s.io/test-condition1', status: 'True' }]), [obs('POD'), obs('a')]));
  assert.deepEqual(merged.conditions?.find((x) => x.type === 'k8s.io/test-condition1'), { type: 'k8s.io/test-condition1', status: 'True', reason: 'Mine' });
});

test('a failed init container on a RestartNever pod: Failed, Initialized False with both init containers incomplete', () => {
  const p = pod([c('run1')], { restartPolicy: 'Never', initContainers: [c('init1'), c('init2')] });
  const s = status(p, [obs('POD'), exited('init1', 1, { kind: 'init' })]);
  assert.equal(s.phase, 'Failed');
  const init = cond(s, 'Initialized');
  assert.equal(init?.status, 'False');
  assert.equal(init?.reason, 'ContainersNotInitialized');
  assert.equal(init?.message, 'containers with incomplete status: [init1 init2]');
  assert.equal(cond(s, 'Ready')?.status, 'False');
  assert.equal(cond(s, 'Ready')?.reason, 'PodFailed');
  assert.equal(cond(s, 'ContainersReady')?.reason, 'PodFailed');
  assert.equal(s.containerStatuses?.[0]?.state?.waiting?.reason, 'PodInitializing');
});

test('a succeeded pod with init containers: Initialized True with reason PodCompleted', () => {
  const p = pod([c('a')], { restartPolicy: 'Never', initContainers: [c('i')] });
  const s = status(p, [obs('POD'), exited('i', 0, { kind: 'init' }), exited('a', 0)]);
  assert.equal(s.phase, 'Succeeded');
  assert.equal(cond(s, 'Initialized')?.status, 'True');
  assert.equal(cond(s, 'Initialized')?.reason, 'PodCompleted');
  assert.equal(cond(s, 'Ready')?.reason, 'PodCompleted');
});

const st = (name: string, over: Partial<ContainerStatus>): ContainerStatus => ({ name, ready: false, restartCount: 0, image: '', imageID: '', ...over });

test('sidecars: Initialized once started, ContainersReady counts their readiness', () => {
  const p = pod([c('app')], { initContainers: [{ ...c('side'), restartPolicy: 'Always' }, c('setup')] });
  const notStarted = [st('side', { state: { running: {} }, started: false }), st('setup', { state: { waiting: { reason: 'PodInitializing' } } }), st('app', { state: { waiting: { reason: 'PodInitializing' } } })];
  assert.equal(initializedCondition(p, notStarted, 'Pending').message, 'containers with incomplete status: [side setup]');
  const started = [st('side', { state: { running: {} }, started: true, ready: false }), st('setup', { state: { terminated: { exitCode: 0 } }, ready: true }), st('app', { state: { running: {} }, started: true, ready: true })];
  assert.equal(initializedCondition(p, started, 'Running').status, 'True');
  const cr = containersReadyCondition(p, started, 'Running');
  assert.equal(cr.status, 'False');
  assert.equal(cr.message, 'containers with unready status: [side]');
  assert.equal(readyCondition(p, cr, []).message, 'containers with unready status: [side]');
  // a restarting sidecar after the app started: still initialized (HasAnyRegularContainerStarted)
  const restarting = [st('side', { state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1 } } }), started[1]!, started[2]!];
  assert.equal(initializedCondition(p, restarting, 'Running').status, 'True');
});

test('sidecars: a running sidecar without probes reports ready (regular init containers: ready once succeeded)', () => {
  const p = pod([c('app')], { restartPolicy: 'Never', initContainers: [{ ...c('side'), restartPolicy: 'Always' }] });
  const s = status(p, [obs('POD'), obs('side', { kind: 'init' }), exited('app', 0)]);
  assert.equal(s.initContainerStatuses?.[0]?.ready, true, 'a running sidecar without probes is ready');
});

test('sidecars through computePodStatus: Pending and not initialized until the startup probe passes, then Running', () => {
  const side = { ...c('side'), restartPolicy: 'Always' as const, startupProbe: { exec: { command: ['true'] } } };
  const p = pod([c('app')], { initContainers: [side] });
  const sideC = obs('side', { kind: 'init' });
  let started = false;
  const probes = { isStarted: (name: string) => name !== 'side' || started, isReady: (name: string) => name !== 'side' || started };
  const before = status(p, [obs('POD'), sideC], { probes });
  assert.equal(before.phase, 'Pending');
  assert.equal(cond(before, 'Initialized')?.message, 'containers with incomplete status: [side]');
  assert.equal(before.initContainerStatuses?.[0]?.started, false);
  started = true;
  const after = status(p, [obs('POD'), sideC, obs('app')], { probes });
  assert.equal(after.phase, 'Running');
  assert.equal(cond(after, 'Initialized')?.status, 'True');
  assert.equal(cond(after, 'Ready')?.status, 'True');
});
