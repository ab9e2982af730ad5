// PodWorker against the in-memory runtime on a FakeClock: one sync at a time, as the controller calls
// it, checking what the runtime was asked to do, the lifecycle state and the status the worker set.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { RuntimeCache } from '../../../agent/pods/relist.js';
import { PodWorker } from '../../../agent/pods/worker.js';
import { DockerletError, ErrorCodes } from '../../../lib/errors.js';
import { apiPod, container, deleting, recordOf, until, world, type World } from './world.js';

let w: World;
beforeEach(async () => { w = await world(); });
afterEach(async () => { await w.close(); });

const phase = (uid: string) => w.status.get(uid)?.phase;
const cs = (uid: string, name: string) => w.status.get(uid)?.containerStatuses?.find((c) => c.name === name);

test('a new pod gets a sandbox and its container, reports Running with the sandbox IP, and a resync changes nothing', async () => {
  const pod = apiPod([container('app')]);
  const r = recordOf(pod);
  const res = await w.worker.sync(r);
  assert.equal(res.done, false);
  assert.equal(r.state, 'Running');
  const [sandbox] = w.runtime.containersOf(r.uid, 'POD');
  const [app] = w.runtime.containersOf(r.uid, 'app');
  assert.equal(sandbox?.state, 'running');
  assert.equal(app?.state, 'running');
  assert.equal(app?.sandboxId, sandbox?.id);
  assert.equal(phase(r.uid), 'Running');
  assert.equal(w.status.get(r.uid)?.podIP, sandbox?.ip);
  assert.equal(cs(r.uid, 'app')?.containerID, `docker://${app?.id}`);
  assert.deepEqual(w.events.reasons().filter((x) => x !== 'Pulled'), ['Created', 'Started']); // Pulled: "already present on machine" (images.ts)

  const skipped = w.status.skipped;
  w.clock.advance(5000);
  await w.worker.sync(r);
  assert.equal(w.status.skipped, skipped + 1, 'an unchanged status is not set again');
  assert.equal(w.runtime.count('runSandbox'), 1);
  assert.equal(w.runtime.count('create'), 1);
  assert.equal(w.runtime.count('stop'), 0);
  assert.deepEqual(w.runtime.nameConflicts, []);
});

test('restartPolicy Never: exit 0 ends Succeeded, exit 1 ends Failed, the sandbox is stopped and nothing restarts', async () => {
  for (const [code, expected] of [[0, 'Succeeded'], [1, 'Failed']] as const) {
    w.runtime.behave('app', { exitAfterMs: 5000, exitCode: code });
    const r = recordOf(apiPod([container('app')], { restartPolicy: 'Never' }));
    await w.worker.sync(r);
    assert.equal(r.state, 'Running');
    assert.equal(phase(r.uid), 'Running');
    w.clock.advance(5000);
    await w.worker.sync(r);
    assert.equal(r.state, 'Terminated');
    assert.equal(phase(r.uid), expected);
    assert.equal(r.terminalPhase, expected);
    assert.equal(cs(r.uid, 'app')?.state?.terminated?.exitCode, code);
    assert.equal(w.runtime.containersOf(r.uid, 'POD')[0]?.state, 'exited');
    await w.worker.sync(r);
    assert.equal(w.runtime.containersOf(r.uid, 'app').length, 1, 'a Never pod is not restarted');
    assert.equal(phase(r.uid), expected);
  }
});

test('OnFailure restarts a failed container but not a succeeded one', async () => {
  w.runtime.behave('app', { exitAfterMs: 1000, exitCode: 2 });
  const r = recordOf(apiPod([container('app')], { restartPolicy: 'OnFailure' }));
  await w.worker.sync(r);
  w.clock.advance(1000);
  w.runtime.behave('app', { exitAfterMs: 1000, exitCode: 0 });
  await w.worker.sync(r);
  const instances = w.runtime.containersOf(r.uid, 'app');
  assert.equal(instances.length, 2);
  assert.equal(instances[0]?.restartCount, 1);
  assert.equal(cs(r.uid, 'app')?.restartCount, 1);
  assert.equal(cs(r.uid, 'app')?.lastState?.terminated?.exitCode, 2);
  w.clock.advance(1000);
  await w.worker.sync(r);
  assert.equal(w.runtime.containersOf(r.uid, 'app').length, 2);
  assert.equal(r.state, 'Terminated');
  assert.equal(phase(r.uid), 'Succeeded');
});

