import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import Dockerode from 'dockerode';
import { ErrorCodes, isCode } from '../../../lib/errors.js';
import { pullImage } from '../../../runtime/docker/images.js';
import type { PullProgress } from '../../../runtime/types.js';

/** A real Dockerode (no I/O until called) whose pull and image inspect are canned. */
function fakeDocker(lines: object[], present: boolean): Dockerode {
  const d = new Dockerode({ socketPath: '/nonexistent.sock' });
  Object.assign(d, {
    pull: async () => Readable.from(lines.map((l) => JSON.stringify(l) + '\r\n')),
    getImage: () => ({
      inspect: async () => {
        if (present) return { Id: 'sha256:abc', RepoTags: ['r:1'], RepoDigests: ['r@sha256:def'], Size: 10, Config: { StopSignal: 'SIGQUIT' } };
        throw Object.assign(new Error('(HTTP code 404) no such image - No such image: r:1 '), { statusCode: 404 });
      },
    }),
  });
  return d;
}

test('pull reports progress and returns the pulled image', async () => {
  const progress: PullProgress[] = [];
  const info = await pullImage(fakeDocker([
    { status: 'Pulling from r', id: '1' },
    { status: 'Downloading', id: 'aaa', progressDetail: { current: 5, total: 10 } },
    { status: 'Status: Downloaded newer image for r:1' },
  ], true), 'r:1', (p) => progress.push(p));
  assert.deepEqual(progress, [
    { status: '1: Pulling from r' },
    { status: 'aaa: Downloading', current: 5, total: 10 },
    { status: 'Status: Downloaded newer image for r:1' },
  ]);
  assert.deepEqual(info, { id: 'sha256:abc', repoTags: ['r:1'], repoDigests: ['r@sha256:def'], stopSignal: 'SIGQUIT', sizeBytes: 10 });
});

test('an error line in the pull stream is IMAGE_PULL with Docker\'s message', async () => {
  const msg = 'manifest for r:1 not found: manifest unknown: manifest unknown';
  await assert.rejects(pullImage(fakeDocker([{ status: 'Pulling' }, { errorDetail: { message: msg }, error: msg }], false), 'r:1'),
    (err: Error) => isCode(err, ErrorCodes.IMAGE_PULL) && err.message.includes(msg));
});

test('a pull that ends without the image present is IMAGE_PULL', async () => {
  await assert.rejects(pullImage(fakeDocker([{ status: 'done' }], false), 'r:1'), (err: Error) => isCode(err, ErrorCodes.IMAGE_PULL));
});

test('an aborted pull rejects', async () => {
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(pullImage(fakeDocker([{ status: 'x' }], true), 'r:1', undefined, ac.signal), (err: Error) => isCode(err, ErrorCodes.IMAGE_PULL));
});
