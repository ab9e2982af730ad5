// The in-place resizer (agent/pods/resize-apply.ts) against a recording runtime: upstream
// doPodResizeAction's order (memory then CPU; pod cgroup raised before its containers, lowered after),
// the memory-decrease guard (PodResizeInProgress reason Error), PodResizePending Infeasible/Deferred,
// RestartContainer joining the sync's kills/starts, the actuated record surviving an agent restart, and
// the status (conditions with observedGeneration, containerStatuses[].resources) via computePodStatus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Container, Pod, ResourceRequirements } from '../../../kube/api.js';
import { silentLogger } from '../../../lib/log.js';
import type { ContainerRuntime, ObservedContainer, Resources } from '../../../runtime/types.js';
import { RESOURCES_ANNOTATION } from '../../../agent/containers/resources.js';
import { viewPod } from '../../../agent/pods/observed.js';
import { PodResizer, type PodResizerOptions } from '../../../agent/pods/resize-apply.js';
import type { PodActions } from '../../../agent/pods/types.js';
import { computePodStatus } from '../../../agent/status/compute.js';

const g = (cpu: string, memory: string): ResourceRequirements => ({ requests: { cpu, memory }, limits: { cpu, memory } });

function pod(resources: ResourceRequirements, generation = 2, extra: Partial<Container> = {}): Pod {
  return {
    metadata: { name: 'p', namespace: 'ns', uid: 'u1', generation },
    spec: { containers: [{ name: 'c', image: 'img', resources, ...extra }] },
    status: { qosClass: 'Guaranteed' },
  } as Pod;
}

function running(id: string, createdWith: ResourceRequirements, restartCount = 0): ObservedContainer {
  return {
    podUid: 'u1', podName: 'p', podNamespace: 'ns', containerName: 'c', kind: 'container', attempt: restartCount, restartCount,
    specHash: 'h', id, dockerName: 'k8s_c', state: 'running', image: 'img', imageRef: 'docker://img', createdAt: '2026-01-01T00:00:00.000Z',
    startedAt: '2026-01-01T00:00:01.000Z', annotations: { [RESOURCES_ANNOTATION]: JSON.stringify(createdWith) },
  };
}

const sandbox = { ...running('sb', {}), containerName: 'POD', kind: 'sandbox' as const };

function actions(): PodActions {
  return { killPod: false, createSandbox: false, sandboxAttempt: 1, sandboxId: 'sb', containersToKill: [], containersToStart: [], backingOff: new Map() };
}

interface Rig {
  resizer: PodResizer;
  calls: string[];
  events: string[];
  dir: string;
  opts: PodResizerOptions;
}

async function rig(over: Partial<PodResizerOptions> = {}): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'resize-unit-'));
  const calls: string[] = [];
  const events: string[] = [];
  const runtime = {
    updatePodResources: async (parent: string, r: Resources) => { calls.push(`pod ${parent} ${JSON.stringify(r)}`); },
    updateContainerResources: async (id: string, r: Resources) => { calls.push(`ctr ${id} ${JSON.stringify(r)}`); },
  } as unknown as ContainerRuntime;
  const opts: PodResizerOptions = {
    runtime, podsDir: dir, allocatable: { cpuMillis: 2000, memoryBytes: 4 * 2 ** 30 }, log: silentLogger(),
    events: { event: (_ref, type, reason, message) => { events.push(`${type} ${reason} ${message}`); } },
    memoryUsage: async () => 1024,
    ...over,
  };
  return { resizer: new PodResizer(opts), calls, events, dir, opts };
}

function status(r: PodResizer, p: Pod, observed: ReturnType<typeof viewPod>) {
  return computePodStatus({
    pod: p, observed, waiting: new Map(), messages: new Map(), hostIP: '10.0.0.1', qosClass: 'Guaranteed',
    startTime: '2026-01-01T00:00:00Z', now: '2026-01-01T00:01:00Z', terminal: false, resize: r.status(p, observed),
  });
}

const PARENT = '/kubepods/podu1';

