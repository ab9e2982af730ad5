// Memory-backed volume mounts through mount(2) (build/mount.node) and the pod directory teardown that
// never crosses a mount point (RemoveAllOneFilesystem), against the real filesystem as root: a stacked
// tmpfs, a mount the agent did not make inside an emptyDir, errors naming the path, nothing left mounted,
// no mount or unmount outside the agent's root. The whole file runs again through mount(8)/umount(8)
// (DOCKERLET_NATIVE_MOUNT empty turns the addon off) in a child test process.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, statfs, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pod } from '../../../kube/api.js';
import { ErrorCodes, isCode } from '../../../lib/errors.js';
import { silentLogger } from '../../../lib/log.js';
import { VolumeManager } from '../../../agent/volumes/manager.js';
import { NATIVE_MOUNT_PATH, nativeMount, nativeMountUnavailable } from '../../../agent/volumes/mount-native.js';
import { ensureTmpfs, isMountPoint, mountsUnder, mountTmpfs, TMPFS_MAGIC, unmount } from '../../../agent/volumes/mounts-host.js';
import { removeAllOneFilesystem } from '../../../agent/volumes/remove.js';

let root = '';
let vm: VolumeManager;

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'dkl-volmnt-'));
  vm = new VolumeManager({ rootDir: root, log: silentLogger(), nodeName: 'n1', allocatable: { cpuMillis: 1000, memoryBytes: 1 << 30 } });
});

after(async () => {
  for (const m of await mountsUnder([root])) execFileSync('umount', ['-l', m.mountpoint]);
  await rm(root, { recursive: true, force: true });
});

function pod(uid: string, volumes: Pod['spec']['volumes']): Pod {
  return { metadata: { name: `p-${uid}`, namespace: 'ns1', uid }, spec: { containers: [{ name: 'c' }], volumes } };
}

const FALLBACK_CHILD = process.env.DOCKERLET_MOUNT_FALLBACK_CHILD === '1';

test('the mount addon loads where it was built (scripts build it; CI requires it)', () => {
  if (FALLBACK_CHILD) {
    assert.equal(nativeMount(), null);
    assert.match(nativeMountUnavailable(), /turned off/);
    return;
  }
  if (!existsSync(NATIVE_MOUNT_PATH) && process.env.DOCKERLET_NATIVE_REQUIRED !== '1') {
    assert.equal(nativeMount(), null);
    assert.match(nativeMountUnavailable(), /not built|turned off/);
    return;
  }
  assert.notEqual(nativeMount(), null, nativeMountUnavailable());
  assert.equal(nativeMountUnavailable(), '');
});

test('mountTmpfs/ensureTmpfs/unmount: a sized tmpfs, not stacked twice, unmounted; errors name the path', async () => {
  const dir = path.join(root, 'plain');
  await mkdir(dir);
  assert.equal(await isMountPoint(dir), false);
  assert.equal(await ensureTmpfs(dir, { root, sizeBytes: 8 << 20 }), true);
  assert.equal(await isMountPoint(dir), true);
  const fs = await statfs(dir);
  assert.equal(fs.type, TMPFS_MAGIC);
  assert.equal(fs.blocks * fs.bsize, 8 << 20);
  assert.equal(await ensureTmpfs(dir, { root }), false);
  assert.equal((await mountsUnder([dir])).length, 1);
  await unmount(dir, { root });
  assert.equal(await isMountPoint(dir), false);
  await unmount(dir, { root }); // nothing mounted: a no-op
  await unmount(path.join(root, 'missing'), { root }); // gone: a no-op
  const missing = path.join(root, 'missing');
  await assert.rejects(mountTmpfs(missing, { root }), (err: Error) => err.message.includes(missing));
});

test('teardown: stacked tmpfs on a volume and a foreign mount inside an emptyDir are unmounted, nothing left', async () => {
  const p = pod('u-stack', [{ name: 'mem', emptyDir: { medium: 'Memory' } }, { name: 'scratch', emptyDir: {} }]);
  const prepared = await vm.setup(p);
  const mem = prepared.get('mem')!.hostPath;
  const inner = path.join(prepared.get('scratch')!.hostPath, 'sub');
  await mkdir(inner);
  await mountTmpfs(mem, { root }); // a second tmpfs stacked on the volume
  await mountTmpfs(inner, { root }); // as a container with Bidirectional propagation would leave
  await writeFile(path.join(inner, 'f'), 'x');
  const podDir = vm.podDir('u-stack');
  assert.equal((await mountsUnder([podDir])).length, 3);
  await vm.teardown('u-stack');
  assert.deepEqual(await mountsUnder([podDir]), []);
  assert.equal(existsSync(podDir), false);
});

test('removeAllOneFilesystem stops at a mount point and leaves what is mounted there', async () => {
  const dir = path.join(root, 'tree');
  const mnt = path.join(dir, 'a', 'mnt');
  await mkdir(mnt, { recursive: true });
  await writeFile(path.join(dir, 'a', 'file'), 'gone');
  await mountTmpfs(mnt, { root });
  await writeFile(path.join(mnt, 'keep'), 'kept');
  await assert.rejects(removeAllOneFilesystem(dir), (err: unknown) => isCode(err, ErrorCodes.VOLUME) && (err as Error).message.includes(mnt));
  assert.equal(await readFile(path.join(mnt, 'keep'), 'utf8'), 'kept');
  await unmount(mnt, { root });
  await removeAllOneFilesystem(dir);
  assert.equal(existsSync(dir), false);
  await removeAllOneFilesystem(dir); // gone: a no-op
});

test('nothing is mounted or unmounted outside the root, through a symlink either', async () => {
  const outside = await mkdtemp(path.join(tmpdir(), 'dkl-volmnt-out-'));
  try {
    const inner = path.join(root, 'inner-root');
    await mkdir(inner);
    const link = path.join(inner, 'escape');
    await symlink(outside, link);
    const refused = (err: unknown) => isCode(err, ErrorCodes.VOLUME) && /not inside/.test((err as Error).message);
    await assert.rejects(mountTmpfs(link, { root: inner }), refused);
    await assert.rejects(mountTmpfs(outside, { root: inner }), refused);
    await assert.rejects(mountTmpfs(inner, { root: inner }), refused); // the root itself
    assert.equal(await isMountPoint(outside), false);
    await mountTmpfs(outside, { root: path.dirname(outside) }); // mounted by a caller whose root holds it
    await assert.rejects(unmount(link, { root: inner }), refused);
    assert.equal(await isMountPoint(outside), true);
    await unmount(outside, { root: path.dirname(outside) });
    assert.equal(await isMountPoint(outside), false);
  } finally {
    await rm(outside, { recursive: true, force: true });
  }
});

test('the same tests through mount(8)/umount(8) when the addon is turned off', { skip: FALLBACK_CHILD }, async () => {
  const file = fileURLToPath(import.meta.url);
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKERLET_NATIVE_MOUNT: '', DOCKERLET_MOUNT_FALLBACK_CHILD: '1' };
  delete env.NODE_TEST_CONTEXT; // a test process of its own, reporting TAP on stdout
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', file], {
      env,
      timeout: 120_000,
    }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout)));
  });
  assert.match(out, /^# pass 5$/m);
  assert.match(out, /^# fail 0$/m);
});
