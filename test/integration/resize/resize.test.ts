// End to end: in-place pod resize (upstream InPlacePodVerticalScaling, beta and on by default since
// 1.33) as a user drives it — `kubectl patch pod --subresource resize` against the real control plane —
// and as the node must carry it out: the same container keeps running (same id, restartCount 0) with
// the new limits in Docker (docker inspect) and in the cgroup files of the container and of its pod;
// status.containerStatuses[].resources and status.observedGeneration follow, and no PodResize*
// condition is left. A memory decrease is applied in place, a resizePolicy RestartContainer restarts
// the container with the new limit, and more CPU than the node has is PodResizePending/Infeasible (an API
// server of 1.36 refuses that resize itself, against node.status.allocatable: the test accepts either).
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod, PodCondition, ResourceRequirements } from '../../../kube/api.js';
import { bedPerFile } from '../agent/bed.js';

const NODE = `dl-e2e-resize-${process.pid}`; // unique: two runs of this file on one Docker must not collect each other's containers
const NS = 'rz';
const IMAGE = 'dockerlet/busybox:1.36';
const b = bedPerFile({ nodeName: NODE, namespace: NS });

type StatusWithResources = { name: string; containerID?: string; restartCount: number; resources?: ResourceRequirements };

const g = (cpu: string, memory: string): ResourceRequirements => ({ requests: { cpu, memory }, limits: { cpu, memory } });

function podManifest(name: string, resources: ResourceRequirements, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'c', image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'sleep 3600'], resources, ...extra }],
    },
  });
}

async function getPod(name: string): Promise<Pod> {
  return b().kubectlJson<Pod>(['get', 'pod', name, '-n', NS]);
}

function statusOf(p: Pod): StatusWithResources | undefined {
  return p.status?.containerStatuses?.[0] as StatusWithResources | undefined;
}

function resizeConditions(p: Pod): PodCondition[] {
  return (p.status?.conditions ?? []).filter((c) => c.type === 'PodResizePending' || c.type === 'PodResizeInProgress');
}

async function resize(name: string, resources: ResourceRequirements): Promise<void> {
  await b().kubectl(['patch', 'pod', name, '-n', NS, '--subresource', 'resize', '--type', 'strategic',
    '--patch', JSON.stringify({ spec: { containers: [{ name: 'c', resources }] } })]);
}

async function running(name: string): Promise<Pod> {
  return b().waitFor(async () => {
    const p = await getPod(name);
    return statusOf(p)?.containerID && p.status?.containerStatuses?.[0]?.state?.running ? p : undefined;
  }, { what: `${name} running`, timeoutMs: 60_000 });
}

/** Waits until the status reports `want` as the container's resources and no resize condition is left. */
async function settled(name: string, want: ResourceRequirements): Promise<Pod> {
  return b().waitFor(async () => {
    const p = await getPod(name);
    const s = statusOf(p);
    const ok = isDeepStrictEqual(s?.resources, want) && resizeConditions(p).length === 0
      && p.status?.observedGeneration === p.metadata.generation && p.status?.containerStatuses?.[0]?.state?.running;
    return ok ? p : undefined;
  }, { what: `${name}: status resources ${JSON.stringify(want)}, no PodResize* condition`, timeoutMs: 60_000 });
}

interface Limits { cpuQuota: number; cpuPeriod: number; cpuShares: number; memory: number; cgroupParent: string }

async function dockerLimits(id: string): Promise<Limits> {
  const out = await b().docker(['inspect', '-f', '{{.HostConfig.CpuQuota}} {{.HostConfig.CpuPeriod}} {{.HostConfig.CpuShares}} {{.HostConfig.Memory}} {{.HostConfig.CgroupParent}}', id]);
  const [q, p, s, m, parent] = out.trim().split(' ');
  return { cpuQuota: Number(q), cpuPeriod: Number(p), cpuShares: Number(s), memory: Number(m), cgroupParent: parent ?? '' };
}

/** A cgroup v1 file of the container (`<parent>/<id>`) or of its pod (`<parent>`). */
function cgroupFile(controller: 'cpu' | 'memory', rel: string, file: string): number {
  return Number(readFileSync(`/sys/fs/cgroup/${controller}${rel}/${file}`, 'utf8').trim());
}

