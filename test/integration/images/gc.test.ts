// Image GC against real Docker: images imported for the test (distinct content, known sizes), one of
// them used by a created (never started) container and one pinned; the image filesystem's numbers are
// the real statfs of Docker's root dir for the threshold check, and a stand-in over the high threshold
// for the removal pass (this host's disk is not 85 % full). Least recently used first, in-use and pinned
// images never removed, FreeDiskSpaceFailed when not enough can be freed. Pure planning is tested too.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import Dockerode from 'dockerode';
import { silentLogger } from '../../../lib/log.js';
import { ErrorCodes, isCode } from '../../../lib/errors.js';
import { bytesToFree, DEFAULT_IMAGE_GC_POLICY, ImageGC, planImageGC, type GCImage } from '../../../agent/images/gc.js';
import { imageFsStats, imagesInUse, listImages, removeImage } from '../../../runtime/docker/images.js';

const RUN = randomBytes(3).toString('hex');
const REPO = `dockerlet-gc-test-${RUN}`;
const docker = new Dockerode();
const ids: Record<string, string> = {};
let containerId = '';

/** A one-file tar (ustar) of `size` random bytes, imported as REPO:tag. */
async function importImage(tag: string, size: number): Promise<string> {
  const header = Buffer.alloc(512);
  header.write(`blob-${tag}`, 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  header.write(`${Math.floor(Date.now() / 1000).toString(8).padStart(11, '0')}\0`, 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const body = randomBytes(size);
  const pad = Buffer.alloc((512 - (size % 512)) % 512);
  const tar = Buffer.concat([header, body, pad, Buffer.alloc(1024)]);
  const stream = await docker.importImage(Readable.from([tar]) as unknown as NodeJS.ReadableStream, { repo: REPO, tag });
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
  const info = await docker.getImage(`${REPO}:${tag}`).inspect();
  return info.Id;
}

before(async () => {
  ids.old = await importImage('old', 300_000);
  ids.used = await importImage('used', 300_000);
  ids.pinned = await importImage('pinned', 300_000);
  ids.newer = await importImage('newer', 300_000);
  const c = await docker.createContainer({ Image: `${REPO}:used`, Cmd: ['/nothing'], name: `${REPO}-user`, Labels: { 'dockerlet.test': REPO } });
  containerId = c.id;
});

after(async () => {
  if (containerId) await docker.getContainer(containerId).remove({ force: true }).catch(() => {});
  for (const tag of ['old', 'used', 'pinned', 'newer']) await docker.getImage(`${REPO}:${tag}`).remove({ force: true }).catch(() => {});
});

test('thresholds: nothing to free below 85 %, down to 80 % above it; the real image filesystem reads sanely', async () => {
  assert.equal(bytesToFree(1000, 200, DEFAULT_IMAGE_GC_POLICY), 0, '80 % used');
  assert.equal(bytesToFree(1000, 160, DEFAULT_IMAGE_GC_POLICY), 0, '84 % used');
  assert.equal(bytesToFree(1000, 151, DEFAULT_IMAGE_GC_POLICY), 49, 'upstream truncates: 100 - int(15.1) = 85 %');
  assert.equal(bytesToFree(1000, 150, DEFAULT_IMAGE_GC_POLICY), 50, 'at 85 %: back to 80 %');
  assert.equal(bytesToFree(1000, 0, DEFAULT_IMAGE_GC_POLICY), 200);
  const fs = await imageFsStats(docker);
  assert.ok(fs.capacityBytes > 0 && fs.availableBytes >= 0 && fs.availableBytes <= fs.capacityBytes, JSON.stringify(fs));
  assert.ok((await imagesInUse(docker)).has(ids.used!), 'a created container\'s image is in use');
});

test('plan: least recently used first, first detected next, young images and in-use/pinned ones kept', () => {
  const img = (id: string): GCImage => ({ id, sizeBytes: 10, repoTags: [`r:${id}`] });
  const records = new Map([
    ['a', { firstDetectedMs: 0, lastUsedMs: 500 }], ['b', { firstDetectedMs: 0, lastUsedMs: 100 }],
    ['c', { firstDetectedMs: 50, lastUsedMs: 0 }], ['d', { firstDetectedMs: 10, lastUsedMs: 0 }], ['young', { firstDetectedMs: 950, lastUsedMs: 0 }],
  ]);
  const plan = planImageGC({
    images: ['a', 'b', 'c', 'd', 'young', 'busy', 'pause'].map(img), records, inUse: new Set(['busy']), pinned: new Set(['r:pause']),
    nowMs: 1000, minAgeMs: 100, bytesToFree: 35,
  });
  assert.deepEqual(plan.remove.map((i) => i.id), ['d', 'c', 'b', 'a']);
  assert.equal(plan.freedBytes, 40);
});

test('a pass over the high threshold removes unused images from Docker, never the used or pinned one', async () => {
  const events: string[] = [];
  let capacity = 100_000_000;
  const gc = new ImageGC({
    listImages: async () => (await listImages(docker)).filter((i) => i.repoTags.some((t) => t.startsWith(`${REPO}:`))).map((i) => ({ id: i.id, sizeBytes: i.sizeBytes ?? 0, repoTags: i.repoTags })),
    imagesInUse: () => imagesInUse(docker),
    removeImage: (id) => removeImage(docker, id),
    imageFsStats: async () => ({ capacityBytes: capacity, availableBytes: capacity * 0.1 }),
    pinned: [`${REPO}:pinned`],
    nodeEvent: (type, reason, message) => events.push(`${type} ${reason}: ${message}`),
    policy: { ...DEFAULT_IMAGE_GC_POLICY, minAgeMs: 0 },
    log: silentLogger(),
  });
  // 90 % used of 100 MB: 10 MB to free, more than the 600 kB removable → both unused images go, then the failure.
  await assert.rejects(gc.garbageCollect(), (err) => isCode(err, ErrorCodes.RUNTIME) && /Attempted to free 10000000 bytes, but only found \d+ bytes eligible to free/.test((err as Error).message));
  assert.equal(events.length, 1);
  assert.match(events[0]!, /^Warning FreeDiskSpaceFailed: Failed to garbage collect required amount of images/);
  const left = (await listImages(docker)).filter((i) => i.repoTags.some((t) => t.startsWith(`${REPO}:`))).map((i) => i.repoTags[0]).sort();
  assert.deepEqual(left, [`${REPO}:pinned`, `${REPO}:used`]);
  // Below the threshold: nothing happens.
  capacity = 1_000_000_000;
  const calm = await new ImageGC({
    listImages: async () => [], imagesInUse: async () => new Set(), removeImage: async () => assert.fail('nothing to remove'),
    imageFsStats: async () => ({ capacityBytes: capacity, availableBytes: capacity / 2 }), log: silentLogger(),
  }).garbageCollect();
  assert.deepEqual(calm, { usagePercent: 50, bytesToFree: 0, removed: [], freedBytes: 0 });
});
