// PodLookup over Docker labels: the current instance, --previous (LastTerminationState), upstream's
// messages for a missing pod or container and for a container that never started.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DockerPodLookup, type KnownPod } from '../../../agent/server/lookup.js';
import type { Pod, PodStatus } from '../../../kube/api.js';
import { ErrorCodes, isCode } from '../../../lib/errors.js';
import type { ObservedContainer } from '../../../runtime/types.js';

function obs(p: Partial<ObservedContainer> & { id: string; attempt: number }): ObservedContainer {
  return {
    podUid: 'u1', podName: 'web', podNamespace: 'ns', containerName: 'app', kind: 'container', restartCount: p.attempt, specHash: 'h',
    dockerName: `k8s_${p.id}`, state: 'exited', image: 'img', imageRef: 'img', createdAt: `2026-01-01T00:00:0${p.attempt}Z`, annotations: {},
    ...p,
  };
}

const pod: Pod = { metadata: { name: 'web', namespace: 'ns', uid: 'u1' }, spec: { containers: [{ name: 'app', tty: true }, { name: 'side' }] } };
const known: KnownPod[] = [{ uid: 'u1', pod }];
const sandbox = obs({ id: 'sb', attempt: 0, kind: 'sandbox', containerName: 'POD', state: 'running', pid: 42, ip: '172.17.0.9' });

test('current = the newest started instance; previous = the last exited one', async () => {
  const list = [sandbox, obs({ id: 'a0', attempt: 0 }), obs({ id: 'a1', attempt: 1, state: 'running' })];
  const l = new DockerPodLookup({ listContainers: async () => list, pods: () => known });
  const cur = await l.container({ namespace: 'ns', pod: 'web', container: 'app' });
  assert.deepEqual(cur, { namespace: 'ns', pod: 'web', podUid: 'u1', container: 'app', containerId: 'a1', running: true, tty: true });
  assert.equal((await l.container({ namespace: 'ns', pod: 'web', container: 'app' }, { previous: true })).containerId, 'a0');
  // Crash-looping (newest exited, nothing running): previous is that newest exited run.
  const l2 = new DockerPodLookup({ listContainers: async () => [sandbox, obs({ id: 'a0', attempt: 0 }), obs({ id: 'a1', attempt: 1 })] });
  assert.equal((await l2.container({ namespace: 'ns', pod: 'web', container: 'app' }, { previous: true })).containerId, 'a1');
  assert.deepEqual(await l.sandbox('ns', 'web'), { namespace: 'ns', pod: 'web', podUid: 'u1', sandboxId: 'sb', pid: 42, ip: '172.17.0.9' });
});

test('the agent\'s status decides when it has one (validateContainerLogStatus)', async () => {
  const list = [sandbox, obs({ id: 'a0', attempt: 0 }), obs({ id: 'a1', attempt: 1 })];
  const status: PodStatus = { containerStatuses: [{ name: 'app', ready: false, restartCount: 1, image: 'img', imageID: '', containerID: 'docker://a1',
    state: { terminated: { exitCode: 0, containerID: 'docker://a1' } } }] };
  const l = new DockerPodLookup({ listContainers: async () => list, pods: () => known, status: () => status });
  assert.equal((await l.container({ namespace: 'ns', pod: 'web', container: 'app' })).containerId, 'a1');
  await assert.rejects(l.container({ namespace: 'ns', pod: 'web', container: 'app' }, { previous: true }),
    (e) => isCode(e, ErrorCodes.CONTAINER_NOT_RUNNING) && (e as Error).message === 'previous terminated container "app" in pod "web" not found');
  const waiting: PodStatus = { containerStatuses: [{ name: 'side', ready: false, restartCount: 0, image: 'img', imageID: '', state: { waiting: { reason: 'ErrImagePull' } } }] };
  const l2 = new DockerPodLookup({ listContainers: async () => list, pods: () => known, status: () => waiting });
  await assert.rejects(l2.container({ namespace: 'ns', pod: 'web', container: 'side' }),
    (e) => isCode(e, ErrorCodes.CONTAINER_NOT_RUNNING) && (e as Error).message === 'container "side" in pod "web" is waiting to start: image can\'t be pulled');
});

test('missing pod → POD_NOT_FOUND, missing container → CONTAINER_NOT_FOUND, never started → waiting', async () => {
  const l = new DockerPodLookup({ listContainers: async () => [sandbox], pods: () => known });
  await assert.rejects(l.container({ namespace: 'ns', pod: 'nope', container: 'app' }), (e) => isCode(e, ErrorCodes.POD_NOT_FOUND) && (e as Error).message === 'pod "nope" does not exist');
  await assert.rejects(l.container({ namespace: 'other', pod: 'web', container: 'app' }), (e) => isCode(e, ErrorCodes.POD_NOT_FOUND));
  await assert.rejects(l.container({ namespace: 'ns', pod: 'web', container: 'zzz' }), (e) => isCode(e, ErrorCodes.CONTAINER_NOT_FOUND) && (e as Error).message === 'container "zzz" not found in pod "web"');
  await assert.rejects(l.container({ namespace: 'ns', pod: 'web', container: 'side' }), (e) => isCode(e, ErrorCodes.CONTAINER_NOT_RUNNING) && /is waiting to start/.test((e as Error).message));
  await assert.rejects(l.container({ namespace: 'ns', pod: 'web', uid: 'other-uid', container: 'app' }), (e) => isCode(e, ErrorCodes.POD_NOT_FOUND));
  // Docker labels alone (no record): the newest pod of that name, its sandbox must run for port-forward.
  const l2 = new DockerPodLookup({ listContainers: async () => [{ ...sandbox, state: 'exited' }], tty: async () => false });
  await assert.rejects(l2.sandbox('ns', 'web'), (e) => isCode(e, ErrorCodes.CONTAINER_NOT_RUNNING));
});
