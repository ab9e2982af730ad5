// Adaptive create/start concurrency (agent/pods/slots.ts, TCP Vegas on call latency): never more calls
// than the limit, FIFO hand-off, and the limit settles where Docker starts to queue calls — it grows while
// latency stays at its no-load level and callers wait, and shrinks when latency climbs with concurrency.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdaptiveSlots } from '../../../agent/pods/slots.js';

const tick = () => new Promise((r) => setImmediate(r));

test('at most limit calls run at once, handed over in arrival order', async () => {
  const slots = new AdaptiveSlots({ max: 2, min: 2, initial: 2, now: () => 0 });
  const order: number[] = [];
  const gates: (() => void)[] = [];
  const runs = [0, 1, 2, 3].map((i) => slots.run(() => new Promise<void>((resolve) => { order.push(i); gates.push(resolve); })));
  await tick();
  assert.deepEqual(order, [0, 1]);
  assert.equal(slots.waiting, 2);
  gates[1]!();
  await tick();
  assert.deepEqual(order, [0, 1, 2]);
  gates[0]!();
  gates[2]!();
  await tick();
  gates[3]!();
  await Promise.all(runs);
  assert.equal(slots.inFlight, 0);
});

test('a free slot goes to the lowest priority number first, in arrival order among equals', async () => {
  const slots = new AdaptiveSlots({ max: 1, min: 1, initial: 1, now: () => 0 });
  const order: string[] = [];
  const gates = new Map<string, () => void>();
  const call = (name: string, priority: number) => slots.run(() => new Promise<void>((resolve) => { order.push(name); gates.set(name, resolve); }), 'call', priority);
  const runs = [call('sandbox-a', 1), call('sandbox-b', 1), call('app-a create', 0), call('sandbox-c', 1), call('app-a start', 0)];
  await tick();
  assert.deepEqual(order, ['sandbox-a']);
  for (const next of ['sandbox-a', 'app-a create', 'app-a start', 'sandbox-b']) {
    gates.get(next)!();
    await tick();
  }
  assert.deepEqual(order, ['sandbox-a', 'app-a create', 'app-a start', 'sandbox-b', 'sandbox-c']);
  gates.get('sandbox-c')!();
  await Promise.all(runs);
});

test('a failed call frees its slot', async () => {
  const slots = new AdaptiveSlots({ max: 1, min: 1, initial: 1 });
  await assert.rejects(slots.run(async () => { throw new Error('docker said no'); }));
  assert.equal(await slots.run(async () => 7), 7);
  assert.equal(slots.inFlight, 0);
});

test('the limit grows towards what Docker serves without queueing, and no further', async () => {
  let now = 0;
  const slots = new AdaptiveSlots({ max: 32, initial: 2, now: () => now });
  const r = await simulate(slots, { calls: 600, demand: 100, capacity: 8, baseMs: 100 }, (t) => { now = t; });
  assert.ok(slots.limit >= 6 && slots.limit <= 14, `limit ${slots.limit} near Docker's 8`);
  assert.ok(r.maxInFlight <= 32);
});

test('the limit shrinks when latency climbs with concurrency, and never below min', async () => {
  let now = 0;
  const slots = new AdaptiveSlots({ max: 32, initial: 32, min: 2, now: () => now });
  await simulate(slots, { calls: 600, demand: 100, capacity: 4, baseMs: 50, kinds: { sandbox: 6, create: 1, start: 3 } }, (t) => { now = t; });
  assert.ok(slots.limit >= 2 && slots.limit <= 10, `limit ${slots.limit} came down towards Docker's 4`);
});

test('no demand beyond the limit: the limit does not grow', async () => {
  let now = 0;
  const slots = new AdaptiveSlots({ max: 32, initial: 4, now: () => now });
  await simulate(slots, { calls: 200, demand: 3, capacity: 50, baseMs: 10 }, (t) => { now = t; });
  assert.equal(slots.limit, 4);
});

/**
 * A model dockerd on a fake clock: it serves `capacity` calls at once at `baseMs` (× the kind's factor)
 * each; beyond that, calls take proportionally longer (they queue inside it). Runs `calls` calls with
 * `demand` of them wanting in at once; setNow moves the slots' clock with the model's.
 */
async function simulate(slots: AdaptiveSlots, opts: { calls: number; demand: number; capacity: number; baseMs: number; kinds?: Record<string, number> }, setNow: (t: number) => void) {
  let now = 0;
  const active: { at: number; done: () => void }[] = [];
  let maxInFlight = 0;
  let finished = 0;
  const kinds = Object.entries(opts.kinds ?? { call: 1 });
  const one = (i: number) => {
    const [kind, factor] = kinds[i % kinds.length]!;
    return slots.run(() => new Promise<void>((resolve) => {
      maxInFlight = Math.max(maxInFlight, slots.inFlight);
      const load = Math.max(1, slots.inFlight / opts.capacity);
      active.push({ at: now + opts.baseMs * factor * load, done: resolve });
    }), kind).then(() => { finished++; });
  };
  let next = 0;
  const all: Promise<void>[] = [];
  while (finished < opts.calls) {
    while (next < opts.calls && next - finished < opts.demand) all.push(one(next++));
    await tick();
    active.sort((a, b) => a.at - b.at);
    const first = active.shift();
    if (!first) continue;
    now = first.at;
    setNow(now);
    first.done();
    await tick();
  }
  await Promise.all(all);
  return { maxInFlight, elapsedMs: now };
}
