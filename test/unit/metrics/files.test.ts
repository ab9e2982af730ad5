// The open-file cache the collector reads cgroup and procfs files through (cAdvisor re-reads the same
// files every housekeeping): kept fds are pread from offset 0, owners' fds close when they go, files
// that cannot be opened are not retried every pass, and the cap falls back to open/read/close.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { OpenFiles, readSmall } from '../../../metrics/cgroup/files.js';

function tmp(t: test.TestContext): string {
  const dir = mkdtempSync(join(os.tmpdir(), 'dkl-files-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a kept file is read again from offset 0: new contents through the same fd', (t) => {
  const dir = tmp(t);
  const f = join(dir, 'cpuacct.usage');
  writeFileSync(f, '123456789\n');
  const files = new OpenFiles();
  assert.equal(files.number('/docker/a', f), 123456789);
  assert.equal(files.size, 1);
  writeFileSync(f, '987\n'); // shorter: the read stops at the file's end
  assert.equal(files.number('/docker/a', f), 987);
  assert.equal(files.text('/docker/a', f), '987\n');
  assert.equal(files.size, 1, 'still the one fd');
  files.close();
  assert.equal(files.size, 0);
});

test('bytes(): the same Buffer back while the contents are unchanged, a new one when they change', (t) => {
  const dir = tmp(t);
  const f = join(dir, 'dev');
  writeFileSync(f, 'eth0: 1 2 3\n');
  const files = new OpenFiles();
  const a = files.bytes('pid:1', f, undefined)!;
  assert.equal(a.toString(), 'eth0: 1 2 3\n');
  assert.equal(files.bytes('pid:1', f, a), a);
  writeFileSync(f, 'eth0: 1 2 4\n');
  const b = files.bytes('pid:1', f, a)!;
  assert.notEqual(b, a);
  assert.equal(b.toString(), 'eth0: 1 2 4\n');
  assert.equal(a.toString(), 'eth0: 1 2 3\n', 'the earlier copy is not overwritten by later reads');
  files.close();
});

test('retain closes the fds of owners no longer measured and keeps the others', (t) => {
  const dir = tmp(t);
  for (const n of ['a', 'b', 'c']) writeFileSync(join(dir, n), '1\n');
  const files = new OpenFiles();
  files.number('/docker/x', join(dir, 'a'));
  files.number('/docker/x', join(dir, 'b'));
  files.number('/docker/y', join(dir, 'c'));
  assert.equal(files.size, 3);
  files.retain(new Set(['/docker/y']));
  assert.equal(files.size, 1);
  assert.equal(files.number('/docker/y', join(dir, 'c')), 1);
  files.close();
});

test('a file that cannot be opened reads as undefined and is not tried again until its owner goes', (t) => {
  const dir = tmp(t);
  const f = join(dir, 'memory.memsw.usage_in_bytes');
  const files = new OpenFiles();
  assert.equal(files.text('/docker/x', f), undefined);
  writeFileSync(f, '42\n');
  assert.equal(files.text('/docker/x', f), undefined, 'remembered as missing');
  files.retain(new Set());
  assert.equal(files.number('/docker/x', f), 42, 'a new owner of the path tries again');
  files.close();
});

test('past the cap files are read with open/read/close: same answers, no more fds kept', (t) => {
  const dir = tmp(t);
  writeFileSync(join(dir, 'a'), '1\n');
  writeFileSync(join(dir, 'b'), '2\n');
  const files = new OpenFiles(1);
  assert.equal(files.number('/x', join(dir, 'a')), 1);
  assert.equal(files.number('/x', join(dir, 'b')), 2);
  assert.equal(files.number('/x', join(dir, 'b')), 2);
  assert.equal(files.size, 1);
  files.close();
});

test('procfs seq_files: a pread at offset 0 produces the text again (as cgroupfs files do)', () => {
  const files = new OpenFiles();
  const first = files.text('pid:self', '/proc/self/net/dev');
  const second = files.text('pid:self', '/proc/self/net/dev');
  assert.ok(first?.startsWith('Inter-|'), first);
  assert.ok(second?.startsWith('Inter-|'), second);
  assert.equal(second?.split('\n')[0], readSmall('/proc/self/net/dev')?.split('\n')[0]);
  files.close();
});
