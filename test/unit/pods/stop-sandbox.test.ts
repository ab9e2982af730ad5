// agent/pods/apply.ts stopSandbox with a recording runtime: a mass deletion stops at most stopSlots
// sandboxes at once (each stop tears down a network endpoint in dockerd), every running sandbox is
// stopped in the end, and a sandbox that no longer runs is left alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stopSandbox } from '../../../agent/pods/apply.js';
import type { WorkerDeps } from '../../../agent/pods/deps.js';
import { Semaphore } from '../../../lib/semaphore.js';
import type { ObservedContainer } from '../../../runtime/types.js';

function recordingDeps(stopSlots?: Semaphore) {
  const stopped: string[] = [];
  let inFlight = 0;
  let peak = 0;
  const runtime = {
    async stopContainer(id: string, grace: number): Promise<void> {
      assert.equal(grace, 0, 'a sandbox is stopped without grace');
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      stopped.push(id);
    },
  };
  const deps = { runtime, stopSlots } as unknown as WorkerDeps;
  return { deps, stopped, peak: () => peak };
}

const sandbox = (id: string, state: ObservedContainer['state'] = 'running') => ({ id, state }) as ObservedContainer;

test('a mass deletion stops at most stopSlots sandboxes at once, and every one in the end', async () => {
  const w = recordingDeps(new Semaphore(3));
  const ids = Array.from({ length: 20 }, (_, i) => `sb${i}`);
  await Promise.all(ids.map((id) => stopSandbox(w.deps, sandbox(id))));
  assert.equal(w.peak(), 3);
  assert.deepEqual([...w.stopped].sort(), [...ids].sort());
});

test('without stopSlots the stops are not bounded (the same calls all run at once)', async () => {
  const w = recordingDeps();
  await Promise.all(Array.from({ length: 20 }, (_, i) => stopSandbox(w.deps, sandbox(`sb${i}`))));
  assert.equal(w.peak(), 20);
});

test('an exited or missing sandbox is not stopped and takes no slot', async () => {
  const slots = new Semaphore(1);
  const w = recordingDeps(slots);
  await stopSandbox(w.deps, sandbox('gone', 'exited'));
  await stopSandbox(w.deps, undefined);
  assert.deepEqual(w.stopped, []);
  await stopSandbox(w.deps, sandbox('live'));
  assert.deepEqual(w.stopped, ['live']);
  assert.equal(slots.waiting, 0);
});
