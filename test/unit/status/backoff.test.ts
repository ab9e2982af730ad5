// Crash-loop back-off with an injected clock (kuberuntime doBackOff + client-go flowcontrol.Backoff with
// the kubelet's 600 s expiry): 0, 10, 20, 40 … 300 s; a container that ran well for 10 minutes restarts at
// once with the back-off back at 10 s; a new image is a new key; entries are pruned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from '../../../lib/backoff.js';
import { FakeClock } from '../../../lib/clock.js';
import { crashBackoffRemaining, crashKey } from '../../../agent/pods/crash.js';

function setup() {
  const clock = new FakeClock();
  const backoff = new Backoff({ initialMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 }, clock);
  return { clock, backoff };
}

/** The container crashes now: how long it waits, then (if it waits) time passes and it is restarted. */
function crashAndRestart(clock: FakeClock, backoff: Backoff, key: string): number {
  const finishedAt = clock.now();
  const wait = crashBackoffRemaining(backoff, clock.now(), key, finishedAt);
  clock.advance(wait);
  assert.equal(crashBackoffRemaining(backoff, clock.now(), key, finishedAt), 0, 'may restart once the wait is over');
  backoff.next(key); // startContainer, reason 'restart'
  return wait;
}

test('the waits double from an immediate first restart up to 300 s', () => {
  const { clock, backoff } = setup();
  const key = crashKey('u1', { name: 'app', image: 'bad:1' });
  const waits: number[] = [];
  for (let i = 0; i < 8; i++) {
    waits.push(crashAndRestart(clock, backoff, key));
    clock.advance(1000); // runs 1 s, crashes again
  }
  assert.deepEqual(waits.map((w) => Math.round(w / 1000)), [0, 10, 20, 40, 80, 160, 300, 300]);
});

test('a container that ran well for 10 minutes restarts at once, its back-off at the first step again', () => {
  const { clock, backoff } = setup();
  const key = crashKey('u1', { name: 'app', image: 'app:1' });
  for (let i = 0; i < 7; i++) {
    crashAndRestart(clock, backoff, key);
    clock.advance(1000);
  }
  assert.equal(backoff.current(key), 300_000, 'at the cap');
  clock.advance(10 * 60_000); // it ran well for 10 minutes
  const finishedAt = clock.now();
  assert.equal(crashBackoffRemaining(backoff, clock.now(), key, finishedAt), 0, 'restarts at once');
  backoff.next(key);
  assert.equal(backoff.current(key), 10_000, 'the back-off starts over');
  clock.advance(2000); // crashes again quickly
  const wait = crashBackoffRemaining(backoff, clock.now(), key, clock.now());
  assert.equal(wait, 10_000, 'the next crash waits the first step, 10 s');
});

test('a fixed image starts without waiting: the key names the image', () => {
  const { clock, backoff } = setup();
  const bad = crashKey('u1', { name: 'app', image: 'app:bad' });
  for (let i = 0; i < 5; i++) {
    crashAndRestart(clock, backoff, bad);
    clock.advance(500);
  }
  assert.ok(crashBackoffRemaining(backoff, clock.now(), bad, clock.now()) > 60_000, 'the bad image is deep in back-off');
  const fixed = crashKey('u1', { name: 'app', image: 'app:good' });
  assert.equal(crashBackoffRemaining(backoff, clock.now(), fixed, clock.now()), 0);
});

test('entries are dropped with their pod and when idle for 10 minutes', () => {
  const { clock, backoff } = setup();
  backoff.next(crashKey('u1', { name: 'a', image: 'i' }));
  backoff.next(crashKey('u1', { name: 'b', image: 'i' }));
  backoff.next(crashKey('u2', { name: 'a', image: 'i' }));
  backoff.forget('u1/');
  assert.equal(backoff.size(), 1);
  clock.advance(600_001);
  backoff.gc();
  assert.equal(backoff.size(), 0);
});
