// Real Docker: a pod sync's own look (listPod: a list filtered by the pod uid label, inspecting only what
// changed) and the image presence cache kept true by Docker's image events (pull/tag/untag/delete…).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Dockerode from 'dockerode';
import { silentLogger } from '../../../lib/log.js';
import { DockerRuntime } from '../../../runtime/docker/runtime.js';
import type { ContainerIdentity } from '../../../runtime/types.js';

const PAUSE = 'registry.k8s.io/pause:3.10';
const BUSYBOX = 'dockerlet/busybox:1.36';
const RUN = `obs${randomBytes(3).toString('hex')}`;
const TAG = `podpath-presence/busybox:${RUN}`;
const docker = new Dockerode();

function ident(pod: string, containerName: string): ContainerIdentity {
  return {
    podUid: `${RUN}-${pod}`, podName: pod, podNamespace: 'rt-observe', containerName, kind: containerName === 'POD' ? 'sandbox' : 'container',
    attempt: 0, restartCount: 0, specHash: 'h',
  };
}

/** Counts Dockerode inspect calls of one kind until restore(). */
function spy(proto: { inspect: (...a: unknown[]) => unknown }): { ids: string[]; restore(): void } {
  const orig = proto.inspect;
  const ids: string[] = [];
  proto.inspect = function (this: { id?: string; name?: string }, ...a: unknown[]) {
    ids.push(this.id ?? this.name ?? '');
    return orig.apply(this, a);
  };
  return { ids, restore: () => { proto.inspect = orig; } };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gave up waiting for ${what}`);
}

after(async () => {
  const all = await docker.listContainers({ all: true, filters: { label: ['io.kubernetes.pod.uid'] } });
  for (const c of all) {
    if (c.Labels['io.kubernetes.pod.uid']?.startsWith(RUN)) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {});
  }
  await docker.getImage(TAG).remove().catch(() => {});
});

test('listPod lists one pod\'s containers and inspects again only the one whose state moved', async () => {
  const rt = new DockerRuntime({ log: silentLogger() });
  const sbA = await rt.runSandbox({ identity: ident('a', 'POD'), image: PAUSE, hostname: 'a', hostNetwork: false, portBindings: [] });
  await rt.runSandbox({ identity: ident('b', 'POD'), image: PAUSE, hostname: 'b', hostNetwork: false, portBindings: [] });
  const app = await rt.createContainer({
    identity: ident('a', 'app'), sandboxId: sbA, image: BUSYBOX, command: ['sleep', '300'], env: [], mounts: [], resources: {}, annotations: {},
  });
  await rt.startContainer(app);
  const a = await rt.listPod(`${RUN}-a`);
  assert.deepEqual(a.map((c) => c.containerName).sort(), ['POD', 'app']);
  assert.ok(a.every((c) => c.podUid === `${RUN}-a` && c.state === 'running'));
  assert.deepEqual((await rt.listPod(`${RUN}-b`)).map((c) => c.containerName), ['POD']);
  const fromAll = (await rt.listManaged()).filter((c) => c.podUid === `${RUN}-a`);
  assert.deepEqual(fromAll.map((c) => c.id).sort(), a.map((c) => c.id).sort(), 'the same view as the node-wide list');

  const inspects = spy(Dockerode.Container.prototype as unknown as { inspect: (...a: unknown[]) => unknown });
  try {
    await docker.getContainer(app).kill();
    const exited = await until('the app to be seen exited', async () => {
      const c = (await rt.listPod(`${RUN}-a`)).find((x) => x.id === app);
      return c?.state === 'exited' ? c : undefined;
    });
    assert.equal(exited.exitCode, 137);
    assert.ok(inspects.ids.filter((id) => id !== app).length === 0, `only the app was inspected again: ${inspects.ids.join(',')}`);
  } finally {
    inspects.restore();
  }
  assert.deepEqual(await rt.listPod(`${RUN}-none`), []);
});

test('inspectContainers shows a new container as a list would, and the next list does not inspect it again', async () => {
  const rt = new DockerRuntime({ log: silentLogger() });
  const sb = await rt.runSandbox({ identity: ident('c', 'POD'), image: PAUSE, hostname: 'c', hostNetwork: false, portBindings: [] });
  const app = await rt.createContainer({
    identity: ident('c', 'app'), sandboxId: sb, image: BUSYBOX, command: ['sh', '-c', 'exit 3'], env: [], mounts: [], resources: {}, annotations: {},
  });
  const seen = await rt.inspectContainers([sb]);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.state, 'running');
  assert.match(seen[0]!.ip ?? '', /^\d+\.\d+\.\d+\.\d+$/, 'the sandbox IP from the inspect');
  await rt.startContainer(app);
  await until('the app to exit', async () => ((await docker.getContainer(app).inspect()).State.Status === 'exited' ? true : undefined));
  const [done] = await rt.inspectContainers([app]);
  assert.equal(done?.state, 'exited');
  assert.equal(done?.exitCode, 3);
  assert.deepEqual(await rt.inspectContainers(['0123456789ab-no-such-container']), [], 'a gone container is left out');
  const inspects = spy(Dockerode.Container.prototype as unknown as { inspect: (...a: unknown[]) => unknown });
  try {
    const listed = await rt.listPod(`${RUN}-c`);
    assert.deepEqual(listed.map((c) => `${c.containerName}:${c.state}`).sort(), ['POD:running', 'app:exited']);
    assert.deepEqual(inspects.ids, [], 'the list\'s change keys (running "Up", "Exited (3)") match the ones derived from the inspects');
  } finally {
    inspects.restore();
  }
});

test('image presence is cached while the image event stream is up and forgotten when the image goes', async () => {
  const rt = new DockerRuntime({ log: silentLogger() });
  const ac = new AbortController();
  let connected = false;
  const watching = rt.watchEvents(ac.signal, () => {}, (c) => { connected = c; });
  try {
    await until('the event streams', async () => (connected ? true : undefined));
    await docker.getImage(BUSYBOX).tag({ repo: TAG.slice(0, TAG.lastIndexOf(':')), tag: RUN });
    // The tag event may still be on its way; once it has passed, a present answer is kept.
    const present = await until('the tag to be seen', async () => rt.inspectImage(TAG));
    assert.match(present.id, /^sha256:/);
    await new Promise((r) => setTimeout(r, 300)); // let the tag's own event land before counting
    await rt.inspectImage(TAG);
    const inspects = spy(Dockerode.Image.prototype as unknown as { inspect: (...a: unknown[]) => unknown });
    try {
      assert.equal((await rt.inspectImage(TAG))?.id, present.id);
      assert.equal(inspects.ids.length, 0, 'answered from the cache');
    } finally {
      inspects.restore();
    }
    await docker.getImage(TAG).remove(); // untag only: busybox keeps its own tag
    await until('the untag to reach the cache', async () => ((await rt.inspectImage(TAG)) === undefined ? true : undefined));
    assert.equal(await rt.inspectImage(TAG), undefined, 'never present again once removed');
    assert.ok(await rt.inspectImage(BUSYBOX), 'other images are still present');
  } finally {
    ac.abort();
    await watching;
  }
});
