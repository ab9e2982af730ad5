// Pure parts of issue 15a: sidecar and ephemeral planning, grace periods, activeDeadlineSeconds,
// the admission chain.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { admitPod, BASE_ADMITTERS, DEFAULT_ADMITTERS, podRequest, type AdmitContext } from '../../../agent/pods/admission.js';
import { checkActiveDeadline } from '../../../agent/pods/deadline.js';
import { ephemeralStatuses } from '../../../agent/pods/ephemeral.js';
import { containerGraceSeconds, effectiveGraceSeconds, graceAfterHook } from '../../../agent/pods/grace.js';
import { viewPod } from '../../../agent/pods/observed.js';
import { allContainersDone, computePodActions, firstIncompleteInit, initFailedForGood, type PlanInput } from '../../../agent/pods/plan.js';
import { settle } from '../../../agent/pods/states/index.js';
import type { Container, Pod } from '../../../kube/api.js';
import { exited, obs, pod } from './fixtures.js';

const c = (name: string, extra: Partial<Container> = {}): Container => ({ name, image: 'dockerlet/busybox:1.36', ...extra });
const sidecar = (name: string) => c(name, { restartPolicy: 'Always' });

function input(p: Pod, containers: Parameters<typeof viewPod>[0], over: Partial<PlanInput> = {}): PlanInput {
  return { pod: p, observed: viewPod(containers), terminating: false, specHash: () => 'h', backoffRemaining: () => 0, graceSeconds: 30, ...over };
}

test('a sidecar starts in order, and the next init container waits until it has started (startup probe)', () => {
  const p = pod([c('app')], { initContainers: [sidecar('side'), c('setup')] });
  let plan = computePodActions(input(p, [obs('POD')]));
  assert.deepEqual(plan.containersToStart.map((s) => s.container.name), ['side']);
  const running = [obs('POD'), obs('side', { kind: 'init' })];
  plan = computePodActions(input(p, running, { started: () => false }));
  assert.deepEqual(plan.containersToStart, [], 'sidecar running but its startup probe has not passed');
  plan = computePodActions(input(p, running, { started: () => true }));
  assert.deepEqual(plan.containersToStart.map((s) => s.container.name), ['setup'], 'a started sidecar counts as done');
  plan = computePodActions(input(p, [...running, exited('setup', 0, { kind: 'init' })]));
  assert.deepEqual(plan.containersToStart.map((s) => s.container.name), ['app'], 'the sidecar keeps running alongside the app');
});

test('an exited sidecar is restarted under back-off whatever the pod restartPolicy, and never fails the pod', () => {
  const p = pod([c('app')], { initContainers: [sidecar('side')], restartPolicy: 'Never' });
  const world = [obs('POD'), exited('side', 1, { kind: 'init' }), obs('app')];
  let plan = computePodActions(input(p, world));
  assert.deepEqual(plan.containersToStart.map((s) => [s.container.name, s.kind, s.restartCount]), [['side', 'init', 1]]);
  plan = computePodActions(input(p, world, { backoffRemaining: () => 5000 }));
  assert.deepEqual(plan.containersToStart, []);
  assert.equal(plan.backingOff.get('side'), 5000);
  assert.equal(initFailedForGood(p, viewPod([obs('POD'), exited('side', 1, { kind: 'init' })])), false);
  assert.equal(firstIncompleteInit(p, viewPod(world)), -1, 'initialization stays done once the app ran');
});

test('a pod whose app containers finished is done although its sidecar still runs', () => {
  const p = pod([c('app')], { initContainers: [sidecar('side')], restartPolicy: 'Never' });
  const o = viewPod([obs('POD'), obs('side', { kind: 'init' }), exited('app', 0)]);
  assert.equal(allContainersDone(p, o), true);
});

test('ephemeral containers start once, even during initialization, and are never restarted', () => {
  const p = pod([c('app')], { initContainers: [c('slow')] });
  (p.spec as { ephemeralContainers?: Container[] }).ephemeralContainers = [c('debugger', { stdin: true, tty: true })];
  let plan = computePodActions(input(p, [obs('POD'), obs('slow', { kind: 'init' })]));
  assert.deepEqual(plan.ephemeralToStart?.map((s) => [s.container.name, s.kind]), [['debugger', 'ephemeral']]);
  plan = computePodActions(input(p, [obs('POD'), obs('slow', { kind: 'init' }), exited('debugger', 0)]));
  assert.deepEqual(plan.ephemeralToStart, []);
  plan = computePodActions(input(p, [obs('POD', { state: 'exited' })]));
  assert.equal(plan.ephemeralToStart, undefined, 'not into a sandbox that is being replaced');
  plan = computePodActions(input(p, [obs('POD')], { terminating: true }));
  assert.equal(plan.ephemeralToStart, undefined, 'not while terminating');
});