test('raise CPU and memory in place: pod cgroup before the container, memory then CPU; settled status; nothing left to do', async (t) => {
  const { resizer, calls, events, dir } = await rig();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const p = pod(g('400m', '256Mi'));
  const observed = viewPod([sandbox, running('c1', g('200m', '128Mi'))]);
  const acts = actions();
  const plan = await resizer.plan(p, observed, acts);
  assert.deepEqual(acts.containersToKill, []);
  assert.equal(await resizer.apply(p, plan), undefined);
  assert.deepEqual(calls, [
    `pod ${PARENT} {"memoryLimitBytes":268435456}`,
    'ctr c1 {"memoryLimitBytes":268435456}',
    `pod ${PARENT} {"cpuQuota":40000,"cpuPeriod":100000}`,
    `pod ${PARENT} {"cpuShares":409}`,
    'ctr c1 {"cpuShares":409,"cpuQuota":40000,"cpuPeriod":100000}',
  ]);
  assert.ok(events.some((e) => e.startsWith('Normal ResizeStarted Pod resize started: {"containers":[{"name":"c","resources":{"limits":{"cpu":"400m","memory":"256Mi"},"requests":{"cpu":"400m","memory":"256Mi"}}}],"generation":2}')));
  const s = status(resizer, p, observed);
  assert.deepEqual(s.conditions?.filter((c) => c.type.startsWith('PodResize')), []);
  assert.deepEqual((s.containerStatuses?.[0] as { resources?: unknown }).resources, g('400m', '256Mi'));
  assert.equal(s.observedGeneration, 2);
  assert.ok(s.conditions?.every((c) => c.observedGeneration === 2));
  assert.ok(events.some((e) => e.startsWith('Normal ResizeCompleted')));
  // The update is recorded on disk: a restarted agent sees what runs and does nothing.
  assert.deepEqual(JSON.parse(await readFile(join(dir, 'u1', 'resize-actuated.json'), 'utf8')), { c1: g('400m', '256Mi') });
  const again = await rig({ podsDir: dir });
  const plan2 = await again.resizer.plan(p, observed, actions());
  await again.resizer.apply(p, plan2);
  assert.deepEqual(again.calls, []);
});

test('lower memory: the container before the pod cgroup; refused while usage is above the new limit (InProgress/Error, retried)', async (t) => {
  let usage = 200 * 2 ** 20;
  const { resizer, calls, dir } = await rig({ memoryUsage: async () => usage });
  t.after(() => rm(dir, { recursive: true, force: true }));
  const p = pod(g('200m', '128Mi'), 3);
  const observed = viewPod([sandbox, running('c1', g('200m', '256Mi'))]);
  const plan = await resizer.plan(p, observed, actions());
  assert.equal(await resizer.apply(p, plan), 10_000);
  assert.deepEqual(calls, [], 'nothing lowered while 200Mi are in use');
  const busy = status(resizer, p, observed).conditions?.find((c) => c.type === 'PodResizeInProgress');
  assert.equal(busy?.reason, 'Error');
  assert.equal(busy?.message, `attempting to set pod memory limit (${128 * 2 ** 20}) below current usage (${usage})`);
  assert.equal(busy?.observedGeneration, 3);
  assert.deepEqual((status(resizer, p, observed).containerStatuses?.[0] as { resources?: unknown }).resources, g('200m', '256Mi'), 'still what runs');

  usage = 64 * 2 ** 20;
  const retry = await resizer.plan(p, observed, actions());
  assert.equal(await resizer.apply(p, retry), undefined);
  assert.deepEqual(calls, ['ctr c1 {"memoryLimitBytes":134217728}', `pod ${PARENT} {"memoryLimitBytes":134217728}`]);
  assert.deepEqual(status(resizer, p, observed).conditions?.filter((c) => c.type.startsWith('PodResize')), []);
});

test('more CPU than the node has: PodResizePending Infeasible, nothing applied, the old resources still reported', async (t) => {
  const { resizer, calls, events, dir } = await rig();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const p = pod(g('3', '128Mi'), 4);
  const observed = viewPod([sandbox, running('c1', g('200m', '128Mi'))]);
  const plan = await resizer.plan(p, observed, actions());
  assert.equal(await resizer.apply(p, plan), undefined, 'Infeasible is not retried on a timer');
  assert.deepEqual(calls, []);
  const s = status(resizer, p, observed);
  const pending = s.conditions?.find((c) => c.type === 'PodResizePending');
  assert.deepEqual({ ...pending, lastTransitionTime: undefined }, {
    type: 'PodResizePending', status: 'True', reason: 'Infeasible', lastProbeTime: null, lastTransitionTime: undefined,
    message: "Node didn't have enough capacity: cpu, requested: 3000, capacity: 2000", observedGeneration: 4,
  });
  assert.equal(s.conditions?.some((c) => c.type === 'PodResizeInProgress'), false);
  assert.deepEqual((s.containerStatuses?.[0] as { resources?: unknown }).resources, g('200m', '128Mi'));
  assert.equal(events.filter((e) => e.startsWith('Warning ResizeInfeasible')).length, 1);
  await resizer.plan(p, observed, actions());
  assert.equal(events.filter((e) => e.startsWith('Warning ResizeInfeasible')).length, 1, 'one Event per pending decision');
  // Back to a feasible size: the condition goes.
  const ok = pod(g('200m', '128Mi'), 5);
  await resizer.apply(ok, await resizer.plan(ok, observed, actions()));
  assert.equal(status(resizer, ok, observed).conditions?.some((c) => c.type === 'PodResizePending'), false);
});