test('a crash loop backs off (CrashLoopBackOff, one BackOff event) and restarts once the back-off has passed', async () => {
  w.runtime.behave('app', { exitAfterMs: 1000, exitCode: 1 });
  const r = recordOf(apiPod([container('app')]));
  await w.worker.sync(r);
  w.clock.advance(1000);
  await w.worker.sync(r); // first restart is immediate
  assert.equal(w.runtime.containersOf(r.uid, 'app').length, 2);
  w.clock.advance(1000);
  const held = await w.worker.sync(r);
  assert.equal(w.runtime.containersOf(r.uid, 'app').length, 2, 'held back by the back-off');
  assert.equal(held.requeueAfterMs, 10_000);
  assert.equal(cs(r.uid, 'app')?.state?.waiting?.reason, 'CrashLoopBackOff');
  assert.match(cs(r.uid, 'app')?.state?.waiting?.message ?? '', /^back-off 10s restarting failed container=app pod=p\d+_ns\(/);
  assert.equal(phase(r.uid), 'Running');
  await w.worker.sync(r);
  assert.equal(w.events.count('BackOff'), 1, 'the BackOff event is not repeated while waiting');

  w.clock.advance(9_999);
  await w.worker.sync(r);
  assert.equal(w.runtime.containersOf(r.uid, 'app').length, 2, 'still inside the back-off');
  w.clock.advance(1);
  await w.worker.sync(r);
  const [latest] = w.runtime.containersOf(r.uid, 'app');
  assert.equal(latest?.state, 'running');
  assert.equal(latest?.restartCount, 2);
  assert.equal(cs(r.uid, 'app')?.state?.running !== undefined, true);
  assert.equal(r.waiting.has('app'), false);
  assert.deepEqual(w.runtime.nameConflicts, []);
});

test('init containers run one at a time, in order, before the app; the pod is Initializing until they succeed', async () => {
  w.runtime.behave('i1', { exitAfterMs: 100, exitCode: 0 });
  w.runtime.behave('i2', { exitAfterMs: 100, exitCode: 0 });
  const r = recordOf(apiPod([container('app')], { initContainers: [container('i1'), container('i2')] }));
  await w.worker.sync(r);
  assert.equal(r.state, 'Initializing');
  assert.equal(phase(r.uid), 'Pending');
  assert.deepEqual(w.runtime.calls.filter((c) => c.op === 'create').map((c) => c.name?.split('_')[1]), ['i1']);
  await w.worker.sync(r);
  assert.equal(w.runtime.count('create'), 1, 'i2 waits for i1');
  w.clock.advance(100);
  await w.worker.sync(r);
  w.clock.advance(100);
  await w.worker.sync(r);
  assert.equal(r.state, 'Running');
  await w.worker.sync(r);
  assert.deepEqual(w.runtime.calls.filter((c) => c.op === 'create').map((c) => c.name?.split('_')[1]), ['i1', 'i2', 'app']);
  assert.equal(phase(r.uid), 'Running');
  assert.equal(w.status.get(r.uid)?.conditions?.find((c) => c.type === 'Initialized')?.status, 'True');
});

test('a failed init container with restartPolicy Never fails the pod and the app never starts', async () => {
  w.runtime.behave('init', { exitAfterMs: 0, exitCode: 3 });
  const r = recordOf(apiPod([container('app')], { restartPolicy: 'Never', initContainers: [container('init')] }));
  await w.worker.sync(r);
  assert.equal(r.state, 'Terminated');
  await w.worker.sync(r);
  assert.equal(phase(r.uid), 'Failed');
  assert.equal(w.runtime.containersOf(r.uid, 'app').length, 0);
  assert.equal(w.status.get(r.uid)?.initContainerStatuses?.[0]?.state?.terminated?.exitCode, 3);
});

test('deletion kills containers with the pod grace period, stops the sandbox, and finishes the pod', async () => {
  const pod = apiPod([container('app'), container('side')]);
  const r = recordOf(pod);
  await w.worker.sync(r);
  r.pod = deleting(pod, 12);
  const res = await w.worker.sync(r);
  assert.equal(res.done, true);
  assert.equal(r.state, 'Terminated');
  const stops = w.runtime.calls.filter((c) => c.op === 'stop');
  const sandboxId = w.runtime.containersOf(r.uid, 'POD')[0]?.id;
  assert.deepEqual(stops.filter((s) => s.id !== sandboxId).map((s) => s.graceSeconds), [12, 12]);
  assert.deepEqual(stops.filter((s) => s.id === sandboxId).map((s) => s.graceSeconds), [0]);
  assert.equal(w.runtime.containersOf(r.uid).every((c) => c.state === 'exited'), true);
  assert.equal(w.events.count('Killing'), 2);
  assert.deepEqual(w.volumes.tornDown, [r.uid]);
  assert.equal(w.status.get(r.uid), undefined, 'the status entry is dropped');
});

test('a container that ignores SIGTERM is killed only when its grace period has passed', async () => {
  w.runtime.behave('app', { onTerm: 'ignore' });
  const pod = apiPod([container('app')]);
  const r = recordOf(pod);
  await w.worker.sync(r);
  r.pod = deleting(pod, 30);
  let finished = false;
  const syncing = w.worker.sync(r).then((res) => { finished = true; return res; });
  await until(() => w.runtime.count('stop') === 1, 'the stop call');
  w.clock.advance(29_999);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(finished, false);
  assert.equal(w.runtime.containersOf(r.uid, 'app')[0]?.state, 'running');
  w.clock.advance(1);
  const res = await syncing;
  assert.equal(res.done, true);
  assert.equal(w.runtime.containersOf(r.uid, 'app')[0]?.exitCode, 137);
});

test('an image that cannot be pulled is ErrImagePull, then ImagePullBackOff, then starts once the pull works', async () => {
  const image = 'registry.invalid/missing:1';
  w.runtime.failPull(image, 'manifest unknown');
  const r = recordOf(apiPod([container('app', { image })]));
  const first = await w.worker.sync(r);
  assert.equal(cs(r.uid, 'app')?.state?.waiting?.reason, 'ErrImagePull');
  assert.equal(first.requeueAfterMs, 10_000);
  assert.ok(w.events.events.some((e) => e.reason === 'Failed' && e.message.includes('manifest unknown')));
  await w.worker.sync(r);
  assert.equal(cs(r.uid, 'app')?.state?.waiting?.reason, 'ImagePullBackOff');
  assert.equal(w.runtime.count('pull'), 1, 'no pull inside the back-off');
  w.runtime.clearPullFailure(image);
  w.clock.advance(10_000);
  await w.worker.sync(r);
  assert.equal(w.runtime.containersOf(r.uid, 'app')[0]?.state, 'running');
  assert.ok(cs(r.uid, 'app')?.state?.running);
});

test('a start failure is RunContainerError with an Event, and the next start waits for the crash back-off', async () => {
  w.runtime.behave('app', { startError: 'exec: "nope": executable file not found in $PATH' });
  const r = recordOf(apiPod([container('app')]));
  const res = await w.worker.sync(r);
  assert.equal(res.requeueAfterMs, 5000);
  assert.equal(cs(r.uid, 'app')?.state?.waiting?.reason, 'RunContainerError');
  assert.ok(w.events.events.some((e) => e.type === 'Warning' && e.reason === 'Failed' && e.message.includes('executable file not found')));
  w.runtime.behave('app', {});
  await w.worker.sync(r);
  assert.equal(w.runtime.count('create'), 1, 'held by the crash back-off');
  w.clock.advance(10_000);
  await w.worker.sync(r);
  assert.equal(w.runtime.containersOf(r.uid, 'app')[0]?.state, 'running');
});

test('a dead sandbox is replaced (next attempt, SandboxChanged) and the containers restart inside the new one', async () => {
  const r = recordOf(apiPod([container('app')]));
  await w.worker.sync(r);
  const [old] = w.runtime.containersOf(r.uid, 'POD');
  w.runtime.exit(old!.id, 0);
  await w.worker.sync(r);
  const [sandbox] = w.runtime.containersOf(r.uid, 'POD');
  assert.notEqual(sandbox?.id, old?.id);
  assert.equal(sandbox?.attempt, 1);
  assert.equal(w.events.count('SandboxChanged'), 1);
  const [app] = w.runtime.containersOf(r.uid, 'app');
  assert.equal(app?.state, 'running');
  assert.equal(app?.sandboxId, sandbox?.id);
  assert.equal(w.runtime.containersOf(r.uid, 'app')[1]?.state, 'exited', 'the old app container was killed');
});

test('a changed container spec kills the running container and starts the new spec', async () => {
  const pod = apiPod([container('app')]);
  const r = recordOf(pod);
  await w.worker.sync(r);
  r.pod = { ...pod, spec: { ...pod.spec, containers: [container('app', { args: ['sleep', '99'] })] } };
  await w.worker.sync(r);
  const [now, before] = w.runtime.containersOf(r.uid, 'app');
  assert.equal(before?.state, 'exited');
  assert.equal(now?.state, 'running');
  assert.deepEqual((w.runtime.specOf(now!.id) as { args?: string[] }).args, ['sleep', '99']);
});

test('containers left by an earlier agent are adopted, not created again', async () => {
  const pod = apiPod([container('app')]);
  await w.worker.sync(recordOf(pod));
  // A second worker (a restarted agent: no memory, a new runtime cache) on the same runtime adopts them.
  const again = new PodWorker({ ...w.deps, cache: new RuntimeCache(w.runtime) });
  const r = recordOf(pod);
  await again.sync(r);
  assert.equal(w.runtime.count('create'), 1);
  assert.equal(w.runtime.count('runSandbox'), 1);
  assert.equal(r.state, 'Running');
  assert.equal(phase(r.uid), 'Running');
});

test('a runtime list failure rejects the sync (so the queue retries) and the next sync recovers', async () => {
  const r = recordOf(apiPod([container('app')]));
  w.runtime.fail('list', new DockerletError(ErrorCodes.RUNTIME, 'docker list failed: connection refused'));
  await assert.rejects(w.worker.sync(r), (err) => err instanceof DockerletError && err.code === ErrorCodes.RUNTIME);
  await w.worker.sync(r);
  assert.equal(w.runtime.containersOf(r.uid, 'app')[0]?.state, 'running');
});

test('probe results reach the pod: unready while readiness fails, and a failed liveness probe kills the container for a restart', async () => {
  const state = { ready: false, kill: undefined as string | undefined, synced: 0 };
  const probed = await world({
    probes: {
      syncPod: () => { state.synced++; },
      removePod: () => {},
      isStarted: () => true,
      isReady: () => state.ready,
      restartMessage: () => state.kill,
    },
  });
  try {
    const r = recordOf(apiPod([container('app')]));
    await probed.worker.sync(r);
    assert.ok(state.synced > 0, 'running containers are handed to the prober');
    const ready = () => probed.status.get(r.uid)?.conditions?.find((c) => c.type === 'Ready')?.status;
    assert.equal(ready(), 'False');
    state.ready = true;
    await probed.worker.sync(r);
    assert.equal(ready(), 'True');

    state.kill = 'Container app failed liveness probe, will be restarted';
    await probed.worker.sync(r);
    state.kill = undefined;
    const killing = probed.events.events.filter((e) => e.reason === 'Killing');
    assert.deepEqual(killing.map((e) => [e.fieldPath, e.message]), [['spec.containers{app}', 'Container app failed liveness probe, will be restarted']]);
    const [now, before] = probed.runtime.containersOf(r.uid, 'app');
    assert.equal(before?.state, 'exited');
    assert.equal(now?.state, 'running');
    assert.equal(now?.restartCount, 1);
  } finally {
    await probed.close();
  }
});
