import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffStore } from '../../../kube/store.js';
import type { KubeObject } from '../../../kube/api.js';

const obj = (ns: string | undefined, name: string, rv: string, uid = `uid-${name}`): KubeObject => ({
  metadata: { ...(ns ? { namespace: ns } : {}), name, resourceVersion: rv, uid },
});

test('diffStore: added, updated (by resourceVersion), deleted, unchanged', () => {
  const cur = new Map<string, KubeObject>([
    ['a/keep', obj('a', 'keep', '1')],
    ['a/change', obj('a', 'change', '2')],
    ['a/gone', obj('a', 'gone', '3')],
    ['node1', obj(undefined, 'node1', '4')],
  ]);
  const items = [obj('a', 'keep', '1'), obj('a', 'change', '7'), obj('b', 'new', '8'), obj(undefined, 'node1', '4')];
  const d = diffStore(cur, items);
  assert.deepEqual(d.added.map((o) => o.metadata.name), ['new']);
  assert.deepEqual(d.updated.map(([o, n]) => [o.metadata.resourceVersion, n.metadata.resourceVersion]), [['2', '7']]);
  assert.deepEqual(d.deleted.map((o) => o.metadata.name), ['gone']);
  assert.deepEqual([...d.next.keys()].sort(), ['a/change', 'a/keep', 'b/new', 'node1']);
  assert.equal(cur.size, 4, 'the input store is not modified');
});

test('diffStore: a re-created object (new uid) is a delete plus an add', () => {
  const cur = new Map<string, KubeObject>([['a/x', obj('a', 'x', '1', 'old-uid')]]);
  const d = diffStore(cur, [obj('a', 'x', '9', 'new-uid')]);
  assert.equal(d.updated.length, 0);
  assert.deepEqual(d.deleted.map((o) => o.metadata.uid), ['old-uid']);
  assert.deepEqual(d.added.map((o) => o.metadata.uid), ['new-uid']);
});

test('diffStore: empty list deletes everything; empty store adds everything', () => {
  const cur = new Map<string, KubeObject>([['a/x', obj('a', 'x', '1')]]);
  assert.deepEqual(diffStore(cur, []).deleted.length, 1);
  const d = diffStore(new Map(), [obj('a', 'x', '1'), obj('a', 'y', '2')]);
  assert.equal(d.added.length, 2);
  assert.equal(d.deleted.length + d.updated.length, 0);
});
