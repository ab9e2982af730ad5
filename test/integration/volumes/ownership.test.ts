// fsGroup ownership on a real directory tree (SetVolumeOwnership semantics) and fsGroupChangePolicy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootMatches, setVolumeOwnership } from '../../../agent/volumes/ownership.js';

const GID = 23456;

function tree(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dockerlet-own-'));
  mkdirSync(join(dir, 'sub'), { mode: 0o700 });
  writeFileSync(join(dir, 'sub', 'f'), 'x', { mode: 0o600 });
  writeFileSync(join(dir, 'ro'), 'y', { mode: 0o400 });
  symlinkSync('sub/f', join(dir, 'link'));
  return dir;
}

test('Always: every entry gets the group, g+rw (files), setgid + g+rwx (dirs), symlinks only the group; OnRootMismatch skips a matching root', async () => {
  const dir = tree();
  try {
    assert.equal(await setVolumeOwnership(dir, GID, { policy: 'Always' }), 5);
    const mode = (p: string) => statSync(join(dir, p)).mode & 0o7777;
    assert.equal(statSync(join(dir, 'sub', 'f')).gid, GID);
    assert.equal(mode('sub/f'), 0o660);
    assert.equal(mode('ro'), 0o660, 'owner bits kept, g+rw added');
    assert.equal(mode('sub'), 0o2770);
    assert.equal(lstatSync(join(dir, 'link')).gid, GID);
    assert.equal(await rootMatches(dir, GID, false), true);
    // OnRootMismatch: the root already matches → nothing walked, even if a file below changed.
    writeFileSync(join(dir, 'new'), 'z', { mode: 0o600 });
    assert.equal(await setVolumeOwnership(dir, GID, { policy: 'OnRootMismatch' }), 0);
    assert.equal(mode('new'), 0o600);
    assert.equal(await setVolumeOwnership(dir, GID, { policy: 'Always' }), 6);
    assert.equal(mode('new'), 0o660);
    // A different group is a root mismatch → walked.
    assert.equal(await setVolumeOwnership(dir, GID + 1, { policy: 'OnRootMismatch' }), 6);
    // Read-only volumes get g+r only.
    const ro = tree();
    try {
      await setVolumeOwnership(ro, GID, { readOnly: true });
      assert.equal(statSync(join(ro, 'sub', 'f')).mode & 0o7777, 0o640);
    } finally {
      rmSync(ro, { recursive: true, force: true });
    }
    assert.equal(await setVolumeOwnership(dir, undefined), 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
