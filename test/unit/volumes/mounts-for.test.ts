import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Container, Pod } from '../../../kube/api.js';
import { ErrorCodes, isCode } from '../../../lib/errors.js';
import { mountsFor, type PreparedVolume } from '../../../agent/volumes/mounts.js';
import { writeAtomic } from '../../../agent/volumes/atomic-writer.js';

let dir = '';
let prepared: Map<string, PreparedVolume>;
const pod: Pod = { metadata: { name: 'p', namespace: 'default', uid: 'u' }, spec: { containers: [] } };

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dkl-mounts-'));
  const empty = path.join(dir, 'empty');
  const cm = path.join(dir, 'cm');
  const host = path.join(dir, 'host');
  await mkdir(empty, { mode: 0o777 });
  await mkdir(cm);
  await mkdir(host);
  await chmod(empty, 0o777);
  await writeAtomic(cm, new Map([['app.conf', { data: Buffer.from('v1'), mode: 0o644 }], ['nested/x', { data: Buffer.from('x'), mode: 0o644 }]]), { now: Date.now() });
  await symlink('/etc', path.join(empty, 'evil'));
  prepared = new Map<string, PreparedVolume>([
    ['empty', { hostPath: empty, kind: 'emptyDir' }],
    ['cm', { hostPath: cm, readOnly: true, kind: 'configMap' }],
    ['host', { hostPath: host, kind: 'hostPath' }],
  ]);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ctr = (volumeMounts: Container['volumeMounts']): Container => ({ name: 'c', volumeMounts });

test('plain mounts: host path, container path, readOnly from the mount or the volume', () => {
  const m = mountsFor(pod, ctr([
    { name: 'empty', mountPath: '/data' },
    { name: 'empty', mountPath: '/ro', readOnly: true },
    { name: 'cm', mountPath: '/etc/app' },
    { name: 'host', mountPath: 'rel' },
  ]), prepared);
  assert.deepEqual(m, [
    { hostPath: prepared.get('empty')!.hostPath, containerPath: '/data', readOnly: false },
    { hostPath: prepared.get('empty')!.hostPath, containerPath: '/ro', readOnly: true },
    { hostPath: prepared.get('cm')!.hostPath, containerPath: '/etc/app', readOnly: true },
    { hostPath: prepared.get('host')!.hostPath, containerPath: '/rel', readOnly: false },
  ]);
});

test('subPath in an emptyDir is created with the volume mode', async () => {
  const [m] = mountsFor(pod, ctr([{ name: 'empty', mountPath: '/logs', subPath: 'a/b' }]), prepared);
  const want = path.join(prepared.get('empty')!.hostPath, 'a', 'b');
  assert.equal(m!.hostPath, want);
  assert.equal((await stat(want)).isDirectory(), true);
  assert.equal((await stat(want)).mode & 0o777, 0o777);
});

test('subPath of a configMap key binds the real file of the current generation', async () => {
  const [m] = mountsFor(pod, ctr([{ name: 'cm', mountPath: '/etc/app.conf', subPath: 'app.conf' }]), prepared);
  assert.match(m!.hostPath, /\/cm\/\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.[^/]+\/app\.conf$/);
  assert.equal(m!.readOnly, true);
});

test('subPathExpr expands from the container env; missing vars fail', () => {
  const env = new Map([['POD_NAME', 'web-1']]);
  const [m] = mountsFor(pod, ctr([{ name: 'host', mountPath: '/out', subPathExpr: 'logs/$(POD_NAME)' }]), prepared, env);
  assert.equal(m!.hostPath, path.join(prepared.get('host')!.hostPath, 'logs', 'web-1'));
  assert.ok(existsSync(m!.hostPath));
  assert.throws(() => mountsFor(pod, ctr([{ name: 'host', mountPath: '/out', subPathExpr: '$(NOPE)/$(ALSO)' }]), prepared, env),
    (err: Error) => isCode(err, ErrorCodes.CONTAINER_CONFIG) && err.message === 'missing value for ALSO, NOPE');
});

test('unsafe subPaths and unknown volumes are rejected', () => {
  const bad: [Container['volumeMounts'], RegExp][] = [
    [[{ name: 'empty', mountPath: '/x', subPath: '/abs' }], /must not be an absolute path/],
    [[{ name: 'empty', mountPath: '/x', subPath: 'a/../../b' }], /must not contain '\.\.'/],
    [[{ name: 'empty', mountPath: '/x', subPath: 'evil' }], /failed to prepare subPath for volumeMount "empty" of container "c"/],
    [[{ name: 'empty', mountPath: '/x', subPath: 'evil/newdir' }], /failed to prepare subPath/],
    [[{ name: 'nope', mountPath: '/x' }], /cannot find volume "nope" to mount into container "c"/],
  ];
  for (const [vm, re] of bad) {
    assert.throws(() => mountsFor(pod, ctr(vm), prepared), (err: Error) => isCode(err, ErrorCodes.CONTAINER_CONFIG) && re.test(err.message), JSON.stringify(vm));
  }
  assert.equal(existsSync('/etc/newdir'), false, 'nothing was created through the escaping symlink');
});
