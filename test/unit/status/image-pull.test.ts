// Image pulls never hang a pod: a pull silent for the progress deadline is cancelled (ErrImagePull), and a
// pod that goes away stops waiting at once (the pull is cancelled when nobody waits for it any more).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../lib/clock.js';
import { ErrorCodes, isCode } from '../../../lib/errors.js';
import { silentLogger } from '../../../lib/log.js';
import { ImageManager } from '../../../agent/pods/images.js';
import type { ContainerRuntime, ImageInfo, PullProgress } from '../../../runtime/types.js';

/** A runtime whose pulls hang until their signal aborts (or report progress on demand). */
function hangingRuntime() {
  const pulls: { signal?: AbortSignal; progress?: (p: PullProgress) => void }[] = [];
  const rt = {
    inspectImage: async () => undefined,
    pullImage: (_ref: string, onProgress?: (p: PullProgress) => void, signal?: AbortSignal) => new Promise<ImageInfo>((_resolve, reject) => {
      pulls.push({ signal, progress: onProgress });
      signal?.addEventListener('abort', () => reject(new Error('pull aborted')), { once: true });
    }),
  } as unknown as ContainerRuntime;
  return { rt, pulls };
}

const settle = async () => { for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r)); };
const container = { name: 'app', image: 'example.invalid/app:1', imagePullPolicy: 'Always' as const };

test('a pull with no progress for the deadline is cancelled and reported as a pull failure', async () => {
  const clock = new FakeClock();
  const { rt, pulls } = hangingRuntime();
  const images = new ImageManager(rt, clock, silentLogger(), { progressDeadlineMs: 60_000 });
  const p = images.ensure('u1/app', container, () => {});
  await settle();
  clock.advance(30_000);
  pulls[0]?.progress?.({ status: 'Downloading', current: 1, total: 10 }); // progress resets the deadline
  clock.advance(45_000);
  await settle();
  assert.equal(pulls[0]?.signal?.aborted, false, 'still within a minute of the last progress');
  clock.advance(20_000);
  await assert.rejects(p, (err: unknown) => isCode(err, ErrorCodes.IMAGE_PULL) && /no progress for 60s/.test(String((err as Error).message)));
});

test('a pod that goes away stops waiting at once; the pull is cancelled when nobody waits', async () => {
  const clock = new FakeClock();
  const { rt, pulls } = hangingRuntime();
  const images = new ImageManager(rt, clock, silentLogger());
  const a = new AbortController();
  const b = new AbortController();
  const pa = images.ensure('u1/app', container, () => {}, a.signal);
  const pb = images.ensure('u2/app', container, () => {}, b.signal);
  await settle();
  assert.equal(pulls.length, 1, 'one pull for both pods');
  a.abort();
  await assert.rejects(pa, /abandoned/);
  assert.equal(pulls[0]?.signal?.aborted, false, 'the other pod still waits for it');
  b.abort();
  await assert.rejects(pb, /abandoned/);
  assert.equal(pulls[0]?.signal?.aborted, true, 'nobody waits: cancelled');
});
