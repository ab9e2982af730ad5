// The shared ConfigMap/Secret copies (the kubelet's Cache strategy): one request for concurrent asks,
// set-up never older than its mark, refresh within the TTL, errors not kept, objects dropped with the
// last pod; and through the VolumeManager: 50 pods' refresh pass is one GET, not 50.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ConfigMap, Pod } from '../../../kube/api.js';
import type { KubeClient } from '../../../kube/types.js';
import { FakeClock } from '../../../lib/clock.js';
import { silentLogger } from '../../../lib/log.js';
import { DEFAULT_OBJECT_TTL_MS, VolumeManager } from '../../../agent/volumes/manager.js';
import { ObjectCache } from '../../../agent/volumes/object-cache.js';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

test('concurrent asks share one request; a set-up mark refuses copies started before it', async () => {
  const c = new ObjectCache(new FakeClock());
  let calls = 0;
  const d1 = deferred<string>();
  const a = c.get('k', 'p1', { afterMark: c.mark() }, () => { calls++; return d1.promise; });
  const b = c.get('k', 'p2', { maxAgeMs: 10_000 }, () => { calls++; return Promise.resolve('other'); });
  assert.equal(calls, 1, 'the refresh joins the request in flight');
  const mark = c.mark(); // a pod registering now must not take the request already in flight
  const d2 = deferred<string>();
  const late = c.get('k', 'p3', { afterMark: mark }, () => { calls++; return d2.promise; });
  assert.equal(calls, 2);
  const joined = c.get('k', 'p4', { afterMark: mark }, () => { calls++; return Promise.resolve('x'); });
  assert.equal(calls, 2, 'a request started after the mark is shared');
  d1.resolve('v1');
  d2.resolve('v2');
  assert.deepEqual(await Promise.all([a, b, late, joined]), ['v1', 'v1', 'v2', 'v2']);
  assert.equal(await c.get('k', 'p5', { afterMark: mark }, () => Promise.resolve('no')), 'v2', 'the newest copy is kept');
  assert.equal(c.fetches, 2);
});

test('refresh: a copy within the TTL is reused, an older one fetched again; errors are not kept', async () => {
  const clock = new FakeClock();
  const c = new ObjectCache(clock);
  let n = 0;
  const fetch = () => Promise.resolve(`v${++n}`);
  assert.equal(await c.get('k', 'p', { maxAgeMs: 1000 }, fetch), 'v1');
  clock.advance(1000);
  assert.equal(await c.get('k', 'p', { maxAgeMs: 1000 }, fetch), 'v1');
  clock.advance(1);
  assert.equal(await c.get('k', 'p', { maxAgeMs: 1000 }, fetch), 'v2');
  clock.advance(5000);
  await assert.rejects(c.get('k', 'p', { maxAgeMs: 1000 }, () => Promise.reject(new Error('down'))), /down/);
  assert.equal(await c.get('k', 'p', { maxAgeMs: 1000 }, fetch), 'v3', 'the failure was not cached');
});

test('an object is dropped when the last pod using it is released', async () => {
  const c = new ObjectCache(new FakeClock());
  await c.get('a', 'p1', {}, () => Promise.resolve(1));
  await c.get('a', 'p2', {}, () => Promise.resolve(1));
  await c.get('b', 'p2', {}, () => Promise.resolve(2));
  assert.equal(c.size(), 2);
  c.release('p2');
  assert.equal(c.size(), 1);
  c.release('p1');
  assert.equal(c.size(), 0);
});

test('VolumeManager: set-up reads per pod, a refresh pass of 50 pods is one GET per object; teardown releases', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'dkl-objcache-'));
  const clock = new FakeClock();
  let cm: ConfigMap = { metadata: { name: 'kube-root-ca.crt' }, data: { 'ca.crt': 'CA1' } };
  const gets: string[] = [];
  const client = {
    get: async <T>(p: string): Promise<T> => { gets.push(p); return structuredClone(cm) as T; },
  } as unknown as KubeClient;
  const vm = new VolumeManager({ rootDir: root, client, clock, log: silentLogger(), nodeName: 'n' });
  try {
    const pods: Pod[] = Array.from({ length: 50 }, (_, i) => ({
      metadata: { name: `p${i}`, namespace: 'ns', uid: `u${i}` },
      spec: { containers: [{ name: 'c' }], volumes: [{ name: 'ca', configMap: { name: 'kube-root-ca.crt' } }] },
    }));
    for (const p of pods) await vm.setup(p);
    assert.equal(gets.length, 50, 'each pod set up one after another reads the object after its set-up began');
    cm = { metadata: { name: 'kube-root-ca.crt' }, data: { 'ca.crt': 'CA2' } };
    clock.advance(DEFAULT_OBJECT_TTL_MS + 1);
    for (const p of pods) assert.deepEqual((await vm.refresh(p)).updated, ['ca']);
    assert.equal(gets.length, 51, 'the refresh pass shares one GET');
    assert.equal(await readFile(path.join(vm.volumeDir('u49', 'configMap', 'ca'), 'ca.crt'), 'utf8'), 'CA2');
    assert.equal(vm.objectsHeld(), 1);
    for (const p of pods) await vm.teardown(p.metadata.uid!);
    assert.equal(vm.objectsHeld(), 0);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('VolumeManager: an unchanged payload is not compared with the files on every refresh, only every 10 minutes', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'dkl-written-'));
  const clock = new FakeClock();
  const cm: ConfigMap = { metadata: { name: 'settings' }, data: { key: 'v1' } };
  const client = { get: async <T>(): Promise<T> => structuredClone(cm) as T } as unknown as KubeClient;
  const vm = new VolumeManager({ rootDir: root, client, clock, log: silentLogger(), nodeName: 'n' });
  try {
    const pod: Pod = { metadata: { name: 'p', namespace: 'ns', uid: 'u' }, spec: { containers: [{ name: 'c' }], volumes: [{ name: 'cfg', configMap: { name: 'settings' } }] } };
    await vm.setup(pod);
    const file = path.join(vm.volumeDir('u', 'configMap', 'cfg'), 'key');
    assert.equal(await readFile(file, 'utf8'), 'v1');
    // Someone rewrites the file behind the agent's back (the data dir is a plain directory here).
    await writeFile(await realpath(file), 'tampered');
    clock.advance(DEFAULT_OBJECT_TTL_MS + 1);
    assert.deepEqual((await vm.refresh(pod)).updated, [], 'same payload as last written: the files are not read');
    assert.equal(await readFile(file, 'utf8'), 'tampered');
    clock.advance(10 * 60_000);
    assert.deepEqual((await vm.refresh(pod)).updated, ['cfg'], 'after 10 minutes the disk is compared again');
    assert.equal(await readFile(file, 'utf8'), 'v1');
    cm.data = { key: 'v2' };
    clock.advance(DEFAULT_OBJECT_TTL_MS + 1);
    assert.deepEqual((await vm.refresh(pod)).updated, ['cfg'], 'a changed payload is written at once');
    assert.equal(await readFile(file, 'utf8'), 'v2');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