function idOf(p: Pod): string {
  return (statusOf(p)?.containerID ?? '').replace(/^docker:\/\//, '');
}

test('raising CPU and memory of a running container: same container, new limits in Docker and the cgroups, status follows', { timeout: 150_000 }, async () => {
  await b().apply(podManifest('grow', g('100m', '64Mi')));
  const before = await running('grow');
  const id = idOf(before);
  assert.deepEqual(statusOf(await settled('grow', g('100m', '64Mi')))?.resources, g('100m', '64Mi'));
  const was = await dockerLimits(id);
  const startedAt = (await b().docker(['inspect', '-f', '{{.State.StartedAt}}', id])).trim();
  assert.deepEqual([was.cpuQuota, was.cpuShares, was.memory], [10000, 102, 64 * 2 ** 20]);

  await resize('grow', g('200m', '128Mi'));
  const after = await settled('grow', g('200m', '128Mi'));
  assert.equal(after.metadata.generation, 2, 'the resize bumped the generation');
  assert.equal(idOf(after), id, 'the same container runs');
  assert.equal(statusOf(after)?.restartCount, 0);

  const now = await dockerLimits(id);
  assert.deepEqual([now.cpuQuota, now.cpuPeriod, now.cpuShares, now.memory], [20000, 100000, 204, 128 * 2 ** 20]);
  const ctr = `${now.cgroupParent}/${id}`;
  assert.equal(cgroupFile('cpu', ctr, 'cpu.cfs_quota_us'), 20000);
  assert.equal(cgroupFile('cpu', ctr, 'cpu.shares'), 204);
  assert.equal(cgroupFile('memory', ctr, 'memory.limit_in_bytes'), 128 * 2 ** 20);
  // The pod cgroup (Guaranteed: /kubepods/pod<uid>) was raised as well.
  assert.equal(now.cgroupParent, `/kubepods/pod${after.metadata.uid}`);
  assert.equal(cgroupFile('cpu', now.cgroupParent, 'cpu.cfs_quota_us'), 20000);
  assert.equal(cgroupFile('cpu', now.cgroupParent, 'cpu.shares'), 204);
  assert.equal(cgroupFile('memory', now.cgroupParent, 'memory.limit_in_bytes'), 128 * 2 ** 20);
  // The process saw no restart: Docker's start time is the one from before the resize.
  assert.equal((await b().docker(['inspect', '-f', '{{.State.StartedAt}} {{.State.Running}}', id])).trim(), `${startedAt} true`);

  // A memory decrease (resizePolicy NotRequired) is applied in place too: the container first, then the pod.
  await resize('grow', g('200m', '96Mi'));
  const smaller = await settled('grow', g('200m', '96Mi'));
  assert.equal(idOf(smaller), id);
  assert.equal(statusOf(smaller)?.restartCount, 0);
  assert.equal((await dockerLimits(id)).memory, 96 * 2 ** 20);
  assert.equal(cgroupFile('memory', ctr, 'memory.limit_in_bytes'), 96 * 2 ** 20);
  assert.equal(cgroupFile('memory', now.cgroupParent, 'memory.limit_in_bytes'), 96 * 2 ** 20);
});

test('resizePolicy RestartContainer for memory: the container is restarted with the new limit (restartCount 1)', { timeout: 120_000 }, async () => {
  const policy = { resizePolicy: [{ resourceName: 'cpu', restartPolicy: 'NotRequired' }, { resourceName: 'memory', restartPolicy: 'RestartContainer' }] };
  await b().apply(podManifest('restart', g('100m', '64Mi'), policy));
  const first = await running('restart');
  const oldId = idOf(first);
  await resize('restart', g('100m', '80Mi'));
  const after = await b().waitFor(async () => {
    const p = await getPod('restart');
    return idOf(p) !== oldId && statusOf(p)?.restartCount === 1 ? await settled('restart', g('100m', '80Mi')) : undefined;
  }, { what: 'restart: a new container, restartCount 1', timeoutMs: 60_000 });
  const newId = idOf(after);
  assert.notEqual(newId, oldId);
  assert.equal((await dockerLimits(newId)).memory, 80 * 2 ** 20);
  const events = await b().kubectl(['get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=restart,reason=Killing', '-o', 'jsonpath={.items[*].message}']);
  assert.match(events, /Container c resize requires restart/);
});

test('more CPU than the node has: PodResizePending Infeasible, nothing changes on the node', { timeout: 120_000 }, async (t) => {
  await b().apply(podManifest('toobig', g('100m', '64Mi')));
  const first = await running('toobig');
  const id = idOf(first);
  const node = await b().node();
  const cpu = String(node.status?.allocatable?.cpu ?? '0');
  const cpuMillis = cpu.endsWith('m') ? Number(cpu.slice(0, -1)) : Number(cpu) * 1000;
  try {
    await resize('toobig', g('100', '64Mi'));
  } catch (err) {
    // Newer API servers (1.36) refuse such a resize themselves against node.status.allocatable; nothing reaches the node.
    assert.match(String(err), new RegExp(`Forbidden.*node didn't have enough allocatable resources: cpu, requested: 100000, allocatable: ${cpuMillis}`));
    const unchanged = await getPod('toobig');
    assert.deepEqual(unchanged.spec.containers[0]?.resources, g('100m', '64Mi'));
    assert.equal(idOf(unchanged), id);
    t.diagnostic('the API server refused the infeasible resize (no node-side Infeasible to check on this version)');
    return;
  }
  const p = await b().waitFor(async () => {
    const x = await getPod('toobig');
    return resizeConditions(x).some((c) => c.type === 'PodResizePending') ? x : undefined;
  }, { what: 'toobig: PodResizePending', timeoutMs: 60_000 });
  const pending = resizeConditions(p).find((c) => c.type === 'PodResizePending')!;
  assert.equal(pending.status, 'True');
  assert.equal(pending.reason, 'Infeasible');
  assert.equal(pending.message, `Node didn't have enough capacity: cpu, requested: 100000, capacity: ${cpuMillis}`);
  assert.equal(pending.observedGeneration, p.metadata.generation);
  assert.equal(idOf(p), id);
  assert.equal(statusOf(p)?.restartCount, 0);
  assert.deepEqual(statusOf(p)?.resources, g('100m', '64Mi'), 'the status still reports what runs');
  assert.equal((await dockerLimits(id)).cpuQuota, 10000);
  const events = await b().kubectl(['get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=toobig,reason=ResizeInfeasible', '-o', 'jsonpath={.items[*].message}']);
  assert.match(events, /^Pod resize Infeasible: /);

  // Back to a size that fits: the condition goes and the pod is as before.
  await resize('toobig', g('150m', '64Mi'));
  const fits = await settled('toobig', g('150m', '64Mi'));
  assert.equal(idOf(fits), id);
  assert.equal((await dockerLimits(id)).cpuQuota, 15000);
});
