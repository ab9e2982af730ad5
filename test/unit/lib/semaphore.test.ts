import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Semaphore } from '../../../lib/semaphore.js';

test('at most limit holders run at once, in FIFO order, and a throwing holder frees its slot', async () => {
  const sem = new Semaphore(2);
  let running = 0, max = 0;
  const order: number[] = [];
  const jobs = Array.from({ length: 6 }, (_, i) => sem.run(async () => {
    running++; max = Math.max(max, running); order.push(i);
    await new Promise((r) => setImmediate(r));
    running--;
    if (i === 1) throw new Error('boom');
    return i;
  }));
  const results = await Promise.allSettled(jobs);
  assert.equal(max, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
  assert.equal(results.filter((r) => r.status === 'rejected').length, 1);
  assert.equal(sem.waiting, 0);
  assert.throws(() => new Semaphore(0), RangeError);
});
