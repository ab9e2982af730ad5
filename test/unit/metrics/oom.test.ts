import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { OomTracker } from '../../../metrics/oom.js';

const KEY = 'pod:default/web/app';

test('kernel counter deltas add up; a re-read of the same value adds nothing', () => {
  const o = new OomTracker();
  o.kernel('c1', KEY, 0, 1000);
  o.kernel('c1', KEY, 2, 2000);
  o.kernel('c1', KEY, 2, 3000);
  assert.equal(o.total(KEY), 2);
});

test('a restarted container (new id, same identity) keeps the count: cAdvisor #3015', () => {
  const o = new OomTracker();
  o.kernel('c1', KEY, 1, 1000);
  o.event('c1', KEY, 1500); // the init was OOM-killed after the last read; the cgroup is gone now
  o.gone(new Set());
  assert.equal(o.total(KEY), 2);
  o.kernel('c2', KEY, 0, 2000);
  o.kernel('c2', KEY, 1, 3000);
  assert.equal(o.total(KEY), 3);
});

test('a Docker event the kernel counter already covered is not counted twice', () => {
  const o = new OomTracker();
  o.kernel('c1', KEY, 1, 2000);
  o.event('c1', KEY, 1999); // older than the read
  o.event('c1', KEY, 2001); // newer, but the container still runs: the next read covers it
  o.kernel('c1', KEY, 2, 3000);
  o.gone(new Set());
  assert.equal(o.total(KEY), 2);
});

test('a container without a kernel counter counts Docker events', () => {
  const o = new OomTracker();
  o.event('c1', KEY, 1000);
  o.noKernel('c1', KEY);
  o.event('c1', KEY, 2000);
  o.gone(new Set());
  assert.equal(o.total(KEY), 2);
});

test('counts and the last kernel read survive a restart; a container still running is not recounted', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dkl-oom-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = new OomTracker(dir);
  a.load();
  a.kernel('c1', KEY, 3, 1000);
  assert.equal(a.save(1000), true);
  const b = new OomTracker(dir);
  b.load();
  assert.equal(b.total(KEY), 3);
  assert.equal(b.savedAt, 1000);
  b.kernel('c1', KEY, 4, 2000); // one more kill while the agent was down
  assert.equal(b.total(KEY), 4);
});

test('an unreadable state file starts from zero', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dkl-oom-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = new OomTracker(join(dir, 'missing', 'deeper'));
  a.load();
  assert.equal(a.total(KEY), 0);
  a.kernel('c1', KEY, 1, 1);
  assert.equal(a.save(1), true, 'the state dir is created');
});

test('a container restarted under the same id: events of the old cgroup count, the new counter starts at 0', () => {
  const o = new OomTracker();
  o.kernel('c1', KEY, 2, 1000);
  o.event('c1', KEY, 1500); // the init is OOM-killed; Docker restarts it (restart policy)
  o.restarted('c1', KEY, 1600);
  o.kernel('c1', KEY, 0, 2000);
  o.kernel('c1', KEY, 1, 3000);
  assert.equal(o.total(KEY), 4);
  o.restarted('c1', KEY, 1600); // replayed after an agent restart: ignored
  o.kernel('c1', KEY, 1, 4000);
  assert.equal(o.total(KEY), 4);
});

test('a counter that went down without a start event (restart while the agent was down) counts in full', () => {
  const o = new OomTracker();
  o.kernel('c1', KEY, 5, 1000);
  o.kernel('c1', KEY, 2, 2000);
  assert.equal(o.total(KEY), 7);
});