test('ephemeral statuses: waiting, running, terminated, in spec order', () => {
  const p = pod([c('app')]);
  (p.spec as { ephemeralContainers?: Container[] }).ephemeralContainers = [c('e1'), c('e2'), c('e3')];
  const o = viewPod([obs('POD'), obs('e1'), exited('e2', 0)]);
  const s = ephemeralStatuses(p, o, new Map([['e3', { reason: 'ErrImagePull', message: 'nope' }]]));
  assert.deepEqual(s.map((x) => x.name), ['e1', 'e2', 'e3']);
  assert.ok(s[0]!.state?.running);
  assert.equal(s[1]!.state?.terminated?.reason, 'Completed');
  assert.equal(s[2]!.state?.waiting?.reason, 'ErrImagePull');
  assert.ok(s.every((x) => x.ready === false && x.restartCount === 0));
});

test('grace: the deletion grace overrides the spec (also larger), only shrinks afterwards, never below 1 s', () => {
  const p = pod([c('a')], { terminationGracePeriodSeconds: 10 });
  assert.equal(effectiveGraceSeconds(p, undefined), 10);
  p.metadata.deletionGracePeriodSeconds = 60;
  assert.equal(effectiveGraceSeconds(p, undefined), 60, 'larger deletion grace wins');
  p.metadata.deletionGracePeriodSeconds = 5;
  assert.equal(effectiveGraceSeconds(p, 60), 5, 'a later shorter one cuts it down');
  p.metadata.deletionGracePeriodSeconds = 90;
  assert.equal(effectiveGraceSeconds(p, 5), 5, 'but never grows again');
  p.metadata.deletionGracePeriodSeconds = 0;
  assert.equal(effectiveGraceSeconds(p, 5), 1, 'force delete: the 1 s floor');
  assert.equal(effectiveGraceSeconds(pod([c('a')], { terminationGracePeriodSeconds: 0 }), undefined), 1);
  assert.equal(graceAfterHook(10, 9.5), 2, 'at least 2 s after preStop');
  assert.equal(graceAfterHook(30, 4), 26);
});

test('grace: a probe kill uses the probe terminationGracePeriodSeconds', () => {
  const ctr = c('a', { startupProbe: { exec: { command: ['false'] }, terminationGracePeriodSeconds: 3 }, livenessProbe: { exec: { command: ['false'] } } });
  const p = pod([ctr], { terminationGracePeriodSeconds: 600 });
  assert.equal(containerGraceSeconds(p, ctr, 'Startup'), 3);
  assert.equal(containerGraceSeconds(p, ctr, 'Liveness'), 600);
  assert.equal(containerGraceSeconds(p, ctr, 'SpecChanged'), 600);
});

test('activeDeadlineSeconds: measured from status.startTime with the current spec', () => {
  const p = pod([c('a')], { activeDeadlineSeconds: 30 });
  const start = '2026-01-01T00:00:00Z';
  const t0 = Date.parse(start);
  assert.deepEqual(checkActiveDeadline(p, start, t0 + 10_000), { exceeded: false, remainingMs: 20_000 });
  assert.equal(checkActiveDeadline(p, start, t0 + 30_000).exceeded, true);
  p.spec.activeDeadlineSeconds = 5; // lowered by an update
  assert.equal(checkActiveDeadline(p, start, t0 + 10_000).exceeded, true);
  assert.equal(checkActiveDeadline(pod([c('a')]), start, t0 + 1e9).exceeded, false);
  assert.equal(checkActiveDeadline(p, undefined, t0 + 1e9).exceeded, false, 'no start time yet');
});

