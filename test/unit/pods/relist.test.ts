// The runtime cache (agent/pods/relist.ts, the kubelet's PLEG cache): a pod sync's own look lists only its
// pod; the node-wide relist and the per-pod lists may overlap, and the shared snapshot never goes back to
// an older view of a pod than one already applied.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RuntimeCache } from '../../../agent/pods/relist.js';
import { FakeClock } from '../../../lib/clock.js';
import { FakeRuntime } from '../../../runtime/fake.js';
import type { ContainerIdentity, ContainerRuntime, ObservedContainer } from '../../../runtime/types.js';

const identity = (podUid: string, containerName: string): ContainerIdentity => ({
  podUid, podName: `p-${podUid}`, podNamespace: 'ns', containerName, kind: containerName === 'POD' ? 'sandbox' : 'container',
  attempt: 0, restartCount: 0, specHash: 'h',
});

/** A FakeRuntime whose lists can be held open: each call waits for release() of its own gate. */
function gated(rt: FakeRuntime) {
  const gates: { kind: 'all' | 'pod'; open: () => void }[] = [];
  const hold = <T>(kind: 'all' | 'pod', fn: () => Promise<T>) => new Promise<T>((resolve, reject) => {
    gates.push({ kind, open: () => { fn().then(resolve, reject); } });
  });
  const runtime = {
    listManaged: () => hold('all', () => rt.listManaged()),
    listPod: (uid: string) => hold('pod', () => rt.listPod(uid)),
  } as unknown as ContainerRuntime;
  return { runtime, gates };
}

const states = (cs: ObservedContainer[]) => cs.map((c) => `${c.containerName}:${c.state}`).sort();
const tick = () => new Promise((r) => setImmediate(r));

test('refreshPod lists only that pod and updates its entry in the snapshot', async () => {
  const rt = new FakeRuntime({ clock: new FakeClock() });
  rt.seed(identity('a', 'POD'));
  rt.seed(identity('b', 'POD'));
  const cache = new RuntimeCache(rt);
  await cache.refresh();
  const b = rt.seed(identity('b', 'app'));
  const mine = await cache.refreshPod('b');
  assert.deepEqual(states(mine), ['POD:running', 'app:running']);
  assert.ok(mine.every((c) => c.podUid === 'b'));
  assert.deepEqual(states(cache.containersOf('b')), ['POD:running', 'app:running']);
  assert.equal(cache.relists, 1);
  assert.equal(cache.podLists, 1);
  rt.exit(b.id, 3);
  assert.deepEqual(states(await cache.refreshPod('b')), ['POD:running', 'app:exited']);
  assert.equal(cache.containersOf('a').length, 1, 'the other pod is untouched');
});

test('a node-wide list that started before a pod\'s own list does not put back the older view', async () => {
  const rt = new FakeRuntime({ clock: new FakeClock() });
  const app = rt.seed(identity('u', 'app'));
  const { runtime, gates } = gated(rt);
  const cache = new RuntimeCache(runtime);
  const full = cache.refresh(); // starts now, answers later (with what it saw then)
  await tick();
  gates[0]!.open(); // the list reads the runtime now: app running
  rt.exit(app.id, 1);
  const own = cache.refreshPod('u');
  await tick();
  gates[1]!.open(); // app exited
  assert.deepEqual(states(await own), ['app:exited']);
  await full;
  assert.deepEqual(states(cache.containersOf('u')), ['app:exited']);
});

test('a pod\'s own list that started before a node-wide list is not applied over it', async () => {
  const rt = new FakeRuntime({ clock: new FakeClock() });
  const app = rt.seed(identity('u', 'app'));
  const { runtime, gates } = gated(rt);
  const cache = new RuntimeCache(runtime);
  const own = cache.refreshPod('u');
  await tick();
  const full = cache.refresh();
  await tick();
  rt.exit(app.id, 2);
  gates[1]!.open(); // the node-wide list, started second, sees the exit
  await full;
  await rt.removeContainer(app.id);
  assert.deepEqual(states(cache.containersOf('u')), ['app:exited']);
  // The pod's own list (started first) now reads an emptier runtime but is older: the caller gets it,
  // the snapshot keeps the newer entry.
  gates[0]!.open();
  await own;
  assert.deepEqual(states(cache.containersOf('u')), ['app:exited']);
});

