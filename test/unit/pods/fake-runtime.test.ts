// runtime/fake.ts keeps the Docker runtime's semantics that the pod loop relies on (runtime/docker/runtime.ts):
// states and exit codes, stop/remove of stopped or missing containers, name reuse, failed starts, events.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../../lib/clock.js';
import { ErrorCodes, isCode } from '../../../lib/errors.js';
import { FakeRuntime } from '../../../runtime/fake.js';
import type { ContainerCreateSpec, ContainerIdentity, RuntimeEvent } from '../../../runtime/types.js';

const identity = (containerName: string, over: Partial<ContainerIdentity> = {}): ContainerIdentity => ({
  podUid: 'u1', podName: 'p', podNamespace: 'ns', containerName, kind: containerName === 'POD' ? 'sandbox' : 'container',
  attempt: 0, restartCount: 0, specHash: 'h', ...over,
});

function spec(name: string, sandboxId: string, over: Partial<ContainerIdentity> = {}): ContainerCreateSpec {
  return { identity: identity(name, over), sandboxId, image: 'img:1', env: [], mounts: [], resources: {}, annotations: { a: 'b' } };
}

async function setup() {
  const clock = new FakeClock();
  const rt = new FakeRuntime({ clock, images: ['img:1', 'pause:1'] });
  const events: RuntimeEvent[] = [];
  const ac = new AbortController();
  const watching = rt.watchEvents(ac.signal, (e) => events.push(e));
  const sandbox = await rt.runSandbox({ identity: identity('POD'), image: 'pause:1', hostname: 'p', hostNetwork: false, portBindings: [] });
  return { clock, rt, events, sandbox, close: async () => { ac.abort(); await watching; } };
}

test('a container goes created → running → exited with its exit code, and Docker-style events', async () => {
  const { clock, rt, events, sandbox, close } = await setup();
  assert.match(rt.container(sandbox)!.ip ?? '', /^10\.88\./);
  rt.behave('app', { exitAfterMs: 500, exitCode: 3 });
  const id = await rt.createContainer(spec('app', sandbox));
  assert.equal(rt.container(id)?.state, 'created');
  assert.equal(rt.container(id)?.sandboxId, sandbox);
  await rt.startContainer(id);
  assert.equal(rt.container(id)?.state, 'running');
  clock.advance(499);
  assert.equal(rt.container(id)?.state, 'running');
  clock.advance(1);
  const c = rt.container(id)!;
  assert.deepEqual([c.state, c.exitCode, c.finishedAt], ['exited', 3, new Date(clock.now()).toISOString()]);
  assert.deepEqual(events.filter((e) => e.id === id).map((e) => e.action), ['create', 'start', 'die']);
  await close();
});

test('stop and remove of stopped or missing containers are no-ops; remove forces a running one', async () => {
  const { rt, events, sandbox, close } = await setup();
  await rt.stopContainer('missing', 10);
  await rt.removeContainer('missing');
  const id = await rt.createContainer(spec('app', sandbox));
  await rt.startContainer(id);
  await rt.stopContainer(id, 10);
  assert.equal(rt.container(id)?.exitCode, 143);
  await rt.stopContainer(id, 10);
  await rt.removeContainer(sandbox);
  assert.equal(rt.container(sandbox), undefined);
  assert.deepEqual(events.filter((e) => e.id === sandbox).map((e) => e.action), ['create', 'start', 'die', 'destroy']);
  await close();
});

test('a failed start leaves the container created with the error; a reused name replaces the old container', async () => {
  const { rt, sandbox, close } = await setup();
  rt.behave('app', { startError: 'exec: "x": not found' });
  const id = await rt.createContainer(spec('app', sandbox));
  await assert.rejects(rt.startContainer(id), (err) => isCode(err, ErrorCodes.RUN_CONTAINER));
  assert.deepEqual([rt.container(id)?.state, rt.container(id)?.error], ['created', 'exec: "x": not found']);
  rt.behave('app', {});
  const again = await rt.createContainer(spec('app', sandbox));
  assert.equal(rt.container(id), undefined);
  assert.deepEqual(rt.nameConflicts, ['k8s_app_p_ns_u1_0']);
  assert.equal(rt.containersOf('u1', 'app')[0]?.id, again);
  await close();
});

test('injected failures hit the next calls of one operation only; pulls fail per image', async () => {
  const { rt, close } = await setup();
  rt.fail('list', undefined, 2);
  await assert.rejects(rt.listManaged(), (err) => isCode(err, ErrorCodes.RUNTIME));
  await assert.rejects(rt.listManaged(), (err) => isCode(err, ErrorCodes.RUNTIME));
  assert.equal((await rt.listManaged()).length, 1);
  rt.failPull('nope:1', 'manifest unknown');
  await assert.rejects(rt.pullImage('nope:1'), (err) => isCode(err, ErrorCodes.IMAGE_PULL));
  assert.equal(await rt.inspectImage('nope:1'), undefined);
  assert.equal((await rt.pullImage('other:1')).repoTags[0], 'other:1');
  assert.ok(await rt.inspectImage('other:1'));
  await close();
});
