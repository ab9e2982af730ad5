// runtime/docker/pod-cgroups.ts on a fixture tree standing in for /sys/fs/cgroup (plain directories: rmdir
// of a non-empty one fails as cgroupfs refuses a busy cgroup): orphaned pod cgroups are removed under every
// v1 controller or in the v2 hierarchy; kept pods, young dirs, busy dirs and other names are left.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { removeOrphanPodCgroups } from '../../../runtime/docker/pod-cgroups.js';

const OLD = new Date('2026-12-01T00:00:00Z');
const NOW = Date.parse('2026-12-05T00:00:00Z');

function tree(dirs: string[], files: string[] = []): string {
  const root = mkdtempSync(join(tmpdir(), 'dl-cg-'));
  for (const d of dirs) mkdirSync(join(root, d), { recursive: true });
  for (const f of files) writeFileSync(join(root, f), '');
  // Every level made long ago (after all of them exist: making a child changes its parent's mtime here).
  for (const d of dirs) {
    const parts = d.split('/');
    for (let i = 1; i <= parts.length; i++) utimesSync(join(root, ...parts.slice(0, i)), OLD, OLD);
  }
  return root;
}

test('v1: orphaned pod cgroups go under every controller, at every QoS level; kept, busy and foreign dirs stay', async (t) => {
  const dirs = ['memory', 'pids', 'cpu,cpuacct'].flatMap((c) => [
    `${c}/kubepods/pod11111111-aaaa`, `${c}/kubepods/burstable/pod22222222-bbbb`, `${c}/kubepods/besteffort/pod33333333-cccc`,
    `${c}/kubepods/besteffort/pod44444444-dddd`, `${c}/kubepods/besteffort/pod55555555-eeee/0123abcd`, `${c}/docker/0123abcd`,
  ]);
  const root = tree(dirs);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const removed = await removeOrphanPodCgroups(new Set(['44444444-dddd']), { mount: root, now: NOW });
  assert.equal(removed, 9, '3 orphans × 3 controllers');
  for (const c of ['memory', 'pids', 'cpu,cpuacct']) {
    assert.equal(existsSync(join(root, c, 'kubepods/pod11111111-aaaa')), false);
    assert.equal(existsSync(join(root, c, 'kubepods/burstable/pod22222222-bbbb')), false);
    assert.equal(existsSync(join(root, c, 'kubepods/besteffort/pod33333333-cccc')), false);
    assert.ok(existsSync(join(root, c, 'kubepods/besteffort/pod44444444-dddd')), 'a kept pod');
    assert.ok(existsSync(join(root, c, 'kubepods/besteffort/pod55555555-eeee/0123abcd')), 'a pod with a container cgroup left');
    assert.ok(existsSync(join(root, c, 'kubepods/burstable')), 'the QoS level itself');
    assert.ok(existsSync(join(root, c, 'docker/0123abcd')), 'not a pod cgroup');
  }
});

test('a pod cgroup made less than minAgeMs ago is left for the next pass', async (t) => {
  const root = tree(['memory/kubepods/besteffort/podaaaa-1']);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const made = OLD.getTime();
  assert.equal(await removeOrphanPodCgroups(new Set(), { mount: root, now: made + 30_000 }), 0);
  assert.ok(existsSync(join(root, 'memory/kubepods/besteffort/podaaaa-1')));
  assert.equal(await removeOrphanPodCgroups(new Set(), { mount: root, now: made + 60_000 }), 1);
});

test('v2: the unified hierarchy; no cgroupfs at all is no error', async (t) => {
  const root = tree(['kubepods/besteffort/podbbbb-2', 'kubepods/podcccc-3'], ['cgroup.controllers']);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  assert.equal(await removeOrphanPodCgroups(new Set(['cccc-3']), { mount: root, now: NOW }), 1);
  assert.equal(existsSync(join(root, 'kubepods/besteffort/podbbbb-2')), false);
  assert.ok(existsSync(join(root, 'kubepods/podcccc-3')));
  assert.equal(await removeOrphanPodCgroups(new Set(), { mount: join(root, 'absent'), now: NOW }), 0);
});