test('Deferred beside the other pods, retried after 30 s', async (t) => {
  const other = { metadata: { uid: 'u2' }, spec: { containers: [{ name: 'o', resources: g('1500m', '1Gi') }] } } as Pod;
  const { resizer, dir } = await rig();
  t.after(() => rm(dir, { recursive: true, force: true }));
  resizer.setOtherPods(() => [other]); // as the pod controller wires its active pods
  const p = pod(g('1', '128Mi'));
  const observed = viewPod([sandbox, running('c1', g('200m', '128Mi'))]);
  assert.equal(await resizer.apply(p, await resizer.plan(p, observed, actions())), 30_000);
  const pending = status(resizer, p, observed).conditions?.find((c) => c.type === 'PodResizePending');
  assert.equal(pending?.reason, 'Deferred');
  assert.equal(pending?.message, "Node didn't have enough resource: cpu, requested: 1000, used: 1500, capacity: 2000");
});

test('RestartContainer: the container joins the sync\'s kills and starts (restartCount + 1), no docker update', async (t) => {
  const { resizer, calls, dir } = await rig();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const policy = { resizePolicy: [{ resourceName: 'memory', restartPolicy: 'RestartContainer' }] } as Partial<Container>;
  const p = pod(g('200m', '256Mi'), 2, policy);
  const observed = viewPod([sandbox, running('c1', g('200m', '128Mi'), 1)]);
  const acts = actions();
  await resizer.apply(p, await resizer.plan(p, observed, acts));
  assert.deepEqual(acts.containersToKill.map((k) => [k.id, k.message]), [['c1', 'Container c resize requires restart']]);
  assert.deepEqual(acts.containersToStart.map((s) => [s.container.name, s.restartCount, s.reason, s.container.resources]), [['c', 2, 'spec-changed', g('200m', '256Mi')]]);
  assert.deepEqual(calls, [`pod ${PARENT} {"memoryLimitBytes":268435456}`], 'only the pod cgroup is raised before the new instance starts');
});

test('static pods are not resized; a sandbox being recreated is left alone', async (t) => {
  const { resizer, dir } = await rig();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const observed = viewPod([sandbox, running('c1', g('200m', '128Mi'))]);
  const p = pod(g('400m', '128Mi'));
  const staticPod = { ...p, metadata: { ...p.metadata, annotations: { 'kubernetes.io/config.source': 'file' } } };
  assert.equal(await resizer.plan(staticPod, observed, actions()), undefined);
  assert.equal(await resizer.plan(p, observed, { ...actions(), createSandbox: true }), undefined);
});

test('a container restarted while its resize is pending starts with the allocation, not the desired resources', async (t) => {
  const { resizer, dir } = await rig();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const p = pod(g('3', '128Mi'));
  const observed = viewPod([sandbox, running('c1', g('200m', '128Mi'))]);
  await resizer.apply(p, await resizer.plan(p, observed, actions())); // Infeasible: the allocation stays 200m
  const crashed = viewPod([sandbox, { ...running('c1', g('200m', '128Mi')), state: 'exited', exitCode: 1 }]);
  const acts = actions();
  acts.containersToStart.push({ container: p.spec.containers[0]!, kind: 'container', attempt: 1, restartCount: 1, reason: 'restart' });
  await resizer.plan(p, crashed, acts);
  assert.deepEqual(acts.containersToStart[0]?.container.resources, g('200m', '128Mi'));
  assert.deepEqual(p.spec.containers[0]?.resources, g('3', '128Mi'), 'the pod object itself is not changed');
});
