import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import Dockerode from 'dockerode';
import { ErrorCodes, isCode } from '../../../lib/errors.js';
import { ImagePresence, pullImage } from '../../../runtime/docker/images.js';
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

test('image presence: remembered only while the image event stream is up, forgotten on any image event', async () => {
  const presence = new ImagePresence();
  let inspects = 0;
  let present = true;
  const inspect = async () => {
    inspects++;
    return present ? { id: 'sha256:abc', repoTags: ['r:1'], repoDigests: [] } : undefined;
  };
  await presence.inspect('r:1', inspect);
  await presence.inspect('r:1', inspect);
  assert.equal(inspects, 2, 'no stream: every look asks Docker');
  presence.setLive(true);
  await presence.inspect('r:1', inspect);
  const again = await presence.inspect('r:1', inspect);
  assert.equal(inspects, 3, 'stream up: the second look is answered from the cache');
  assert.equal(again?.id, 'sha256:abc');
  present = false;
  presence.invalidate(); // e.g. an untag/delete event
  assert.equal(await presence.inspect('r:1', inspect), undefined, 'a removed image is never reported present');
  assert.equal(await presence.inspect('r:1', inspect), undefined, 'a miss is not remembered');
  assert.equal(inspects, 5);
  present = true;
  await presence.inspect('r:1', inspect);
  presence.setLive(false); // the stream broke: events may be missed
  await presence.inspect('r:1', inspect);
  assert.equal(inspects, 7);
});

test('image presence: an answer overtaken by an image event during the inspect is not remembered', async () => {
  const presence = new ImagePresence();
  presence.setLive(true);
  let inspects = 0;
  const racing = async () => {
    inspects++;
    presence.invalidate(); // the image is deleted while Docker answers the inspect
    return { id: 'sha256:abc', repoTags: ['r:1'], repoDigests: [] };
  };
  await presence.inspect('r:1', racing);
  await presence.inspect('r:1', async () => { inspects++; return undefined; });
  assert.equal(inspects, 2, 'the second look asked Docker again');
});
