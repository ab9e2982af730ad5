// The informer against a scripted in-memory KubeClient: paging, resume RVs, relist diff on gone,
// duplicate suppression, handler isolation, and the shared registry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../lib/log.js';
import { createInformer, SharedInformers } from '../../../kube/informer.js';
import type { KubeObject, List, WatchEvent } from '../../../kube/api.js';
import type { KubeClient, RequestOptions, WatchEnd, WatchOnceOptions } from '../../../kube/types.js';

const o = (name: string, rv: string): KubeObject => ({ metadata: { namespace: 'd', name, resourceVersion: rv, uid: `u-${name}` } });

type Step = (opts: WatchOnceOptions<KubeObject>) => Promise<WatchEnd> | WatchEnd;

class FakeClient implements KubeClient {
  readonly server = 'https://fake';
  objects: KubeObject[] = [];
  listRv = '10';
  pageSize = 2;
  listCalls: Record<string, unknown>[] = [];
  watchCalls: WatchOnceOptions<KubeObject>[] = [];
  steps: Step[] = [];

  async list<T extends KubeObject>(_path: string, opts?: RequestOptions): Promise<List<T>> {
    const q = opts?.query ?? {};
    this.listCalls.push(q);
    const start = q.continue ? Number(q.continue) : 0;
    const items = this.objects.slice(start, start + this.pageSize) as T[];
    const next = start + this.pageSize < this.objects.length ? String(start + this.pageSize) : undefined;
    return { metadata: { resourceVersion: this.listRv, ...(next ? { continue: next } : {}) }, items };
  }

  async watchOnce<T extends KubeObject>(_path: string, opts: WatchOnceOptions<T>): Promise<WatchEnd> {
    const w = opts as unknown as WatchOnceOptions<KubeObject>;
    this.watchCalls.push(w);
    const step = this.steps.shift();
    if (step) return step(w);
    // No more script: park until aborted.
    await new Promise<void>((r) => (w.signal?.aborted ? r() : w.signal?.addEventListener('abort', () => r(), { once: true })));
    return { reason: 'aborted', transport: 'websocket' };
  }

  request<T>(): Promise<T> { throw new Error('unused'); }
  get<T>(): Promise<T> { throw new Error('unused'); }
  create<T>(): Promise<T> { throw new Error('unused'); }
  update<T>(): Promise<T> { throw new Error('unused'); }
  patch<T>(): Promise<T> { throw new Error('unused'); }
  delete<T>(): Promise<T> { throw new Error('unused'); }
  close(): void {}
}

function emitAll(opts: WatchOnceOptions<KubeObject>, events: WatchEvent<KubeObject>[], end: WatchEnd['reason']): WatchEnd {
  let rv = opts.resourceVersion;
  for (const e of events) {
    opts.onEvent(e);
    rv = e.object.metadata.resourceVersion ?? rv;
  }
  return { reason: end, transport: 'websocket', ...(rv ? { lastResourceVersion: rv } : {}) };
}