test('a pod whose containers are all gone leaves the snapshot; without listPod the node-wide list serves', async () => {
  const rt = new FakeRuntime({ clock: new FakeClock() });
  const sb = rt.seed(identity('u', 'POD'));
  const cache = new RuntimeCache(rt);
  await cache.refresh();
  await rt.removeContainer(sb.id);
  assert.deepEqual(await cache.refreshPod('u'), []);
  assert.equal(cache.snapshot().has('u'), false);

  const plain = { listManaged: () => rt.listManaged() } as unknown as ContainerRuntime;
  rt.seed(identity('v', 'POD'));
  const fallback = new RuntimeCache(plain);
  assert.deepEqual(states(await fallback.refreshPod('v')), ['POD:running']);
  assert.equal(fallback.relists, 1);
});

test('lookPod answers from the snapshot only while events are live and nothing happened to the pod since its list', async () => {
  const rt = new FakeRuntime({ clock: new FakeClock() });
  const app = rt.seed(identity('u', 'app'));
  const cache = new RuntimeCache(rt);
  const lists = () => rt.count('list');
  await cache.lookPod('u');
  assert.equal(lists(), 1, 'events not live: a list');
  cache.eventsLive = true;
  await cache.lookPod('u');
  assert.equal(lists(), 2, 'live now, but its list began before the stream was up: a list');
  await cache.lookPod('u');
  assert.equal(lists(), 2, 'live, listed since, no event since: the snapshot');
  assert.equal(cache.cachedLooks, 1);
  assert.deepEqual(await cache.lookPod('never-listed'), []);
  assert.equal(lists(), 3, 'a pod never listed (and no node-wide list since the stream came up) is listed');
  rt.exit(app.id, 1);
  cache.touch('u'); // the die event
  assert.deepEqual(states(await cache.lookPod('u')), ['app:exited']);
  assert.equal(lists(), 4);
  rt.fail('list');
  cache.touch('u');
  await assert.rejects(cache.lookPod('u'));
  assert.deepEqual(states(await cache.lookPod('u')), ['app:exited'], 'a failed list leaves the pod to be listed again');
  assert.equal(lists(), 6);
  cache.eventsLive = false;
  await cache.lookPod('u');
  assert.equal(lists(), 7, 'events lost: every look lists');
});

test('a pod absent from a node-wide list made while events are live is known empty, until an event for it', async () => {
  const rt = new FakeRuntime({ clock: new FakeClock() });
  rt.seed(identity('a', 'POD'));
  const cache = new RuntimeCache(rt);
  cache.eventsLive = true;
  await cache.refresh(); // began while the stream was up
  const lists = () => rt.count('list');
  assert.deepEqual(await cache.lookPod('new'), []);
  assert.equal(lists(), 1, 'a new pod: no list');
  rt.seed(identity('new', 'POD')); // made by someone else: its event marks the pod
  cache.touch('new');
  assert.deepEqual(states(await cache.lookPod('new')), ['POD:running']);
  assert.equal(lists(), 2);
  cache.touch('gone');
  await cache.refresh();
  assert.deepEqual(await cache.lookPod('gone'), [], 'a node-wide list begun after the event clears it');
  assert.equal(lists(), 3);
  cache.eventsLive = false;
  cache.eventsLive = true; // the stream came back: what it missed is unknown until a node-wide list
  assert.deepEqual(await cache.lookPod('other'), []);
  assert.equal(lists(), 4);
});

test('lookAfter inspects only the containers a sync made when the pod\'s entry is current, else lists', async () => {
  const rt = new FakeRuntime({ clock: new FakeClock() });
  const cache = new RuntimeCache(rt);
  cache.eventsLive = true;
  await cache.refresh();
  const lists = () => rt.count('list');
  const sb = rt.seed(identity('u', 'POD'));
  assert.deepEqual(states(await cache.lookAfter('u', [sb.id])), ['POD:running']);
  const app = rt.seed(identity('u', 'app'));
  assert.deepEqual(states(await cache.lookAfter('u', [app.id])), ['POD:running', 'app:running']);
  assert.equal(lists(), 1, 'no list: two inspects');
  assert.equal(rt.count('inspect'), 2);
  assert.equal(cache.partialLooks, 2);
  assert.deepEqual(states(cache.containersOf('u')), ['POD:running', 'app:running']);
  rt.exit(app.id, 2);
  assert.deepEqual(states(await cache.lookPod('u')), ['POD:running', 'app:running'], 'no event yet: the snapshot');
  cache.touch('u');
  const again = rt.seed(identity('u', 'app'));
  const seen = await cache.lookAfter('u', [again.id]);
  assert.equal(lists(), 2, 'an event since the entry: a list, which also shows the exit');
  assert.equal(seen.filter((c) => c.containerName === 'app').length, 2);
  cache.eventsLive = false;
  await cache.lookAfter('u', [again.id]);
  assert.equal(lists(), 3, 'events not live: a list');
});
