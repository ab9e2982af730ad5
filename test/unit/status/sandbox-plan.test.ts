// Sandbox loss in the pure plan (kuberuntime computePodActions): a new sandbox runs the init containers
// again from the first; restartPolicy Never pods whose sandbox died get no new sandbox, and what still
// runs is killed so the pod ends (Failed).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { viewPod } from '../../../agent/pods/observed.js';
import { computePodActions, firstIncompleteInit, type PlanInput } from '../../../agent/pods/plan.js';
import { podPhase } from '../../../agent/status/compute.js';
import { exited, obs, pod } from '../pods/fixtures.js';

const c = (name: string) => ({ name, image: 'dockerlet/busybox:1.36' });

function input(p: PlanInput['pod'], containers: Parameters<typeof viewPod>[0]): PlanInput {
  return { pod: p, observed: viewPod(containers), terminating: false, specHash: () => 'h', backoffRemaining: () => 0, graceSeconds: 30 };
}

test('a dead sandbox: new sandbox, running app killed, init containers again from the first', () => {
  const p = pod([c('app')], { initContainers: [c('i1'), c('i2')] });
  const sb = obs('POD', { id: 'sb0', state: 'exited', exitCode: 137 });
  const world = [sb, exited('i1', 0, { kind: 'init', sandboxId: 'sb0' }), exited('i2', 0, { kind: 'init', sandboxId: 'sb0' }), obs('app', { sandboxId: 'sb0' })];
  const plan = computePodActions(input(p, world));
  assert.equal(plan.createSandbox, true);
  assert.equal(plan.sandboxAttempt, 1);
  assert.equal(plan.killPod, true);
  assert.deepEqual(plan.containersToKill.map((k) => k.containerName), ['app']);
  assert.deepEqual(plan.containersToStart.map((s) => [s.container.name, s.kind, s.restartCount]), [['i1', 'init', 1]]);
});

test('in the new sandbox, init containers that ran in the old one count as not done', () => {
  const p = pod([c('app')], { initContainers: [c('i1'), c('i2')] });
  const world = [
    obs('POD', { id: 'sb0', attempt: 0, state: 'exited' }),
    obs('POD', { id: 'sb1', attempt: 1 }),
    exited('i1', 0, { kind: 'init', sandboxId: 'sb0' }),
    exited('i2', 0, { kind: 'init', sandboxId: 'sb0' }),
    exited('i1', 0, { kind: 'init', sandboxId: 'sb1', restartCount: 1, attempt: 1 }),
    exited('app', 137, { sandboxId: 'sb0' }),
  ];
  assert.equal(firstIncompleteInit(p, viewPod(world)), 1);
  const plan = computePodActions(input(p, world));
  assert.equal(plan.createSandbox, false);
  assert.deepEqual(plan.containersToStart.map((s) => [s.container.name, s.restartCount]), [['i2', 1]]);
});

test('restartPolicy Never and the sandbox died: no new sandbox, the running container is killed, the pod fails', () => {
  const p = pod([c('app')], { restartPolicy: 'Never' });
  const running = [obs('POD', { id: 'sb0', state: 'exited', exitCode: 137 }), obs('app', { sandboxId: 'sb0' })];
  const plan = computePodActions(input(p, running));
  assert.equal(plan.createSandbox, false);
  assert.deepEqual(plan.containersToStart, []);
  assert.deepEqual(plan.containersToKill.map((k) => k.containerName), ['app']);
  // Once killed (exit 137) the phase is Failed, as upstream.
  const statuses = [{ name: 'app', ready: false, restartCount: 0, image: '', imageID: '', state: { terminated: { exitCode: 137 } } }];
  assert.equal(podPhase(p, statuses, false, false, false), 'Failed');
  const after = computePodActions(input(p, [running[0]!, exited('app', 137, { sandboxId: 'sb0' })]));
  assert.equal(after.createSandbox, false, 'and stays without a sandbox');
});

test('restartPolicy Never before anything ran: the first sandbox is still created', () => {
  const p = pod([c('app')], { restartPolicy: 'Never' });
  assert.equal(computePodActions(input(p, [])).createSandbox, true);
});

test('restartPolicy OnFailure: a dead sandbox is recreated for the containers that must still run', () => {
  const p = pod([c('app')], { restartPolicy: 'OnFailure' });
  const plan = computePodActions(input(p, [obs('POD', { id: 'sb0', state: 'exited' }), obs('app', { sandboxId: 'sb0' })]));
  assert.equal(plan.createSandbox, true);
  assert.deepEqual(plan.containersToStart.map((s) => s.container.name), ['app']);
});
