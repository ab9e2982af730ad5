import assert from 'node:assert/strict';
import { test } from 'node:test';
import { viewPod } from '../../../agent/pods/observed.js';
import { computePodStatus, podStatusEqual, type StatusInput } from '../../../agent/status/compute.js';
import { EDGES, illegalTransitionError, settle, transition, type PodFacts } from '../../../agent/pods/states/index.js';
import { ErrorCodes, isCode } from '../../../lib/errors.js';
import { exited, obs, pod } from './fixtures.js';

const c = (name: string) => ({ name, image: 'dockerlet/busybox:1.36' });

function status(p: StatusInput['pod'], containers: Parameters<typeof viewPod>[0], over: Partial<StatusInput> = {}) {
  return computePodStatus({
    pod: p, observed: viewPod(containers), waiting: new Map(), messages: new Map(), hostIP: '192.0.2.2',
    qosClass: 'BestEffort', startTime: '2026-01-01T00:00:00Z', now: '2026-01-01T00:01:00Z', terminal: false, ...over,
  });
}

test('a new pod is Pending with ContainerCreating and unready conditions', () => {
  const s = status(pod([c('a')]), []);
  assert.equal(s.phase, 'Pending');
  assert.deepEqual(s.containerStatuses?.[0]?.state, { waiting: { reason: 'ContainerCreating' } });
  const ready = s.conditions?.find((x) => x.type === 'Ready');
  assert.equal(ready?.status, 'False');
  assert.equal(ready?.reason, 'ContainersNotReady');
  assert.equal(ready?.message, 'containers with unready status: [a]');
  assert.equal(s.podIP, undefined);
});

test('a running pod is Running and Ready with its sandbox IP', () => {
  const s = status(pod([c('a')]), [obs('POD'), obs('a')]);
  assert.equal(s.phase, 'Running');
  assert.equal(s.podIP, '172.17.0.5');
  assert.deepEqual(s.podIPs, [{ ip: '172.17.0.5' }]);
  assert.equal(s.conditions?.find((x) => x.type === 'Ready')?.status, 'True');
  assert.equal(s.conditions?.find((x) => x.type === 'PodReadyToStartContainers')?.status, 'True');
  const cs = s.containerStatuses![0]!;
  assert.equal(cs.ready, true);
  assert.match(cs.containerID!, /^docker:\/\/id/);
});

test('init containers pending show PodInitializing and the Initialized reason', () => {
  const p = pod([c('app')], { initContainers: [c('i1'), c('i2')] });
  const s = status(p, [obs('POD'), exited('i1', 0, { kind: 'init' }), obs('i2', { kind: 'init' })]);
  assert.equal(s.phase, 'Pending');
  const init = s.conditions?.find((x) => x.type === 'Initialized');
  assert.equal(init?.reason, 'ContainersNotInitialized');
  assert.equal(init?.message, 'containers with incomplete status: [i2]');
  assert.deepEqual(s.containerStatuses?.[0]?.state, { waiting: { reason: 'PodInitializing' } });
  assert.equal(s.initContainerStatuses?.[0]?.state?.terminated?.reason, 'Completed');
});

test('a crash-looping container keeps phase Running with lastState terminated', () => {
  const waiting = new Map([['a', { reason: 'CrashLoopBackOff', message: 'back-off 10s restarting failed container=a pod=p_ns(u1)' }]]);
  const s = status(pod([c('a')]), [obs('POD'), exited('a', 3, { restartCount: 1 })], { waiting });
  assert.equal(s.phase, 'Running');
  const cs = s.containerStatuses![0]!;
  assert.equal(cs.state?.waiting?.reason, 'CrashLoopBackOff');
  assert.equal(cs.lastState?.terminated?.exitCode, 3);
  assert.equal(cs.lastState?.terminated?.reason, 'Error');
  assert.equal(cs.restartCount, 1);
});

test('Never pods end Succeeded or Failed with their exit codes', () => {
  const ok = status(pod([c('a')], { restartPolicy: 'Never' }), [obs('POD'), exited('a', 0)]);
  assert.equal(ok.phase, 'Succeeded');
  assert.equal(ok.containerStatuses?.[0]?.state?.terminated?.reason, 'Completed');
  assert.equal(ok.conditions?.find((x) => x.type === 'Ready')?.reason, 'PodCompleted');
  const bad = status(pod([c('a')], { restartPolicy: 'Never' }), [obs('POD'), exited('a', 7)]);
  assert.equal(bad.phase, 'Failed');
  assert.equal(bad.containerStatuses?.[0]?.state?.terminated?.exitCode, 7);
});

test('the termination message is reported', () => {
  const e = exited('a', 1);
  const s = status(pod([c('a')], { restartPolicy: 'Never' }), [obs('POD'), e], { messages: new Map([[e.id, 'bye']]) });
  assert.equal(s.containerStatuses?.[0]?.state?.terminated?.message, 'bye');
});

test('a deleted pod whose containers were killed is terminal', () => {
  const s = status(pod([c('a')]), [obs('POD', { state: 'exited' }), exited('a', 143)], { terminal: true });
  assert.equal(s.phase, 'Failed');
});

test('unchanged statuses compare equal despite new transition times', () => {
  const seen = [obs('POD'), obs('a')];
  const a = status(pod([c('a')]), seen);
  const b = status(pod([c('a')]), seen, { now: '2026-01-01T05:00:00Z' });
  assert.equal(podStatusEqual(a, b), true);
  const d = status(pod([c('a')]), [obs('POD')]);
  assert.equal(podStatusEqual(a, d), false);
});

const facts = (over: Partial<PodFacts> = {}): PodFacts => ({
  deleting: false, hasInitContainers: false, initDone: true, initFailedForGood: false, allContainersDone: false, nothingRunning: false, ...over,
});

test('pod states move only along declared edges', () => {
  assert.equal(settle('Registered', facts({ hasInitContainers: true, initDone: false })), 'Initializing');
  assert.equal(settle('Registered', facts()), 'Running');
  assert.equal(settle('Running', facts({ deleting: true })), 'Terminating');
  assert.equal(settle('Running', facts({ deleting: true, nothingRunning: true })), 'Terminated');
  assert.equal(settle('Running', facts({ allContainersDone: true })), 'Terminated');
  assert.equal(settle('Initializing', facts({ hasInitContainers: true, initDone: false, initFailedForGood: true })), 'Terminated');
  for (const [from, tos] of Object.entries(EDGES)) assert.ok(!(tos as readonly string[]).includes(from), `${from} has no self edge`);
  assert.equal(transition('Terminating', facts({ deleting: true, nothingRunning: true })), 'Terminated');
  const illegal = illegalTransitionError('Terminated', 'Running');
  assert.ok(illegal.message.includes('Terminated -> Running'));
  assert.ok(isCode(illegal, ErrorCodes.STATE) && illegal.details.reason === 'illegal-transition');
});
