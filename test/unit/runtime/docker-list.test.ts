// The container lister (runtime/docker/list.ts): a container is inspected again only when its listed state
// moved or an event says it may have; the echo of a create, or of a start already seen running, does not
// cost an inspect; an inspect that an event overtook is not kept.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type Dockerode from 'dockerode';
import { silentLogger } from '../../../lib/log.js';
import { labelsFor } from '../../../runtime/naming.js';
import { ContainerLister } from '../../../runtime/docker/list.js';

const identity = { podUid: 'u1', podName: 'p', podNamespace: 'ns', containerName: 'app', kind: 'container' as const, attempt: 0, restartCount: 0, specHash: 'h' };

/** A Dockerode stand-in: one running container; counts inspects; an inspect can be held open. */
function docker() {
  const state = { inspects: 0, startedAt: '2026-12-04T12:00:00Z', hold: undefined as Promise<void> | undefined };
  const labels = labelsFor(identity);
  const d = {
    listContainers: async () => [{ Id: 'c1', Names: ['/k8s_app_p_ns_u1_0'], Image: 'img', ImageID: 'sha256:i', State: 'running', Status: 'Up 3 seconds', Labels: labels, Created: 1 }],
    getContainer: () => ({
      inspect: async () => {
        state.inspects++;
        const startedAt = state.startedAt;
        if (state.hold) await state.hold;
        return { Id: 'c1', Name: '/k8s_app_p_ns_u1_0', Image: 'sha256:i', Created: '2026-12-04T12:00:00Z', Config: { Labels: labels, Image: 'img' }, State: { Status: 'running', StartedAt: startedAt, Pid: 7 }, NetworkSettings: {} };
      },
    }),
    getImage: () => ({ inspect: async () => ({ RepoDigests: [] }) }),
  };
  return { d: d as unknown as Dockerode, state };
}

test('echoed create/start events cost no inspect; a die does', async () => {
  const { d, state } = docker();
  const lister = new ContainerLister(() => d, () => silentLogger());
  await lister.list(['io.kubernetes.pod.uid']);
  assert.equal(state.inspects, 1);
  lister.eventFor('c1', 'create');
  lister.eventFor('c1', 'start'); // seen running already
  await lister.list(['io.kubernetes.pod.uid'], 'u1');
  assert.equal(state.inspects, 1, 'answered from the cache');
  lister.eventFor('c1', 'die');
  await lister.list(['io.kubernetes.pod.uid'], 'u1');
  assert.equal(state.inspects, 2, 'looked again after the die');
});

test('an inspect overtaken by an event is returned but not kept', async () => {
  const { d, state } = docker();
  const lister = new ContainerLister(() => d, () => silentLogger());
  let release!: () => void;
  state.hold = new Promise<void>((r) => { release = r; });
  const first = lister.list(['io.kubernetes.pod.uid']);
  await new Promise((r) => setImmediate(r));
  state.startedAt = '2026-12-04T12:00:09Z'; // the container restarted while the inspect was in flight
  lister.eventFor('c1', 'die');
  release();
  state.hold = undefined;
  assert.equal((await first)[0]?.startedAt, '2026-12-04T12:00:00.000Z');
  const again = await lister.list(['io.kubernetes.pod.uid']);
  assert.equal(state.inspects, 2);
  assert.equal(again[0]?.startedAt, '2026-12-04T12:00:09.000Z');
});

test('the echo of our own start arriving while the inspect after it is in flight does not lose that inspect', async () => {
  const { d, state } = docker();
  const lister = new ContainerLister(() => d, () => silentLogger());
  lister.started('c1'); // the agent's start call returned
  let release!: () => void;
  state.hold = new Promise<void>((r) => { release = r; });
  const look = lister.inspect(['c1']);
  await new Promise((r) => setImmediate(r));
  lister.eventFor('c1', 'start'); // the start event, delivered late
  release();
  state.hold = undefined;
  await look;
  await lister.list(['io.kubernetes.pod.uid']);
  assert.equal(state.inspects, 1, 'the list reuses the inspect made after the start');
  // Without our start call, a start event still makes the next list look again (after a die).
  lister.eventFor('c1', 'die');
  lister.eventFor('c1', 'start');
  await lister.list(['io.kubernetes.pod.uid']);
  assert.equal(state.inspects, 2);
});

test('the pod of a container is still known after a stop or an event forgot its inspect, until it is removed or gone from a full list', async () => {
  const { d } = docker();
  const lister = new ContainerLister(() => d, () => silentLogger());
  await lister.list(['io.kubernetes.pod.uid']);
  lister.forget('c1'); // our own stop
  lister.eventFor('c1', 'die');
  assert.equal(lister.podUidOf('c1'), 'u1', 'the pod cgroup can still be removed with the container');
  lister.removed('c1');
  assert.equal(lister.podUidOf('c1'), undefined);
  await lister.list(['io.kubernetes.pod.uid']);
  assert.equal(lister.podUidOf('c1'), 'u1', 'known from the list row');
  (d as unknown as { listContainers: () => Promise<unknown[]> }).listContainers = async () => [];
  await lister.list(['io.kubernetes.pod.uid']);
  assert.equal(lister.podUidOf('c1'), undefined, 'pruned with the container');
});
