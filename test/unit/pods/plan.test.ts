import assert from 'node:assert/strict';
import { test } from 'node:test';
import { viewPod } from '../../../agent/pods/observed.js';
import { computePodActions, type PlanInput } from '../../../agent/pods/plan.js';
import { exited, obs, pod } from './fixtures.js';

const c = (name: string) => ({ name, image: 'dockerlet/busybox:1.36' });

function input(p: PlanInput['pod'], containers: Parameters<typeof viewPod>[0], over: Partial<PlanInput> = {}): PlanInput {
  return { pod: p, observed: viewPod(containers), terminating: false, specHash: () => 'h', backoffRemaining: () => 0, graceSeconds: 30, ...over };
}

test('a new pod gets a sandbox and all its containers', () => {
  const plan = computePodActions(input(pod([c('a'), c('b')]), []));
  assert.equal(plan.createSandbox, true);
  assert.equal(plan.sandboxAttempt, 0);
  assert.deepEqual(plan.containersToStart.map((s) => [s.container.name, s.reason, s.restartCount]), [['a', 'new', 0], ['b', 'new', 0]]);
});

test('init containers start one at a time, in order, before the app', () => {
  const p = pod([c('app')], { initContainers: [c('i1'), c('i2')] });
  let plan = computePodActions(input(p, [obs('POD')]));
  assert.deepEqual(plan.containersToStart.map((s) => s.container.name), ['i1']);
  plan = computePodActions(input(p, [obs('POD'), obs('i1', { kind: 'init' })]));
  assert.deepEqual(plan.containersToStart, [], 'waits while i1 runs');
  plan = computePodActions(input(p, [obs('POD'), exited('i1', 0, { kind: 'init' })]));
  assert.deepEqual(plan.containersToStart.map((s) => s.container.name), ['i2']);
  plan = computePodActions(input(p, [obs('POD'), exited('i1', 0, { kind: 'init' }), exited('i2', 0, { kind: 'init' })]));
  assert.deepEqual(plan.containersToStart.map((s) => s.container.name), ['app']);
});

test('a failed init container is retried unless restartPolicy is Never', () => {
  const failed = [obs('POD'), exited('i1', 1, { kind: 'init' })];
  const retry = computePodActions(input(pod([c('app')], { initContainers: [c('i1')] }), failed));
  assert.deepEqual(retry.containersToStart.map((s) => [s.container.name, s.restartCount]), [['i1', 1]]);
  const never = computePodActions(input(pod([c('app')], { initContainers: [c('i1')], restartPolicy: 'Never' }), failed));
  assert.deepEqual(never.containersToStart, []);
});

test('restart policies decide which exited containers come back', () => {
  const seen = [obs('POD'), exited('ok', 0), exited('bad', 2)];
  const names = (policy: 'Always' | 'OnFailure' | 'Never') =>
    computePodActions(input(pod([c('ok'), c('bad')], { restartPolicy: policy }), seen)).containersToStart.map((s) => s.container.name);
  assert.deepEqual(names('Always'), ['ok', 'bad']);
  assert.deepEqual(names('OnFailure'), ['bad']);
  assert.deepEqual(names('Never'), []);
});

test('crash-loop back-off holds a restart and asks to be requeued', () => {
  const plan = computePodActions(input(pod([c('a')]), [obs('POD'), exited('a', 1, { restartCount: 3 })], { backoffRemaining: () => 7000 }));
  assert.deepEqual(plan.containersToStart, []);
  assert.equal(plan.backingOff.get('a'), 7000);
  assert.equal(plan.requeueAfterMs, 7000);
});

test('a restart counts up from the last instance', () => {
  const plan = computePodActions(input(pod([c('a')]), [obs('POD'), exited('a', 1, { restartCount: 3, attempt: 3 }), exited('a', 1, { restartCount: 2, attempt: 2 })]));
  assert.equal(plan.containersToStart[0]?.restartCount, 4);
  assert.equal(plan.containersToStart[0]?.attempt, 4);
});

test('a changed spec hash kills and restarts the running container', () => {
  const running = obs('a');
  const plan = computePodActions(input(pod([c('a')]), [obs('POD'), running], { specHash: () => 'new' }));
  assert.deepEqual(plan.containersToKill.map((k) => k.id), [running.id]);
  assert.equal(plan.containersToStart[0]?.reason, 'spec-changed');
});

test('a dead sandbox kills the running containers and recreates everything', () => {
  const app = obs('a');
  const plan = computePodActions(input(pod([c('a')]), [obs('POD', { state: 'exited', exitCode: 0 }), app]));
  assert.equal(plan.createSandbox, true);
  assert.equal(plan.sandboxAttempt, 1);
  assert.deepEqual(plan.containersToKill.map((k) => k.id), [app.id]);
  assert.deepEqual(plan.containersToStart.map((s) => s.container.name), ['a']);
});

test('terminating kills every running container with the grace period and starts nothing', () => {
  const a = obs('a');
  const plan = computePodActions(input(pod([c('a'), c('b')]), [obs('POD'), a, exited('b', 0)], { terminating: true, graceSeconds: 7 }));
  assert.equal(plan.killPod, true);
  assert.deepEqual(plan.containersToKill.map((k) => [k.id, k.graceSeconds]), [[a.id, 7]]);
  assert.deepEqual(plan.containersToStart, []);
});

test('a completed Never pod with a dead sandbox is left alone', () => {
  const plan = computePodActions(input(pod([c('a')], { restartPolicy: 'Never' }), [obs('POD', { state: 'exited' }), exited('a', 0)]));
  assert.equal(plan.createSandbox, false);
  assert.deepEqual(plan.containersToStart, []);
});
