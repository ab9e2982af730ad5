import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { currentDataDir, validatePayloadPath, writeAtomic } from '../../../agent/volumes/atomic-writer.js';
import type { Payload } from '../../../agent/volumes/payload.js';

let root = '';
before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'dkl-aw-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const payload = (entries: Record<string, string>, mode = 0o644): Payload =>
  new Map(Object.entries(entries).map(([k, v]) => [k, { data: Buffer.from(v), mode }]));

test('first write lays out ..data, a timestamped dir and user-visible links', async () => {
  const dir = path.join(root, 'v1');
  await mkdir(dir);
  const now = Date.UTC(2024, 0, 2, 15, 4, 5);
  assert.equal(await writeAtomic(dir, payload({ a: 'A', 'sub/b': 'B' }), { now }), true);
  const ts = await currentDataDir(dir);
  assert.match(ts!, /^\.\.2024_01_02_15_04_05\./);
  assert.equal(await readlink(path.join(dir, 'a')), '..data/a');
  assert.equal(await readlink(path.join(dir, 'sub')), '..data/sub');
  assert.equal(await readFile(path.join(dir, 'a'), 'utf8'), 'A');
  assert.equal(await readFile(path.join(dir, 'sub', 'b'), 'utf8'), 'B');
  assert.equal((await stat(path.join(dir, ts!))).mode & 0o7777, 0o755);
  assert.equal((await stat(path.join(dir, 'a'))).mode & 0o7777, 0o644);
});

test('an identical payload is not rewritten; a changed one swaps generations and drops stale names', async () => {
  const dir = path.join(root, 'v2');
  await mkdir(dir);
  await writeAtomic(dir, payload({ a: '1', gone: 'x' }), { now: Date.now() });
  const first = await currentDataDir(dir);
  assert.equal(await writeAtomic(dir, payload({ a: '1', gone: 'x' }), { now: Date.now() }), false);
  assert.equal(await currentDataDir(dir), first);
  // a mode change alone is a change
  assert.equal(await writeAtomic(dir, payload({ a: '1', gone: 'x' }, 0o600), { now: Date.now() }), true);
  assert.equal(await writeAtomic(dir, payload({ a: '2', added: 'y' }), { now: Date.now() }), true);
  const second = await currentDataDir(dir);
  assert.notEqual(second, first);
  assert.equal(await readFile(path.join(dir, 'a'), 'utf8'), '2');
  assert.equal(await readFile(path.join(dir, 'added'), 'utf8'), 'y');
  await assert.rejects(lstat(path.join(dir, 'gone')));
  const entries = (await readdir(dir)).sort();
  assert.deepEqual(entries, ['..data', second!, 'a', 'added'].sort(), 'old generation removed');
});

test('fsGroup sets the group and adds group read', async () => {
  const dir = path.join(root, 'v3');
  await mkdir(dir);
  await writeAtomic(dir, payload({ k: 'v' }, 0o400), { now: Date.now(), fsGroup: 1234 });
  const st = await stat(path.join(dir, 'k'));
  assert.equal(st.gid, 1234);
  assert.equal(st.mode & 0o777, 0o440);
  assert.equal(await writeAtomic(dir, payload({ k: 'v' }, 0o400), { now: Date.now(), fsGroup: 1234 }), false);
});

test('payload paths are validated as upstream', () => {
  for (const bad of ['', '/abs', 'a/../b', '..', '..x/y', `${'n'.repeat(256)}`]) assert.throws(() => validatePayloadPath(bad), /invalid path/, bad);
  for (const ok of ['a', 'a/b', '.hidden', 'a..b', 'x/..y']) validatePayloadPath(ok);
});