test('a pod failed by the node leaves every live state for Terminating, and Terminated once nothing runs', () => {
  const facts = { deleting: false, hasInitContainers: false, initDone: true, initFailedForGood: false, allContainersDone: false, nothingRunning: false, failed: true };
  assert.equal(settle('Running', facts), 'Terminating');
  assert.equal(settle('Initializing', facts), 'Terminating');
  assert.equal(settle('Registered', { ...facts, nothingRunning: true }), 'Terminated');
  assert.equal(settle('Running', { ...facts, nothingRunning: true }), 'Terminated');
});

const ctx = (over: Partial<AdmitContext> = {}): AdmitContext => ({ others: [], allocatable: { cpuMillis: 2000, memoryBytes: 1024 ** 3, pods: 110 }, allowedUnsafeSysctls: [], ...over });

test('admission: spec.os other than linux is PodOSNotSupported; linux or unset is admitted', () => {
  const win = pod([c('a')]);
  (win.spec as { os?: { name: string } }).os = { name: 'windows' };
  assert.equal(admitPod(win, ctx(), BASE_ADMITTERS)?.reason, 'PodOSNotSupported');
  const lin = pod([c('a')]);
  (lin.spec as { os?: { name: string } }).os = { name: 'linux' };
  assert.equal(admitPod(lin, ctx(), BASE_ADMITTERS), undefined);
  assert.equal(admitPod(pod([c('a')], { nodeSelector: { 'kubernetes.io/os': 'windows' } }), ctx(), BASE_ADMITTERS)?.reason, 'PodOSSelectorNodeLabelDoesNotMatch');
});

test('admission: pods, cpu and memory beyond allocatable, with upstream reasons and messages', () => {
  const big = pod([c('a', { resources: { requests: { cpu: '1500m', memory: '100Mi' } } })]);
  const other = pod([c('b', { resources: { requests: { cpu: '1' } } })]);
  const r = admitPod(big, ctx({ others: [other] }), BASE_ADMITTERS);
  assert.deepEqual(r, { reason: 'OutOfcpu', message: "Node didn't have enough resource: cpu, requested: 1500, used: 1000, capacity: 2000" });
  assert.equal(admitPod(pod([c('m', { resources: { requests: { memory: '2Gi' } } })]), ctx(), BASE_ADMITTERS)?.reason, 'OutOfmemory');
  const full = ctx({ others: [pod([c('x')]), pod([c('y')])], allocatable: { cpuMillis: 2000, memoryBytes: 1024 ** 3, pods: 2 } });
  assert.deepEqual(admitPod(pod([c('z')]), full, BASE_ADMITTERS), { reason: 'OutOfpods', message: "Node didn't have enough resource: pods, requested: 1, used: 2, capacity: 2" });
  assert.equal(admitPod(pod([c('a', { resources: { requests: { cpu: '500m' } } })]), ctx({ others: [other] }), BASE_ADMITTERS), undefined);
});

test('admission: a pod request is the larger of apps + sidecars and the biggest init container (+ sidecars before it)', () => {
  const p = pod([c('app', { resources: { requests: { cpu: '100m' } } })], {
    initContainers: [
      c('side', { restartPolicy: 'Always', resources: { requests: { cpu: '200m' } } }),
      c('big', { resources: { requests: { cpu: '1' } } }),
    ],
  });
  assert.equal(podRequest(p, 'cpu'), 1200);
  assert.equal(podRequest(pod([c('a'), c('b', { resources: { requests: { cpu: '250m' } } })]), 'cpu'), 250);
});

test('admission: the default chain refuses unsafe sysctls first (SysctlForbidden) unless allowed on the node', () => {
  const p = pod([c('a')], { securityContext: { sysctls: [{ name: 'kernel.msgmax', value: '10000' }] } as Pod['spec']['securityContext'] });
  (p.spec as { os?: { name: string } }).os = { name: 'windows' };
  assert.equal(admitPod(p, ctx(), DEFAULT_ADMITTERS)?.reason, 'SysctlForbidden');
  assert.equal(admitPod(p, ctx({ allowedUnsafeSysctls: ['kernel.msg*'] }), DEFAULT_ADMITTERS)?.reason, 'PodOSNotSupported');
  const safe = pod([c('a')], { securityContext: { sysctls: [{ name: 'kernel.shm_rmid_forced', value: '1' }] } as Pod['spec']['securityContext'] });
  assert.equal(admitPod(safe, ctx(), DEFAULT_ADMITTERS), undefined);
});