function recorder() {
  const log: string[] = [];
  return {
    log,
    handlers: {
      add: (x: KubeObject) => log.push(`add ${x.metadata.name}@${x.metadata.resourceVersion}`),
      update: (a: KubeObject, b: KubeObject) => log.push(`update ${b.metadata.name}@${a.metadata.resourceVersion}->${b.metadata.resourceVersion}`),
      delete: (x: KubeObject) => log.push(`delete ${x.metadata.name}`),
    },
  };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('paged list, watch from the list RV, resume from the last RV (bookmarks count), relist diff on gone', async () => {
  const c = new FakeClient();
  c.objects = [o('a', '1'), o('b', '2'), o('c', '3')];
  c.steps = [
    (w) => emitAll(w, [
      { type: 'MODIFIED', object: o('a', '11') },
      { type: 'ADDED', object: o('a', '11') }, // replayed duplicate: must not be delivered
      { type: 'BOOKMARK', object: { metadata: { resourceVersion: '15' } } },
    ], 'error'),
    (w) => emitAll(w, [{ type: 'DELETED', object: o('b', '16') }], 'closed'),
    (w) => emitAll(w, [], 'gone'),
  ];
  const inf = createInformer<KubeObject>(c, { path: '/api/v1/pods', fieldSelector: 'spec.nodeName=n1' }, { log: silentLogger() });
  const r = recorder();
  inf.on(r.handlers);
  const ctl = new AbortController();
  await inf.start(ctl.signal);
  try {
    assert.ok(inf.hasSynced());
    assert.equal(c.listCalls.length, 2, 'three objects in pages of two');
    assert.equal(c.listCalls[0]?.fieldSelector, 'spec.nodeName=n1');
    assert.equal(c.listCalls[0]?.limit, 500);
    assert.equal(c.listCalls[1]?.continue, '2');
    // While the informer is "disconnected" the truth changes; the relist after gone must show it.
    c.objects = [o('a', '11'), o('c', '30'), o('d', '31')];
    c.listRv = '40';
    await until(() => c.watchCalls.length >= 4, 'the watch after the relist');
    assert.deepEqual(c.watchCalls.map((w) => w.resourceVersion), ['10', '15', '16', '40']);
    assert.ok(c.watchCalls.every((w) => w.allowWatchBookmarks === true));
    const ts = c.watchCalls[0]?.timeoutSeconds ?? 0;
    assert.ok(ts >= 300 && ts < 600, `randomised timeout ${ts}`);
    assert.deepEqual(r.log, [
      'add a@1', 'add b@2', 'add c@3',
      'update a@1->11',
      'delete b',
      'add d@31', 'update c@3->30',
    ]);
    assert.deepEqual(inf.list().map((x) => `${x.metadata.name}@${x.metadata.resourceVersion}`).sort(), ['a@11', 'c@30', 'd@31']);
    assert.equal(inf.lastResourceVersion(), '40');
    assert.equal(inf.stats().relistsAfterGone, 1);
  } finally {
    await inf.stop();
  }
});

test('a throwing handler is isolated; handlers registered after sync get the store replayed; unsubscribe works', async () => {
  const c = new FakeClient();
  c.objects = [o('a', '1')];
  c.steps = [async (w) => {
    await new Promise((r) => setTimeout(r, 50)); // let the test register its handler first
    return emitAll(w, [{ type: 'ADDED', object: o('b', '12') }], 'error');
  }];
  const inf = createInformer<KubeObject>(c, { path: '/api/v1/pods' }, { log: silentLogger() });
  inf.on({ add: () => { throw new Error('boom'); } });
  const r = recorder();
  const ctl = new AbortController();
  await inf.start(ctl.signal);
  try {
    const off = inf.on(r.handlers);
    assert.deepEqual(r.log, ['add a@1']);
    await until(() => r.log.length === 2, 'the watched add');
    assert.deepEqual(r.log, ['add a@1', 'add b@12']);
    off();
    ctl.abort();
  } finally {
    await inf.stop();
  }
  assert.equal(inf.get('d/b')?.metadata.resourceVersion, '12');
});

test('start rejects when stopped before the first list succeeds', async () => {
  const c = new FakeClient();
  c.list = async () => { throw new Error('nope'); };
  const inf = createInformer<KubeObject>(c, { path: '/api/v1/pods' }, { log: silentLogger() });
  const ctl = new AbortController();
  const started = inf.start(ctl.signal);
  setTimeout(() => ctl.abort(), 50);
  await assert.rejects(started, /stopped before its first list/);
  await inf.stop();
});

test('SharedInformers: one informer per path+selectors, ref-counted', async () => {
  const c = new FakeClient();
  c.objects = [o('a', '1')];
  const reg = new SharedInformers(c, { log: silentLogger() });
  const ctl = new AbortController();
  const agent = reg.get<KubeObject>({ path: '/api/v1/services' });
  const proxy = reg.get<KubeObject>({ path: '/api/v1/services' });
  const other = reg.get<KubeObject>({ path: '/api/v1/services', labelSelector: 'x=y' });
  const late = reg.get<KubeObject>({ path: '/api/v1/services' }); // made now, started after the others stop
  const lateLog = recorder();
  late.on(lateLog.handlers);
  assert.equal(reg.size, 2);
  await Promise.all([agent.start(ctl.signal), proxy.start(ctl.signal)]);
  assert.equal(c.listCalls.length, 1, 'agent and proxy share one list');
  const r = recorder();
  proxy.on(r.handlers);
  assert.deepEqual(r.log, ['add a@1']);
  await agent.stop();
  assert.equal(reg.size, 2, 'still held by the proxy');
  assert.ok(proxy.hasSynced());
  await proxy.stop();
  assert.equal(reg.size, 1, 'released after the last user');
  await late.start(ctl.signal);
  assert.equal(c.listCalls.length, 2, 'a fresh shared informer was started');
  assert.deepEqual(lateLog.log, ['add a@1'], 'handlers registered before start are attached to it');
  assert.equal(reg.size, 2);
  await late.stop();
  await other.stop();
  await reg.stopAll();
  assert.equal(reg.size, 0);
});
