import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../../../lib/backoff.js';
import { FakeClock } from '../../../lib/clock.js';
import { KeyedQueue } from '../../../lib/queue.js';

test('a key queued many times is processed once', async () => {
  const seen: string[] = [];
  const q = new KeyedQueue(async (k) => { seen.push(k); }, { workers: 2 });
  for (let i = 0; i < 5; i++) { q.add('a'); q.add('b'); }
  const ac = new AbortController();
  q.start(ac.signal);
  await q.idle();
  ac.abort();
  assert.deepEqual(seen.sort(), ['a', 'b']);
});

test('a key added while it is processed runs again afterwards, never concurrently', async () => {
  let running = 0, maxRunning = 0, runs = 0;
  const q: KeyedQueue = new KeyedQueue(async (k) => {
    running++; maxRunning = Math.max(maxRunning, running); runs++;
    if (runs === 1) q.add(k);
    await new Promise((r) => setImmediate(r));
    running--;
  }, { workers: 4 });
  const ac = new AbortController();
  q.start(ac.signal);
  q.add('a');
  await q.idle();
  ac.abort();
  assert.equal(runs, 2);
  assert.equal(maxRunning, 1);
});

test('a failing handler is retried with back-off', async () => {
  const clock = new FakeClock();
  let calls = 0;
  const delays: number[] = [];
  const q = new KeyedQueue(async () => { calls++; if (calls < 3) throw new Error('boom'); }, {
    workers: 1, clock, retryInitialMs: 100, onError: (_k, _e, d) => delays.push(d),
  });
  const ac = new AbortController();
  q.start(ac.signal);
  q.add('x');
  for (let i = 0; i < 10 && calls < 3; i++) {
    await new Promise((r) => setImmediate(r));
    clock.advance(1000);
  }
  ac.abort();
  assert.equal(calls, 3);
  assert.deepEqual(delays, [100, 200]);
});

test('back-off doubles to the cap and resets after a quiet stretch', () => {
  const clock = new FakeClock();
  const b = new Backoff({ initialMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 }, clock);
  const seq = Array.from({ length: 7 }, () => b.next('k'));
  assert.deepEqual(seq, [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
  assert.equal(b.inBackoff('k', clock.now()), true);
  clock.advance(600_001);
  assert.equal(b.next('k'), 10_000);
});

test('stop() waits for the key being processed, drops delayed keys and processes nothing more', async () => {
  const clock = new FakeClock();
  const seen: string[] = [];
  let release!: () => void;
  const q = new KeyedQueue(async (k) => {
    seen.push(k);
    if (k === 'slow') await new Promise<void>((r) => { release = r; });
  }, { workers: 1, clock });
  await q.start(new AbortController().signal);
  q.add('slow');
  q.addAfter('later', 1000);
  let stopped = false;
  const stopping = q.stop().then(() => { stopped = true; });
  await new Promise((r) => setImmediate(r));
  assert.equal(stopped, false, 'stop waits for the handler in flight');
  release();
  await stopping;
  q.add('after-stop');
  clock.advance(5000);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen, ['slow']);
  assert.equal(clock.pending(), 0, 'the delayed key\'s timer is cancelled');
});
